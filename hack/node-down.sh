#!/usr/bin/env bash
# Stops the node of hack/node-up.sh and undoes what it changed on the
# machine, from whatever state it is in (running, half started, crashed):
#   1. its pods are deleted through the API (kubelet runs their CNI DEL, which
#      frees their addresses), if the API server and kubelet still answer;
#   2. kube-scheduler and kubelet stop; containers left are deleted with runc;
#      containerd and its shims stop; then the relays;
#   3. mounts under NODE_DIR are unmounted, deepest first; the kubepods
#      (kubelet) and k8s.io (containerd) cgroups are removed, depth first;
#   4. the host sysctls kubelet rewrote get their old values back, and what
#      appeared below the paths of HOST_PATHS (hack/node-env.sh) since
#      node-up.sh listed them is removed;
#   5. the Node object is deleted, and the network namespace last.
# Processes are found by their PID files and checked to be ours (their
# command line names NODE_DIR); leftover shims and containers by containerd's
# socket path and the kubepods cgroup.
#
# Usage: hack/node-down.sh [--purge] [--quiet]
#   --purge  also remove NODE_DIR
#   --quiet  print nothing unless something goes wrong
# Environment: LOCAL_DIR, NODE_DIR, NODE_NETNS, BIN_DIR as for hack/node-up.sh;
#   NODE_DOWN_GRACE seconds to wait for pods and processes (default 30)
set -euo pipefail

PROG=node-down.sh
# shellcheck source=hack/node-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/node-env.sh"
GRACE=${NODE_DOWN_GRACE:-30}
# shellcheck source=hack/lib/down-args.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/down-args.sh"
down_args 23 "$@"
check_grace NODE_DOWN_GRACE

t0=$EPOCHREALTIME
if [[ ! -d "$NODE_DIR" && ! -e "$NETNS_PATH" ]]; then
	say "no node ($NODE_DIR does not exist)"
	exit 0
fi
if ((EUID != 0)); then
	warn "needs root"
	exit 1
fi
if [[ -d "$NODE_DIR" ]]; then
	NODE_DIR=$(cd "$NODE_DIR" && pwd -P)
	source "$(dirname "${BASH_SOURCE[0]}")/node-env.sh" # paths below the resolved NODE_DIR
fi
failed=false
NODE=$(node_name)

# pid NAME: the PID of NAME from its PID file, if it is our live process.
pid() {
	local f=$RUN/$1.pid p
	[[ -f "$f" ]] || return 1
	p=$(<"$f")
	[[ "$p" =~ ^[0-9]+$ ]] && alive "$p" && ours "$p" "$2" && printf '%s' "$p"
}

