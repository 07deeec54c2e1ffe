//! Raw HTTP/1.1 through the sidecar: the request line is written as given, so
//! absolute-form (`HTTP_PROXY`) and origin-form (`/backends/`) are both exercised.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

/// Sends `req` on a fresh connection to `proxy` and returns the streaming response.
pub async fn send(proxy: SocketAddr, req: Request<Full<Bytes>>) -> Response<Incoming> {
    let stream = TcpStream::connect(proxy).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    sender.send_request(req).await.unwrap()
}

/// A response read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The JSON-RPC message of a JSON or single-response SSE body.
    pub fn message(&self) -> Value {
        let is_sse = self
            .headers
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        if !is_sse {
            return self.json();
        }
        let text = self.text();
        let mut data = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|d| d.contains("\"id\""));
        serde_json::from_str(
            data.next_back()
                .unwrap_or_else(|| panic!("no response event in {text}")),
        )
        .unwrap()
    }
}

pub async fn read(resp: Response<Incoming>) -> Reply {
    let (parts, body) = resp.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// A request with the headers MCP clients send.
pub fn mcp_post(uri: &str, body: &Value, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut b = Request::post(uri)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(authority) = uri
        .strip_prefix("http://")
        .and_then(|r| r.split('/').next())
    {
        b = b.header("host", authority);
    }
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(Bytes::from(body.to_string()))).unwrap()
}

pub async fn post(proxy: SocketAddr, uri: &str, body: &Value, headers: &[(&str, &str)]) -> Reply {
    read(send(proxy, mcp_post(uri, body, headers)).await).await
}

/// An origin-form POST straight to `addr` (not through the sidecar).
pub async fn post_to(addr: SocketAddr, path: &str, body: &Value) -> Reply {
    let req = Request::post(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json");
    read(
        send(
            addr,
            req.body(Full::new(Bytes::from(body.to_string()))).unwrap(),
        )
        .await,
    )
    .await
}

pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    let req = Request::get(path)
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap();
    read(send(addr, req).await).await
}

/// The `_meta` and headers of an MCP 2026-07-28 request.
pub fn modern(method: &str, id: Value, params: Value) -> Value {
    let mut params = params;
    params["_meta"] = serde_json::json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/logLevel": "debug",
    });
    serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}
