# bench/plot.sh — the benches' plots: sourced (by bench/lib.sh), not run.
# shellcheck shell=bash
#
# One function per kind of plot, each drawing a PNG with gnuplot (pngcairo)
# from the TSV a bench wrote in the same run; nothing here holds a figure.
# Every TSV starts with a header line of column names, one row per line,
# fields separated by tabs, "-" where a figure was not measured.
#
#   plot_sizes    TSV PNG [NOTE]  bench/sizes: promotion ms against database
#                                 bytes per data root, beside dump|restore
#   plot_phases   TSV PNG [NOTE]  bench/promote: one promotion per kind as a
#                                 stacked bar of the journal's steps and phases
#   plot_rollback TSV PNG [NOTE]  bench/rollback: rollback ms against the WAL
#                                 after the anchor, beside the classic PITR
#   plot_wakes    TSV PNG [NOTE]  bench/proxy: the empirical CDF of wake times
#
# NOTE is printed small under the title (the bench, its commit, the machine).
# Needs only bash, awk and gnuplot; it does not source scripts/lib.sh, so it
# can be tried on any TSV of the right shape:
#   bash -c '. bench/plot.sh; plot_sizes sizes.tsv /tmp/sizes.png'

# _gp_q STRING: STRING as a gnuplot double-quoted string
_gp_q() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

# _gp_head PNG WIDTH HEIGHT TITLE NOTE: the terminal, the output, the title,
# the note; text is not "enhanced" (rollback_to_lsn stays as it is written)
_gp_head() {
	cat <<EOF
set terminal pngcairo noenhanced size $2,$3 font "DejaVu Sans,11" linewidth 1.3
set output $(_gp_q "$1")
set title $(_gp_q "$4") font ",14" offset 0,0.6
set label 99 $(_gp_q "$5") at graph 0.5, graph 1 center offset 0,1.3 font ",9" textcolor rgb "#666666"
set tmargin 4.5
set datafile separator whitespace
set grid back linecolor rgb "#dddddd" dashtype 1
set border 3 linecolor rgb "#444444"
set tics nomirror
set key opaque box linecolor rgb "#cccccc"
EOF
}

# _gp_run SCRIPT PNG: run gnuplot on SCRIPT; its complaints go to stderr
_gp_run() {
	local out
	if ! out=$(gnuplot "$1" 2>&1); then
		printf '%s\n' "$out" >&2
		echo "gnuplot failed on $1 (for $2)" >&2
		rm -f "$2"
		return 1
	fi
	[ -z "$out" ] || printf 'gnuplot: %s\n' "$out" >&2
	[ -s "$2" ] || { echo "gnuplot wrote no $2" >&2; return 1; }
}

# _tsv_cols TSV NAME...: check that the header of TSV names every column
_tsv_cols() {
	local tsv=$1 c
	shift
	[ -s "$tsv" ] || { echo "no data in $tsv" >&2; return 1; }
	for c in "$@"; do
		head -1 "$tsv" | tr '\t' '\n' | grep -qx "$c" || { echo "$tsv has no column $c" >&2; return 1; }
	done
}

# _AWK_HDR: awk's start over a TSV: col["name"] is the field number of a column
# shellcheck disable=SC2016 # awk's $, not the shell's
_AWK_HDR='BEGIN { FS = "\t" } NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }'

