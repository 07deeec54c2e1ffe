#!/usr/bin/env bash
# The dev cluster's real node, started and stopped by hack/cluster.sh (`up --node`):
# kube-controller-manager, kube-scheduler, containerd v2 + runc + the CNI bridge, the
# kubelet, kube-proxy (iptables) and CoreDNS, all as processes of this machine (by pid)
# with their state under <cluster dir>/node.
#
#   hack/node.sh check          can a node run here? (root, tools, no other node)
#   hack/node.sh node-ip        the address the node registers and the API server advertises
#   hack/node.sh up DIR         start the node of the cluster in DIR (idempotent)
#   hack/node.sh down DIR       stop it and undo every change it made to this machine
#
# What a node changes on the machine, and `down` restores (docs/development.md): the
# sysctls the kubelet, kube-proxy and the bridge plugin set; iptables/ip6tables chains
# KUBE-* and CNI-* (kube-proxy, the kubelet, the bridge and portmap plugins); the bridge
# agentnet0 and pod veths; mounts under DIR and containerd's /run/netns/cni-* namespaces;
# the kubelet's kubepods cgroups; /run/containerd and /var/lib/cni. `up` refuses to run
# when another Kubernetes node's chains or our bridge already exist.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"

# Sysctls the node's components write (kubelet: vm.*, kernel.*; kube-proxy:
# route_localnet; the bridge plugin: ip_forward), saved at `up` and restored at `down`.
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward
  net.ipv4.conf.all.route_localnet net.ipv6.conf.all.forwarding
  net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables)
