#!/usr/bin/env bash
# make bench: runs the controller binary against a real kube-apiserver and
# etcd (test/bench) and the handler/index Go benchmark of N Networks sharing
# one CIDR, and writes the medians, the ratios to the ceilings measured in
# the same run, the goals, the CPU profile's top entries and two plots of
# Ready Networks over time to BENCHMARKS.md. These machines are small and
# noisy: compare medians and ratios, not single runs.
#
# Environment:
#   BENCH_COUNT          iterations of each benchmark (default 3)
#   BENCH_BURST          Networks per burst (default 2000)
#   BENCH_OUTAGE_BURST   Networks per outage run (default 1000)
#   BENCH_SCALE          other Ready Networks in the cluster during the
#                        bursts, and the footprint's size (default 10000)
#   BENCH_PODS_PER_NETWORK  pods (API objects, no kubelet) attached to
#                        each of the BENCH_SCALE Networks in the footprint
#                        with pods (default 5: 50000 pods)
#   BENCH_LARGE          if set (say 50000), also the footprint at that many
#                        Networks, once; opt-in, it takes about ten minutes
#   BENCH_BASELINE       a controller binary built from an older commit: the
#                        test/bench scenarios run a second time with it, and
#                        the tables get a "baseline" column
#   BENCH_SHARED_SIZES   Networks sharing a CIDR (default 1000,4000,16000)
#   BENCH_PODS           pods started at once on the real node of
#                        hack/node-up.sh, per burst (default 50,200); only
#                        where a node can run (root, containerd, runc)
#   BENCH_OUT            the report (default BENCHMARKS.md); its plots go to
#                        docs/ beside it
# BENCH_SHORT=1 is the quick mode CI runs: one iteration, 200 Networks per
# burst, 1000 per outage run (fewer are all Ready before the outage), 1000
# others, 1000 sharing a CIDR, bursts of 10 pods, unless those
# variables say otherwise, and the report goes to a temporary directory
# unless BENCH_OUT is set.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"
if [[ "${BENCH_SHORT:-}" == 1 ]]; then
	: "${BENCH_COUNT:=1}" "${BENCH_BURST:=200}" "${BENCH_OUTAGE_BURST:=1000}" "${BENCH_SCALE:=1000}" "${BENCH_SHARED_SIZES:=1000}" "${BENCH_PODS:=10}"
	: "${BENCH_OUT:=$(mktemp -d)/BENCHMARKS.md}"
fi
count=${BENCH_COUNT:-3}
burst=${BENCH_BURST:-2000}
outage_burst=${BENCH_OUTAGE_BURST:-1000}
scale=${BENCH_SCALE:-10000}
large=${BENCH_LARGE:-0}
baseline=${BENCH_BASELINE:-}
shared=${BENCH_SHARED_SIZES:-1000,4000,16000}
pods_sizes=${BENCH_PODS:-50,200}
pods_per_network=${BENCH_PODS_PER_NETWORK:-5}
out=${BENCH_OUT:-BENCHMARKS.md}
docs=$(dirname "$out")/docs
mkdir -p "$docs"

# BENCH_KEEP=DIR keeps the results (raw.txt, baseline.txt, timeline/,
# profile/) in DIR; BENCH_RENDER_ONLY=1 with it writes the report from
# them again without running anything.
if [[ -n "${BENCH_KEEP:-}" ]]; then
	work=$BENCH_KEEP
	mkdir -p "$work"
else
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
fi
raw=$work/raw.txt
base=$work/baseline.txt
if [[ "${BENCH_RENDER_ONLY:-}" != 1 ]]; then
mkdir -p "$work/timeline" "$work/profile"
: >"$base"
KUBEBUILDER_ASSETS=$(hack/k8s/install.sh)
export KUBEBUILDER_ASSETS

# The shared-CIDR benchmark lives with the handlers in the main package;
# -short keeps that package's envtest control plane from starting.
go test -short -run '^$' -bench '^BenchmarkSharedCIDR$' -count="$count" -timeout 30m . -args -shared-cidr-sizes="$shared" | tee "$raw" >&2
args=(-burst="$burst" -outage-burst="$outage_burst" -scale="$scale" -pods-per-network="$pods_per_network")
go test -run '^$' -bench . -benchtime=1x -count="$count" -timeout 120m ./test/bench/ \
	-args "${args[@]}" -timeline-dir="$work/timeline" -profile-dir="$work/profile" | tee -a "$raw" >&2
