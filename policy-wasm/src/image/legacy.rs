//! Legacy cosign layers: one signature per layer of the `sha256-<hex>.sig` manifest (a
//! simple-signing payload, the signature in an annotation) or of the `.att` manifest (a DSSE
//! envelope holding an in-toto statement). The formats are in docs/formats/cosign-signatures.md
//! ("Signature manifests" to "In-toto statements"), cosign's order in its
//! "Verifying legacy layers".
//!
//! Checks, in order:
//! 1. the layer's media type is its manifest's kind (cosign's simple-signing type in `.sig`,
//!    the DSSE envelope type in `.att`) and its bytes hash to the descriptor digest;
//! 2. the signature: the `dev.cosignproject.cosign/signature` annotation (base64), or the DSSE
//!    envelope's signatures over PAE;
//! 3. the transparency log: the `dev.sigstore.cosign/bundle` annotation's signed entry
//!    timestamp (required unless the request ignores the log), whose time dates the signature;
//! 4. some authority verifies the signature: a key, or a certificate from the annotations that
//!    chains to a trusted Fulcio CA at that time, with its SCT and the wanted identity;
//! 5. the claims: cosign's payload type, this image's digest, this repository, the required
//!    annotations (for attestations: predicate type, subject digest, subject annotations);
//! 6. the logged entry describes exactly this signature, payload and signer.
//!
//! # Who vouches for each field
//!
//! The `.sig`/`.att` manifest is found by a tag anyone with push access can move, and nothing
//! signs its descriptors or annotations as a whole; each field counts only for what a verified
//! signature covers:
//!
//! | field | covered by | trusted for |
//! | --- | --- | --- |
//! | the `sha256-<hex>.sig` tag | nothing | where to look; the payload must sign this image's digest (step 5) |
//! | layer `digest` | the layer bytes (step 1) | nothing else: the bytes are what is checked |
//! | layer `mediaType` | nothing | nothing: it must name the kind the manifest holds (step 1), and the payload is parsed as that kind |
//! | `dev.cosignproject.cosign/signature` | is the signature | checked over the exact payload bytes (step 2/4) |
//! | `dev.sigstore.cosign/bundle` | the SET inside it | the log entry and its integrated time (a verified time only once the SET verifies) |
//! | `dev.sigstore.cosign/certificate` | the chain to a trusted CA | the signer's key and identity |
//! | `dev.sigstore.cosign/chain` | nothing | path building only: roots in it are dropped, the trust root's CAs end every path |
//! | payload `critical.identity.docker-reference` | the signature | the repository (step 5) |
//! | payload `optional` | the signature | the `-a` annotations a policy requires |
//!
//! The pre-2022 exemption from embedded SCTs is keyed on the SET's verified time and on the
//! issuing CA's age, never on the leaf's own `notBefore` (see `issued_before_ct`).

use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::{Accepted, CheckKind, Context, PreparedAuthority, TlogPolicy, predicate_type};
use crate::cert::Signer;
use crate::cert::{self, Certificate, Usage};
use crate::digest::Digest;
use crate::dsse::{ENVELOPE_MEDIA_TYPE, Envelope, IN_TOTO};
use crate::error::Reason;
use crate::fetch::Layer;
use crate::reference;
use crate::sct::{self, SctError};
use crate::simple_signing::{MEDIA_TYPE as SIMPLE_SIGNING, PAYLOAD_TYPE, Payload};
use crate::time::{UnixTime, format_rfc3339};
use crate::tlog::{self, RekorBundle};
use crate::verdict::{SignatureReport, Source, Trail};

/// The annotation that carries a `.sig` layer's signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The annotation that carries a Rekor bundle (SET).
pub const REKOR_BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// The annotation that carries the Fulcio leaf certificate (PEM).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// The annotation that carries the rest of the chain (PEM, intermediates then root).
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";

/// Fulcio embedded SCTs in every certificate from early 2022 on; older leaves have none.
const SCT_REQUIRED_FROM: UnixTime = 1_640_995_200; // 2022-01-01T00:00:00Z

