//! The `/mutate` handler: parse the review, read the namespace, decide, report, answer.
//! Anything that cannot be decided is refused (failurePolicy Fail semantics inside the
//! webhook too): a pod must never start unmediated because of an error here.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::Api;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use kube::runtime::events::Recorder;

use super::report::{PodEvent, event_for, unknown_annotation_event, unknown_annotation_warnings};
use super::skip::NamespaceInfo;
use super::{MutateConfig, Verdict, decide, respond, tuning};
use crate::metrics::Metrics;

/// Shared state of the handler.
#[derive(Clone)]
pub struct MutateState {
    pub config: Arc<MutateConfig>,
    pub namespaces: Api<Namespace>,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
}

/// `POST /mutate`.
pub async fn mutate(
    State(state): State<MutateState>,
    body: Bytes,
) -> Json<AdmissionReview<DynamicObject>> {
    let started = Instant::now();
    let (response, result) = match parse(&body) {
        Ok(req) => state.review(req).await,
        Err(e) => {
            tracing::warn!(error = %e, "unreadable AdmissionReview");
            (AdmissionResponse::invalid(e), "error")
        }
    };
    state
        .metrics
        .admission(result, started.elapsed().as_secs_f64());
    Json(response.into_review())
}

fn parse(body: &[u8]) -> Result<AdmissionRequest<Pod>, String> {
    let review: AdmissionReview<Pod> = serde_json::from_slice(body)
        .map_err(|e| format!("not an AdmissionReview of a Pod: {e}"))?;
    review
        .try_into()
        .map_err(|_| "the AdmissionReview has no request".to_owned())
}

// === impl MutateState ===

impl MutateState {
    async fn review(&self, req: AdmissionRequest<Pod>) -> (AdmissionResponse, &'static str) {
        if let Some(answer) = not_a_pod_creation(&req) {
            return answer;
        }
        let Some(pod) = req.object.as_ref() else {
            return (
                AdmissionResponse::from(&req).deny("agentnet: the request carries no pod"),
                "error",
            );
        };
        let namespace = req.namespace.clone().unwrap_or_default();
        let ns = match self.namespace(&namespace).await {
            Ok(ns) => ns,
            Err(e) => {
                tracing::warn!(namespace, error = %e, "cannot read namespace; refusing the pod");
                let msg =
                    format!("agentnet: cannot read namespace {namespace} to decide injection: {e}");
                return (AdmissionResponse::from(&req).deny(msg), "error");
            }
        };
        let verdict = decide(pod, &ns, &self.config);
        log(&verdict, pod, &namespace, req.dry_run);
        self.report(&verdict, pod, &namespace, req.dry_run);
        // Pods we decide for are told of annotations we ignore; skipped ones are not ours.
        let unknown = match &verdict {
            Verdict::Skip(_) => Vec::new(),
            _ => tuning::unknown(
                pod.metadata
                    .annotations
                    .as_ref()
                    .unwrap_or(&Default::default()),
            ),
        };
        if let Some(event) = unknown_annotation_event(&unknown, pod, &namespace, req.dry_run) {
            tokio::spawn(publish(self.recorder.clone(), event));
        }
        let result = verdict.result();
        let mut response = respond(&req, verdict);
        if !unknown.is_empty() {
            response.warnings = Some(unknown_annotation_warnings(&unknown));
        }
        (response, result)
    }

    async fn namespace(&self, name: &str) -> Result<NamespaceInfo, kube::Error> {
        let ns = self.namespaces.get(name).await?;
        Ok(NamespaceInfo {
            name: name.to_owned(),
            labels: ns.metadata.labels.unwrap_or_default(),
            annotations: ns.metadata.annotations.unwrap_or_default(),
        })
    }

    /// Metrics always; an Event unless dry-run, published off the admission path.
    fn report(&self, verdict: &Verdict, pod: &Pod, namespace: &str, dry_run: bool) {
        if let Verdict::Skip(reason) = verdict {
            self.metrics.skipped(reason.as_str());
        }
        if let Some(event) = event_for(verdict, pod, namespace, dry_run) {
            tokio::spawn(publish(self.recorder.clone(), event));
        }
    }
}

async fn publish(recorder: Recorder, event: PodEvent) {
    if let Err(e) = recorder.publish(&event.to_event(), &event.regarding).await {
        tracing::warn!(reason = event.reason, error = %e, "cannot publish Event");
    }
}

/// Only pod creations are ours; anything else means the webhook configuration was
/// edited, and is refused for non-pods (fail closed) or admitted for other operations.
fn not_a_pod_creation(req: &AdmissionRequest<Pod>) -> Option<(AdmissionResponse, &'static str)> {
    if !(req.kind.group.is_empty() && req.kind.kind == "Pod") {
        let msg = format!(
            "agentnet: this webhook only admits pods, not {}",
            req.kind.kind
        );
        return Some((AdmissionResponse::from(req).deny(msg), "error"));
    }
    (req.operation != Operation::Create).then(|| (AdmissionResponse::from(req), "ignored"))
}

fn log(verdict: &Verdict, pod: &Pod, namespace: &str, dry_run: bool) {
    let name = pod
        .metadata
        .name
        .as_deref()
        .or(pod.metadata.generate_name.as_deref())
        .unwrap_or("");
    match verdict {
        Verdict::Inject(_) => tracing::info!(namespace, pod = name, dry_run, "sidecar injected"),
        Verdict::Skip(r) => tracing::debug!(
            namespace,
            pod = name,
            reason = r.as_str(),
            "injection skipped"
        ),
        Verdict::Reject(msg) => {
            tracing::info!(namespace, pod = name, dry_run, error = %msg, "pod rejected")
        }
    }
}

#[cfg(test)]
mod tests;
