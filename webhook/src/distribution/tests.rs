use std::time::Duration;

use agentnet_api::v0alpha0::XBackend;
use agentnet_api::v1alpha1::XAccessPolicy;
use agentnet_policy::{Settings, Snapshot, ViewMessage, compile};
use axum::body::Body;
use futures::StreamExt;
use futures::future::BoxFuture;
use http::Request;
use serde_json::json;
use tokio::sync::watch;
use tower::ServiceExt;

use super::*;
use crate::identity::spiffe::ServiceAccountRef;
use crate::identity::token_review::{AuthError, Reviewed, Token};

/// `token-<ns>-<sa>` authenticates that ServiceAccount; anything else is rejected.
struct Tokens;

impl Authenticator for Tokens {
    fn authenticate<'a>(&'a self, token: &'a Token) -> BoxFuture<'a, Result<Reviewed, AuthError>> {
        let known = ["agents:planner", "audit:auditor"]
            .into_iter()
            .find_map(|who| {
                let (ns, sa) = who.split_once(':')?;
                (*token == Token::new(format!("token-{ns}-{sa}"))).then(|| Reviewed {
                    account: ServiceAccountRef::new(ns, sa).unwrap(),
                    pod: Some(format!("{sa}-pod")),
                })
            });
        Box::pin(async move { known.ok_or_else(|| AuthError::Rejected("unknown token".into())) })
    }
}

fn snapshot(tool_for_auditor: &str) -> Snapshot {
    let backend: XBackend = serde_json::from_value(json!({
        "apiVersion": "agentic.networking.x-k8s.io/v0alpha0", "kind": "XBackend",
        "metadata": {"name": "mcp", "namespace": "tools"},
        "spec": {"mcp": {"hostname": "mcp.example.com", "port": 443}}}))
    .unwrap();
    let rule = |name: &str, ns: &str, sa: &str, tool: &str| {
        json!({"name": name,
            "source": {"type": "ServiceAccount", "serviceAccount": {"namespace": ns, "name": sa}},
            "authorization": {"type": "Inline", "mcp": {"methods": [{"name": "tools/call", "params": [tool]}]}}})
    };
    let policy: XAccessPolicy = serde_json::from_value(json!({
        "apiVersion": "agentic.networking.x-k8s.io/v1alpha1", "kind": "XAccessPolicy",
        "metadata": {"name": "p", "namespace": "tools"},
        "spec": {"targetRefs": [{"group": "agentic.networking.x-k8s.io", "kind": "XBackend", "name": "mcp"}],
            "action": "Allow",
            "rules": [rule("planner", "agents", "planner", "get-sum"),
                      rule("auditor", "audit", "auditor", tool_for_auditor)]}}))
    .unwrap();
    Snapshot {
        backends: vec![backend],
        policies: vec![policy],
        ..Snapshot::default()
    }
}

fn cut(generation: u64, snapshot: Snapshot) -> Option<Arc<Cut>> {
    let report = compile(&snapshot, &Settings::default()).report().clone();
    Some(Arc::new(Cut::new(
        generation,
        snapshot,
        report,
        "cluster.local".into(),
        None,
    )))
}

fn state(cut: CutRx) -> ServiceState {
    ServiceState {
        cut,
        auth: Arc::new(Tokens),
        trust_domain: "cluster.local".into(),
        sessions: Arc::new(Sessions::default()),
        metrics: Arc::new(Metrics::new()),
        heartbeat: Duration::from_millis(200),
        stopped: watch::channel(false).1,
    }
}

