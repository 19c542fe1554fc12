//! Embedded Signed Certificate Timestamps (RFC 6962 §3.2, §3.3;
//! docs/formats/fulcio-certificates.md, "SCT verification"): proof that a Fulcio leaf was logged to
//! a certificate transparency log the trusted root lists.
//!
//! This module never performs I/O: the leaf's issuer comes from an already verified path
//! ([`crate::cert::verify_chain`]) and the logs from the trusted root.

use der::asn1::{AnyRef, ObjectIdentifier};
use der::{Decode as _, Encode as _, Tag, TagNumber, Tagged as _};
use sha2::{Digest as _, Sha256};
use x509_cert::ext::pkix::sct::{
    HashAlgorithm, SignatureAlgorithm, SignedCertificateTimestamp, SignedCertificateTimestampList,
};

use crate::cert::{self, Certificate, Hash};
use crate::keys::PublicKey;
use crate::time::UnixTime;
use crate::trust_root::TransparencyLog;

/// The embedded SCT list extension (RFC 6962 §3.3).
const SCT_LIST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");
/// The precertificate signing certificate EKU (RFC 6962 §3.1).
const PRECERT_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.4");
/// The most SCTs looked at in one certificate (Fulcio embeds one).
pub const MAX_SCTS: usize = 8;

/// Why an embedded SCT did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SctError {
    /// The leaf has no SCT list extension.
    #[error("certificate has no embedded SCT")]
    Missing,
    /// The extension, the TLS encoding or the certificate does not decode.
    #[error("malformed SCT: {0}")]
    Malformed(String),
    /// An SCT list without SCTs.
    #[error("the embedded SCT list is empty")]
    Empty,
    /// More SCTs than [`MAX_SCTS`].
    #[error("{0} embedded SCTs; at most {MAX_SCTS} are checked")]
    TooMany(usize),
    /// The verified path has no issuer for the leaf.
    #[error("no issuer certificate to compute the SCT's issuer key hash")]
    MissingIssuer,
    /// An SCT whose hash is not SHA-256 or whose signature type does not fit the log's key.
    #[error("SCT signed with {0}; SHA-256 with the log key's algorithm is required")]
    UnsupportedAlgorithm(String),
    /// No usable CT log key in the trusted root (none, or none of a supported type).
    #[error("no usable CT log in the trusted root")]
    NoLog,
    /// The SCT's signature verifies with no trusted CT log key.
    #[error("SCT signature does not verify with any trusted CT log key")]
    InvalidSignature,
    /// The SCT verifies, but the log key was not valid when the SCT was issued.
    #[error("SCT time {at} is outside the CT log key's validity (Unix seconds)")]
    OutsideLogValidity {
        /// The SCT's timestamp, in seconds.
        at: UnixTime,
    },
}

