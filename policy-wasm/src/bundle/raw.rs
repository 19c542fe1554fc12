//! The protojson shape of a bundle, deserialised strictly and then converted.
//!
//! Unknown fields are refused, and so is a bundle missing a field the Sigstore protobuf-specs
//! mark `REQUIRED` (`protos/sigstore_bundle.proto`, `sigstore_rekor.proto`,
//! `sigstore_common.proto`, `envelope.proto` in github.com/sigstore/protobuf-specs), even when
//! other evidence would have sufficed, as sigstore-python refuses it when it parses. protojson
//! omits empty strings and bytes, so for those "empty" and "absent" are the same: missing. The
//! error is [`ParseError::Missing`] with the field's path; `bundle/tests/required.rs` removes
//! each one in turn.
//!
//! | message | REQUIRED fields |
//! | --- | --- |
//! | `Bundle` | `verificationMaterial`; `messageSignature` or `dsseEnvelope` (one) |
//! | `VerificationMaterial` | `publicKey`, `x509CertificateChain` or `certificate` (one) |
//! | `X509Certificate` | `rawBytes` |
//! | `TransparencyLogEntry` | `logIndex`, `logId`, `kindVersion`, `inclusionProof` (v0.2+; a v0.1 bundle may carry only the promise), `integratedTime` (see below) |
//! | `LogId` | `keyId` |
//! | `KindVersion` | `kind`, `version` |
//! | `InclusionPromise` | `signedEntryTimestamp` |
//! | `InclusionProof` | `logIndex`, `rootHash`, `treeSize`, `hashes`, `checkpoint` (a v0.1 proof without one is ignored) |
//! | `Checkpoint` | `envelope` |
//! | `RFC3161SignedTimestamp` | `signedTimestamp` |
//! | `MessageSignature` | `signature` (`messageDigest` is optional) |
//! | DSSE `Envelope` | `payload`, `payloadType`, `signatures` (at least one), each `sig` |
//!
//! Two exceptions, both forced by protojson's zero values: `integratedTime` may be absent (it
//! is 0 in a Rekor v2 entry, which has none, and protojson then omits it), and `hashes` may be
//! empty (the audit path of a one-entry tree). sigward also requires `canonicalizedBody`,
//! which the specs leave optional: without it the entry cannot be tied to the signature.

use serde::Deserialize;

