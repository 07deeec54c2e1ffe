//! A plain-HTTP GET to a running sidecar's admin listener, for the commands that ask
//! it (`explain`, `status`).

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The admin listener could not be asked.
#[derive(Debug, thiserror::Error)]
#[error("asking {addr}: {message}")]
pub struct AdminError {
    pub addr: String,
    pub message: String,
}

/// `GET http://<addr><path>` with `accept`; the status and the body as text.
pub async fn get(
    addr: SocketAddr,
    path: &str,
    accept: &str,
) -> Result<(StatusCode, String), AdminError> {
    let failed = |message: String| AdminError {
        addr: addr.to_string(),
        message,
    };
    let req = Request::get(format!("http://{addr}{path}"))
        .header("accept", accept)
        .body(Empty::<Bytes>::new())
        .map_err(|e| failed(e.to_string()))?;
    let client = Client::builder(TokioExecutor::new()).build_http();
    let not_running = |e| failed(format!("{e} (is the sidecar running? see --admin-addr)"));
    let resp = client.request(req).await.map_err(not_running)?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok((
        status,
        String::from_utf8_lossy(&body.to_bytes()).into_owned(),
    ))
}