# Host directories the runtime creates outside DIR whatever it is told; removed at `down`
# when they did not exist at `up`.
HOST_DIRS=(/run/containerd /var/lib/cni /run/netns /var/lib/kubelet /var/log/pods /var/log/containers)
# The one node of this machine: which cluster directory owns it.
OWNER=/run/agentnet-dev-node

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# The address of the interface of the default route (the route lookup sends nothing),
# else the first global IPv4 address.
node_ip() {
  local ip
  ip=$(ip -4 -o route get 192.0.2.255 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
  [[ -n $ip && $ip != 127.* ]] || ip=$(ip -4 -o addr show scope global | awk '{sub(/\/.*/, "", $4); print $4; exit}')
  [[ -n $ip ]] || die "this machine has no global IPv4 address for the node"
  echo "$ip"
}

our_chains() { # TOOL: the KUBE-*/CNI-* chains present in any table
  local t
  for t in filter nat mangle; do "$1-save" -t "$t" 2>/dev/null; done | sed -n 's/^:\(KUBE-[^ ]*\|CNI-[^ ]*\) .*/\1/p'
}

check() {
  [[ $(id -u) == 0 ]] || die "the dev node needs root (containerd, the kubelet and iptables change the machine); run as root or use hack/cluster.sh up without --node"
  local missing=() cmd
  for cmd in runc iptables ip6tables iptables-save nft ip conntrack nsenter mount umount; do
    command -v "$cmd" >/dev/null || missing+=("$cmd")
  done
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/portmap && -x /usr/lib/cni/loopback ]] ||
    missing+=("CNI plugins (containernetworking-plugins)")
  ((${#missing[@]} == 0)) || die "the dev node needs: ${missing[*]} (hack/prereqs.sh installs them)"
  if [[ -f $OWNER ]]; then
    local other; other=$(cat "$OWNER")
    if [[ -f $other/node/kubelet.pid ]] && kill -0 "$(cat "$other/node/kubelet.pid")" 2>/dev/null; then
      die "a dev node already runs on this machine (cluster $other); stop it: AGENTNET_CLUSTER_DIR=$other hack/cluster.sh down"
    fi
  fi
  if ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
    die "bridge $NODE_BRIDGE exists but no dev node runs: a previous node was not torn down; remove it with 'ip link del $NODE_BRIDGE'"
  fi
  if [[ -n $(our_chains iptables; our_chains ip6tables) ]]; then
    die "iptables already holds KUBE-*/CNI-* chains (another Kubernetes node, or a dev node that was not torn down); the dev node would change them"
  fi
}

# --- up -------------------------------------------------------------------------------

N="" BIN="" NODEBIN=""
alive() { [[ -f "$N/$1.pid" ]] && kill -0 "$(cat "$N/$1.pid")" 2>/dev/null; }

# start NAME COMMAND...: a process of the node, in its own session, logging to NAME.log.
start() {
  local name=$1; shift
  alive "$name" && return 0
  setsid "$@" >"$N/$name.log" 2>&1 </dev/null &
  echo $! >"$N/$name.pid"
}

wait_for() { # what seconds log command...
  local what=$1 secs=$2 logf=$3; shift 3
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      tail -25 "$logf" >&2 || true
      die "$what did not become ready within ${secs}s; see $logf"
    fi
    sleep 0.3
  done
}

kubectl() { "$BIN/kubectl" --kubeconfig "$DIR/kubeconfig" "$@"; }

save_host_state() {
  [[ -f $N/host.sysctl ]] && return 0
  local key
  for key in "${SYSCTLS[@]}"; do
    [[ -e /proc/sys/${key//.//} ]] && echo "$key=$(sysctl -n "$key")"
  done >"$N/host.sysctl"
  for key in "${HOST_DIRS[@]}"; do [[ -e $key ]] || echo "$key"; done >"$N/host.absent-dirs"
  ls /run/netns 2>/dev/null >"$N/host.netns" || : >"$N/host.netns"
  # The nf_tables tables that exist now: iptables-nft creates the ones it touches.
  nft list tables >"$N/host.nft-tables" 2>/dev/null || : >"$N/host.nft-tables"
  local c
  for c in /sys/fs/cgroup/*/; do [[ -d ${c}kubepods ]] || echo "${c}kubepods"; done >"$N/host.absent-cgroups"
  echo "$DIR" >"$OWNER"
}

write_configs() {
  local cstate=$N/containerd
  mkdir -p "$cstate" "$N/cni/net.d" "$N/cni/ipam" "$N/kubelet" "$N/pod-logs"
  cat >"$cstate/config.toml" <<EOF
version = 3
root = "$cstate/root"
state = "$cstate/state"
[grpc]
  address = "$cstate/containerd.sock"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$PAUSE_IMAGE"
[plugins.'io.containerd.cri.v1.runtime']
  # Without CAP_SYS_RESOURCE (e.g. in a Firecracker VM) oom_score_adj cannot go below 0;
  # clamp it to containerd's own (harmless where it could).
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$(command -v runc)"
        Root = "$cstate/runc"
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$N/cni/net.d"
EOF
  cat >"$N/cni/net.d/10-agentnet-dev.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "agentnet-dev", "plugins": [
  {"type": "bridge", "bridge": "$NODE_BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]],
            "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$N/cni/ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
  local kubelet_port healthz_port
  kubelet_port=$(free_port) healthz_port=$(free_port)
  cat >"$N/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $kubelet_port
healthzBindAddress: 127.0.0.1
healthzPort: $healthz_port
readOnlyPort: 0
tlsCertFile: $DIR/pki/kubelet-serving.crt
tlsPrivateKeyFile: $DIR/pki/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $DIR/pki/ca.crt}
authorization: {mode: Webhook}
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$cstate/containerd.sock
failSwapOn: false
podLogsDir: $N/pod-logs
clusterDomain: cluster.local
clusterDNS: [$SERVICE_DNS_IP]
resolvConf: /etc/resolv.conf
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
maxPods: 60
EOF
  local metrics_port proxy_healthz
  metrics_port=$(free_port) proxy_healthz=$(free_port)
  cat >"$N/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
clientConnection: {kubeconfig: $DIR/kube-proxy.kubeconfig}
metricsBindAddress: 127.0.0.1:$metrics_port
healthzBindAddress: 127.0.0.1:$proxy_healthz
oomScoreAdj: 0
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  echo "$proxy_healthz" >"$N/kube-proxy.healthz-port"
}

up() {
  DIR=$1
  N=$DIR/node
  [[ -f $DIR/kubeconfig && -f $DIR/node-ip ]] || die "no control plane with a node address in $DIR (hack/cluster.sh up --node)"
  NODE_IP=$(cat "$DIR/node-ip")
  BIN=$(testbin_dir) NODEBIN=$(nodebin_dir)
  if alive kubelet && alive containerd; then
    log "dev node $NODE_NAME already running"
    return 0
  fi
  mkdir -p "$N"
  save_host_state
  local archives
  archives=$("$HACK_DIR/images.sh" build node) || die "building the node's images failed"
  write_configs

  kubectl create clusterrolebinding agentnet-dev:apiserver-kubelet-client \
    --clusterrole=system:kubelet-api-admin --user=kube-apiserver-kubelet-client >/dev/null 2>&1 || true

  log "starting kube-controller-manager and kube-scheduler (logs: $N/)"
  local k="$DIR/controller-manager.kubeconfig" s="$DIR/scheduler.kubeconfig"
  start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig="$k" \
    --authentication-kubeconfig="$k" --authorization-kubeconfig="$k" \
    --bind-address=127.0.0.1 --secure-port="$(free_port)" --leader-elect=false \
    --use-service-account-credentials=true --service-account-private-key-file="$DIR/pki/sa.key" \
    --root-ca-file="$DIR/pki/ca.crt" --cluster-signing-cert-file="$DIR/pki/ca.crt" \
    --cluster-signing-key-file="$DIR/pki/ca.key" --service-cluster-ip-range="$SERVICE_CIDR" \
    --node-monitor-grace-period=20s
  start kube-scheduler "$BIN/kube-scheduler" --kubeconfig="$s" --authentication-kubeconfig="$s" \
    --authorization-kubeconfig="$s" --bind-address=127.0.0.1 --secure-port="$(free_port)" --leader-elect=false

  log "starting containerd $CONTAINERD_VERSION (log: $N/containerd.log)"
  # The shim containerd starts must be ours (v2), first on its PATH.
  start containerd env PATH="$NODEBIN:$PATH" "$NODEBIN/containerd" --config "$N/containerd/config.toml"
  wait_for containerd 30 "$N/containerd.log" "$NODEBIN/ctr" --address "$N/containerd/containerd.sock" version
  local archive
  for archive in $archives; do
    "$NODEBIN/ctr" --address "$N/containerd/containerd.sock" -n k8s.io images import "$archive" >/dev/null ||
      die "importing $archive into containerd failed"
  done

  log "starting the kubelet as node $NODE_NAME at $NODE_IP (log: $N/kubelet.log)"
  start kubelet "$BIN/kubelet" --config "$N/kubelet.yaml" --kubeconfig "$DIR/kubelet-client.kubeconfig" \
    --root-dir "$N/kubelet" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP"
  log "starting kube-proxy (log: $N/kube-proxy.log)"
  start kube-proxy "$BIN/kube-proxy" --config "$N/kube-proxy.yaml"

  wait_for "node $NODE_NAME Ready" 90 "$N/kubelet.log" \
    kubectl wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s
  wait_for "kube-proxy" 30 "$N/kube-proxy.log" curl -sf "http://127.0.0.1:$(cat "$N/kube-proxy.healthz-port")/healthz"
  # The node lifecycle controller lifts the not-ready taint shortly after Ready.
  wait_for "the not-ready taint to be lifted" 60 "$N/kube-controller-manager.log" \
    bash -c "! '$BIN/kubectl' --kubeconfig '$DIR/kubeconfig' get node '$NODE_NAME' -o jsonpath='{.spec.taints}' | grep -q not-ready"

  log "starting CoreDNS ($SERVICE_DNS_IP)"
  sed -e "s|\${COREDNS_IMAGE}|$COREDNS_IMAGE|" -e "s|\${SERVICE_DNS_IP}|$SERVICE_DNS_IP|" \
    "$HACK_DIR/node/coredns.yaml" | kubectl apply -f - >/dev/null
  wait_for "CoreDNS" 90 "$N/kubelet.log" \
    kubectl -n kube-system rollout status deployment/coredns --timeout=2s
  echo "$NODE_NAME" >"$N/node.name"
  log "dev node $NODE_NAME Ready: kubelet $K8S_VERSION, containerd $CONTAINERD_VERSION, CoreDNS $COREDNS_VERSION"
}

# --- down -----------------------------------------------------------------------------

stop() { # NAME [SIGNAL]: by pid, SIGKILL after 10 s
  alive "$1" || return 0
  local pid; pid=$(cat "$N/$1.pid")
  kill "${2:--TERM}" "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

ctr_() { "$NODEBIN/ctr" --address "$N/containerd/containerd.sock" -n k8s.io "$@"; }

# Stops every pod the clean way while the kubelet still runs (it tears each sandbox's
# network down through CNI), then sweeps what is left with ctr.
stop_pods() {
  if alive kubelet && [[ -f $DIR/kube-apiserver.pid ]] && kill -0 "$(cat "$DIR/kube-apiserver.pid")" 2>/dev/null; then
    kubectl delete pods --all-namespaces --all --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
    local deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)) && [[ -n $(ctr_ tasks list -q 2>/dev/null) ]]; do sleep 0.5; done
  fi
  if alive containerd; then
    local id
    for id in $(ctr_ tasks list -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
    sleep 0.5
    for id in $(ctr_ tasks list -q 2>/dev/null); do ctr_ tasks delete -f "$id" >/dev/null 2>&1 || true; done
    for id in $(ctr_ containers list -q 2>/dev/null); do ctr_ containers delete "$id" >/dev/null 2>&1 || true; done
  fi
}

kill_strays() { # processes still running a binary of the node (shims, pause, apps) by exe
  local pid exe
  for pid in /proc/[0-9]*; do
    exe=$(readlink "$pid/exe" 2>/dev/null) || continue
    case $exe in
      "$NODEBIN"/containerd-shim-runc-v2) kill -9 "${pid#/proc/}" 2>/dev/null || true ;;
    esac
  done
}

unmount_all() { # every mount under DIR and containerd's netns mounts, deepest first
  local m
  while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(
    awk -v d="$DIR/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r)
  for m in /run/netns/cni-*; do
    [[ -e $m ]] || continue
    grep -qx "$(basename "$m")" "$N/host.netns" 2>/dev/null && continue
    umount "$m" 2>/dev/null || true
    rm -f "$m"
  done
}

# Removes every KUBE-*/CNI-* chain and every rule that jumps to one, in one atomic
# restore per table (`check` refused to start when any existed before).
remove_chains() {
  local tool table saved
  for tool in iptables ip6tables; do
    for table in filter nat mangle; do
      saved=$("$tool-save" -t "$table" 2>/dev/null) || continue
      grep -qE '(KUBE|CNI)-' <<<"$saved" || continue
      grep -vE '^:(KUBE|CNI)-|-A (KUBE|CNI)-|-j (KUBE|CNI)-|-g (KUBE|CNI)-' <<<"$saved" | "$tool-restore" -T "$table" ||
        log "could not restore $tool table $table; check '$tool-save -t $table'"
    done
  done
  # Tables iptables-nft created for the node (empty now) go too.
  local line
  while IFS= read -r line; do
    [[ $line == table\ * ]] || continue
    grep -qxF "$line" "$N/host.nft-tables" 2>/dev/null && continue
    # shellcheck disable=SC2086 # "table <family> <name>" are three words
    nft delete $line 2>/dev/null || log "could not delete nf_tables ${line}"
  done < <(nft list tables 2>/dev/null)
}

restore_host_state() {
  local line
  if [[ -f $N/host.sysctl ]]; then
    while IFS= read -r line; do sysctl -qw "$line" >/dev/null 2>&1 || log "could not restore sysctl $line"; done <"$N/host.sysctl"
  fi
  ip link del "$NODE_BRIDGE" 2>/dev/null || true
  if [[ -f $N/host.absent-cgroups ]]; then
    while IFS= read -r line; do
      [[ -d $line ]] && find "$line" -depth -type d -exec rmdir {} + 2>/dev/null
      [[ -d $line ]] && log "cgroup $line is still in use; not removed"
    done <"$N/host.absent-cgroups"
  fi
  if [[ -f $N/host.absent-dirs ]]; then
    while IFS= read -r line; do [[ -n $line ]] && rm -rf "$line"; done <"$N/host.absent-dirs"
  fi
  [[ -f $OWNER && $(cat "$OWNER") == "$DIR" ]] && rm -f "$OWNER"
  return 0
}

down() {
  DIR=$1
  N=$DIR/node
  [[ -d $N ]] || return 0
  BIN=$(testbin_dir) NODEBIN=$(nodebin_dir)
  # No new pods (ReplicaSets would replace the ones deleted below), then the pods.
  stop kube-controller-manager
  stop kube-scheduler
  stop_pods
  stop kubelet
  stop kube-proxy
  [[ -x $BIN/kube-proxy && -f $N/kube-proxy.yaml ]] && "$BIN/kube-proxy" --config "$N/kube-proxy.yaml" --cleanup >/dev/null 2>&1
  stop containerd
  kill_strays
  unmount_all
  remove_chains
  restore_host_state
  rm -rf "$N"
  log "dev node stopped; host changes undone"
}

case ${1:-} in
  check) check ;;
  node-ip) node_ip ;;
  up) [[ -n ${2:-} ]] || die "usage: hack/node.sh up DIR"; up "$2" ;;
  down) [[ -n ${2:-} ]] || die "usage: hack/node.sh down DIR"; down "$2" ;;
  *) echo "usage: $0 check|node-ip|up DIR|down DIR" >&2; exit 2 ;;
esac
