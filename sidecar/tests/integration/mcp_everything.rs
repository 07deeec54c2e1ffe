//! `@modelcontextprotocol/server-everything` (the reference server, streamableHttp,
//! legacy sessions) with the Python SDK client through the sidecar.

use serde_json::json;

use crate::common::manifests::{allow_agent, service_backend};
use crate::common::peers::{Peer, err, mcp_client, ok};
use crate::common::sidecar::Sidecar;

const AUTHORIZATION: &str = r#"      type: Inline
      mcp:
        mcpBaseProtocolMethodsOption: MATCH_BASE_PROTOCOL_METHODS
        methods:
        - {name: tools/call, params: [get-sum, echo]}"#;

#[tokio::test]
async fn reference_server_everything_through_http_proxy() {
    let server = Peer::everything().await;
    let manifests = service_backend("mcp", "tools", "everything", 3001, server.port)
        + &allow_agent("tools", "everything-tools", "everything", AUTHORIZATION);
    let sidecar = Sidecar::start(&manifests, &[]).await;
    let ops = [
        "list-tools",
        r#"call:get-sum:{"a":2,"b":40}"#,
        r#"call:echo:{"message":"hi"}"#,
        "call:get-env",
    ];
    let out = mcp_client(
        "http://everything.tools:3001/mcp",
        "auto",
        Some(&sidecar.proxy_url()),
        &ops,
    )
    .await;
    assert_eq!(
        out["protocol_version"], "2025-11-25",
        "server-everything is legacy-only: {out}"
    );
    assert_eq!(
        ok(&out, 0)["tools"],
        json!(["echo", "get-sum"]),
        "only the allowed tools are listed"
    );
    assert!(
        ok(&out, 1)["text"][0].as_str().unwrap().contains("42"),
        "{out}"
    );
    assert!(
        ok(&out, 2)["text"][0].as_str().unwrap().contains("hi"),
        "{out}"
    );
    let denied = err(&out, 3);
    assert_eq!(
        (denied["code"].as_i64(), denied["message"].as_str()),
        (Some(403), Some("Access to this tool is forbidden."))
    );
    assert_eq!(denied["data"]["policy"], "tools/everything-tools");
    sidecar.stop().await;
}
