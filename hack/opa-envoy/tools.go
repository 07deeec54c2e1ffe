//go:build tools

// Package tools pins the third-party authorizer agentnet's ExternalAuth tests run:
// OPA with its Envoy ext_authz plugin (gRPC envoy.service.auth.v3.Authorization).
// hack/authz.sh builds it into ~/.cache/agentnet/bin/.
package tools

import (
	_ "github.com/open-policy-agent/opa-envoy-plugin/cmd/opa-envoy-plugin"
)
