//! Verifying an image: resolve it, fetch what is attached to its digest, and accept it when any
//! signature passes every check for any authority (cosign's any-of semantics).
//!
//! Two kinds of material are checked (docs/formats/cosign-signatures.md, docs/formats/oci.md):
//! legacy layers of the `sha256-<hex>.sig` / `.att` manifests (`legacy.rs`), and Sigstore bundles
//! attached as OCI 1.1 referrers by cosign v3 (`referrer.rs`). Both are looked for; each report
//! says which it was.
//!
//! This module never performs I/O: everything comes through [`Fetch`].

mod legacy;
mod referrer;
mod subject;

use std::collections::BTreeMap;

use crate::authority::{Authority, Identity, NamedAuthority};
use crate::digest::Digest;
use crate::error::Error;
use crate::fetch::{Fetch, Kinds};
use crate::keys::PublicKey;
use crate::trust_root::TrustedRoot;
use crate::verdict::Report;

pub use legacy::{
    CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, REKOR_BUNDLE_ANNOTATION, SIGNATURE_ANNOTATION,
};
pub use subject::{Subject, resolve};

/// The predicate type of a cosign v3 image signature (an in-toto statement in a DSSE bundle).
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// What to check on the image.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CheckKind {
    /// Image signatures.
    Signature,
    /// Attestations of this predicate type (a URI, or one of cosign's shorthands).
    Attestation(String),
}

impl CheckKind {
    /// The attached material this check looks at: legacy layers of its kind, and bundles.
    pub fn kinds(&self) -> Kinds {
        match self {
            Self::Signature => Kinds {
                signatures: true,
                bundles: true,
                ..Kinds::default()
            },
            Self::Attestation(_) => Kinds {
                attestations: true,
                bundles: true,
                ..Kinds::default()
            },
        }
    }
}

/// What to do about the transparency log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlogPolicy {
    /// A verified log entry is required.
    Require,
    /// The log is not consulted (cosign `--insecure-ignore-tlog`).
    InsecureIgnore,
}

/// A request to verify one image.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VerifyRequest {
    /// The reference as the user wrote it.
    pub image: String,
    /// Any one suffices.
    pub authorities: Vec<NamedAuthority>,
    /// Required `key=value` claims in the payload (or the in-toto subject's annotations).
    pub annotations: Vec<(String, String)>,
    /// Signatures or attestations.
    pub check: CheckKind,
    /// Transparency log handling.
    pub tlog: TlogPolicy,
    /// A repository holding the signatures instead of the image's own (`source.oci`).
    pub signatures_from: Option<String>,
    /// The trust root for transparency log keys (keyless authorities name their own).
    pub trusted_root: String,
    /// Verification time, Unix seconds.
    pub at: i64,
}

/// cosign's predicate-type shorthands (`--type`; docs/formats/cosign-signatures.md,
/// "Predicate-type shorthands").
pub fn predicate_type(name: &str) -> &str {
    match name {
        "custom" => "https://cosign.sigstore.dev/attestation/v1",
        "vuln" => "https://cosign.sigstore.dev/attestation/vuln/v1",
        "slsaprovenance" | "slsaprovenance02" => "https://slsa.dev/provenance/v0.2",
        "slsaprovenance1" => "https://slsa.dev/provenance/v1",
        "spdx" | "spdxjson" => "https://spdx.dev/Document",
        "cyclonedx" => "https://cyclonedx.org/bom",
        "link" => "https://in-toto.io/Link/v1",
        "openvex" => "https://openvex.dev/ns",
        other => other,
    }
}

/// Verifies one image: identifies it ([`resolve`]), then checks what is attached to it.
///
/// # Errors
///
/// [`Error`] when the request cannot be decided: an unusable key, no authorities, a fetch
/// failure, a manifest or digest the host got wrong, an unusable trust root. A signature that
/// fails a check is not an error: it is reported in the [`Report`].
pub fn verify_image(request: &VerifyRequest, source: &mut impl Fetch) -> Result<Report, Error> {
    let authorities = signers(request)?;
    let subject = resolve(&request.image, source)?;
    verify_attached(request, &authorities, &subject, source)
}

/// Verifies what is attached to an image already identified by [`resolve`].
///
/// # Errors
///
/// As [`verify_image`], without the resolution.
pub fn verify_subject(
    request: &VerifyRequest,
    subject: &Subject,
    source: &mut impl Fetch,
) -> Result<Report, Error> {
    verify_attached(request, &signers(request)?, subject, source)
}

fn signers(request: &VerifyRequest) -> Result<Vec<PreparedAuthority<'_>>, Error> {
    if request.authorities.is_empty() {
        return Err(Error::InvalidRequest(
            "no authority to verify against".to_owned(),
        ));
    }
    request
        .authorities
        .iter()
        .map(PreparedAuthority::new)
        .collect()
}