use super::{Content, InclusionProof, ParseError, SignerMaterial, TlogEntry, Version, b64};
use crate::dsse::{Envelope, EnvelopeSignature};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Bundle {
    media_type: String,
    verification_material: Option<Material>,
    message_signature: Option<MessageSignature>,
    dsse_envelope: Option<RawEnvelope>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Material {
    public_key: Option<PublicKeyId>,
    x509_certificate_chain: Option<Chain>,
    certificate: Option<RawBytes>,
    #[serde(default)]
    tlog_entries: Vec<Entry>,
    timestamp_verification_data: Option<TimestampData>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublicKeyId {
    #[serde(default)]
    hint: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Chain {
    #[serde(default)]
    certificates: Vec<RawBytes>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawBytes {
    #[serde(default)]
    raw_bytes: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Entry {
    log_index: Option<Int>,
    log_id: Option<LogId>,
    kind_version: Option<KindVersion>,
    #[serde(default)]
    integrated_time: Option<Int>,
    inclusion_promise: Option<Promise>,
    inclusion_proof: Option<Proof>,
    #[serde(default)]
    canonicalized_body: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LogId {
    #[serde(default)]
    key_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KindVersion {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Promise {
    #[serde(default)]
    signed_entry_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Proof {
    log_index: Option<Int>,
    #[serde(default)]
    root_hash: String,
    tree_size: Option<Int>,
    #[serde(default)]
    hashes: Vec<String>,
    checkpoint: Option<Checkpoint>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Checkpoint {
    #[serde(default)]
    envelope: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TimestampData {
    #[serde(default)]
    rfc3161_timestamps: Vec<Timestamp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Timestamp {
    #[serde(default)]
    signed_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MessageSignature {
    message_digest: Option<MessageDigest>,
    #[serde(default)]
    signature: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageDigest {
    algorithm: String,
    digest: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawEnvelope {
    #[serde(default)]
    payload: String,
    #[serde(default)]
    payload_type: String,
    #[serde(default)]
    signatures: Vec<RawSignature>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSignature {
    #[serde(default)]
    sig: String,
    #[serde(default)]
    keyid: String,
}

/// protojson writes int64 as a string; numbers are accepted too.
#[derive(Deserialize)]
#[serde(untagged)]
enum Int {
    Number(i64),
    Text(String),
}

impl Int {
    fn value(&self, field: &'static str) -> Result<i64, ParseError> {
        match self {
            Self::Number(n) => Ok(*n),
            Self::Text(text) => text.parse().map_err(|_| ParseError::BadField(field)),
        }
    }

    fn unsigned(&self, field: &'static str) -> Result<u64, ParseError> {
        u64::try_from(self.value(field)?).map_err(|_| ParseError::BadField(field))
    }
}

/// A REQUIRED string or bytes field: protojson omits empty ones, so empty is missing.
fn required<'a>(value: &'a str, field: &'static str) -> Result<&'a str, ParseError> {
    if value.is_empty() {
        Err(ParseError::Missing(field))
    } else {
        Ok(value)
    }
}

/// A REQUIRED message field.
fn present<T>(value: Option<T>, field: &'static str) -> Result<T, ParseError> {
    value.ok_or(ParseError::Missing(field))
}

fn hash32(text: &str, field: &'static str) -> Result<[u8; 32], ParseError> {
    b64(text, field)?
        .try_into()
        .map_err(|_| ParseError::BadField(field))
}

pub(super) fn version(media_type: &str) -> Result<Version, ParseError> {
    match media_type {
        "application/vnd.dev.sigstore.bundle+json;version=0.1" => Ok(Version::V01),
        "application/vnd.dev.sigstore.bundle+json;version=0.2" => Ok(Version::V02),
        "application/vnd.dev.sigstore.bundle+json;version=0.3"
        | "application/vnd.dev.sigstore.bundle.v0.3+json" => Ok(Version::V03),
        other => Err(ParseError::UnknownVersion(other.to_owned())),
    }
}

impl Bundle {
    pub(super) fn into_bundle(self) -> Result<super::Bundle, ParseError> {
        let version = version(&self.media_type)?;
        let material = present(self.verification_material, "verificationMaterial")?;
        let signer = match (
            material.public_key,
            material.x509_certificate_chain,
            material.certificate,
        ) {
            (Some(key), None, None) => SignerMaterial::PublicKey { hint: key.hint },
            (None, Some(chain), None) => {
                let mut certs = chain
                    .certificates
                    .iter()
                    .map(|c| {
                        b64(
                            required(&c.raw_bytes, "x509CertificateChain.certificates.rawBytes")?,
                            "x509CertificateChain",
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()?
                    .into_iter();
                let leaf = certs
                    .next()
                    .ok_or(ParseError::Shape("has an empty certificate chain"))?;
                SignerMaterial::Certificate {
                    leaf,
                    chain: certs.collect(),
                }
            }
            (None, None, Some(cert)) => SignerMaterial::Certificate {
                leaf: b64(
                    required(&cert.raw_bytes, "certificate.rawBytes")?,
                    "certificate",
                )?,
                chain: Vec::new(),
            },
            _ => {
                return Err(ParseError::Shape(
                    "must have exactly one of publicKey, x509CertificateChain, certificate",
                ));
            }
        };
        let tlog_entries = material
            .tlog_entries
            .into_iter()
            .map(|entry| entry.into_entry(version))
            .collect::<Result<_, _>>()?;
        let timestamps = material
            .timestamp_verification_data
            .map(|data| data.rfc3161_timestamps)
            .unwrap_or_default()
            .iter()
            .map(|t| {
                b64(
                    required(&t.signed_timestamp, "rfc3161Timestamps.signedTimestamp")?,
                    "rfc3161Timestamps",
                )
            })
            .collect::<Result<_, _>>()?;
        let content = match (self.message_signature, self.dsse_envelope) {
            (Some(message), None) => Content::Message {
                digest: message
                    .message_digest
                    .map(|d| Ok::<_, ParseError>((d.algorithm, b64(&d.digest, "messageDigest")?)))
                    .transpose()?,
                signature: b64(
                    required(&message.signature, "messageSignature.signature")?,
                    "messageSignature.signature",
                )?,
            },
            (None, Some(envelope)) => Content::Dsse(envelope.into_envelope()?),
            _ => {
                return Err(ParseError::Shape(
                    "must have exactly one of messageSignature, dsseEnvelope",
                ));
            }
        };
        Ok(super::Bundle {
            version,
            signer,
            tlog_entries,
            timestamps,
            content,
        })
    }
}

impl Entry {
    fn into_entry(self, version: Version) -> Result<TlogEntry, ParseError> {
        // v0.1 bundles may carry only an inclusion promise (protobuf-specs, `tlog_entries`),
        // and their proofs often predate checkpoints: such a proof proves nothing and is
        // ignored, as sigstore-python does.
        let proof = match (self.inclusion_proof, version) {
            (None, Version::V01) => None,
            (Some(proof), Version::V01) if proof.checkpoint.is_none() => None,
            (proof, _) => Some(present(proof, "tlogEntries.inclusionProof")?),
        };
        let proof = proof
            .map(|proof| {
                let checkpoint = present(proof.checkpoint, "inclusionProof.checkpoint")?;
                Ok::<_, ParseError>(InclusionProof {
                    log_index: present(proof.log_index, "inclusionProof.logIndex")?
                        .unsigned("inclusionProof.logIndex")?,
                    root_hash: hash32(
                        required(&proof.root_hash, "inclusionProof.rootHash")?,
                        "inclusionProof.rootHash",
                    )?,
                    tree_size: present(proof.tree_size, "inclusionProof.treeSize")?
                        .unsigned("inclusionProof.treeSize")?,
                    hashes: proof
                        .hashes
                        .iter()
                        .map(|h| hash32(h, "inclusionProof.hashes"))
                        .collect::<Result<_, _>>()?,
                    checkpoint: required(
                        &checkpoint.envelope,
                        "inclusionProof.checkpoint.envelope",
                    )?
                    .to_owned(),
                })
            })
            .transpose()?;
        let log_id = present(self.log_id, "tlogEntries.logId")?;
        let kind_version = present(self.kind_version, "tlogEntries.kindVersion")?;
        required(&kind_version.kind, "tlogEntries.kindVersion.kind")?;
        required(&kind_version.version, "tlogEntries.kindVersion.version")?;
        Ok(TlogEntry {
            log_index: present(self.log_index, "tlogEntries.logIndex")?.unsigned("logIndex")?,
            log_id: b64(
                required(&log_id.key_id, "tlogEntries.logId.keyId")?,
                "logId.keyId",
            )?,
            kind: kind_version.kind,
            version: kind_version.version,
            integrated_time: self
                .integrated_time
                .map(|t| t.value("integratedTime"))
                .transpose()?
                .unwrap_or(0),
            set: self
                .inclusion_promise
                .map(|p| {
                    b64(
                        required(
                            &p.signed_entry_timestamp,
                            "inclusionPromise.signedEntryTimestamp",
                        )?,
                        "inclusionPromise",
                    )
                })
                .transpose()?,
            proof,
            body: b64(
                required(&self.canonicalized_body, "tlogEntries.canonicalizedBody")?,
                "canonicalizedBody",
            )?,
        })
    }
}

impl RawEnvelope {
    pub(crate) fn into_envelope(self) -> Result<Envelope, ParseError> {
        if self.signatures.is_empty() {
            return Err(ParseError::Missing("dsseEnvelope.signatures"));
        }
        Ok(Envelope {
            payload: b64(
                required(&self.payload, "dsseEnvelope.payload")?,
                "dsseEnvelope.payload",
            )?,
            payload_type: required(&self.payload_type, "dsseEnvelope.payloadType")?.to_owned(),
            signatures: self
                .signatures
                .into_iter()
                .map(|s| {
                    Ok(EnvelopeSignature {
                        sig: b64(
                            required(&s.sig, "dsseEnvelope.signatures.sig")?,
                            "dsseEnvelope.signatures",
                        )?,
                        keyid: s.keyid,
                    })
                })
                .collect::<Result<_, ParseError>>()?,
        })
    }
}
