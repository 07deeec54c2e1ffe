//! agentnet-webhook against the real API server: the chart installed with
//! `helm template | kubectl apply`, the webhook as a local process (see
//! `agentnet_e2e::webhook`), pods created through the API and read back as stored.

use std::time::Duration;

use agentnet_e2e::webhook::{Isolated, LocalWebhook, random_suffix, shared, until_injecting};
use agentnet_e2e::{TestNs, client, eventually, kubectl, kubectl_stdin, output_text};
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{ListParams, PostParams};
use serde_json::{Value, json};

const ENABLED: (&str, &str) = ("agentnet.dev/inject", "enabled");
const PROXY: &str = "http://127.0.0.1:15001";
const NO_PROXY: &str = "localhost,127.0.0.1,::1,kubernetes,kubernetes.default,kubernetes.default.svc,kubernetes.default.svc.cluster.local,$(KUBERNETES_SERVICE_HOST)";

/// A namespace opted in to the shared webhook, once that webhook injects there.
async fn injected_ns(prefix: &str) -> (TestNs, &'static LocalWebhook) {
    let webhook = shared().await.unwrap();
    let ns = TestNs::with_labels(prefix, &[ENABLED]).await.unwrap();
    until_injecting(&ns.name).await.unwrap();
    (ns, webhook)
}

fn pod(name: &str, extra: Value) -> Pod {
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": "example.com/agent:1.0"}]}
    });
    merge(&mut pod, extra);
    serde_json::from_value(pod).unwrap()
}

fn merge(target: &mut Value, extra: Value) {
    match (target, extra) {
        (Value::Object(t), Value::Object(e)) => e
            .into_iter()
            .for_each(|(k, v)| merge(t.entry(k).or_insert(Value::Null), v)),
        (t, e) => *t = e,
    }
}

async fn create(ns: &TestNs, pod: &Pod) -> Value {
    let created = ns
        .api::<Pod>()
        .create(&PostParams::default(), pod)
        .await
        .unwrap();
    let name = created.metadata.name.clone().unwrap();
    serde_json::to_value(ns.api::<Pod>().get(&name).await.unwrap()).unwrap()
}

fn env_pairs(container: &Value) -> Vec<(String, String)> {
    let env = container["env"].as_array().cloned().unwrap_or_default();
    env.iter()
        .map(|v| {
            let value = v["value"]
                .as_str()
                .or(v["valueFrom"]["fieldRef"]["fieldPath"].as_str())
                .unwrap_or("");
            (v["name"].as_str().unwrap().to_owned(), value.to_owned())
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn expected_sidecar_env(webhook: &LocalWebhook) -> Vec<(String, String)> {
    let identity = format!("https://agentnet-webhook.{}.svc:8444", webhook.namespace);
    pairs(&[
        ("AGENTNET_POD_NAME", "metadata.name"),
        ("AGENTNET_POD_NAMESPACE", "metadata.namespace"),
        ("AGENTNET_SERVICE_ACCOUNT", "spec.serviceAccountName"),
        ("AGENTNET_TRUST_DOMAIN", "cluster.local"),
        ("AGENTNET_CLUSTER_DOMAIN", "cluster.local"),
        ("AGENTNET_IDENTITY_URL", &identity),
        (
            "AGENTNET_TOKEN_FILE",
            "/var/run/secrets/agentnet.dev/token/token",
        ),
        (
            "AGENTNET_TRUST_BUNDLE_FILE",
            "/var/run/secrets/agentnet.dev/trust/ca-bundle.pem",
        ),
        ("AGENTNET_POLICY_URL", &identity),
        ("AGENTNET_LOG", "info"),
        ("AGENTNET_LOG_FORMAT", "json"),
        ("AGENTNET_OUTBOUND_ADDR", "127.0.0.1:15001"),
        ("AGENTNET_INBOUND_ADDR", "0.0.0.0:15006"),
        ("AGENTNET_ADMIN_ADDR", "0.0.0.0:15000"),
        ("AGENTNET_OUTBOUND_DEFAULT", "allow"),
        ("AGENTNET_BACKEND_DEFAULT", "allow"),
        ("AGENTNET_CERT_LIFETIME", "1h"),
        ("AGENTNET_CAPTURE", "iptables"),
    ])
}

fn app_proxy_env(no_proxy: &str) -> Vec<(String, String)> {
    pairs(&[
        ("HTTP_PROXY", PROXY),
        ("http_proxy", PROXY),
        ("HTTPS_PROXY", PROXY),
        ("https_proxy", PROXY),
        ("NO_PROXY", no_proxy),
        ("no_proxy", no_proxy),
    ])
}

/// The two volumes as stored (with the API server's defaults).
fn expected_volumes() -> Value {
    json!([
        {"name": "agentnet-token", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"audience": "agentnet", "expirationSeconds": 3600, "path": "token"}}
        ]}},
        {"name": "agentnet-trust-bundle", "configMap": {"defaultMode": 420, "name": "agentnet-trust-bundle",
            "items": [{"key": "ca-bundle.pem", "path": "ca-bundle.pem"}], "optional": true}}
    ])
}

