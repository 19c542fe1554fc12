//! Sigstore trust roots: `trusted_root.json` (media type
//! `application/vnd.dev.sigstore.trustedroot+json;version=0.1`; docs/formats/trusted-root.md)
//! parsed into the keys and certificate chains the checks use, each with its validity window.
//!
//! `sigstore_trustroot.proto` (github.com/sigstore/protobuf-specs) marks none of the fields of
//! `TrustedRoot`, `TransparencyLogInstance` or `CertificateAuthority` REQUIRED; this reader
//! requires what a check cannot do without — each log's `publicKey.rawBytes` and `logId.keyId`,
//! each authority's `certChain` — and refuses the document without them. (The bundle's REQUIRED
//! fields are listed in `bundle/raw.rs`.)
//!
//! This module never performs I/O: the host hands the document over (`fetcher.trusted-root`).

use base64::Engine as _;
use serde::Deserialize;

use crate::keys::{KeyError, PublicKey};
use crate::time::{TimeError, UnixTime, parse_rfc3339};

/// A parsed trusted root.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustedRoot {
    /// Rekor transparency logs.
    pub tlogs: Vec<TransparencyLog>,
    /// Fulcio certificate authorities.
    pub certificate_authorities: Vec<CertificateAuthority>,
    /// Certificate transparency logs (for SCTs).
    pub ctlogs: Vec<TransparencyLog>,
    /// RFC 3161 timestamp authorities.
    pub timestamp_authorities: Vec<CertificateAuthority>,
}

/// A log (Rekor or CT) and its key.
#[derive(Debug, Clone, PartialEq)]
pub struct TransparencyLog {
    /// `baseUrl`, e.g. `https://rekor.sigstore.dev`.
    pub base_url: String,
    /// `publicKey.keyDetails`, e.g. `PKIX_ECDSA_P256_SHA_256`, `PKIX_ED25519`.
    pub key_details: String,
    /// The key, or the reason it cannot be used (an unknown key type makes only this log
    /// unusable, not the whole root).
    pub key: Result<PublicKey, KeyError>,
    /// The key's DER as stored (SubjectPublicKeyInfo; PKCS#1 for `PKCS1_RSA_PKCS1V5`).
    pub key_der: Vec<u8>,
    /// `logId.keyId`: SHA-256 of the DER SPKI for Rekor v1 and CT logs, the signed-note key id
    /// for Rekor v2.
    pub log_id: Vec<u8>,
    /// When the key may be used.
    pub valid_for: Validity,
}

/// A certificate authority (Fulcio or a TSA) and its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateAuthority {
    /// `subject.commonName`, for messages.
    pub common_name: String,
    /// `uri`.
    pub uri: String,
    /// DER certificates, issuing (leaf-most) CA first, root last. For a TSA the first is the
    /// TSA's signing certificate.
    pub chain: Vec<Vec<u8>>,
    /// When certificates it issued (or timestamps it made) are acceptable.
    pub valid_for: Validity,
}

/// A closed validity interval (`validFor`): `start` is required, no `end` means open-ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// First valid second.
    pub start: UnixTime,
    /// Last valid second, inclusive; `None` while still valid.
    pub end: Option<UnixTime>,
}

impl Validity {
    /// True when `at` lies in the interval, both ends included (the conformance suite's
    /// `trust-root-tlog-validity-end-inclusive`).
    pub fn contains(&self, at: UnixTime) -> bool {
        at >= self.start && self.end.is_none_or(|end| at <= end)
    }
}

/// Why a trusted root was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustRootError {
    /// Not JSON of the expected shape.
    #[error("trusted root is not valid JSON of the expected shape: {0}")]
    Malformed(String),
    /// A media type we do not know.
    #[error("unsupported trusted root media type {0:?}")]
    MediaType(String),
    /// A `validFor` without `start`.
    #[error("{0}: validFor has no start")]
    MissingStart(String),
    /// A timestamp that is not RFC 3339.
    #[error("{what}: {source}")]
    BadTime {
        /// Which entry.
        what: String,
        /// The parse error.
        source: TimeError,
    },
    /// Bytes that are not base64.
    #[error("{0}: not base64")]
    BadBase64(String),
}

