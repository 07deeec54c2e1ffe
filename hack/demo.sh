#!/usr/bin/env bash
# agentnet's whole job, end to end, on this machine, with real parts only:
#
#   1. a private control plane (etcd + kube-apiserver v1.37.2, in a temporary directory)
#   2. the Helm chart, with agentnet-webhook as a local process (chart value webhook.url)
#   3. an opted-in namespace, ServiceAccount demo-agent and an agent Pod: the injected sidecar
#   4. real MCP servers (server-everything, the Python `mcp` SDK) and an `a2a-sdk` agent,
#      behind Services without selectors and EndpointSlices
#   5. XBackends and XAccessPolicies applied with kubectl
#   6. agentnet-sidecar as a local process with the Pod's identity: a TokenRequest token,
#      then a certificate from the identity service
#   7. the official MCP Python SDK client through it: tools/list filtered, get-sum
#      answered, echo denied with the policy named
#   8. a live policy edit that allows echo
#   9. an A2A exchange: skill summarize allowed, translate denied
#  10. `agentnet-sidecar explain` for the denied call, the audit lines and the metrics
#  11. teardown (also on failure or Ctrl-C)
#
# It exits non-zero if any expected outcome does not happen. Re-runnable; it never
# touches a control plane of yours (hack/cluster.sh's is left alone).
#
# Environment:
#   AGENTNET_DEMO_REPORT=FILE   also write a JSON report: every outcome, the sidecar's
#                               /metrics, its audit lines, the explain output and the
#                               transcript (read by e2e/tests/e2e/quickstart.rs)
#   AGENTNET_WEBHOOK_BIN, AGENTNET_SIDECAR_BIN
#                               prebuilt binaries (default: cargo build, debug profile)
#   AGENTNET_DEMO_KEEP=1        keep the work directory (logs, files) after the run
#   NO_COLOR=1                  no colours even on a terminal
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
DEMO_DIR=$HACK_DIR/demo
START=$SECONDS

# --- output ---------------------------------------------------------------------------

if [[ -t 1 && -z ${NO_COLOR:-} ]]; then
  BOLD=$'\e[1m' DIM=$'\e[2m' GREEN=$'\e[32m' RED=$'\e[31m' CYAN=$'\e[36m' RESET=$'\e[0m'
else
  BOLD='' DIM='' GREEN='' RED='' CYAN='' RESET=''
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/agentnet-demo.XXXXXX")
LOG=$WORK/setup.log          # what the helpers print; tailed on failure
TRANSCRIPT=$WORK/transcript.txt
OUTCOMES=$WORK/outcomes.tsv
FAILED=0
: >"$OUTCOMES"