/// Checks one layer of the `.sig` (signatures) or `.att` (attestations) manifest.
pub(super) fn check_layer(context: &Context<'_>, layer: &Layer) -> SignatureReport {
    let mut trail = Trail::default();
    let outcome = run(context, layer, &mut trail);
    let source = match context.request.check {
        CheckKind::Signature => Source::SigLayer,
        CheckKind::Attestation(_) => Source::AttLayer,
    };
    Accepted::report(outcome, source, &layer.digest, trail)
}

/// What a signature covers: the signed bytes and the candidate signatures.
struct Signed {
    bytes: Vec<u8>,
    signatures: Vec<Vec<u8>>,
    envelope: Option<Envelope>,
}

/// Runs the numbered checks; returns the verifying authority's name and the verified payload.
fn run<'a>(
    context: &Context<'a>,
    layer: &Layer,
    trail: &mut Trail,
) -> Result<Accepted<'a>, Reason> {
    // 1. The blob is what its descriptor says.
    let expected = match context.request.check {
        CheckKind::Signature => SIMPLE_SIGNING,
        CheckKind::Attestation(_) => ENVELOPE_MEDIA_TYPE,
    };
    if layer.media_type != expected {
        let detail = format!(
            "layer media type {:?}, expected {expected}",
            layer.media_type
        );
        return Err(trail.fail("media-type", Reason::WrongMediaType, detail));
    }
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

    // 2. The signature.
    let signed = signed(context, layer, trail)?;

    // 3. The transparency log's promise, which also dates the signature.
    let rekor = check_set(context, layer, trail)?;

    // 4. An authority verifies the signature.
    let time = rekor
        .as_ref()
        .map_or(SigningTime::Unlogged(context.request.at), |r| {
            SigningTime::Logged(r.integrated_time)
        });
    let mut failures = Vec::new();
    let mut verified = None;
    for signer in context.authorities {
        match check_signer(context, signer, layer, &signed, time) {
            Ok(found) => {
                verified = Some((signer.name(), found));
                break;
            }
            Err((reason, detail)) => {
                failures.push((reason, format!("{}: {detail}", signer.name())))
            }
        }
    }
    let Some((authority, (verifier, signer))) = verified else {
        let reason =
            Reason::furthest(failures.iter().map(|(r, _)| *r)).unwrap_or(Reason::SignatureMismatch);
        let detail = failures
            .into_iter()
            .map(|(_, d)| d)
            .collect::<Vec<_>>()
            .join("; ");
        return Err(trail.fail("signature", reason, detail));
    };
    let identity = signer.as_ref().map_or_else(String::new, |s| {
        let issuer = s.issuer.as_deref().unwrap_or("no issuer");
        format!(" ({} via {issuer})", s.subject_alternative_names.join(", "))
    });
    trail.pass("signature", format!("verified by {authority}{identity}"));

    // 5. The claims.
    let payload = match &signed.envelope {
        None => check_simple_signing(context, &layer.payload, trail)?,
        Some(envelope) => check_statement(context, &envelope.payload, trail)?,
    };

    // 6. The logged entry is this signature's.
    if let Some(rekor) = rekor {
        let body = rekor
            .body_bytes()
            .map_err(|e| trail.fail("tlog-body", Reason::TlogInvalid, e.to_string()))?;
        let sha256: [u8; 32] = Sha256::digest(&layer.payload).into();
        let verifier = match &verifier {
            Verifier::Certificate(der) => tlog::Verifier::Certificate(der),
            Verifier::Key(der) => tlog::Verifier::PublicKey(der),
        };
        let logged = match &signed.envelope {
            None => tlog::Signed::Message {
                sha256: &sha256,
                signature: signed
                    .signatures
                    .first()
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
            },
            Some(envelope) => tlog::Signed::Dsse {
                payload: &envelope.payload,
                payload_type: &envelope.payload_type,
                signatures: &signed.signatures,
                envelope_json: Some(&layer.payload),
            },
        };
        let (kind, version) = tlog::check_body(&body, &logged, &verifier)
            .map_err(|e| trail.fail("tlog-body", Reason::TlogBodyMismatch, e.to_string()))?;
        trail.pass("tlog-body", format!("{kind} {version} entry matches"));
    }
    Ok(Accepted {
        authority,
        payload,
        signer,
    })
}

