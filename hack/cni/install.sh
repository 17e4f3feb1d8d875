#!/usr/bin/env bash
# Builds the CNI plugins pinned in hack/cni/go.mod (the reference plugins
# bridge, host-local, loopback, macvlan and ptp, the whereabouts IPAM
# plugin, and the Multus thin plugin that the real node of hack/node-up.sh
# uses as its CNI) into a cache directory outside the repo, unless that
# directory already exists. whereabouts' CRDs (IPPool and friends, from its module's
# doc/crds) are copied next to the binaries, into ../whereabouts-crds, for the
# tests that install them into a control plane that lacks them.
#
# Prints ONLY the directory holding the plugins on stdout, so callers can do
#   CNI_PLUGINS_DIR=$(hack/cni/install.sh)
# Progress goes to stderr.
#
# Environment:
#   NETWORK_CONTROLLER_CACHE  cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/network-controller)
set -euo pipefail

MODDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
LOG_NAME=cni/install.sh
# shellcheck source=../lib/cached-build.sh
. "$MODDIR/../lib/cached-build.sh"

MODULE=github.com/containernetworking/plugins
WHEREABOUTS=github.com/k8snetworkplumbingwg/whereabouts
MULTUS=gopkg.in/k8snetworkplumbingwg/multus-cni.v4

# The plugins' version comes from go.mod itself, so bumping it there (and
# `go mod tidy` in hack/cni) is the only change needed.
VERSION=$(module_version "$MODULE")
WB_VERSION=$(module_version "$WHEREABOUTS")
MULTUS_VERSION=$(module_version "$MULTUS")
cache_dir cni "$VERSION"
CRDS=$DEST/whereabouts-crds
PLUGINS=(bridge host-local loopback macvlan multus ptp whereabouts)
WB_CRDS=(whereabouts.cni.cncf.io_ippools.yaml whereabouts.cni.cncf.io_overlappingrangeipreservations.yaml whereabouts.cni.cncf.io_nodeslicepools.yaml)

complete() {
	local p
	[[ -d "$BIN" && -d "$CRDS" ]] || return 1
	for p in "${PLUGINS[@]}"; do
		[[ -x "$BIN/$p" ]] || return 1
	done
	for p in "${WB_CRDS[@]}"; do
		[[ -f "$CRDS/$p" ]] || return 1
	done
}

take_cache_lock "the CNI plugins $VERSION"
new_tmp TMP

# The plugins answer CNI's VERSION command and `--version` with this string;
# upstream's release build stamps it the same way.
ldflags="-s -w -X $MODULE/pkg/utils/buildversion.BuildVersion=$VERSION"

log "building the CNI plugins ${PLUGINS[*]} ($MODULE $VERSION, $WHEREABOUTS $WB_VERSION, $MULTUS $MULTUS_VERSION) into $BIN"
log "(cold: about 2 min on 2 cores, nearly all of it whereabouts and its Kubernetes client; with a warm Go build cache a few seconds; Multus adds a few minutes cold)"
go build -C "$MODDIR" -trimpath -ldflags "$ldflags" -o "$TMP/" \
	"$MODULE/plugins/main/bridge" \
	"$MODULE/plugins/ipam/host-local" \
	"$MODULE/plugins/main/loopback" \
	"$MODULE/plugins/main/macvlan" \
	"$MODULE/plugins/main/ptp"
# whereabouts' main package is .../cmd, which go build would name "cmd".
go build -C "$MODDIR" -trimpath -ldflags "-s -w -X $WHEREABOUTS/pkg/version.Version=$WB_VERSION -X $WHEREABOUTS/pkg/version.ReleaseStatus=released" \
	-o "$TMP/whereabouts" "$WHEREABOUTS/cmd"
go build -C "$MODDIR" -trimpath -ldflags "-s -w -X $MULTUS/pkg/multus.version=$MULTUS_VERSION -X $MULTUS/pkg/multus.releaseStatus=released" \
	-o "$TMP/multus" "$MULTUS/cmd/multus"
for p in "${PLUGINS[@]}"; do
	[[ -x "$TMP/$p" ]] || die "build did not produce $p"
done

# The CRDs of the very whereabouts version built, from the module cache.
WB_DIR=$(go -C "$MODDIR" list -m -f '{{.Dir}}' "$WHEREABOUTS")
[[ -d "$WB_DIR/doc/crds" ]] || die "no doc/crds in $WB_DIR"
new_tmp CRDTMP
for c in "${WB_CRDS[@]}"; do
	cp "$WB_DIR/doc/crds/$c" "$CRDTMP/" || die "whereabouts $WB_VERSION has no doc/crds/$c"
done
chmod 644 "$CRDTMP"/*.yaml # the module cache is read-only
# The CRDs go first: complete() checks both, and the binaries are what a
# concurrent caller looks for.
publish "$CRDTMP" "$CRDS"
publish "$TMP" "$BIN"
finished
