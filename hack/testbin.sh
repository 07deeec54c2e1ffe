#!/usr/bin/env bash
# Builds the test control plane (kube-apiserver, etcd, kubectl, kube-controller-manager,
# kube-scheduler), the node (kubelet, kube-proxy, containerd, CoreDNS) and helm from the
# Go module proxy into ~/.cache/agentnet/bin/<versions>/, only when missing.
# Prints the Kubernetes directory on stdout (hack/lib.sh nodebin_dir names the other). See ../README.md "Development control plane".
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"

command -v go >/dev/null || die "go is required (Debian: apt-get install golang, or the Go toolchain from go.dev)"

out=$(testbin_dir)
node_out=$(nodebin_dir)
mkdir -p "$out" "$node_out"
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}

build() { # name, module dir, package, ldflags[, output dir[, tags]]
  local name=$1 dir=$2 pkg=$3 ldflags=$4 out=${5:-$out} tags=${6:-}
  [[ -x "$out/$name" ]] && return 0
  log "building $name ($pkg); logs: $out/$name.build.log"
  local start=$SECONDS
  if ! (cd "$dir" && CGO_ENABLED=0 go build -trimpath -tags "$tags" -ldflags "-s -w $ldflags" -o "$out/$name.tmp" "$pkg") >"$out/$name.build.log" 2>&1; then
    tail -20 "$out/$name.build.log" >&2
    die "building $name failed; see $out/$name.build.log"
  fi
  mv "$out/$name.tmp" "$out/$name"
  log "built $name in $((SECONDS - start))s"
}

all_built() {
  for b in kube-apiserver kubectl etcd helm kubelet kube-proxy kube-scheduler kube-controller-manager; do
    [[ -x "$out/$b" ]] || return 1
  done
  for b in containerd containerd-shim-runc-v2 ctr coredns; do [[ -x "$node_out/$b" ]] || return 1; done
}
if all_built; then
  echo "$out"
  exit 0
fi

# Downloads first, so network failures are told apart from compile failures.
for dir in kube-testbin helm-bin node-bin coredns-bin; do
  if ! (cd "$HACK_DIR/$dir" && go mod download) >"$out/download-$dir.log" 2>&1; then
    tail -20 "$out/download-$dir.log" >&2
    die "go mod download failed in hack/$dir; see $out/download-$dir.log"
  fi
done

kver="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
build kube-apiserver "$HACK_DIR/kube-testbin" k8s.io/kubernetes/cmd/kube-apiserver "$kver"
build kubectl "$HACK_DIR/kube-testbin" k8s.io/kubernetes/cmd/kubectl "$kver"
# The node and the controllers (real-node mode): same module, same flags.
for cmd in kubelet kube-controller-manager kube-scheduler kube-proxy; do
  build "$cmd" "$HACK_DIR/kube-testbin" "k8s.io/kubernetes/cmd/$cmd" "$kver"
done
build etcd "$HACK_DIR/kube-testbin" go.etcd.io/etcd/server/v3 "-X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION"
hver="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
hver+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor"
hver+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor"
build helm "$HACK_DIR/helm-bin" helm.sh/helm/v3/cmd/helm "$hver"

# containerd without the snapshotters that need cgo or kernel features we do not use.
cver="-X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION"
ctags="no_btrfs no_devmapper no_zfs no_aufs"
for cmd in containerd containerd-shim-runc-v2 ctr; do
  build "$cmd" "$HACK_DIR/node-bin" "github.com/containerd/containerd/v2/cmd/$cmd" "$cver" "$node_out" "$ctags"
done
build coredns "$HACK_DIR/coredns-bin" github.com/coredns/coredns "" "$node_out"

echo "$out"