fn signed(context: &Context<'_>, layer: &Layer, trail: &mut Trail) -> Result<Signed, Reason> {
    if let CheckKind::Attestation(_) = context.request.check {
        let envelope = Envelope::parse(&layer.payload)
            .map_err(|e| trail.fail("envelope", Reason::MalformedPayload, e.to_string()))?;
        if envelope.payload_type != IN_TOTO {
            let detail = format!("payload type {:?} is not {IN_TOTO}", envelope.payload_type);
            return Err(trail.fail("envelope", Reason::MalformedPayload, detail));
        }
        let signatures: Vec<Vec<u8>> = envelope.signatures.iter().map(|s| s.sig.clone()).collect();
        if signatures.is_empty() {
            return Err(trail.fail(
                "envelope",
                Reason::MissingSignature,
                "DSSE envelope has no signature",
            ));
        }
        trail.pass(
            "envelope",
            format!("DSSE envelope with {} signature(s)", signatures.len()),
        );
        return Ok(Signed {
            bytes: envelope.signed_bytes(),
            signatures,
            envelope: Some(envelope),
        });
    }
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
    // Go's decoder (cosign) skips \r and \n.
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
    Ok(Signed {
        bytes: layer.payload.clone(),
        signatures: vec![signature],
        envelope: None,
    })
}

/// Step 3: verifies the Rekor bundle annotation when the log is required (or dates a
/// certificate); returns it when verified.
fn check_set(
    context: &Context<'_>,
    layer: &Layer,
    trail: &mut Trail,
) -> Result<Option<RekorBundle>, Reason> {
    let annotation = layer.annotations.get(REKOR_BUNDLE_ANNOTATION);
    match (context.request.tlog, annotation) {
        (TlogPolicy::InsecureIgnore, _) => {
            trail.skip("tlog", "transparency log ignored by request");
            Ok(None)
        }
        (TlogPolicy::Require, None) => {
            let detail = format!(
                "no {REKOR_BUNDLE_ANNOTATION} annotation; the transparency log is required"
            );
            Err(trail.fail("tlog", Reason::TlogMissing, detail))
        }
        (TlogPolicy::Require, Some(json)) => {
            let rekor = RekorBundle::parse(json)
                .map_err(|e| trail.fail("tlog", Reason::TlogInvalid, e.to_string()))?;
            let root = context
                .roots
                .get(&context.request.trusted_root)
                .ok_or_else(|| {
                    trail.fail("tlog", Reason::TlogInvalid, "no trust root for the log")
                })?;
            rekor
                .verify(&root.tlogs)
                .map_err(|e| trail.fail("tlog", Reason::TlogInvalid, e.to_string()))?;
            let detail = format!(
                "signed entry timestamp: logged at {}",
                format_rfc3339(rekor.integrated_time)
            );
            trail.pass("tlog", detail);
            Ok(Some(rekor))
        }
    }
}

/// When a signature was made, as far as the verifier knows.
#[derive(Debug, Clone, Copy)]
pub(super) enum SigningTime {
    /// The integrated time of a verified signed entry timestamp.
    Logged(UnixTime),
    /// No verified time: the request's time (the log was ignored).
    Unlogged(UnixTime),
}

impl SigningTime {
    fn at(self) -> UnixTime {
        match self {
            Self::Logged(at) | Self::Unlogged(at) => at,
        }
    }
}

