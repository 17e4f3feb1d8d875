#!/usr/bin/env bash
# Builds the CNI reference plugins pinned in hack/cni/go.mod (bridge,
# host-local, loopback, ptp) into a cache directory outside the repo, unless
# that directory already exists.
#
# Prints ONLY the directory holding the plugins on stdout, so callers can do
#   CNI_PLUGINS_DIR=$(hack/cni/install.sh)
# Progress goes to stderr.
#
# Environment:
#   NETWORK_CONTROLLER_CACHE  cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/network-controller)
set -euo pipefail

log() { printf 'cni/install.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

MODDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
MODULE=github.com/containernetworking/plugins

# The plugins' version comes from go.mod itself, so bumping it there (and
# `go mod tidy` in hack/cni) is the only change needed.
VERSION=$(awk -v m="$MODULE" '$1 == m && $2 ~ /^v[0-9]/ { print $2; exit }' "$MODDIR/go.mod")
[[ -n "$VERSION" ]] || die "cannot find the $MODULE version in $MODDIR/go.mod"

# Any change to go.mod/go.sum gives a new directory, so stale binaries are never reused.
MODHASH=$(cat "$MODDIR/go.mod" "$MODDIR/go.sum" | sha256sum | cut -c1-12)

CACHE_ROOT=${NETWORK_CONTROLLER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/network-controller}
DEST=$CACHE_ROOT/cni-$VERSION-$MODHASH
BIN=$DEST/bin
PLUGINS=(bridge host-local loopback ptp)

complete() {
	local p
	[[ -d "$BIN" ]] || return 1
	for p in "${PLUGINS[@]}"; do
		[[ -x "$BIN/$p" ]] || return 1
	done
}

if complete; then
	printf '%s\n' "$BIN"
	exit 0
fi

mkdir -p "$DEST"
# Serialise concurrent installs of the same version (e.g. two test runs).
exec 9>"$DEST/.lock"
if ! flock -n 9; then
	log "another install of the CNI plugins $VERSION is running; waiting for it"
	flock 9
fi
if complete; then
	printf '%s\n' "$BIN"
	exit 0
fi
# A directory left incomplete by hand is rebuilt; our own installs are atomic.
rm -rf "$BIN"

command -v go >/dev/null || die "go is not on PATH"

TMP=$(mktemp -d "$DEST/.bin.tmp.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

export GOWORK=off # a go.work above this directory must not take over
# The plugins answer CNI's VERSION command and `--version` with this string;
# upstream's release build stamps it the same way.
ldflags="-s -w -X $MODULE/pkg/utils/buildversion.BuildVersion=$VERSION"

log "building the CNI plugins ${PLUGINS[*]} $VERSION into $BIN"
log "(cold: about 15 s on 2 cores; with a warm Go build cache under 1 s)"
start=$SECONDS
go build -C "$MODDIR" -trimpath -ldflags "$ldflags" -o "$TMP/" \
	"$MODULE/plugins/main/bridge" \
	"$MODULE/plugins/ipam/host-local" \
	"$MODULE/plugins/main/loopback" \
	"$MODULE/plugins/main/ptp"
for p in "${PLUGINS[@]}"; do
	[[ -x "$TMP/$p" ]] || die "build did not produce $p"
done

chmod 755 "$TMP" # mktemp made it 0700
mv -T "$TMP" "$BIN"
trap - EXIT
log "built in $((SECONDS - start)) s"
printf '%s\n' "$BIN"
