//! cosign v3 signatures and attestations: Sigstore bundles attached to the image as OCI 1.1
//! referrers (docs/formats/oci.md, "How a bundle binds to the image"). The bundle never names the
//! image except inside its signed in-toto statement, so it is verified as a bundle over the image
//! digest (the statement's subject must carry it), and the statement's predicate type decides what
//! it is: an image signature (`https://sigstore.dev/cosign/sign/v1`) or an attestation.

use serde_json::Value;

use super::legacy::check_statement;
use super::{Accepted, CheckKind, Context, PreparedAuthority, predicate_type};
use crate::bundle::{self, Artifact, Bundle, BundleAuthority, Content, Version};
use crate::digest::Digest;
use crate::error::Reason;
use crate::fetch::AttachedBundle;
use crate::verdict::{SignatureReport, Source, Trail};

/// Checks one attached bundle. One of another kind (an attestation when signatures are wanted,
/// or another predicate type) is reported as such and never accepted.
pub(super) fn check_bundle(context: &Context<'_>, attached: &AttachedBundle) -> SignatureReport {
    let mut trail = Trail::default();
    let parsed = parse(attached, &mut trail);
    let outcome = parsed.and_then(|bundle| {
        let claimed = claimed_type(&bundle);
        if wanted(context, claimed.as_deref()) {
            verify(context, &bundle, &mut trail)
        } else {
            // Another kind of material (an attestation when signatures are wanted, another
            // predicate type): reported, so a user sees what is there, but never accepted.
            let detail = format!(
                "bundle holds predicate type {:?}",
                claimed.unwrap_or_default()
            );
            Err(trail.fail("predicate-type", Reason::PredicateTypeMismatch, detail))
        }
    });
    Accepted::report(outcome, Source::ReferrerBundle, &attached.digest, trail)
}

fn parse(attached: &AttachedBundle, trail: &mut Trail) -> Result<Bundle, Reason> {
    let Some(layer_version) = Version::of_media_type(&attached.media_type) else {
        let detail = format!(
            "{:?} is not a Sigstore bundle media type",
            attached.media_type
        );
        return Err(trail.fail("media-type", Reason::WrongMediaType, detail));
    };
    let digest = Digest::parse(&attached.digest).map_err(|e| {
        trail.fail(
            "payload-digest",
            Reason::PayloadDigestMismatch,
            e.to_string(),
        )
    })?;
    digest.check(&attached.bundle).map_err(|e| {
        trail.fail(
            "payload-digest",
            Reason::PayloadDigestMismatch,
            e.to_string(),
        )
    })?;
    trail.pass("payload-digest", format!("bundle bytes hash to {digest}"));
    let bundle = Bundle::parse(&attached.bundle)
        .map_err(|e| trail.fail("bundle", Reason::BundleMalformed, e.to_string()))?;
    // The layer's media type is unsigned; it must at least agree with the bundle it labels.
    if bundle.version != layer_version {
        let detail = format!(
            "layer media type {:?} names another bundle version than the bundle's {:?}",
            attached.media_type, bundle.version
        );
        return Err(trail.fail("media-type", Reason::WrongMediaType, detail));
    }
    Ok(bundle)
}

/// The predicate type a DSSE bundle's statement claims (not yet verified).
fn claimed_type(bundle: &Bundle) -> Option<String> {
    match &bundle.content {
        Content::Dsse(envelope) => serde_json::from_slice::<Value>(&envelope.payload)
            .ok()
            .and_then(|v| {
                v.get("predicateType")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            }),
        Content::Message { .. } => None,
    }
}

/// Routes by the claimed predicate type (none for a message-signature bundle); it is checked
/// again once the bundle is verified.
fn wanted(context: &Context<'_>, claimed: Option<&str>) -> bool {
    match (&context.request.check, claimed) {
        (CheckKind::Signature, None) => true,
        (CheckKind::Signature, Some(found)) => found == super::COSIGN_SIGN_PREDICATE,
        (CheckKind::Attestation(wanted), Some(found)) => found == predicate_type(wanted),
        (CheckKind::Attestation(_), None) => false,
    }
}

fn verify<'a>(
    context: &Context<'a>,
    bundle: &Bundle,
    trail: &mut Trail,
) -> Result<Accepted<'a>, Reason> {
    let artifact = Artifact::Sha256(context.digest.bytes());
    let mut last = None;
    for signer in context.authorities {
        let mut attempt = Trail::default();
        let root_name = match signer {
            PreparedAuthority::Keyless { trusted_root, .. } => *trusted_root,
            PreparedAuthority::Key { .. } => context.request.trusted_root.as_str(),
        };
        let empty = crate::trust_root::TrustedRoot {
            tlogs: Vec::new(),
            certificate_authorities: Vec::new(),
            ctlogs: Vec::new(),
            timestamp_authorities: Vec::new(),
        };
        let trust = context.roots.get(root_name).unwrap_or(&empty);
        let authority = match signer {
            PreparedAuthority::Key { key, spki_der, .. } => BundleAuthority::Key { key, spki_der },
            PreparedAuthority::Keyless { identities, .. } => BundleAuthority::Keyless(identities),
        };
        match bundle::verify(
            bundle,
            &artifact,
            &authority,
            trust,
            context.request.tlog,
            &mut attempt,
        ) {
            Ok(verified) => {
                trail.checks.extend(attempt.checks);
                let payload = match (&verified.statement, &context.request.check) {
                    (Some(statement), _) => check_statement(context, statement, trail)?,
                    (None, CheckKind::Signature) if context.request.annotations.is_empty() => {
                        format!("message signature over {}", context.digest)
                    }
                    (None, _) => {
                        let detail = "a message-signature bundle carries no claims to check";
                        return Err(trail.fail("statement", Reason::AnnotationMismatch, detail));
                    }
                };
                return Ok(Accepted {
                    authority: signer.name(),
                    payload,
                    signer: verified.signer,
                });
            }
            Err(err) => last = Some((err.reason(), attempt)),
        }
    }
    match last {
        Some((reason, attempt)) => {
            trail.checks.extend(attempt.checks);
            Err(reason)
        }
        None => Err(Reason::SignatureMismatch),
    }
}
