//! Which destinations are agentnet sidecars: Services annotated
//! `agentnet.dev/peer-identity` (a SPIFFE ID, or a ServiceAccount name in the Service's
//! namespace and our trust domain) select pods whose sidecar accepts mTLS on
//! `agentnet.dev/peer-port` (default 15006). Calls to such a Service's backends go to
//! its endpoints' addresses on that port, over mTLS, and the server must present exactly
//! that identity. An annotation that does not parse makes calls fail closed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use agentnet_api::contract::{self, service_annotation};
use agentnet_policy::Source;
use k8s_openapi::api::core::v1::Service;

/// Peer Services by `(namespace, name)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Peers(HashMap<(String, String), Peer>);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The SPIFFE ID its pods must present, or why the annotations are unusable.
    pub identity: Result<Arc<str>, String>,
    /// The pods' inbound (mTLS) port.
    pub port: u16,
}

// === impl Peers ===

impl Peers {
    pub fn from_services(services: &[Service], trust_domain: &str) -> Self {
        let peers = services.iter().filter_map(|service| {
            let meta = &service.metadata;
            let (namespace, name) = (meta.namespace.clone()?, meta.name.clone()?);
            let annotations = meta.annotations.as_ref()?;
            let peer = Peer::from_annotations(annotations, &namespace, trust_domain)?;
            Some(((namespace, name), peer))
        });
        Peers(peers.collect())
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<&Peer> {
        self.0.get(&(namespace.to_owned(), name.to_owned()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

// === impl Peer ===

impl Peer {
    /// `None` without a peer-identity annotation.
    fn from_annotations(
        annotations: &BTreeMap<String, String>,
        namespace: &str,
        trust_domain: &str,
    ) -> Option<Peer> {
        let value = annotations.get(service_annotation::PEER_IDENTITY)?;
        let port = port(annotations.get(service_annotation::PEER_PORT));
        let identity = match &port {
            Err(e) => Err(e.clone()),
            Ok(_) => identity(value.trim(), namespace, trust_domain),
        };
        let port = port.unwrap_or_default();
        Some(Peer { identity, port })
    }
}

fn identity(value: &str, namespace: &str, trust_domain: &str) -> Result<Arc<str>, String> {
    let source = match value.starts_with("spiffe://") {
        true => Source::from_spiffe_id(value),
        false => Source::service_account(trust_domain, namespace, value),
    };
    let source = source.map_err(|e| format!("{}: {e}", service_annotation::PEER_IDENTITY))?;
    source
        .spiffe_id()
        .map(Arc::from)
        .ok_or_else(|| format!("{}: no SPIFFE ID", service_annotation::PEER_IDENTITY))
}

fn port(value: Option<&String>) -> Result<u16, String> {
    let Some(value) = value else {
        return Ok(contract::INBOUND_PORT);
    };
    match value.trim().parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(format!(
            "{}: {value:?} is not a port",
            service_annotation::PEER_PORT
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(ns: &str, name: &str, annotations: &[(&str, &str)]) -> Service {
        let mut s = Service::default();
        s.metadata.namespace = Some(ns.into());
        s.metadata.name = Some(name.into());
        s.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        s
    }

    #[test]
    fn annotated_services_are_peers_with_their_identity_and_port() {
        let services = [
            service(
                "agents",
                "b",
                &[(service_annotation::PEER_IDENTITY, "agent-b")],
            ),
            service(
                "agents",
                "c",
                &[
                    (
                        service_annotation::PEER_IDENTITY,
                        "spiffe://other.td/ns/x/sa/y",
                    ),
                    (service_annotation::PEER_PORT, "16006"),
                ],
            ),
            service("agents", "plain", &[("team", "x")]),
        ];
        let peers = Peers::from_services(&services, "cluster.local");
        assert_eq!(peers.len(), 2);
        let b = peers.get("agents", "b").unwrap();
        assert_eq!(
            b.identity.as_deref(),
            Ok("spiffe://cluster.local/ns/agents/sa/agent-b")
        );
        assert_eq!(b.port, contract::INBOUND_PORT);
        let c = peers.get("agents", "c").unwrap();
        assert_eq!(
            (c.identity.as_deref(), c.port),
            (Ok("spiffe://other.td/ns/x/sa/y"), 16006)
        );
        assert!(peers.get("agents", "plain").is_none());
    }

    #[test]
    fn unusable_annotations_make_a_peer_that_fails_closed() {
        let services = [
            service(
                "a",
                "bad-id",
                &[(service_annotation::PEER_IDENTITY, "spiffe://Bad/x")],
            ),
            service(
                "a",
                "bad-port",
                &[
                    (service_annotation::PEER_IDENTITY, "sa"),
                    (service_annotation::PEER_PORT, "http"),
                ],
            ),
        ];
        let peers = Peers::from_services(&services, "cluster.local");
        assert!(peers.get("a", "bad-id").unwrap().identity.is_err());
        let port = peers.get("a", "bad-port").unwrap();
        assert!(port.identity.as_ref().unwrap_err().contains("not a port"));
    }
}
