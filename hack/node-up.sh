#!/usr/bin/env bash
# Starts one node (containerd + kubelet, Multus as its CNI) and a
# kube-scheduler for the control plane of hack/local-up.sh, detached, and
# waits until the Node is Ready. Needs root.
#
# The node runs in a network namespace of its own: its links, the pods'
# interfaces, bridges and routes, ip_forward and kubelet's iptables chains
# stay there, and the machine's network is untouched. Two relays join the
# namespaces: the API server's port inside it (kubelet, Multus, whereabouts,
# and the `kubernetes` Service address for pods), and kubelet's port on the
# machine's loopback (kubectl logs and exec). Everything else lives in
# NODE_DIR; what kubelet and containerd change elsewhere (a few host sysctls
# and paths, cgroups) is recorded first and undone by hack/node-down.sh.
#
# Pods: eth0 is the cluster network (ptp + host-local, 198.18.200.0/24), net1
# and up the Networks named in k8s.v1.cni.cncf.io/networks; Macvlan Networks
# can use the node's eth1 (a veth pair in its namespace); images
# localhost/pause:network-controller and localhost/workload:network-controller
# (busybox) come from hack/images.sh, the controller's own image too.
#
# Usage: hack/node-up.sh [--check]
#   --check  print why this machine cannot run a node and fail, or succeed
#
# Environment:
#   LOCAL_DIR       the control plane's directory (default <repo>/.local)
#   NODE_DIR        the node's directory (default $LOCAL_DIR/node)
#   BIN_DIR         kubelet, kube-scheduler, kubectl (default hack/k8s/install.sh)
#   CNI_PLUGINS_DIR the CNI plugins and Multus (default hack/cni/install.sh)
#   IMAGES_DIR      image tarballs to import (default: hack/images.sh into NODE_DIR)
#   APISERVER_PORT (6443)  KUBELET_PORT (20250)  SCHEDULER_PORT (20259)
#   NODE_NETNS      the namespace's name (default network-controller-node)
#   NODE_OWNER_PID  when this process is gone, a detached watchdog runs
#                   hack/node-down.sh (default: the caller, $PPID); 0: none
#   NODE_WATCHDOG_PURGE  if set, the watchdog also removes NODE_DIR (its
#                   logs go with it)
#   NODE_UP_TIMEOUT seconds to wait for each component (default 60)
#
# On success the node's name is the only line on stdout. Stop it with
# hack/node-down.sh (same LOCAL_DIR/NODE_DIR).
set -euo pipefail

PROG=node-up.sh
# shellcheck source=hack/node-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/node-env.sh"
TIMEOUT=${NODE_UP_TIMEOUT:-60}
OWNER=${NODE_OWNER_PID:-$PPID}

t0=$EPOCHREALTIME
say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { say "$*"; exit 1; }
elapsed() { # seconds since t0, one decimal
	local d=$((${EPOCHREALTIME/[.,]/} - ${t0/[.,]/}))
	printf '%d.%d' $((d / 1000000)) $((d / 100000 % 10))
}

if why=$(node_unfit); then
	[[ "${1:-}" == --check ]] && { echo "$why"; exit 1; }
	die "$why"
