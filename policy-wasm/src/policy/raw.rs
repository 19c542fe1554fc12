//! The ClusterImagePolicy document as written, field for field
//! (docs/formats/cluster-image-policy.md, "Spec fields"): plain serde structs decoded from the
//! parsed YAML/JSON value, before any validation (`load.rs` applies policy-controller's rules to
//! them). This module never performs I/O.
//!
//! Each field is the CRD field of the same name in camelCase, or of its `rename`. The structs are
//! as loose as the schema's types allow and as strict as its field names:
//!
//! - Every object rejects unknown fields (policy-controller decodes strictly), except
//!   `metadata` (Kubernetes' ObjectMeta) and the top-level `status`, which are ignored. Required
//!   fields are `Option` too, so a misspelt field is reported as unknown rather than as the
//!   required field it was meant to be.
//! - `null` counts as absent (an `Option`, or an empty list).
//! - Enumerations (`mode`, `hashAlgorithm`, ...) are strings, checked in `load.rs`.
//! - An object must be a JSON object: serde's derived structs would also take a list of the field
//!   values in order, which policy-controller refuses ([`object`], [`objects`]).

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_path_to_error::Segment;

use super::{FieldPath, PolicyError, Problem};

/// Decodes one document; a serde error becomes [`PolicyError::Invalid`] at the path serde was
/// at: [`Problem::UnknownField`] at the unknown field's own path, [`Problem::Decode`] with serde's
/// message otherwise.
pub(super) fn decode(document: &Value) -> Result<Document, PolicyError> {
    match serde_path_to_error::deserialize::<_, Object<Document>>(document) {
        Ok(Object(document)) => Ok(document),
        Err(error) => {
            let mut path = FieldPath::root();
            for segment in error.path() {
                path = match segment {
                    Segment::Seq { index } => path.index(*index),
                    Segment::Map { key } | Segment::Enum { variant: key } => path.field(key),
                    Segment::Unknown => path.field("?"),
                };
            }
            let message = error.inner().to_string();
            // serde's `Error::unknown_field` message; the path already ends with the key.
            let unknown = matches!(
                error.path().iter().next_back(),
                Some(Segment::Map { key }) if message.starts_with(&format!("unknown field `{key}`"))
            );
            let problem = if unknown {
                Problem::UnknownField
            } else {
                Problem::Decode(message)
            };
            Err(PolicyError::Invalid { path, problem })
        }
    }
}

/// A value that must be a JSON object holding a `T`.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(Object)
    }
}

/// A field holding one object; `null` counts as absent.
fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    Ok(Option::<Object<T>>::deserialize(deserializer)?.map(|Object(inner)| inner))
}

/// A field holding a list of objects; `null` counts as empty.
fn objects<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    let list = Option::<Vec<Object<T>>>::deserialize(deserializer)?;
    Ok(list
        .unwrap_or_default()
        .into_iter()
        .map(|Object(inner)| inner)
        .collect())
}

/// The whole document.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Document {
    pub(super) api_version: Option<String>,
    pub(super) kind: Option<String>,
    #[serde(default, deserialize_with = "object")]
    pub(super) metadata: Option<Metadata>,
    #[serde(default, deserialize_with = "object")]
    pub(super) spec: Option<Spec>,
    /// `status`: written by the API server; nothing reads it.
    #[serde(rename = "status")]
    _status: Option<IgnoredAny>,
}

/// `metadata` (Kubernetes' ObjectMeta): other fields, which `kubectl get -o yaml` fills with
/// server fields, are accepted and ignored.
#[derive(Deserialize)]
pub(super) struct Metadata {
    pub(super) name: Option<String>,
    pub(super) annotations: Option<BTreeMap<String, String>>,
}

/// `spec`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Spec {
    #[serde(default, deserialize_with = "objects")]
    pub(super) images: Vec<Image>,
    #[serde(default, deserialize_with = "objects")]
    pub(super) authorities: Vec<Authority>,
    pub(super) mode: Option<String>,
    #[serde(default, deserialize_with = "object")]
    pub(super) policy: Option<Policy>,
    #[serde(rename = "match", default, deserialize_with = "objects")]
    pub(super) match_resources: Vec<MatchResource>,
}

/// `images[]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Image {
    pub(super) glob: Option<String>,
}

