#!/usr/bin/env bash
# Command 2 of the README: every test. Builds a copy of this tree as the
# servers' OS user, installs it, and runs: cppcheck, the pure-core unit
# tests, pg_regress and isolation specs against a preloaded control server,
# pg_regress against a server without the preload, and the TAP tests (which
# start their own clusters). Safe to run again; cleans up after itself.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

T=${BP_TEST_DIR:-/var/tmp/branchpromote-test}
PORT=${BP_TEST_PORT:-5441}

ensure_deps
say "preparing $T"
stop_servers_under "$T"
mountpoint -q "$T/xfs" && umount "$T/xfs"
rm -rf "$T" && mkdir -p "$T"
rsync -a --exclude .git "$REPO/" "$T/src/"
chown -R "$BP_OS_USER": "$T"

passed=0 failed=0 failures=()
suite() {
	local name=$1
	shift
	say "$name"
	if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$name"); fi
}
in_tree() { as_pg make -C "$T/src" -s PG_CONFIG="$PG_CONFIG" "$@"; }
show_diffs() { find "$T/src" -name regression.diffs -exec cat {} + 2>/dev/null | head -200; }

suite "build (-Wall -Wextra -Werror)" in_tree clean all
make -C "$T/src" -s PG_CONFIG="$PG_CONFIG" install >/dev/null || die "make install failed"
suite "cppcheck, no include or call circle" in_tree cppcheck
suite "unit tests (pure core)" in_tree unitcheck
suite "fuzz the wire parser (${FUZZ_SECONDS:-30} s, ASan/UBSan)" in_tree fuzzcheck FUZZ_SECONDS="${FUZZ_SECONDS:-30}"

xfs_method=$(mount_reflink_fs "$T/xfs.img" "$T/xfs" 8G)
if [ "$xfs_method" = reflink ]; then
	chown "$BP_OS_USER": "$T/xfs"
	export BP_TEST_XFS_DIR=$T/xfs
else
	echo "note: no XFS loop mount on this machine; reflink TAP cases will be skipped"
fi

start_control "$T/control" "$PORT" "$T/run" "$T/data" \
	"branchpromote.compute_port_base = 27000" "branchpromote.reconcile_interval = '1s'"
suite "pg_regress and isolation (preloaded control server)" \
	env PGHOST="$T/run" PGPORT="$PORT" runuser -u "$BP_OS_USER" -- \
	make -C "$T/src" -s PG_CONFIG="$PG_CONFIG" installcheck TAP_TESTS=
stop_servers_under "$T/control"
stop_servers_under "$T/data"
show_diffs

suite "pg_regress without the preload" in_tree installcheck-nopreload
show_diffs
suite "TAP tests" env ${BP_TEST_XFS_DIR:+BP_TEST_XFS_DIR=$BP_TEST_XFS_DIR} \
	BP_TEST_COMPUTE_USER="$BP_COMPUTE_USER" runuser -u "$BP_OS_USER" -- \
	make -C "$T/src" -s PG_CONFIG="$PG_CONFIG" installcheck REGRESS= ISOLATION=

say "cleaning up"
stop_servers_under "$T"
mountpoint -q "$T/xfs" && umount "$T/xfs"

((failed)) && printf 'failed: %s\n' "${failures[@]}"
echo "suites: $passed passed, $failed failed"
((failed == 0))
