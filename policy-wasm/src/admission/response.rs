//! What goes back: an AdmissionReview v1 response (same uid; `warnings`; a base64 JSONPatch when
//! mutating), and Gatekeeper's external-data ProviderRequest/ProviderResponse
//! (`externaldata.gatekeeper.sh/v1beta1`); see docs/formats/admission.md, "AdmissionReview v1",
//! "JSON Patch for digest pinning" and "Gatekeeper external data".

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use super::AdmissionError;
use super::decide::Decision;

const REVIEW_API_VERSION: &str = "admission.k8s.io/v1";
const PROVIDER_API_VERSION: &str = "externaldata.gatekeeper.sh/v1beta1";

/// The most keys one ProviderRequest may carry.
const MAX_KEYS: usize = 1000;

impl Decision {
    /// The AdmissionReview v1 response. With `mutate`, an allowed decision carries the
    /// JSONPatch that pins verified tags (when there is anything to pin).
    pub fn review_response(&self, mutate: bool) -> Value {
        let mut response = Map::new();
        response.insert("uid".into(), json!(self.uid));
        response.insert("allowed".into(), json!(self.allowed));
        if !self.allowed {
            response.insert(
                "status".into(),
                json!({ "code": 403, "reason": "Forbidden", "message": self.message }),
            );
        }
        if !self.warnings.is_empty() {
            response.insert("warnings".into(), json!(self.warnings));
        }
        if mutate && self.allowed && !self.patch.is_empty() {
            let operations: Vec<Value> = self
                .patch
                .iter()
                .map(|op| json!({ "op": "replace", "path": op.path, "value": op.value }))
                .collect();
            let patch = serde_json::to_vec(&operations).unwrap_or_default();
            response.insert("patchType".into(), json!("JSONPatch"));
            response.insert("patch".into(), json!(STANDARD.encode(patch)));
        }
        let response = Value::Object(response);
        review(response)
    }

    /// The Gatekeeper ProviderResponse: one item per key, in order; `value` is the verified
    /// digest (empty when the image was allowed without a signature check), `error` says why
    /// an image was denied.
    pub fn provider_response(&self) -> Value {
        let items: Vec<Value> = self
            .images
            .iter()
            .map(|image| {
                let mut item = Map::new();
                item.insert("key".into(), json!(image.image));
                item.insert(
                    "value".into(),
                    json!(image.verified_digest.clone().unwrap_or_default()),
                );
                if !image.allowed {
                    item.insert("error".into(), json!(image.denials.join("; ")));
                }
                Value::Object(item)
            })
            .collect();
        provider(json!({ "idempotent": true, "items": items }))
    }
}

/// A denial for a review that could be read far enough to have a uid but not decided (an
/// unknown kind, a malformed object): fail closed, HTTP-style code 400.
pub fn review_error(uid: &str, message: &str) -> Value {
    review(json!({
        "uid": uid,
        "allowed": false,
        "status": { "code": 400, "reason": "BadRequest", "message": message },
    }))
}

fn review(response: Value) -> Value {
    json!({ "apiVersion": REVIEW_API_VERSION, "kind": "AdmissionReview", "response": response })
}

/// Reads the keys (image references) of a Gatekeeper ProviderRequest.
///
/// # Errors
///
/// [`AdmissionError::Json`] or [`AdmissionError::NotAReview`] (not a ProviderRequest, keys not
/// strings, too many keys).
pub fn provider_keys(body: &[u8]) -> Result<Vec<String>, AdmissionError> {
    let request: Value =
        serde_json::from_slice(body).map_err(|e| AdmissionError::Json(e.to_string()))?;
    if request.get("kind").and_then(Value::as_str) != Some("ProviderRequest") {
        return Err(AdmissionError::NotAReview(
            "expected kind ProviderRequest".to_owned(),
        ));
    }
    let keys = request
        .pointer("/request/keys")
        .and_then(Value::as_array)
        .ok_or_else(|| AdmissionError::NotAReview("request.keys is missing".to_owned()))?;
    if keys.len() > MAX_KEYS {
        return Err(AdmissionError::NotAReview(format!(
            "more than {MAX_KEYS} keys"
        )));
    }
    keys.iter()
        .map(|key| {
            key.as_str()
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| AdmissionError::NotAReview("a key is not a non-empty string".into()))
        })
        .collect()
}

/// A ProviderResponse with a `systemError` (the whole request failed).
pub fn provider_error(message: &str) -> Value {
    provider(json!({ "idempotent": true, "items": [], "systemError": message }))
}

fn provider(response: Value) -> Value {
    json!({ "apiVersion": PROVIDER_API_VERSION, "kind": "ProviderResponse", "response": response })
}
