#!/usr/bin/env bash
# Benchmarks agentnet-sidecar side by side with a direct connection and with nginx as a
# plain reverse proxy, in one run, interleaved, on loopback; then measures policy
# propagation against a real API server; as root, also compares a transparently captured
# call with an HTTP_PROXY call through the same sidecar (two network namespaces joined by
# a veth pair, the capture rules installed by `agentnet-sidecar init`). Prints the tables and writes them, with the
# machine description, to BENCHMARKS.md (or $BENCH_OUT).
#
#   hack/bench.sh                 full run (about 6 minutes once built; the size-optimised
#                                 release build adds about 4 on 2 cores)
#   BENCH_DURATION=2s hack/bench.sh   shorter measured windows
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

DURATION=${BENCH_DURATION:-4s}
WARMUP=${BENCH_WARMUP:-1s}
OUT=${BENCH_OUT:-$REPO_ROOT/BENCHMARKS.md}
T=$REPO_ROOT/target/release

if ! command -v nginx >/dev/null; then
  log "installing nginx (the reference reverse proxy)"
  sudo=""; [[ $(id -u) == 0 ]] || sudo=sudo
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx >/dev/null || die "apt-get install nginx failed"
fi
log "building release binaries"
cargo build --release -q -p agentnet-sidecar -p agentnet-bench

WORK=$(mktemp -d "${TMPDIR:-/tmp}/agentnet-bench.XXXXXX")
PIDS=()
NS_AGENT=agentnet-bench-agent NS_SERVER=agentnet-bench-server
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  # Deleting the namespaces removes the veth pair and the capture rules with them.
  for ns in "$NS_AGENT" "$NS_SERVER"; do ip netns del "$ns" 2>/dev/null || true; done
  [[ -f "$WORK/nginx.pid" ]] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  AGENTNET_CLUSTER_DIR=$WORK/cluster "$HACK_DIR/cluster.sh" down >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
