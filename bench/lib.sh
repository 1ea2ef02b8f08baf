# bench/lib.sh — shared by bench/promote, bench/redeploy, bench/rollback,
# bench/sizes, bench/idle, bench/migrate, bench/schema, bench/reconcile and bench/proxy:
# sourced, not run.
#
# Options, settings, the benchmark's own control server on its own data root,
# psql helpers, the pgbench load, the TSVs and plots (bench/plot.sh), and the
# cleanup. promote, redeploy, rollback and sizes use the same directory and
# port by default, so run them one after the other. A script may set
# BP_BENCH_DIR, BP_BENCH_PORT, BP_BENCH_COMPUTE_PORT_BASE and
# BP_BENCH_IMG_SIZE before sourcing this file to change their defaults
# (bench/proxy and bench/sizes do), define bench_teardown_extra to stop
# processes of its own before the servers are stopped, and pass extra control
# server settings to bench_setup.
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/plot.sh"

MODE=reflink
KEEP=0
WORKTREE=0
PLOTS=0
# bench_options "$@": the options every bench takes (--help prints the
# comment at the top of the script that sourced this file).
bench_options() {
	local a
	for a in "$@"; do
		case $a in
		--copy) MODE=copy ;;
		--keep) KEEP=1 ;;
		--worktree) WORKTREE=1 ;;
		--plots) PLOTS=1 ;;
		-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
		*) die "unknown option $a (try --help)" ;;
		esac
	done
}

B=${BP_BENCH_DIR:-/var/tmp/branchpromote-bench}
PORT=${BP_BENCH_PORT:-5442}
COMPUTE_PORT_BASE=${BP_BENCH_COMPUTE_PORT_BASE:-59000}
SCALE=${BP_BENCH_SCALE:-100}
MIN_BYTES=${BP_BENCH_MIN_BYTES:-1500000000}
IMG_SIZE=${BP_BENCH_IMG_SIZE:-40G}
DATA=$B/data
SOCK=$B/run
# the TSVs and plots of every run (outside $B: the cleanup removes $B)
RESULTS=${BP_BENCH_RESULTS:-/var/tmp/branchpromote-bench-results}
# bench_check_dir: refuse directories that other users of this machine own.
bench_check_dir() {
	case $B in /var/lib/branchpromote* | /var/tmp/branchpromote-test* | /var/tmp/tap-dev* | /var/tmp/bp-regress* | /var/tmp/bp-dev*)
		die "BP_BENCH_DIR=$B belongs to another user of this machine" ;;
	esac
}

PSQL=$PG_BIN/psql
now_ms() { echo $(($(date +%s%N) / 1000000)); }
ctl() { as_pg "$PSQL" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -d postgres "$@"; }
ctlv() { ctl -Atc "$1"; }
uri() { ctlv "SELECT branchpromote.connection_uri('$1', '$2')"; }
app() { "$PSQL" -X -q -At -v ON_ERROR_STOP=1 "$(uri "$1" "$2")" -c "$3"; }
fmt() { awk -v x="$1" 'BEGIN { printf "%.1f", x }'; }
gb() { awk -v b="$1" 'BEGIN { printf "%.2f GB", b / 1e9 }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
minmax() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "min %.1f, max %.1f", lo, hi }'; }

# prod_tl: the timeline of project $P's prod (a script sets P).
prod_tl() { ctlv "SELECT timeline FROM branchpromote.environments WHERE project = '$P' AND env = 'prod'"; }
# extents DIR -> extents of the files over 1 MB of DIR/base (filefrag): how
# fragmented copy-on-write has left a data directory
extents() { find "$1/base" -type f -size +1M -print0 | xargs -0r filefrag 2>/dev/null | awk '{ s += $(NF - 2) } END { print s + 0 }'; }
# A project's compute directory (pgdata, compute.log, archive beside it).
timeline_dir() {
	echo "$DATA/timelines/$(ctlv "SELECT timeline FROM branchpromote.computes WHERE project = '$1' AND env = '$2'")"
}
# psql on a compute as its superuser: the OS user over the private socket.
su_compute() {
	local pgdata port sockdir
	pgdata=$(timeline_dir "$1" "$2")/pgdata
	shift 2
	port=$(sed -n 4p "$pgdata/postmaster.pid")
	sockdir=$(sed -n 5p "$pgdata/postmaster.pid")
	as_pg "$PSQL" -X -q -v ON_ERROR_STOP=1 -h "$sockdir" -p "$port" -d template1 "$@"
}

