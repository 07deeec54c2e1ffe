//! The PodCertificateRequest signer of the shared local webhook: requests as a kubelet
//! would create them (for a real Pod on a Node object; no kubelet runs), issued with the
//! pod's SPIFFE ID or denied with a reason.

use k8s_openapi::ByteString;
use k8s_openapi::api::certificates::v1::{
    ClusterTrustBundle, PodCertificateRequest, PodCertificateRequestSpec,
    PodCertificateRequestStatus,
};
use k8s_openapi::api::core::v1::{Node, Pod, ServiceAccount};
use kube::Api;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use serde_json::json;
use x509_parser::extensions::GeneralName;

use super::{WAIT, spiffe_id};
use agentnet_e2e::identity::{certificates, verify};
use agentnet_e2e::webhook::shared;
use agentnet_e2e::{TestNs, eventually};
use anyhow::bail;

const SIGNER: &str = "agentnet.dev/identity";

#[tokio::test]
async fn pod_certificate_requests_are_signed_with_the_pods_identity() {
    shared().await.unwrap();
    let ns = TestNs::new("id-pcr").await.unwrap();
    let sa = ns.create_service_account("agent").await.unwrap();
    let node = pcr_node(&ns).await;
    let pod = pcr_pod(&ns, &node).await;
    let key = rcgen::KeyPair::generate().unwrap();
    let pcr = pcr_request(&ns, "agent-cert", &sa, &node, &pod, &key).await;
    let status = until_final(&ns, &pcr).await;
    let condition = &status.conditions.clone().unwrap()[0];
    assert_eq!(condition.type_, "Issued", "{condition:?}");

    let chain = status.certificate_chain.unwrap();
    let der = certificates(&chain).unwrap().remove(0);
    let (_, leaf) = x509_parser::parse_x509_certificate(&der).unwrap();
    let id = spiffe_id(&ns.name, "agent");
    let san = leaf.subject_alternative_name().unwrap().unwrap().value;
    assert_eq!(san.general_names, vec![GeneralName::URI(&id)]);
    assert_eq!(
        leaf.public_key().subject_public_key.data,
        key.public_key_raw()
    );
    let (nb, na) = (status.not_before.unwrap().0, status.not_after.unwrap().0);
    assert_eq!(na.as_second() - nb.as_second(), 3600);
    let refresh = status.begin_refresh_at.unwrap().0.as_second();
    assert_eq!(refresh - nb.as_second(), 1800, "refresh half-way");

    let ctbs: Api<ClusterTrustBundle> = Api::all(ns.client.clone());
    let ctb = ctbs.get("agentnet.dev:identity:roots").await.unwrap();
    assert_eq!(ctb.spec.signer_name.as_deref(), Some(SIGNER));
    eventually(
        "the chain to verify against the ClusterTrustBundle",
        WAIT,
        || async {
            let ctb = ctbs.get("agentnet.dev:identity:roots").await?;
            verify(&chain, &ctb.spec.trust_bundle).map(Some)
        },
    )
    .await
    .unwrap();
    let _ = Api::<Node>::all(ns.client.clone())
        .delete(&node.metadata.name.unwrap(), &DeleteParams::default())
        .await;
}

#[tokio::test]
async fn pod_certificate_requests_with_other_key_types_are_denied() {
    shared().await.unwrap();
    let ns = TestNs::new("id-pcr-deny").await.unwrap();
    let sa = ns.create_service_account("agent").await.unwrap();
    let node = pcr_node(&ns).await;
    let pod = pcr_pod(&ns, &node).await;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let pcr = pcr_request(&ns, "agent-p384", &sa, &node, &pod, &key).await;
    let status = until_final(&ns, &pcr).await;
    let condition = &status.conditions.unwrap()[0];
    assert_eq!(
        (condition.type_.as_str(), condition.reason.as_str()),
        ("Denied", "UnsupportedKeyType")
    );
    assert!(status.certificate_chain.is_none());
    let _ = Api::<Node>::all(ns.client.clone())
        .delete(&node.metadata.name.unwrap(), &DeleteParams::default())
        .await;
}

/// A Node object (no kubelet runs; the request only needs its name and UID).
async fn pcr_node(ns: &TestNs) -> Node {
    let node = Node {
        metadata: ObjectMeta {
            name: Some(format!("{}-node", ns.name)),
            ..ObjectMeta::default()
        },
        ..Node::default()
    };
    let nodes: Api<Node> = Api::all(ns.client.clone());
    nodes.create(&PostParams::default(), &node).await.unwrap()
}

/// A pod of ServiceAccount `agent` bound to `node` (it stays Pending).
async fn pcr_pod(ns: &TestNs, node: &Node) -> Pod {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "agent"},
        "spec": {
            "serviceAccountName": "agent",
            "automountServiceAccountToken": false,
            "nodeName": node.metadata.name,
            "containers": [{"name": "app", "image": "example.com/agent:1"}],
        },
    }))
    .unwrap();
    ns.api::<Pod>()
        .create(&PostParams::default(), &pod)
        .await
        .unwrap()
}

/// A request as the kubelet would make it for `pod`, with `key`'s stub CSR.
async fn pcr_request(
    ns: &TestNs,
    name: &str,
    sa: &ServiceAccount,
    node: &Node,
    pod: &Pod,
    key: &rcgen::KeyPair,
) -> PodCertificateRequest {
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let stub = params.serialize_request(key).unwrap().der().to_vec();
    let uid = |m: &ObjectMeta| m.uid.clone().unwrap();
    let request = PodCertificateRequest {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        spec: PodCertificateRequestSpec {
            signer_name: SIGNER.into(),
            pod_name: "agent".into(),
            pod_uid: uid(&pod.metadata),
            service_account_name: "agent".into(),
            service_account_uid: uid(&sa.metadata),
            node_name: node.metadata.name.clone().unwrap(),
            node_uid: uid(&node.metadata),
            max_expiration_seconds: Some(3600),
            stub_pkc_s10_request: ByteString(stub),
            unverified_user_annotations: None,
        },
        status: None,
    };
    let api: Api<PodCertificateRequest> = ns.api();
    api.create(&PostParams::default(), &request).await.unwrap()
}

/// The status once the signer has issued, denied or failed the request.
async fn until_final(ns: &TestNs, pcr: &PodCertificateRequest) -> PodCertificateRequestStatus {
    let api: Api<PodCertificateRequest> = ns.api();
    let name = pcr.metadata.name.clone().unwrap();
    eventually(
        "the signer to answer the PodCertificateRequest",
        WAIT,
        || {
            let (api, name) = (api.clone(), name.clone());
            async move {
                let status = api.get(&name).await?.status;
                let done = status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| !c.is_empty());
                if status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.len() > 1)
                {
                    bail!("more than one condition: {status:?}");
                }
                Ok(done.then_some(status).flatten())
            }
        },
    )
    .await
    .unwrap()
}
