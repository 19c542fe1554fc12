//! The signed entry timestamp (SET, "inclusion promise"): Rekor v1's signature over an entry's
//! body, integrated time, log ID and index (docs/formats/rekor.md, "Signed entry timestamp (SET)"),
//! and cosign's `dev.sigstore.cosign/bundle` annotation that carries one
//! (docs/formats/cosign-signatures.md, "The Rekor bundle annotation").
//!
//! This module never performs I/O.

use base64::Engine as _;
use serde::Deserialize;

use super::{TlogError, check_validity, log_key};
use crate::digest::hex_lower;
use crate::trust_root::TransparencyLog;

/// The largest integer RFC 8785 writes exactly (2^53 − 1): it serialises numbers as IEEE
/// doubles, so a larger index or time would need float formatting to match the log's bytes.
const MAX_CANONICAL_INTEGER: i64 = 9_007_199_254_740_991;

/// The four fields a SET signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetPayload<'a> {
    /// The entry body, base64 (as in the annotation; bundles hold it decoded).
    pub body: &'a str,
    /// When the log integrated the entry, Unix seconds.
    pub integrated_time: i64,
    /// The log ID (SHA-256 of the log's DER SubjectPublicKeyInfo), raw bytes.
    pub log_id: &'a [u8],
    /// The global log index (not the shard-local index of the inclusion proof).
    pub log_index: i64,
}

impl SetPayload<'_> {
    /// The message the SET signs: RFC 8785 canonical JSON of
    /// `{"body","integratedTime","logID","logIndex"}` (keys in that, sorted, order; integers
    /// as JSON numbers; `logID` as lowercase hex).
    ///
    /// # Errors
    ///
    /// [`TlogError::IntegerOutOfRange`] for a negative index or time, or one above 2^53 − 1.
    pub fn canonical_json(&self) -> Result<String, TlogError> {
        let integer = |field, value: i64| {
            if (0..=MAX_CANONICAL_INTEGER).contains(&value) {
                Ok(value)
            } else {
                Err(TlogError::IntegerOutOfRange { field, value })
            }
        };
        let integrated_time = integer("integratedTime", self.integrated_time)?;
        let log_index = integer("logIndex", self.log_index)?;
        // serde_json escapes strings as RFC 8785 §3.2.2.2 does: `"` `\` and the short forms
        // \b \f \n \r \t, other controls as \u00xx in lowercase, everything else verbatim.
        let body = serde_json::Value::from(self.body).to_string();
        Ok(format!(
            r#"{{"body":{body},"integratedTime":{integrated_time},"logID":"{}","logIndex":{log_index}}}"#,
            hex_lower(self.log_id)
        ))
    }
}

/// Verifies a SET (docs/formats/rekor.md, "Signed entry timestamp (SET)";
/// docs/formats/sigstore-bundle.md, "Step 5: transparency log").
///
/// # Errors
///
/// [`TlogError::UnknownLog`] when no trusted log has the payload's log ID,
/// [`TlogError::UnusableLogKey`], [`TlogError::LogKeyNotValidAt`] when the key's `validFor`
/// does not contain the integrated time, [`TlogError::IntegerOutOfRange`], and
/// [`TlogError::BadSetSignature`].
pub fn verify_set(
    payload: &SetPayload<'_>,
    set: &[u8],
    tlogs: &[TransparencyLog],
) -> Result<(), TlogError> {
    // 1. The log is chosen by its ID, which the SET itself then covers.
    let log = tlogs
        .iter()
        .find(|log| log.log_id == payload.log_id)
        .ok_or_else(|| TlogError::UnknownLog {
            log_id: hex_lower(payload.log_id),
        })?;
    let key = log_key(log)?;
    // 2. docs/formats/sigstore-bundle.md, "Step 5: transparency log": the key's validFor must
    //    contain the integrated time.
    check_validity(log, payload.integrated_time)?;
    // 3. docs/formats/rekor.md, "Signed entry timestamp (SET)": ECDSA over SHA-256 of the canonical
    //    JSON.
    let message = payload.canonical_json()?;
    key.verify(message.as_bytes(), set)
        .map_err(TlogError::BadSetSignature)
}

/// cosign's `dev.sigstore.cosign/bundle` annotation (docs/formats/cosign-signatures.md,
/// "The Rekor bundle annotation"), parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RekorBundle {
    /// The signed entry timestamp (decoded).
    pub set: Vec<u8>,
    /// The entry body, base64 as in the annotation (the SET signs this text).
    pub body: String,
    /// When the log integrated the entry, Unix seconds.
    pub integrated_time: i64,
    /// The global log index.
    pub log_index: i64,
    /// The log ID (decoded from hex).
    pub log_id: Vec<u8>,
}

impl RekorBundle {
    /// Parses `{"SignedEntryTimestamp":<b64>,"Payload":{"body":<b64 string>,
    /// "integratedTime":<int>,"logIndex":<int>,"logID":<hex>}}`. Key names are exact (Go field
    /// names), and `body` must be a string, as cosign requires; unknown fields are ignored, as
    /// Go's decoder does.
    ///
    /// # Errors
    ///
    /// [`TlogError::MalformedRekorBundle`] for any other shape, bad base64 or bad hex.
    pub fn parse(json: &str) -> Result<Self, TlogError> {
        let raw: RawRekorBundle = serde_json::from_str(json)
            .map_err(|err| TlogError::MalformedRekorBundle(err.to_string()))?;
        let set = base64::engine::general_purpose::STANDARD
            .decode(&raw.signed_entry_timestamp)
            .map_err(|_| {
                TlogError::MalformedRekorBundle("SignedEntryTimestamp is not base64".to_owned())
            })?;
        let log_id = decode_hex(&raw.payload.log_id).ok_or_else(|| {
            TlogError::MalformedRekorBundle("Payload.logID is not hex".to_owned())
        })?;
        Ok(Self {
            set,
            body: raw.payload.body,
            integrated_time: raw.payload.integrated_time,
            log_index: raw.payload.log_index,
            log_id,
        })
    }

    /// The SET's payload.
    pub fn payload(&self) -> SetPayload<'_> {
        SetPayload {
            body: &self.body,
            integrated_time: self.integrated_time,
            log_id: &self.log_id,
            log_index: self.log_index,
        }
    }

    /// Verifies the SET against the trusted logs ([`verify_set`]).
    ///
    /// # Errors
    ///
    /// As [`verify_set`].
    pub fn verify(&self, tlogs: &[TransparencyLog]) -> Result<(), TlogError> {
        verify_set(&self.payload(), &self.set, tlogs)
    }

    /// The entry body, decoded: the JSON [`check_body`](super::check_body) compares.
    ///
    /// # Errors
    ///
    /// [`TlogError::BadBase64`] when `body` is not base64.
    pub fn body_bytes(&self) -> Result<Vec<u8>, TlogError> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.body)
            .map_err(|_| TlogError::BadBase64 {
                field: "Payload.body",
            })
    }
}

#[derive(Deserialize)]
struct RawRekorBundle {
    #[serde(rename = "SignedEntryTimestamp")]
    signed_entry_timestamp: String,
    #[serde(rename = "Payload")]
    payload: RawPayload,
}

#[derive(Deserialize)]
struct RawPayload {
    body: String,
    #[serde(rename = "integratedTime")]
    integrated_time: i64,
    #[serde(rename = "logIndex")]
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

/// Decodes hex digits (either case) into bytes; `None` for anything else.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    base16ct::mixed::decode_vec(text).ok()
}
