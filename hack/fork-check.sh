#!/usr/bin/env bash
# make fork-check: proves that hack/fork turns this project into another
# one that builds and passes its checks. It forks a copy of the committed
# tree (HEAD, as git archive writes it) in a temporary directory under
# another group, version, kind and module, then runs make verify test-unit
# there. The temporary directory is removed, also on failure and Ctrl-C.
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
# shellcheck disable=SC2086 # FORK_ARGS is a list of flags
(cd "$src" && go run ./hack/fork $FORK_ARGS)
commit "fork: $FORK_ARGS"
echo "fork-check: forked in $((SECONDS - start)) s; make $FORK_TARGETS in the fork" >&2
# shellcheck disable=SC2086 # FORK_TARGETS is a list of targets
make -C "$src" --no-print-directory $FORK_TARGETS
echo "fork-check: the fork passes make $FORK_TARGETS, after $((SECONDS - start)) s" >&2
