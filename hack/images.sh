#!/usr/bin/env bash
# Builds agentnet's container images with standard tools and no registry, and loads them
# into the dev node's containerd.
#
#   hack/images.sh build [GROUP...]    build what is missing; print one archive path per image
#   hack/images.sh import [GROUP...]   build, then import into the running dev node
#   hack/images.sh refs [GROUP...]     print the image references
#
# Groups: agentnet (agentnet-sidecar, agentnet-webhook: what users deploy), node (the
# pause and CoreDNS images the dev node runs), peers (the real MCP/A2A SDK peers and the
# demo agent). Default: all three.
#
# agentnet images: `cargo build --release`, then a root filesystem with the binary, the
# shared libraries it links, CA roots and a non-root user (and iptables, for the
# sidecar's capture init container), built from images/<name>.Containerfile with
# `buildah bud` (Debian's buildah; or AGENTNET_IMAGE_TOOL=docker|podman). This is the
# path docs/images.md gives users, so the images the tests run are the images users
# build. Archives (docker-archive, loadable by `docker load`, `kind load image-archive`
# and `ctr images import`) are cached under ~/.cache/agentnet/images by content.
#
# Environment:
#   AGENTNET_IMAGE_REGISTRY   registry path of the agentnet images (default ghcr.io/agentnet-dev)
#   AGENTNET_IMAGE_TAG        their tag (default: the chart's appVersion)
#   AGENTNET_IMAGE_TOOL       buildah (default), docker or podman
#   AGENTNET_CLUSTER_DIR      the dev cluster whose containerd `import` loads into
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"

IMAGES=$AGENTNET_CACHE/images
TOOL=${AGENTNET_IMAGE_TOOL:-buildah}
APP_VERSION=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$REPO_ROOT/charts/agentnet/Chart.yaml")
REGISTRY=${AGENTNET_IMAGE_REGISTRY:-ghcr.io/agentnet-dev}
TAG=${AGENTNET_IMAGE_TAG:-$APP_VERSION}
# The UIDs the chart runs the webhook (its Deployment's securityContext) and the
# sidecar (value sidecar.uid, which the capture rules exempt) as.
NONROOT_UID=65532
SIDECAR_UID=15000

ref_of() { # image name -> reference
  case $1 in
    agentnet-sidecar | agentnet-webhook) echo "$REGISTRY/$1:$TAG" ;;
    pause) echo "$PAUSE_IMAGE" ;;
    coredns) echo "$COREDNS_IMAGE" ;;
    peers) echo "$PEERS_IMAGE" ;;
    *) die "unknown image $1" ;;
  esac
}

images_of() { # group -> image names
  case $1 in
    agentnet) echo agentnet-sidecar agentnet-webhook ;;
    node) echo pause coredns ;;
    peers) echo peers ;;
    *) die "unknown image group $1 (agentnet, node, peers)" ;;
  esac
}

# --- root filesystems -----------------------------------------------------------------

# copy_with_libs ROOTFS DEST-DIR FILE...: each program into ROOTFS/DEST-DIR, and every
# shared library it loads (as ldd resolves them on this machine) at the same path.
copy_with_libs() {
  local rootfs=$1 dest=$2; shift 2
  mkdir -p "$rootfs/$dest"
  local f lib
  for f in "$@"; do
    cp -L "$f" "$rootfs/$dest/"
    copy_libs "$rootfs" "$f"
  done
}

