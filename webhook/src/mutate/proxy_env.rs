//! The proxy variables of app containers: HTTP(S)_PROXY point at the sidecar, and
//! NO_PROXY keeps loopback, the API server, annotated hosts and whatever the user
//! already listed. The user's own NO_PROXY is merged, never dropped.

use agentnet_api::contract;
use k8s_openapi::api::core::v1::{Container, EnvVar};

const PROXY_VARS: &[&str] = &["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"];
const NO_PROXY_VARS: &[&str] = &["NO_PROXY", "no_proxy"];

/// Where a user's `NO_PROXY`/`no_proxy` set from a Secret or ConfigMap (`valueFrom`)
/// is kept, so the merged value can reference it with `$(…)`.
const USER_NO_PROXY: &[(&str, &str)] = &[
    ("NO_PROXY", "AGENTNET_USER_NO_PROXY"),
    ("no_proxy", "AGENTNET_USER_NO_PROXY_LOWER"),
];

/// The proxy URL of the sidecar's outbound listener.
pub fn proxy_url() -> String {
    format!("http://127.0.0.1:{}", contract::OUTBOUND_PORT)
}

/// Hosts that never go through the sidecar: loopback and the API server, by every name
/// a client uses. `$(KUBERNETES_SERVICE_HOST)` is expanded by the kubelet to the
/// service IP that in-cluster clients actually dial.
pub fn base_no_proxy(cluster_domain: &str) -> Vec<String> {
    let mut hosts: Vec<String> = [
        "localhost",
        "127.0.0.1",
        "::1",
        "kubernetes",
        "kubernetes.default",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    hosts.push("kubernetes.default.svc".into());
    hosts.push(format!("kubernetes.default.svc.{cluster_domain}"));
    hosts.push("$(KUBERNETES_SERVICE_HOST)".into());
    hosts
}

/// The container's env with our proxy variables last (so `$(…)` references to earlier
/// entries resolve), its own proxy settings replaced and its NO_PROXY merged.
pub fn with_proxy_env(container: &Container, no_proxy: &[String]) -> Vec<EnvVar> {
    let mut merged: Vec<String> = no_proxy.to_vec();
    let mut env = Vec::new();
    for var in container.env.iter().flatten() {
        match classify(var) {
            Kind::Other => env.push(var.clone()),
            Kind::Proxy => {}
            Kind::NoProxyValue(hosts) => merged.extend(hosts),
            Kind::NoProxyRef(keep_as) => {
                merged.push(format!("$({keep_as})"));
                env.push(EnvVar {
                    name: keep_as.into(),
                    ..var.clone()
                });
            }
        }
    }
    if container.env_from.as_ref().is_some_and(|f| !f.is_empty()) {
        // An envFrom source may define NO_PROXY; kubelet expands these to its value.
        merged.extend(NO_PROXY_VARS.iter().map(|v| format!("$({v})")));
    }
    env.extend(proxy_vars(&dedup(merged)));
    env
}

enum Kind {
    Other,
    Proxy,
    NoProxyValue(Vec<String>),
    NoProxyRef(&'static str),
}

fn classify(var: &EnvVar) -> Kind {
    if PROXY_VARS.contains(&var.name.as_str()) {
        return Kind::Proxy;
    }
    let Some((_, keep_as)) = USER_NO_PROXY.iter().find(|(n, _)| *n == var.name) else {
        return Kind::Other;
    };
    match (&var.value, &var.value_from) {
        (_, Some(_)) => Kind::NoProxyRef(keep_as),
        (Some(v), None) => Kind::NoProxyValue(split_hosts(v)),
        (None, None) => Kind::NoProxyValue(Vec::new()),
    }
}

fn split_hosts(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(String::from)
        .collect()
}

fn dedup(hosts: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(hosts.len());
    for h in hosts {
        if !out.contains(&h) {
            out.push(h);
        }
    }
    out
}

fn proxy_vars(no_proxy: &[String]) -> Vec<EnvVar> {
    let url = proxy_url();
    let no_proxy = no_proxy.join(",");
    let var = |name: &str, value: &str| EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    };
    let mut vars: Vec<EnvVar> = PROXY_VARS.iter().map(|n| var(n, &url)).collect();
    vars.extend(NO_PROXY_VARS.iter().map(|n| var(n, &no_proxy)));
    vars
}

#[cfg(test)]
mod tests;
