//! A tiny JSON-RPC upstream that counts what reaches it: it answers requests with
//! `{"result":{"method":…,"path":…,"host":…}}` (and `tools/list` with three tools),
//! notifications with 202, and anything without a JSON body with `hello`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub struct Upstream {
    pub port: u16,
    seen: Arc<AtomicUsize>,
}

impl Upstream {
    pub async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let counter = counter.clone();
                let service = service_fn(move |req| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    answer(req)
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        Upstream { port, seen }
    }

    /// Requests received so far.
    pub fn seen(&self) -> usize {
        self.seen.load(Ordering::SeqCst)
    }
}

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let path = req.uri().path().to_owned();
    let body = req.into_body().collect().await?.to_bytes();
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return Ok(Response::new(Full::new(Bytes::from_static(b"hello"))));
    };
    let Some(id) = message.get("id").cloned() else {
        return Ok(Response::builder()
            .status(StatusCode::ACCEPTED)
            .body(Full::default())
            .unwrap());
    };
    let method = message["method"].as_str().unwrap_or_default();
    let result = match method {
        "tools/list" => {
            json!({"tools": [{"name": "add"}, {"name": "echo"}, {"name": "get-secret"}]})
        }
        _ => json!({"method": method, "path": path, "host": host}),
    };
    let reply = json!({"jsonrpc": "2.0", "id": id, "result": result});
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(reply.to_string())))
        .unwrap())
}
