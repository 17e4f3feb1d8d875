#!/usr/bin/env bash
# Stops the control plane started by hack/local-up.sh: exactly the processes
# named by its PID files in $LOCAL_DIR/run, after checking that each PID still
# belongs to that binary and LOCAL_DIR. SIGTERM first, SIGKILL after a grace
# period. Safe to run when nothing is running.
#
# Usage: hack/local-down.sh [--purge] [--quiet]
#   --purge  also remove LOCAL_DIR (state, logs, kubeconfig)
#   --quiet  print nothing unless something goes wrong
# Environment: LOCAL_DIR (default: <repo>/.local), LOCAL_DOWN_GRACE (seconds, default 5)
set -euo pipefail

PROG=local-down.sh
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
GRACE=${LOCAL_DOWN_GRACE:-5}
# shellcheck source=hack/lib/down-args.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/down-args.sh"
down_args 10 "$@"
check_grace LOCAL_DOWN_GRACE

LOCAL_DIR=${LOCAL_DIR:-$REPO/.local}
if [[ ! -d "$LOCAL_DIR" ]]; then
	say "nothing is running ($LOCAL_DIR does not exist)"
	exit 0
fi
LOCAL_DIR=$(cd "$LOCAL_DIR" && pwd -P)
RUN=$LOCAL_DIR/run

alive() { # the process exists and is not a zombie
	local state
	[[ -r /proc/$1/stat ]] || return 1
	state=$(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n "$state" && "$state" != Z ]]
}

ours() { # PID NAME: argv[0] is the NAME binary and the command line names LOCAL_DIR
	local cmd argv0
	cmd=$(tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null) || return 1
	argv0=${cmd%%$'\n'*}
	[[ "${argv0##*/}" == "$2" && "$cmd" == *"$LOCAL_DIR/"* ]]
}

stopped_any=false
failed=false

# stop NAME...: SIGTERM to all, wait up to GRACE seconds, then SIGKILL.
stop() {
	local name f pid
	local -a pids=() names=()
	for name in "$@"; do
		f=$RUN/$name.pid
		[[ -f "$f" ]] || continue
		pid=$(<"$f")
		if [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" && ours "$pid" "$name"; then
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid")
			names+=("$name")
		else
			say "$name is not running (stale PID file removed)"
			rm -f "$f"
		fi
	done
	((${#pids[@]} > 0)) || return 0

	local i
	wait_gone() { # seconds: wait until all pids are gone; fail if time runs out
		local deadline=$((SECONDS + $1)) left
		while :; do
			left=0
			for i in "${!pids[@]}"; do
				alive "${pids[$i]}" && left=1
			done
			((left)) || return 0
			((SECONDS < deadline)) || return 1
			sleep 0.1
		done
	}
	if ! wait_gone "$GRACE"; then
		for i in "${!pids[@]}"; do
			if alive "${pids[$i]}" && ours "${pids[$i]}" "${names[$i]}"; then
				warn "${names[$i]} (pid ${pids[$i]}) did not stop within ${GRACE}s; sending SIGKILL"
				kill -KILL "${pids[$i]}" 2>/dev/null || true
			fi
		done
		wait_gone 5 || true
	fi
	for i in "${!pids[@]}"; do
		if alive "${pids[$i]}"; then
			warn "${names[$i]} (pid ${pids[$i]}) is still running; PID file kept"
			failed=true
		else
			rm -f "$RUN/${names[$i]}.pid"
			say "stopped ${names[$i]} (pid ${pids[$i]})"
		fi
	done
	stopped_any=true
}

if [[ -d "$RUN" ]]; then
	# Clients first, so the apiserver does not log a burst of etcd errors.
	stop kube-controller-manager kube-apiserver
	stop etcd
fi
$stopped_any || say "nothing is running (LOCAL_DIR=$LOCAL_DIR)"
if $failed; then
	exit 1
fi

if $purge; then
	# Only remove a directory that looks like one local-up.sh made.
	if [[ "$LOCAL_DIR" == / || "$LOCAL_DIR" == "$REPO" || "$LOCAL_DIR" == "${HOME:-/}" ]] ||
		[[ ! -d "$RUN" && ! -f "$LOCAL_DIR/kubeconfig" ]]; then
		warn "not purging $LOCAL_DIR: it does not look like a local-up.sh state directory"
		exit 1
	fi
	rm -rf "$LOCAL_DIR"
	say "removed $LOCAL_DIR"
fi