/// Verifies the leaf's embedded SCTs against the trusted root's CT logs and returns the time
/// of the first SCT that verifies (ms rounded down to seconds).
///
/// At least one SCT must verify (sigstore-go's threshold of one); sigstore-python requires
/// exactly one SCT, which is what Fulcio embeds. Accepting any valid one means a certificate
/// also logged to a log we do not trust still verifies through the log we do; at most
/// [`MAX_SCTS`] are looked at.
///
/// `chain` is the verified path, leaf first ([`crate::cert::verify_chain`]). Steps, as
/// docs/formats/fulcio-certificates.md, "SCT verification" numbers them: 1. read extension
/// `1.3.6.1.4.1.11129.2.4.2` and its TLS list; 2. the issuer is `chain[1]`, or `chain[2]` when
/// `chain[1]` is a precertificate signing certificate, and `issuer_key_hash` is SHA-256 of its
/// SubjectPublicKeyInfo; 3. the precertificate TBS is the leaf's TBS without the SCT extension; 4.
/// the signed struct is rebuilt; 5. the log is looked up by `log_id` (all CT keys are tried if
/// unknown), the hash must be SHA-256 and the signature must verify; SCT extensions are signed data
/// and may be non-empty; 6. the log key's `validFor` must contain the SCT time.
///
/// # Errors
///
/// [`SctError::Missing`], [`SctError::Empty`], [`SctError::TooMany`],
/// [`SctError::Malformed`] or [`SctError::MissingIssuer`] before any SCT is checked;
/// otherwise the first SCT's reason: [`SctError::UnsupportedAlgorithm`],
/// [`SctError::NoLog`], [`SctError::InvalidSignature`] or
/// [`SctError::OutsideLogValidity`].
pub fn verify_embedded_sct(
    chain: &[Certificate],
    ctlogs: &[TransparencyLog],
) -> Result<UnixTime, SctError> {
    let Some(leaf) = chain.first() else {
        return Err(SctError::MissingIssuer);
    };
    // Step 1: the SCT list (RFC 6962 §3.3).
    let extension = leaf
        .extension(SCT_LIST)
        .map_err(|err| SctError::Malformed(err.to_string()))?
        .ok_or(SctError::Missing)?;
    let list = SignedCertificateTimestampList::from_der(extension.extn_value.as_bytes())
        .map_err(|err| SctError::Malformed(err.to_string()))?;
    let scts = list
        .parse_timestamps()
        .map_err(|err| SctError::Malformed(format!("{err:?}")))?;
    if scts.is_empty() {
        return Err(SctError::Empty);
    }
    if scts.len() > MAX_SCTS {
        return Err(SctError::TooMany(scts.len()));
    }
    // Step 2: the issuer and its key hash.
    let issuer = issuer(chain)?;
    let issuer_spki = issuer
        .spki_der()
        .map_err(|err| SctError::Malformed(err.to_string()))?;
    let issuer_key_hash: [u8; 32] = Sha256::digest(&issuer_spki).into();
    // Step 3: the precertificate TBS.
    let tbs = precert_tbs(leaf.tbs_der())?;
    let mut first_error = None;
    for serialized in &scts {
        let outcome = serialized
            .parse_timestamp()
            .map_err(|err| SctError::Malformed(format!("{err:?}")))
            .and_then(|sct| verify_one(&sct, &issuer_key_hash, &tbs, ctlogs));
        match outcome {
            Ok(at) => return Ok(at),
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    Err(first_error.unwrap_or(SctError::Empty))
}

/// The certificate that issued the leaf, skipping a precertificate signing certificate
/// (docs/formats/fulcio-certificates.md, "SCT verification", step 2).
fn issuer(chain: &[Certificate]) -> Result<&Certificate, SctError> {
    let mut above = chain.iter().skip(1);
    let first = above.next().ok_or(SctError::MissingIssuer)?;
    let is_precert_signer = first
        .extended_key_usage()
        .map_err(|err| SctError::Malformed(err.to_string()))?
        .is_some_and(|usages| usages.0.contains(&PRECERT_SIGNING));
    if is_precert_signer {
        return above.next().ok_or(SctError::MissingIssuer);
    }
    Ok(first)
}

/// The TBS with the SCT list extension removed (docs/formats/fulcio-certificates.md,
/// "SCT verification", step 3; RFC 6962 §3.2). The other fields and extensions are kept byte for
/// byte.
fn precert_tbs(tbs_der: &[u8]) -> Result<Vec<u8>, SctError> {
    let malformed = |err: der::Error| SctError::Malformed(err.to_string());
    // TBSCertificate ::= SEQUENCE { ..., extensions [3] EXPLICIT Extensions OPTIONAL }.
    let extensions_tag = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(3),
    };
    let fields = Vec::<AnyRef<'_>>::from_der(tbs_der).map_err(malformed)?;
    let mut rebuilt = Vec::with_capacity(fields.len());
    let mut inner = Vec::new();
    for field in fields {
        if field.tag() != extensions_tag {
            rebuilt.push(Field::Kept(field));
            continue;
        }
        let extensions = Vec::<AnyRef<'_>>::from_der(field.value()).map_err(malformed)?;
        let mut kept = Vec::with_capacity(extensions.len());
        for extension in extensions {
            let decoded: x509_cert::ext::Extension = extension.decode_as().map_err(malformed)?;
            if decoded.extn_id != SCT_LIST {
                kept.push(extension);
            }
        }
        inner = kept.to_der().map_err(malformed)?;
        rebuilt.push(Field::Extensions);
    }
    let rebuilt = rebuilt
        .into_iter()
        .map(|field| match field {
            Field::Kept(any) => Ok(any),
            Field::Extensions => AnyRef::new(extensions_tag, &inner),
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(malformed)?;
    rebuilt.to_der().map_err(malformed)
}

/// A TBS field while the extensions are being rebuilt.
enum Field<'a> {
    Kept(AnyRef<'a>),
    Extensions,
}

/// Checks one SCT (steps 4 to 6) and returns its time in seconds.
fn verify_one(
    sct: &SignedCertificateTimestamp,
    issuer_key_hash: &[u8; 32],
    tbs: &[u8],
    ctlogs: &[TransparencyLog],
) -> Result<UnixTime, SctError> {
    // Step 5: RFC 6962 §2.1.4 requires SHA-256.
    if sct.signature.algorithm.hash != HashAlgorithm::Sha256 {
        return Err(SctError::UnsupportedAlgorithm(format!(
            "{:?}/{:?}",
            sct.signature.algorithm.hash, sct.signature.algorithm.signature
        )));
    }
    let signed = signed_struct(sct, issuer_key_hash, tbs)?;
    let at = UnixTime::try_from(sct.timestamp / 1000)
        .map_err(|_| SctError::Malformed("SCT timestamp out of range".to_owned()))?;
    // Step 5: the log named by log_id; when it is unknown every CT key is tried, as
    // sigstore-python does.
    let named: Vec<&TransparencyLog> = ctlogs
        .iter()
        .filter(|log| log.log_id == sct.log_id.key_id)
        .collect();
    let candidates: Vec<&TransparencyLog> = if named.is_empty() {
        ctlogs.iter().collect()
    } else {
        named
    };
    let mut error = SctError::NoLog;
    for log in candidates {
        let Ok(key) = &log.key else {
            continue;
        };
        let algorithm_fits = matches!(
            (key, &sct.signature.algorithm.signature),
            (
                PublicKey::P256(_) | PublicKey::P384(_),
                SignatureAlgorithm::Ecdsa
            ) | (PublicKey::Rsa(_), SignatureAlgorithm::Rsa)
        );
        if !algorithm_fits {
            if error == SctError::NoLog {
                error = SctError::UnsupportedAlgorithm(format!(
                    "{:?} for a {} log key",
                    sct.signature.algorithm.signature,
                    key.algorithm()
                ));
            }
            continue;
        }
        let signature = sct.signature.signature.as_slice();
        if cert::verify_with_hash(key, Hash::Sha256, &signed, signature).is_err() {
            error = SctError::InvalidSignature;
            continue;
        }
        // Step 6: the log key was valid when it signed.
        if !log.valid_for.contains(at) {
            error = SctError::OutsideLogValidity { at };
            continue;
        }
        return Ok(at);
    }
    Err(error)
}

/// Step 4, RFC 6962 §3.2: the `digitally-signed` struct of a precert entry.
fn signed_struct(
    sct: &SignedCertificateTimestamp,
    issuer_key_hash: &[u8; 32],
    tbs: &[u8],
) -> Result<Vec<u8>, SctError> {
    /// `sct_version` v1.
    const V1: u8 = 0;
    /// `signature_type` certificate_timestamp.
    const CERTIFICATE_TIMESTAMP: u8 = 0;
    /// `entry_type` precert_entry.
    const PRECERT_ENTRY: u16 = 1;
    // opaque TBSCertificate<1..2^24-1>: a uint24 length.
    let [0, tbs_len @ ..] = u32::try_from(tbs.len())
        .map_err(|_| SctError::Malformed("TBS too long".to_owned()))?
        .to_be_bytes()
    else {
        return Err(SctError::Malformed("TBS too long for an SCT".to_owned()));
    };
    let extensions = sct.extensions.as_slice();
    let extensions_len = u16::try_from(extensions.len())
        .map_err(|_| SctError::Malformed("SCT extensions too long".to_owned()))?;
    let mut signed = Vec::with_capacity(tbs.len().saturating_add(64));
    signed.push(V1);
    signed.push(CERTIFICATE_TIMESTAMP);
    signed.extend_from_slice(&sct.timestamp.to_be_bytes());
    signed.extend_from_slice(&PRECERT_ENTRY.to_be_bytes());
    signed.extend_from_slice(issuer_key_hash);
    signed.extend_from_slice(&tbs_len);
    signed.extend_from_slice(tbs);
    signed.extend_from_slice(&extensions_len.to_be_bytes());
    signed.extend_from_slice(extensions);
    Ok(signed)
}

#[cfg(test)]
mod tests;
