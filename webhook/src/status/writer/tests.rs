//! The writer against an in-process fake API that records every request.

use std::convert::Infallible;
use std::sync::Mutex;

use agentnet_policy::{Settings, compile};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use kube::runtime::reflector::Store;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::{Duration, Instant};

use super::*;
use crate::status::leader;

/// (method, path and query, body) of each request.
type Seen = Arc<Mutex<Vec<(String, String, Value)>>>;

fn recording_client(seen: Seen) -> Client {
    let service = tower::service_fn(move |req: Request<kube::client::Body>| {
        let seen = seen.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let uri = parts.uri.to_string();
            // The object as patched: what the API server answers.
            let reply = if uri.contains("xaccesspolicies") {
                policy()
            } else {
                backend()
            };
            seen.lock()
                .unwrap()
                .push((parts.method.to_string(), uri, body));
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(reply.to_string()))))
        }
    });
    Client::new(service, "default")
}

fn fill<K>(object: Value) -> Store<kube::core::DeserializeGuard<K>>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + 'static,
{
    let mut writer = Writer::default();
    let guard = serde_json::from_value(object).unwrap();
    writer.apply_watcher_event(&watcher::Event::Apply(guard));
    writer.as_reader()
}

fn meta(kind: &str, version: &str) -> Value {
    json!({"apiVersion": format!("agentic.networking.x-k8s.io/{version}"), "kind": kind,
        "metadata": {"name": "tools", "namespace": "team", "resourceVersion": "41", "generation": 3}})
}

fn policy() -> Value {
    let mut policy = meta("XAccessPolicy", "v1alpha1");
    policy["spec"] = json!({"action": "Allow", "targetRefs": [
        {"group": "agentic.networking.x-k8s.io", "kind": "XBackend", "name": "tools"}]});
    policy
}

fn backend() -> Value {
    let mut backend = meta("XBackend", "v0alpha0");
    backend["spec"] = json!({"mcp": {"hostname": "mcp.example.com", "port": 443}});
    backend
}

fn stores() -> Stores {
    Stores {
        backends: fill(backend()),
        policies: fill(policy()),
        services: Writer::default().as_reader(),
        slices: Writer::default().as_reader(),
        rate_limits: Writer::default().as_reader(),
        grants: Writer::default().as_reader(),
        progress: Writer::default().as_reader(),
        progress_changed: tokio::sync::watch::channel(0).1,
    }
}

fn writer(seen: &Seen, leader: bool) -> (StatusWriter, watch::Sender<Option<Instant>>) {
    let (tx, leadership) = leader::channel();
    if leader {
        tx.send_replace(Some(Instant::now() + Duration::from_secs(3600)));
    }
    let client = recording_client(seen.clone());
    let name = "agentnet.dev/policy-controller".to_owned();
    (
        StatusWriter::new(
            client,
            "agentnet-system".into(),
            name,
            leadership,
            Arc::new(Metrics::new()),
        ),
        tx,
    )
}

#[tokio::test]
async fn the_leader_patches_each_status_once_conditional_on_the_version_read() {
    let (seen, stores) = (Seen::default(), stores());
    let (mut w, _tx) = writer(&seen, true);
    let index = compile(&stores.snapshot(), &Settings::default());
    let pass = w.write(index.report(), &stores).await;
    assert_eq!(
        pass,
        Pass {
            written: 2,
            retry: false,
            stopped: false
        }
    );
    let requests = seen.lock().unwrap().clone();
    let (method, uri, body) = &requests[0];
    assert_eq!(method, "PATCH");
    assert_eq!(
        uri,
        "/apis/agentic.networking.x-k8s.io/v1alpha1/namespaces/team/xaccesspolicies/tools/status?&fieldManager=agentnet-policy-controller"
    );
    assert_eq!(body["metadata"]["resourceVersion"], "41");
    let ancestor = &body["status"]["ancestors"][0];
    assert_eq!(ancestor["controllerName"], "agentnet.dev/policy-controller");
    assert_eq!(ancestor["conditions"][0]["observedGeneration"], 3);
    assert!(
        requests[1]
            .1
            .contains("/v0alpha0/namespaces/team/xbackends/tools/status")
    );

    // The store has not seen our writes yet: the same statuses are not sent again.
    let pass = w.write(index.report(), &stores).await;
    assert_eq!(pass.written, 0);
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_replica_that_is_not_leader_writes_nothing() {
    let (seen, stores) = (Seen::default(), stores());
    let (mut w, _tx) = writer(&seen, false);
    let index = compile(&stores.snapshot(), &Settings::default());
    let pass = w.write(index.report(), &stores).await;
    assert_eq!(
        pass,
        Pass {
            written: 0,
            retry: false,
            stopped: true
        }
    );
    assert!(seen.lock().unwrap().is_empty());
}
