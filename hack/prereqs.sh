#!/usr/bin/env bash
# Installs what the tests and the demo need on a fresh Debian machine, and names what
# it cannot install. Safe to re-run: it only installs what is missing.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"

# Debian packages: TLS tooling for the dev PKI, a C toolchain for ring, python3 for
# free ports and the MCP/A2A peers, redis-server for the global rate-limit tests; for
# the real node (hack/node.sh): runc, the CNI plugins, iptables/nftables and conntrack
# (kube-proxy, the capture rules), and for images (hack/images.sh): buildah and
# mmdebstrap.
apt_packages=(build-essential pkg-config openssl curl ca-certificates python3 python3-venv redis-server
  runc containernetworking-plugins iptables nftables conntrack util-linux buildah mmdebstrap)
# Node.js and npm come from the distribution only when absent (the MCP reference server).
command -v npm >/dev/null || apt_packages+=(nodejs npm)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  sudo=""
  [[ $(id -u) == 0 ]] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null || die "apt-get update failed; install manually: ${missing[*]}"
  $sudo apt-get install -y -qq "${missing[@]}" >/dev/null || die "apt-get install failed: ${missing[*]}"
fi

command -v go >/dev/null || die "a Go toolchain >= 1.26 is required to build the test control plane: install it from your distribution or go.dev and put it on PATH"
go_minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
((go_minor >= 26)) || die "Go >= 1.26 is required (found $(go env GOVERSION)); Kubernetes ${K8S_VERSION} declares go 1.26"

command -v cargo >/dev/null || die "Rust is required: install rustup (https://rustup.rs) and the stable toolchain"
for component in rustfmt clippy; do
  command -v rustup >/dev/null || { command -v "cargo-${component/rustfmt/fmt}" >/dev/null || die "cargo $component is required"; continue; }
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    log "installing rust component $component"
    rustup component add "$component" >/dev/null
  fi
done

# The fuzz targets (hack/fuzz.sh) build with nightly's sanitizer-coverage flags.
if command -v rustup >/dev/null && ! rustup toolchain list | grep -q '^nightly'; then
  log "installing the nightly Rust toolchain (for cargo-fuzz)"
  rustup toolchain install nightly --profile minimal >/dev/null || die "rustup toolchain install nightly failed"
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install --locked --quiet cargo-fuzz --version "$CARGO_FUZZ_VERSION" || die "cargo install cargo-fuzz failed"
fi
