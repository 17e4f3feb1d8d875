# Sourced by hack/node-up.sh and hack/node-down.sh: where the local node
# lives and what it changes outside its own directory, in one place, so that
# the script that undoes it cannot drift from the one that does it.
# shellcheck shell=bash

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
LOCAL_DIR=${LOCAL_DIR:-$REPO/.local}
NODE_DIR=${NODE_DIR:-$LOCAL_DIR/node}
# The node's network namespace: kubelet, containerd, the CNI plugins, the
# pods' host-side interfaces, bridges, routes and iptables chains all live in
# it, so the machine's own network is never touched.
NODE_NETNS=${NODE_NETNS:-network-controller-node}
APISERVER_PORT=${APISERVER_PORT:-6443}
KUBELET_PORT=${KUBELET_PORT:-20250}
SCHEDULER_PORT=${SCHEDULER_PORT:-20259}
# kubelet refuses a loopback node IP, so the namespace gets a veth pair (both
# ends inside it) with this address. The cluster network (every pod's eth0,
# ptp + host-local) uses POD_CIDR. Both are in 198.18.0.0/15, a test range,
# away from the example Network's 198.18.0.0/24.
NODE_IP=198.18.201.2
POD_CIDR=198.18.200.0/24
# The first address of hack/local-up.sh's service range: the `kubernetes`
# Service's ClusterIP, which kubelet puts into every pod as
# KUBERNETES_SERVICE_HOST (port 443). There is no kube-proxy; the node's
# namespace holds this address itself and relays it to the API server, so
# in-cluster clients (the controller's Deployment) work unchanged, and the
# API server's certificate, which names this address, verifies.
SERVICE_IP=198.19.255.1 # the first address of hack/local-up.sh's SERVICE_CIDR
# The images the node runs; hack/images.sh builds them.
PAUSE_IMAGE=localhost/pause:network-controller
WORKLOAD_IMAGE=localhost/workload:network-controller

# Host sysctls kubelet sets at start (they are not per network namespace).
# node-up.sh saves them, node-down.sh writes them back.
KUBELET_SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
	kernel.keys.root_maxkeys kernel.keys.root_maxbytes)
# Paths outside NODE_DIR that kubelet, containerd and the plugins write
# whatever their configuration says: containerd 1.6's shim sockets and fifos,
# kubelet's device-plugin socket and container log links, libcni's cache and
# host-local's allocations for the Networks' attachments, and whereabouts'
# configuration file, which it only looks for here. node-up.sh lists what
# exists below them (HOST_PATHS_DEPTH levels) before the node starts;
# node-down.sh removes what was not there.
HOST_PATHS=(/run/containerd /var/lib/kubelet /var/log/containers /var/lib/cni /etc/cni)
HOST_PATHS_DEPTH=3
WHEREABOUTS_CONF=/etc/cni/net.d/whereabouts.d/whereabouts.conf

RUN=$NODE_DIR/run
LOGS=$NODE_DIR/logs
NETNS_PATH=/run/netns/$NODE_NETNS
CONTAINERD_SOCK=$NODE_DIR/containerd/containerd.sock
NODE_KUBECONFIG=$NODE_DIR/kubeconfig

# node_name: the Node's name is the machine's host name. The API server
# reaches kubelet (logs, exec) at the Node's Hostname address first, and the
# host name resolves to a loopback address, where a relay into the node's
# namespace listens; any other name would go to the machine's DNS.
node_name() { hostname; }

# node_unfit: prints why this machine cannot run the node and fails, or
# succeeds silently.
node_unfit() {
	local c
	if ((EUID != 0)); then
		echo "the node needs root (network namespace, mounts, cgroups, containerd)"
		return 0
	fi
	for c in containerd containerd-shim-runc-v2 runc ctr socat nsenter iptables; do
		if ! command -v "$c" >/dev/null; then
			echo "the node needs $c (apt-get install containerd runc socat iptables util-linux)"
			return 0
		fi
	done
	if ! ip netns list >/dev/null 2>&1; then
		echo "the node needs network namespaces (ip netns list fails)"
		return 0
	fi
	local addr
	addr=$(getent ahostsv4 "$(node_name)" | awk 'NR==1 {print $1}')
	if [[ "$addr" != 127.* ]]; then
		echo "the node's name, the host name $(node_name), must resolve to a loopback address (it resolves to '${addr:-nothing}'; add it to /etc/hosts)"
		return 0
	fi
	return 1
}

# alive PID: the process exists and is not a zombie.
alive() {
	local state
	[[ -r /proc/$1/stat ]] || return 1
	state=$(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n "$state" && "$state" != Z ]]
}

# ours PID NAME: argv[0] is the NAME binary and the command line names
# NODE_DIR, so a PID file never makes us signal someone else's process.
ours() {
	local cmd argv0
	{ cmd=$(tr '\0' '\n' <"/proc/$1/cmdline"); } 2>/dev/null || return 1
	argv0=${cmd%%$'\n'*}
	[[ "${argv0##*/}" == "$2" && "$cmd" == *"$NODE_DIR/"* ]]
}