/// Whether a leaf may lack an embedded SCT: Fulcio embedded SCTs from early 2022 on, so only a
/// signature that the log dates (a verified SET, never the leaf's own `notBefore`, which its
/// issuer chooses) before then, by a leaf whose issuing CA was itself issued before then,
/// is exempt. [`cert::verify_chain`] has already checked that the leaf was valid at that time
/// and that its validity lies within its issuer's, so a leaf back-dated by today's
/// intermediates cannot qualify.
pub(super) fn issued_before_ct(time: SigningTime, path: &[Certificate]) -> bool {
    let SigningTime::Logged(at) = time else {
        return false;
    };
    at < SCT_REQUIRED_FROM
        && path
            .get(1)
            .is_some_and(|issuer| issuer.not_before() < SCT_REQUIRED_FROM)
}

/// Who verified a signature, as the log entry must name them.
enum Verifier {
    Certificate(Vec<u8>),
    Key(Vec<u8>),
}

/// Step 4 for one authority: the verifier and a description of the identity.
fn check_signer(
    context: &Context<'_>,
    signer: &PreparedAuthority<'_>,
    layer: &Layer,
    signed: &Signed,
    time: SigningTime,
) -> Result<(Verifier, Option<Signer>), (Reason, String)> {
    let verify_any = |key: &crate::keys::PublicKey| {
        let mut last = None;
        for signature in &signed.signatures {
            match key.verify(&signed.bytes, signature) {
                Ok(()) => return Ok(()),
                Err(err) => last = Some(err),
            }
        }
        Err((
            Reason::SignatureMismatch,
            last.map(|e| e.to_string()).unwrap_or_default(),
        ))
    };
    match signer {
        PreparedAuthority::Key { key, spki_der, .. } => {
            verify_any(key)?;
            Ok((Verifier::Key(spki_der.clone()), None))
        }
        PreparedAuthority::Keyless {
            identities,
            trusted_root,
            ..
        } => {
            let cert_error = |reason| move |e: cert::CertError| (reason, e.to_string());
            let pem = layer.annotations.get(CERTIFICATE_ANNOTATION).ok_or((
                Reason::AuthorityMismatch,
                "no certificate annotation: not a keyless signature".to_owned(),
            ))?;
            let mut leaves = cert::parse_pem_chain(pem)
                .map_err(cert_error(Reason::CertificateInvalid))?
                .into_iter();
            let leaf = leaves.next().ok_or((
                Reason::CertificateInvalid,
                "empty certificate annotation".to_owned(),
            ))?;
            // The chain annotation holds intermediates then the root; the root must come from
            // the trust root, so roots here are dropped, and the rest only help build a path.
            let intermediates: Vec<Certificate> = match layer
                .annotations
                .get(CHAIN_ANNOTATION)
                .filter(|c| !c.trim().is_empty())
            {
                Some(chain) => cert::parse_pem_chain(chain)
                    .map_err(cert_error(Reason::CertificateInvalid))?
                    .into_iter()
                    .filter(|c| !c.is_root())
                    .collect(),
                None => Vec::new(),
            };
            let root = context.roots.get(*trusted_root).ok_or((
                Reason::CertificateInvalid,
                format!("no trust root {trusted_root:?}"),
            ))?;
            let path = cert::verify_chain(
                &leaf,
                &intermediates,
                &root.certificate_authorities,
                time.at(),
                Usage::CodeSigning,
            )
            .map_err(cert_error(Reason::CertificateInvalid))?;
            match sct::verify_embedded_sct(&path, &root.ctlogs) {
                Ok(_) => {}
                Err(SctError::Missing) if issued_before_ct(time, &path) => {}
                Err(err) => return Err((Reason::SctInvalid, err.to_string())),
            }
            let identity = leaf
                .signer()
                .map_err(cert_error(Reason::CertificateInvalid))?;
            cert::check_identity(&identity, identities)
                .map_err(cert_error(Reason::IdentityMismatch))?;
            let key = leaf
                .public_key()
                .map_err(cert_error(Reason::CertificateInvalid))?;
            verify_any(&key)?;
            Ok((Verifier::Certificate(leaf.der().to_vec()), Some(identity)))
        }
    }
}

