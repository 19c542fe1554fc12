//! Bundle verification, following docs/formats/sigstore-bundle.md, "Verification" (sigstore-python
//! ≈ sigstore-go ≈ cosign v3).
//!
//! Steps, in order; each failure has its own error:
//! 0. shape: exactly one tlog entry, at most 32 timestamps and no two alike, no root
//!    certificate in the chain;
//! 1. transparency log: the entry's `logId` names a trusted log, the inclusion proof and a
//!    checkpoint signed by that same log (v0.2+), the signed entry timestamp (required for v0.1,
//!    and for v0.2+ unless a timestamp is present) with the log key valid at its time;
//! 2. verified times: the SET's integrated time and each RFC 3161 timestamp that verifies on
//!    its own, the log key valid at each; a timestamp that does not verify (unknown TSA, wrong
//!    imprint, outside its TSA's window, bad signature) is reported and not counted, as
//!    sigstore-go's `VerifySignedTimestampWithThreshold` and sigstore-python count them, and a
//!    bundle with timestamps needs at least one verified time;
//! 3. signer: the leaf chains to a trusted Fulcio CA at every verified time, carries a valid
//!    SCT and the wanted identity; or the bundle is key-signed and a key was given;
//! 4. signature: over the artifact (message) or over PAE (DSSE), with the artifact digest
//!    matching `messageDigest` or an in-toto subject;
//! 5. entry consistency: the logged body describes exactly this signature, artifact and signer.
//!
//! # Who vouches for each field
//!
//! A bundle is untrusted bytes; a field counts only for what a verified signature covers.
//! Unsigned fields are hints: they may pick *where to look*, never *whether to check*. The
//! table test in `bundle/tests/fields.rs` alters each one.
//!
//! | field | covered by | trusted for |
//! | --- | --- | --- |
//! | `mediaType` | nothing | which evidence is required (v0.1: SET; v0.2+: inclusion proof and checkpoint, and a SET unless timestamps date the entry); every version's set is sufficient on its own |
//! | `verificationMaterial.publicKey.hint` | nothing | nothing: the key comes from the verifier |
//! | `x509CertificateChain` / `certificate` | the chain to a trusted CA | the first certificate is the leaf; the rest only help build a path, never end it; a root among them rejects |
//! | `tlogEntries[].logId` | the SET (v1); nothing (v2) | naming the log; it must be a trusted log, and that log must have signed the checkpoint (step 1), and its key must be valid at every verified time (steps 1–2) |
//! | `logIndex` | the SET | nothing without a SET: the inclusion proof's own index is what the tree checks |
//! | `integratedTime` | the SET | a verified time only with a verified SET; otherwise ignored |
//! | `kindVersion` | nothing | nothing: it must equal the logged body's `kind`/`apiVersion` (step 5) |
//! | `canonicalizedBody` | the Merkle leaf, the SET | what was logged: must describe this signature, artifact and signer |
//! | `inclusionProof.{logIndex,treeSize,rootHash,hashes}` | the checkpoint via the audit path | inclusion of the body |
//! | `inclusionProof.checkpoint` | the entry's log's signature | tree size and root hash; extension lines are signed but carry no meaning here |
//! | `timestampVerificationData` | each TSA's signature | a verified time each |
//! | `messageSignature.messageDigest` | nothing | must equal the artifact's digest |
//! | `dsseEnvelope.payloadType`, `payload` | the signature (PAE) | the in-toto statement |
//! | `dsseEnvelope.signatures[].keyid` | nothing | nothing |
//!
//! This module never performs I/O.

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::{Bundle, Content, ParseError, SignerMaterial, TlogEntry, Version};
use crate::authority::Identity;
use crate::cert::{self, CertError, Certificate, Signer, Usage};
use crate::digest::hex_lower;
use crate::dsse::IN_TOTO;
use crate::error::Reason;
use crate::image::TlogPolicy;
use crate::keys::{PublicKey, SignatureError};
use crate::sct::{self, SctError};
use crate::time::{UnixTime, format_rfc3339};
use crate::tlog::{self, SetPayload, TlogError};
use crate::trust_root::{TransparencyLog, TrustedRoot};
use crate::tsa::{self, TsaError};
use crate::verdict::Trail;