# stop_pids PID...: SIGTERM, up to GRACE seconds, then SIGKILL.
stop_pids() {
	local p deadline=$((SECONDS + GRACE)) left
	(($# > 0)) || return 0
	kill -TERM "$@" 2>/dev/null || true
	while :; do
		left=()
		for p in "$@"; do alive "$p" && left+=("$p"); done
		((${#left[@]} > 0)) || return 0
		((SECONDS < deadline)) || break
		sleep 0.1
	done
	warn "pids ${left[*]} did not stop within ${GRACE}s; sending SIGKILL"
	kill -KILL "${left[@]}" 2>/dev/null || true
	sleep 0.5
}

stop() { # NAME BINARY...: stops the processes of these PID files
	local -a pids=()
	local p
	while (($# >= 2)); do
		if p=$(pid "$1" "$2"); then pids+=("$p"); fi
		rm -f "$RUN/$1.pid"
		shift 2
	done
	stop_pids "${pids[@]}"
}

# --- 1. pods, through the API ---------------------------------------------------
if [[ -z "${BIN_DIR:-}" ]]; then
	BIN_DIR=$("$REPO/hack/k8s/install.sh" 2>/dev/null) || BIN_DIR=
fi
api=false
if [[ -x "$BIN_DIR/kubectl" && -s "$LOCAL_DIR/kubeconfig" ]]; then
	kubectl=("$BIN_DIR/kubectl" --kubeconfig "$LOCAL_DIR/kubeconfig" --request-timeout=10s)
	"${kubectl[@]}" get node "$NODE" >/dev/null 2>&1 && api=true
fi
if $api && pid kubelet kubelet >/dev/null; then
	# No new pods here (a Deployment replaces what is deleted), then the
	# ones there are, each through kubelet's normal stop and CNI DEL.
	"${kubectl[@]}" cordon "$NODE" >/dev/null 2>&1 || true
	if ! "${kubectl[@]}" delete pods --all-namespaces --field-selector "spec.nodeName=$NODE" \
		--wait --timeout="${GRACE}s" >/dev/null 2>&1; then
		warn "pods on $NODE not gone within ${GRACE}s; removing them by force"
	fi
fi
if $api; then
	"${kubectl[@]}" delete pods --all-namespaces --field-selector "spec.nodeName=$NODE" \
		--force --grace-period=0 >/dev/null 2>&1 || true
fi

# --- 2. processes ----------------------------------------------------------------
stop kube-scheduler kube-scheduler kubelet kubelet
# Containers kubelet did not stop (it was gone, or its pods were removed by
# force): runc knows them by its root.
if [[ -d "$NODE_DIR/runc/k8s.io" ]]; then
	for id in $(runc --root "$NODE_DIR/runc/k8s.io" list -q 2>/dev/null); do
		runc --root "$NODE_DIR/runc/k8s.io" delete --force "$id" >/dev/null 2>&1 || true
	done
fi
stop containerd containerd
# Shims outlive containerd by design; ours name its socket.
shims=()
for d in /proc/[0-9]*; do
	{ cmd=$(tr '\0' ' ' <"$d/cmdline"); } 2>/dev/null || continue
	[[ "$cmd" == *containerd-shim* && "$cmd" == *"$CONTAINERD_SOCK"* ]] && shims+=("${d#/proc/}")
done
stop_pids "${shims[@]}"
# Whatever still runs in the pods' cgroups is a container of this node.
find /sys/fs/cgroup/*/kubepods -name cgroup.procs 2>/dev/null | while read -r procs; do
	while read -r p; do kill -KILL "$p" 2>/dev/null || true; done <"$procs"
done
stop relay-kubelet-host socat relay-kubelet-node socat relay-service-node socat \
	relay-apiserver-node socat relay-apiserver-host socat
# Should the PID files be gone (a directory removed under a running node),
# the node's processes are still known by NODE_DIR in their command lines.
left=()
for d in /proc/[0-9]*; do
	p=${d#/proc/}
	[[ $p != "$$" && $p != "$BASHPID" ]] || continue
	for b in kubelet kube-scheduler containerd socat; do
		if ours "$p" "$b"; then
			left+=("$p")
			warn "stopping $b (pid $p), which its PID file did not name"
		fi
	done
done
stop_pids "${left[@]}"

# --- 3. mounts and cgroups -------------------------------------------------------
if [[ -d "$NODE_DIR" ]]; then
	# Deepest first; a busy one is detached.
	awk -v d="$NODE_DIR/" 'index($5, d) == 1 { print length($5) "\t" $5 }' /proc/self/mountinfo |
		sort -rn | cut -f2- | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || warn "cannot unmount $m"
	done
fi
shopt -s nullglob
for cg in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/k8s.io; do
	find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	[[ -d "$cg" ]] && {
		warn "cannot remove the cgroup $cg"
		failed=true
	}
done
shopt -u nullglob

# --- 4. the machine's sysctls and paths -------------------------------------------
if [[ -f "$NODE_DIR/sysctls.before" ]]; then
	while IFS='=' read -r k v; do
		[[ "$(sysctl -n "$k" 2>/dev/null)" == "$v" ]] || sysctl -q -w "$k=$v" >/dev/null 2>&1 ||
			{
				warn "cannot restore $k to $v"
				failed=true
			}
	done <"$NODE_DIR/sysctls.before"
fi
if [[ -f "$NODE_DIR/host-paths.before" ]]; then
	for p in "${HOST_PATHS[@]}"; do
		[[ -e "$p" ]] && find "$p" -maxdepth "$HOST_PATHS_DEPTH" 2>/dev/null
	done | LC_ALL=C sort | LC_ALL=C comm -13 "$NODE_DIR/host-paths.before" - | while read -r p; do
		rm -rf "$p"
	done
fi

# --- 5. the Node object, the namespace, the watchdog -------------------------------
if $api; then
	"${kubectl[@]}" delete node "$NODE" --ignore-not-found >/dev/null 2>&1 || true
fi
if [[ -e "$NETNS_PATH" ]]; then
	ip netns delete "$NODE_NETNS" 2>/dev/null || {
		warn "cannot delete the network namespace $NODE_NETNS"
		failed=true
	}
fi
if [[ -z "${NODE_DOWN_BY_WATCHDOG:-}" ]]; then
	stop watchdog bash
fi
rm -f "$RUN/watchdog.pid"
if $failed; then
	exit 1
fi
rm -f "$NODE_DIR/sysctls.before" "$NODE_DIR/host-paths.before"
d=$((${EPOCHREALTIME/[.,]/} - ${t0/[.,]/}))
say "node $NODE is down ($((d / 1000000)).$((d / 100000 % 10)) s)"
if $purge; then
	rm -rf "$NODE_DIR"
	say "removed $NODE_DIR"
fi