# start <name> <cmd...>: background a process, logging to $WORK/<name>.log.
start() {
  local name=$1; shift
  "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  eval "PID_${name//-/_}=$!"
}
wait_http() { # url
  for _ in $(seq 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
  die "$1 did not answer; logs in $WORK"
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
anon_kb() { awk '/^RssAnon/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# --- upstream and proxies -----------------------------------------------------------
start mock "$T/agentnet-mock-mcp" --listen 127.0.0.1:0
for _ in $(seq 50); do grep -q listening "$WORK/mock.log" 2>/dev/null && break; sleep 0.1; done
MOCK=$(sed -n 's/^listening on //p' "$WORK/mock.log")
[[ -n $MOCK ]] || die "the mock server did not start; see $WORK/mock.log"

declare -A PROXY_PORT ADMIN_PORT
for n in 10 1000; do
  mkdir -p "$WORK/policies-$n"
  "$T/agentnet-benchgen" --policies "$n" --upstream "$MOCK" --out "$WORK/policies-$n/bench.yaml"
  PROXY_PORT[$n]=$(free_port); ADMIN_PORT[$n]=$(free_port)
  start "sidecar$n" "$T/agentnet-sidecar" --config-dir "$WORK/policies-$n" \
    --outbound-addr "127.0.0.1:${PROXY_PORT[$n]}" --admin-addr "127.0.0.1:${ADMIN_PORT[$n]}" \
    --namespace bench --service-account agent --log warn
  wait_http "http://127.0.0.1:${ADMIN_PORT[$n]}/ready"
done

NGINX_PORT=$(free_port)
cat >"$WORK/nginx.conf" <<EOF
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log $WORK/nginx-access.log;
  upstream mock { server $MOCK; keepalive 64; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    keepalive_requests 1000000;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
EOF
nginx -c "$WORK/nginx.conf" -p "$WORK" -e "$WORK/nginx-error.log" || die "nginx did not start; see $WORK/nginx-error.log"
sleep 0.3

sleep 2
IDLE10=$(rss_kb "$PID_sidecar10"); IDLE1000=$(rss_kb "$PID_sidecar1000")
ANON10=$(anon_kb "$PID_sidecar10"); ANON1000=$(anon_kb "$PID_sidecar1000")
log "idle RSS: $IDLE10 kB (10 policies), $IDLE1000 kB (1,000 policies)"

# --- load -----------------------------------------------------------------------------
url_of() {
  case $1 in
    tools-call-sse) echo "http://mcp-sse.bench:8081/sse" ;;
    a2a-send) echo "http://agent.bench:8082/" ;;
    *) echo "http://mcp-json.bench:8080/mcp" ;;
  esac
}
# run <config> <scenario> <rate>: one loadgen run; appends a JSON line to results.
# The sidecars get absolute-form requests naming the XBackend (HTTP_PROXY style); the
# mock (direct) and nginx (reverse proxy) get the same path in origin form.
run() {
  local config=$1 scenario=$2 rate=$3 url addr mode=()
  url=$(url_of "$scenario")
  case $config in
    direct) addr=$MOCK ;;
    nginx) addr=127.0.0.1:$NGINX_PORT ;;
    sidecar10) addr=127.0.0.1:${PROXY_PORT[10]}; mode=(--proxy) ;;
    sidecar1000) addr=127.0.0.1:${PROXY_PORT[1000]}; mode=(--proxy) ;;
  esac
  ((${#mode[@]})) || url="http://$addr/${url#http://*/}"
  "$T/agentnet-loadgen" --target "$url" --connect "$addr" "${mode[@]}" --scenario "$scenario" \
    --rate "$rate" --duration "$DURATION" --warmup "$WARMUP" --connections 16 \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); r["config"]=sys.argv[1]; print(json.dumps(r))' "$config" \
    >>"$WORK/results.jsonl"
}

SCENARIOS=(tools-call tools-call-sse tools-list denied a2a-send)
CONFIGS=(direct sidecar10 sidecar1000 nginx)
declare -A CPU
for rate in 1000 5000 0; do
  for scenario in "${SCENARIOS[@]}"; do
    log "rate=${rate/#0/closed-loop} $scenario"
    for config in "${CONFIGS[@]}"; do
      # A denial never reaches a server: only the sidecars can answer it.
      [[ $scenario == denied && ( $config == direct || $config == nginx ) ]] && continue
      pid_var=PID_$config
      if [[ $rate == 1000 && $scenario == tools-call && $config == sidecar* ]]; then
        before=$(cpu_ticks "${!pid_var}")
        run "$config" "$scenario" "$rate"
        CPU[$config]=$(( $(cpu_ticks "${!pid_var}") - before ))
      else
        run "$config" "$scenario" "$rate"
      fi
    done
  done
done
PEAK10=$(hwm_kb "$PID_sidecar10"); PEAK1000=$(hwm_kb "$PID_sidecar1000")

# --- transparent capture vs HTTP_PROXY ------------------------------------------------
# The agent namespace holds the load generator and the sidecar (as the pod does), with
# the capture rules the init container installs; the server namespace holds one mock per
# backend (a captured connection's destination address must name one backend). The
# same sidecar answers HTTP_PROXY requests on its listener and captured connections to
# the server's address; "direct" is the load generator under the sidecar's UID, which
# the rules exempt. 10.199.0.0/24 exists only on the veth pair between the namespaces.
CAPTURED=0
# The sidecar's UID, outbound and admin ports (api/src/contract.rs defaults).
SIDECAR_UID=15000 SIDECAR_OUTBOUND=15001 SIDECAR_ADMIN=15000
if [[ $(id -u) == 0 ]]; then
  log "transparent capture: two network namespaces and a veth pair"
  for ns in "$NS_AGENT" "$NS_SERVER"; do
    ip netns del "$ns" 2>/dev/null || true
    ip netns add "$ns"
    ip -n "$ns" link set lo up
  done
  ip link add agnbench0 netns "$NS_AGENT" type veth peer name agnbench1 netns "$NS_SERVER"
  ip -n "$NS_AGENT" addr add 10.199.0.1/24 dev agnbench0
  ip -n "$NS_SERVER" addr add 10.199.0.2/24 dev agnbench1
  ip -n "$NS_AGENT" link set agnbench0 up
  ip -n "$NS_SERVER" link set agnbench1 up
  # The sidecar's UID must read its binary and policies, as in its image.
  CAP=$WORK/capture; mkdir -p "$CAP/policies"; chmod 711 "$WORK"; chmod 755 "$CAP" "$CAP/policies"
  cp "$T/agentnet-sidecar" "$T/agentnet-loadgen" "$CAP/"
  for i in 0 1 2; do
    start "capture-mock$i" ip netns exec "$NS_SERVER" "$T/agentnet-mock-mcp" --listen "10.199.0.2:1808$i"
  done
  "$T/agentnet-benchgen" --policies 3 --upstream 10.199.0.2:18080 --sse-upstream 10.199.0.2:18081 \
    --a2a-upstream 10.199.0.2:18082 --out "$CAP/policies/bench.yaml"
  chmod 644 "$CAP/policies/bench.yaml"
  ip netns exec "$NS_AGENT" "$CAP/agentnet-sidecar" init >"$WORK/capture-init.log" 2>&1 ||
    die "agentnet-sidecar init failed; see $WORK/capture-init.log"
  as_proxy=(setpriv --reuid "$SIDECAR_UID" --regid "$SIDECAR_UID" --clear-groups)
  start sidecar-captured ip netns exec "$NS_AGENT" "${as_proxy[@]}" "$CAP/agentnet-sidecar" \
    --config-dir "$CAP/policies" --capture iptables --namespace bench --service-account agent --log warn
  for _ in $(seq 100); do
    ip netns exec "$NS_AGENT" curl -sf -o /dev/null "http://127.0.0.1:$SIDECAR_ADMIN/ready" && break
    sleep 0.1
  done
  ip netns exec "$NS_AGENT" curl -sf -o /dev/null "http://127.0.0.1:$SIDECAR_ADMIN/ready" ||
    die "the captured sidecar did not become ready; see $WORK/sidecar-captured.log"
  capture_run() { # config scenario rate
    local config=$1 scenario=$2 rate=$3 port path target connect prefix=(ip netns exec "$NS_AGENT") mode=()
    case $scenario in
      tools-call | tools-list) port=18080 path=/mcp ;;
      a2a-send) port=18082 path=/ ;;
    esac
    target=http://10.199.0.2:$port$path connect=10.199.0.2:$port
    case $config in
      veth-direct) prefix+=("${as_proxy[@]}") ;;
      veth-proxy-env) target=$(url_of "$scenario"); connect=127.0.0.1:$SIDECAR_OUTBOUND; mode=(--proxy) ;;
      veth-captured) ;;
    esac
    "${prefix[@]}" "$CAP/agentnet-loadgen" --target "$target" --connect "$connect" "${mode[@]}" \
      --scenario "$scenario" --rate "$rate" --duration "$DURATION" --warmup "$WARMUP" --connections 16 \
      | python3 -c 'import json,sys; r=json.load(sys.stdin); r["config"]=sys.argv[1]; print(json.dumps(r))' "$config" \
      >>"$WORK/results.jsonl"
  }
  for rate in 1000 0; do
    for scenario in tools-call tools-list a2a-send; do
      log "capture: rate=${rate/#0/closed-loop} $scenario"
      for config in veth-direct veth-proxy-env veth-captured; do
        capture_run "$config" "$scenario" "$rate"
      done
    done
  done
  CAPTURED=1
