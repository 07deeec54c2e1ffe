#!/usr/bin/env bash
# Builds the third-party authorizer of the ExternalAuth tests, OPA with its Envoy
# ext_authz plugin (hack/opa-envoy/go.mod pins it), from the Go module proxy into
# ~/.cache/agentnet/bin/, only when missing. Prints the binary's path on stdout.
# It serves Envoy's gRPC envoy.service.auth.v3.Authorization/Check and OPA's REST API.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"

# Keep in step with hack/opa-envoy/go.mod.
OPA_ENVOY_VERSION=v1.14.0-envoy

command -v go >/dev/null || die "go is required (Debian: apt-get install golang, or the Go toolchain from go.dev)"

out="$AGENTNET_CACHE/bin/opa-envoy-$OPA_ENVOY_VERSION-$(go_version)"
bin="$out/opa-envoy"
if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$out"
# The plugin's "-envoy" versions are on the module proxy but not in the checksum
# database; go.sum (committed) pins their hashes instead.
export GONOSUMDB=github.com/open-policy-agent/opa-envoy-plugin
log "building opa-envoy $OPA_ENVOY_VERSION; logs: $out/build.log"
start=$SECONDS
if ! (cd "$HACK_DIR/opa-envoy" && go mod download && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" \
  -o "$bin.tmp" github.com/open-policy-agent/opa-envoy-plugin/cmd/opa-envoy-plugin) >"$out/build.log" 2>&1; then
  tail -20 "$out/build.log" >&2
  die "building opa-envoy failed; see $out/build.log"
fi
mv "$bin.tmp" "$bin"
log "built opa-envoy in $((SECONDS - start))s"
echo "$bin"
