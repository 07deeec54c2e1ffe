//! The identity service of the shared local agentnet-webhook against the real API
//! server: `/v1/certify` with real TokenRequest tokens checked by real TokenReviews,
//! trust bundles distributed to opted-in namespaces, CA rotation with the
//! `agentnet-webhook ca` commands, and the PodCertificateRequest signer.

use std::time::Duration;

use agentnet_e2e::identity::{
    Reply, ca_secret, certificates, certify, csr, run_ca, token, trust_bundle, verify, with_expiry,
};
use agentnet_e2e::webhook::{LocalWebhook, shared};
use agentnet_e2e::{TestNs, eventually, kubectl, output_text};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use rand::Rng;
use serde_json::{Value, json};
use x509_parser::extensions::GeneralName;

mod pod_certificates;

const WAIT: Duration = Duration::from_secs(60);
const OPT_IN: (&str, &str) = ("agentnet.dev/inject", "enabled");

/// An opted-in namespace with ServiceAccount `sa`, and the bundle distributed to it.
async fn opted_in(prefix: &str, sa: &str) -> (TestNs, &'static LocalWebhook, String) {
    let webhook = shared().await.unwrap();
    let ns = TestNs::with_labels(prefix, &[OPT_IN]).await.unwrap();
    ns.create_service_account(sa).await.unwrap();
    let bundle = trust_bundle(&ns.client, &ns.name).await.unwrap();
    (ns, webhook, bundle)
}

fn spiffe_id(ns: &str, sa: &str) -> String {
    format!("spiffe://cluster.local/ns/{ns}/sa/{sa}")
}

/// One call, retried only while the listener cannot be reached or trusted yet (it
/// serves an untrusted placeholder until the CA has loaded).
async fn call(webhook: &LocalWebhook, bundle: &str, token: Option<&str>, body: Value) -> Reply {
    let body = &body;
    eventually("the identity service to answer", WAIT, || async move {
        certify(webhook, bundle, token, body).await.map(Some)
    })
    .await
    .unwrap()
}

async fn issued(webhook: &LocalWebhook, bundle: &str, token: &str, body: Value) -> Value {
    let reply = call(webhook, bundle, Some(token), body).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

fn text<'a>(body: &'a Value, field: &str) -> &'a str {
    body[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {body}"))
}

/// Seconds from notBefore to notAfter of a reply.
fn lifetime(body: &Value) -> i64 {
    let at = |f| {
        text(body, f)
            .parse::<k8s_openapi::jiff::Timestamp>()
            .unwrap()
    };
    at("notAfter").as_second() - at("notBefore").as_second()
}

