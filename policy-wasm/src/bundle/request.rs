//! A standalone bundle verification request, as the WIT `verify-bundle` export and the
//! `sigward verify-bundle` command pose it: bundle bytes, the artifact (or its digest), one
//! authority and a trust root by name.

use crate::authority::Authority;
use crate::digest::Digest;
use crate::error::Error;
use crate::fetch::Fetch;
use crate::image::TlogPolicy;
use crate::keys::PublicKey;
use crate::trust_root::TrustedRoot;
use crate::verdict::{Check, Trail};

use super::{Artifact, Bundle, BundleAuthority, BundleError};

/// The artifact as the caller gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactInput {
    /// The bytes.
    Bytes(Vec<u8>),
    /// `sha256:<hex>`.
    Digest(String),
}

/// A request to verify one bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleRequest {
    /// The bundle JSON.
    pub bundle: Vec<u8>,
    /// What it must sign.
    pub artifact: ArtifactInput,
    /// Who must have signed it.
    pub authority: Authority,
    /// The trust root's name, for [`Fetch::trusted_root`].
    pub trusted_root: String,
    /// Verification time, Unix seconds (reserved: bundle times come from the bundle).
    pub at: i64,
}

/// The outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleReport {
    /// `None` when verified, else why not.
    pub error: Option<BundleError>,
    /// Each check in order.
    pub checks: Vec<Check>,
}

impl BundleReport {
    /// True when the bundle verified.
    pub fn verified(&self) -> bool {
        self.error.is_none()
    }
}

/// Verifies a standalone bundle.
///
/// # Errors
///
/// [`Error`] when the request itself is unusable: the trust root cannot be fetched or parsed,
/// the key is not a public key, or the digest is malformed. A bundle that fails a check (or
/// does not parse) is a [`BundleReport`] with an error, not an `Err`.
pub fn verify_bundle_request(
    request: &BundleRequest,
    source: &mut impl Fetch,
) -> Result<BundleReport, Error> {
    let root = source.trusted_root(&request.trusted_root)?;
    let trust = TrustedRoot::parse(&root).map_err(|source| Error::TrustRoot {
        name: request.trusted_root.clone(),
        source,
    })?;
    let digest;
    let artifact = match &request.artifact {
        ArtifactInput::Bytes(bytes) => Artifact::Bytes(bytes),
        ArtifactInput::Digest(text) => {
            digest = Digest::parse(text).map_err(|e| Error::InvalidRequest(e.to_string()))?;
            let mut raw = [0u8; 32];
            hex_decode(digest.hex(), &mut raw)
                .ok_or_else(|| Error::InvalidRequest(format!("bad digest {text}")))?;
            Artifact::Sha256(raw)
        }
    };
    let key;
    let authority = match &request.authority {
        Authority::Key(pem) => {
            let (_, der) =
                pem_rfc7468::decode_vec(pem.trim().as_bytes()).map_err(|e| Error::InvalidKey {
                    name: "key".to_owned(),
                    source: crate::keys::KeyError::NotPem(e.to_string()),
                })?;
            key = (
                PublicKey::from_pem(pem).map_err(|source| Error::InvalidKey {
                    name: "key".to_owned(),
                    source,
                })?,
                der,
            );
            BundleAuthority::Key {
                key: &key.0,
                spki_der: &key.1,
            }
        }
        Authority::Keyless(keyless) => BundleAuthority::Keyless(&keyless.identities),
    };
    let mut trail = Trail::default();
    let error = Bundle::parse(&request.bundle)
        .map_err(BundleError::from)
        .map_err(|e| {
            let detail = e.to_string();
            trail.fail("bundle", e, detail)
        })
        .and_then(|bundle| {
            super::verify(
                &bundle,
                &artifact,
                &authority,
                &trust,
                TlogPolicy::Require,
                &mut trail,
            )
        })
        .err();
    Ok(BundleReport {
        error,
        checks: trail.checks,
    })
}

/// Decodes 64 hex digits (either case) into `out`.
fn hex_decode(hex: &str, out: &mut [u8; 32]) -> Option<()> {
    let decoded = base16ct::mixed::decode(hex, out).ok()?;
    (decoded.len() == out.len()).then_some(())
}