# out TEXT-WITH-COLOURS: to stdout, and without colours to the transcript.
out() {
  printf '%s\n' "$1"
  local plain=$1
  for c in "$BOLD" "$DIM" "$GREEN" "$RED" "$CYAN" "$RESET"; do
    [[ -n $c ]] && plain=${plain//"$c"/}
  done
  printf '%s\n' "$plain" >>"$TRANSCRIPT"
}
step() { out ""; out "${BOLD}${CYAN}$1${RESET}"; }
say() { out "  $1"; }
shows() { out "  ${DIM}\$ $1${RESET}"; }
# indent: stdin, indented, dimmed.
indent() { while IFS= read -r line; do out "    ${DIM}${line}${RESET}"; done; }
pass() { # id text
  printf '%s\tok\t%s\n' "$1" "$2" >>"$OUTCOMES"
  out "  ${GREEN}✓${RESET} $2"
}
fail() { # id text
  printf '%s\tfailed\t%s\n' "$1" "$2" >>"$OUTCOMES"
  out "  ${RED}✗ $2${RESET}"
  FAILED=$((FAILED + 1))
}
# expect ID TEXT COMMAND...: pass when the command succeeds.
expect() {
  local id=$1 text=$2; shift 2
  if "$@"; then pass "$id" "$text"; else fail "$id" "$text"; fi
}
die() {
  fail setup "$1"
  if [[ -s $LOG ]]; then
    out "  ${DIM}last lines of $LOG:${RESET}"
    tail -15 "$LOG" | indent
  fi
  exit 1
}

# --- processes and teardown -----------------------------------------------------------

: >"$WORK/pids"
# background OUT ERR COMMAND...: start it with stdout to OUT and stderr to ERR (may be
# the same file), and remember its pid (in $BG_PID, and for teardown).
background() {
  local stdout=$1 stderr=$2; shift 2
  if [[ $stdout == "$stderr" ]]; then
    "$@" >"$stdout" 2>&1 </dev/null &
  else
    "$@" >"$stdout" 2>"$stderr" </dev/null &
  fi
  BG_PID=$!
  echo "$BG_PID" >>"$WORK/pids"
}
stop_pids() {
  local pids=() pid
  mapfile -t pids <"$WORK/pids"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || return 0
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
}
teardown() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [[ -n ${SIDECAR_ADMIN:-} && ! -s $WORK/metrics.txt ]]; then
    curl -s --max-time 2 "http://$SIDECAR_ADMIN/metrics" >"$WORK/metrics.txt" 2>/dev/null
  fi
  ((rc == 0 && FAILED > 0)) && rc=1
  local t=$SECONDS
  step "11. Teardown"
  stop_pids
  if [[ -d $WORK/cluster ]]; then
    AGENTNET_CLUSTER_DIR=$WORK/cluster "$HACK_DIR/cluster.sh" down >>"$LOG" 2>&1
  fi
  say "stopped the sidecar, the webhook, the MCP servers, the A2A agent, kube-apiserver and etcd ($((SECONDS - t))s)"
  if [[ -n ${SIDECAR_ADMIN:-} ]]; then
    local port listening=()
    for port in "${HOST_IP:-}:${EVERYTHING_PORT:-}" "${HOST_IP:-}:${PY_TOOLS_PORT:-}" \
      "${HOST_IP:-}:${SUMMARIZER_PORT:-}" "$SIDECAR_OUT" "$SIDECAR_ADMIN" "127.0.0.1:$WEBHOOK_PORT"; do
      timeout 1 bash -c "exec 3<>/dev/tcp/${port%:*}/${port##*:}" 2>/dev/null && listening+=("$port")
    done
    if ((${#listening[@]} == 0)); then
      pass teardown "nothing the demo started is still listening"
    else
      fail teardown "still listening after teardown: ${listening[*]}"
      ((rc == 0)) && rc=1
    fi
  fi
  if ((rc == 0)); then
    out "${BOLD}${GREEN}agentnet demo: every expected outcome happened${RESET} ($(grep -c $'\tok\t' "$OUTCOMES") checks, $((SECONDS - START))s)"
  else
    out "${BOLD}${RED}agentnet demo: FAILED${RESET} ($(grep -c $'\tfailed\t' "$OUTCOMES") of $(wc -l <"$OUTCOMES") checks failed; logs in $WORK)"
  fi
  if [[ -n ${AGENTNET_DEMO_REPORT:-} ]]; then
    python3 "$DEMO_DIR/demo.py" report "$AGENTNET_DEMO_REPORT" "$OUTCOMES" "$WORK/metrics.txt" \
      "$WORK/audit.log" "$WORK/explain.txt" "$TRANSCRIPT"
  fi
  if ((rc == 0)) && [[ -z ${AGENTNET_DEMO_KEEP:-} ]]; then
    rm -rf "$WORK"
  else
    echo "work directory kept: $WORK" >&2
  fi
  [[ -n ${REAPER:-} ]] && kill "$REAPER" 2>/dev/null
  exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# If this script is killed outright (SIGKILL), a detached watcher still stops what it
# started, by pid, and the private control plane.
# shellcheck disable=SC2016 # expanded by the watcher's own shell
setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done
  [[ -d $2 ]] || exit 0
  while read -r pid; do kill "$pid" 2>/dev/null; done <"$2/pids"
  AGENTNET_CLUSTER_DIR=$2/cluster "$3" down; rm -rf "$2"' \
  demo-reaper "$$" "$WORK" "$HACK_DIR/cluster.sh" >/dev/null 2>&1 </dev/null &
REAPER=$!

# --- small helpers --------------------------------------------------------------------

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# This machine's own IPv4 address: EndpointSlices may not name loopback addresses.
host_ip() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(("10.255.255.255", 1)); print(s.getsockname()[0])'
}
# until_ok SECONDS WHAT COMMAND...: poll (bounded) until the command succeeds.
until_ok() {
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "timed out after ${secs}s waiting for $what"
    sleep 0.2
  done
}
alive() { kill -0 "$1" 2>/dev/null; }
# port_of LOGFILE PID: the port a peer printed as `PORT <n>`, once it did.
port_of() {
  local deadline=$((SECONDS + 60))
  until grep -q '^PORT ' "$1" 2>/dev/null; do
    alive "$2" || { cat "$1" >>"$LOG"; die "$(basename "$1" .log) exited before listening"; }
    ((SECONDS < deadline)) || die "$(basename "$1" .log) did not listen within 60s"
    sleep 0.2
  done
  sed -n 's/^PORT //p' "$1" | head -1
}
jget() { python3 "$DEMO_DIR/demo.py" get "$@"; }
# explain ARGS...: agentnet-sidecar explain, asking the running sidecar.
explain() { "$SIDECAR_BIN" explain --admin-addr "$SIDECAR_ADMIN" "$@"; }
# audit_has KEY=VALUE...: the sidecar wrote an audit line with all of these.
audit_has() { python3 "$DEMO_DIR/demo.py" audit-has "$@" <"$WORK/audit.log"; }
# The prefix of an agent process: no proxy settings inherited from this shell. An array,
# not a function: a backgrounded function runs in a forked shell, and killing that
# shell's pid at teardown would orphan the process it started.
AGENT=(env -u HTTP_PROXY -u http_proxy -u HTTPS_PROXY -u https_proxy -u ALL_PROXY -u all_proxy
  -u NO_PROXY -u no_proxy PYTHONWARNINGS=ignore)

# --- 0. what the demo needs -----------------------------------------------------------

out "${BOLD}agentnet demo${RESET}: an AI agent's MCP and A2A calls mediated by its injected sidecar"
step "0. Prerequisites (installed or reused; log: $LOG)"
"$HACK_DIR/prereqs.sh" >>"$LOG" 2>&1 || die "hack/prereqs.sh failed"
if [[ ! -x $(testbin_dir)/kube-apiserver ]]; then
  say "building kube-apiserver, etcd, kubectl and helm from Go modules (first run only: about 7 minutes on 2 cores)"
fi
BIN=$("$HACK_DIR/testbin.sh" 2>>"$LOG") || die "hack/testbin.sh failed"
PATH=$BIN:$PATH
PEERS=$("$HACK_DIR/peers.sh" 2>>"$LOG") || die "hack/peers.sh failed"
PY=$PEERS/venv/bin/python
if [[ -n ${AGENTNET_WEBHOOK_BIN:-} && -n ${AGENTNET_SIDECAR_BIN:-} ]]; then
  WEBHOOK_BIN=$AGENTNET_WEBHOOK_BIN SIDECAR_BIN=$AGENTNET_SIDECAR_BIN
else
  say "cargo build -p agentnet-webhook -p agentnet-sidecar (first run: several minutes)"
  # Incremental artifacts are gigabytes a one-shot build never reuses.
  (cd "$REPO_ROOT" && CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0} cargo build -p agentnet-webhook -p agentnet-sidecar \
    --message-format=json-render-diagnostics) >"$WORK/cargo.json" 2>>"$LOG" || die "cargo build failed"
  WEBHOOK_BIN=$(python3 "$DEMO_DIR/demo.py" cargo-exe agentnet-webhook <"$WORK/cargo.json")
  SIDECAR_BIN=$(python3 "$DEMO_DIR/demo.py" cargo-exe agentnet-sidecar <"$WORK/cargo.json")
fi
say "kube-apiserver, etcd, kubectl, helm: $BIN"
say "MCP/A2A peers (mcp 2.3.0, a2a-sdk 1.3.0, server-everything 2026.8.31): $PEERS"
say "agentnet-webhook, agentnet-sidecar: $(dirname "$SIDECAR_BIN")"

# --- 1. control plane -----------------------------------------------------------------

step "1. A private development control plane"
export AGENTNET_CLUSTER_DIR=$WORK/cluster
KUBECONFIG=$("$HACK_DIR/cluster.sh" up 2>>"$LOG" | tail -1) || die "hack/cluster.sh up failed"
export KUBECONFIG
unset AGENTNET_CLUSTER_DIR
API_SERVER=$(kubectl config view -o jsonpath='{.clusters[0].cluster.server}')
say "kube-apiserver $(kubectl version -o json | jget serverVersion.gitVersion) at $API_SERVER (etcd, RBAC, TokenRequest; no kubelet)"
say "state in $WORK/cluster; KUBECONFIG=$KUBECONFIG"

# --- 2. chart and webhook -------------------------------------------------------------

step "2. The Helm chart, with agentnet-webhook as a local process"
WEBHOOK_PORT=$(free_port) WEBHOOK_METRICS_PORT=$(free_port) IDENTITY_PORT=$(free_port)
kubectl create namespace agentnet-system >>"$LOG"
shows "helm template agentnet charts/agentnet -n agentnet-system --include-crds --set webhook.url=https://127.0.0.1:$WEBHOOK_PORT --set sidecar.identityUrl=https://127.0.0.1:$IDENTITY_PORT | kubectl apply -f -"
helm template agentnet "$REPO_ROOT/charts/agentnet" --namespace agentnet-system --include-crds \
  --set "webhook.url=https://127.0.0.1:$WEBHOOK_PORT" \
  --set "sidecar.identityUrl=https://127.0.0.1:$IDENTITY_PORT" >"$WORK/chart.yaml" 2>>"$LOG" \
  || die "helm template failed"
kubectl apply -f "$WORK/chart.yaml" >"$WORK/chart-applied.txt" 2>>"$LOG" || die "kubectl apply of the chart failed"
kubectl wait --for condition=established --timeout=60s \
  crd/xbackends.agentic.networking.x-k8s.io crd/xaccesspolicies.agentic.networking.x-k8s.io >>"$LOG" 2>&1 \
  || die "the CRDs were not Established"
say "$(wc -l <"$WORK/chart-applied.txt") objects: $(sed -E 's/^([^/]+)\/.*/\1/' "$WORK/chart-applied.txt" | sort | uniq -c | awk '{printf "%s%s %s", sep, $1, $2; sep=", "}')"
# The webhook gets the environment the chart gives its Deployment's container, with the
# listen addresses and kubeconfig of a local process (as the e2e harness runs it).
mapfile -d '' WEBHOOK_ENV < <(kubectl -n agentnet-system get deployment agentnet-webhook -o json \
  | python3 "$DEMO_DIR/demo.py" deployment-env agentnet-system)
background "$WORK/webhook.log" "$WORK/webhook.log" env -i PATH="$PATH" HOME="$HOME" "${WEBHOOK_ENV[@]}" \
  AGENTNET_LISTEN_ADDR="127.0.0.1:$WEBHOOK_PORT" AGENTNET_METRICS_ADDR="127.0.0.1:$WEBHOOK_METRICS_PORT" \
  AGENTNET_IDENTITY_LISTEN_ADDR="127.0.0.1:$IDENTITY_PORT" AGENTNET_KUBECONFIG="$KUBECONFIG" \
  AGENTNET_LOG_FORMAT=plain "$WEBHOOK_BIN"
WEBHOOK_PID=$BG_PID
webhook_serving() {
  alive "$WEBHOOK_PID" || { cat "$WORK/webhook.log" >>"$LOG"; die "agentnet-webhook exited"; }
  curl -sf "http://127.0.0.1:$WEBHOOK_METRICS_PORT/readyz" >/dev/null &&
    [[ -n $(kubectl get mutatingwebhookconfiguration agentnet -o jsonpath='{.webhooks[0].clientConfig.caBundle}') ]]
}
until_ok 60 "agentnet-webhook to serve and publish its caBundle" webhook_serving
say "agentnet-webhook (pid $WEBHOOK_PID): /mutate on 127.0.0.1:$WEBHOOK_PORT, identity service on 127.0.0.1:$IDENTITY_PORT,"
say "  its serving certificate's CA written into MutatingWebhookConfiguration agentnet"

# --- 3. opt in, the agent Pod ---------------------------------------------------------

step "3. Opt a namespace in and create the agent Pod"
shows "kubectl create namespace agents && kubectl label namespace agents agentnet.dev/inject=enabled"
kubectl create namespace agents >>"$LOG"
kubectl label namespace agents agentnet.dev/inject=enabled >>"$LOG"
kubectl create namespace tools >>"$LOG"
# The API server picks up the webhook configuration through an informer: wait until a
# dry-run pod creation is injected before creating the real one.
probe_injected() {
  kubectl create --dry-run=server -n agents -o jsonpath='{.spec.initContainers[0].name}' -f - <<'EOF' | grep -qx agentnet-sidecar
{"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "probe-"},
 "spec": {"serviceAccountName": "demo-agent", "containers": [{"name": "app", "image": "example.com/probe:1"}]}}
EOF
}
shows "kubectl apply -f hack/demo/agent-pod.yaml     # ServiceAccount demo-agent, Pod demo-agent"
kubectl create serviceaccount demo-agent -n agents >>"$LOG"
until_ok 60 "the webhook to inject pods in namespace agents" probe_injected
kubectl apply -f "$DEMO_DIR/agent-pod.yaml" >>"$LOG" 2>&1 || die "creating the agent Pod failed"
kubectl -n agents get pod demo-agent -o json >"$WORK/pod.json"
say "the webhook injected into Pod agents/demo-agent (it stays Pending: no kubelet here):"
if python3 "$DEMO_DIR/demo.py" pod-summary <"$WORK/pod.json" >"$WORK/pod-summary.txt"; then
  indent <"$WORK/pod-summary.txt"
  pass injected "sidecar agentnet-sidecar injected as initContainers[0] with restartPolicy Always; the app container's HTTP_PROXY is the sidecar"
else
  indent <"$WORK/pod-summary.txt"
  fail injected "the Pod has no injected sidecar"
fi

# --- 4. MCP servers and an A2A agent ----------------------------------------------------

step "4. Real MCP servers and an A2A agent, behind Services without selectors + EndpointSlices"
HOST_IP=$(host_ip)
[[ $HOST_IP != 127.* ]] || die "no non-loopback IPv4 address (EndpointSlices refuse loopback ones)"
EVERYTHING_PORT=$(free_port)
EVERYTHING=$PEERS/node/node_modules/@modelcontextprotocol/server-everything/dist/index.js
background "$WORK/server-everything.log" "$WORK/server-everything.log" env PORT="$EVERYTHING_PORT" node "$EVERYTHING" streamableHttp
EVERYTHING_PID=$BG_PID
background "$WORK/py-tools.log" "$WORK/py-tools.log" "${AGENT[@]}" "$PY" "$HACK_DIR/peers/mcp_server.py" --host "$HOST_IP"
PY_TOOLS_PORT=$(port_of "$WORK/py-tools.log" "$BG_PID")
background "$WORK/summarizer.log" "$WORK/summarizer.log" "${AGENT[@]}" "$PY" "$HACK_DIR/peers/a2a_agent.py" --host "$HOST_IP" \
  --public-url http://summarizer.tools:9999/
SUMMARIZER_PID=$BG_PID
SUMMARIZER_PORT=$(port_of "$WORK/summarizer.log" "$SUMMARIZER_PID")
everything_up() {
  alive "$EVERYTHING_PID" || { cat "$WORK/server-everything.log" >>"$LOG"; die "server-everything exited"; }
  curl -s -o /dev/null "http://$HOST_IP:$EVERYTHING_PORT/mcp"
}
until_ok 60 "server-everything to listen" everything_up
say "@modelcontextprotocol/server-everything (node, streamableHttp)  $HOST_IP:$EVERYTHING_PORT  Service tools/mcp-everything:3001"
say "Python mcp SDK server (tools add, echo, get-secret, ...)      $HOST_IP:$PY_TOOLS_PORT  Service tools/py-tools:8080"
say "a2a-sdk agent (skills summarize, translate)                    $HOST_IP:$SUMMARIZER_PORT  Service tools/summarizer:9999"
manifest=$(<"$DEMO_DIR/servers.yaml")
for var in HOST_IP EVERYTHING_PORT PY_TOOLS_PORT SUMMARIZER_PORT; do
  manifest=${manifest//"\${$var}"/${!var}}   # servers.yaml's ${VAR} placeholders
done
shows "kubectl apply -f hack/demo/servers.yaml      # with this machine's address $HOST_IP and the ports"
kubectl apply -f - <<<"$manifest" >>"$LOG" 2>&1 || die "applying the Services and EndpointSlices failed"
say "(the servers listen on $HOST_IP, not 127.0.0.1: the API server refuses loopback endpoints)"

# --- 5. backends and policies ---------------------------------------------------------

step "5. XBackends and XAccessPolicies, applied with kubectl"
shows "kubectl apply -f hack/demo/policies.yaml"
kubectl apply -f "$DEMO_DIR/policies.yaml" >>"$LOG" 2>&1 || die "applying the policies failed"
say "ServiceAccount agents/demo-agent may call: everything get-sum, get-tiny-image (not echo) + the MCP base"
say "protocol; py-tools add; summarizer skill summarize (not translate)"
policies_accepted() {
  local accepted
  accepted=$(kubectl -n tools get xaccesspolicies \
    -o jsonpath='{range .items[*]}{.status.ancestors[0].conditions[0].status}{"\n"}{end}' | grep -c True)
  ((accepted == 3))
}
until_ok 60 "the status controller to accept the three policies" policies_accepted
shows "kubectl -n tools get xbackends,xaccesspolicies"
kubectl -n tools get xbackends,xaccesspolicies 2>>"$LOG" | indent
pass policies_accepted "the webhook's status controller reports the three policies Accepted"

# --- 6. the sidecar with the pod's identity -------------------------------------------

step "6. agentnet-sidecar as a local process with the Pod's identity"
POD_DIR=$WORK/pod
mkdir -p "$POD_DIR/token" "$POD_DIR/trust"
# What the kubelet would mount: the projected token (audience agentnet, bound to the
# Pod) and the trust-bundle ConfigMap the webhook keeps in every opted-in namespace.
shows "kubectl -n agents create token demo-agent --audience agentnet --bound-object-kind Pod --bound-object-name demo-agent > token"
kubectl -n agents create token demo-agent --audience agentnet --duration 1h \
  --bound-object-kind Pod --bound-object-name demo-agent >"$POD_DIR/token/token" 2>>"$LOG" \
  || die "TokenRequest for demo-agent failed"
trust_bundle() {
  kubectl -n agents get configmap agentnet-trust-bundle -o jsonpath='{.data.ca-bundle\.pem}' >"$POD_DIR/trust/ca-bundle.pem" &&
    grep -q 'BEGIN CERTIFICATE' "$POD_DIR/trust/ca-bundle.pem"
}
shows "kubectl -n agents get configmap agentnet-trust-bundle -o jsonpath='{.data.ca-bundle\\.pem}' > ca-bundle.pem"
until_ok 60 "the trust bundle ConfigMap in namespace agents" trust_bundle
# In a pod the sidecar watches policy with its in-cluster credentials: here a kubeconfig
# with a token for the same ServiceAccount (the chart's sidecar ClusterRole grants it).
kubectl config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$POD_DIR/ca.crt"
kubectl config --kubeconfig="$POD_DIR/kubeconfig" set-cluster demo --server="$API_SERVER" \
  --certificate-authority="$POD_DIR/ca.crt" --embed-certs=true >>"$LOG"
kubectl config --kubeconfig="$POD_DIR/kubeconfig" set-credentials demo-agent \
  --token="$(kubectl -n agents create token demo-agent --duration 1h --bound-object-kind Pod --bound-object-name demo-agent)" >>"$LOG"
kubectl config --kubeconfig="$POD_DIR/kubeconfig" set-context demo --cluster demo --user demo-agent >>"$LOG"
kubectl config --kubeconfig="$POD_DIR/kubeconfig" use-context demo >>"$LOG"
# The sidecar gets the environment the webhook injected into the Pod, with the
# downward-API values filled in (as a kubelet would) and local files and ports.
OUTBOUND_PORT=$(free_port) ADMIN_PORT=$(free_port) INBOUND_PORT=$(free_port)
SIDECAR_OUT=127.0.0.1:$OUTBOUND_PORT
mapfile -d '' SIDECAR_ENV < <(python3 "$DEMO_DIR/demo.py" pod-env agentnet-sidecar <"$WORK/pod.json")
background "$WORK/audit.log" "$WORK/sidecar.log" env -i PATH="$PATH" HOME="$HOME" "${SIDECAR_ENV[@]}" \
  AGENTNET_OUTBOUND_ADDR="$SIDECAR_OUT" AGENTNET_ADMIN_ADDR="127.0.0.1:$ADMIN_PORT" \
  AGENTNET_INBOUND_ADDR="127.0.0.1:$INBOUND_PORT" AGENTNET_KUBECONFIG="$POD_DIR/kubeconfig" \
  AGENTNET_TOKEN_FILE="$POD_DIR/token/token" AGENTNET_TRUST_BUNDLE_FILE="$POD_DIR/trust/ca-bundle.pem" \
  "$SIDECAR_BIN"
SIDECAR_PID=$BG_PID
SIDECAR_ADMIN=127.0.0.1:$ADMIN_PORT
sidecar_ready() {
  alive "$SIDECAR_PID" || { tail -20 "$WORK/sidecar.log" >>"$LOG"; die "agentnet-sidecar exited"; }
  curl -sf "http://$SIDECAR_ADMIN/ready"
}
until_ok 60 "agentnet-sidecar to sync its policy and get its certificate" sidecar_ready
say "agentnet-sidecar (pid $SIDECAR_PID) with the injected environment: outbound $SIDECAR_OUT, admin $SIDECAR_ADMIN"
identity=$(curl -s "http://$SIDECAR_ADMIN/identity")
spiffe=$(jget certificate.spiffeId '' <<<"$identity")
say "certificate from the identity service (TokenReview of the token): $spiffe"
say "  serial $(jget certificate.serial '' <<<"$identity"), valid until $(jget certificate.notAfter '' <<<"$identity") (annotation agentnet.dev/cert-lifetime: 30m)"
expect certified "the sidecar holds an X.509-SVID for spiffe://cluster.local/ns/agents/sa/demo-agent" \
  test "$spiffe" = spiffe://cluster.local/ns/agents/sa/demo-agent
synced=$(curl -s "http://$SIDECAR_ADMIN/metrics" | sed -n 's/^agentnet_policy_synced //p')
expect synced "its policy watch (demo-agent's own RBAC) has synced: agentnet_policy_synced $synced" test "$synced" = 1

# --- 7. the MCP client ----------------------------------------------------------------

step "7. The official MCP Python SDK client, through the sidecar"
MCP_CLIENT=$HACK_DIR/peers/mcp_client.py
direct=$("${AGENT[@]}" "$PY" "$MCP_CLIENT" "http://$HOST_IP:$EVERYTHING_PORT/mcp" list-tools)
all_tools=$(jget results.0.result.tools '[]' <<<"$direct")
EVERYTHING_URL=http://$SIDECAR_OUT/backends/tools/everything/mcp
shows "mcp_client.py $EVERYTHING_URL list-tools call:get-sum call:echo"
res=$("${AGENT[@]}" "$PY" "$MCP_CLIENT" "$EVERYTHING_URL" list-tools 'call:get-sum:{"a":2,"b":3}' 'call:echo:{"message":"hello"}')
echo "$res" >"$WORK/mcp-everything.json"
tools=$(jget results.0.result.tools '[]' <<<"$res")
expect tools_list_filtered "tools/list filtered: server-everything offers $(jget length 0 <<<"$all_tools") tools, demo-agent sees $tools" \
  test "$tools" = '["get-sum","get-tiny-image"]'
sum=$(jget results.1.result.text.0 '' <<<"$res")
expect get_sum_allowed "get-sum {a: 2, b: 3} answered: \"$sum\"" test "$sum" = "The sum of 2 and 3 is 5."
code=$(jget results.2.error.code '' <<<"$res")
policy=$(jget results.2.error.data.policy '' <<<"$res")
expect echo_denied "echo denied: JSON-RPC error $code \"$(jget results.2.error.message '' <<<"$res")\" data.policy $policy" \
  test "$code:$policy" = "403:tools/everything-tools"
say "    data.reason: $(jget results.2.error.data.reason '' <<<"$res")"
why=$(explain --backend tools/everything --tool echo --json)
rule=$(jget steps.0.rule '' <<<"$why")
expect echo_rule_named "the rule that did not admit it (explain): $rule of $(jget steps.0.policy.namespace '' <<<"$why")/$(jget steps.0.policy.name '' <<<"$why"): $(jget steps.0.outcome '' <<<"$why")" \
  test "$rule" = demo-agent-tools
PY_TOOLS_URL=http://py-tools.tools:8080/mcp
shows "HTTP_PROXY=http://$SIDECAR_OUT mcp_client.py $PY_TOOLS_URL list-tools call:add call:get-secret"
res=$("${AGENT[@]}" HTTP_PROXY="http://$SIDECAR_OUT" "$PY" "$MCP_CLIENT" "$PY_TOOLS_URL" \
  list-tools 'call:add:{"a":2,"b":3}' 'call:get-secret')
echo "$res" >"$WORK/mcp-py-tools.json"
expect py_tools_filtered "via HTTP_PROXY and the Service's DNS name: tools/list shows $(jget results.0.result.tools '[]' <<<"$res")" \
  test "$(jget results.0.result.tools '' <<<"$res")" = '["add"]'
expect py_add_allowed "add {a: 2, b: 3} answered: $(jget results.1.result.text.0 '' <<<"$res")" \
  test "$(jget results.1.result.text.0 '' <<<"$res")" = 5
expect py_secret_denied "get-secret denied: error $(jget results.2.error.code '' <<<"$res"), policy $(jget results.2.error.data.policy '' <<<"$res")" \
  test "$(jget results.2.error.code '' <<<"$res"):$(jget results.2.error.data.policy '' <<<"$res")" = 403:tools/py-tools

# --- 8. a live policy edit ------------------------------------------------------------

step "8. Edit the policy live: allow echo too"
generation() { curl -s "http://$SIDECAR_ADMIN/metrics" | sed -n 's/^agentnet_policy_index_generation //p'; }
before=$(generation)
shows "kubectl -n tools patch xaccesspolicy everything-tools --type=json -p '[{\"op\": \"add\", \"path\": \"/spec/rules/0/authorization/mcp/methods/0/params/-\", \"value\": \"echo\"}]'"
edited=$SECONDS
kubectl -n tools patch xaccesspolicy everything-tools --type=json \
  -p '[{"op": "add", "path": "/spec/rules/0/authorization/mcp/methods/0/params/-", "value": "echo"}]' >>"$LOG" 2>&1 \
  || die "kubectl patch failed"
echo_allowed() {
  curl -sf -H 'Accept: application/json' "http://$SIDECAR_ADMIN/explain?backend=tools/everything&tool=echo" |
    jget decision | grep -qx allow
}
until_ok 30 "the sidecar to enforce the edited policy" echo_allowed
say "the sidecar's watch recompiled its policy: generation $before -> $(generation) (within $((SECONDS - edited + 1))s of the patch)"
res=$("${AGENT[@]}" "$PY" "$MCP_CLIENT" "$EVERYTHING_URL" 'call:echo:{"message":"hello"}')
expect echo_allowed_after_edit "echo {message: hello} now answered: \"$(jget results.0.result.text.0 '' <<<"$res")\"" \
  test "$(jget results.0.result.text.0 '' <<<"$res")" = "Echo: hello"

# --- 9. A2A ---------------------------------------------------------------------------

step "9. An A2A exchange with a2a-sdk: one skill allowed, one denied"
A2A_CLIENT=$HACK_DIR/peers/a2a_client.py
SUMMARIZER_URL=http://summarizer.tools:9999/
agent_requests() { curl -s "http://$HOST_IP:$SUMMARIZER_PORT/stats" | jget rpc_requests; }
shows "HTTP_PROXY=http://$SIDECAR_OUT a2a_client.py $SUMMARIZER_URL --skill summarize"
res=$("${AGENT[@]}" HTTP_PROXY="http://$SIDECAR_OUT" "$PY" "$A2A_CLIENT" "$SUMMARIZER_URL" --skill summarize \
  --text "agentnet mediates agent calls")
expect a2a_card "agent card fetched through the sidecar (a base-protocol request): $(jget card.name '' <<<"$res"), skills $(jget card.skills '' <<<"$res")" \
  test "$(jget card.skills '' <<<"$res")" = '["summarize","translate"]'
expect a2a_summarize_allowed "SendMessage, skill summarize: answered \"$(jget texts.-1 '' <<<"$res")\"" \
  test "$(jget ok '' <<<"$res"):$(jget texts.-1 '' <<<"$res")" = "true:skill=summarize text=agentnet mediates agent calls"
reached=$(agent_requests)
shows "HTTP_PROXY=http://$SIDECAR_OUT a2a_client.py $SUMMARIZER_URL --skill translate"
res=$("${AGENT[@]}" HTTP_PROXY="http://$SIDECAR_OUT" "$PY" "$A2A_CLIENT" "$SUMMARIZER_URL" --skill translate)
error=$(jget error '' <<<"$res")
expect a2a_translate_denied "SendMessage, skill translate: denied: ${error:0:110}" \
  test "$(jget ok '' <<<"$res")" = false -a -n "$(grep -o 'forbidden' <<<"$error")"
expect a2a_translate_not_forwarded "the denied message never reached the agent (it counted $(agent_requests) JSON-RPC requests before and after)" \
  test "$(agent_requests)" = "$reached"

# --- 10. explain, audit, metrics ------------------------------------------------------

step "10. Why was it denied? explain, the audit log and the metrics"
: >"$WORK/explain.txt"
for query in "--backend tools/summarizer --method SendMessage --skill translate" "--backend tools/py-tools --tool get-secret"; do
  shows "agentnet-sidecar explain --admin-addr $SIDECAR_ADMIN $query"
  # shellcheck disable=SC2086 # the query is a list of flags
  explain $query | tee -a "$WORK/explain.txt" | indent
done
expect explain_names_rules "explain names the deciding policies and the rules that did not match (DENY)" \
  grep -q 'policy tools/summarizer-skills rule demo-agent-summarize.*skill is not one the rule lists' "$WORK/explain.txt"
say "audit log (the sidecar's stdout, one JSON line per decision), as a table:"
python3 "$DEMO_DIR/demo.py" audit-table <"$WORK/audit.log" | indent
say "the audit line of the first echo call:"
grep '"target":"echo"' "$WORK/audit.log" | grep '"decision":"deny"' | head -1 | fold -w 110 | indent
expect audit_lines "audit lines for every decision: get-sum allowed and echo denied by tools/everything-tools, echo allowed after the edit, summarize allowed and translate denied" \
  eval 'audit_has target=get-sum decision=allow policy=tools/everything-tools rule=demo-agent-tools &&
    audit_has target=echo decision=deny policy=tools/everything-tools rule=- &&
    audit_has target=echo decision=allow policy=tools/everything-tools rule=demo-agent-tools &&
    audit_has backend=tools/summarizer target=summarize decision=allow rule=demo-agent-summarize &&
    audit_has backend=tools/summarizer target=translate decision=deny policy=tools/summarizer-skills'
curl -s "http://$SIDECAR_ADMIN/metrics" >"$WORK/metrics.txt"
say "metrics (agentnet_requests_total on $SIDECAR_ADMIN/metrics):"
python3 "$DEMO_DIR/demo.py" metrics agentnet_requests_total <"$WORK/metrics.txt" |
  sed 's/^agentnet_requests_total//' | indent
has_series() { grep -qF "agentnet_requests_total{backend=\"$1\",protocol=\"$2\",method=\"$3\",decision=\"$4\"}" "$WORK/metrics.txt"; }
expect metrics "the counters match: tools/call allowed and denied on tools/everything, SendMessage allowed and denied on tools/summarizer" \
  eval 'has_series tools/everything mcp tools/call allow && has_series tools/everything mcp tools/call deny &&
    has_series tools/summarizer a2a SendMessage allow && has_series tools/summarizer a2a SendMessage deny'