/// Most RFC 3161 timestamps a bundle may carry (sigstore-python's limit).
const MAX_TIMESTAMPS: usize = 32;

/// What the bundle must have signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Artifact<'a> {
    /// The artifact bytes.
    Bytes(&'a [u8]),
    /// Only its SHA-256 digest.
    Sha256([u8; 32]),
}

impl Artifact<'_> {
    /// The artifact's SHA-256 digest.
    pub fn sha256(&self) -> [u8; 32] {
        match self {
            Self::Bytes(bytes) => Sha256::digest(bytes).into(),
            Self::Sha256(digest) => *digest,
        }
    }
}

/// Who must have signed.
#[derive(Debug, Clone, Copy)]
pub enum BundleAuthority<'a> {
    /// A known public key (the bundle's `publicKey.hint` is not trusted).
    Key {
        /// The key.
        key: &'a PublicKey,
        /// Its DER SubjectPublicKeyInfo, as the log entry records it.
        spki_der: &'a [u8],
    },
    /// Any of these certificate identities, from a Fulcio CA of the trust root.
    Keyless(&'a [Identity]),
}

/// What a verified bundle established.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The certificate's identity (keyless bundles).
    pub signer: Option<Signer>,
    /// Every verified signing time.
    pub times: Vec<UnixTime>,
    /// The DSSE payload (an in-toto statement), for DSSE bundles.
    pub statement: Option<Vec<u8>>,
}