/// `authorities[]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Authority {
    pub(super) name: Option<String>,
    #[serde(default, deserialize_with = "object")]
    pub(super) key: Option<Key>,
    #[serde(default, deserialize_with = "object")]
    pub(super) keyless: Option<Keyless>,
    #[serde(rename = "static", default, deserialize_with = "object")]
    pub(super) static_action: Option<Static>,
    #[serde(default, deserialize_with = "objects")]
    pub(super) source: Vec<Source>,
    #[serde(default, deserialize_with = "object")]
    pub(super) ctlog: Option<Ctlog>,
    #[serde(rename = "rfc3161timestamp", default, deserialize_with = "object")]
    pub(super) rfc3161_timestamp: Option<Timestamp>,
    #[serde(default, deserialize_with = "objects")]
    pub(super) attestations: Vec<Attestation>,
    pub(super) signature_format: Option<String>,
}

/// `key`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Key {
    pub(super) data: Option<String>,
    pub(super) kms: Option<String>,
    #[serde(default, deserialize_with = "object")]
    pub(super) secret_ref: Option<SecretRef>,
    pub(super) hash_algorithm: Option<String>,
}

/// `keyless.ca-cert`: a key source without `hashAlgorithm`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct CaCert {
    pub(super) data: Option<String>,
    pub(super) kms: Option<String>,
    #[serde(default, deserialize_with = "object")]
    pub(super) secret_ref: Option<SecretRef>,
}

/// `secretRef`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct SecretRef {
    pub(super) name: Option<String>,
    pub(super) namespace: Option<String>,
}

/// `keyless`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Keyless {
    pub(super) url: Option<String>,
    #[serde(rename = "ca-cert", default, deserialize_with = "object")]
    pub(super) ca_cert: Option<CaCert>,
    pub(super) trust_root_ref: Option<String>,
    #[serde(default, deserialize_with = "objects")]
    pub(super) identities: Vec<Identity>,
    #[serde(rename = "insecureIgnoreSCT")]
    pub(super) insecure_ignore_sct: Option<bool>,
}

/// `keyless.identities[]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Identity {
    pub(super) issuer: Option<String>,
    pub(super) issuer_reg_exp: Option<String>,
    pub(super) subject: Option<String>,
    pub(super) subject_reg_exp: Option<String>,
}

/// `static`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Static {
    pub(super) action: Option<String>,
    pub(super) message: Option<String>,
}

/// `source[]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Source {
    pub(super) oci: Option<String>,
    #[serde(default, deserialize_with = "objects")]
    pub(super) signature_pull_secrets: Vec<PullSecret>,
    pub(super) tag_prefix: Option<String>,
}

/// `signaturePullSecrets[]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct PullSecret {
    pub(super) name: Option<String>,
}

/// `ctlog`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Ctlog {
    pub(super) url: Option<String>,
    pub(super) trust_root_ref: Option<String>,
}

/// `rfc3161timestamp`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Timestamp {
    pub(super) trust_root_ref: Option<String>,
}

/// `attestations[]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Attestation {
    pub(super) name: Option<String>,
    pub(super) predicate_type: Option<String>,
    #[serde(default, deserialize_with = "object")]
    pub(super) policy: Option<Policy>,
}

/// `policy` (at `spec` or in an attestation).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Policy {
    #[serde(rename = "type")]
    pub(super) language: Option<String>,
    pub(super) data: Option<String>,
    #[serde(default, deserialize_with = "object")]
    pub(super) config_map_ref: Option<ConfigMapRef>,
    #[serde(default, deserialize_with = "object")]
    pub(super) remote: Option<Remote>,
    pub(super) fetch_config_file: Option<bool>,
    pub(super) include_spec: Option<bool>,
    pub(super) include_object_meta: Option<bool>,
    pub(super) include_type_meta: Option<bool>,
}

/// `policy.configMapRef`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct ConfigMapRef {
    pub(super) name: Option<String>,
    pub(super) namespace: Option<String>,
    pub(super) key: Option<String>,
}

/// `policy.remote`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Remote {
    pub(super) url: Option<String>,
    pub(super) sha256sum: Option<String>,
}

/// `match[]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct MatchResource {
    pub(super) group: Option<String>,
    pub(super) version: Option<String>,
    pub(super) resource: Option<String>,
    #[serde(default, deserialize_with = "object")]
    pub(super) selector: Option<Selector>,
}

/// `match[].selector`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Selector {
    pub(super) match_labels: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "objects")]
    pub(super) match_expressions: Vec<LabelExpression>,
}

/// `selector.matchExpressions[]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct LabelExpression {
    pub(super) key: Option<String>,
    pub(super) operator: Option<String>,
    pub(super) values: Option<Vec<String>>,
}
