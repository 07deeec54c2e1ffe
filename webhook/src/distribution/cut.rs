//! One compiled cluster snapshot and the views cut from it. A view is rendered (cut,
//! serialized, digested) once per distinct caller and generation; every stream of that
//! caller sends the same bytes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use agentnet_policy::{BackendRef, Caller, PolicyRef, Report, Snapshot, view};
use bytes::Bytes;
use kube::ResourceExt;

use crate::status::stores::{SERVICE_NAME_LABEL, service_of};

/// A generation of the cluster's policy, as this replica sees it.
pub struct Cut {
    pub generation: u64,
    /// Per policy: its `metadata.generation` in this cut and the first cut that held
    /// that generation (a sidecar holding a view of that cut or later holds it).
    pub since: HashMap<PolicyRef, (i64, u64)>,
    snapshot: Snapshot,
    report: Report,
    trust_domain: String,
    /// (namespace, pod) → the XBackends whose Service has that pod as an endpoint.
    served: HashMap<(String, String), Vec<BackendRef>>,
    /// One cell per caller: the map's lock is held only to find the cell, so callers
    /// render in parallel while the streams of one caller wait for the same render.
    rendered: Mutex<HashMap<Caller, Arc<OnceLock<Arc<Rendered>>>>>,
}

/// A caller's view as it goes on the wire.
#[derive(Debug)]
pub struct Rendered {
    pub version: String,
    /// One `{"type":"view",…}` line, newline included.
    pub line: Bytes,
    /// The policies of the view that can apply to its caller (`agentnet_policy::applies`).
    pub applies: Arc<[PolicyRef]>,
}

// === impl Cut ===

impl Cut {
    /// Cut `generation`, after `previous` (whose `since` it carries on).
    pub fn new(
        generation: u64,
        snapshot: Snapshot,
        report: Report,
        trust_domain: String,
        previous: Option<&Cut>,
    ) -> Self {
        let served = served_backends(&snapshot);
        let since = snapshot
            .policies
            .iter()
            .map(|p| {
                let id = PolicyRef::of(p);
                let g = p.metadata.generation.unwrap_or_default();
                let first = previous
                    .and_then(|c| c.since.get(&id))
                    .filter(|(seen, _)| *seen == g)
                    .map_or(generation, |(_, first)| *first);
                (id, (g, first))
            })
            .collect();
        Self {
            generation,
            since,
            snapshot,
            report,
            trust_domain,
            served,
            rendered: Mutex::new(HashMap::new()),
        }
    }

    /// Who a pod's sidecar decides for: its identity, and the backends its pod serves
    /// (known once the pod is an endpoint of their Service).
    pub fn caller(&self, spiffe_id: &str, namespace: &str, pod: Option<&str>) -> Caller {
        let serves = pod
            .and_then(|p| self.served.get(&(namespace.to_owned(), p.to_owned())))
            .cloned()
            .unwrap_or_default();
        Caller {
            spiffe_id: spiffe_id.to_owned(),
            serves,
        }
    }

    /// `caller`'s view, rendered once per cut.
    pub fn render(&self, caller: &Caller) -> Arc<Rendered> {
        let cell = {
            let mut rendered = self.rendered.lock().unwrap_or_else(|p| p.into_inner());
            rendered.entry(caller.clone()).or_default().clone()
        };
        cell.get_or_init(|| self.render_now(caller)).clone()
    }

    fn render_now(&self, caller: &Caller) -> Arc<Rendered> {
        let v = view(&self.snapshot, &self.report, caller, &self.trust_domain);
        let applies = v
            .policies
            .iter()
            .filter(|p| agentnet_policy::applies(p))
            .map(PolicyRef::of)
            .collect();
        // Plain data always serializes; an empty view would fail closed at the sidecar.
        let snapshot = serde_json::to_vec(&v).unwrap_or_default();
        let version = digest(&snapshot);
        let mut line = Vec::with_capacity(snapshot.len() + 96);
        line.extend_from_slice(
            format!(
                r#"{{"type":"view","version":"{version}","generation":{},"snapshot":"#,
                self.generation
            )
            .as_bytes(),
        );
        line.extend_from_slice(&snapshot);
        line.extend_from_slice(b"}\n");
        Arc::new(Rendered {
            version,
            line: Bytes::from(line),
            applies,
        })
    }

    /// Objects in the cut, for logs: (backends, policies, services, endpoint slices).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let s = &self.snapshot;
        (
            s.backends.len(),
            s.policies.len(),
            s.services.len(),
            s.endpoint_slices.len(),
        )
    }
}

/// `s` in a stable order (namespace, name): the stores list objects in no particular
/// order, and a view must serialize to the same bytes (so the same version) whenever
/// its content is the same, or every cut would push every view again.
pub fn sorted(mut s: Snapshot) -> Snapshot {
    fn key(
        m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    ) -> (Option<String>, Option<String>) {
        (m.namespace.clone(), m.name.clone())
    }
    s.backends.sort_by_key(|o| key(&o.metadata));
    s.policies.sort_by_key(|o| key(&o.metadata));
    s.services.sort_by_key(|o| key(&o.metadata));
    s.endpoint_slices.sort_by_key(|o| key(&o.metadata));
    s.rate_limits.sort_by_key(|o| key(&o.metadata));
    s.reference_grants.sort_by_key(|o| key(&o.metadata));
    s
}

/// A digest of a sorted snapshot, to skip cuts that change nothing.
pub fn snapshot_digest(s: &Snapshot) -> String {
    digest(&serde_json::to_vec(s).unwrap_or_default())
}

/// First 16 bytes of the SHA-256 of the view, in hex.
fn digest(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    d.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn served_backends(s: &Snapshot) -> HashMap<(String, String), Vec<BackendRef>> {
    let mut by_service: HashMap<(String, String), Vec<BackendRef>> = HashMap::new();
    for b in &s.backends {
        if let Some(key) = service_of(b) {
            let id = BackendRef::new(&key.0, &b.name_any());
            by_service.entry(key).or_default().push(id);
        }
    }
    let mut served: HashMap<(String, String), Vec<BackendRef>> = HashMap::new();
    for slice in &s.endpoint_slices {
        let (Some(ns), Some(service)) = (slice.namespace(), slice.labels().get(SERVICE_NAME_LABEL))
        else {
            continue;
        };
        let Some(backends) = by_service.get(&(ns.clone(), service.clone())) else {
            continue;
        };
        let pods = slice.endpoints.iter().flatten().filter_map(|e| {
            let t = e.target_ref.as_ref()?;
            (t.kind.as_deref() == Some("Pod") && t.namespace.as_deref().unwrap_or(&ns) == ns)
                .then(|| t.name.clone())
                .flatten()
        });
        for pod in pods {
            let entry = served.entry((ns.clone(), pod)).or_default();
            entry.extend(backends.iter().cloned());
            entry.sort();
            entry.dedup();
        }
    }
    served
}