fn assert_sidecar(sidecar: &Value, webhook: &LocalWebhook) {
    assert_eq!(sidecar["name"], "agentnet-sidecar");
    assert_eq!(
        sidecar["image"],
        "ghcr.io/agentnet-dev/agentnet-sidecar:0.1.0"
    );
    assert_eq!(sidecar["restartPolicy"], "Always");
    assert_eq!(env_pairs(sidecar), expected_sidecar_env(webhook));
    assert_eq!(
        sidecar["securityContext"],
        json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "privileged": false,
            "readOnlyRootFilesystem": true, "runAsGroup": 15000, "runAsNonRoot": true, "runAsUser": 15000,
            "seccompProfile": {"type": "RuntimeDefault"}})
    );
    assert_eq!(
        sidecar["startupProbe"],
        json!({"failureThreshold": 300, "periodSeconds": 1, "successThreshold": 1, "timeoutSeconds": 1,
            "httpGet": {"path": "/ready", "port": "agentnet-admin", "scheme": "HTTP"}})
    );
    assert_eq!(
        sidecar["resources"],
        json!({"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}})
    );
    assert_eq!(
        sidecar["ports"][0],
        json!({"name": "agentnet-admin", "containerPort": 15000, "protocol": "TCP"})
    );
    let mounts = sidecar["volumeMounts"].as_array().unwrap();
    assert_eq!(
        mounts[..2],
        [
            json!({"name": "agentnet-token", "mountPath": "/var/run/secrets/agentnet.dev/token", "readOnly": true}),
            json!({"name": "agentnet-trust-bundle", "mountPath": "/var/run/secrets/agentnet.dev/trust", "readOnly": true}),
        ]
    );
}

#[tokio::test]
async fn chart_installs_with_helm_template_and_kubectl_apply() {
    let webhook = shared().await.unwrap();
    let client = client().await.unwrap();
    let mwc = Api::<MutatingWebhookConfiguration>::all(client.clone())
        .get(&webhook.mutating_webhook)
        .await
        .unwrap();
    let hook = &mwc.webhooks.unwrap()[0];
    assert_eq!(
        hook.client_config.url.as_deref(),
        Some(format!("https://127.0.0.1:{}/mutate", webhook.port).as_str())
    );
    assert!(
        hook.client_config.ca_bundle.is_some(),
        "the webhook published its CA"
    );
    assert_eq!(hook.failure_policy.as_deref(), Some("Fail"));
    assert_eq!(hook.side_effects, "NoneOnDryRun");
    assert_eq!(hook.timeout_seconds, Some(5));
    assert_eq!(hook.reinvocation_policy.as_deref(), Some("IfNeeded"));
    assert_eq!(hook.admission_review_versions, ["v1"]);
    assert_eq!(hook.match_conditions.as_ref().map(Vec::len), Some(3));
    let deployment: Api<Deployment> = Api::namespaced(client.clone(), &webhook.namespace);
    let deployment = deployment.get("agentnet-webhook").await.unwrap();
    assert_eq!(deployment.spec.replicas, Some(2));
    let crd = Api::<CustomResourceDefinition>::all(client)
        .get("xaccesspolicies.agentic.networking.x-k8s.io")
        .await
        .unwrap();
    let conversion = crd.spec.conversion.unwrap();
    assert_eq!(conversion.strategy, "Webhook");
    let config = conversion.webhook.unwrap().client_config.unwrap();
    assert_eq!(
        config.url,
        Some(format!("https://127.0.0.1:{}/convert", webhook.port))
    );
    assert!(config.service.is_none() && config.ca_bundle.is_some());
}

#[tokio::test]
async fn chart_passes_sidecar_args_as_a_json_array_never_split_on_commas() {
    let manifest = agentnet_e2e::webhook::render(
        "agentnet-args",
        "agentnet-args-system",
        "https://127.0.0.1:1",
        &[
            ("sidecar.args[0]", "--log=info\\,agentnet=debug"),
            ("sidecar.args[1]", "--outbound-default=deny"),
        ],
        false,
    )
    .unwrap();
    let env = agentnet_e2e::webhook::deployment_env(&manifest, "agentnet-args-system").unwrap();
    let args = env
        .iter()
        .find(|(k, _)| k == "AGENTNET_SIDECAR_ARGS")
        .map(|(_, v)| serde_json::from_str::<Vec<String>>(v).unwrap());
    assert_eq!(
        args.unwrap(),
        ["--log=info,agentnet=debug", "--outbound-default=deny"]
    );
}

#[tokio::test]
async fn pod_in_labelled_namespace_is_stored_with_exactly_the_sidecar() {
    let (ns, webhook) = injected_ns("e2e-inject").await;
    let env = json!([{"name": "NO_PROXY", "value": "internal.example.com"}, {"name": "MODEL", "value": "small"}]);
    let stored = create(
        &ns,
        &pod(
            "agent",
            json!({"spec": {"containers": [{"name": "app", "image": "example.com/agent:1.0", "env": env}]}}),
        ),
    )
    .await;
    let spec = &stored["spec"];
    let init = spec["initContainers"].as_array().unwrap();
    assert_eq!(init.len(), 2, "the capture rules, then the sidecar");
    assert_eq!(init[0]["name"], "agentnet-init");
    assert_sidecar(&init[1], webhook);
    let mut app_env = pairs(&[("MODEL", "small")]);
    app_env.extend(app_proxy_env(&format!("{NO_PROXY},internal.example.com")));
    assert_eq!(
        env_pairs(&spec["containers"][0]),
        app_env,
        "user NO_PROXY merged, MODEL kept"
    );
    let volumes = spec["volumes"].as_array().unwrap();
    assert!(
        volumes[0]["name"]
            .as_str()
            .unwrap()
            .starts_with("kube-api-access-")
    );
    assert_eq!(Value::Array(volumes[1..].to_vec()), expected_volumes());
    assert_eq!(
        stored["metadata"]["annotations"],
        json!({"agentnet.dev/injected": "true", "agentnet.dev/sidecar-version": "0.1.0"})
    );
    let events: Api<Event> = ns.api();
    eventually(
        "an Injected event for the pod",
        Duration::from_secs(20),
        || {
            let events = events.clone();
            async move {
                let list = events.list(&ListParams::default()).await?;
                Ok(list
                    .items
                    .iter()
                    .any(|e| {
                        e.reason.as_deref() == Some("Injected")
                            && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("agent")
                    })
                    .then_some(()))
            }
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn pod_without_volumes_or_init_containers_is_injected() {
    let (ns, webhook) = injected_ns("e2e-bare").await;
    // Without the ServiceAccount token volume, the webhook really sees no volumes.
    let stored = create(
        &ns,
        &pod(
            "bare",
            json!({"spec": {"automountServiceAccountToken": false}}),
        ),
    )
    .await;
    let spec = &stored["spec"];
    assert_eq!(spec["volumes"], expected_volumes());
    let init = spec["initContainers"].as_array().unwrap();
    assert_eq!(init.len(), 2);
    assert_sidecar(&init[1], webhook);
    assert_eq!(
        init[1]["volumeMounts"].as_array().unwrap().len(),
        2,
        "no API token mounted"
    );
    assert_eq!(env_pairs(&spec["containers"][0]), app_proxy_env(NO_PROXY));
}

#[tokio::test]
async fn pods_outside_the_selection_and_reinjections_are_left_unchanged() {
    let (ns, _) = injected_ns("e2e-unchanged").await;
    let plain = TestNs::new("e2e-unlabelled").await.unwrap();
    let stored = create(&plain, &pod("agent", json!({}))).await;
    assert!(stored["spec"].get("initContainers").is_none());
    assert!(stored["metadata"].get("annotations").is_none());
    assert!(stored["spec"]["containers"][0].get("env").is_none());

    let opted_out = json!({"metadata": {"labels": {"agentnet.dev/inject": "disabled"}}});
    let stored = create(&ns, &pod("opted-out", opted_out)).await;
    assert!(stored["spec"].get("initContainers").is_none());
    assert!(stored["metadata"].get("annotations").is_none());

    // A second admission of an injected pod: its stored spec submitted again.
    let first = create(&ns, &pod("first", json!({}))).await;
    let mut again = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "again", "annotations": first["metadata"]["annotations"]}, "spec": first["spec"]});
    again["spec"].as_object_mut().unwrap().remove("nodeName");
    let second = create(&ns, &serde_json::from_value(again).unwrap()).await;
    assert_eq!(
        second["spec"]["initContainers"],
        first["spec"]["initContainers"]
    );
    assert_eq!(second["spec"]["containers"], first["spec"]["containers"]);
    assert_eq!(second["spec"]["volumes"], first["spec"]["volumes"]);
    assert_eq!(
        second["metadata"]["annotations"],
        first["metadata"]["annotations"]
    );
}

#[tokio::test]
async fn server_side_dry_run_returns_the_injected_pod_and_leaves_nothing_behind() {
    let (ns, webhook) = injected_ns("e2e-dry").await;
    let manifest = serde_json::to_string(&pod("dry", json!({}))).unwrap();
    let out = kubectl_stdin(
        &[
            "create",
            "--dry-run=server",
            "-o",
            "json",
            "-n",
            &ns.name,
            "-f",
            "-",
        ],
        &manifest,
    )
    .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let returned: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_sidecar(&returned["spec"]["initContainers"][1], webhook);
    assert_eq!(
        returned["metadata"]["annotations"]["agentnet.dev/injected"],
        "true"
    );

    assert!(
        ns.api::<Pod>().get_opt("dry").await.unwrap().is_none(),
        "no pod stored"
    );
    // Positive control: a real creation's Event arrives; the dry-run's never does.
    create(&ns, &pod("real", json!({}))).await;
    let events: Api<Event> = ns.api();
    let list = eventually(
        "the Injected event of the real pod",
        Duration::from_secs(20),
        || {
            let events = events.clone();
            async move {
                let list = events.list(&ListParams::default()).await?;
                let named = |n: &str| {
                    list.items
                        .iter()
                        .any(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(n))
                };
                Ok(named("real").then(|| list.items.clone()))
            }
        },
    )
    .await
    .unwrap();
    let regarding: Vec<_> = list
        .iter()
        .filter_map(|e| e.regarding.as_ref()?.name.clone())
        .collect();
    assert_eq!(regarding, ["real"], "no Event for the dry-run pod");
}

#[tokio::test]
async fn invalid_annotation_is_rejected_with_the_message() {
    let (ns, _) = injected_ns("e2e-invalid").await;
    let bad = pod(
        "bad",
        json!({"metadata": {"annotations": {"agentnet.dev/outbound-default": "maybe"}}}),
    );
    let out = kubectl_stdin(
        &["create", "-n", &ns.name, "-f", "-"],
        &serde_json::to_string(&bad).unwrap(),
    )
    .unwrap();
    assert!(!out.status.success());
    let text = output_text(&out);
    assert!(
        text.contains(r#"admission webhook "inject.agentnet.dev" denied the request: agentnet: invalid pod annotation agentnet.dev/outbound-default="maybe": accepted values are allow or deny"#),
        "{text}"
    );
    assert!(ns.api::<Pod>().get_opt("bad").await.unwrap().is_none());
}

#[tokio::test]
async fn unknown_annotation_is_admitted_with_a_warning_and_an_event() {
    // A manifest written for a newer agentnet, or a webhook rolled back: not a reason
    // to stop pods.
    let (ns, _) = injected_ns("e2e-unknown-annotation").await;
    let newer = pod(
        "newer",
        json!({"metadata": {"annotations": {"agentnet.dev/from-the-future": "on"}}}),
    );
    let out = kubectl_stdin(
        &["create", "-n", &ns.name, "-f", "-"],
        &serde_json::to_string(&newer).unwrap(),
    )
    .unwrap();
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("Warning: agentnet: unknown annotation agentnet.dev/from-the-future ignored"),
        "kubectl shows the admission warning: {text}"
    );
    let stored = serde_json::to_value(ns.api::<Pod>().get("newer").await.unwrap()).unwrap();
    let init = stored["spec"]["initContainers"].as_array().unwrap();
    assert!(
        init.iter().any(|c| c["name"] == "agentnet-sidecar"),
        "{stored}"
    );
    let event = eventually(
        "the UnknownAnnotation Event",
        Duration::from_secs(30),
        || async {
            let out = kubectl(&[
                "get",
                "events",
                "-n",
                &ns.name,
                "--field-selector",
                "reason=UnknownAnnotation",
                "-o",
                "json",
            ])?;
            let list: Value = serde_json::from_slice(&out.stdout)?;
            Ok(list["items"]
                .as_array()
                .and_then(|items| items.first().cloned()))
        },
    )
    .await
    .unwrap();
    assert_eq!(event["type"], "Warning");
    let note = event["note"]
        .as_str()
        .or(event["message"].as_str())
        .unwrap_or_default();
    assert!(
        note.contains("agentnet.dev/from-the-future") && note.contains("agentnet.dev/log-level"),
        "names the key and the known ones: {event}"
    );
}

#[tokio::test]
async fn with_the_webhook_stopped_labelled_namespaces_refuse_pods_and_others_do_not() {
    let isolated = Isolated::start(&format!("agentnet-e2e-down-{}", random_suffix()))
        .await
        .unwrap();
    let ns = TestNs::with_labels("e2e-down", &isolated.namespace_labels())
        .await
        .unwrap();
    until_injecting(&ns.name).await.unwrap();
    isolated.0.stop();

    let err = eventually(
        "pod creation to be refused",
        Duration::from_secs(30),
        || {
            let api = ns.api::<Pod>();
            async move {
                let name = format!("refused-{}", random_suffix());
                match api
                    .create(&PostParams::default(), &pod(&name, json!({})))
                    .await
                {
                    Ok(_) => Ok(None),
                    Err(e) => Ok(Some(e.to_string())),
                }
            }
        },
    )
    .await
    .unwrap();
    assert!(
        err.contains("failed calling webhook") && err.contains("inject.agentnet.dev"),
        "{err}"
    );

    let plain = TestNs::new("e2e-down-plain").await.unwrap();
    let stored = create(&plain, &pod("fine", json!({}))).await;
    assert!(stored["spec"].get("initContainers").is_none());
}

#[tokio::test]
async fn v0alpha0_policy_round_trips_through_convert() {
    let webhook = shared().await.unwrap();
    let ns = TestNs::new("e2e-convert").await.unwrap();
    let v0 = json!({
        "apiVersion": "agentic.networking.x-k8s.io/v0alpha0",
        "kind": "XAccessPolicy",
        "metadata": {"name": "tools"},
        "spec": {
            "targetRefs": [{"group": "agentic.networking.x-k8s.io", "kind": "XBackend", "name": "mcp"}],
            "rules": [{"name": "sum", "source": {"type": "ServiceAccount", "serviceAccount": {"name": "agent"}},
                "authorization": {"type": "InlineTools", "tools": ["get-sum"]}}]
        }
    });
    let out = eventually(
        "the v0alpha0 policy to be stored",
        Duration::from_secs(30),
        || {
            let (name, doc) = (ns.name.clone(), v0.to_string());
            async move {
                let out = kubectl_stdin(&["create", "-n", &name, "-f", "-"], &doc)?;
                anyhow::ensure!(out.status.success(), "{}", output_text(&out));
                Ok(Some(out))
            }
        },
    )
    .await
    .unwrap();
    assert!(out.status.success());
    let get = |version: &str| {
        let out = kubectl(&[
            "get",
            &format!("xaccesspolicies.{version}.agentic.networking.x-k8s.io"),
            "tools",
            "-n",
            &ns.name,
            "-o",
            "json",
        ])
        .unwrap();
        assert!(out.status.success(), "{}", output_text(&out));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let v1 = get("v1alpha1");
    assert_eq!(v1["spec"]["action"], "Allow");
    let rule = &v1["spec"]["rules"][0];
    assert_eq!(rule["source"]["serviceAccount"]["name"], "agent");
    assert_eq!(
        rule["authorization"]["mcp"]["methods"],
        json!([{"name": "tools/call", "params": ["get-sum"]}])
    );
    assert_eq!(
        get("v0alpha0")["spec"],
        v0["spec"],
        "back as v0alpha0, unchanged"
    );
    let (_, metrics) = webhook.admin_get("/metrics").unwrap();
    assert!(
        metrics.contains("agentnet_webhook_conversions_total{result=\"converted\"}"),
        "{metrics}"
    );
}