if [[ "$large" != 0 ]]; then
	# Once: at 50k one iteration takes about ten minutes.
	go test -run '^$' -bench '^BenchmarkFootprintLarge$' -benchtime=1x -count=1 -timeout 120m ./test/bench/ \
		-args -large-scale="$large" | tee -a "$raw" >&2
fi
# Pods on a real node (hack/node-up.sh), where the machine allows one:
# bursts of pods_sizes pods with no secondary network, on a Bridge and on a
# Macvlan Network (test/e2e, TestRealNodePodAttachFigures).
if why=$(hack/node-up.sh --check); then
	NODE_BENCH_PODS=$pods_sizes CNI_PLUGINS_DIR=$(hack/cni/install.sh) \
		go test -count=1 -run '^TestRealNodePodAttachFigures$' -v -timeout 60m ./test/e2e/ |
		tee "$work/pods-log.txt" | grep 'FIGURE' >"$work/pods.txt" || true
	[[ -s "$work/pods.txt" ]] || echo "bench: no pod figures; see $work/pods-log.txt" >&2
else
	echo "no real node here: $why" >"$work/pods-skipped.txt"
fi
if [[ -n "$baseline" ]]; then
	# No profile: an older binary may not have --profiling.
	go test -run '^$' -bench . -benchtime=1x -count="$count" -timeout 120m ./test/bench/ \
		-args "${args[@]}" -controller-binary="$(realpath "$baseline")" | tee "$base" >&2
fi
fi

# results FILE: the benchmark result lines of FILE, whole. go test writes
# a benchmark's name before it runs it, so a log line of the benchmark's
# own process (klog's format: a letter, the date, a time) can land between
# the name and the figures.
results() {
	awk '
		/^[IWEF][0-9][0-9][0-9][0-9] [0-9:.]+ / { next }
		/^Benchmark[^ \t]*-[0-9]+[ \t]/ {
			name = $1
			rest = $0; sub(/^[^ \t]+[ \t]+/, "", rest)
			if (rest ~ /^[0-9]+[ \t]/) { print; name = "" }
			next
		}
		name != "" && /^[ \t]*[0-9]+[ \t]+[0-9.]+ ns\/op/ { print name " " $0; name = ""; next }
	' "$1"
}
results "$raw" >"$work/results.txt"
results "$base" >"$work/baseline-results.txt"
raw=$work/results.txt
base=$work/baseline-results.txt

