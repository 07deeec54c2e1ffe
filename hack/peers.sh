#!/usr/bin/env bash
# Installs the real MCP and A2A peers used by the tests and the demo: the Python `mcp`
# and `a2a-sdk` SDKs (a venv) and the npm packages `@modelcontextprotocol/server-everything`
# and `@modelcontextprotocol/conformance`, pinned by hack/peers/*.lock. They are cached
# under ~/.cache/agentnet/peers/<hash of the pins>/ and reinstalled only when the pins
# change. Prints that directory (venv/ and node/ inside it).
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"

pins=("$HACK_DIR/peers/requirements.lock" "$HACK_DIR/peers/package.json" "$HACK_DIR/peers/package-lock.json")
key=$(cat "${pins[@]}" | sha256sum | cut -c1-16)
out=$AGENTNET_CACHE/peers/$key
if [[ -f "$out/.complete" ]]; then
  echo "$out"
  exit 0
fi
command -v python3 >/dev/null || die "python3 is required (apt-get install python3 python3-venv)"
command -v npm >/dev/null || die "Node.js >= 20 with npm is required for the MCP reference server (apt-get install nodejs npm)"
rm -rf "$out" && mkdir -p "$out/node"

log "installing Python MCP/A2A SDKs into $out/venv (log: $out/pip.log)"
python3 -m venv "$out/venv" || die "python3 -m venv failed (apt-get install python3-venv)"
"$out/venv/bin/pip" install -q -r "$HACK_DIR/peers/requirements.lock" >"$out/pip.log" 2>&1 \
  || { tail -20 "$out/pip.log" >&2; die "pip install failed; see $out/pip.log"; }

log "installing npm MCP server and conformance suite into $out/node (log: $out/npm.log)"
cp "$HACK_DIR/peers/package.json" "$HACK_DIR/peers/package-lock.json" "$out/node/"
(cd "$out/node" && npm ci --no-audit --no-fund) >"$out/npm.log" 2>&1 \
  || { tail -20 "$out/npm.log" >&2; die "npm ci failed; see $out/npm.log"; }

touch "$out/.complete"
echo "$out"
