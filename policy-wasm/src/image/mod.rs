//! Verifying an image: resolve it, fetch what is attached to its digest, and accept it when
//! any signature passes every check for any authority (cosign's any-of semantics).
//!
//! Checks on a legacy `.sig` layer, in order (FORMATS.md §1.3, §1.5, §2.12):
//! 1. the layer bytes hash to the descriptor digest;
//! 2. the layer carries `dev.cosignproject.cosign/signature`, which is base64;
//! 3. some authority's key verifies that signature over the exact layer bytes;
//! 4. the bytes are a simple-signing payload of cosign's `critical.type`;
//! 5. `critical.image.docker-manifest-digest` equals the digest being verified;
//! 6. `critical.identity.docker-reference` names the image's repository (tag ignored);
//! 7. every required annotation is in `optional` with an equal string value;
//! 8. the transparency log, unless the request says to ignore it.
//!
//! This module never performs I/O: everything comes through [`Fetch`].

use base64::Engine as _;
use serde_json::Value;

use crate::authority::{Authority, NamedAuthority};
use crate::digest::Digest;
use crate::error::{Error, Reason};
use crate::fetch::{Fetch, Kinds, Layer};
use crate::keys::PublicKey;
use crate::reference;
use crate::simple_signing::{PAYLOAD_TYPE, Payload};
use crate::verdict::{Check, Outcome, Report, SignatureReport, Source};

/// The annotation that carries a `.sig` layer's signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The annotation that carries a Rekor bundle (SET).
pub const REKOR_BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// What to check on the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    /// Image signatures.
    Signature,
    /// Attestations of this predicate type.
    Attestation(String),
}

/// What to do about the transparency log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlogPolicy {
    /// A verified log entry is required.
    Require,
    /// The log is not consulted (cosign `--insecure-ignore-tlog`).
    InsecureIgnore,
}

/// A request to verify one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyRequest {
    /// The reference as the user wrote it.
    pub image: String,
    /// Any one suffices.
    pub authorities: Vec<NamedAuthority>,
    /// Required `key=value` claims in the payload.
    pub annotations: Vec<(String, String)>,
    /// Signatures or attestations.
    pub check: CheckKind,
    /// Transparency log handling.
    pub tlog: TlogPolicy,
    /// Verification time, Unix seconds.
    pub at: i64,
}

/// Verifies one image.
///
/// # Errors
///
/// [`Error`] when the request cannot be decided: an unusable key, no authorities, a fetch
/// failure, or a capability not built yet. A signature that fails a check is not an error:
/// it is reported in the [`Report`].
pub fn verify_image(request: &VerifyRequest, source: &mut impl Fetch) -> Result<Report, Error> {
    if request.authorities.is_empty() {
        return Err(Error::InvalidRequest(
            "no authority to verify against".to_owned(),
        ));
    }
    if let CheckKind::Attestation(_) = request.check {
        return Err(Error::NotSupported("attestations (issue 3)"));
    }
    let keys = request
        .authorities
        .iter()
        .map(|named| match &named.authority {
            Authority::Key(pem) => PublicKey::from_pem(pem)
                .map(|key| (named.name.as_str(), key))
                .map_err(|source| Error::InvalidKey {
                    name: named.name.clone(),
                    source,
                }),
            Authority::Keyless(_) => Err(Error::NotSupported("keyless authorities (issue 3)")),
        })
        .collect::<Result<Vec<_>, _>>()?;

    let resolved = source.resolve(&request.image)?;
    let digest = Digest::parse(&resolved.digest)?;
    let kinds = Kinds {
        signatures: true,
        ..Kinds::default()
    };
    let material = source.attached(&request.image, &resolved.digest, kinds)?;

    let context = Context {
        request,
        digest: &digest,
        repository: resolved.repository.as_deref(),
    };
    let signatures = material
        .signatures
        .iter()
        .map(|layer| context.check_layer(layer, &keys))
        .collect();
    Ok(Report {
        image: request.image.clone(),
        digest: digest.to_string(),
        repository: resolved.repository,
        signatures,
    })
}

struct Context<'a> {
    request: &'a VerifyRequest,
    digest: &'a Digest,
    repository: Option<&'a str>,
}

/// Accumulates checks for one signature and stops at the first failure.
struct Trail {
    checks: Vec<Check>,
}

impl Trail {
    fn pass(&mut self, name: &'static str, detail: impl Into<String>) {
        self.checks.push(Check {
            name,
            outcome: Outcome::Pass,
            detail: detail.into(),
        });
    }

    fn skip(&mut self, name: &'static str, detail: impl Into<String>) {
        self.checks.push(Check {
            name,
            outcome: Outcome::Skip,
            detail: detail.into(),
        });
    }

    fn fail(&mut self, name: &'static str, reason: Reason, detail: impl Into<String>) -> Reason {
        self.checks.push(Check {
            name,
            outcome: Outcome::Fail,
            detail: detail.into(),
        });
        reason
    }
}