else
  log "not root: skipping the transparent-capture comparison (it needs network namespaces)"
fi

# --- propagation against a real API server -------------------------------------------
log "policy propagation: starting a private control plane"
KUBECONFIG_FILE=$(AGENTNET_CLUSTER_DIR=$WORK/cluster "$HACK_DIR/cluster.sh" up)
BIN=$("$HACK_DIR/testbin.sh")
kc() { KUBECONFIG=$KUBECONFIG_FILE "$BIN/kubectl" "$@"; }
kc apply -f charts/agentnet/crds/ >/dev/null
kc wait --for=condition=Established crd --all --timeout=60s >/dev/null
# EndpointSlices may not hold loopback addresses: a second mock on this machine's own
# address serves the backend (the traffic still never leaves the host).
HOST_IP=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(("10.255.255.255",1)); print(s.getsockname()[0])')
start mock-host "$T/agentnet-mock-mcp" --listen "$HOST_IP:0"
for _ in $(seq 50); do grep -q listening "$WORK/mock-host.log" 2>/dev/null && break; sleep 0.1; done
MOCK_HOST=$(sed -n 's/^listening on //p' "$WORK/mock-host.log")
kc create namespace bench >/dev/null
"$T/agentnet-benchgen" --policies 3 --upstream "$MOCK_HOST" --out "$WORK/kube.yaml"
kc apply -f "$WORK/kube.yaml" >/dev/null
# The propagation tool's own policy alone decides tool-007 on this backend.
kc delete xaccesspolicy -n bench mcp-json-agent >/dev/null
KPORT=$(free_port); KADMIN=$(free_port)
start sidecar-kube "$T/agentnet-sidecar" --kubeconfig "$KUBECONFIG_FILE" \
  --outbound-addr "127.0.0.1:$KPORT" --admin-addr "127.0.0.1:$KADMIN" \
  --namespace bench --service-account agent --log warn
wait_http "http://127.0.0.1:$KADMIN/ready"
PROPAGATION=$("$T/agentnet-propagation" --kubectl "$BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" \
  --proxy "127.0.0.1:$KPORT" --target http://mcp-json.bench:8080/mcp --changes 20)

# --- report ---------------------------------------------------------------------------
log "writing $OUT"
python3 "$HACK_DIR/bench_report.py" "$WORK/results.jsonl" \
  --idle "$IDLE10" "$IDLE1000" --idle-anon "$ANON10" "$ANON1000" --peak "$PEAK10" "$PEAK1000" \
  --cpu "${CPU[sidecar10]:-0}" "${CPU[sidecar1000]:-0}" --ticks "$(getconf CLK_TCK)" \
  --duration "$DURATION" --propagation "$PROPAGATION" --captured "$CAPTURED" --out "$OUT"
cat "$OUT"
