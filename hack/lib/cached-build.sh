# Sourced by hack/k8s/install.sh and hack/cni/install.sh: what building
# pinned Go binaries into a cache directory outside the repo takes, whatever
# the binaries. The caller sets MODDIR (the module pinning the versions) and
# LOG_NAME, and defines complete(), which succeeds when "$BIN" (and whatever
# else it installs) is whole.
#
#   cache_dir NAME VERSION   sets DEST and BIN, named after NAME, VERSION and
#                            a hash of go.mod/go.sum (any change to them gives
#                            a new directory, so stale binaries are never reused)
#   take_cache_lock WHAT     prints BIN and exits if complete() already holds;
#                            else waits for any other install of the same
#                            DEST, checks again, and returns to build
#   new_tmp VAR              sets VAR to a temporary directory in DEST for
#                            the build, removed on exit unless published
#   publish TMP DEST_DIR     moves a finished directory into place at once
#   finished                 logs the time taken and prints BIN

log() { printf '%s: %s\n' "$LOG_NAME" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# module_version MODULE prints the version go.mod requires of MODULE.
module_version() {
	local v
	v=$(awk -v m="$1" '$1 == m && $2 ~ /^v[0-9]/ { print $2; exit }' "$MODDIR/go.mod")
	[[ -n "$v" ]] || die "cannot find the $1 version in $MODDIR/go.mod"
	printf '%s\n' "$v"
}

cache_dir() {
	local hash root
	hash=$(cat "$MODDIR/go.mod" "$MODDIR/go.sum" | sha256sum | cut -c1-12)
	root=${NETWORK_CONTROLLER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/network-controller}
	DEST=$root/$1-$2-$hash
	BIN=$DEST/bin
}

take_cache_lock() {
	if complete; then
		printf '%s\n' "$BIN"
		exit 0
	fi
	mkdir -p "$DEST"
	# Serialise concurrent installs of the same version (e.g. two test runs).
	exec 9>"$DEST/.lock"
	if ! flock -n 9; then
		log "another install of $1 is running; waiting for it"
		flock 9
	fi
	if complete; then
		printf '%s\n' "$BIN"
		exit 0
	fi
	command -v go >/dev/null || die "go is not on PATH"
	export GOWORK=off # a go.work above the module must not take over
	BUILD_START=$SECONDS
}

# TMPDIRS are removed on exit unless published.
TMPDIRS=()
trap 'rm -rf "${TMPDIRS[@]}"' EXIT

new_tmp() {
	local d
	d=$(mktemp -d "$DEST/.tmp.XXXXXX")
	TMPDIRS+=("$d")
	printf -v "$1" '%s' "$d"
}

publish() {
	chmod 755 "$1" # mktemp made it 0700
	rm -rf "$2"    # a directory left incomplete by hand is replaced
	mv -T "$1" "$2"
}

finished() {
	log "built in $((SECONDS - BUILD_START)) s"
	printf '%s\n' "$BIN"
}