copy_libs() { # ROOTFS FILE: the libraries FILE needs (ELF interpreter included)
  local rootfs=$1 file=$2 lib
  while read -r lib; do
    [[ -e "$rootfs$lib" ]] && continue
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done < <(ldd "$file" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
}

# base_files ROOTFS [UID NAME]: CA roots and a passwd/group naming the non-root user.
base_files() {
  local rootfs=$1 uid=${2:-$NONROOT_UID} name=${3:-nonroot}
  mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/tmp"
  chmod 1777 "$rootfs/tmp"
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
  printf 'root:x:0:0:root:/root:/sbin/nologin\n%s:x:%s:%s:%s:/home/%s:/sbin/nologin\n' \
    "$name" "$uid" "$uid" "$name" "$name" >"$rootfs/etc/passwd"
  printf 'root:x:0:\n%s:x:%s:\n' "$name" "$uid" >"$rootfs/etc/group"
}

# iptables (the nf_tables variant) with its extensions: the sidecar's `init` runs
# iptables-restore and ip6tables-restore in the pod's network namespace.
add_iptables() {
  local rootfs=$1 xt=/usr/lib/x86_64-linux-gnu/xtables
  [[ -x /usr/sbin/xtables-nft-multi && -d $xt ]] || die "iptables is required to build the sidecar image (apt-get install iptables)"
  copy_with_libs "$rootfs" /usr/sbin /usr/sbin/xtables-nft-multi
  local name
  for name in iptables iptables-restore iptables-save ip6tables ip6tables-restore ip6tables-save; do
    ln -sf xtables-nft-multi "$rootfs/usr/sbin/$name"
  done
  mkdir -p "$rootfs$xt"
  cp -a "$xt"/*.so "$rootfs$xt/"
  local ext
  for ext in "$xt"/*.so; do copy_libs "$rootfs" "$ext"; done
}

CARGO_RELEASE_DONE=0
cargo_release() {
  ((CARGO_RELEASE_DONE)) && return 0
  command -v cargo >/dev/null || die "cargo is required to build the agentnet images"
  log "cargo build --release -p agentnet-sidecar -p agentnet-webhook (log: $IMAGES/cargo-release.log)"
  (cd "$REPO_ROOT" && CARGO_INCREMENTAL=0 cargo build --release --locked -p agentnet-sidecar -p agentnet-webhook) \
    >"$IMAGES/cargo-release.log" 2>&1 || { tail -30 "$IMAGES/cargo-release.log" >&2; die "cargo build --release failed"; }
  CARGO_RELEASE_DONE=1
}

target_dir() {
  (cd "$REPO_ROOT" && cargo metadata --format-version 1 --no-deps) |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])'
}

context_agentnet() { # NAME CONTEXT
  local name=$1 ctx=$2
  cargo_release
  local bin
  bin=$(target_dir)/release/$name
  [[ -x $bin ]] || die "cargo did not produce $bin"
  if [[ $name == agentnet-sidecar ]]; then
    base_files "$ctx/rootfs" "$SIDECAR_UID" agentnet
    add_iptables "$ctx/rootfs"
  else
    base_files "$ctx/rootfs"
  fi
  copy_with_libs "$ctx/rootfs" /usr/local/bin "$bin"
  cp "$REPO_ROOT/images/$name.Containerfile" "$ctx/Containerfile"
}

context_pause() { # CONTEXT: a static Go program (hack/images/pause) as PID 1 of every sandbox
  local ctx=$1
  mkdir -p "$ctx/rootfs"
  (cd "$HACK_DIR/images/pause" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$ctx/rootfs/pause" .) ||
    die "building the pause program failed"
  cp "$HACK_DIR/images/pause.Containerfile" "$ctx/Containerfile"
}

context_coredns() { # CONTEXT: the static CoreDNS built by hack/testbin.sh
  local ctx=$1 bin
  bin=$(nodebin_dir)/coredns
  [[ -x $bin ]] || "$HACK_DIR/testbin.sh" >/dev/null
  mkdir -p "$ctx/rootfs"
  base_files "$ctx/rootfs"
  cp "$bin" "$ctx/rootfs/coredns"
  cp "$HACK_DIR/images/coredns.Containerfile" "$ctx/Containerfile"
}

# The MCP and A2A SDK peers in Debian's python3: the servers and clients of hack/peers,
# with the pinned SDKs. The root filesystem comes from mmdebstrap (Debian's packages);
# the wheels are installed from this machine's pip for the image's Python.
context_peers() {
  local ctx=$1
  command -v mmdebstrap >/dev/null || die "mmdebstrap is required for the peers image (apt-get install mmdebstrap)"
  local rootfs=$ctx/rootfs
  mmdebstrap --mode=root --variant=minbase --include=python3,ca-certificates,iptables --quiet \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    bookworm "$rootfs" http://deb.debian.org/debian >"$ctx/mmdebstrap.log" 2>&1 ||
    { tail -20 "$ctx/mmdebstrap.log" >&2; die "mmdebstrap failed; see $ctx/mmdebstrap.log"; }
  local pyver
  pyver=$(chroot "$rootfs" python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  python3 -m pip install --quiet --no-deps --target "$rootfs/opt/peers/lib" --implementation cp \
    --python-version "$pyver" --platform manylinux2014_x86_64 --platform "manylinux_2_28_x86_64" \
    --only-binary=:all: -r "$HACK_DIR/peers/requirements.lock" >"$ctx/pip.log" 2>&1 ||
    { tail -20 "$ctx/pip.log" >&2; die "pip install into the peers image failed; see $ctx/pip.log"; }
  mkdir -p "$rootfs/opt/peers/bin"
  cp "$HACK_DIR"/peers/*.py "$rootfs/opt/peers/bin/"
  chmod 755 "$rootfs"/opt/peers/bin/*.py
  printf 'nonroot:x:%s:%s:nonroot:/tmp:/bin/sh\n' "$NONROOT_UID" "$NONROOT_UID" >>"$rootfs/etc/passwd"
  rm -rf "$rootfs/var/cache/apt" "$rootfs/var/lib/apt/lists" "$rootfs/var/log"/*
  cp "$HACK_DIR/images/peers.Containerfile" "$ctx/Containerfile"
}

# Inputs that decide an image before its context exists (for the slow peers image).
peers_key() {
  cat "$HACK_DIR/peers/requirements.lock" "$HACK_DIR"/peers/*.py "$HACK_DIR/images/peers.Containerfile" |
    sha256sum | cut -c1-16
}

# --- building -------------------------------------------------------------------------

# content_key CONTEXT: a digest of every file in the context (names, modes, contents).
content_key() {
  (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum &&
    find . \( -type l -o -perm -u+x \) -printf '%p %l %m\n' | sort) | sha256sum | cut -c1-16
}

# build_archive NAME REF CONTEXT OUT: Containerfile in CONTEXT -> docker-archive OUT.
build_archive() {
  local name=$1 ref=$2 ctx=$3 out=$4
  case $TOOL in
    buildah)
      command -v buildah >/dev/null || die "buildah is required (apt-get install buildah), or set AGENTNET_IMAGE_TOOL=docker|podman"
      local b=(buildah --root "$IMAGES/.buildah/storage" --runroot "$IMAGES/.buildah/run" --storage-driver vfs)
      "${b[@]}" bud --quiet --layers=false -f "$ctx/Containerfile" -t "$ref" "$ctx" >"$ctx/build.log" 2>&1 ||
        { tail -20 "$ctx/build.log" >&2; die "buildah bud of $name failed"; }
      rm -f "$out.tmp"
      "${b[@]}" push --quiet "$ref" "docker-archive:$out.tmp:$ref" >>"$ctx/build.log" 2>&1 ||
        { tail -20 "$ctx/build.log" >&2; die "buildah push of $name failed"; }
      "${b[@]}" rmi "$ref" >/dev/null 2>&1 || true
      ;;
    docker | podman)
      "$TOOL" build -q -f "$ctx/Containerfile" -t "$ref" "$ctx" >"$ctx/build.log" 2>&1 ||
        { tail -20 "$ctx/build.log" >&2; die "$TOOL build of $name failed"; }
      "$TOOL" save -o "$out.tmp" "$ref" || die "$TOOL save of $name failed"
      ;;
    *) die "AGENTNET_IMAGE_TOOL must be buildah, docker or podman (got $TOOL)" ;;
  esac
  mv "$out.tmp" "$out"
}

# build NAME: prints the archive path; builds only when its inputs changed.
build() {
  local name=$1 ref ctx key out
  ref=$(ref_of "$name")
  mkdir -p "$IMAGES"
  if [[ $name == peers ]]; then
    out=$IMAGES/peers-$(peers_key).tar
    [[ -f $out ]] && { echo "$out"; return 0; }
  fi
  ctx=$(mktemp -d "$IMAGES/.context-$name.XXXXXX")
  # shellcheck disable=SC2064 # expand now: the context of this image
  trap "rm -rf '$ctx'" RETURN
  log "preparing the $name image context"
  case $name in
    agentnet-*) context_agentnet "$name" "$ctx" ;;
    pause) context_pause "$ctx" ;;
    coredns) context_coredns "$ctx" ;;
    peers) context_peers "$ctx" ;;
  esac
  if [[ $name != peers ]]; then
    key=$(printf '%s\n%s\n' "$ref" "$(content_key "$ctx")" | sha256sum | cut -c1-16)
    out=$IMAGES/$name-$key.tar
    [[ -f $out ]] && { echo "$out"; return 0; }
  fi
  log "building image $ref with $TOOL"
  build_archive "$name" "$ref" "$ctx" "$out"
  log "built $ref: $(du -h "$out" | cut -f1) ($out)"
  # Older builds of the same image are superseded.
  local old
  for old in "$IMAGES/$name"-*.tar; do [[ $old == "$out" ]] || rm -f "$old"; done
  echo "$out"
}

# import ARCHIVE...: into the dev node's containerd (namespace k8s.io, as the kubelet uses).
import() {
  local dir=${AGENTNET_CLUSTER_DIR:-$AGENTNET_CACHE/cluster}
  local sock=$dir/node/containerd/containerd.sock
  [[ -S $sock ]] || die "no dev node containerd at $sock (hack/cluster.sh up --node)"
  local archive
  for archive in "$@"; do
    "$(nodebin_dir)/ctr" --address "$sock" -n k8s.io images import "$archive" >/dev/null 2>&1 ||
      die "importing $archive failed"
  done
}

cmd=${1:-build}; shift || true
groups=("$@")
((${#groups[@]})) || groups=(agentnet node peers)
names=()
for g in "${groups[@]}"; do read -ra more <<<"$(images_of "$g")"; names+=("${more[@]}"); done
case $cmd in
  refs) for n in "${names[@]}"; do ref_of "$n"; done ;;
  build) for n in "${names[@]}"; do build "$n"; done ;;
  import)
    archives=()
    for n in "${names[@]}"; do archives+=("$(build "$n")"); done
    import "${archives[@]}"
    for n in "${names[@]}"; do log "imported $(ref_of "$n")"; done
    ;;
  *) die "usage: hack/images.sh build|import|refs [agentnet|node|peers...]" ;;
esac
