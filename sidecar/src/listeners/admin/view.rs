//! `/config`: the running configuration and the compiled index as JSON. It holds
//! names, addresses and policy structure only; the sidecar keeps no secrets in either.

use agentnet_policy::{Backend, Destination, Index};
use serde_json::{Value, json};

use crate::policy_source::PolicyState;

pub fn config(config: &Value, identity: &str, state: &PolicyState) -> Value {
    let index = state.load();
    json!({
        "config": config,
        "identity": identity,
        "synced": state.is_synced(),
        "generation": index.generation(),
        "age_seconds": state.age().map(|a| a.as_secs_f64()),
        "confirmed_age_seconds": state.confirmed_age().map(|a| a.as_secs_f64()),
        "stale": state.is_stale(),
        "problems": *state.problems(),
        "index": index_json(&index),
    })
}

fn index_json(index: &Index) -> Value {
    json!({
        "settings": index.settings(),
        "backends": index.backends().map(backend).collect::<Vec<_>>(),
        "report": index.report(),
    })
}

fn backend(b: &Backend) -> Value {
    let destination = match b.destination() {
        Some(Destination::Service {
            namespace,
            name,
            fqdn,
            port,
            cluster_ip,
            endpoints,
        }) => json!({
            "service": format!("{namespace}/{name}"), "fqdn": fqdn, "port": port, "clusterIP": cluster_ip,
            "endpoints": endpoints.iter().map(|e| format!("{}:{}", e.address, e.port)).collect::<Vec<_>>(),
        }),
        Some(Destination::External { hostname, port }) => {
            json!({"hostname": hostname, "port": port})
        }
        None => Value::Null,
    };
    json!({
        "backend": b.id(),
        "protocol": b.protocol().to_string(),
        "path": b.path(),
        "destination": destination,
        "invalid": b.invalid(),
        "policies": b.policies().collect::<Vec<_>>(),
        "hasToolRules": b.has_tool_rules(),
    })
}