fi
[[ "${1:-}" == --check ]] && exit 0
(($# == 0)) || die "unknown argument $1 (usage: $PROG [--check])"
for p in APISERVER_PORT KUBELET_PORT SCHEDULER_PORT NODE_UP_TIMEOUT NODE_OWNER_PID; do
	v=${!p-}
	[[ -z "$v" || "$v" =~ ^[0-9]+$ ]] || die "$p must be a number, got '$v'"
done

[[ -s "$LOCAL_DIR/kubeconfig" ]] || die "no control plane in $LOCAL_DIR (run hack/local-up.sh first)"
LOCAL_DIR=$(cd "$LOCAL_DIR" && pwd -P)
mkdir -p "$NODE_DIR"
NODE_DIR=$(cd "$NODE_DIR" && pwd -P)
source "$(dirname "${BASH_SOURCE[0]}")/node-env.sh" # paths below the resolved NODE_DIR
mkdir -p "$RUN" "$LOGS"

exec 9>"$RUN/node-up.lock"
flock -n 9 || die "another node-up.sh is running for $NODE_DIR"
if [[ -f "$RUN/kubelet.pid" ]] && alive "$(<"$RUN/kubelet.pid")" && ours "$(<"$RUN/kubelet.pid")" kubelet; then
	say "already running (kubelet pid $(<"$RUN/kubelet.pid"))"
	node_name
	exit 0
fi
if [[ -e "$NETNS_PATH" ]]; then
	die "the network namespace $NODE_NETNS exists: a node is running or was not torn down (hack/node-down.sh)"
fi

if [[ -z "${BIN_DIR:-}" ]]; then
	BIN_DIR=$("$REPO/hack/k8s/install.sh") || die "building the binaries failed (hack/k8s/install.sh)"
fi
for b in kubelet kube-scheduler kubectl; do
	[[ -x "$BIN_DIR/$b" ]] || die "$b not found in $BIN_DIR (BIN_DIR)"
done
if [[ -z "${CNI_PLUGINS_DIR:-}" ]]; then
	CNI_PLUGINS_DIR=$("$REPO/hack/cni/install.sh") || die "building the CNI plugins failed (hack/cni/install.sh)"
fi
for b in multus ptp host-local loopback bridge macvlan whereabouts; do
	[[ -x "$CNI_PLUGINS_DIR/$b" ]] || die "$b not found in $CNI_PLUGINS_DIR (CNI_PLUGINS_DIR)"
done
if [[ -z "${IMAGES_DIR:-}" ]]; then
	IMAGES_DIR=$NODE_DIR/images
	"$REPO/hack/images.sh" "$IMAGES_DIR" pause workload || die "building the images failed (hack/images.sh)"
fi
[[ -f "$IMAGES_DIR/pause.tar" ]] || die "no pause.tar in $IMAGES_DIR (IMAGES_DIR)"

kubectl=("$BIN_DIR/kubectl" --kubeconfig "$LOCAL_DIR/kubeconfig" --request-timeout=5s)
"${kubectl[@]}" get --raw=/readyz >/dev/null 2>&1 || die "the API server of $LOCAL_DIR/kubeconfig is not ready"
NODE=$(node_name)
if out=$(ss -Htln "sport = :$KUBELET_PORT" 2>/dev/null) && [[ -n "$out" ]]; then
	die "port $KUBELET_PORT is in use on this machine; set KUBELET_PORT"
fi

# --- what the node changes outside its directory, before it changes it ------
# Kept across a failed or crashed run: the second node-up must not record
# the first one's changes as the machine's own state.
if [[ ! -f "$NODE_DIR/sysctls.before" ]]; then
	for s in "${KUBELET_SYSCTLS[@]}"; do
		v=$(sysctl -n "$s" 2>/dev/null) && printf '%s=%s\n' "$s" "$v"
	done >"$NODE_DIR/sysctls.before.tmp"
	mv "$NODE_DIR/sysctls.before.tmp" "$NODE_DIR/sysctls.before"
fi
if [[ ! -f "$NODE_DIR/host-paths.before" ]]; then
	for p in "${HOST_PATHS[@]}"; do
		[[ -e "$p" ]] && find "$p" -maxdepth "$HOST_PATHS_DEPTH" 2>/dev/null
	done | LC_ALL=C sort >"$NODE_DIR/host-paths.before.tmp" || true
	mv "$NODE_DIR/host-paths.before.tmp" "$NODE_DIR/host-paths.before"
fi

# From here on a failure tears down whatever was started.
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if ((rc != 0)); then
		say "stopping what was started; logs in $LOGS"
		LOCAL_DIR=$LOCAL_DIR NODE_DIR=$NODE_DIR BIN_DIR=$BIN_DIR "$REPO/hack/node-down.sh" --quiet || true
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The watchdog: a crash or a Ctrl-C of the owner must not leave the node
# running (kubelet and containerd are detached). It polls, as the e2e
# package's control-plane watchdog does; node-down.sh stops it.
if ((OWNER != 0)); then
	cat >"$RUN/watchdog.sh" <<'EOF'
# node-up.sh's watchdog: runs node-down.sh once the owner process is gone.
while kill -0 "$1" 2>/dev/null; do sleep 1; done
NODE_DOWN_BY_WATCHDOG=1 "$2" --quiet $3
EOF
	LOCAL_DIR=$LOCAL_DIR NODE_DIR=$NODE_DIR BIN_DIR=$BIN_DIR \
		setsid bash "$RUN/watchdog.sh" "$OWNER" "$REPO/hack/node-down.sh" "${NODE_WATCHDOG_PURGE:+--purge}" </dev/null >>"$LOGS/watchdog.log" 2>&1 9>&- &
	echo $! >"$RUN/watchdog.pid"
fi

# start NAME [nsenter args --] BINARY ARGS...: runs detached in its own
# session, logs to logs/NAME.log, PID in run/NAME.pid.
start() { # NAME WHERE(host|node) BINARY ARGS...
	local name=$1 where=$2
	shift 2
	if [[ $where == node ]]; then
		nsenter --net="$NETNS_PATH" -- setsid "$@" </dev/null >"$LOGS/$name.log" 2>&1 9>&- &
	else
		setsid "$@" </dev/null >"$LOGS/$name.log" 2>&1 9>&- &
	fi
	echo $! >"$RUN/$name.pid"
}

wait_for() { # NAME CHECK-COMMAND...
	local name=$1 pid deadline
	shift
	pid=$(<"$RUN/$name.pid")
	deadline=$((SECONDS + TIMEOUT))
	until "$@" >/dev/null 2>&1; do
		alive "$pid" || die "$name exited; see $LOGS/$name.log"
		((SECONDS < deadline)) || die "$name not ready within ${TIMEOUT}s; see $LOGS/$name.log"
		sleep 0.1
	done
}

# --- the network namespace ----------------------------------------------------
ip netns add "$NODE_NETNS"
ip -n "$NODE_NETNS" link set lo up
ip -n "$NODE_NETNS" link add node0 type veth peer name node0-peer
ip -n "$NODE_NETNS" addr add "$NODE_IP/32" dev node0
ip -n "$NODE_NETNS" link set node0 up
ip -n "$NODE_NETNS" link set node0-peer up
ip -n "$NODE_NETNS" addr add "$SERVICE_IP/32" dev lo
# The uplink of artifacts/examples/example-macvlan-network.yaml: a veth pair,
# so that macvlan interfaces on eth1 have a carrier and reach each other.
ip -n "$NODE_NETNS" link add eth1 type veth peer name eth1-peer
ip -n "$NODE_NETNS" link set eth1 up
ip -n "$NODE_NETNS" link set eth1-peer up

# --- relays ---------------------------------------------------------------------
# Over unix sockets in NODE_DIR, which both namespaces see.
start relay-apiserver-host host socat "UNIX-LISTEN:$RUN/apiserver.sock,fork,unlink-early" "TCP:127.0.0.1:$APISERVER_PORT"
wait_for relay-apiserver-host test -S "$RUN/apiserver.sock"
start relay-apiserver-node node socat "TCP-LISTEN:$APISERVER_PORT,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$RUN/apiserver.sock"
start relay-service-node node socat "TCP-LISTEN:443,bind=$SERVICE_IP,fork,reuseaddr" "UNIX-CONNECT:$RUN/apiserver.sock"
start relay-kubelet-node node socat "UNIX-LISTEN:$RUN/kubelet.sock,fork,unlink-early" "TCP:127.0.0.1:$KUBELET_PORT"
wait_for relay-kubelet-node test -S "$RUN/kubelet.sock"
start relay-kubelet-host host socat "TCP-LISTEN:$KUBELET_PORT,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$RUN/kubelet.sock"

# --- configuration ------------------------------------------------------------
cp "$LOCAL_DIR/kubeconfig" "$NODE_KUBECONFIG"
mkdir -p "$NODE_DIR/cni/net.d" "$NODE_DIR/cni/multus" "$NODE_DIR/cni/cluster-ipam" \
	"$NODE_DIR/containerd" "$NODE_DIR/kubelet" "$NODE_DIR/pod-logs"

# Multus, the node's CNI: eth0 from the cluster network it delegates to,
# net1 and up from the NetworkAttachmentDefinitions the pod names.
cat >"$NODE_DIR/cni/net.d/00-multus.conf" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "multus-cni-network",
  "type": "multus",
  "kubeconfig": "$NODE_KUBECONFIG",
  "cniDir": "$NODE_DIR/cni/multus",
  "binDir": "$CNI_PLUGINS_DIR",
  "logFile": "$LOGS/multus.log",
  "logLevel": "error",
  "delegates": [{
    "cniVersion": "1.0.0",
    "name": "cluster",
    "plugins": [{
      "type": "ptp",
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "subnet": "$POD_CIDR",
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$NODE_DIR/cni/cluster-ipam"
      }
    }]
  }]
}
EOF