# ------------------------------------------------------------ sizes
# plot_sizes TSV PNG [NOTE]: bench/sizes' table. Columns used: data_root,
# db_bytes, runs, promote_ms, min_ms, max_ms, dump_restore_ms. One line per
# data root (median of its runs, bars from min to max), one for dump|restore;
# log x (bytes), log y (ms); each point labelled with its median.
plot_sizes() {
	local tsv=$1 png=$2 note=${3:-} tmp roots r n=0 ranges plot=() label
	_tsv_cols "$tsv" data_root db_bytes runs promote_ms min_ms max_ms dump_restore_ms || return 1
	tmp=$(mktemp -d)
	roots=$(awk "$_AWK_HDR"' { if (!($(col["data_root"]) in seen)) { seen[$(col["data_root"])] = 1; print $(col["data_root"]) } }' "$tsv")
	for r in $roots; do
		n=$((n + 1))
		awk -v r="$r" "$_AWK_HDR"' $(col["data_root"]) == r && $(col["promote_ms"]) != "-" {
			print $(col["db_bytes"]), $(col["promote_ms"]), $(col["min_ms"]), $(col["max_ms"]), $(col["runs"]) }' "$tsv" |
			sort -g >"$tmp/root$n.dat"
		case $r in
		reflink) label="promote_branch, reflink data root (XFS, FICLONE)" ;;
		copy) label="promote_branch, copy data root (no reflink: the O(size) fallback)" ;;
		copy-fallback) label="promote_branch, reflink asked, no reflink found (copy)" ;;
		*) label="promote_branch, $r data root" ;;
		esac
		# shellcheck disable=SC2016 # gnuplot's $2, not the shell's
		plot+=("$(printf '%s using 1:2:3:4 with yerrorlines linestyle %d title %s, %s using 1:2:(sprintf("%%.0f ms", $2)) with labels %s font ",9" textcolor linestyle %d notitle' \
			"$(_gp_q "$tmp/root$n.dat")" "$n" "$(_gp_q "$label (median of the runs, bars: min-max)")" "$(_gp_q "$tmp/root$n.dat")" \
			"$([ "$n" = 1 ] && echo 'left offset 1,-0.8' || echo 'right offset -1,0.8')" "$n")")
	done
	awk "$_AWK_HDR"' $(col["dump_restore_ms"]) != "-" && $(col["dump_restore_ms"]) != "" { print $(col["db_bytes"]), $(col["dump_restore_ms"]) }' "$tsv" |
		sort -g >"$tmp/dump.dat"
	if [ -s "$tmp/dump.dat" ]; then
		# shellcheck disable=SC2016 # gnuplot's $2, not the shell's
		plot+=("$(printf '%s using 1:2 with linespoints linestyle 9 title "pg_dump -Fc | pg_restore (wall clock, once per size)", %s using 1:2:(sprintf("%%.1f s", $2 / 1000)) with labels right offset -1,0.8 font ",9" textcolor linestyle 9 notitle' \
			"$(_gp_q "$tmp/dump.dat")" "$(_gp_q "$tmp/dump.dat")")")
	fi
	((${#plot[@]})) || { echo "no rows to plot in $tsv" >&2; rm -rf "$tmp"; return 1; }
	# ranges: half a decade of room around the points
	ranges=$(cat "$tmp"/*.dat | awk 'NR == 1 { x0 = x1 = $1; y0 = y1 = $2 }
		{ if ($1 < x0) x0 = $1; if ($1 > x1) x1 = $1
		  for (i = 2; i <= (NF >= 4 ? 4 : 2); i++) { if ($i < y0) y0 = $i; if ($i > y1) y1 = $i } }
		END { printf "set xrange [%g:%g]\nset yrange [%g:%g]\n", x0 / 2.5, x1 * 2.5, y0 / 3, y1 * 4 }')
	{
		_gp_head "$png" 1100 720 "Promotion time against database size" "$note"
		cat <<EOF
set logscale xy
$ranges
set xlabel "database size (pg_database_size of dev, bytes; log scale)"
set ylabel "time (ms; log scale)"
set format x "%.0s %cB"
set format y "%.0f"
set mxtics 10
set mytics 10
set grid xtics ytics mxtics mytics linecolor rgb "#eeeeee", linecolor rgb "#f6f6f6"
set key top left Left reverse
do for [e = 0:7] { set ytics add (sprintf("%.0f", 2 * 10**e) 2 * 10**e, sprintf("%.0f", 5 * 10**e) 5 * 10**e) }
set style line 1 linecolor rgb "#1f77b4" pointtype 7 pointsize 1.3 linewidth 2
set style line 2 linecolor rgb "#d62728" pointtype 5 pointsize 1.2 linewidth 2
set style line 3 linecolor rgb "#9467bd" pointtype 9 pointsize 1.2 linewidth 2
set style line 9 linecolor rgb "#555555" pointtype 13 pointsize 1.3 linewidth 2 dashtype 2
plot $(
			IFS=,
			echo "${plot[*]}"
		)
EOF
	} >"$tmp/plot.gp"
	_gp_run "$tmp/plot.gp" "$png"
	local rc=$?
	rm -rf "$tmp"
	return $rc
}

# ------------------------------------------------------------ phases
# plot_phases TSV PNG [NOTE]: bench/promote's journal, one row per leaf of a
# promotion's time: kind, project, server_ms, step_no, step, phase, ms. A
# step without phases is one leaf (phase "-"); a step with phases is one leaf
# per phase plus "other" (the step's ms the phases do not cover). For each
# kind (in the order first seen), the promotion whose server_ms is the
# kind's median (the lower one of the two middle ones for an even count) is
# drawn as a bar: its leaves stacked from the first step up, each step in a
# colour of its own, its phases in shades of it, each leaf of 12 ms or more
# labelled with its ms, the journal's total on top.
plot_phases() {
	local tsv=$1 png=$2 note=${3:-} tmp
	_tsv_cols "$tsv" kind project server_ms step_no step phase ms || return 1
	tmp=$(mktemp -d)
	# the chosen promotion per kind
	awk "$_AWK_HDR"' { k = $(col["kind"]); p = $(col["project"])
			if (!(k in seenk)) { seenk[k] = 1; kinds[++nk] = k }
			if (!((k, p) in seenp)) { seenp[k, p] = 1; n[k]++; proj[k, n[k]] = p; ms[k, n[k]] = $(col["server_ms"]) } }
		END { for (i = 1; i <= nk; i++) { k = kinds[i]
				# sort the kind'\''s promotions by server_ms (insertion sort: a handful)
				for (a = 2; a <= n[k]; a++) for (b = a; b > 1 && ms[k, b] + 0 < ms[k, b - 1] + 0; b--) {
					t = ms[k, b]; ms[k, b] = ms[k, b - 1]; ms[k, b - 1] = t
					t = proj[k, b]; proj[k, b] = proj[k, b - 1]; proj[k, b - 1] = t }
				m = int((n[k] + 1) / 2)
				printf "%s\t%s\t%s\t%d\n", k, proj[k, m], ms[k, m], n[k] } }' "$tsv" >"$tmp/chosen.tsv"
	[ -s "$tmp/chosen.tsv" ] || { echo "no promotions in $tsv" >&2; rm -rf "$tmp"; return 1; }
	# segments (step, phase) in the order of the steps, then of first sight;
	# a data block per segment: "bar lo hi ms"; totals; colours; titles
	awk -v dir="$tmp" -v chosen="$tmp/chosen.tsv" '
		function hex(c) { return sprintf("%02x", c) }
		function unhex(s) { s = tolower(s); return (index("0123456789abcdef", substr(s, 1, 1)) - 1) * 16 + index("0123456789abcdef", substr(s, 2, 1)) - 1 }
		function shade(base, i, n,   r, g, b, f) {
			# the step colour for its first leaf, lighter for each next one
			r = unhex(substr(base, 2, 2)); g = unhex(substr(base, 4, 2)); b = unhex(substr(base, 6, 2))
			f = (n > 1) ? (i - 1) / n * 0.75 : 0
			return "#" hex(r + (255 - r) * f) hex(g + (255 - g) * f) hex(b + (255 - b) * f) }
		BEGIN { FS = "\t"
			split("#7f7f7f #1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #bcbd22 #17becf", base, " ")
			while ((getline line < chosen) > 0) { split(line, f, "\t"); nb++; bar[f[2]] = nb; kind[nb] = f[1]; proj[nb] = f[2]; sms[nb] = f[3]; cnt[nb] = f[4] } }
		NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		!($(col["project"]) in bar) { next }
		{ b = bar[$(col["project"])]; st = $(col["step"]); ph = $(col["phase"]); v = $(col["ms"]) + 0; sn = $(col["step_no"]) + 0
		  if (!(st in sidx)) { sidx[st] = ++nsteps; sname[nsteps] = st; sfirst[nsteps] = sn } else if (sn < sfirst[sidx[st]]) sfirst[sidx[st]] = sn
		  key = st SUBSEP ph
		  if (!(key in seg)) { seg[key] = 1; s = sidx[st]; np[s]++; pname[s, np[s]] = ph }
		  lo = tot[b]; tot[b] += v; leaf[++nl] = b; lstep[nl] = st; lph[nl] = ph; llo[nl] = lo; lhi[nl] = tot[b]; lv[nl] = v }
		END {
			# steps by their first position in any bar (ties: first seen)
			for (i = 1; i <= nsteps; i++) ord[i] = i
			for (a = 2; a <= nsteps; a++) for (c = a; c > 1 && sfirst[ord[c]] < sfirst[ord[c - 1]]; c--) { t = ord[c]; ord[c] = ord[c - 1]; ord[c - 1] = t }
			k = 0
			for (i = 1; i <= nsteps; i++) { s = ord[i]
				for (j = 1; j <= np[s]; j++) { k++; segk[sname[s] SUBSEP pname[s, j]] = k
					title[k] = (pname[s, j] == "-") ? sname[s] : sname[s] ": " pname[s, j]
					color[k] = shade(base[(i - 1) % 10 + 1], j, np[s]) } }
			nseg = k
			for (k = 1; k <= nseg; k++) printf "" > (dir "/seg" k ".dat")
			for (l = 1; l <= nl; l++) { k = segk[lstep[l] SUBSEP lph[l]]
				printf "%d %.3f %.3f %.1f\n", leaf[l], llo[l], lhi[l], lv[l] >> (dir "/seg" k ".dat") }
			for (b = 1; b <= nb; b++) printf "%d %.3f %s\n", b, tot[b], sms[b] > (dir "/tot.dat")
			printf "nseg = %d\narray T[%d]\narray C[%d]\n", nseg, nseg, nseg > (dir "/arrays.gp")
			for (k = 1; k <= nseg; k++) { gsub(/"/, "\\\"", title[k]); printf "T[%d] = \"%s\"\nC[%d] = \"%s\"\n", k, title[k], k, color[k] > (dir "/arrays.gp") }
			printf "set xtics (" > (dir "/xtics.gp")
			for (b = 1; b <= nb; b++) printf "%s\"%s\\n%s\\nelapsed_ms %.0f%s\" %d", (b > 1 ? ", " : ""), kind[b], proj[b], sms[b],
				(cnt[b] > 1) ? sprintf("\\n(median of %d)", cnt[b]) : "", b > (dir "/xtics.gp")
			printf ")\nset xrange [0.4:%d.6]\nnb = %d\n", nb, nb > (dir "/xtics.gp")
		}' <(head -1 "$tsv"; tail -n +2 "$tsv" | sort -t "$(printf '\t')" -s -k4,4n) || { rm -rf "$tmp"; return 1; }
	{
		_gp_head "$png" 1250 760 "Where one promotion's time goes (the operation journal's steps and phases)" "$note"
		cat "$tmp/arrays.gp" "$tmp/xtics.gp"
		cat <<EOF
ymax = 0
stats $(_gp_q "$tmp/tot.dat") using 2 nooutput
ymax = STATS_max
set yrange [0:ymax * 1.12]
set ylabel "ms (stacked in the order the steps ran, first at the bottom)"
set xtics nomirror scale 0
set grid noxtics ytics
set key outside right top vertical Left reverse noopaque nobox width 1 spacing 1.1 title "step: phase" font ",10"
set style fill solid 1.0 border rgb "#ffffff"
set lmargin 10
set bmargin 6.5
set xtics font ",10"
plot for [k=1:nseg] sprintf("$tmp/seg%d.dat", k) using 1:((\$2+\$3)/2):(\$1-0.3):(\$1+0.3):2:3 with boxxyerror linecolor rgb C[k] title T[k], \\
     for [k=1:nseg] sprintf("$tmp/seg%d.dat", k) using 1:((\$2+\$3)/2):(\$4 >= 12 ? sprintf("%.0f", \$4) : "") with labels font ",9" notitle, \\
     $(_gp_q "$tmp/tot.dat") using 1:2:(sprintf("%.0f ms in the journal", \$2)) with labels offset 0,0.8 font ",10" notitle
EOF
	} >"$tmp/plot.gp"
	_gp_run "$tmp/plot.gp" "$png"
	local rc=$?
	rm -rf "$tmp"
	return $rc
}

# ------------------------------------------------------------ rollback
# plot_rollback TSV PNG [NOTE]: bench/rollback's rows, one per distance.
# Columns used: wal_mib (x: the WAL written after the anchor up to the
# target), rollback_ms, redo_ms (the rollback's replay, from the new prod's
# log), classic_ms (copy of the pg_basebackup + PITR to the same LSN),
# pitr_ms (the PITR alone). Points for every distance, a least-squares line
# per series; log y (ms); a line at 500 ms (the target's fixed part).
plot_rollback() {
	local tsv=$1 png=$2 note=${3:-} tmp
	_tsv_cols "$tsv" wal_mib rollback_ms redo_ms classic_ms pitr_ms || return 1
	tmp=$(mktemp -d)
	awk "$_AWK_HDR"' { c = $(col["classic_ms"]); p = $(col["pitr_ms"]); r = $(col["redo_ms"])
		print $(col["wal_mib"]), $(col["rollback_ms"]), (r == "-" || r + 0 <= 0) ? "NaN" : r, (c == "-") ? "NaN" : c, (p == "-") ? "NaN" : p }' "$tsv" >"$tmp/rb.dat"
	[ -s "$tmp/rb.dat" ] || { echo "no rows in $tsv" >&2; rm -rf "$tmp"; return 1; }
	# least squares y = a + b x per column (2: rollback, 4: classic); "NaN NaN" if it cannot be fitted
	awk '{ for (c = 2; c <= 4; c += 2) if ($c != "NaN") { n[c]++; sx[c] += $1; sy[c] += $c; sxx[c] += $1 * $1; sxy[c] += $1 * $c } }
		function ab(c,   d) { d = n[c] * sxx[c] - sx[c] * sx[c]
			if (n[c] < 2 || d == 0) return "NaN NaN"
			b = (n[c] * sxy[c] - sx[c] * sy[c]) / d; return sprintf("%.3f %.4f", (sy[c] - b * sx[c]) / n[c], b) }
		END { split(ab(2), r, " "); split(ab(4), k, " ")
			printf "ra = %s\nrb = %s\nca = %s\ncb = %s\n", r[1], r[2], k[1], k[2] }' "$tmp/rb.dat" >"$tmp/fit.gp"
	{
		_gp_head "$png" 1100 720 "rollback_to_lsn against the WAL distance from the snapshot, beside pg_basebackup + PITR" "$note"
		cat "$tmp/fit.gp"
		cat <<EOF
stats $(_gp_q "$tmp/rb.dat") using 1 nooutput
xmax = STATS_max
set xrange [-xmax * 0.04 : xmax * 1.08 + 1]
set logscale y
set yrange [*:*]
set autoscale yfix
set offsets 0, 0, graph 0.08, graph 0.08
set format y "%.0f"
do for [e = 0:7] { set ytics add (sprintf("%.0f", 2 * 10**e) 2 * 10**e, sprintf("%.0f", 5 * 10**e) 5 * 10**e) }
set mytics 10
set grid xtics ytics mytics linecolor rgb "#eeeeee", linecolor rgb "#f6f6f6"
set xlabel "WAL written after the anchor up to the target LSN (MiB)"
set ylabel "time (ms; log scale)"
set key bottom right Left reverse font ",10"
set style line 1 linecolor rgb "#1f77b4" pointtype 7 pointsize 1.4
set style line 2 linecolor rgb "#d62728" pointtype 5 pointsize 1.3
set style line 3 linecolor rgb "#1f77b4" pointtype 6 pointsize 1.1
set style line 4 linecolor rgb "#d62728" pointtype 4 pointsize 1.1
fitlabel(a, b) = (a == a) ? sprintf("least squares: %.0f ms %s %.1f ms/MiB", a, (b < 0 ? "-" : "+"), abs(b)) : "(too few points to fit)"
set samples 200
plot $(_gp_q "$tmp/rb.dat") using 1:2 with points linestyle 1 title "rollback_to_lsn (server elapsed_ms; #n: the n-th distance of the run)", \\
     $(_gp_q "$tmp/rb.dat") using 1:2:(sprintf("#%d", \$0 + 1)) with labels left offset 1,0 font ",9" textcolor rgb "#1f77b4" notitle, \\
     (ra == ra && ra + rb * x > 0) ? ra + rb * x : 1/0 with lines linestyle 1 dashtype 2 linewidth 1.5 title "  " . fitlabel(ra, rb), \\
     $(_gp_q "$tmp/rb.dat") using 1:3 with points linestyle 3 title "  of which its replay (new prod's log: redo starts -> redo done)", \\
     $(_gp_q "$tmp/rb.dat") using 1:4 with points linestyle 2 title "classic: copy of the pg_basebackup + PITR to the same LSN (until pg_isready)", \\
     (ca == ca && ca + cb * x > 0) ? ca + cb * x : 1/0 with lines linestyle 2 dashtype 2 linewidth 1.5 title "  " . fitlabel(ca, cb), \\
     $(_gp_q "$tmp/rb.dat") using 1:5 with points linestyle 4 title "  of which its PITR (config, pg_ctl start, replay, until pg_isready)", \\
     500 with lines linecolor rgb "#2ca02c" dashtype 3 linewidth 1.5 title "500 ms: the target's fixed part (<= 0.5 s plus replay)"
EOF
	} >"$tmp/plot.gp"
	_gp_run "$tmp/plot.gp" "$png"
	local rc=$?
	rm -rf "$tmp"
	return $rc
}

# ------------------------------------------------------------ wakes
# plot_wakes TSV PNG [NOTE]: bench/proxy's connect times, one row per
# sample: series, i, ms. The empirical CDF of each series (log x, ms): the
# wakes (psql_wake, client_connect_wake, client_answer_wake) solid, the
# running compute's baselines (psql_direct_running, psql_proxy_running,
# client_connect_direct_running, client_connect_proxy_running) dashed; other
# series (suspend_compute) are not drawn. The targets p50 <= 100 ms and
# p99 <= 250 ms are marked.
plot_wakes() {
	local tsv=$1 png=$2 note=${3:-} tmp s n=0 plot=() label style
	_tsv_cols "$tsv" series ms || return 1
	tmp=$(mktemp -d)
	for s in psql_wake client_answer_wake client_connect_wake psql_proxy_running psql_direct_running client_connect_proxy_running client_connect_direct_running; do
		awk -v s="$s" "$_AWK_HDR"' $(col["series"]) == s && $(col["ms"]) != "-" { print $(col["ms"]) }' "$tsv" | sort -g |
			awk '{ v[NR] = $1 } END { for (i = 1; i <= NR; i++) { print v[i], (i - 1) / NR; print v[i], i / NR } }' >"$tmp/$s.dat"
		[ -s "$tmp/$s.dat" ] || continue
		n=$((n + 1))
		case $s in
		psql_wake) label="psql -c 'SELECT 1' process, through the proxy, compute suspended (a wake)" style=1 ;;
		client_answer_wake) label="protocol client: connect to SELECT 1's answer, through the proxy, suspended" style=2 ;;
		client_connect_wake) label="protocol client: connect to ReadyForQuery, through the proxy, suspended" style=3 ;;
		psql_proxy_running) label="psql process, through the proxy, compute running" style=4 ;;
		psql_direct_running) label="psql process, directly, compute running" style=5 ;;
		client_connect_proxy_running) label="protocol client: connect, through the proxy, running" style=6 ;;
		client_connect_direct_running) label="protocol client: connect, directly, running" style=7 ;;
		esac
		plot+=("$(printf '%s using 1:2 with lines linestyle %d title %s' "$(_gp_q "$tmp/$s.dat")" "$style" "$(_gp_q "$label ($(($(wc -l <"$tmp/$s.dat") / 2)))")")")
	done
	((n)) || { echo "no wake series in $tsv" >&2; rm -rf "$tmp"; return 1; }
	{
		_gp_head "$png" 1100 820 "Connect + SELECT 1 through the scale-to-zero proxy: empirical CDF" "$note"
		cat <<EOF
stats "< cat $tmp/*.dat" using 1 nooutput
set logscale x
set xrange [STATS_min / 1.5 : (STATS_max > 250 ? STATS_max : 250) * 1.5]
set yrange [0:1.02]
set format x "%.0f"
do for [e = 0:4] { set xtics add (sprintf("%.0f", 2 * 10**e) 2 * 10**e, sprintf("%.0f", 5 * 10**e) 5 * 10**e) }
set mxtics 10
set grid xtics ytics mxtics linecolor rgb "#eeeeee", linecolor rgb "#f6f6f6"
set xlabel "ms per sample (log scale): a psql process from launch to exit; the protocol client from its TCP connect"
set ylabel "share of the samples at or below (cumulative)"
set key outside below left Left reverse font ",10" maxrows 4 width -8
set bmargin 10
set style line 1 linecolor rgb "#d62728" linewidth 2.5
set style line 2 linecolor rgb "#ff7f0e" linewidth 2
set style line 3 linecolor rgb "#9467bd" linewidth 2
set style line 4 linecolor rgb "#1f77b4" linewidth 2 dashtype 2
set style line 5 linecolor rgb "#17becf" linewidth 2 dashtype 3
set style line 6 linecolor rgb "#2ca02c" linewidth 1.5 dashtype 2
set style line 7 linecolor rgb "#8c564b" linewidth 1.5 dashtype 3
set arrow 1 from 100, graph 0 to 100, graph 1 nohead linecolor rgb "#999999" dashtype 4
set arrow 2 from 250, graph 0 to 250, graph 1 nohead linecolor rgb "#999999" dashtype 4
set label 1 "target: p50 <= 100 ms" at 100, 0.5 left offset 0.6,-0.8 font ",9" textcolor rgb "#555555" front
set label 2 "target: p99 <= 250 ms" at 250, 0.99 right offset -0.6,-0.8 font ",9" textcolor rgb "#555555" front
set object 1 circle at 100, 0.5 size screen 0.006 fillcolor rgb "#555555" fillstyle solid front
set object 2 circle at 250, 0.99 size screen 0.006 fillcolor rgb "#555555" fillstyle solid front
set ytics ("0" 0, "10 %%" 0.1, "20 %%" 0.2, "30 %%" 0.3, "40 %%" 0.4, "50 %%" 0.5, "60 %%" 0.6, "70 %%" 0.7, "80 %%" 0.8, "90 %%" 0.9, "100 %%" 1)
plot $(
			IFS=,
			echo "${plot[*]}"
		)
EOF
	} >"$tmp/plot.gp"
	_gp_run "$tmp/plot.gp" "$png"
	local rc=$?
	rm -rf "$tmp"
	return $rc
}
