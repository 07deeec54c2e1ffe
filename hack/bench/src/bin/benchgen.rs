//! Writes the benchmark's policy set as one multi-document YAML file for the sidecar's
//! `--config-dir`: the three XBackends the scenarios call (MCP JSON, MCP SSE, A2A),
//! served by the mock at `--upstream` (or, for the capture benchmark, where a captured
//! connection's destination address must name one backend, by mocks of their own), the
//! policies that admit the benchmark agent on
//! them, and filler XBackends with policies up to `--policies` in total.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, ensure};
use clap::Parser;

use agentnet_bench::{ALLOWED_TOOL, DENIED_TOOL};

#[derive(Parser, Debug)]
#[command(about = "Generate the benchmark's XBackends and XAccessPolicies")]
struct Args {
    /// Total XAccessPolicies (at least the 3 the scenarios need).
    #[arg(long)]
    policies: usize,
    /// Policies per filler backend (upstream accepts at most 5 per target).
    #[arg(long, default_value_t = 5)]
    per_backend: usize,
    /// Where the mock MCP/A2A server listens.
    #[arg(long)]
    upstream: SocketAddr,
    /// Where the SSE backend's mock listens, if not at --upstream.
    #[arg(long)]
    sse_upstream: Option<SocketAddr>,
    /// Where the A2A backend's mock listens, if not at --upstream.
    #[arg(long)]
    a2a_upstream: Option<SocketAddr>,
    /// File to write.
    #[arg(long)]
    out: PathBuf,
}

/// Namespace and ServiceAccount of the benchmark agent.
pub const NAMESPACE: &str = "bench";
pub const AGENT: &str = "agent";

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(args.policies >= 3, "--policies must be at least 3");
    ensure!(
        (1..=5).contains(&args.per_backend),
        "--per-backend must be 1..=5"
    );
    let mut docs = vec![
        backend("mcp-json", "mcp", 8080, "/mcp", &args.upstream),
        backend(
            "mcp-sse",
            "mcp",
            8081,
            "/sse",
            &args.sse_upstream.unwrap_or(args.upstream),
        ),
        backend(
            "agent",
            "a2a",
            8082,
            "/",
            &args.a2a_upstream.unwrap_or(args.upstream),
        ),
        mcp_policy("mcp-json"),
        mcp_policy("mcp-sse"),
        a2a_policy(),
    ];
    for i in 0..args.policies - 3 {
        let b = i / args.per_backend;
        if i % args.per_backend == 0 {
            docs.push(backend(
                &format!("filler-{b}"),
                "mcp",
                9000,
                "/mcp",
                &args.upstream,
            ));
        }
        docs.push(filler_policy(i, b));
    }
    std::fs::write(&args.out, docs.join("---\n"))
        .with_context(|| format!("writing {}", args.out.display()))?;
    Ok(())
}

fn backend(name: &str, protocol: &str, port: u16, path: &str, upstream: &SocketAddr) -> String {
    let (ip, up) = (upstream.ip(), upstream.port());
    format!(
        "apiVersion: agentic.networking.x-k8s.io/v0alpha0
kind: XBackend
metadata: {{name: {name}, namespace: {NAMESPACE}}}
spec:
  {protocol}: {{serviceName: {name}, port: {port}, path: {path}}}
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {NAMESPACE}}}
spec:
  ports: [{{name: http, port: {port}, targetPort: {up}}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: {name}-1, namespace: {NAMESPACE}, labels: {{kubernetes.io/service-name: {name}}}}}
addressType: IPv4
ports: [{{name: http, port: {up}}}]
endpoints: [{{addresses: [\"{ip}\"], conditions: {{ready: true}}}}]
"
    )
}

fn policy_head(name: &str, backend: &str) -> String {
    format!(
        "apiVersion: agentic.networking.x-k8s.io/v1alpha1
kind: XAccessPolicy
metadata: {{name: {name}, namespace: {NAMESPACE}}}
spec:
  targetRefs: [{{group: agentic.networking.x-k8s.io, kind: XBackend, name: {backend}}}]
  action: Allow
  rules:
"
    )
}

/// The agent may call ten tools (so a 100-tool list is filtered to 10), never DENIED_TOOL.
fn mcp_policy(backend: &str) -> String {
    let tools: Vec<String> = (0..10).map(|i| format!("tool-{i:03}")).collect();
    debug_assert!(
        tools.iter().any(|t| t == ALLOWED_TOOL) && !tools.iter().any(|t| t == DENIED_TOOL)
    );
    policy_head(&format!("{backend}-agent"), backend)
        + &format!(
            "  - name: agent-tools
    source: {{type: ServiceAccount, serviceAccount: {{name: {AGENT}}}}}
    authorization:
      type: Inline
      mcp:
        mcpBaseProtocolMethodsOption: MATCH_BASE_PROTOCOL_METHODS
        methods: [{{name: tools/call, params: [{}]}}]
",
            tools.join(", ")
        )
}

fn a2a_policy() -> String {
    policy_head("agent-a2a", "agent")
        + &format!(
            "  - name: agent-send
    source: {{type: ServiceAccount, serviceAccount: {{name: {AGENT}}}}}
    authorization:
      type: Inline
      a2a: {{methods: [SendMessage]}}
"
        )
}

/// Filler: an Inline rule for another ServiceAccount and a CEL rule, so the index holds
/// realistic per-policy state without admitting the benchmark agent.
fn filler_policy(i: usize, backend: usize) -> String {
    policy_head(&format!("filler-{i}"), &format!("filler-{backend}"))
        + &format!(
            "  - name: sa-{i}
    source: {{type: ServiceAccount, serviceAccount: {{name: other-{i}}}}}
    authorization:
      type: Inline
      mcp:
        mcpBaseProtocolMethodsOption: MATCH_BASE_PROTOCOL_METHODS
        methods: [{{name: tools/call, params: [tool-{i:03}]}}]
  - name: cel-{i}
    authorization:
      type: CEL
      cel: {{expression: \"request.mcp.tool_name == 'tool-{i:03}' && request.headers['x-team'] == 'team-{i}'\"}}
"
        )
}
