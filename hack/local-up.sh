#!/usr/bin/env bash
# Starts a local Kubernetes control plane (etcd, kube-apiserver,
# kube-controller-manager) on 127.0.0.1, detached, and waits until it is
# ready. No kubelet, no nodes: enough for controllers, CRDs, namespaces,
# garbage collection and service-account tokens.
#
# Environment:
#   LOCAL_DIR         state, logs, PID files, kubeconfig (default: <repo>/.local)
#   BIN_DIR           directory with etcd, kube-apiserver, kube-controller-manager,
#                     kubectl (default: built/cached by hack/k8s/install.sh)
#   ETCD_CLIENT_PORT  (2379)   ETCD_PEER_PORT (2380)
#   APISERVER_PORT    (6443)   KCM_PORT       (10257)
#   LOCAL_UP_TIMEOUT  seconds to wait for each component (default 60)
#
# Progress and errors go to stderr; on success (or if it is already running)
# the kubeconfig's absolute path is the only line on stdout, so
#   export KUBECONFIG=$(hack/local-up.sh)
# works. Stop it with hack/local-down.sh (same LOCAL_DIR).
set -euo pipefail

PROG=local-up.sh
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)

ETCD_CLIENT_PORT=${ETCD_CLIENT_PORT:-2379}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-2380}
APISERVER_PORT=${APISERVER_PORT:-6443}
KCM_PORT=${KCM_PORT:-10257}
TIMEOUT=${LOCAL_UP_TIMEOUT:-60}
# A test range (RFC 2544), like every address the project's tests use: the
# node of hack/node-up.sh holds the first address, the API server's
# "kubernetes" Service, inside its own network namespace.
SERVICE_CIDR=198.19.255.0/24

t0=$EPOCHREALTIME
say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { say "$*"; exit 1; }

for p in ETCD_CLIENT_PORT ETCD_PEER_PORT APISERVER_PORT KCM_PORT LOCAL_UP_TIMEOUT; do
	v=${!p-}
	[[ -z "$v" || "$v" =~ ^[0-9]+$ ]] || die "$p must be a number, got '$v'"
done

LOCAL_DIR=${LOCAL_DIR:-$REPO/.local}
mkdir -p "$LOCAL_DIR"
LOCAL_DIR=$(cd "$LOCAL_DIR" && pwd -P)
RUN=$LOCAL_DIR/run
LOGS=$LOCAL_DIR/logs
PKI=$LOCAL_DIR/pki
KUBECONFIG_FILE=$LOCAL_DIR/kubeconfig
mkdir -p "$RUN" "$LOGS" "$PKI"

