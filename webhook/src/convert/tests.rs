use serde_json::json;

use super::*;

fn request(objects: Vec<Value>, desired: &str) -> ConversionRequest {
    let review: ConversionReview = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "ConversionReview",
        "request": {"uid": "c0ffee00-0000-4000-8000-000000000001", "desiredAPIVersion": desired, "objects": objects}
    }))
    .unwrap();
    ConversionRequest::from_review(review).unwrap()
}

fn v0_policy() -> Value {
    json!({
        "apiVersion": "agentic.networking.x-k8s.io/v0alpha0",
        "kind": "XAccessPolicy",
        "metadata": {"name": "tools", "namespace": "agents", "uid": "u1", "resourceVersion": "9"},
        "spec": {
            "targetRefs": [{"group": "agentic.networking.x-k8s.io", "kind": "XBackend", "name": "mcp"}],
            "rules": [{
                "name": "sum",
                "source": {"type": "ServiceAccount", "serviceAccount": {"name": "agent"}},
                "authorization": {"type": "InlineTools", "tools": ["get-sum"]}
            }]
        }
    })
}

#[test]
fn converts_every_object_and_echoes_the_uid() {
    let response = review(request(
        vec![v0_policy()],
        "agentic.networking.x-k8s.io/v1alpha1",
    ));
    let json = serde_json::to_value(response.into_review()).unwrap();
    assert_eq!(json["apiVersion"], "apiextensions.k8s.io/v1");
    assert_eq!(json["kind"], "ConversionReview");
    let r = &json["response"];
    assert_eq!(r["uid"], "c0ffee00-0000-4000-8000-000000000001");
    assert_eq!(r["result"]["status"], "Success");
    let converted = &r["convertedObjects"][0];
    assert_eq!(
        converted["apiVersion"],
        "agentic.networking.x-k8s.io/v1alpha1"
    );
    assert_eq!(
        converted["metadata"]["resourceVersion"], "9",
        "metadata is kept"
    );
    assert_eq!(converted["spec"]["action"], "Allow");
    let methods = &converted["spec"]["rules"][0]["authorization"]["mcp"]["methods"][0];
    assert_eq!(methods["name"], "tools/call");
    assert_eq!(methods["params"], json!(["get-sum"]));
}

#[test]
fn round_trip_keeps_the_v0alpha0_spec() {
    let up = review(request(
        vec![v0_policy()],
        "agentic.networking.x-k8s.io/v1alpha1",
    ));
    let v1 = up.converted_objects[0].clone();
    let down = review(request(vec![v1], "agentic.networking.x-k8s.io/v0alpha0"));
    assert!(down.result.is_success(), "{:?}", down.result);
    assert_eq!(down.converted_objects[0]["spec"], v0_policy()["spec"]);
}

#[test]
fn a_failure_names_the_object_and_returns_no_objects() {
    let mut bad = v0_policy();
    bad["kind"] = json!("XBackend");
    let response = review(request(
        vec![v0_policy(), bad],
        "agentic.networking.x-k8s.io/v1alpha1",
    ));
    assert!(response.result.is_failure());
    assert!(response.converted_objects.is_empty(), "all or nothing");
    let message = &response.result.message;
    assert!(
        message.starts_with(
            "converting XBackend agents/tools to agentic.networking.x-k8s.io/v1alpha1:"
        ),
        "{message}"
    );
}

#[test]
fn an_unknown_target_version_fails_the_review() {
    let response = review(request(vec![v0_policy()], "agentic.networking.x-k8s.io/v9"));
    assert!(response.result.is_failure());
    assert!(
        response.result.message.contains("v9"),
        "{}",
        response.result.message
    );
}

#[test]
fn unreadable_bodies_are_reported_not_panicked_on() {
    assert!(
        parse(b"{")
            .unwrap_err()
            .starts_with("not a ConversionReview")
    );
    let no_request = br#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview"}"#;
    assert_eq!(
        parse(no_request).unwrap_err(),
        "the ConversionReview has no request"
    );
}