/// Step 5 for `.sig` layers.
fn check_simple_signing(
    context: &Context<'_>,
    bytes: &[u8],
    trail: &mut Trail,
) -> Result<String, Reason> {
    let payload = Payload::parse(bytes)
        .map_err(|err| trail.fail("payload", Reason::MalformedPayload, err.to_string()))?;
    if payload.payload_type != PAYLOAD_TYPE {
        let detail = format!(
            "critical.type is {:?}, expected {PAYLOAD_TYPE:?}",
            payload.payload_type
        );
        return Err(trail.fail("payload-type", Reason::WrongPayloadType, detail));
    }
    trail.pass("payload-type", PAYLOAD_TYPE);
    // It signs this image's digest: defeats replaying another image's signature.
    let expected = context.digest.to_string();
    if payload.manifest_digest != expected {
        let detail = format!(
            "signed digest {} is not {expected}",
            payload.manifest_digest
        );
        return Err(trail.fail("manifest-digest", Reason::ManifestDigestMismatch, detail));
    }
    trail.pass("manifest-digest", expected);
    // It names this repository (cosign writes it without a tag, skopeo with one).
    match context.repository {
        Some(repository) if reference::same_repository(&payload.docker_reference, repository) => {
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
    check_annotations(context, &payload.optional, trail)?;
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// Step 5 for `.att` layers and DSSE bundles: an in-toto statement about this image.
pub(super) fn check_statement(
    context: &Context<'_>,
    statement: &[u8],
    trail: &mut Trail,
) -> Result<String, Reason> {
    let value: Value = serde_json::from_slice(statement).map_err(|e| {
        trail.fail(
            "statement",
            Reason::MalformedPayload,
            format!("in-toto statement is not JSON: {e}"),
        )
    })?;
    let found = value
        .get("predicateType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let wanted = match &context.request.check {
        CheckKind::Attestation(wanted) => predicate_type(wanted),
        CheckKind::Signature => super::COSIGN_SIGN_PREDICATE,
    };
    if found != wanted {
        let detail = format!("predicate type {found:?}, wanted {wanted:?}");
        return Err(trail.fail("predicate-type", Reason::PredicateTypeMismatch, detail));
    }
    trail.pass("predicate-type", wanted);
    // docs/formats/cosign-signatures.md, "In-toto statements": any subject with this image's
    // digest; its annotations are the claims.
    let hex = context.digest.hex();
    let subject = value
        .get("subject")
        .and_then(Value::as_array)
        .and_then(|subjects| {
            subjects.iter().find(|s| {
                s.get("digest")
                    .and_then(|d| d.get("sha256"))
                    .and_then(Value::as_str)
                    == Some(hex)
            })
        })
        .ok_or_else(|| {
            trail.fail(
                "image-subject",
                Reason::ManifestDigestMismatch,
                format!("no subject has digest sha256:{hex}"),
            )
        })?;
    trail.pass(
        "image-subject",
        format!("subject sha256:{hex} is this image"),
    );
    let empty = Map::new();
    let annotations = subject
        .get("annotations")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    check_annotations(context, annotations, trail)?;
    Ok(String::from_utf8_lossy(statement).into_owned())
}

/// Required annotations, compared as strings (cosign compares JSON values).
fn check_annotations(
    context: &Context<'_>,
    claims: &Map<String, Value>,
    trail: &mut Trail,
) -> Result<(), Reason> {
    let required = &context.request.annotations;
    for (key, value) in required {
        match claims.get(key) {
            Some(Value::String(found)) if found == value => {}
            found => {
                let detail = format!("annotation {key}={value} required, payload has {found:?}");
                return Err(trail.fail("annotations", Reason::AnnotationMismatch, detail));
            }
        }
    }
    if !required.is_empty() {
        trail.pass(
            "annotations",
            format!("{} required annotations present", required.len()),
        );
    }
    Ok(())
}
