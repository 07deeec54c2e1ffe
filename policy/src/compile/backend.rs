//! XBackends into [`Backend`]s: validated, their Service and ready endpoints resolved,
//! and the destinations they claim (oldest first; a later claim is Conflicted).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use agentnet_api::v0alpha0::XBackend;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::{EndpointPort, EndpointSlice};

use super::{Settings, Snapshot};
use crate::cel::Needs;
use crate::index::{Backend, Destination, Endpoint, Protocol};
use crate::report::{BackendReport, Condition, Reason};
use crate::request::BackendRef;

/// Backends (sorted by namespace and name), their reports, and who claims which `(host, port)`.
pub(super) struct Backends {
    pub backends: Vec<Backend>,
    pub reports: Vec<BackendReport>,
    pub by_authority: HashMap<(String, u16), usize>,
    pub by_address: HashMap<SocketAddr, Option<usize>>,
}

/// The fields `mcp` and `a2a` share.
struct Address<'a> {
    protocol: Protocol,
    service_name: Option<&'a str>,
    hostname: Option<&'a str>,
    port: i32,
    path: &'a str,
}

pub(super) fn compile_backends(snapshot: &Snapshot, settings: &Settings) -> Backends {
    let mut order: Vec<&XBackend> = snapshot.backends.iter().collect();
    order.sort_by_key(|a| backend_id(a));
    let mut out = Backends {
        backends: Vec::new(),
        reports: Vec::new(),
        by_authority: HashMap::new(),
        by_address: HashMap::new(),
    };
    for xb in &order {
        let (backend, report) = compile_backend(xb, snapshot, settings);
        out.backends.push(backend);
        out.reports.push(report);
    }
    claim_destinations(&order, &mut out);
    out
}

fn compile_backend(
    xb: &XBackend,
    snapshot: &Snapshot,
    settings: &Settings,
) -> (Backend, BackendReport) {
    let id = backend_id(xb);
    let (address, invalid) = address(xb);
    let destination = address
        .as_ref()
        .and_then(|a| destination(&id, a, snapshot, settings));
    let invalid = invalid.or_else(|| {
        let port = address.as_ref().map_or(0, |a| a.port);
        destination
            .is_none()
            .then(|| format!("port must be between 1 and 65535, got {port}"))
    });
    let backend = Backend {
        id,
        protocol: address.as_ref().map_or(Protocol::Mcp, |a| a.protocol),
        path: address.as_ref().map_or("/", |a| a.path).to_owned(),
        destination,
        policies: Vec::new(),
        rejected: Vec::new(),
        invalid,
        cel_needs: Needs::default(),
        rate_limits: Vec::new(),
    };
    let report = report(xb, &backend, address.as_ref(), snapshot);
    (backend, report)
}

fn report(
    xb: &XBackend,
    b: &Backend,
    address: Option<&Address<'_>>,
    snapshot: &Snapshot,
) -> BackendReport {
    let (id, destination, invalid) = (&b.id, &b.destination, b.invalid.as_deref());
    let resolved_refs = match (address, destination) {
        (Some(a), Some(Destination::Service { .. })) => service_refs(id, a, snapshot),
        _ => Condition::ok(Reason::ResolvedRefs, "All references resolved"),
    };
    let accepted = match invalid {
        Some(why) => Condition::failed(Reason::Invalid, why),
        None => Condition::ok(Reason::Accepted, "XBackend accepted"),
    };
    BackendReport {
        backend: id.clone(),
        generation: xb.metadata.generation,
        accepted,
        resolved_refs,
    }
}

/// The protocol block and, when it is not exactly one of each, why the backend is invalid.
fn address(xb: &XBackend) -> (Option<Address<'_>>, Option<String>) {
    let address = match (&xb.spec.mcp, &xb.spec.a2a) {
        (Some(m), _) => Address {
            protocol: Protocol::Mcp,
            service_name: m.service_name.as_deref(),
            hostname: m.hostname.as_deref(),
            port: m.port,
            path: &m.path,
        },
        (None, Some(a)) => Address {
            protocol: Protocol::A2a,
            service_name: a.service_name.as_deref(),
            hostname: a.hostname.as_deref(),
            port: a.port,
            path: &a.path,
        },
        (None, None) => return (None, Some("exactly one of mcp or a2a must be set".into())),
    };
    let invalid = if xb.spec.mcp.is_some() && xb.spec.a2a.is_some() {
        Some("exactly one of mcp or a2a must be set".to_owned())
    } else if address.service_name.is_some() == address.hostname.is_some() {
        Some("exactly one of the fields in [serviceName hostname] must be set".to_owned())
    } else {
        None
    };
    (Some(address), invalid)
}

fn destination(
    id: &BackendRef,
    a: &Address<'_>,
    snapshot: &Snapshot,
    settings: &Settings,
) -> Option<Destination> {
    let port = u16::try_from(a.port).ok().filter(|p| *p != 0)?;
    if let Some(hostname) = a.hostname.filter(|_| a.service_name.is_none()) {
        return Some(Destination::External {
            hostname: hostname.trim_end_matches('.').to_ascii_lowercase(),
            port,
        });
    }
    let name = a.service_name?;
    let service = find_service(snapshot, &id.namespace, name);
    let cluster_ip = service
        .and_then(|s| s.spec.as_ref()?.cluster_ip.clone())
        .filter(|ip| !ip.is_empty() && ip != "None");
    Some(Destination::Service {
        namespace: id.namespace.clone(),
        name: name.to_owned(),
        fqdn: format!("{name}.{}.svc.{}", id.namespace, settings.cluster_domain),
        port,
        cluster_ip,
        endpoints: service
            .map(|s| endpoints(s, port, snapshot))
            .unwrap_or_default(),
    })
}