impl Context<'_> {
    fn check_layer(&self, layer: &Layer, keys: &[(&str, PublicKey)]) -> SignatureReport {
        let mut trail = Trail { checks: Vec::new() };
        let outcome = self.run_checks(layer, keys, &mut trail);
        let (authority, reason, payload) = match outcome {
            Ok(authority) => (
                Some(authority.to_owned()),
                None,
                Some(String::from_utf8_lossy(&layer.payload).into_owned()),
            ),
            Err(reason) => (None, Some(reason), None),
        };
        SignatureReport {
            source: Source::SigLayer,
            digest: layer.digest.clone(),
            authority,
            reason,
            checks: trail.checks,
            payload,
        }
    }

    /// Runs the numbered checks of the module docs; returns the verifying authority's name.
    fn run_checks<'k>(
        &self,
        layer: &Layer,
        keys: &'k [(&'k str, PublicKey)],
        trail: &mut Trail,
    ) -> Result<&'k str, Reason> {
        // 1. The blob is what its descriptor says.
        let blob_digest = Digest::parse(&layer.digest).map_err(|err| {
            trail.fail(
                "payload-digest",
                Reason::PayloadDigestMismatch,
                err.to_string(),
            )
        })?;
        blob_digest.check(&layer.payload).map_err(|err| {
            trail.fail(
                "payload-digest",
                Reason::PayloadDigestMismatch,
                err.to_string(),
            )
        })?;
        trail.pass(
            "payload-digest",
            format!("layer bytes hash to {blob_digest}"),
        );

        // 2. The signature annotation exists and is base64 (Go's decoder skips \r and \n).
        let encoded = layer
            .annotations
            .get(SIGNATURE_ANNOTATION)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                trail.fail(
                    "signature-annotation",
                    Reason::MissingSignature,
                    format!("no {SIGNATURE_ANNOTATION} annotation"),
                )
            })?;
        let cleaned: String = encoded
            .chars()
            .filter(|c| !matches!(c, '\r' | '\n'))
            .collect();
        let signature = base64::engine::general_purpose::STANDARD
            .decode(cleaned)
            .map_err(|err| {
                trail.fail(
                    "signature-annotation",
                    Reason::InvalidSignatureEncoding,
                    format!("signature is not base64: {err}"),
                )
            })?;
        trail.pass(
            "signature-annotation",
            format!("{} signature bytes", signature.len()),
        );

        // 3. Some authority's key verifies the signature over the exact bytes.
        let mut failures = Vec::new();
        let authority =
            keys.iter()
                .find_map(|(name, key)| match key.verify(&layer.payload, &signature) {
                    Ok(()) => Some(*name),
                    Err(err) => {
                        failures.push(format!("{name}: {err}"));
                        None
                    }
                });
        let authority = authority.ok_or_else(|| {
            trail.fail("signature", Reason::SignatureMismatch, failures.join("; "))
        })?;
        trail.pass("signature", format!("verified by {authority}"));

        // 4. The payload is cosign's simple-signing JSON.
        let payload = Payload::parse(&layer.payload)
            .map_err(|err| trail.fail("payload", Reason::MalformedPayload, err.to_string()))?;
        if payload.payload_type != PAYLOAD_TYPE {
            let detail = format!(
                "critical.type is {:?}, expected {PAYLOAD_TYPE:?}",
                payload.payload_type
            );
            return Err(trail.fail("payload-type", Reason::WrongPayloadType, detail));
        }
        trail.pass("payload-type", PAYLOAD_TYPE);

        // 5. It signs this image's digest: defeats replaying another image's signature.
        let expected = self.digest.to_string();
        if payload.manifest_digest != expected {
            let detail = format!(
                "signed digest {} is not {expected}",
                payload.manifest_digest
            );
            return Err(trail.fail("manifest-digest", Reason::ManifestDigestMismatch, detail));
        }
        trail.pass("manifest-digest", expected);

        // 6. It names this repository (cosign writes it without a tag, skopeo with one).
        match self.repository {
            Some(repository)
                if reference::same_repository(&payload.docker_reference, repository) =>
            {
                trail.pass("docker-reference", payload.docker_reference.clone());
            }
            Some(repository) => {
                let detail = format!(
                    "signed for {}, image is in {repository}",
                    payload.docker_reference
                );
                return Err(trail.fail("docker-reference", Reason::ReferenceMismatch, detail));
            }
            None => trail.skip(
                "docker-reference",
                "the image source has no repository name",
            ),
        }

        // 7. Required annotations, compared as strings (cosign compares JSON values).
        for (key, value) in &self.request.annotations {
            match payload.optional.get(key) {
                Some(Value::String(found)) if found == value => {}
                found => {
                    let detail =
                        format!("annotation {key}={value} required, payload has {found:?}");
                    return Err(trail.fail("annotations", Reason::AnnotationMismatch, detail));
                }
            }
        }
        if !self.request.annotations.is_empty() {
            trail.pass(
                "annotations",
                format!(
                    "{} required annotations present",
                    self.request.annotations.len()
                ),
            );
        }

        // 8. Transparency log.
        match self.request.tlog {
            TlogPolicy::InsecureIgnore => trail.skip("tlog", "transparency log ignored by request"),
            TlogPolicy::Require if layer.annotations.contains_key(REKOR_BUNDLE_ANNOTATION) => {
                let detail = "Rekor bundle verification is not built yet (issue 3)";
                return Err(trail.fail("tlog", Reason::NotSupported, detail));
            }
            TlogPolicy::Require => {
                let detail = format!(
                    "no {REKOR_BUNDLE_ANNOTATION} annotation; the transparency log is required"
                );
                return Err(trail.fail("tlog", Reason::TlogMissing, detail));
            }
        }
        Ok(authority)
    }
}

#[cfg(test)]
mod tests;