fn verify_attached(
    request: &VerifyRequest,
    authorities: &[PreparedAuthority<'_>],
    subject: &Subject,
    source: &mut impl Fetch,
) -> Result<Report, Error> {
    let digest = subject.digest();
    let kinds = request.check.kinds();
    // Signatures kept in another repository are looked up there, under the same digest.
    let attached_to = match &request.signatures_from {
        Some(repository) => format!("{repository}@{digest}"),
        None => request.image.clone(),
    };
    let material = source.attached(&attached_to, &digest.to_string(), kinds)?;

    let layers = match request.check {
        CheckKind::Signature => &material.signatures,
        CheckKind::Attestation(_) => &material.attestations,
    };
    // Trust roots are fetched only when there is something to check with them.
    let roots = if layers.is_empty() && material.bundles.is_empty() {
        BTreeMap::new()
    } else {
        trust_roots(request, authorities, source)?
    };
    let context = Context {
        request,
        digest,
        repository: subject.repository(),
        authorities,
        roots: &roots,
    };
    let mut signatures: Vec<_> = layers
        .iter()
        .map(|layer| legacy::check_layer(&context, layer))
        .collect();
    signatures.extend(
        material
            .bundles
            .iter()
            .map(|bundle| referrer::check_bundle(&context, bundle)),
    );
    Ok(Report {
        image: request.image.clone(),
        digest: digest.to_string(),
        repository: subject.repository().map(str::to_owned),
        signatures,
    })
}

/// What every check on one image shares.
struct Context<'a> {
    request: &'a VerifyRequest,
    digest: &'a Digest,
    repository: Option<&'a str>,
    authorities: &'a [PreparedAuthority<'a>],
    roots: &'a BTreeMap<String, TrustedRoot>,
}

/// What an accepted signature established.
struct Accepted<'a> {
    /// The authority that verified it.
    authority: &'a str,
    /// The verified payload.
    payload: String,
    /// The certificate identity, for keyless signatures.
    signer: Option<crate::cert::Signer>,
}

impl Accepted<'_> {
    /// The report of a signature checked with `trail`, accepted or not.
    fn report(
        outcome: Result<Accepted<'_>, crate::error::Reason>,
        source: crate::verdict::Source,
        digest: &str,
        trail: crate::verdict::Trail,
    ) -> crate::verdict::SignatureReport {
        let (authority, reason, payload, signer) = match outcome {
            Ok(accepted) => (
                Some(accepted.authority.to_owned()),
                None,
                Some(accepted.payload),
                accepted.signer,
            ),
            Err(reason) => (None, Some(reason), None, None),
        };
        crate::verdict::SignatureReport {
            source,
            digest: digest.to_owned(),
            authority,
            reason,
            checks: trail.checks,
            payload,
            signer,
        }
    }
}

/// An authority ready to check signatures.
enum PreparedAuthority<'a> {
    /// A public key and its DER SubjectPublicKeyInfo (as logs record it).
    Key {
        name: &'a str,
        key: PublicKey,
        spki_der: Vec<u8>,
    },
    /// Certificate identities under a trust root.
    Keyless {
        name: &'a str,
        identities: &'a [Identity],
        trusted_root: &'a str,
    },
}

impl<'a> PreparedAuthority<'a> {
    fn new(named: &'a NamedAuthority) -> Result<Self, Error> {
        let invalid = |source| Error::InvalidKey {
            name: named.name.clone(),
            source,
        };
        match &named.authority {
            Authority::Key(pem) => {
                let key = PublicKey::from_pem(pem).map_err(invalid)?;
                let (_, spki_der) = pem_rfc7468::decode_vec(pem.trim().as_bytes())
                    .map_err(|e| invalid(crate::keys::KeyError::NotPem(e.to_string())))?;
                Ok(Self::Key {
                    name: &named.name,
                    key,
                    spki_der,
                })
            }
            Authority::Keyless(keyless) => {
                if keyless.identities.is_empty() {
                    return Err(Error::InvalidRequest(format!(
                        "authority {}: no identity",
                        named.name
                    )));
                }
                Ok(Self::Keyless {
                    name: &named.name,
                    identities: &keyless.identities,
                    trusted_root: &keyless.trusted_root,
                })
            }
        }
    }

    fn name(&self) -> &'a str {
        match self {
            Self::Key { name, .. } | Self::Keyless { name, .. } => name,
        }
    }
}

/// Fetches and parses every trust root the checks may need, once each.
fn trust_roots(
    request: &VerifyRequest,
    authorities: &[PreparedAuthority<'_>],
    source: &mut impl Fetch,
) -> Result<BTreeMap<String, TrustedRoot>, Error> {
    let mut names: Vec<&str> = authorities
        .iter()
        .filter_map(|signer| match signer {
            PreparedAuthority::Keyless { trusted_root, .. } => Some(*trusted_root),
            PreparedAuthority::Key { .. } => None,
        })
        .collect();
    if request.tlog == TlogPolicy::Require {
        names.push(&request.trusted_root);
    }
    let mut roots = BTreeMap::new();
    for name in names {
        if roots.contains_key(name) {
            continue;
        }
        let bytes = source.trusted_root(name)?;
        let root = TrustedRoot::parse(&bytes).map_err(|source| Error::TrustRoot {
            name: name.to_owned(),
            source,
        })?;
        roots.insert(name.to_owned(), root);
    }
    Ok(roots)
}

#[cfg(test)]
mod tests;
