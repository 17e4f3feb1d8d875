#!/usr/bin/env bash
# make run-local: from a fresh clone to a running controller on a local
# control plane. Builds the Kubernetes binaries once (cached outside the
# repository), starts etcd, kube-apiserver and kube-controller-manager on
# 127.0.0.1, installs the CRDs (hack/install-crds.sh), then runs the controller in the foreground.
# Ctrl-C stops the controller and the control plane.
#
# Environment: LOCAL_DIR and the port variables of hack/local-up.sh;
# CONTROLLER_ARGS adds flags to the controller (e.g. "-v=4").
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"
export LOCAL_DIR=${LOCAL_DIR:-$REPO/.local}

BIN_DIR=$(hack/k8s/install.sh)
export BIN_DIR
hack/local-up.sh >/dev/null   # it prints the kubeconfig path; the message below does too
trap 'echo "run-local: stopping the local control plane" >&2; hack/local-down.sh' EXIT

kubeconfig=$LOCAL_DIR/kubeconfig
kubectl=("$BIN_DIR/kubectl" --kubeconfig "$kubeconfig")
KUBECTL="${kubectl[*]}" hack/install-crds.sh >&2
# Networks may only use the ranges an administrator allows their namespace.
demo_allowance="198.18.0.0/15, fd00::/8"
"${kubectl[@]}" annotate --overwrite namespace default "networks.samplecrd.k8s.io/allowed-cidrs=$demo_allowance" >&2

mkdir -p bin
go build -o bin/network-controller .

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

  # Attach a throwaway network namespace to example-network through the real
  # CNI plugins (as root), show its interfaces and routes, then clean up:
  make attach-demo

Ctrl-C here stops the controller and the control plane.

MSG
# shellcheck disable=SC2086 # CONTROLLER_ARGS is a list of flags
bin/network-controller --kubeconfig "$kubeconfig" ${CONTROLLER_ARGS:-}
