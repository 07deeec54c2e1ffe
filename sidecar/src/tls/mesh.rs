//! The client to peer sidecars: HTTP/1.1 over mTLS to a peer's inbound port, with our
//! SVID as the client certificate and the peer's SVID checked against the identity its
//! Service's annotation names. One pooled client per expected identity, so a pooled
//! connection is only ever reused for the identity it was verified for. After each
//! renewal of our certificate the pool starts over: requests then open new connections
//! (presenting the new certificate, verifying the peer's current one) while requests
//! in flight finish on the old ones.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::peers::Peer;
use crate::identity::{CertStore, TrustStore};
use crate::policy_source::PolicyState;
use crate::request::body::ProxyBody;
use crate::request::forward::{UpstreamError, classify};

type PeerClient = Client<HttpsConnector<HttpConnector>, ProxyBody>;

/// Our certificate and trust bundle, when the sidecar has a workload identity.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub store: Arc<CertStore>,
    pub trust: Arc<TrustStore>,
}

#[derive(Debug)]
pub struct Mesh {
    /// Where the peer Services come from (published with the policy index).
    state: Arc<PolicyState>,
    credentials: Option<Credentials>,
    /// By expected identity: the client and the certificate generation it serves.
    clients: Mutex<HashMap<Arc<str>, (u64, PeerClient)>>,
    connect_timeout: Duration,
}

// === impl Mesh ===

impl Mesh {
    pub fn new(
        state: Arc<PolicyState>,
        credentials: Option<Credentials>,
        connect_timeout: Duration,
    ) -> Self {
        Mesh {
            state,
            credentials,
            clients: Mutex::default(),
            connect_timeout,
        }
    }

    /// The peer Service `namespace/name`, if it is one.
    pub fn peer(&self, namespace: &str, name: &str) -> Option<Peer> {
        self.state.peers().get(namespace, name).cloned()
    }

    /// Sends `req` (an `https://<endpoint>:<peer port>` URI) to a peer that must be
    /// `identity`; fails closed without a certificate or with an unusable annotation.
    pub async fn send(
        &self,
        identity: &Result<Arc<str>, String>,
        req: Request<ProxyBody>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let upstream = req
            .uri()
            .authority()
            .map(ToString::to_string)
            .unwrap_or_default();
        let refused = |message: String| UpstreamError::Tls {
            upstream: upstream.clone(),
            message,
        };
        let identity = identity.as_ref().map_err(|e| refused(e.clone()))?;
        let client = self.client(identity).map_err(refused)?;
        client
            .request(req)
            .await
            .map_err(|e| classify(upstream, &e))
    }

    fn client(&self, identity: &Arc<str>) -> Result<PeerClient, String> {
        let Some(credentials) = &self.credentials else {
            return Err(
                "the destination is an agentnet peer (mTLS), but this sidecar has no \
                        workload certificate (--identity-url or --pod-certificate-file)"
                    .into(),
            );
        };
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let generation = credentials.store.publishes();
        match clients.get(identity) {
            Some((built, client)) if *built == generation => return Ok(client.clone()),
            _ => {}
        }
        let client = self.build(credentials, identity.clone())?;
        clients.insert(identity.clone(), (generation, client.clone()));
        Ok(client)
    }

    fn build(&self, credentials: &Credentials, identity: Arc<str>) -> Result<PeerClient, String> {
        let (store, trust) = (credentials.store.clone(), credentials.trust.clone());
        let tls = super::client_config(store, trust, identity).map_err(|e| e.to_string())?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(self.connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        Ok(Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector))
    }
}