fn service_refs(id: &BackendRef, a: &Address<'_>, snapshot: &Snapshot) -> Condition {
    let name = a.service_name.unwrap_or_default();
    match find_service(snapshot, &id.namespace, name) {
        None => Condition::failed(
            Reason::BackendNotFound,
            format!("Service {}/{name} not found", id.namespace),
        ),
        Some(s) if service_port(s, a.port).is_none() => Condition::failed(
            Reason::BackendNotFound,
            format!("Service {}/{name} has no port {}", id.namespace, a.port),
        ),
        Some(_) => Condition::ok(Reason::ResolvedRefs, "All references resolved"),
    }
}

pub(super) fn find_service<'s>(
    snapshot: &'s Snapshot,
    namespace: &str,
    name: &str,
) -> Option<&'s Service> {
    snapshot.services.iter().find(|s| {
        s.metadata.namespace.as_deref() == Some(namespace)
            && s.metadata.name.as_deref() == Some(name)
    })
}

/// The Service port's name (`""` when unnamed), if it has the port.
fn service_port(service: &Service, port: i32) -> Option<&str> {
    let ports = service.spec.as_ref()?.ports.as_ref()?;
    ports
        .iter()
        .find(|p| p.port == port)
        .map(|p| p.name.as_deref().unwrap_or_default())
}

/// Ready addresses of the Service's EndpointSlices, on the endpoint port that serves `port`.
pub(super) fn endpoints(service: &Service, port: u16, snapshot: &Snapshot) -> Vec<Endpoint> {
    let Some(port_name) = service_port(service, i32::from(port)) else {
        return Vec::new();
    };
    let ours = |s: &&EndpointSlice| {
        s.metadata.namespace == service.metadata.namespace
            && slice_service(s) == service.metadata.name.as_deref()
    };
    let slices = snapshot.endpoint_slices.iter().filter(ours);
    let mut endpoints: Vec<Endpoint> = slices.flat_map(|s| ready_endpoints(s, port_name)).collect();
    endpoints.sort();
    endpoints.dedup();
    endpoints
}

/// A slice's ready addresses on its port named like the Service port (a missing
/// `ready` condition means ready, as Kubernetes defines it).
fn ready_endpoints(slice: &EndpointSlice, port_name: &str) -> Vec<Endpoint> {
    let named = |p: &&EndpointPort| p.name.as_deref().unwrap_or_default() == port_name;
    let Some(port) = slice
        .ports
        .iter()
        .flatten()
        .find(named)
        .and_then(|p| u16::try_from(p.port?).ok())
    else {
        return Vec::new();
    };
    let ready = slice
        .endpoints
        .iter()
        .flatten()
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) != Some(false));
    ready
        .flat_map(|e| &e.addresses)
        .map(|a| Endpoint {
            address: a.clone(),
            port,
        })
        .collect()
}

fn slice_service(slice: &EndpointSlice) -> Option<&str> {
    slice
        .metadata
        .labels
        .as_ref()?
        .get("kubernetes.io/service-name")
        .map(String::as_str)
}

/// Oldest first: every destination a backend names (even an invalid one, so its
/// traffic is denied rather than treated as no backend's) is claimed if still free.
fn claim_destinations(order: &[&XBackend], out: &mut Backends) {
    let mut by_age: Vec<usize> = (0..order.len()).collect();
    by_age.sort_by(|a, b| {
        let created = |i: &usize| order[*i].metadata.creation_timestamp.clone();
        created(a).cmp(&created(b)).then_with(|| a.cmp(b))
    });
    for i in by_age {
        let keys = authorities(&out.backends[i]);
        let taken = keys
            .iter()
            .find_map(|k| out.by_authority.get(k).map(|owner| (k, *owner)));
        if let Some(((host, port), owner)) = taken {
            let why = format!(
                "{host}:{port} is already claimed by XBackend {}",
                out.backends[owner].id
            );
            out.backends[i].invalid.get_or_insert_with(|| why.clone());
            out.reports[i].accepted = Condition::failed(Reason::Conflicted, why);
            continue;
        }
        for k in keys {
            out.by_authority.insert(k, i);
        }
        for addr in addresses(&out.backends[i]) {
            // A second owner makes the address ambiguous, never someone else's.
            out.by_address
                .entry(addr)
                .and_modify(|owner| *owner = owner.filter(|o| *o == i))
                .or_insert(Some(i));
        }
    }
}

fn authorities(b: &Backend) -> Vec<(String, u16)> {
    match &b.destination {
        Some(Destination::External { hostname, port }) => vec![(hostname.clone(), *port)],
        Some(Destination::Service {
            fqdn,
            port,
            cluster_ip,
            ..
        }) => std::iter::once(fqdn.clone())
            .chain(cluster_ip.clone())
            .map(|h| (h, *port))
            .collect(),
        None => Vec::new(),
    }
}

/// The addresses connections to a Service backend arrive at: its cluster IP with the
/// Service port, each endpoint with its port.
fn addresses(b: &Backend) -> Vec<SocketAddr> {
    let Some(Destination::Service {
        port,
        cluster_ip,
        endpoints,
        ..
    }) = &b.destination
    else {
        return Vec::new();
    };
    let cluster = cluster_ip
        .iter()
        .filter_map(|ip| ip.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, *port));
    let endpoints = endpoints.iter().filter_map(|e| {
        let ip = e.address.parse::<IpAddr>().ok()?;
        Some(SocketAddr::new(ip, e.port))
    });
    cluster.chain(endpoints).collect()
}

fn backend_id(xb: &XBackend) -> BackendRef {
    BackendRef::new(
        xb.metadata.namespace.as_deref().unwrap_or("default"),
        xb.metadata.name.as_deref().unwrap_or_default(),
    )
}
