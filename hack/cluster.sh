#!/usr/bin/env bash
# The development cluster: a real etcd and kube-apiserver and, with --node, a real node.
#
#   hack/cluster.sh up [--node]   start (or reuse) it, print its kubeconfig path
#   hack/cluster.sh down          stop what `up` started (by pid), undo its host changes,
#                                 remove its state
#   hack/cluster.sh status        say whether it is running, exit 1 if not
#   hack/cluster.sh env           print `export KUBECONFIG=…` lines for eval
#   hack/cluster.sh apiserver kill|start
#                                 SIGKILL the API server / start it again as `up` did
#                                 (fault tests: etcd and everything else keep running)
#
# Without --node (the control-plane-only mode of the fast e2e tests): the API server on
# 127.0.0.1, no scheduler, kubelet or controllers; Pods are stored and stay Pending, which
# is all admission, CRD and identity tests need.
#
# With --node (root; one per machine): the API server also listens on the node's address
# and backs the `kubernetes` Service, with Node,RBAC authorization and NodeRestriction,
# and hack/node.sh adds kube-controller-manager, kube-scheduler, containerd, the kubelet
# (with its own node identity and serving certificate), kube-proxy and CoreDNS: Pods run.
# See docs/development.md.
#
# State lives in $AGENTNET_CLUSTER_DIR (default ~/.cache/agentnet/cluster); the e2e
# harness points it at a fresh temporary directory per run. Binaries come from
# hack/testbin.sh.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"

DIR=${AGENTNET_CLUSTER_DIR:-$AGENTNET_CACHE/cluster}
PKI=$DIR/pki
KUBECONFIG_FILE=$DIR/kubeconfig
NODE_IP=""

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
  local sans="IP:127.0.0.1,DNS:localhost,IP:$SERVICE_KUBERNETES_IP,DNS:kubernetes,DNS:kubernetes.default"
  sans+=",DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  [[ -n $NODE_IP ]] && sans+=",IP:$NODE_IP"
  leaf apiserver "/CN=kube-apiserver" "subjectAltName=$sans
extendedKeyUsage=serverAuth"
  leaf admin "/O=system:masters/CN=agentnet-admin" "extendedKeyUsage=clientAuth"
  if [[ -n $NODE_IP ]]; then
    # Each component its own identity, as kubeadm issues them: bootstrap RBAC binds
    # system:kube-controller-manager, system:kube-scheduler and system:kube-proxy, the
    # Node authorizer knows system:node:<name>, and the API server's kubelet client is
    # bound to system:kubelet-api-admin once the API server runs.
    local client="extendedKeyUsage=clientAuth"
    leaf apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client" "$client"
    leaf controller-manager "/CN=system:kube-controller-manager" "$client"
    leaf scheduler "/CN=system:kube-scheduler" "$client"
    leaf kube-proxy "/CN=system:kube-proxy" "$client"
    leaf kubelet-client "/O=system:nodes/CN=system:node:$NODE_NAME" "$client"
    leaf kubelet-serving "/O=system:nodes/CN=system:node:$NODE_NAME" "subjectAltName=IP:$NODE_IP,DNS:$NODE_NAME