/// Verifies against the bundle distributed to `ns`, waiting for it to catch up with
/// a rotation another test may have started.
async fn verifies_against_distributed_bundle(ns: &TestNs, chain: &str) {
    eventually(
        "the chain to verify against the distributed bundle",
        WAIT,
        || async {
            let bundle = trust_bundle(&ns.client, &ns.name).await?;
            verify(chain, &bundle).map(Some)
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn certify_issues_only_the_callers_spiffe_id_chaining_to_the_bundle() {
    let (ns, webhook, bundle) = opted_in("id-issue", "agent-a").await;
    let token = token(&ns.client, &ns.name, "agent-a", "agentnet")
        .await
        .unwrap();
    let body = issued(webhook, &bundle, &token, json!({"csr": csr(&[]).unwrap()})).await;
    let id = spiffe_id(&ns.name, "agent-a");
    assert_eq!(text(&body, "spiffeId"), id);

    let chain = text(&body, "certificateChain");
    let der = certificates(chain).unwrap().remove(0);
    let (_, leaf) = x509_parser::parse_x509_certificate(&der).unwrap();
    assert_eq!(leaf.subject().iter_attributes().count(), 0, "empty subject");
    let san = leaf.subject_alternative_name().unwrap().unwrap();
    assert!(san.critical);
    assert_eq!(
        san.value.general_names,
        vec![GeneralName::URI(&id)],
        "only URI SAN"
    );
    assert!(
        !leaf.basic_constraints().unwrap().unwrap().value.ca,
        "cA=false"
    );
    let ku = leaf.key_usage().unwrap().unwrap();
    assert!(ku.critical && ku.value.digital_signature() && ku.value.flags == 1);
    let eku = leaf.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && eku.client_auth);
    assert_eq!(
        lifetime(&body),
        3600 + 60,
        "1 h by default, backdated a minute"
    );

    verify(chain, text(&body, "trustBundle")).unwrap();
    verifies_against_distributed_bundle(&ns, chain).await;
    let (_, metrics) = webhook.admin_get("/metrics").unwrap();
    assert!(
        metrics.contains(r#"identity_certificates_issued_total{via="certify"}"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn certify_honours_the_requested_lifetime() {
    let (ns, webhook, bundle) = opted_in("id-lifetime", "agent").await;
    let token = token(&ns.client, &ns.name, "agent", "agentnet")
        .await
        .unwrap();
    let body = json!({"csr": csr(&[]).unwrap(), "lifetimeSeconds": 120});
    let body = issued(webhook, &bundle, &token, body).await;
    assert_eq!(lifetime(&body), 120 + 60);
}

#[tokio::test]
async fn certify_refuses_a_csr_naming_another_identity() {
    let (ns, webhook, bundle) = opted_in("id-other", "agent-a").await;
    ns.create_service_account("agent-b").await.unwrap();
    let token = token(&ns.client, &ns.name, "agent-a", "agentnet")
        .await
        .unwrap();
    let own = csr(&[&spiffe_id(&ns.name, "agent-a")]).unwrap();
    issued(webhook, &bundle, &token, json!({"csr": own})).await;
    let b = csr(&[&spiffe_id(&ns.name, "agent-b")]).unwrap();
    let reply = call(webhook, &bundle, Some(&token), json!({"csr": b})).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(reply.body["error"], "forbidden");
    assert!(
        text(&reply.body, "message").contains("agent-b"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn certify_refuses_wrong_audience_expired_and_missing_tokens() {
    let (ns, webhook, bundle) = opted_in("id-tokens", "agent").await;
    let body = json!({"csr": csr(&[]).unwrap()});
    let other = token(&ns.client, &ns.name, "agent", "not-agentnet")
        .await
        .unwrap();
    let reply = call(webhook, &bundle, Some(&other), body.clone()).await;
    assert_eq!(
        (reply.status, &reply.body["error"]),
        (401, &json!("unauthenticated"))
    );

    let real = token(&ns.client, &ns.name, "agent", "agentnet")
        .await
        .unwrap();
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    // Control: the same claims re-signed, still valid, are accepted...
    let fresh = with_expiry(&real, now + 600).unwrap();
    issued(webhook, &bundle, &fresh, body.clone()).await;
    // ...so the expired copy is refused for its expiry alone.
    let expired = with_expiry(&real, now - 3600).unwrap();
    let reply = call(webhook, &bundle, Some(&expired), body.clone()).await;
    assert_eq!(reply.status, 401, "{}", reply.body);

    let reply = call(webhook, &bundle, None, body).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
}

#[tokio::test]
async fn certify_refuses_tokens_of_a_deleted_service_account() {
    let (ns, webhook, bundle) = opted_in("id-deleted", "doomed").await;
    let token = token(&ns.client, &ns.name, "doomed", "agentnet")
        .await
        .unwrap();
    let body = json!({"csr": csr(&[]).unwrap()});
    issued(webhook, &bundle, &token, body.clone()).await;
    let sas: Api<ServiceAccount> = ns.api();
    sas.delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    let (token, body, ns) = (&token, &body, &ns);
    eventually(
        "the deleted account's token to be refused",
        WAIT,
        || async move {
            // The bundle as a sidecar reads it, now: the CA rotation test may have
            // switched the signer (and so the listener's certificate) meanwhile.
            let bundle = trust_bundle(&ns.client, &ns.name).await?;
            let reply = certify(webhook, &bundle, Some(token), body).await?;
            Ok((reply.status == 401).then_some(()))
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn trust_bundle_reaches_namespaces_as_they_opt_in() {
    let webhook = shared().await.unwrap();
    let plain = TestNs::new("id-plain").await.unwrap();
    let later = TestNs::new("id-later").await.unwrap();
    let out = kubectl(&[
        "label",
        "namespace",
        &later.name,
        "agentnet.dev/inject=enabled",
    ])
    .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let bundle = trust_bundle(&later.client, &later.name).await.unwrap();
    assert!(!certificates(&bundle).unwrap().is_empty());
    let cms: Api<ConfigMap> = later.api();
    let cm = cms.get("agentnet-trust-bundle").await.unwrap();
    let labels = cm.metadata.labels.unwrap_or_default();
    assert_eq!(
        labels
            .get("app.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("agentnet-webhook")
    );
    let plain_cms: Api<ConfigMap> = plain.api();
    assert!(
        plain_cms
            .get_opt("agentnet-trust-bundle")
            .await
            .unwrap()
            .is_none(),
        "not opted in"
    );
    // Every root of the CA Secret (the last certificate of each entry) is distributed.
    let secrets: Api<Secret> = Api::namespaced(later.client.clone(), &webhook.namespace);
    let (secrets, ns) = (&secrets, &later);
    eventually(
        "the bundle to hold exactly the Secret's roots",
        WAIT,
        || async move {
            let data = secrets
                .get(&ca_secret(webhook))
                .await?
                .data
                .unwrap_or_default();
            let mut roots = Vec::new();
            for (key, pem) in data.iter().filter(|(k, _)| k.ends_with(".crt")) {
                let chain = certificates(std::str::from_utf8(&pem.0)?)?;
                let root = chain.last().ok_or_else(|| anyhow::anyhow!("{key} empty"))?;
                roots.push(root.to_vec());
            }
            let bundle = certificates(&trust_bundle(&ns.client, &ns.name).await?)?;
            let mut bundle: Vec<Vec<u8>> = bundle.iter().map(|c| c.to_vec()).collect();
            roots.sort();
            bundle.sort();
            Ok((bundle == roots).then_some(()))
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn ca_rotation_keeps_old_and_new_certificates_valid() {
    let (ns, webhook, bundle) = opted_in("id-rotate", "agent").await;
    let token = token(&ns.client, &ns.name, "agent", "agentnet")
        .await
        .unwrap();
    let old = issued(webhook, &bundle, &token, json!({"csr": csr(&[]).unwrap()})).await;
    let old_chain = text(&old, "certificateChain").to_owned();

    let id = format!("e2e-{:06}", rand::rng().random_range(0..1_000_000u32));
    let added = run_ca(webhook, &["add-root", "--id", &id]).unwrap();
    assert_eq!(added.trim(), id);
    let secrets: Api<Secret> = Api::namespaced(ns.client.clone(), &webhook.namespace);
    let secret = secrets.get(&ca_secret(webhook)).await.unwrap();
    let new_root = String::from_utf8(secret.data.unwrap()[&format!("{id}.crt")].0.clone()).unwrap();
    let new_der = certificates(&new_root).unwrap().remove(0);
    eventually("the new root in the distributed bundle", WAIT, || async {
        let bundle = trust_bundle(&ns.client, &ns.name).await?;
        Ok(certificates(&bundle)?.contains(&new_der).then_some(()))
    })
    .await
    .unwrap();

    run_ca(webhook, &["use-signer", &id]).unwrap();
    let token = &token;
    let new_chain = eventually("a certificate from the new signer", WAIT, || async {
        let bundle = trust_bundle(&ns.client, &ns.name).await?;
        let reply = certify(webhook, &bundle, Some(token), &json!({"csr": csr(&[])?})).await?;
        let chain = reply.body["certificateChain"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Ok(verify(&chain, &new_root).is_ok().then_some(chain))
    })
    .await
    .unwrap();
    let distributed = trust_bundle(&ns.client, &ns.name).await.unwrap();
    verify(&old_chain, &distributed).expect("old certificates still verify");
    verify(&new_chain, &distributed).expect("new certificates verify");
    assert!(
        verify(&old_chain, &new_root).is_err(),
        "the old one is from the old root"
    );
    let list = run_ca(webhook, &["list"]).unwrap();
    assert!(
        list.lines().any(|l| l.starts_with(&format!("{id}\tyes"))),
        "{list}"
    );
}

/// One question to the API server's authorizer: may the webhook's ServiceAccount do this?
struct Access<'a> {
    verb: &'a str,
    group: &'a str,
    resource: &'a str,
    subresource: Option<&'a str>,
    name: Option<&'a str>,
    namespace: Option<&'a str>,
}

async fn allowed(client: &kube::Client, user: &str, a: &Access<'_>) -> bool {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.to_owned()),
            groups: Some(vec![
                "system:serviceaccounts".into(),
                "system:authenticated".into(),
            ]),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(a.verb.into()),
                group: Some(a.group.into()),
                resource: Some(a.resource.into()),
                subresource: a.subresource.map(Into::into),
                name: a.name.map(Into::into),
                namespace: a.namespace.map(Into::into),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(client.clone());
    let reviewed = api.create(&PostParams::default(), &review).await.unwrap();
    reviewed.status.is_some_and(|s| s.allowed)
}

#[tokio::test]
async fn chart_grants_the_identity_service_what_it_needs_and_no_more() {
    let webhook = shared().await.unwrap();
    let ns = TestNs::new("id-rbac").await.unwrap();
    let user = format!(
        "system:serviceaccount:{}:agentnet-webhook",
        webhook.namespace
    );
    let (release, ca, other) = (
        Some(webhook.namespace.as_str()),
        ca_secret(webhook),
        Some(ns.name.as_str()),
    );
    let access = |verb, group, resource, name, namespace| Access {
        verb,
        group,
        resource,
        subresource: None,
        name,
        namespace,
    };
    let certs = "certificates.k8s.io";
    let cases = [
        (access("create", "", "configmaps", None, other), true),
        (
            access(
                "update",
                "",
                "configmaps",
                Some("agentnet-trust-bundle"),
                other,
            ),
            true,
        ),
        (
            access("update", "", "configmaps", Some("other"), other),
            false,
        ),
        // Policy progress reports: in the release namespace only.
        (
            access(
                "patch",
                "",
                "configmaps",
                Some("agentnet-progress-a"),
                release,
            ),
            true,
        ),
        (access("list", "", "configmaps", None, release), true),
        (
            access(
                "patch",
                "",
                "configmaps",
                Some("agentnet-progress-a"),
                other,
            ),
            false,
        ),
        (access("watch", "", "namespaces", None, None), true),
        (access("watch", "", "secrets", Some(&ca), release), true),
        (access("update", "", "secrets", Some(&ca), release), true),
        (access("get", "", "secrets", Some("other"), release), false),
        (access("get", "", "secrets", Some(&ca), other), false),
        (
            access(
                "update",
                "coordination.k8s.io",
                "leases",
                Some("agentnet-identity"),
                release,
            ),
            true,
        ),
        (
            access(
                "create",
                "authentication.k8s.io",
                "tokenreviews",
                None,
                None,
            ),
            true,
        ),
        (
            access("watch", certs, "podcertificaterequests", None, None),
            true,
        ),
        (
            access("update", certs, "podcertificaterequests", None, other),
            false,
        ),
        (
            Access {
                subresource: Some("status"),
                ..access("update", certs, "podcertificaterequests", None, other)
            },
            true,
        ),
        (
            access(
                "sign",
                certs,
                "signers",
                Some("agentnet.dev/identity"),
                None,
            ),
            true,
        ),
        (
            access(
                "attest",
                certs,
                "signers",
                Some("agentnet.dev/identity"),
                None,
            ),
            true,
        ),
        (
            access(
                "sign",
                certs,
                "signers",
                Some("kubernetes.io/kube-apiserver-client"),
                None,
            ),
            false,
        ),
        (
            access(
                "update",
                certs,
                "clustertrustbundles",
                Some("agentnet.dev:identity:roots"),
                None,
            ),
            true,
        ),
    ];
    for (a, expected) in &cases {
        let got = allowed(&ns.client, &user, a).await;
        let what = (a.verb, a.resource, a.subresource, a.name, a.namespace);
        assert_eq!(got, *expected, "{what:?}");
    }
}
