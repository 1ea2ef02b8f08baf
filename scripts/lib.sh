# scripts/lib.sh — shared by quickstart.sh, test.sh and bench/*: sourced, not run.
# Everything here is idempotent: it installs, builds or starts only what is missing.

PG_BIN=/usr/lib/postgresql/15/bin
PG_CONFIG=$PG_BIN/pg_config
BP_OS_USER=${BP_OS_USER:-postgres}	# PostgreSQL refuses root: servers run as this user
BP_COMPUTE_USER=${BP_COMPUTE_USER:-bpcompute}	# computes run as this one (branchpromote.compute_os_user)
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run this as root (it installs packages and starts servers as '$BP_OS_USER')"

# Run a command as the servers' OS user, from a directory it can read.
as_pg() { (cd / && runuser -u "$BP_OS_USER" -- "$@"); }

# Install what is missing from Debian's packages.
ensure_deps() {
	local pkgs=(postgresql-15 postgresql-server-dev-15 postgresql-15-cron libpq-dev
		libipc-run-perl make gcc cppcheck xfsprogs util-linux rsync clang libclang-rt-14-dev
		libssl-dev openssl sudo)
	local missing=()
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if ((${#missing[@]})); then
		say "installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq "${missing[@]}" >/dev/null
	fi
	id "$BP_OS_USER" >/dev/null 2>&1 || useradd --system --create-home --shell /bin/bash "$BP_OS_USER"
	ensure_compute_user
}

# The computes' own OS user: no login, no home; the servers' user is in its
# group (forks read computes' data through it) and may run the helper that
# crosses between the two through sudo, with the compute user pinned.
ensure_compute_user() {
	local rule=/etc/sudoers.d/branchpromote tmp
	id "$BP_COMPUTE_USER" >/dev/null 2>&1 ||
		useradd --system --user-group --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin "$BP_COMPUTE_USER"
	id -nG "$BP_OS_USER" | tr ' ' '\n' | grep -qx "$BP_COMPUTE_USER" ||
		usermod -aG "$BP_COMPUTE_USER" "$BP_OS_USER"
	tmp=$(mktemp)
	printf '%s\n' "# branchpromote: the control server's OS user runs its helper as root, for compute user $BP_COMPUTE_USER only" \
		"$BP_OS_USER ALL=(root) NOPASSWD: $PG_BIN/branchpromote_helper $BP_COMPUTE_USER *" >"$tmp"
	if ! cmp -s "$tmp" "$rule"; then
		visudo -cqf "$tmp" >/dev/null || die "the sudoers rule for branchpromote_helper does not parse"
		install -m 0440 -o root -g root "$tmp" "$rule"
	fi
	rm -f "$tmp"
}

# Build with warnings as errors and install into PostgreSQL 15.
build_install() {
	say "building branchpromote"
	make -C "$REPO" -s PG_CONFIG="$PG_CONFIG" >/dev/null
	make -C "$REPO" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
}

# mount_reflink_fs IMAGE DIR SIZE: put DIR on a loop-mounted XFS with reflink
# when this machine allows it. Prints "reflink" or "copy".
mount_reflink_fs() {
	local img=$1 dir=$2 size=$3
	mkdir -p "$dir"
	if mountpoint -q "$dir"; then echo reflink; return; fi
	if [ ! -f "$img" ]; then
		truncate -s "$size" "$img" && mkfs.xfs -q -m reflink=1 "$img" >/dev/null 2>&1 || { rm -f "$img"; echo copy; return; }
	fi
	if mount -o loop "$img" "$dir" 2>/dev/null; then echo reflink; else echo copy; fi
}

# start_control PGDATA PORT SOCKDIR DATA_ROOT [extra settings...]: a control
# server with branchpromote and pg_cron preloaded, started if not running.
start_control() {
	local pgdata=$1 port=$2 sockdir=$3 dataroot=$4
	shift 4
	mkdir -p "$sockdir" "$dataroot"
	chown "$BP_OS_USER": "$sockdir" "$dataroot" "$(dirname "$pgdata")"
	if [ ! -f "$pgdata/PG_VERSION" ]; then
		as_pg "$PG_BIN/initdb" -D "$pgdata" -U "$BP_OS_USER" --auth-local=peer \
			--auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
		{
			echo "# branchpromote control plane"
			echo "shared_preload_libraries = 'branchpromote,pg_cron'"
			echo "port = $port"
			echo "listen_addresses = ''"
			echo "unix_socket_directories = '$sockdir'"
			echo "cron.database_name = 'postgres'"
			# jobs run in background workers: no TCP login (listen_addresses is empty)
			echo "cron.use_background_workers = on"
			echo "max_worker_processes = 32"
			echo "branchpromote.data_root = '$dataroot'"
			echo "branchpromote.compute_os_user = '$BP_COMPUTE_USER'"
			for s in "$@"; do echo "$s"; done
		} >>"$pgdata/postgresql.conf"
	fi
	# a control plane made by an earlier version of this script: add what it lacks
	local restart=0 s
	for s in "cron.use_background_workers = on" "max_worker_processes = 32" \
		"branchpromote.compute_os_user = '$BP_COMPUTE_USER'" "$@"; do
		if ! grep -q "^${s%% =*} =" "$pgdata/postgresql.conf"; then
			echo "$s" >>"$pgdata/postgresql.conf"
			restart=1
		fi
	done
	if ! as_pg "$PG_BIN/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
		as_pg "$PG_BIN/pg_ctl" -D "$pgdata" -l "$pgdata/../control.log" -w start >/dev/null
	elif ((restart)) || [ "$("$PG_CONFIG" --pkglibdir)/branchpromote.so" -nt "$pgdata/postmaster.pid" ]; then
		# a preloaded library (and these settings) are read at server start
		as_pg "$PG_BIN/pg_ctl" -D "$pgdata" -l "$pgdata/../control.log" -w restart >/dev/null
	fi
}

# Stop every server (control and computes) whose command line names DIR.
stop_servers_under() {
	local dir=$1 pids
	pids=$(pgrep -f -- "-D $dir" || true)
	[ -n "$pids" ] && kill -INT $pids 2>/dev/null
	for _ in $(seq 100); do pgrep -f -- "-D $dir" >/dev/null || return 0; sleep 0.1; done
	pkill -KILL -f -- "-D $dir" || true
}