# whereabouts (Macvlan Networks) reads its kubeconfig's path from this file
# only; an existing one (a real whereabouts install) is left alone.
if [[ ! -e "$WHEREABOUTS_CONF" ]]; then
	mkdir -p "$NODE_DIR/whereabouts" "${WHEREABOUTS_CONF%/*}"
	cp "$LOCAL_DIR/kubeconfig" "$NODE_DIR/whereabouts/kubeconfig"
	cat >"$WHEREABOUTS_CONF" <<EOF
{"datastore": "kubernetes", "kubernetes": {"kubeconfig": "$NODE_DIR/whereabouts/kubeconfig"}, "log_level": "error"}
EOF
else
	say "keeping the existing $WHEREABOUTS_CONF"
fi

# containerd 1.6: every path in NODE_DIR. restrict_oom_score_adj: this
# machine's bounding set lacks CAP_SYS_RESOURCE, and runc fails every
# sandbox that lowers its oom_score_adj.
cat >"$NODE_DIR/containerd/config.toml" <<EOF
version = 2
root = "$NODE_DIR/containerd/root"
state = "$NODE_DIR/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$NODE_DIR/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_PLUGINS_DIR"
    conf_dir = "$NODE_DIR/cni/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$NODE_DIR/runc"
EOF

cat >"$NODE_DIR/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine has cgroup v1, which kubelet refuses by default.
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
address: 127.0.0.1
port: $KUBELET_PORT
readOnlyPort: 0
healthzPort: 0
# The API server has no client certificate for kubelet.
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
podLogsDir: $NODE_DIR/pod-logs
volumePluginDir: $NODE_DIR/kubelet/volume-plugins
failSwapOn: false
maxPods: 250
# Keep the imported images: containerd 1.6 does not pin the sandbox image.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
EOF

