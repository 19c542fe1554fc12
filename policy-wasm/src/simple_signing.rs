//! cosign's simple-signing payload: the JSON a `.sig` layer's signature covers
//! (docs/formats/cosign-signatures.md, "Simple-signing payload"; cosign `specs/SIGNATURE_SPEC.md`).
//!
//! Keys are matched case-insensitively, because very old cosign wrote `Critical`,
//! `Docker-manifest-digest`, ... and Go's decoder accepts them. This module never performs I/O.

use serde_json::{Map, Value};

/// The media type of a `.sig` layer holding a simple-signing payload (cosign, skopeo).
pub const MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// The `critical.type` of a cosign image signature.
pub const PAYLOAD_TYPE: &str = "cosign container image signature";

/// A parsed simple-signing payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    /// `critical.identity.docker-reference`: the repository (sometimes with a tag) signed for.
    pub docker_reference: String,
    /// `critical.image.docker-manifest-digest`, exactly as written.
    pub manifest_digest: String,
    /// `critical.type`.
    pub payload_type: String,
    /// `optional`: user claims given with `-a key=value` (empty when `null`).
    pub optional: Map<String, Value>,
}

/// Why a payload is not a simple-signing payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Not JSON at all.
    #[error("payload is not JSON: {0}")]
    NotJson(String),
    /// JSON, but a required field is missing or has the wrong type.
    #[error("payload has no string field {0}")]
    MissingField(&'static str),
    /// `optional` is neither an object nor null.
    #[error("payload field optional is neither an object nor null")]
    BadOptional,
}

impl Payload {
    /// Parses the exact signed bytes.
    ///
    /// # Errors
    ///
    /// [`PayloadError`] when the bytes are not JSON or lack a `critical` field.
    pub fn parse(bytes: &[u8]) -> Result<Self, PayloadError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|err| PayloadError::NotJson(err.to_string()))?;
        let critical = field(&value, "critical");
        let string = |parent: Option<&Value>, key, name| {
            field_of(parent, key)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or(PayloadError::MissingField(name))
        };
        let optional = match field(&value, "optional") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => return Err(PayloadError::BadOptional),
        };
        Ok(Self {
            docker_reference: string(
                field_of(critical, "identity"),
                "docker-reference",
                "critical.identity.docker-reference",
            )?,
            manifest_digest: string(
                field_of(critical, "image"),
                "docker-manifest-digest",
                "critical.image.docker-manifest-digest",
            )?,
            payload_type: string(critical, "type", "critical.type")?,
            optional,
        })
    }
}

/// Builds the payload bytes cosign 2 writes when signing `manifest_digest` as
/// `docker_reference`, with `annotations` in `optional` (`null` when there are none).
pub fn payload_bytes(
    docker_reference: &str,
    manifest_digest: &str,
    annotations: &Map<String, Value>,
) -> Vec<u8> {
    let optional = if annotations.is_empty() {
        Value::Null
    } else {
        Value::Object(annotations.clone())
    };
    // serde_json's default map is sorted, which is also the order cosign writes.
    let payload = serde_json::json!({
        "critical": {
            "identity": { "docker-reference": docker_reference },
            "image": { "docker-manifest-digest": manifest_digest },
            "type": PAYLOAD_TYPE,
        },
        "optional": optional,
    });
    payload.to_string().into_bytes()
}

fn field<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    field_of(Some(value), key)
}

/// Looks `key` up case-insensitively, preferring an exact match.
fn field_of<'a>(value: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    let map = value?.as_object()?;
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:97fc3b8c0c1c2e62b6c1b4bdee4a6a2fdc0d6e0b45f9e8e3e6f2b3a1c0d04e36";

    #[test]
    fn round_trips_what_cosign_writes() {
        let bytes = payload_bytes("registry.test/app", DIGEST, &Map::new());
        let expected = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"registry.test/app"}},"image":{{"docker-manifest-digest":"{DIGEST}"}},"type":"cosign container image signature"}},"optional":null}}"#
        );
        assert_eq!(String::from_utf8(bytes.clone()).unwrap(), expected);
        let payload = Payload::parse(&bytes).unwrap();
        assert_eq!(payload.docker_reference, "registry.test/app");
        assert_eq!(payload.manifest_digest, DIGEST);
        assert_eq!(payload.payload_type, PAYLOAD_TYPE);
        assert!(payload.optional.is_empty());
    }

    #[test]
    fn accepts_old_capitalised_keys() {
        let old = format!(
            r#"{{"Critical":{{"Identity":{{"docker-reference":"r/a"}},"Image":{{"Docker-manifest-digest":"{DIGEST}"}},"Type":"cosign container image signature"}},"Optional":{{"env":"prod"}}}}"#
        );
        let payload = Payload::parse(old.as_bytes()).unwrap();
        assert_eq!(payload.manifest_digest, DIGEST);
        assert_eq!(payload.optional.get("env"), Some(&Value::from("prod")));
    }

    #[test]
    fn rejects_non_json_and_missing_fields() {
        assert!(matches!(
            Payload::parse(b"\x00garbage"),
            Err(PayloadError::NotJson(_))
        ));
        assert_eq!(
            Payload::parse(br#"{"critical":{"identity":{"docker-reference":"r"},"type":"t"}}"#),
            Err(PayloadError::MissingField(
                "critical.image.docker-manifest-digest"
            ))
        );
        let bad_optional = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"r"}},"image":{{"docker-manifest-digest":"{DIGEST}"}},"type":"t"}},"optional":7}}"#
        );
        assert_eq!(
            Payload::parse(bad_optional.as_bytes()),
            Err(PayloadError::BadOptional)
        );
    }
}
