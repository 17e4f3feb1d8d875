#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kubectl and etcd, and the
# node's kubelet and kube-scheduler (hack/node-up.sh), at the versions pinned
# in hack/k8s/go.mod into a cache directory outside the repo, unless that
# directory already exists. They are one go build because kubelet and
# kube-scheduler share all but about a hundred packages with the control
# plane.
#
# Prints ONLY the directory holding the binaries on stdout, so callers can do
#   BIN=$(hack/k8s/install.sh)
# Progress goes to stderr.
#
# Environment:
#   NETWORK_CONTROLLER_CACHE  cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/network-controller)
set -euo pipefail

MODDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
LOG_NAME=install.sh
# shellcheck source=../lib/cached-build.sh
. "$MODDIR/../lib/cached-build.sh"

# The Kubernetes version comes from go.mod itself, so bumping it there is
# the only change needed (followed by `go mod tidy` in hack/k8s).
K8S_VERSION=$(module_version k8s.io/kubernetes)
cache_dir k8s "$K8S_VERSION"
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet)

complete() {
	local b
	[[ -d "$BIN" ]] || return 1
	for b in "${BINARIES[@]}"; do
		[[ -x "$BIN/$b" ]] || return 1
	done
}

take_cache_lock "$K8S_VERSION"
new_tmp TMP

# gitVersion etc. are normally stamped by the Kubernetes release tooling;
# without them the binaries say v0.0.0-master. buildDate is the module's
# release time as recorded by the module proxy (reproducible across hosts).
ver=${K8S_VERSION#v}
major=${ver%%.*}
minor=${ver#*.}
minor=${minor%%.*}
build_date=$(go -C "$MODDIR" list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes 2>/dev/null || true)
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $pkg.gitVersion=$K8S_VERSION"
	ldflags+=" -X $pkg.gitMajor=$major"
	ldflags+=" -X $pkg.gitMinor=$minor"
	ldflags+=" -X $pkg.gitTreeState=clean"
	if [[ -n "$build_date" ]]; then
		ldflags+=" -X $pkg.buildDate=$build_date"
	fi
done

etcd_pkg=go.etcd.io/etcd/server/v3
log "building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet $K8S_VERSION and etcd into $BIN"
log "(cold: ~600 MB of modules and 10-20 min on 2 cores; with a warm Go build cache ~20 s)"
go build -C "$MODDIR" -trimpath -ldflags "$ldflags" -o "$TMP/" \
	k8s.io/kubernetes/cmd/kube-apiserver \
	k8s.io/kubernetes/cmd/kube-controller-manager \
	k8s.io/kubernetes/cmd/kube-scheduler \
	k8s.io/kubernetes/cmd/kubectl \
	k8s.io/kubernetes/cmd/kubelet \
	"$etcd_pkg"
# etcd's main package is the module root, so go build names the binary "server".
mv "$TMP/server" "$TMP/etcd"
for b in "${BINARIES[@]}"; do
	[[ -x "$TMP/$b" ]] || die "build did not produce $b"
done

publish "$TMP" "$BIN"
finished