# --- containerd, images, kubelet, kube-scheduler -------------------------------
start containerd node containerd --config "$NODE_DIR/containerd/config.toml"
ctr=(ctr --address "$CONTAINERD_SOCK" -n k8s.io)
wait_for containerd "${ctr[@]}" version
for tar in "$IMAGES_DIR"/*.tar; do
	"${ctr[@]}" images import "$tar" >/dev/null 2>"$LOGS/import.log" ||
		die "importing $tar failed: $(<"$LOGS/import.log")"
done
say "containerd is up, images imported ($(elapsed) s)"

start kubelet node "$BIN_DIR/kubelet" \
	--config="$NODE_DIR/kubelet/config.yaml" \
	--kubeconfig="$NODE_KUBECONFIG" \
	--root-dir="$NODE_DIR/kubelet/root" \
	--cert-dir="$NODE_DIR/kubelet/pki" \
	--hostname-override="$NODE" \
	--node-ip="$NODE_IP"
start kube-scheduler host "$BIN_DIR/kube-scheduler" \
	--kubeconfig="$NODE_KUBECONFIG" \
	--authentication-kubeconfig="$NODE_KUBECONFIG" \
	--authorization-kubeconfig="$NODE_KUBECONFIG" \
	--leader-elect=false \
	--bind-address=127.0.0.1 \
	--secure-port="$SCHEDULER_PORT" \
	--cert-dir="$NODE_DIR/scheduler-pki"
node_ready() {
	[[ $("${kubectl[@]}" get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}') == True ]]
}
wait_for kubelet node_ready
wait_for kube-scheduler curl -fsSk --max-time 2 "https://127.0.0.1:$SCHEDULER_PORT/healthz"

trap - EXIT
say "node $NODE is Ready in $(elapsed) s (namespace $NODE_NETNS, logs in $LOGS); stop with hack/node-down.sh"
printf '%s\n' "$NODE"