/// The media type of version 0.1 trusted roots.
const MEDIA_TYPE: &str = "application/vnd.dev.sigstore.trustedroot+json;version=0.1";

impl TrustedRoot {
    /// Parses a `trusted_root.json` document.
    ///
    /// # Errors
    ///
    /// [`TrustRootError`] for malformed JSON, an unknown media type, a validity window without
    /// a start, or bad base64 / timestamps. Unknown key types do not fail the parse: that log's
    /// `key` holds the error.
    pub fn parse(json: &[u8]) -> Result<Self, TrustRootError> {
        let raw: RawRoot =
            serde_json::from_slice(json).map_err(|e| TrustRootError::Malformed(e.to_string()))?;
        if raw.media_type != MEDIA_TYPE {
            return Err(TrustRootError::MediaType(raw.media_type));
        }
        Ok(Self {
            tlogs: raw
                .tlogs
                .into_iter()
                .map(|l| log(l, "tlog"))
                .collect::<Result<_, _>>()?,
            certificate_authorities: raw
                .certificate_authorities
                .into_iter()
                .map(|ca| authority(ca, "certificate authority"))
                .collect::<Result<_, _>>()?,
            ctlogs: raw
                .ctlogs
                .into_iter()
                .map(|l| log(l, "ctlog"))
                .collect::<Result<_, _>>()?,
            timestamp_authorities: raw
                .timestamp_authorities
                .into_iter()
                .map(|ca| authority(ca, "timestamp authority"))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The Rekor log whose `logId.keyId` is `log_id`.
    pub fn tlog(&self, log_id: &[u8]) -> Option<&TransparencyLog> {
        self.tlogs.iter().find(|log| log.log_id == log_id)
    }

    /// The CT log whose `logId.keyId` is `log_id`.
    pub fn ctlog(&self, log_id: &[u8]) -> Option<&TransparencyLog> {
        self.ctlogs.iter().find(|log| log.log_id == log_id)
    }

    /// The latest `validFor.start` of any log or authority: how recent the root's content is.
    /// Sigstore adds keys with a new start and closes old ones with an `end`, so a root taken
    /// later never has an older newest start; the host uses this to refuse a cached root that
    /// predates the one it embeds. `None` for a root with nothing in it.
    pub fn newest_start(&self) -> Option<UnixTime> {
        let logs = self.tlogs.iter().chain(&self.ctlogs).map(|l| l.valid_for);
        let authorities = self
            .certificate_authorities
            .iter()
            .chain(&self.timestamp_authorities)
            .map(|ca| ca.valid_for);
        logs.chain(authorities).map(|v| v.start).max()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoot {
    media_type: String,
    #[serde(default)]
    tlogs: Vec<RawLog>,
    #[serde(default)]
    certificate_authorities: Vec<RawAuthority>,
    #[serde(default)]
    ctlogs: Vec<RawLog>,
    #[serde(default)]
    timestamp_authorities: Vec<RawAuthority>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    #[serde(default)]
    base_url: String,
    public_key: RawPublicKey,
    log_id: RawLogId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPublicKey {
    raw_bytes: String,
    #[serde(default)]
    key_details: String,
    valid_for: Option<RawValidity>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAuthority {
    #[serde(default)]
    subject: RawSubject,
    #[serde(default)]
    uri: String,
    cert_chain: RawChain,
    valid_for: Option<RawValidity>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawSubject {
    #[serde(default)]
    common_name: String,
}

#[derive(Deserialize)]
struct RawChain {
    certificates: Vec<RawCertificate>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCertificate {
    raw_bytes: String,
}

#[derive(Deserialize)]
struct RawValidity {
    start: Option<String>,
    end: Option<String>,
}

fn log(raw: RawLog, kind: &str) -> Result<TransparencyLog, TrustRootError> {
    let what = format!("{kind} {}", raw.base_url);
    let key_der = base64(&raw.public_key.raw_bytes, &what)?;
    let key = if raw.public_key.key_details == "PKCS1_RSA_PKCS1V5" {
        PublicKey::from_pkcs1_der(&key_der)
    } else {
        PublicKey::from_spki_der(&key_der)
    };
    Ok(TransparencyLog {
        log_id: base64(&raw.log_id.key_id, &what)?,
        valid_for: validity(raw.public_key.valid_for, &what)?,
        base_url: raw.base_url,
        key_details: raw.public_key.key_details,
        key,
        key_der,
    })
}

fn authority(raw: RawAuthority, kind: &str) -> Result<CertificateAuthority, TrustRootError> {
    let what = format!("{kind} {}", raw.uri);
    Ok(CertificateAuthority {
        chain: raw
            .cert_chain
            .certificates
            .iter()
            .map(|c| base64(&c.raw_bytes, &what))
            .collect::<Result<_, _>>()?,
        valid_for: validity(raw.valid_for, &what)?,
        common_name: raw.subject.common_name,
        uri: raw.uri,
    })
}

fn validity(raw: Option<RawValidity>, what: &str) -> Result<Validity, TrustRootError> {
    let raw = raw.ok_or_else(|| TrustRootError::MissingStart(what.to_owned()))?;
    let time = |text: &str| {
        parse_rfc3339(text).map_err(|source| TrustRootError::BadTime {
            what: what.to_owned(),
            source,
        })
    };
    let start = raw
        .start
        .as_deref()
        .ok_or_else(|| TrustRootError::MissingStart(what.to_owned()))?;
    Ok(Validity {
        start: time(start)?,
        end: raw.end.as_deref().map(time).transpose()?,
    })
}

fn base64(text: &str, what: &str) -> Result<Vec<u8>, TrustRootError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| TrustRootError::BadBase64(what.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(path: &str) -> Vec<u8> {
        let dir = std::env::var("SIGWARD_CONFORMANCE_DIR").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/conformance").to_owned()
        });
        std::fs::read(format!("{dir}/{path}")).unwrap()
    }

    #[test]
    fn parses_production_and_staging_roots() {
        for name in ["production", "staging"] {
            let root =
                TrustedRoot::parse(&shared(&format!("trust/{name}/trusted_root.json"))).unwrap();
            assert!(
                !root.tlogs.is_empty() && !root.certificate_authorities.is_empty(),
                "{name}"
            );
            assert!(root.ctlogs.iter().any(|l| l.key.is_ok()), "{name}");
        }
        let root = TrustedRoot::parse(&shared("trust/production/trusted_root.json")).unwrap();
        let rekor = root
            .tlogs
            .iter()
            .find(|l| l.base_url == "https://rekor.sigstore.dev")
            .unwrap();
        assert_eq!(
            crate::digest::hex_lower(&rekor.log_id),
            "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"
        );
        assert!(rekor.key.is_ok());
        assert!(root.tlog(&rekor.log_id).is_some());
    }

    #[test]
    fn newest_start_is_the_latest_key_or_authority() {
        let staging = TrustedRoot::parse(&shared("trust/staging/trusted_root.json")).unwrap();
        let production = TrustedRoot::parse(&shared("trust/production/trusted_root.json")).unwrap();
        // The latest entries of each: a 2026 staging CT log, a 2025 production Rekor v2 log.
        assert_eq!(
            staging.newest_start(),
            Some(parse_rfc3339("2026-01-14T00:00:00Z").unwrap())
        );
        assert_eq!(
            production.newest_start(),
            Some(parse_rfc3339("2025-09-23T00:00:00Z").unwrap())
        );
        let empty = br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#;
        assert_eq!(TrustedRoot::parse(empty).unwrap().newest_start(), None);
    }

    #[test]
    fn validity_is_closed() {
        let v = Validity {
            start: 10,
            end: Some(20),
        };
        assert!(v.contains(10) && v.contains(20) && !v.contains(9) && !v.contains(21));
        assert!(
            Validity {
                start: 10,
                end: None
            }
            .contains(i64::MAX)
        );
    }

    #[test]
    fn rejects_missing_start_and_bad_documents() {
        let missing =
            shared("bundle-verify/trust-root-tlog-missing-validity-start_fail/trusted_root.json");
        assert!(matches!(
            TrustedRoot::parse(&missing),
            Err(TrustRootError::MissingStart(_))
        ));
        assert!(matches!(
            TrustedRoot::parse(b"{"),
            Err(TrustRootError::Malformed(_))
        ));
        assert!(matches!(
            TrustedRoot::parse(br#"{"mediaType":"x"}"#),
            Err(TrustRootError::MediaType(_))
        ));
    }
}
