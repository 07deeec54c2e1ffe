#!/usr/bin/env bash
# The policy-distribution scale benchmark: on a private control plane, 100 XBackends
# with policies, 200 identities streaming their views (the sidecar's protocol, real
# TokenRequest tokens), 2,000 Services and 2,000 EndpointSlices no policy names; a real
# sidecar in each mode (control plane and direct watch) side by side. Prints one JSON
# line (what BENCHMARKS.md's "Policy distribution at scale" table reports).
#
#   hack/scale.sh        about 5 minutes once built (release builds: about 10 on 2 cores)
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

"$HACK_DIR/testbin.sh" >/dev/null
log "building release binaries (sidecar, webhook, the scale driver)"
cargo build --release -q -p agentnet-sidecar -p agentnet-webhook
cargo build --release -q -p agentnet-e2e --bin agentnet-scale
T=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release
# The driver starts its own control plane in a temporary directory and stops it when it
# exits (as the e2e suite does); inherited KUBECONFIGs would point it elsewhere.
env -u KUBECONFIG -u AGENTNET_E2E_NODE_KUBECONFIG \
  AGENTNET_SIDECAR_BIN="$T/agentnet-sidecar" AGENTNET_WEBHOOK_BIN="$T/agentnet-webhook" \
  "$T/agentnet-scale"
