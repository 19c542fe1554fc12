//! The protojson shape of a bundle, deserialised strictly and then converted.

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
    raw_bytes: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Entry {
    log_index: Int,
    log_id: LogId,
    kind_version: KindVersion,
    #[serde(default)]
    integrated_time: Option<Int>,
    inclusion_promise: Option<Promise>,
    inclusion_proof: Option<Proof>,
    canonicalized_body: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LogId {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KindVersion {
    kind: String,
    version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Promise {
    signed_entry_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Proof {
    log_index: Int,
    root_hash: String,
    tree_size: Int,
    #[serde(default)]
    hashes: Vec<String>,
    checkpoint: Option<Checkpoint>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Checkpoint {
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
    signed_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MessageSignature {
    message_digest: Option<MessageDigest>,
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
    payload: String,
    payload_type: String,
    #[serde(default)]
    signatures: Vec<RawSignature>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSignature {
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
        let material = self
            .verification_material
            .ok_or(ParseError::Shape("has no verificationMaterial"))?;
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
                    .map(|c| b64(&c.raw_bytes, "x509CertificateChain"))
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
                leaf: b64(&cert.raw_bytes, "certificate")?,
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
            .map(Entry::into_entry)
            .collect::<Result<_, _>>()?;
        let timestamps = material
            .timestamp_verification_data
            .map(|data| data.rfc3161_timestamps)
            .unwrap_or_default()
            .iter()
            .map(|t| b64(&t.signed_timestamp, "rfc3161Timestamps"))
            .collect::<Result<_, _>>()?;
        let content = match (self.message_signature, self.dsse_envelope) {
            (Some(message), None) => Content::Message {
                digest: message
                    .message_digest
                    .map(|d| Ok::<_, ParseError>((d.algorithm, b64(&d.digest, "messageDigest")?)))
                    .transpose()?,
                signature: b64(&message.signature, "messageSignature.signature")?,
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
    fn into_entry(self) -> Result<TlogEntry, ParseError> {
        let proof = self
            .inclusion_proof
            .map(|proof| {
                Ok::<_, ParseError>(InclusionProof {
                    log_index: proof.log_index.unsigned("inclusionProof.logIndex")?,
                    root_hash: hash32(&proof.root_hash, "inclusionProof.rootHash")?,
                    tree_size: proof.tree_size.unsigned("inclusionProof.treeSize")?,
                    hashes: proof
                        .hashes
                        .iter()
                        .map(|h| hash32(h, "inclusionProof.hashes"))
                        .collect::<Result<_, _>>()?,
                    checkpoint: proof.checkpoint.map(|c| c.envelope),
                })
            })
            .transpose()?;
        Ok(TlogEntry {
            log_index: self.log_index.unsigned("logIndex")?,
            log_id: b64(&self.log_id.key_id, "logId.keyId")?,
            kind: self.kind_version.kind,
            version: self.kind_version.version,
            integrated_time: self
                .integrated_time
                .map(|t| t.value("integratedTime"))
                .transpose()?
                .unwrap_or(0),
            set: self
                .inclusion_promise
                .map(|p| b64(&p.signed_entry_timestamp, "inclusionPromise"))
                .transpose()?,
            proof,
            body: b64(&self.canonicalized_body, "canonicalizedBody")?,
        })
    }
}

impl RawEnvelope {
    pub(crate) fn into_envelope(self) -> Result<Envelope, ParseError> {
        Ok(Envelope {
            payload: b64(&self.payload, "dsseEnvelope.payload")?,
            payload_type: self.payload_type,
            signatures: self
                .signatures
                .into_iter()
                .map(|s| {
                    Ok(EnvelopeSignature {
                        sig: b64(&s.sig, "dsseEnvelope.signatures")?,
                        keyid: s.keyid,
                    })
                })
                .collect::<Result<_, ParseError>>()?,
        })
    }
}