# median FILE NAME UNIT: the median of the values reported with UNIT by
# benchmark NAME in FILE, or n/a.
median() {
	awk -v name="$2" -v unit="$3" '
		$1 ~ "^" name "(-[0-9]+)?$" { for (i = 3; i < NF; i++) if ($(i+1) == unit) v[n++] = $i }
		END {
			if (n == 0) { print "n/a"; exit }
			for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
			m = (n % 2) ? v[int(n/2)] : (v[n/2-1] + v[n/2]) / 2
			printf (m >= 100 || m == int(m)) ? "%.0f\n" : (m >= 1 ? "%.2f\n" : "%.3f\n"), m
		}' "$1"
}
# all NAME UNIT: every value reported with UNIT by NAME in this run.
all() { awk -v name="$1" -v unit="$2" '$1 ~ "^" name "(-[0-9]+)?$" { for (i = 3; i < NF; i++) if ($(i+1) == unit) printf "%s%s", sep, $i; sep = ", " } END { print "" }' "$raw"; }
# met VALUE OP GOAL: whether a median meets its goal.
met() { awk -v v="$1" -v op="$2" -v g="$3" 'BEGIN { if (v == "n/a" || tolower(v) ~ /nan|inf/) print "n/a"; else if ((op == ">=" && v+0 >= g+0) || (op == "<=" && v+0 <= g+0)) print "met"; else print "**not met**" }'; }
# duration NANOSECONDS: a readable duration.
duration() {
	awk -v ns="$1" 'BEGIN {
		if (ns == "n/a") print ns
		else if (ns >= 1e9) printf "%.2f s\n", ns / 1e9
		else if (ns >= 1e6) printf "%.2f ms\n", ns / 1e6
		else printf "%.1f µs\n", ns / 1e3
	}'
}
# row BENCHMARK UNIT TEXT [GOAL-OP GOAL-VALUE GOAL-TEXT]: a table row of
# the median, every iteration, the baseline's median if there is one, and
# the goal.
row() {
	local m goal=""
	m=$(median "$raw" "$1" "$2")
	if (($# > 3)); then goal="$6: $(met "$m" "$4" "$5")"; fi
	local b=""
	if [[ -n "$baseline" ]]; then b=" $(median "$base" "$1" "$2") |"; fi
	echo "| $3 | **$m** |$b $(all "$1" "$2") | $goal |"
}
header() {
	if [[ -n "$baseline" ]]; then
		echo "| measure | median | baseline | per iteration | goal |"
		echo "| --- | --- | --- | --- | --- |"
	else
		echo "| measure | median | per iteration | goal |"
		echo "| --- | --- | --- | --- |"
	fi
}

# shared_rows: one table row per N of BenchmarkSharedCIDR.
shared_rows() {
	local n list blocker
	for n in ${shared//,/ }; do
		list=BenchmarkSharedCIDR/initial-list/networks=$n
		blocker=BenchmarkSharedCIDR/find-blocker/networks=$n
		echo "| $n | $(duration "$(median "$raw" "$list" ns/op)") | $(median "$raw" "$list" queue-adds/network) | $(median "$raw" "$list" candidates/network) | $(duration "$(median "$raw" "$blocker" ns/op)") | $(median "$raw" "$blocker" candidates/sync) |"
	done
}

# pods_rows: one table row per FIGURE line of TestRealNodePodAttachFigures,
# or a line saying why there are none.
pods_rows() {
	if [[ -s "$work/pods.txt" ]]; then
		echo "| secondary network | pods at once | create to Ready, p50 | p99 | max | first create to all Ready | pods/s |"
		echo "| --- | --- | --- | --- | --- | --- | --- |"
		sed 's/.*FIGURE //' "$work/pods.txt" | awk '{
			for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
			printf "| %s | %s | %s | %s | %s | %s | %s |\n", f["network"], f["pods"], f["p50"], f["p99"], f["max"], f["all-ready"], f["pods/s"]
		}'
	elif [[ -s "$work/pods-skipped.txt" ]]; then
		echo "Not measured: $(<"$work/pods-skipped.txt")."
	else
		echo "Not measured: the run failed (its log: pods-log.txt with BENCH_KEEP)."
	fi
}

# The plots, from the first iteration's timelines.
tl=$work/timeline
# hack/plot is a module of its own (its font stays out of the controller's
# go.mod); built once, run from here so that relative paths stay ours.
GOWORK=off go -C hack/plot build -o "$(cd "$work" && pwd -P)/plot" .
"$work/plot" -o "$docs/bench-burst.png" -title "Bursts of $burst Networks, $scale others Ready" \
	"created while the controller runs=$tl/live.dat" "existing before it starts=$tl/existing.dat"
"$work/plot" -o "$docs/bench-outage.png" -title "$outage_burst Networks, the API server killed and restarted" \
	"API server stopped for 10 s=$tl/outage.dat" "no fault=$tl/no-fault.dat"
"$work/plot" -o "$docs/bench-outage-at-start.png" -title "$outage_burst Networks, the controller started while the API server is away" \
	"API server away for the first 20 s=$tl/outage-at-start.dat" "no fault=$tl/no-fault-at-start.dat"
profile_top=$(go tool pprof -top -nodecount=15 "$work/profile/cpu-$scale.pprof" 2>/dev/null | sed -n '/flat%/,$p')

F=BenchmarkFootprint
B=BenchmarkBurst
O=BenchmarkOutage
S=BenchmarkOutageAtStart
baseline_note=""
if [[ -n "$baseline" ]]; then
	baseline_note="The baseline column is the same scenarios run, in the same \`make bench\`, with \`$(basename "$baseline")\` (BENCH_BASELINE), a build of an older commit."
fi
{
	cat <<MD
# Benchmarks

Written by \`make bench\` (\`hack/bench.sh\`, scenarios in \`test/bench\`) on $(date -u +%Y-%m-%d):
$(nproc) cores, $(go version | cut -d' ' -f3), kube-apiserver and etcd from \`hack/k8s\` (envtest),
the controller binary with its default flags, $count iterations. Every ratio is taken per
iteration against a ceiling measured in the same iteration on the same server: the controller's
own writes for each Network (NetworkAttachmentDefinition create, status update, Event) made
directly by 32 unthrottled clients. Medians; the machine is small and noisy, so compare ratios,
not absolute numbers. $baseline_note

## Throughput: bursts with $scale other Ready Networks in the cluster

$(header)
$(row $B ceiling-live-networks/s "Ceiling, Networks created by 32 clients while 32 others make the controller's writes (Networks/s)")
$(row $B live-networks/s "Controller, $burst Networks created while it runs, first create to last Ready (Networks/s)")
$(row $B live-%-of-ceiling "**Controller / ceiling, created while it runs (%)**" ">=" 90 "at least 90")
$(row $B ceiling-existing-networks/s "Ceiling, $burst Networks that exist, writes only (Networks/s)")
$(row $B existing-networks/s "Controller started after $burst exist, start to last Ready (Networks/s)")
$(row $B existing-%-of-ceiling "**Controller / ceiling, started after they exist (%)**" ">=" 90 "at least 90")
$(row $B existing-after-first-%-of-ceiling "The same from the first Ready on, without the controller's start-up and first list (%)")
$(row $B live-synced-events/network "Normal Synced Events per Network, created while it runs")

![Ready Networks over time in the bursts](docs/bench-burst.png)

## Recovery after an API server outage

$outage_burst Networks exist when the controller starts, with $scale others Ready; 3 s later
the benchmark kills kube-apiserver and starts it again 10 s later. The drain rate counts 95% of
what was left when the server answered again, from that moment; without the fault, the same
part of the burst from 3 s on.

$(header)
$(row $O no-fault-drain-networks/s "No fault: drain rate from 3 s on (Networks/s)")
$(row $O drain-networks/s "After the outage: drain rate once the server is back (Networks/s)")
$(row $O drain-%-of-no-fault "**Drain after the outage / no fault (%)**" ">=" 80 "at least 80")
$(row $O ceiling-drain-networks/s "Ceiling's writers after the same outage: drain rate (Networks/s)")
$(row $O drain-%-of-ceiling "Controller's drain / ceiling's drain after the outage (%)")
$(row $O backlog-when-back "Networks not Ready when the server answered again")
$(row $O s-server-down "Seconds the server did not answer")
$(row $O s-back-to-last-ready "Seconds from the server's return to the last Ready")
$(row $O p50-s "Median create-to-Ready with the outage (s)")
$(row $O no-fault-p50-s "Median create-to-Ready without it (s)")

![Ready Networks over time with and without the outage](docs/bench-outage.png)

## Started while the API server is away

$outage_burst Networks exist, with $scale others Ready, when the benchmark kills kube-apiserver
and starts the controller; 20 s later it starts the server again, as a cluster power-cycle or a
control-plane restart does. The controller's informers retry meanwhile; once the server answers,
the controller must be working within about a second whatever their backoff. The server's
return is its first accepted write: it then still answers watches with 429 and a Retry-After of
1 s until its watch cache has filled, which the goal allows for. The drain rate counts 95% of the
burst from the server's return; without the fault, from the controller's start.

$(header)
$(row $S no-fault-drain-networks/s "No fault: drain rate from the start (Networks/s)")
$(row $S drain-networks/s "Started while away: drain rate once the server is back (Networks/s)")
$(row $S drain-%-of-no-fault "**Drain once the server is back / no fault (%)**")
$(row $S s-back-to-first-ready "**Seconds from the server's return to the first Ready**" "<=" 2 "at most 2")
$(row $S no-fault-s-to-first-ready "No fault: seconds from the start to the first Ready")
$(row $S s-server-down "Seconds the server did not answer")
$(row $S s-back-to-last-ready "Seconds from the server's return to the last Ready")

![Ready Networks over time, started while the API server is away and without the fault](docs/bench-outage-at-start.png)

## Footprint at $scale Networks

The controller starts on $scale Networks none of which is Ready, makes them Ready, idles, is
restarted with a 1 s resync period (writes counted), and is restarted again with its defaults
and left idle. Resident memory is VmRSS: it includes about 25 MiB of the binary's own pages
(file-backed, shared and reclaimable), which the test's log splits out.

$(header)
$(row ${F}Empty MiB-idle "Resident memory idle, no Networks (MiB)")
$(row ${F}Empty s-to-synced "Start to synced caches, no Networks (s)")
$(row $F MiB-idle "**Resident memory idle with $scale Ready Networks, after a restart (MiB)**" "<=" 60 "at most 60")
$(row $F MiB-after-burst "**Resident memory idle after making $scale Ready (MiB)**" "<=" 60 "at most 60")
$(row $F MiB-peak "Resident memory peak during that burst (MiB)")
$(row $F ms-cpu/network "**Controller CPU per Network, start to $scale Ready (ms)**" "<=" 0.5 "at most 0.5")
$(row $F networks/s "That burst's rate (Networks/s)")
$(row $F s-to-synced "Start to synced caches with $scale Networks (s)")
$(row $F writes-after-restart "Writes in 5 s by a restarted controller with a 1 s resync" "<=" 0 "none")
$(row $F attachments/network "NetworkAttachmentDefinition creates per Network")
$(row $F status-writes/network "Status writes per Network")
$(row $F synced-events/network "Synced Events per Network")
$(row $F writes/network "All writes per Network (the Events' included)")

## Footprint at $scale Networks with pods

The same, with $pods_per_network pods attached to each Network as API objects ($((scale * pods_per_network)) pods:
no kubelet runs them; each carries the annotations Multus leaves), so that the controller
caches every pod and reports the attached pods in each Network's status (issue 22). Compare
with the table above: same run, same server.

$(header)
$(row ${F}Pods pods "Pods in the cluster")
$(row ${F}Pods MiB-idle "**Resident memory idle with $scale Ready Networks and the pods, after a restart (MiB)**")
$(row ${F}Pods MiB-after-burst "Resident memory idle after making $scale Ready (MiB)")
$(row ${F}Pods MiB-peak "Resident memory peak during that burst (MiB)")
$(row ${F}Pods ms-cpu/network "**Controller CPU per Network, start to $scale Ready (ms)**")
$(row ${F}Pods networks/s "That burst's rate (Networks/s)")
$(row ${F}Pods s-to-synced "Start to synced caches with $scale Networks and the pods (s)")
$(row ${F}Pods writes-after-restart "Writes in 5 s by a restarted controller with a 1 s resync" "<=" 0 "none")
$(row ${F}Pods status-writes/network "Status writes per Network (attachedPods goes with Ready)")
MD
	if [[ "$large" != 0 ]]; then
		L=BenchmarkFootprintLarge
		cat <<MD

## Footprint at $large Networks (BENCH_LARGE, one iteration)

$(header)
$(row $L MiB-idle "Resident memory idle with $large Ready Networks, after a restart (MiB)")
$(row $L MiB-after-burst "Resident memory idle after making $large Ready (MiB)")
$(row $L MiB-peak "Resident memory peak during that burst (MiB)")
$(row $L ms-cpu/network "Controller CPU per Network (ms)")
$(row $L networks/s "That burst's rate (Networks/s)")
$(row $L s-to-synced "Start to synced caches (s)")
$(row $L writes-after-restart "Writes in 5 s by a restarted controller with a 1 s resync")
MD
	fi
	cat <<MD

## Where the CPU goes

The controller's CPU profile (\`--profiling\`) over the first 30 s of the $scale-Network burst,
top entries by own time:

\`\`\`
$profile_top
\`\`\`

For comparison, sample-controller is capped at about 5 objects/s on the same machines by
client-go's default 5 QPS, and rewrites status and re-emits Events on every resync.

## N Networks sharing one CIDR

Every tenant namespace has a Network with spec.cidr 10.0.0.0/24, so all but the oldest are
in CIDRConflict. \`BenchmarkSharedCIDR\` (in \`sharedcidr_test.go\`) is a Go benchmark of the
handler and index path, not an API-server run: it fills a Network informer cache with the N
Networks (creation order shuffled against list order, four to a second so that ties occur) and
times the controller's own code. $count runs per figure; medians.

| N sharing the CIDR | first list: add handlers for all N | queue adds per Network | candidates examined per Network | blocker search per sync | candidates examined per sync |
| --- | --- | --- | --- | --- | --- |
$(shared_rows)

The first list is the informer's startup list: each add enqueues only its own Network, because
every listed Network gets its own add and no sync runs before the cache holds them all. Later
adds, CIDR changes and deletes still enqueue every younger overlapping Network. The blocker
search still reads each of the N candidates once per sync (the index returns them all), but
sorts nothing and builds a claim only for candidates older than the best so far.

## Pods attaching on a real node

One node of \`hack/node-up.sh\` (kubelet, containerd 1.6, runc, Multus; eth0 from ptp +
host-local) on this machine, the controller running. The pods of a burst are created at once, one
request each, and polled every 100 ms; each is timed from its create request to Ready, which
with a Network means Multus attached net1 (its network-status names the Network). "none" is the
same pods without a secondary network: the node's own ceiling. One run each
(\`TestRealNodePodAttachFigures\`, \`BENCH_PODS\` sets the sizes).

$(pods_rows)
MD
} >"$out"
echo "bench: wrote $out and its plots in $docs" >&2
