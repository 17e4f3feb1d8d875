#!/usr/bin/env bash
# make fork-check: proves that hack/fork turns this project into another
# one that builds and passes its checks. It forks a copy of the committed
# tree (HEAD, as git archive writes it) in a temporary directory under
# another group, version, kind and module, checks that nothing names the old
# group any more, then runs make verify test-unit there. The temporary
# directory is removed, also on failure and Ctrl-C.
#
# Environment:
#   FORK_ARGS     the fork's arguments (default: the README's example)
#   FORK_TARGETS  what to make in the fork (default: verify test-unit)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
FORK_ARGS=${FORK_ARGS:--module github.com/example/subnet-controller -group example.com -version v1alpha1 -kind Subnet}
FORK_TARGETS=${FORK_TARGETS:-verify test-unit}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
src=$tmp/fork
mkdir "$src"

git -C "$REPO" archive HEAD | tar -x -C "$src"
commit() {
	git -C "$src" -c user.name=fork-check -c user.email=fork-check@invalid commit --quiet --no-verify -m "$1"
}
git -C "$src" -c init.defaultBranch=main init --quiet
git -C "$src" add -A
commit "HEAD of $REPO"

start=$SECONDS
# The code generators go into the temporary directory too.
export GOBIN=$tmp/bin
# The API group, as the fork reads it (the +groupName marker of the one API
# package), before and after.
group() { sed -n 's|^// +groupName=||p' "$src"/pkg/apis/*/*/doc.go; }
old_group=$(group)
# shellcheck disable=SC2086 # FORK_ARGS is a list of flags
(cd "$src" && go run ./hack/fork $FORK_ARGS)
commit "fork: $FORK_ARGS"

# The old group must be gone in every form: as the group, as a domain under
# it (labels and annotations such as bench.<group>/run are the group's
# too), with its dots escaped (jsonpath, regular expressions), in any case.
# hack/fork's own tests keep the identity they test with. hack/fork lists
# what it leaves behind itself; this checks that list from the outside.
new_group=$(group)
if [[ "$new_group" == *"$old_group"* ]]; then
	echo "fork-check: the new group $new_group contains the old $old_group; not looking for leftovers of it" >&2
else
	old_group_re=${old_group//./'\\?\.'}
	found=0
	left=$(git -C "$src" grep -n -I -i -E "$old_group_re" -- . ':(exclude)hack/fork/') || found=$?
	case $found in
	0)
		echo "fork-check: the fork still names the old group $old_group:" >&2
		echo "$left" >&2
		exit 1
		;;
	1) ;; # nothing left
	*) exit "$found" ;;
	esac
fi
echo "fork-check: forked in $((SECONDS - start)) s; make $FORK_TARGETS in the fork" >&2
# shellcheck disable=SC2086 # FORK_TARGETS is a list of targets
make -C "$src" --no-print-directory $FORK_TARGETS
echo "fork-check: the fork passes make $FORK_TARGETS, after $((SECONDS - start)) s" >&2
