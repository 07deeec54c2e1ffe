# shellcheck shell=bash disable=SC2034 # settings read by the scripts that source this file
# Shared settings for hack/ scripts: pinned versions and the cache layout.
# Sourced, never executed.

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.0
HELM_VERSION=v3.22.0
# The real node's runtime (hack/node.sh): containerd v2 and CoreDNS from the module proxy.
CONTAINERD_VERSION=v2.4.2
COREDNS_VERSION=v1.15.0
# The fuzz runner (hack/fuzz.sh), installed with cargo install.
CARGO_FUZZ_VERSION=0.13.2
# The dev cluster's Service range and the two addresses in it that are fixed.
SERVICE_CIDR=10.96.0.0/16
SERVICE_KUBERNETES_IP=10.96.0.1
SERVICE_DNS_IP=10.96.0.10
# The dev node: its name, its pods' network and bridge.
NODE_NAME=agentnet-dev-node
POD_CIDR=10.244.0.0/16
NODE_BRIDGE=agentnet0

# Images the dev node runs that are no product of ours (hack/images.sh builds them).
PAUSE_IMAGE=localhost/agentnet-node/pause:1
COREDNS_IMAGE=localhost/agentnet-node/coredns:$COREDNS_VERSION
# The real MCP/A2A SDK peers and the demo agent (hack/peers, pinned SDKs).
PEERS_IMAGE=localhost/agentnet-e2e/peers:dev

AGENTNET_CACHE=${AGENTNET_CACHE:-$HOME/.cache/agentnet}
HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HACK_DIR/.." && pwd)

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

go_version() { go env GOVERSION 2>/dev/null; }

# The directory holding the Kubernetes binaries (control plane, node, kubectl), etcd and
# helm for the pinned versions.
testbin_dir() {
  echo "$AGENTNET_CACHE/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-helm-$HELM_VERSION-$(go_version)"
}

# The directory holding containerd, its runc shim, ctr and CoreDNS.
nodebin_dir() {
  echo "$AGENTNET_CACHE/bin/containerd-$CONTAINERD_VERSION-coredns-$COREDNS_VERSION-$(go_version)"
}
