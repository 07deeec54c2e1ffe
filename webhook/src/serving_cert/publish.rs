//! Publishes the CA to the API server's clients of this webhook: the
//! MutatingWebhookConfiguration's `caBundle` (server-side apply under our own field
//! manager, so Helm keeps the rest of the object) and the conversion webhook of our
//! CRDs. Re-run periodically, so a `helm upgrade` or GitOps sync that drops the
//! caBundle is repaired; nothing is written when everything is already right.
//!
//! The CRD gets a JSON merge patch instead of an apply: its manifest (applied by
//! kubectl or Helm) names a `service`, and switching to a development `url` must
//! remove that field, which an apply cannot do to a field another manager owns.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};

pub const FIELD_MANAGER: &str = "agentnet-webhook";

/// How the API server reaches this webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Service {
        namespace: String,
        name: String,
        port: u16,
    },
    /// Base URL without a trailing slash (local development).
    Url(String),
}

#[derive(Clone)]
pub struct Publisher {
    client: Client,
    /// `None` when cert-manager's cainjector maintains the webhook configuration.
    mutating_webhook: Option<String>,
    crds: Vec<String>,
    endpoint: Endpoint,
}

#[derive(Debug, thiserror::Error)]
#[error("publishing the caBundle to {object}: {source}")]
pub struct PublishError {
    object: String,
    source: kube::Error,
}

// === impl Publisher ===

impl Publisher {
    pub fn new(
        client: Client,
        mutating_webhook: Option<String>,
        crds: Vec<String>,
        endpoint: Endpoint,
    ) -> Self {
        Self {
            client,
            mutating_webhook,
            crds,
            endpoint,
        }
    }

    /// Publishes `ca_pem` everywhere; a missing object is skipped (logged), since the
    /// chart may not be fully applied yet.
    pub async fn publish(&self, ca_pem: &str) -> Result<(), PublishError> {
        let ca = STANDARD.encode(ca_pem);
        if let Some(name) = &self.mutating_webhook {
            self.publish_webhook(name, &ca).await?;
        }
        for crd in &self.crds {
            self.publish_crd(crd, &ca).await?;
        }
        Ok(())
    }

    async fn publish_webhook(&self, name: &str, ca: &str) -> Result<(), PublishError> {
        let api: Api<MutatingWebhookConfiguration> = Api::all(self.client.clone());
        let object = format!("MutatingWebhookConfiguration {name}");
        let Some(current) = api.get_opt(name).await.map_err(|source| PublishError {
            object: object.clone(),
            source,
        })?
        else {
            tracing::warn!(%object, "not found; caBundle not published yet");
            return Ok(());
        };
        let Some(patch) = webhook_patch(&current, ca) else {
            return Ok(());
        };
        apply(&api, name, &patch)
            .await
            .map_err(|source| PublishError { object, source })?;
        tracing::info!(mutating_webhook = %name, "caBundle published");
        Ok(())
    }

    async fn publish_crd(&self, name: &str, ca: &str) -> Result<(), PublishError> {
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let object = format!("CustomResourceDefinition {name}");
        let Some(current) = api.get_opt(name).await.map_err(|source| PublishError {
            object: object.clone(),
            source,
        })?
        else {
            tracing::debug!(%object, "not installed; conversion not configured");
            return Ok(());
        };
        let patch = crd_patch(ca, &self.endpoint);
        if is_applied(&current, &patch) {
            return Ok(());
        }
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        let result = api.patch(name, &params, &Patch::Merge(&patch)).await;
        result.map_err(|source| PublishError { object, source })?;
        tracing::info!(crd = %name, "conversion webhook published");
        Ok(())
    }
}

async fn apply<K>(api: &Api<K>, name: &str, patch: &Value) -> Result<(), kube::Error>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    // force: Helm or kubectl may own these fields from an older render.
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(name, &params, &Patch::Apply(patch))
        .await
        .map(|_| ())
}

/// The apply configuration setting `caBundle` on every webhook of `current`, or `None`
/// when all of them already carry it.
pub fn webhook_patch(current: &MutatingWebhookConfiguration, ca: &str) -> Option<Value> {
    let webhooks = current.webhooks.as_deref().unwrap_or_default();
    let has_ca = |w: &&k8s_openapi::api::admissionregistration::v1::MutatingWebhook| {
        w.client_config
            .ca_bundle
            .as_ref()
            .map(|b| STANDARD.encode(&b.0))
            .as_deref()
            == Some(ca)
    };
    if webhooks.iter().all(|w| has_ca(&w)) {
        return None;
    }
    let entries: Vec<Value> = webhooks
        .iter()
        .map(|w| json!({"name": w.name, "clientConfig": {"caBundle": ca}}))
        .collect();
    Some(json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": current.metadata.name},
        "webhooks": entries,
    }))
}

/// The merge patch pointing a CRD's conversion at our `/convert` (`null` removes the
/// other kind of endpoint).
pub fn crd_patch(ca: &str, endpoint: &Endpoint) -> Value {
    let client_config = match endpoint {
        Endpoint::Service {
            namespace,
            name,
            port,
        } => json!({
            "service": {"namespace": namespace, "name": name, "path": "/convert", "port": port},
            "url": null,
            "caBundle": ca,
        }),
        Endpoint::Url(base) => {
            json!({"url": format!("{base}/convert"), "service": null, "caBundle": ca})
        }
    };
    json!({"spec": {"conversion": {
        "strategy": "Webhook",
        "webhook": {"clientConfig": client_config, "conversionReviewVersions": ["v1"]}
    }}})
}

/// Whether the CRD's conversion already equals the one in `patch`.
fn is_applied(current: &CustomResourceDefinition, patch: &Value) -> bool {
    let current = serde_json::to_value(&current.spec.conversion).unwrap_or(Value::Null);
    let wanted = &patch["spec"]["conversion"];
    // The API server adds `service.port` defaults etc.; compare what we set.
    is_subset(wanted, &current)
}

/// Every field of `wanted` has the same value in `actual`; a `null` field is absent.
fn is_subset(wanted: &Value, actual: &Value) -> bool {
    match (wanted, actual) {
        (Value::Object(w), Value::Object(a)) => w.iter().all(|(k, v)| match a.get(k) {
            None | Some(Value::Null) => v.is_null(),
            Some(av) => is_subset(v, av),
        }),
        _ => wanted == actual,
    }
}

#[cfg(test)]
mod tests;
