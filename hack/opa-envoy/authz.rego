# The ExternalAuth policy of agentnet's tests and docs (docs/extensions.md): like
# upstream's quickstart, tools/call is allowed only for arguments in an allow-list;
# every other MCP method passes. It reads the MCP message where Envoy's MCP filter
# (and agentnet's sidecar) put it: metadata_context.filter_metadata.mcp_proxy. OPA-Envoy
# renders the CheckRequest with protobuf's JSON names (metadataContext.filterMetadata);
# Authorino and the HTTP adapter use the field names.
package agentnet.authz

default allow := false

mcp := input.attributes.metadataContext.filterMetadata.mcp_proxy

mcp := input.attributes.metadata_context.filter_metadata.mcp_proxy

allowed_repos := {"kubernetes-sigs/kube-agentic-networking", "kubernetes-sigs/gateway-api"}

# Over gRPC the caller's SPIFFE ID is the source principal; it must be an agent's.
caller_ok if not input.attributes.source.principal

caller_ok if startswith(input.attributes.source.principal, "spiffe://cluster.local/ns/agents/")

allow if {
	caller_ok
	mcp.method != "tools/call"
}

allow if {
	caller_ok
	mcp.method == "tools/call"
	mcp.params.arguments.text in allowed_repos
}