/// Why a bundle did not verify.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BundleError {
    /// The bundle is not well-formed.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Not exactly one transparency log entry.
    #[error("bundle has {0} transparency log entries; exactly one is required")]
    TlogEntryCount(usize),
    /// More timestamps than allowed.
    #[error("bundle has {0} timestamps; at most 32 are allowed")]
    TooManyTimestamps(usize),
    /// The same timestamp twice (it would count twice towards a threshold).
    #[error("bundle carries the same RFC 3161 timestamp twice")]
    DuplicateTimestamp,
    /// The bundle version requires an inclusion promise it lacks.
    #[error(
        "the tlog entry has no inclusion promise (required for bundle v0.1 and without timestamps)"
    )]
    MissingInclusionPromise,
    /// The bundle version requires an inclusion proof with checkpoint it lacks.
    #[error("the tlog entry has no inclusion proof with a checkpoint (required from bundle v0.2)")]
    MissingInclusionProof,
    /// The log key was not valid at a verified time.
    #[error("the transparency log key was not valid at {0}")]
    LogKeyNotValidAt(String),
    /// A transparency log check failed.
    #[error(transparent)]
    Tlog(#[from] TlogError),
    /// A timestamp did not verify.
    #[error(transparent)]
    Timestamp(#[from] TsaError),
    /// A certificate needs a verified time and there is none.
    #[error("no verified signing time (no valid inclusion promise or timestamp)")]
    NoVerifiedTime,
    /// A certificate check failed.
    #[error(transparent)]
    Certificate(#[from] CertError),
    /// The SCT did not verify.
    #[error(transparent)]
    Sct(#[from] SctError),
    /// The bundle is key-signed but no key was given, or certificate-signed and a key was.
    #[error("{0}")]
    AuthorityMismatch(&'static str),
    /// `messageDigest` is not the artifact's digest.
    #[error("messageDigest does not match the artifact")]
    MessageDigestMismatch,
    /// A digest algorithm we do not check.
    #[error("unsupported message digest algorithm {0:?}")]
    UnsupportedDigest(String),
    /// The signature did not verify.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// A DSSE payload type other than in-toto.
    #[error("DSSE payload type {0:?} is not {IN_TOTO}")]
    WrongPayloadType(String),
    /// The DSSE envelope has no signature, or several.
    #[error("DSSE envelope has {0} signatures; exactly one is required")]
    EnvelopeSignatures(usize),
    /// The in-toto statement is not JSON of the statement shape.
    #[error("the in-toto statement is malformed: {0}")]
    BadStatement(String),
    /// No in-toto subject has the artifact's digest.
    #[error("no in-toto subject has digest sha256:{0}")]
    SubjectMismatch(String),
}

impl BundleError {
    /// The stable reason.
    pub fn reason(&self) -> Reason {
        match self {
            // No entry at all, where the log is required: the evidence is missing, not garbled.
            Self::TlogEntryCount(0) => Reason::TlogMissing,
            Self::Parse(_)
            | Self::TlogEntryCount(_)
            | Self::TooManyTimestamps(_)
            | Self::DuplicateTimestamp => Reason::BundleMalformed,
            Self::MissingInclusionPromise
            | Self::MissingInclusionProof
            | Self::LogKeyNotValidAt(_) => Reason::TlogInvalid,
            Self::Tlog(TlogError::BodyMismatch { .. }) => Reason::TlogBodyMismatch,
            Self::Tlog(_) => Reason::TlogInvalid,
            Self::Timestamp(_) => Reason::TimestampInvalid,
            Self::NoVerifiedTime => Reason::NoVerifiedTime,
            Self::Certificate(CertError::RootInChain(_)) => Reason::RootInChain,
            Self::Certificate(
                CertError::IdentityMismatch { .. } | CertError::GithubWorkflowMismatch { .. },
            ) => Reason::IdentityMismatch,
            Self::Certificate(_) => Reason::CertificateInvalid,
            Self::Sct(_) => Reason::SctInvalid,
            Self::AuthorityMismatch(_) => Reason::AuthorityMismatch,
            Self::MessageDigestMismatch | Self::SubjectMismatch(_) => {
                Reason::ManifestDigestMismatch
            }
            Self::UnsupportedDigest(_) => Reason::NotSupported,
            Self::Signature(_) => Reason::SignatureMismatch,
            Self::WrongPayloadType(_) | Self::EnvelopeSignatures(_) | Self::BadStatement(_) => {
                Reason::MalformedPayload
            }
        }
    }
}

/// Verifies `bundle` over `artifact` for `authority` under `trust`, recording each check.
///
/// # Errors
///
/// The first [`BundleError`] met, in the order of the module docs.
pub fn verify(
    bundle: &Bundle,
    artifact: &Artifact<'_>,
    authority: &BundleAuthority<'_>,
    trust: &TrustedRoot,
    tlog_policy: TlogPolicy,
    trail: &mut Trail,
) -> Result<Verified, BundleError> {
    let fail = |trail: &mut Trail, name, err: BundleError| {
        let detail = err.to_string();
        trail.fail(name, err, detail)
    };
    // 0. Shape.
    let entry = match (bundle.tlog_entries.as_slice(), tlog_policy) {
        ([entry], TlogPolicy::Require) => Some(entry),
        (_, TlogPolicy::InsecureIgnore) => None,
        (entries, TlogPolicy::Require) => {
            return Err(fail(
                trail,
                "bundle",
                BundleError::TlogEntryCount(entries.len()),
            ));
        }
    };
    if bundle.timestamps.len() > MAX_TIMESTAMPS {
        return Err(fail(
            trail,
            "bundle",
            BundleError::TooManyTimestamps(bundle.timestamps.len()),
        ));
    }
    for (n, response) in bundle.timestamps.iter().enumerate() {
        if bundle
            .timestamps
            .iter()
            .skip(n + 1)
            .any(|other| other == response)
        {
            return Err(fail(trail, "bundle", BundleError::DuplicateTimestamp));
        }
    }
    let certificates = match &bundle.signer {
        SignerMaterial::Certificate { leaf, chain } => {
            let parsed =
                parse_certificates(leaf, chain).map_err(|e| fail(trail, "certificate", e))?;
            Some(parsed)
        }
        SignerMaterial::PublicKey { .. } => None,
    };
    trail.pass("bundle", format!("bundle {:?}", bundle.version));

    // 1. Transparency log.
    let signature = bundle.signature().unwrap_or_default();
    let logged = match entry {
        Some(entry) => {
            Some(check_tlog(bundle, entry, trust, trail).map_err(|e| fail(trail, "tlog", e))?)
        }
        None => {
            trail.skip("tlog", "transparency log ignored by request");
            None
        }
    };

    // 2. Verified times.
    let mut times: Vec<UnixTime> = logged.and_then(|(_, at)| at).into_iter().collect();
    let mut not_counted = None;
    for response in &bundle.timestamps {
        let at = match tsa::verify_timestamp(response, signature, &trust.timestamp_authorities) {
            Ok(at) => at,
            Err(err) => {
                trail.skip("timestamp", format!("not counted: {err}"));
                not_counted.get_or_insert(err);
                continue;
            }
        };
        // The log that vouched for the entry must have been trusted when it was logged: without
        // a SET (Rekor v2) the timestamps are the only verified times, so its key's `validFor`
        // is checked at each of them (the SET's integrated time was checked in step 1).
        if let Some((log, _)) = logged
            && !log.valid_for.contains(at)
        {
            return Err(fail(
                trail,
                "timestamp",
                BundleError::LogKeyNotValidAt(format_rfc3339(at)),
            ));
        }
        trail.pass(
            "timestamp",
            format!("RFC 3161 timestamp at {}", format_rfc3339(at)),
        );
        times.push(at);
    }
    // The threshold: timestamps that all failed leave no verified time to count.
    if times.is_empty()
        && let Some(err) = not_counted
    {
        return Err(fail(trail, "timestamp", err.into()));
    }

    // 3. Signer.
    let (key, signer, leaf_der) = match (&certificates, authority) {
        (Some((leaf, intermediates)), BundleAuthority::Keyless(identities)) => {
            if times.is_empty() {
                return Err(fail(
                    trail,
                    "certificate-chain",
                    BundleError::NoVerifiedTime,
                ));
            }
            let mut path = Vec::new();
            for at in &times {
                path = cert::verify_chain(
                    leaf,
                    intermediates,
                    &trust.certificate_authorities,
                    *at,
                    Usage::CodeSigning,
                )
                .map_err(|e| fail(trail, "certificate-chain", e.into()))?;
            }
            trail.pass(
                "certificate-chain",
                format!(
                    "chains to a trusted Fulcio CA at {} verified time(s)",
                    times.len()
                ),
            );
            let sct_time = sct::verify_embedded_sct(&path, &trust.ctlogs)
                .map_err(|e| fail(trail, "sct", e.into()))?;
            trail.pass(
                "sct",
                format!("embedded SCT from {}", format_rfc3339(sct_time)),
            );
            let signer = leaf
                .signer()
                .map_err(|e| fail(trail, "identity", e.into()))?;
            cert::check_identity(&signer, identities)
                .map_err(|e| fail(trail, "identity", e.into()))?;
            trail.pass("identity", signer.subject_alternative_names.join(", "));
            let key = leaf
                .public_key()
                .map_err(|e| fail(trail, "certificate", e.into()))?;
            (key, Some(signer), Some(leaf.der().to_vec()))
        }
        (None, BundleAuthority::Key { key, .. }) => {
            trail.skip("certificate-chain", "key-signed bundle");
            ((*key).clone(), None, None)
        }
        (Some(_), BundleAuthority::Key { .. }) => {
            let err = BundleError::AuthorityMismatch(
                "the bundle is signed with a certificate, not the given key",
            );
            return Err(fail(trail, "authority", err));
        }
        (None, BundleAuthority::Keyless(_)) => {
            let err = BundleError::AuthorityMismatch(
                "the bundle is key-signed; give the key to verify it",
            );
            return Err(fail(trail, "authority", err));
        }
    };

    // 4. Signature.
    let artifact_sha256 = artifact.sha256();
    let statement = check_signature(&bundle.content, artifact, &artifact_sha256, &key, trail)
        .map_err(|(name, e)| fail(trail, name, e))?;

    // 5. Entry consistency.
    let Some(entry) = entry else {
        return Ok(Verified {
            signer,
            times,
            statement,
        });
    };
    let verifier = match (&leaf_der, authority) {
        (Some(der), _) => tlog::Verifier::Certificate(der),
        (None, BundleAuthority::Key { spki_der, .. }) => tlog::Verifier::PublicKey(spki_der),
        (None, BundleAuthority::Keyless(_)) => {
            return Err(fail(
                trail,
                "tlog-body",
                BundleError::AuthorityMismatch("no signer to compare"),
            ));
        }
    };
    let kind = check_body(bundle, entry, &artifact_sha256, &verifier)
        .map_err(|e| fail(trail, "tlog-body", e))?;
    trail.pass(
        "tlog-body",
        format!("{} {} entry matches the signature", kind.0, kind.1),
    );

    Ok(Verified {
        signer,
        times,
        statement,
    })
}

fn parse_certificates(
    leaf: &[u8],
    chain: &[Vec<u8>],
) -> Result<(Certificate, Vec<Certificate>), BundleError> {
    let leaf = Certificate::from_der(leaf)?;
    let intermediates = chain
        .iter()
        .map(|der| Certificate::from_der(der))
        .collect::<Result<Vec<_>, _>>()?;
    // Conformance `bundle-with-root-cert_fail`: a chain in a bundle never holds the root.
    cert::reject_roots(&intermediates)?;
    Ok((leaf, intermediates))
}

/// Step 1; returns the trusted log the entry is in, and the integrated time when a SET vouches
/// for it.
///
/// The log is chosen by the entry's `logId`, which nothing signs in a Rekor v2 entry: so the
/// checkpoint must be signed by that same log (signatures by other logs count as witnesses),
/// and an ID no trusted log has rejects the entry rather than skipping the checks that need the
/// log. The log key's validity at the verified times is checked by the caller once those times
/// are known (SET: here, by [`tlog::verify_set`]).
fn check_tlog<'t>(
    bundle: &Bundle,
    entry: &TlogEntry,
    trust: &'t TrustedRoot,
    trail: &mut Trail,
) -> Result<(&'t TransparencyLog, Option<UnixTime>), BundleError> {
    if bundle.version >= Version::V02 && entry.proof.is_none() {
        return Err(BundleError::MissingInclusionProof);
    }
    if entry.set.is_none() && (bundle.version == Version::V01 || bundle.timestamps.is_empty()) {
        return Err(BundleError::MissingInclusionPromise);
    }
    let log = trust
        .tlog(&entry.log_id)
        .ok_or_else(|| TlogError::UnknownLog {
            log_id: hex_lower(&entry.log_id),
        })?;
    if let Some(proof) = &entry.proof {
        let leaf = format!(
            "leaf {} of {} in the tree",
            proof.log_index, proof.tree_size
        );
        // The audit path, the checkpoint signed by the entry's log, and that both name the same
        // tree.
        let proof = tlog::InclusionProof {
            log_index: proof.log_index,
            tree_size: proof.tree_size,
            root_hash: &proof.root_hash,
            hashes: &proof.hashes,
            checkpoint: &proof.checkpoint,
        };
        let checkpoint =
            tlog::verify_inclusion_proof(&entry.body, &proof, core::slice::from_ref(log), None)?;
        trail.pass("inclusion-proof", leaf);
        trail.pass(
            "checkpoint",
            format!("signed checkpoint of {}", checkpoint.origin),
        );
    }
    let Some(set) = &entry.set else {
        trail.skip(
            "signed-entry-timestamp",
            "none (Rekor v2); time comes from timestamps",
        );
        return Ok((log, None));
    };
    let body = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &entry.body);
    let log_index = i64::try_from(entry.log_index)
        .map_err(|_| BundleError::Parse(ParseError::BadField("logIndex")))?;
    let payload = SetPayload {
        body: &body,
        integrated_time: entry.integrated_time,
        log_id: &entry.log_id,
        log_index,
    };
    tlog::verify_set(&payload, set, &trust.tlogs)?;
    trail.pass(
        "signed-entry-timestamp",
        format!("integrated at {}", format_rfc3339(entry.integrated_time)),
    );
    Ok((log, Some(entry.integrated_time)))
}

/// Step 4; returns the DSSE payload for DSSE bundles.
fn check_signature(
    content: &Content,
    artifact: &Artifact<'_>,
    artifact_sha256: &[u8; 32],
    key: &PublicKey,
    trail: &mut Trail,
) -> Result<Option<Vec<u8>>, (&'static str, BundleError)> {
    let signature_step = |e: BundleError| ("signature", e);
    let err = |e: SignatureError| ("signature", BundleError::from(e));
    match content {
        Content::Message { digest, signature } => {
            if let Some((algorithm, digest)) = digest {
                if algorithm != "SHA2_256" {
                    return Err((
                        "message-digest",
                        BundleError::UnsupportedDigest(algorithm.clone()),
                    ));
                }
                if digest.as_slice() != artifact_sha256 {
                    return Err(("message-digest", BundleError::MessageDigestMismatch));
                }
            }
            match artifact {
                Artifact::Bytes(bytes) => key.verify(bytes, signature).map_err(err)?,
                Artifact::Sha256(digest) => {
                    key.verify_sha256_prehash(digest, signature).map_err(err)?
                }
            }
            trail.pass(
                "signature",
                format!("{} signature over the artifact", key.algorithm()),
            );
            Ok(None)
        }
        Content::Dsse(envelope) => {
            if envelope.payload_type != IN_TOTO {
                return Err(signature_step(BundleError::WrongPayloadType(
                    envelope.payload_type.clone(),
                )));
            }
            let [signature] = envelope.signatures.as_slice() else {
                return Err(signature_step(BundleError::EnvelopeSignatures(
                    envelope.signatures.len(),
                )));
            };
            key.verify(&envelope.signed_bytes(), &signature.sig)
                .map_err(err)?;
            trail.pass(
                "signature",
                format!("{} signature over the DSSE envelope", key.algorithm()),
            );
            let wanted = hex_lower(artifact_sha256);
            let subjects = statement_subjects(&envelope.payload).map_err(|e| ("subject", e))?;
            if !subjects.contains(&wanted) {
                return Err(("subject", BundleError::SubjectMismatch(wanted)));
            }
            trail.pass("subject", format!("in-toto subject sha256:{wanted}"));
            Ok(Some(envelope.payload.clone()))
        }
    }
}

/// The `sha256` digests of an in-toto statement's subjects.
pub(crate) fn statement_subjects(payload: &[u8]) -> Result<Vec<String>, BundleError> {
    let statement: Value =
        serde_json::from_slice(payload).map_err(|e| BundleError::BadStatement(e.to_string()))?;
    let subjects = statement
        .get("subject")
        .and_then(Value::as_array)
        .ok_or_else(|| BundleError::BadStatement("no subject list".to_owned()))?;
    Ok(subjects
        .iter()
        .filter_map(|s| s.get("digest")?.get("sha256")?.as_str().map(str::to_owned))
        .collect())
}

/// Step 5.
fn check_body(
    bundle: &Bundle,
    entry: &TlogEntry,
    artifact_sha256: &[u8; 32],
    verifier: &tlog::Verifier<'_>,
) -> Result<(&'static str, &'static str), BundleError> {
    let signatures: Vec<Vec<u8>>;
    let signed = match &bundle.content {
        Content::Message { signature, .. } => tlog::Signed::Message {
            sha256: artifact_sha256,
            signature,
        },
        Content::Dsse(envelope) => {
            signatures = envelope.signatures.iter().map(|s| s.sig.clone()).collect();
            tlog::Signed::Dsse {
                payload: &envelope.payload,
                payload_type: &envelope.payload_type,
                signatures: &signatures,
                envelope_json: None,
            }
        }
    };
    let kind = tlog::check_body(&entry.body, &signed, verifier)?;
    // `kindVersion` is not signed; the logged body's own kind is what the log vouched for, and
    // a bundle that says otherwise is not describing this entry.
    if (entry.kind.as_str(), entry.version.as_str()) != kind {
        return Err(TlogError::BodyMismatch {
            field: "kindVersion",
        }
        .into());
    }
    Ok(kind)
}
