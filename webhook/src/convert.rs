//! `/convert`: ConversionReview v1 for XAccessPolicy, served by the `api` crate's pure
//! conversion. A failure answers the review with a message naming the object; it
//! never panics and never returns a partial list (the API server needs all or none).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use kube::core::Status;
use kube::core::conversion::{ConversionRequest, ConversionResponse, ConversionReview};
use serde_json::Value;

use crate::metrics::Metrics;

/// `POST /convert`.
pub async fn convert(State(metrics): State<Arc<Metrics>>, body: Bytes) -> Json<ConversionReview> {
    let response = match parse(&body) {
        Ok(request) => review(request),
        Err(message) => {
            tracing::warn!(error = %message, "unreadable ConversionReview");
            ConversionResponse::invalid(Status::failure(&message, "BadRequest").with_code(400))
        }
    };
    metrics.conversion(if response.result.is_success() {
        "converted"
    } else {
        "failed"
    });
    Json(response.into_review())
}

fn parse(body: &[u8]) -> Result<ConversionRequest, String> {
    let review: ConversionReview =
        serde_json::from_slice(body).map_err(|e| format!("not a ConversionReview: {e}"))?;
    ConversionRequest::from_review(review)
        .map_err(|_| "the ConversionReview has no request".to_owned())
}

/// Converts every object of `request`, or fails the whole review.
pub fn review(mut request: ConversionRequest) -> ConversionResponse {
    let objects = std::mem::take(&mut request.objects);
    let desired = request.desired_api_version.clone();
    let converted: Result<Vec<Value>, String> = objects
        .into_iter()
        .map(|o| convert_one(o, &desired))
        .collect();
    let response = ConversionResponse::for_request(request);
    match converted {
        Ok(objects) => response.success(objects),
        Err(message) => {
            tracing::info!(error = %message, desired_api_version = %desired, "conversion failed");
            response.failure(Status::failure(&message, "Invalid").with_code(422))
        }
    }
}

fn convert_one(object: Value, desired: &str) -> Result<Value, String> {
    let name = describe(&object);
    agentnet_api::conversion::convert_object(object, desired)
        .map_err(|e| format!("converting {name} to {desired}: {e}"))
}

/// `Kind namespace/name`, for messages.
fn describe(object: &Value) -> String {
    let text = |v: &Value| v.as_str().unwrap_or("?").to_owned();
    let kind = text(&object["kind"]);
    let ns = text(&object["metadata"]["namespace"]);
    let name = text(&object["metadata"]["name"]);
    format!("{kind} {ns}/{name}")
}

#[cfg(test)]
mod tests;