extendedKeyUsage=serverAuth"
  fi
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/sa.key" 2>/dev/null
  openssl ec -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  chmod 600 "$PKI"/*.key
}

# write_kubeconfig PORT [FILE CERT USER]: a kubeconfig for the admin (default) or for a
# component, with the client certificate pki/CERT.crt.
write_kubeconfig() {
  local port=$1 file=${2:-$KUBECONFIG_FILE} cert=${3:-admin} user=${4:-agentnet-admin}
  b64() { base64 -w0 <"$1"; }
  cat >"$file.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: agentnet-dev
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority-data: $(b64 "$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(b64 "$PKI/$cert.crt")
    client-key-data: $(b64 "$PKI/$cert.key")
contexts:
- name: agentnet-dev
  context: {cluster: agentnet-dev, user: $user}
current-context: agentnet-dev
EOF
  chmod 600 "$file.tmp"
  mv "$file.tmp" "$file"
}

up() {
  local node=0 arg
  for arg in "$@"; do
    case $arg in
      --node) node=1 ;;
      *) die "unknown argument to up: $arg (usage: hack/cluster.sh up [--node])" ;;
    esac
  done
  if [[ -f "$DIR/apiserver.port" ]] && running; then
    if ((node)) && [[ ! -f $DIR/node-ip ]]; then
      die "a control plane without a node already runs in $DIR; run hack/cluster.sh down first"
    fi
    ((node)) && "$HACK_DIR/node.sh" up "$DIR" >&2
    log "cluster already running ($(cat "$DIR/apiserver.url"))"
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
  if ((node)); then
    "$HACK_DIR/node.sh" check
    NODE_IP=$("$HACK_DIR/node.sh" node-ip)
  fi
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

  # Control-plane-only: loopback, and no `kubernetes` endpoints (nothing in a pod needs
  # them). With a node: every address, so pods reach it through the `kubernetes`
  # Service, whose endpoint (the node's address) the API server maintains itself.
  local -a mode_flags
  if ((node)); then
    # shellcheck disable=SC2054 # the commas are inside flag values
    mode_flags=(--bind-address=0.0.0.0 --advertise-address="$NODE_IP" --endpoint-reconciler-type=lease
      --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction
      --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt"
      --kubelet-client-key="$PKI/apiserver-kubelet-client.key"
      --kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP)
  else
    mode_flags=(--bind-address=127.0.0.1 --advertise-address=127.0.0.1 --endpoint-reconciler-type=none
      --authorization-mode=RBAC)
  fi
  log "starting kube-apiserver on port $api_port (log: $DIR/kube-apiserver.log)"
  # Kept so that `apiserver start` can bring the same server back (fault tests).
  local -a apiserver=("$bin/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$etcd_port" --secure-port="$api_port" "${mode_flags[@]}" \
    --cert-dir="$DIR/apiserver-certs" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --service-account-issuer="https://127.0.0.1:$api_port" \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" --allow-privileged=true \
    --feature-gates=PodCertificateRequest=true,ClusterTrustBundle=true,ClusterTrustBundleProjection=true \
    --runtime-config=certificates.k8s.io/v1beta1/podcertificaterequests=true,certificates.k8s.io/v1beta1/clustertrustbundles=true)
  printf '%q ' "${apiserver[@]}" >"$DIR/kube-apiserver.cmd"
  start_apiserver
  write_kubeconfig "$api_port"
  local version
  version=$(curl -sf --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://127.0.0.1:$api_port/version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["gitVersion"])')
  log "kube-apiserver $version ready at https://127.0.0.1:$api_port"
  if ((node)); then
    echo "$NODE_IP" >"$DIR/node-ip"
    local component
    for component in controller-manager scheduler kube-proxy kubelet-client; do
      write_kubeconfig "$api_port" "$DIR/$component.kubeconfig" "$component" "$component"
    done
    "$HACK_DIR/node.sh" up "$DIR" >&2
  fi
  echo "$KUBECONFIG_FILE"
}

# Starts the API server from the command line `up` saved, and waits until it is ready.
start_apiserver() {
  [[ -f $DIR/kube-apiserver.cmd ]] || die "no cluster in $DIR; run hack/cluster.sh up"
  alive kube-apiserver && die "kube-apiserver already runs (pid $(cat "$DIR/kube-apiserver.pid"))"
  local -a cmd
  eval "cmd=($(cat "$DIR/kube-apiserver.cmd"))"
  setsid "${cmd[@]}" >>"$DIR/kube-apiserver.log" 2>&1 </dev/null &
  echo $! >"$DIR/kube-apiserver.pid"
  wait_for kube-apiserver 120 "$DIR/kube-apiserver.log" readyz
}

# Kills the API server at once (SIGKILL, no graceful shutdown): what a crash looks like.
kill_apiserver() {
  alive kube-apiserver || die "kube-apiserver does not run in $DIR"
  local pid; pid=$(cat "$DIR/kube-apiserver.pid")
  kill -9 "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
  die "kube-apiserver (pid $pid) survived SIGKILL"
}

stop() { # name
  alive "$1" || return 0
  local pid; pid=$(cat "$DIR/$1.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

down_quiet() {
  # The node first: it stops pods through the API server and undoes its host changes.
  if [[ -d $DIR/node ]]; then
    "$HACK_DIR/node.sh" down "$DIR" >&2 || log "the node's teardown reported problems (above)"
  fi
  stop kube-apiserver
  stop etcd
  # Only ever remove a directory this script created (it holds our pid files or pki).
  if [[ -d "$DIR" && ( -d "$DIR/pki" || -f "$DIR/etcd.pid" ) ]]; then
    rm -rf "$DIR"
  fi
}

case ${1:-} in
  up) shift; up "$@" ;;
  down) down_quiet; log "cluster stopped" ;;
  status)
    if [[ -f "$DIR/apiserver.port" ]] && running; then
      echo "running: $(cat "$DIR/apiserver.url") (KUBECONFIG=$KUBECONFIG_FILE)"
    else
      echo "not running"; exit 1
    fi ;;
  env)
    [[ -f "$KUBECONFIG_FILE" ]] || die "no cluster; run hack/cluster.sh up"
    echo "export KUBECONFIG=$KUBECONFIG_FILE"
    echo "export PATH=$(testbin_dir):\$PATH" ;;
  apiserver)
    case ${2:-} in
      kill) kill_apiserver; log "kube-apiserver killed" ;;
      start) start_apiserver; log "kube-apiserver ready at $(cat "$DIR/apiserver.url")" ;;
      *) die "usage: $0 apiserver kill|start" ;;
    esac ;;
  *) echo "usage: $0 up [--node]|down|status|env|apiserver kill|start" >&2; exit 2 ;;
esac
