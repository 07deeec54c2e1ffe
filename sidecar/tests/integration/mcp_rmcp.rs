//! rmcp (Rust MCP SDK) server and client in-process, through `/backends/`.

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolRequestParams, ClientConfig, ServerCapabilities, ServerConfig};
use rmcp::service::ServiceError;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, ServiceExt, schemars, tool, tool_handler, tool_router};
use serde_json::json;

use crate::common::manifests::{MCP_AUTHORIZATION, allow_agent, service_backend};
use crate::common::sidecar::Sidecar;

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct AddArgs {
    a: i64,
    b: i64,
}

#[derive(Debug, Clone)]
struct Tools {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Tools {
    #[tool(description = "Add two integers")]
    fn add(&self, Parameters(AddArgs { a, b }): Parameters<AddArgs>) -> String {
        (a + b).to_string()
    }

    #[tool(description = "Echo")]
    fn echo(&self) -> String {
        "echo".into()
    }

    #[tool(name = "get-secret", description = "A secret")]
    fn get_secret(&self) -> String {
        "s3cr3t".into()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// An rmcp Streamable HTTP server at 127.0.0.1:<port>/mcp.
async fn rmcp_server() -> u16 {
    let config = StreamableHttpServerConfig::default()
        .with_sse_keep_alive(None)
        .with_allowed_hosts(["mcp.tools.svc.cluster.local", "127.0.0.1"]);
    let service: StreamableHttpService<Tools, LocalSessionManager> = StreamableHttpService::new(
        || {
            Ok(Tools {
                tool_router: Tools::tool_router(),
            })
        },
        Default::default(),
        config,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(
        axum::serve(listener, axum::Router::new().nest_service("/mcp", service)).into_future(),
    );
    port
}

#[tokio::test]
async fn rmcp_client_and_server_through_backends_url() {
    let port = rmcp_server().await;
    let manifests = service_backend("mcp", "tools", "mcp", 8080, port)
        + &allow_agent("tools", "agent-tools", "mcp", MCP_AUTHORIZATION);
    let sidecar = Sidecar::start(&manifests, &[]).await;
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(sidecar.backend_url("tools", "mcp", "/mcp")),
    );
    let client = ClientConfig::default().serve(transport).await.unwrap();

    let tools: Vec<String> = client
        .list_tools(None)
        .await
        .unwrap()
        .tools
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(tools, ["add"], "echo and get-secret are hidden");
    let args = json!({"a": 20, "b": 22}).as_object().cloned().unwrap();
    let sum = client
        .call_tool(CallToolRequestParams::new("add").with_arguments(args))
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(&sum.content).unwrap()[0]["text"], "42");

    let Err(ServiceError::McpError(denied)) = client
        .call_tool(CallToolRequestParams::new("get-secret"))
        .await
    else {
        panic!("get-secret was not denied")
    };
    assert_eq!(
        (denied.code.0, denied.message.as_ref()),
        (403, "Access to this tool is forbidden.")
    );
    let data = denied.data.unwrap();
    assert_eq!(
        (&data["policy"], &data["rule"]),
        (&json!("tools/agent-tools"), &json!(null))
    );
    assert!(
        data["reason"]
            .as_str()
            .unwrap()
            .starts_with("no rule admits tool get-secret")
    );
    let metrics = sidecar.metrics().await;
    assert!(metrics.contains(r#"agentnet_requests_total{backend="tools/mcp",protocol="mcp",method="tools/call",decision="deny"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"agentnet_requests_total{backend="tools/mcp",protocol="mcp",method="tools/call",decision="allow"} 1"#));
    let _ = client.cancel().await;
    sidecar.stop().await;
}