fn get(token: Option<&str>, query: &str) -> Request<Body> {
    let mut req = Request::get(format!("/v1/policy/view{query}"));
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    req.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn refuses_unauthenticated_other_identities_and_before_the_first_cut() {
    let (tx, rx) = watch::channel(None);
    let app = router(state(rx));
    let status = |req: Request<Body>| {
        let app = app.clone();
        async move { app.oneshot(req).await.unwrap().status().as_u16() }
    };
    assert_eq!(status(get(None, "")).await, 401);
    assert_eq!(status(get(Some("forged"), "")).await, 401);
    assert_eq!(status(get(Some("token-agents-planner"), "")).await, 503);
    tx.send_replace(cut(1, snapshot("read-secret")));
    let other = "?identity=spiffe://cluster.local/ns/audit/sa/auditor";
    assert_eq!(status(get(Some("token-agents-planner"), other)).await, 403);
    let own = "?identity=spiffe://cluster.local/ns/agents/sa/planner";
    assert_eq!(status(get(Some("token-agents-planner"), own)).await, 200);
}

#[tokio::test]
async fn streams_the_callers_view_on_change_and_heartbeats_otherwise() {
    let (tx, rx) = watch::channel(cut(1, snapshot("read-secret")));
    let st = state(rx);
    let sessions = st.sessions.clone();
    let response = router(st)
        .oneshot(get(Some("token-agents-planner"), ""))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut lines = response.into_body().into_data_stream();
    let mut next = async || -> ViewMessage {
        let chunk = tokio::time::timeout(Duration::from_secs(5), lines.next())
            .await
            .expect("a line within the heartbeat")
            .unwrap()
            .unwrap();
        serde_json::from_slice(&chunk).unwrap()
    };
    let ViewMessage::View {
        version,
        generation,
        snapshot: first,
    } = next().await
    else {
        panic!("the first line is a view")
    };
    assert_eq!(generation, 1);
    let text = serde_json::to_string(&first).unwrap();
    assert!(
        text.contains("get-sum") && !text.contains("read-secret"),
        "{text}"
    );
    assert_eq!(
        sessions.list()[0].version.as_deref(),
        Some(version.as_str())
    );
    // A change to a rule only the auditor can use leaves the planner's view alone.
    tx.send_replace(cut(2, snapshot("drop-table")));
    let ViewMessage::Heartbeat {
        version: same,
        generation,
    } = next().await
    else {
        panic!("an unchanged view is not sent again")
    };
    assert_eq!((same.as_str(), generation), (version.as_str(), 2));
    // Deleting the policy changes it.
    tx.send_replace(cut(
        3,
        Snapshot {
            policies: Vec::new(),
            ..snapshot("x")
        },
    ));
    let ViewMessage::View {
        version: new,
        snapshot,
        ..
    } = next().await
    else {
        panic!("a changed view is sent")
    };
    assert!(new != version && snapshot.policies.is_empty());
}

#[tokio::test]
async fn acknowledgements_name_the_session_the_stream_answer_carried() {
    let (_tx, rx) = watch::channel(cut(1, snapshot("read-secret")));
    let st = state(rx);
    let sessions = st.sessions.clone();
    let app = router(st);
    let response = app
        .clone()
        .oneshot(get(Some("token-agents-planner"), ""))
        .await
        .unwrap();
    let session = response.headers()["agentnet-policy-session"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut lines = response.into_body().into_data_stream();
    let chunk = lines.next().await.unwrap().unwrap();
    let ViewMessage::View { version, .. } = serde_json::from_slice(&chunk).unwrap() else {
        panic!("a view first")
    };
    let post = |body: String| {
        let app = app.clone();
        async move {
            let req = Request::post("/v1/policy/ack")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap();
            app.oneshot(req).await.unwrap().status().as_u16()
        }
    };
    let ack = |session: &str, error: Option<&str>| {
        json!({"session": session, "version": version, "applied": error.is_none(), "error": error})
            .to_string()
    };
    assert_eq!(sessions.list()[0].state(), "SENT");
    assert_eq!(post(ack("0000", None)).await, 404, "a guessed session");
    assert_eq!(post("{\"session\":".into()).await, 400);
    assert_eq!(
        sessions.list()[0].state(),
        "SENT",
        "neither changed anything"
    );
    assert_eq!(post(ack(&session, Some("not understood"))).await, 204);
    assert_eq!(sessions.list()[0].state(), "REJECTED");
    assert_eq!(post(ack(&session, None)).await, 204);
    let listed = &sessions.list()[0];
    assert_eq!(
        (listed.state(), listed.applied_version.as_deref()),
        ("SYNCED", Some(version.as_str()))
    );
    drop(lines);
    assert_eq!(post(ack(&session, None)).await, 404, "the stream is closed");
}

#[test]
fn the_same_objects_in_another_order_render_the_same_view() {
    let mut a = snapshot("read-secret");
    let mut second: XBackend = a.backends[0].clone();
    second.metadata.name = Some("other".into());
    a.backends.push(second);
    let mut b = a.clone();
    b.backends.reverse();
    let render = |s: Snapshot| {
        let s = cut::sorted(s);
        let report = compile(&s, &Settings::default()).report().clone();
        let c = Cut::new(1, s, report, "cluster.local".into(), None);
        let caller = c.caller(
            "spiffe://cluster.local/ns/agents/sa/planner",
            "agents",
            None,
        );
        c.render(&caller).version.clone()
    };
    assert_eq!(render(a.clone()), render(b.clone()));
    assert_eq!(
        cut::snapshot_digest(&cut::sorted(a)),
        cut::snapshot_digest(&cut::sorted(b))
    );
}
