//! The `a2a-sdk` agent and client through the sidecar, in both method-name
//! generations: methods and skills decided per request.

use serde_json::json;

use crate::common::http::post;
use crate::common::manifests::{allow_agent, service_backend};
use crate::common::peers::{Peer, a2a_client};
use crate::common::sidecar::Sidecar;

const AUTHORIZATION: &str = r#"      type: Inline
      mcp: {mcpBaseProtocolMethodsOption: MATCH_BASE_PROTOCOL_METHODS}
      a2a:
        methods: [SendMessage, SendStreamingMessage]
        skills: [summarize]"#;

async fn setup() -> (Peer, Sidecar) {
    let agent = Peer::python(
        "a2a_agent.py",
        &["--public-url", "http://planner.team:9999/"],
    )
    .await;
    let manifests = service_backend("a2a", "team", "planner", 9999, agent.port)
        + &allow_agent("team", "planner-callers", "planner", AUTHORIZATION);
    (agent, Sidecar::start(&manifests, &[]).await)
}

#[tokio::test]
async fn a2a_sdk_skills_are_decided_in_both_generations() {
    let (agent, sidecar) = setup().await;
    let proxy = sidecar.proxy_url();
    for protocol in ["1.0", "0.3"] {
        for stream in [&[][..], &["--stream"]] {
            let mut args = vec!["--protocol", protocol, "--skill", "summarize"];
            args.extend_from_slice(stream);
            let out = a2a_client("http://planner.team:9999/", &args, Some(&proxy)).await;
            assert_eq!(
                out["card"]["skills"],
                json!(["summarize", "translate"]),
                "the agent card is served: {out}"
            );
            assert_eq!(out["ok"], true, "{protocol} {stream:?}: {out}");
            assert!(
                out["texts"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("skill=summarize text=hello")),
                "{out}"
            );
        }
        let before = agent.stats().await["rpc_requests"].as_u64().unwrap();
        let out = a2a_client(
            "http://planner.team:9999/",
            &["--protocol", protocol, "--skill", "translate"],
            Some(&proxy),
        )
        .await;
        assert_eq!(
            out["ok"], false,
            "{protocol}: translate is not allowed: {out}"
        );
        assert!(
            out["error"].as_str().unwrap().contains("forbidden"),
            "{out}"
        );
        assert_eq!(
            agent.stats().await["rpc_requests"].as_u64().unwrap(),
            before,
            "the denied message never reached the agent"
        );
    }
    assert_methods_as_sent(&sidecar).await;
    sidecar.stop().await;
}

#[tokio::test]
async fn a2a_methods_are_decided_in_both_generations() {
    let (agent, sidecar) = setup().await;
    let before = agent.stats().await["rpc_requests"].as_u64().unwrap();
    for (method, version) in [("GetTask", "1.0"), ("tasks/get", "")] {
        let body = json!({"jsonrpc":"2.0","id":"t1","method":method,"params":{"id":"task-1"}});
        let reply = post(
            sidecar.outbound,
            "http://planner.team:9999/",
            &body,
            &[("a2a-version", version)],
        )
        .await;
        assert_eq!(reply.status, 200);
        let error = &reply.json()["error"];
        assert_eq!(
            (error["code"].as_i64(), error["message"].as_str()),
            (Some(403), Some("Access to this agent method is forbidden."))
        );
        assert!(
            error["data"]["reason"]
                .as_str()
                .unwrap()
                .contains("A2A GetTask"),
            "{error}"
        );
        assert_eq!(reply.json()["id"], "t1");
    }
    assert_eq!(
        agent.stats().await["rpc_requests"].as_u64().unwrap(),
        before
    );
    sidecar.stop().await;
}

/// The SDK really spoke both generations: metrics keep the method names as sent.
async fn assert_methods_as_sent(sidecar: &Sidecar) {
    let metrics = sidecar.metrics().await;
    let seen = [
        ("SendMessage", "allow"),
        ("SendStreamingMessage", "allow"),
        ("message/send", "allow"),
        ("message/stream", "allow"),
        ("SendMessage", "deny"),
        ("message/send", "deny"),
    ];
    for (method, decision) in seen {
        let labels = format!(r#"protocol="a2a",method="{method}",decision="{decision}""#);
        let series = format!(r#"agentnet_requests_total{{backend="team/planner",{labels}}}"#);
        assert!(metrics.contains(&series), "{series} in {metrics}");
    }
}
