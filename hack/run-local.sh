#!/usr/bin/env bash
# make run-local: from a fresh clone to a running controller on a local
# control plane. Builds the Kubernetes binaries once (cached outside the
# repository), starts etcd, kube-apiserver and kube-controller-manager on
# 127.0.0.1, installs the CRDs (hack/install-crds.sh), starts one node
# (kubelet, containerd, Multus) and a kube-scheduler with hack/node-up.sh
# when the machine allows it (root, network namespaces, containerd and runc
# installed; otherwise one line says why and the rest runs without a node),
# then runs the controller in the foreground.
# Ctrl-C stops the controller, the node and the control plane; should this
# script die another way, the node's watchdog takes the node down.
#
# Environment: LOCAL_DIR and the port variables of hack/local-up.sh;
# CONTROLLER_ARGS adds flags to the controller (e.g. "-v=4"); NODE=0 skips
# the node.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"
export LOCAL_DIR=${LOCAL_DIR:-$REPO/.local}

BIN_DIR=$(hack/k8s/install.sh)
export BIN_DIR
hack/local-up.sh >/dev/null   # it prints the kubeconfig path; the message below does too
node=false
stop() {
	if $node; then
		echo "run-local: stopping the node" >&2
		hack/node-down.sh || true
	fi
	echo "run-local: stopping the local control plane" >&2
	hack/local-down.sh
}
trap stop EXIT

kubeconfig=$LOCAL_DIR/kubeconfig
kubectl=("$BIN_DIR/kubectl" --kubeconfig "$kubeconfig")
KUBECTL="${kubectl[*]}" hack/install-crds.sh >&2
# Networks may only use the ranges an administrator allows their namespace.
demo_allowance="198.18.0.0/15, fd00::/8"
"${kubectl[@]}" annotate --overwrite namespace default "networks.samplecrd.k8s.io/allowed-cidrs=$demo_allowance" >&2

mkdir -p bin
go build -o bin/network-controller .

if [[ "${NODE:-1}" == 0 ]]; then
	echo "run-local: no node (NODE=0)" >&2
elif why=$(hack/node-up.sh --check); then
	CNI_PLUGINS_DIR=$(hack/cni/install.sh)
	export CNI_PLUGINS_DIR
	# The node's watchdog watches this script.
	node=true
	NODE_OWNER_PID=$$ hack/node-up.sh >/dev/null
	# whereabouts, the node's IPAM for Macvlan Networks, keeps its
	# allocations in these (from the version hack/cni built).
	"${kubectl[@]}" apply -f "$CNI_PLUGINS_DIR/../whereabouts-crds" >/dev/null
else
	echo "run-local: no node, so no pods: $why" >&2
fi

cat >&2 <<MSG

The controller is starting against a local control plane. In another terminal:

  export KUBECONFIG=$kubeconfig
  export PATH=$BIN_DIR:\$PATH    # kubectl of the same version as the server
  # The default namespace may use these ranges (an administrator's setting;
  # without it every Network there is refused):
  kubectl annotate --overwrite namespace default networks.samplecrd.k8s.io/allowed-cidrs='$demo_allowance'
  kubectl create -f artifacts/examples/example-network.yaml
  kubectl describe network example-network
  kubectl get networks
  kubectl get net-attach-def example-network -o jsonpath='{.spec.config}'

MSG
if $node; then
	cat >&2 <<MSG
  # A pod on example-network, started by the node's kubelet through Multus:
  kubectl apply -f artifacts/examples/example-pod.yaml
  kubectl wait --for=condition=Ready pod/example-pod
  kubectl exec example-pod -- ip addr    # net1: an address of 198.18.0.0/24
  kubectl delete -f artifacts/examples/example-pod.yaml
  # The same on a Macvlan Network: the node's eth1 is its uplink, addresses
  # come from whereabouts (change the pod's annotation to example-macvlan).
  kubectl create -f artifacts/examples/example-macvlan-network.yaml

Ctrl-C here stops the controller, the node and the control plane.

MSG
else
	cat >&2 <<MSG
  # Attach a throwaway network namespace to example-network through the real
  # CNI plugins (as root), show its interfaces and routes, then clean up:
  make attach-demo

Ctrl-C here stops the controller and the control plane.

MSG
fi
# shellcheck disable=SC2086 # CONTROLLER_ARGS is a list of flags
bin/network-controller --kubeconfig "$kubeconfig" ${CONTROLLER_ARGS:-}