# wait_gone DIR WHAT: wait until the reconciler has removed DIR (120 s at most).
wait_gone() {
	for _ in $(seq 1200); do [ -e "$1" ] || return 0; sleep 0.1; done
	die "the reconciler did not remove $2 within 120 s"
}
# drop_if_exists P: drop the project and wait until the reconciler has removed
# its timelines, so that cleanup never overlaps a measurement.
drop_if_exists() {
	local tls t
	[ "$(ctlv "SELECT count(*) FROM branchpromote.projects WHERE project = '$1'")" = 1 ] || return 0
	tls=$(ctlv "SELECT timeline FROM branchpromote.timelines WHERE project = '$1'")
	# prod is protected from its first deploy, and a dropped project's data
	# waits out its recovery window: unprotect, drop, purge now
	ctlv "SELECT branchpromote.unprotect(project, name) FROM branchpromote.protections WHERE project = '$1'" >/dev/null
	ctlv "SELECT branchpromote.drop_project('$1', '$1')" >/dev/null
	ctlv "SELECT branchpromote.purge_project(project) FROM branchpromote.pending_removal
	      WHERE project = '$1' AND branch IS NULL AND removal_at > now()" >/dev/null
	for t in $tls; do wait_gone "$DATA/timelines/$t" "timeline $t of $1"; done
	return 0
}

# Statement timing from a compute's own log: prepare_diag P ENV sets
# log_min_duration_statement = 0 for database template1 of that compute, where
# a fork of it connects (pg_backup_start, pg_backup_stop).
prepare_diag() { su_compute "$1" "${2:-dev}" -c "ALTER DATABASE template1 SET log_min_duration_statement = 0"; }
log_epoch() { date -d "$(awk '{ print $1, $2, $3 }')" +%s.%3N; }
# stmt LOG PATTERN -> "END_EPOCH DURATION_MS" of the last execution of a statement.
stmt() {
	local line
	line=$(grep "duration: .*\(execute\|statement\).*$2" "$1" | tail -1)
	[ -n "$line" ] || { echo "0 0"; return; }
	echo "$(log_epoch <<<"$line") $(sed 's/.*duration: \([0-9.]*\) ms.*/\1/' <<<"$line")"
}

