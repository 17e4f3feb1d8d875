#!/usr/bin/env bash
# Builds the container images that the real-node tests import into
# containerd, with no container engine and no registry: static Go binaries
# (and Debian's static busybox) put into single-layer docker-archive
# tarballs by hack/image. Load them with `ctr -n k8s.io images import FILE`
# (or `docker load -i FILE`).
#
# Usage: hack/images.sh OUTDIR [pause|workload|controller]...
#
# With no image named it writes all three:
#   OUTDIR/pause.tar       localhost/pause:network-controller     the pod sandbox (test/images/pause)
#   OUTDIR/workload.tar    localhost/workload:network-controller  busybox with the applets the tests use
#   OUTDIR/controller.tar  $IMG (default localhost/network-controller:dev)
#                          the controller as the Dockerfile builds it: /network-controller,
#                          USER 65532:65532, ENTRYPOINT ["/network-controller"]
#
# The workload image needs a static busybox: BUSYBOX (default /bin/busybox,
# from Debian's busybox-static package). GOOS/GOARCH pick the images'
# platform, as for go build; for another architecture than the machine's,
# BUSYBOX must name a busybox built for it. Nothing is printed unless something fails. An
# image whose bytes did not change is not rewritten (its tarball keeps its
# modification time); the Go build cache makes a rebuild take seconds.
set -euo pipefail

usage() {
    echo "usage: hack/images.sh OUTDIR [pause|workload|controller]..." >&2
    exit 2
}
(($# >= 1)) || usage
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
shift
images=("$@")
((${#images[@]})) || images=(pause workload controller)
for image in "${images[@]}"; do
    case $image in
    pause | workload | controller) ;;
    *) usage ;;
    esac
done

IMG=${IMG:-localhost/network-controller:dev}
busybox_given=${BUSYBOX:+yes}
BUSYBOX=${BUSYBOX:-/bin/busybox}
# The applets the tests run in the workload pods: a shell, addresses and
# routes (ip, ifconfig, route), reachability (ping, nc, wget), and the
# basics. `busybox --list` of Debian 12's busybox-static has all of them.
APPLETS=(sh ip sleep cat ls nc ping wget hostname ifconfig route)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root"

# hack/image runs here, so it is built for this machine even when GOOS or
# GOARCH name another target for the images.
GOOS='' GOARCH='' go build -o "$tmp/image" ./hack/image
goos=$(go env GOOS)
goarch=$(go env GOARCH)
image() { "$tmp/image" -os "$goos" -arch "$goarch" "$@"; }
# The flags of the Dockerfile's build: static, no build paths, no symbols.
gobuild() { CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" "$@"; }

for image in "${images[@]}"; do
    case $image in
    pause)
        gobuild -o "$tmp/pause" ./test/images/pause
        image -o "$out/pause.tar" -name localhost/pause:network-controller \
            -entrypoint /pause "$tmp/pause:/pause:0755"
        ;;
    workload)
        if [[ ! -x $BUSYBOX ]]; then
            echo "hack/images.sh: the workload image needs a static busybox at $BUSYBOX;" \
                "install it with: apt-get install busybox-static (or set BUSYBOX)" >&2
            exit 1
        fi
        # The machine's busybox runs on the machine's architecture only.
        if [[ -z $busybox_given && $goarch != "$(go env GOHOSTARCH)" ]]; then
            echo "hack/images.sh: the workload image for $goarch needs a static busybox for $goarch: set BUSYBOX" >&2
            exit 1
        fi
        # A dynamic one (Debian's busybox package) would find no libc in
        # the image.
        if command -v ldd >/dev/null && ldd "$BUSYBOX" >/dev/null 2>&1; then
            echo "hack/images.sh: $BUSYBOX is dynamically linked; the image needs a static one:" \
                "apt-get install busybox-static (or set BUSYBOX)" >&2
            exit 1
        fi
        links=()
        have=$("$BUSYBOX" --list)
        for applet in "${APPLETS[@]}"; do
            if ! grep -qx "$applet" <<<"$have"; then
                echo "hack/images.sh: $BUSYBOX has no $applet applet" >&2
                exit 1
            fi
            links+=(-symlink "/bin/$applet=busybox")
        done
        image -o "$out/workload.tar" -name localhost/workload:network-controller \
            -cmd /bin/sh "${links[@]}" "$BUSYBOX:/bin/busybox:0755"
        ;;
    controller)
        gobuild -o "$tmp/network-controller" .
        # The controller needs only its binary: it is static, reaches the
        # API server with the ServiceAccount's CA bundle (no system CA
        # certificates), writes no file (the Deployment's root filesystem is
        # read-only) and runs as a numeric user. The two account files stand
        # in for distroless's: they give uid 65532 a name and a HOME for
        # whatever looks it up (runc's HOME, ps in a debug container).
        printf '%s\n' 'root:x:0:0:root:/:/sbin/nologin' 'nonroot:x:65532:65532:nonroot:/:/sbin/nologin' >"$tmp/passwd"
        printf '%s\n' 'root:x:0:' 'nonroot:x:65532:' >"$tmp/group"
        image -o "$out/controller.tar" -name "$IMG" -user 65532:65532 \
            -entrypoint /network-controller \
            "$tmp/network-controller:/network-controller:0755" \
            "$tmp/passwd:/etc/passwd:0644" "$tmp/group:/etc/group:0644"
        ;;
    esac
done
