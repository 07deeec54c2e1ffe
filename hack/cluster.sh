#!/usr/bin/env bash
# The development control plane: a real etcd and kube-apiserver on 127.0.0.1.
#
#   hack/cluster.sh up       start (or reuse) the control plane, print its kubeconfig path
#   hack/cluster.sh down     stop what `up` started (by pid) and remove its state
#   hack/cluster.sh status   say whether it is running, exit 1 if not
#   hack/cluster.sh env      print `export KUBECONFIG=…` lines for eval
#
# State lives in $AGENTNET_CLUSTER_DIR (default ~/.cache/agentnet/cluster); the e2e
# harness points it at a fresh temporary directory per run. Binaries come from
# hack/testbin.sh. There is no scheduler, kubelet or controller-manager: Pods are
# stored and stay Pending, which is all admission, CRD and identity tests need.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"

DIR=${AGENTNET_CLUSTER_DIR:-$AGENTNET_CACHE/cluster}
PKI=$DIR/pki
KUBECONFIG_FILE=$DIR/kubeconfig

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

alive() { [[ -f "$DIR/$1.pid" ]] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

readyz() {
  curl -sf --max-time 2 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://127.0.0.1:$(cat "$DIR/apiserver.port")/readyz" >/dev/null 2>&1
}

running() { alive etcd && alive kube-apiserver && readyz; }

# wait_for <what> <seconds> <log> <command...>: poll until the command succeeds.
wait_for() {
  local what=$1 secs=$2 logf=$3; shift 3
  local deadline=$((SECONDS + secs))
  until "$@"; do
    if ((SECONDS >= deadline)); then
      tail -25 "$logf" >&2 || true
      die "$what did not become ready within ${secs}s; see $logf"
    fi
    sleep 0.2
  done
}

gen_pki() {
  mkdir -p "$PKI" && chmod 700 "$PKI"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=agentnet-dev-ca" -keyout "$PKI/ca.key" -out "$PKI/ca.crt" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  # leaf <name> <subject> <extensions>
  leaf() {
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$2" \
      -keyout "$PKI/$1.key" -out "$PKI/$1.csr" 2>/dev/null
    openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
      -days 365 -out "$PKI/$1.crt" -extfile <(printf '%s\n' "$3") 2>/dev/null
    rm -f "$PKI/$1.csr"
  }
  leaf apiserver "/CN=kube-apiserver" \
    "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc
extendedKeyUsage=serverAuth"
  leaf admin "/O=system:masters/CN=agentnet-admin" "extendedKeyUsage=clientAuth"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/sa.key" 2>/dev/null
  openssl ec -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  chmod 600 "$PKI"/*.key
}

write_kubeconfig() {
  local port=$1
  b64() { base64 -w0 <"$1"; }
  cat >"$KUBECONFIG_FILE.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: agentnet-dev
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority-data: $(b64 "$PKI/ca.crt")
users:
- name: agentnet-admin
  user:
    client-certificate-data: $(b64 "$PKI/admin.crt")
    client-key-data: $(b64 "$PKI/admin.key")
contexts:
- name: agentnet-dev
  context: {cluster: agentnet-dev, user: agentnet-admin}
current-context: agentnet-dev
EOF
  chmod 600 "$KUBECONFIG_FILE.tmp"
  mv "$KUBECONFIG_FILE.tmp" "$KUBECONFIG_FILE"
}

up() {
  if [[ -f "$DIR/apiserver.port" ]] && running; then
    log "control plane already running ($(cat "$DIR/apiserver.url"))"
    echo "$KUBECONFIG_FILE"
    return 0
  fi
  # A half-started or crashed previous run: clear it before starting afresh.
  down_quiet
  command -v openssl >/dev/null || die "openssl is required (apt-get install openssl)"
  command -v curl >/dev/null || die "curl is required (apt-get install curl)"
  command -v python3 >/dev/null || die "python3 is required (apt-get install python3)"
  local bin
  bin=$("$HACK_DIR/testbin.sh")
  mkdir -p "$DIR" && chmod 700 "$DIR"
  gen_pki

  local etcd_port etcd_peer api_port
  etcd_port=$(free_port); etcd_peer=$(free_port); api_port=$(free_port)
  echo "$api_port" >"$DIR/apiserver.port"
  echo "https://127.0.0.1:$api_port" >"$DIR/apiserver.url"

  log "starting etcd on 127.0.0.1:$etcd_port (log: $DIR/etcd.log)"
  setsid "$bin/etcd" --name agentnet-dev --data-dir "$DIR/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "agentnet-dev=http://127.0.0.1:$etcd_peer" \
    --unsafe-no-fsync --log-level warn >"$DIR/etcd.log" 2>&1 </dev/null &
  echo $! >"$DIR/etcd.pid"
  wait_for etcd 30 "$DIR/etcd.log" curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$etcd_port/health"

  log "starting kube-apiserver on 127.0.0.1:$api_port (log: $DIR/kube-apiserver.log)"
  setsid "$bin/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
    --endpoint-reconciler-type=none \
    --cert-dir="$DIR/apiserver-certs" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --service-account-issuer="https://127.0.0.1:$api_port" \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 \
    --authorization-mode=RBAC --allow-privileged=true \
    --feature-gates=PodCertificateRequest=true,ClusterTrustBundle=true,ClusterTrustBundleProjection=true \
    --runtime-config=certificates.k8s.io/v1beta1/podcertificaterequests=true,certificates.k8s.io/v1beta1/clustertrustbundles=true \
    >"$DIR/kube-apiserver.log" 2>&1 </dev/null &
  echo $! >"$DIR/kube-apiserver.pid"
  wait_for kube-apiserver 120 "$DIR/kube-apiserver.log" readyz
  write_kubeconfig "$api_port"
  local version
  version=$(curl -sf --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://127.0.0.1:$api_port/version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["gitVersion"])')
  log "kube-apiserver $version ready at https://127.0.0.1:$api_port"
  echo "$KUBECONFIG_FILE"
}

stop() { # name
  alive "$1" || return 0
  local pid; pid=$(cat "$DIR/$1.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

down_quiet() {
  stop kube-apiserver
  stop etcd
  # Only ever remove a directory this script created (it holds our pid files or pki).
  if [[ -d "$DIR" && ( -d "$DIR/pki" || -f "$DIR/etcd.pid" ) ]]; then
    rm -rf "$DIR"
  fi
}

case ${1:-} in
  up) up ;;
  down) down_quiet; log "control plane stopped" ;;
  status)
    if [[ -f "$DIR/apiserver.port" ]] && running; then
      echo "running: $(cat "$DIR/apiserver.url") (KUBECONFIG=$KUBECONFIG_FILE)"
    else
      echo "not running"; exit 1
    fi ;;
  env)
    [[ -f "$KUBECONFIG_FILE" ]] || die "no control plane; run hack/cluster.sh up"
    echo "export KUBECONFIG=$KUBECONFIG_FILE"
    echo "export PATH=$(testbin_dir):\$PATH" ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
