//! A zero-think-time MCP and A2A server for benchmarks. It answers `tools/call` (JSON,
//! or a one-event SSE stream when the request path ends in `/sse`), `tools/list` (100
//! tools), `initialize`, and A2A `SendMessage`, so the benchmark measures the proxy, not
//! the server.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{Value, json};
use tokio::net::TcpListener;

#[derive(Parser, Debug)]
#[command(about = "Zero-think-time MCP/A2A server for agentnet benchmarks")]
struct Args {
    /// Address to listen on: loopback, or this machine's own address where an
    /// EndpointSlice must name it (they may not hold loopback addresses).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Number of tools `tools/list` returns.
    #[arg(long, default_value_t = 100)]
    tools: usize,
}

struct Canned {
    tools_list: Value,
    call_text: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind(args.listen).await.context("binding")?;
    // The harness reads the chosen port from this line.
    println!("listening on {}", listener.local_addr()?);
    let canned = Arc::new(Canned {
        tools_list: agentnet_bench::tool_list(args.tools),
        call_text: "y".repeat(1024),
    });
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let canned = canned.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(req, canned.clone()));
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn handle(
    req: Request<Incoming>,
    canned: Arc<Canned>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    if req.uri().path().ends_with("/.well-known/agent-card.json") {
        return Ok(json_response(&agent_card()));
    }
    let sse = req.uri().path().ends_with("/sse");
    let body = match Limited::new(req.into_body(), 1 << 20).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(status(StatusCode::PAYLOAD_TOO_LARGE)),
    };
    let Ok(msg) = serde_json::from_slice::<Value>(&body) else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    let reply = answer(&msg, &canned);
    Ok(if sse {
        sse_response(&reply)
    } else {
        json_response(&reply)
    })
}

fn answer(msg: &Value, canned: &Canned) -> Value {
    let id = msg.get("id").cloned().unwrap_or(Value::Null);
    let result = match msg.get("method").and_then(Value::as_str).unwrap_or("") {
        "tools/call" => {
            json!({"content": [{"type": "text", "text": canned.call_text}], "isError": false})
        }
        "tools/list" => canned.tools_list.clone(),
        "initialize" => json!({"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
            "serverInfo": {"name": "agentnet-mock-mcp", "version": "1"}}),
        "SendMessage" | "message/send" => {
            json!({"message": {"messageId": "r-1", "role": "ROLE_AGENT",
            "parts": [{"text": canned.call_text}]}})
        }
        other => {
            return json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32601, "message": format!("method not found: {other}")}});
        }
    };
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn agent_card() -> Value {
    json!({"name": "mock-agent", "description": "benchmark agent", "version": "1",
        "supportedInterfaces": [{"url": "http://127.0.0.1/", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
        "skills": [{"id": "echo", "name": "echo", "description": "echoes", "tags": []}]})
}

fn json_response(v: &Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(v.to_string())));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn sse_response(v: &Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(format!(
        "event: message\ndata: {v}\n\n"
    ))));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    resp
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = code;
    resp
}