# Paths in messages: relative to the current directory when below it.
here=$(pwd -P)
show() { local p=$1; [[ "$p" == "$here"/* ]] && p=${p#"$here"/}; printf '%s' "$p"; }

COMPONENTS=(etcd kube-apiserver kube-controller-manager)

# alive PID: the process exists and is not a zombie.
alive() {
	local state
	[[ -r /proc/$1/stat ]] || return 1
	state=$(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n "$state" && "$state" != Z ]]
}

# running NAME: prints the PID if NAME's PID file points at a live process
# of that binary started for this LOCAL_DIR. Removes stale PID files.
running() {
	local name=$1 f=$RUN/$1.pid pid cmd argv0
	[[ -f "$f" ]] || return 1
	pid=$(<"$f")
	if [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid"; then
		cmd=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null) || cmd=
		argv0=${cmd%%$'\n'*}
		if [[ "${argv0##*/}" == "$name" && "$cmd" == *"$LOCAL_DIR/"* ]]; then
			printf '%s' "$pid"
			return 0
		fi
	fi
	rm -f "$f"
	return 1
}

exec 9>"$RUN/local-up.lock"
flock -n 9 || die "another local-up.sh is already running for $(show "$LOCAL_DIR")"

live=()
for c in "${COMPONENTS[@]}"; do
	if pid=$(running "$c"); then live+=("$c (pid $pid)"); fi
done
if ((${#live[@]} == ${#COMPONENTS[@]})); then
	say "already running (${live[*]}); kubeconfig: $(show "$KUBECONFIG_FILE")"
	printf '%s\n' "$KUBECONFIG_FILE"
	exit 0
elif ((${#live[@]} > 0)); then
	die "partly running (${live[*]}); run hack/local-down.sh first"
fi

# --- ports -------------------------------------------------------------------
port_user() { # prints who listens on TCP port $1, fails if nobody does
	local out
	if command -v ss >/dev/null; then
		out=$(ss -Htlnp "sport = :$1" 2>/dev/null) || return 1
		[[ -n "$out" ]] || return 1
		if [[ "$out" =~ \(\(\"([^\"]+)\",pid=([0-9]+) ]]; then
			printf '%s, pid %s' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
		else
			printf 'listening: %s' "$(awk 'NR==1{print $4}' <<<"$out")"
		fi
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null || return 1
		printf 'something accepts connections on 127.0.0.1:%s' "$1"
	fi
}
for pv in ETCD_CLIENT_PORT ETCD_PEER_PORT APISERVER_PORT KCM_PORT; do
	if who=$(port_user "${!pv}"); then
		die "port ${!pv} is already in use ($who); stop it or set $pv to a free port"
	fi
done

# --- binaries ----------------------------------------------------------------
if [[ -z "${BIN_DIR:-}" ]]; then
	BIN_DIR=$("$REPO/hack/k8s/install.sh") || die "building the binaries failed (hack/k8s/install.sh)"
fi
for b in etcd kube-apiserver kube-controller-manager kubectl; do
	[[ -x "$BIN_DIR/$b" ]] || die "$b not found or not executable in $BIN_DIR (BIN_DIR)"
done
command -v openssl >/dev/null || die "openssl is required (apt-get install openssl)"
command -v curl >/dev/null || die "curl is required (apt-get install curl)"

# --- credentials (made once per LOCAL_DIR) ----------------------------------
umask 077
if [[ ! -s "$PKI/sa.key" ]]; then
	openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null || die "openssl genrsa failed"
	rm -f "$PKI/sa.pub"
fi
if [[ ! -s "$PKI/sa.pub" ]]; then
	openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null || die "openssl rsa -pubout failed"
fi
if [[ ! -s "$PKI/token" ]]; then
	openssl rand -hex 32 >"$PKI/token"
fi
TOKEN=$(<"$PKI/token")
printf '%s,admin,admin,system:masters\n' "$TOKEN" >"$PKI/tokens.csv"
APISERVER_CERT_DIR=$PKI/apiserver # kube-apiserver writes a self-signed apiserver.crt here
CA_FILE=$APISERVER_CERT_DIR/apiserver.crt
mkdir -p "$APISERVER_CERT_DIR" "$PKI/kube-controller-manager"

cat >"$KUBECONFIG_FILE" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $CA_FILE
users:
- name: admin
  user:
    token: $TOKEN
contexts:
- name: local
  context:
    cluster: local
    user: admin
current-context: local
EOF
umask 022

# --- starting and waiting ----------------------------------------------------
started=()
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if ((rc != 0 && ${#started[@]} > 0)); then
		say "stopping what was started (${started[*]})"
		LOCAL_DIR=$LOCAL_DIR "$REPO/hack/local-down.sh" --quiet || true
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start() { # NAME ARGS...: runs $BIN_DIR/NAME in its own session, logs to logs/NAME.log
	local name=$1 pid
	shift
	# fd 9 (our lock) must not leak into the long-running children, and
	# etcd reads ETCD_* variables as flags, so ours are kept away from it.
	env -u ETCD_CLIENT_PORT -u ETCD_PEER_PORT setsid "$BIN_DIR/$name" "$@" </dev/null >"$LOGS/$name.log" 2>&1 9>&- &
	pid=$!
	printf '%s\n' "$pid" >"$RUN/$name.pid"
	started+=("$name")
}

wait_for() { # NAME CHECK-COMMAND...
	local name=$1 pid deadline
	shift
	pid=$(<"$RUN/$name.pid")
	deadline=$((SECONDS + TIMEOUT))
	while :; do
		if ! alive "$pid"; then
			local st=0
			wait "$pid" 2>/dev/null || st=$?
			die "$name exited (status $st); see $(show "$LOGS/$name.log")"
		fi
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		if ((SECONDS >= deadline)); then
			die "$name did not become healthy within ${TIMEOUT}s; see $(show "$LOGS/$name.log")"
		fi
		sleep 0.1
	done
}

elapsed() { # seconds since t0, one decimal
	local d=$((${EPOCHREALTIME/[.,]/} - ${t0/[.,]/}))
	printf '%d.%d' $((d / 1000000)) $((d / 100000 % 10))
}

start etcd \
	--name=local \
	--data-dir="$LOCAL_DIR/etcd" \
	--listen-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
	--advertise-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
	--listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
	--initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
	--initial-cluster="local=http://127.0.0.1:$ETCD_PEER_PORT" \
	--unsafe-no-fsync
wait_for etcd curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_CLIENT_PORT/health"
say "etcd is healthy ($(elapsed) s)"

start kube-apiserver \
	--etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT" \
	--bind-address=127.0.0.1 \
	--advertise-address=127.0.0.1 \
	--endpoint-reconciler-type=none \
	--secure-port="$APISERVER_PORT" \
	--cert-dir="$APISERVER_CERT_DIR" \
	--token-auth-file="$PKI/tokens.csv" \
	--authorization-mode=RBAC \
	--service-account-issuer=https://kubernetes.default.svc.cluster.local \
	--service-account-key-file="$PKI/sa.pub" \
	--service-account-signing-key-file="$PKI/sa.key" \
	--service-cluster-ip-range="$SERVICE_CIDR"
wait_for kube-apiserver "$BIN_DIR/kubectl" --kubeconfig="$KUBECONFIG_FILE" --request-timeout=2s get --raw=/readyz
say "kube-apiserver is ready ($(elapsed) s)"

start kube-controller-manager \
	--kubeconfig="$KUBECONFIG_FILE" \
	--authentication-kubeconfig="$KUBECONFIG_FILE" \
	--authorization-kubeconfig="$KUBECONFIG_FILE" \
	--bind-address=127.0.0.1 \
	--secure-port="$KCM_PORT" \
	--cert-dir="$PKI/kube-controller-manager" \
	--leader-elect=false \
	--use-service-account-credentials=false \
	--service-account-private-key-file="$PKI/sa.key" \
	--root-ca-file="$CA_FILE" \
	--service-cluster-ip-range="$SERVICE_CIDR"
wait_for kube-controller-manager curl -fsSk --max-time 2 "https://127.0.0.1:$KCM_PORT/healthz"

say "ready in $(elapsed) s; kubeconfig: $(show "$KUBECONFIG_FILE")"
say "  kubectl --kubeconfig $(show "$KUBECONFIG_FILE") get ns    # stop with hack/local-down.sh"
printf '%s\n' "$KUBECONFIG_FILE"