# ------------------------------------------------------------ TSVs and plots
# tsv FIELD...: one TSV line (the fields joined by tabs)
tsv() {
	local IFS=$'\t'
	printf '%s\n' "$*"
}
# bench_deps: what the benches need beyond scripts/lib.sh's ensure_deps (the
# test suite's): gnuplot for the plots (Debian's gnuplot-nox, without its
# recommended packages). If it cannot be installed, a run with --plots stops;
# one without writes its TSVs and no plots.
bench_deps() {
	command -v gnuplot >/dev/null && return 0
	say "installing gnuplot-nox (the benches' plots)"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null 2>&1 &&
		! { apt-get update -qq && apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null; }; then
		[ "$PLOTS" = 0 ] || die "apt-get install gnuplot-nox failed: --plots cannot draw"
		echo "  apt-get install gnuplot-nox failed: this run writes its TSVs and no plots"
	fi
}
# bench_note: what a plot says under its title: the bench, what was built,
# the data root (NOTE_ROOT if the script sets it), the machine, the time
bench_note() {
	echo "bench/$(basename "$0"), ${BUILT:-?}, ${NOTE_ROOT:-${fs:-?} data root (${fstype:-?})}, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M UTC')"
}
# bench_plot KIND TSV NAME [nocopy]: draw $RESULTS/NAME.png from TSV (this
# run's figures) with plot_KIND (bench/plot.sh). With --plots, copy it to
# doc/img/NAME.png of this repository, unless nocopy (a run whose checks
# failed). A plot that cannot be drawn is reported; with --plots it returns 1
# (the bench stops, after its figures were printed).
bench_plot() {
	local png=$RESULTS/$3.png
	if ! command -v gnuplot >/dev/null; then
		echo "  no gnuplot: $png not drawn (the figures: $2)"
		[ "$PLOTS" = 0 ]
		return
	fi
	if ! "plot_$1" "$2" "$png" "$(bench_note)"; then
		echo "  could not draw $png from $2"
		[ "$PLOTS" = 0 ]
		return
	fi
	echo "  plot: $png (from $2)"
	[ "$PLOTS" = 1 ] || return 0
	if [ "${4:-}" = nocopy ]; then
		echo "  not copied to doc/img: this run's checks failed"
		return 0
	fi
	mkdir -p "$REPO/doc/img"
	cp "$png" "$REPO/doc/img/$3.png"
	chown --reference="$REPO/doc" "$REPO/doc/img" "$REPO/doc/img/$3.png" 2>/dev/null || true
	echo "  copied to $REPO/doc/img/$3.png"
}

# ------------------------------------------------------------ setup / teardown
teardown() {
	if declare -F bench_teardown_extra >/dev/null; then bench_teardown_extra; fi
	stop_servers_under "$B"
	if mountpoint -q "$DATA"; then umount "$DATA"; fi
}
cleanup() {
	local rc=$?
	trap - EXIT
	if [ "$KEEP" = 1 ]; then
		say "--keep: left running under $B (control: runuser -u $BP_OS_USER -- psql -h $SOCK -p $PORT -d postgres)"
		exit "$rc"
	fi
	say "cleaning up"
	if [ -n "${CONTROL_UP:-}" ]; then
		for p in $(ctlv "SELECT project FROM branchpromote.projects" 2>/dev/null || true); do
			ctlv "SELECT branchpromote.unprotect(project, name) FROM branchpromote.protections WHERE project = '$p'" >/dev/null 2>&1 || true
			ctlv "SELECT branchpromote.drop_project('$p', '$p')" >/dev/null 2>&1 || true
		done
	fi
	teardown
	rm -rf "$B"
	exit "$rc"
}

# bench_setup [SETTING...]: build and install the last commit (or the working
# tree), mount the data root, start the control server (with the extra
# postgresql.conf lines given, e.g. "branchpromote.proxy_port = 59400") and
# create the extension. Sets BENCH_T0, LOAD0, BUILT, fs (reflink or copy),
# fstype, CONTROL_UP. The commit built is HEAD's at the first call (BENCH_REV):
# a script that calls it again (bench/sizes, once per data root) builds the
# same commit even if HEAD has moved since.
bench_setup() {
	local so_built
	BENCH_T0=$(now_ms)
	LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
	ensure_deps
	bench_deps
	mkdir -p "$RESULTS"
	say "preparing $B (mode: $MODE)"
	teardown
	rm -rf "$B"
	mkdir -p "$B"
	chown "$BP_OS_USER": "$B"
	trap cleanup EXIT

	# Build what is committed, not a working tree that others may be editing
	# (--worktree builds the working tree as it is).
	if [ "$WORKTREE" = 1 ]; then
		BUILT="working tree of $(git -C "$REPO" rev-parse --short HEAD)"
		build_install
	else
		BENCH_REV=${BENCH_REV:-$(git -C "$REPO" rev-parse HEAD)}
		BUILT="commit $(git -C "$REPO" rev-parse --short "$BENCH_REV")"
		mkdir -p "$B/src"
		git -C "$REPO" archive "$BENCH_REV" | tar -x -C "$B/src"
		# commits before 365a34b carry a stale build of the helper: compile it
		rm -f "$B/src/src/helper/branchpromote_helper"
		REPO=$B/src build_install
	fi
	so_built=$(md5sum <"$([ "$WORKTREE" = 1 ] && echo "$REPO" || echo "$B/src")/branchpromote.so")

	if [ "$MODE" = reflink ]; then
		fs=$(mount_reflink_fs "$B/xfs.img" "$DATA" "$IMG_SIZE")
		if [ "$fs" != reflink ]; then
			printf '\n\033[1;31m!!! no loop-mounted XFS with reflink on this machine: the data root is a\n!!! plain directory, every clone is a COPY and the targets cannot be met.\033[0m\n\n'
		fi
	else
		fs=copy
		mkdir -p "$DATA"
	fi
	chown "$BP_OS_USER": "$DATA"
	fstype=$(stat -f -c %T "$DATA")
	start_control "$B/control" "$PORT" "$SOCK" "$DATA" "branchpromote.compute_port_base = $COMPUTE_PORT_BASE" \
		"branchpromote.suspend_timeout = 0" "$@"
	CONTROL_UP=1
	ctl -c "CREATE EXTENSION IF NOT EXISTS branchpromote"
	[ "$(md5sum <"$("$PG_CONFIG" --pkglibdir)/branchpromote.so")" = "$so_built" ] ||
		die "someone installed another branchpromote.so while this bench started its server; run it again"
	say "built and installed $BUILT"
	say "control server on port $PORT; data root $DATA ($fstype, expected clone method: $fs)"
}

# ------------------------------------------------------------ pgbench data
# load_big_into P: pgbench -i into P's dev, >= MIN_BYTES (may raise SCALE).
# The project must exist. Sets LOAD_MS and BIG_SIZE.
load_big_into() {
	local t0 dev
	dev=$(uri "$1" dev)
	while :; do
		t0=$(now_ms)
		"$PG_BIN/pgbench" -i -q -s "$SCALE" "$dev" 2>&1 | grep -v 'of .* tuples (' || true
		LOAD_MS=$(($(now_ms) - t0))
		BIG_SIZE=$(app "$1" dev "SELECT pg_database_size(current_database())")
		[ "$(app "$1" dev "SELECT count(*) FROM pgbench_accounts")" = $((SCALE * 100000)) ] ||
			die "$1: pgbench -i did not load $((SCALE * 100000)) accounts"
		echo "  $1: scale $SCALE, database $BIG_SIZE bytes, loaded in $LOAD_MS ms"
		[ "$BIG_SIZE" -ge "$MIN_BYTES" ] && break
		SCALE=$(awk -v s="$SCALE" -v have="$BIG_SIZE" -v want="$MIN_BYTES" 'BEGIN { print int(s * want / have * 1.03) + 1 }')
		echo "  below $MIN_BYTES bytes: raising the scale to $SCALE"
	done
}
# load_big P: a fresh project with pgbench data, >= MIN_BYTES (may raise SCALE).
load_big() {
	drop_if_exists "$1"
	ctlv "SELECT branchpromote.create_project('$1')" >/dev/null
	load_big_into "$1"
}
check_prod_big() {
	local rows
	rows=$(app "$1" prod "SELECT count(*) FROM pgbench_accounts")
	[ "$rows" = $((SCALE * 100000)) ] || die "$1: prod has $rows accounts, expected $((SCALE * 100000))"
}

# machine_line: cores, load at the start and now, memory, kernel, PostgreSQL.
machine_line() {
	echo "machine: $(nproc) cores, load average $LOAD0 at the start and $(cut -d' ' -f1-3 /proc/loadavg) at the end, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, kernel $(uname -r), PostgreSQL $("$PG_BIN/postgres" -V | awk '{ print $3 }')"
}
