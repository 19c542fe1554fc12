//! Errors and the stable reason codes every surface uses (the WIT `denial`, the CLI's
//! `--output json`, admission messages). [`Reason`] is the one place codes are spelled.

use crate::digest::DigestError;
use crate::fetch::FetchError;
use crate::keys::KeyError;

/// Why a whole request could not be decided (as opposed to "not verified").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An authority's public key is unusable.
    #[error("authority {name}: {source}")]
    InvalidKey {
        /// The authority's name.
        name: String,
        /// What is wrong with the key.
        source: KeyError,
    },
    /// The request itself is inconsistent (no authorities, a bad annotation, ...); the reason
    /// code `invalid-request` says so, the message says what.
    #[error("{0}")]
    InvalidRequest(String),
    /// The host could not fetch what was needed.
    #[error("{0}")]
    Fetch(#[from] FetchError),
    /// A trust root the host provided does not parse.
    #[error("trust root {name:?}: {source}")]
    TrustRoot {
        /// Its name.
        name: String,
        /// Why it does not parse.
        source: crate::trust_root::TrustRootError,
    },
    /// The host returned a digest that is not a sha256 digest, or bytes that are not the
    /// ones a digest reference names.
    #[error("host returned a bad digest: {0}")]
    BadDigest(#[from] DigestError),
    /// The host returned a manifest that is not one, or not of the type it was served as.
    #[error("host returned a bad manifest: {0}")]
    BadManifest(#[from] crate::manifest::ManifestError),
    /// A capability that is designed but not built yet.
    #[error("not supported yet: {0}")]
    NotSupported(&'static str),
}

/// Stable kebab-case reason codes: every code any surface reports, the host's included, so
/// that a code is spelled and parsed in one place ([`Reason::code`], [`Reason::from_code`]).
/// Which of several failures is "the" reason is [`Reason::rank`]'s business, not the order
/// of these variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    // Per-signature reasons, in the order the checks run: a later one got further.
    /// The layer's (or bundle's) media type is not the kind it is read as.
    WrongMediaType,
    /// The layer's bytes do not match its descriptor digest.
    PayloadDigestMismatch,
    /// The layer carries no signature annotation.
    MissingSignature,
    /// The signature annotation is not base64.
    InvalidSignatureEncoding,
    /// No authority's key verifies the signature.
    SignatureMismatch,
    /// A Sigstore bundle that is not well-formed.
    BundleMalformed,
    /// The bundle or annotation is not the kind the authority can check (key vs certificate).
    AuthorityMismatch,
    /// The certificate chain supplied with the signature holds a root.
    RootInChain,
    /// A transparency log entry is missing a required part or does not verify.
    TlogInvalid,
    /// An RFC 3161 timestamp does not verify.
    TimestampInvalid,
    /// A certificate needs a verified signing time and none exists.
    NoVerifiedTime,
    /// The certificate does not chain to a trusted CA at the signing time.
    CertificateInvalid,
    /// The certificate's SCT does not verify.
    SctInvalid,
    /// The certificate belongs to another identity.
    IdentityMismatch,
    /// The signed payload is not a simple-signing payload or in-toto statement.
    MalformedPayload,
    /// `critical.type` is not cosign's.
    WrongPayloadType,
    /// The signed manifest digest (or in-toto subject) is another image's or artifact's.
    ManifestDigestMismatch,
    /// The attestation's predicate type is not the one asked for.
    PredicateTypeMismatch,
    /// The signed repository is another repository.
    ReferenceMismatch,
    /// A required annotation is missing or different.
    AnnotationMismatch,
    /// The transparency log is required and the signature has no entry.
    TlogMissing,
    /// The logged entry describes another signature, artifact or signer.
    TlogBodyMismatch,
    /// The signature needs a check that is not built yet.
    NotSupported,
    // Image-level.
    /// No signature material at all.
    NoSignatures,
    // Request-level (the request could not be decided).
    /// An authority's key is unusable.
    InvalidKey,
    /// The request is inconsistent.
    InvalidRequest,
    /// The host found no such object.
    FetchNotFound,
    /// The registry refused access.
    FetchDenied,
    /// Something was larger than allowed.
    FetchTooLarge,
    /// The host received invalid content.
    FetchInvalid,
    /// The registry could not be reached.
    FetchUnavailable,
    /// The host does not offer something needed.
    FetchUnsupported,
    /// The admission request or a policy in it is invalid (the component's `admission`).
    InvalidPolicy,
    // Host-level: the verification did not run to its end.
    /// The trust root could not be read.
    TrustRoot,
    /// The request's deadline passed.
    Deadline,
    /// The command's `--timeout` passed.
    Timeout,
    /// The verifier trapped, ran out of fuel or memory, or broke its contract.
    VerifierFailed,
    /// The verifier component could not be loaded.
    ComponentUnavailable,
    /// No verification slot was free before the deadline.
    Overloaded,
    /// The host itself failed (a runtime could not start).
    Internal,
}

/// Every reason, for parsing and tests.
pub const ALL_REASONS: [Reason; 40] = [
    Reason::WrongMediaType,
    Reason::PayloadDigestMismatch,
    Reason::MissingSignature,
    Reason::InvalidSignatureEncoding,
    Reason::SignatureMismatch,
    Reason::BundleMalformed,
    Reason::AuthorityMismatch,
    Reason::RootInChain,
    Reason::TlogInvalid,
    Reason::TimestampInvalid,
    Reason::NoVerifiedTime,
    Reason::CertificateInvalid,
    Reason::SctInvalid,
    Reason::IdentityMismatch,
    Reason::MalformedPayload,
    Reason::WrongPayloadType,
    Reason::ManifestDigestMismatch,
    Reason::PredicateTypeMismatch,
    Reason::ReferenceMismatch,
    Reason::AnnotationMismatch,
    Reason::TlogMissing,
    Reason::TlogBodyMismatch,
    Reason::NotSupported,
    Reason::NoSignatures,
    Reason::InvalidKey,
    Reason::InvalidRequest,
    Reason::FetchNotFound,
    Reason::FetchDenied,
    Reason::FetchTooLarge,
    Reason::FetchInvalid,
    Reason::FetchUnavailable,
    Reason::FetchUnsupported,
    Reason::InvalidPolicy,
    Reason::TrustRoot,
    Reason::Deadline,
    Reason::Timeout,
    Reason::VerifierFailed,
    Reason::ComponentUnavailable,
    Reason::Overloaded,
    Reason::Internal,
];

impl Reason {
    /// The code as written in JSON, WIT denials and messages.
    pub fn code(self) -> &'static str {
        match self {
            Self::WrongMediaType => "wrong-media-type",
            Self::PayloadDigestMismatch => "payload-digest-mismatch",
            Self::MissingSignature => "missing-signature",
            Self::InvalidSignatureEncoding => "invalid-signature-encoding",
            Self::SignatureMismatch => "signature-mismatch",
            Self::BundleMalformed => "bundle-malformed",
            Self::AuthorityMismatch => "authority-mismatch",
            Self::RootInChain => "root-in-chain",
            Self::TlogInvalid => "tlog-invalid",
            Self::TimestampInvalid => "timestamp-invalid",
            Self::NoVerifiedTime => "no-verified-time",
            Self::CertificateInvalid => "certificate-invalid",
            Self::SctInvalid => "sct-invalid",
            Self::IdentityMismatch => "identity-mismatch",
            Self::MalformedPayload => "malformed-payload",
            Self::WrongPayloadType => "wrong-payload-type",
            Self::ManifestDigestMismatch => "manifest-digest-mismatch",
            Self::PredicateTypeMismatch => "predicate-type-mismatch",
            Self::ReferenceMismatch => "reference-mismatch",
            Self::AnnotationMismatch => "annotation-mismatch",
            Self::TlogMissing => "tlog-missing",
            Self::TlogBodyMismatch => "tlog-body-mismatch",
            Self::NotSupported => "not-supported",
            Self::NoSignatures => "no-signatures",
            Self::InvalidKey => "invalid-key",
            Self::InvalidRequest => "invalid-request",
            Self::FetchNotFound => "fetch-not-found",
            Self::FetchDenied => "fetch-denied",
            Self::FetchTooLarge => "fetch-too-large",
            Self::FetchInvalid => "fetch-invalid",
            Self::FetchUnavailable => "fetch-unavailable",
            Self::FetchUnsupported => "fetch-unsupported",
            Self::InvalidPolicy => "invalid-policy",
            Self::TrustRoot => "trust-root",
            Self::Deadline => "deadline",
            Self::Timeout => "timeout",
            Self::VerifierFailed => "verifier-failed",
            Self::ComponentUnavailable => "component-unavailable",
            Self::Overloaded => "overloaded",
            Self::Internal => "internal",
        }
    }

    /// The reason whose [`code`](Reason::code) is `code` (as a WIT record or a log carries it).
    pub fn from_code(code: &str) -> Option<Self> {
        ALL_REASONS.into_iter().find(|reason| reason.code() == code)
    }

    /// How far the verification of one signature got before failing for this reason: the
    /// failure with the highest rank is the one reported ("the furthest step reached wins",
    /// as webpki ranks path-building errors). The steps, in the order both readers run them
    /// (`image/legacy.rs` and `bundle/verify.rs` number them in their docs): the blob is what
    /// its descriptor says; the bundle's shape; the signature is there; the transparency log
    /// (and the times it vouches for); the signature verifies; the signer's certificate (a
    /// legacy layer checks it after the signature, so a certificate failure there is further);
    /// the signed claims; the logged entry is this signature's. Image- and request-level
    /// reasons rank below every signature-level one. (A Sigstore bundle checks its signer
    /// before the signature; there a `signature-mismatch` ranks below certificate reasons it
    /// actually passed, which only changes which of two denials is reported first.)
    pub fn rank(self) -> u8 {
        match self {
            Self::WrongMediaType => 10,
            Self::PayloadDigestMismatch => 11,
            Self::BundleMalformed => 12,
            Self::MissingSignature => 13,
            Self::InvalidSignatureEncoding => 14,
            Self::TlogMissing => 15,
            Self::TlogInvalid => 16,
            Self::TimestampInvalid => 17,
            Self::NoVerifiedTime => 18,
            Self::SignatureMismatch => 19,
            Self::AuthorityMismatch => 20,
            Self::RootInChain => 21,
            Self::CertificateInvalid => 22,
            Self::SctInvalid => 23,
            Self::IdentityMismatch => 24,
            Self::MalformedPayload => 25,
            Self::WrongPayloadType => 26,
            Self::ManifestDigestMismatch => 27,
            Self::PredicateTypeMismatch => 28,
            Self::ReferenceMismatch => 29,
            Self::AnnotationMismatch => 30,
            Self::TlogBodyMismatch => 31,
            Self::NotSupported => 32,
            Self::NoSignatures
            | Self::InvalidKey
            | Self::InvalidRequest
            | Self::FetchNotFound
            | Self::FetchDenied
            | Self::FetchTooLarge
            | Self::FetchInvalid
            | Self::FetchUnavailable
            | Self::FetchUnsupported
            | Self::InvalidPolicy
            | Self::TrustRoot
            | Self::Deadline
            | Self::Timeout
            | Self::VerifierFailed
            | Self::ComponentUnavailable
            | Self::Overloaded
            | Self::Internal => 0,
        }
    }

    /// The highest-ranked of `reasons` ([`Reason::rank`]; the first of equals).
    pub fn furthest(reasons: impl IntoIterator<Item = Reason>) -> Option<Reason> {
        reasons
            .into_iter()
            .fold(None, |best: Option<Reason>, reason| match best {
                Some(best) if best.rank() >= reason.rank() => Some(best),
                _ => Some(reason),
            })
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl serde::Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl Error {
    /// The reason code for this error.
    pub fn reason(&self) -> Reason {
        match self {
            Self::InvalidKey { .. } => Reason::InvalidKey,
            Self::InvalidRequest(_) | Self::TrustRoot { .. } => Reason::InvalidRequest,
            Self::Fetch(FetchError::NotFound(_)) => Reason::FetchNotFound,
            Self::Fetch(FetchError::Denied(_)) => Reason::FetchDenied,
            Self::Fetch(FetchError::TooLarge(_))
            | Self::BadManifest(crate::manifest::ManifestError::TooLarge(_)) => {
                Reason::FetchTooLarge
            }
            Self::Fetch(FetchError::Invalid(_)) | Self::BadDigest(_) | Self::BadManifest(_) => {
                Reason::FetchInvalid
            }
            Self::Fetch(FetchError::Unavailable(_)) => Reason::FetchUnavailable,
            Self::Fetch(FetchError::Unsupported(_)) => Reason::FetchUnsupported,
            Self::NotSupported(_) => Reason::NotSupported,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_unique_and_parses_back() {
        for reason in ALL_REASONS {
            assert_eq!(Reason::from_code(reason.code()), Some(reason));
            let same = ALL_REASONS.iter().filter(|r| r.code() == reason.code());
            assert_eq!(same.count(), 1, "{reason}");
        }
        assert_eq!(Reason::from_code("no-such-reason"), None);
        assert_eq!(
            serde_json::to_string(&Reason::TlogMissing).unwrap(),
            "\"tlog-missing\""
        );
    }

    #[test]
    fn the_furthest_step_reached_wins() {
        // The steps of a signature, in the order they run; each later failure outranks the
        // earlier ones.
        let steps = [
            Reason::WrongMediaType,
            Reason::PayloadDigestMismatch,
            Reason::BundleMalformed,
            Reason::MissingSignature,
            Reason::InvalidSignatureEncoding,
            Reason::TlogMissing,
            Reason::TlogInvalid,
            Reason::TimestampInvalid,
            Reason::NoVerifiedTime,
            Reason::SignatureMismatch,
            Reason::AuthorityMismatch,
            Reason::RootInChain,
            Reason::CertificateInvalid,
            Reason::SctInvalid,
            Reason::IdentityMismatch,
            Reason::MalformedPayload,
            Reason::WrongPayloadType,
            Reason::ManifestDigestMismatch,
            Reason::PredicateTypeMismatch,
            Reason::ReferenceMismatch,
            Reason::AnnotationMismatch,
            Reason::TlogBodyMismatch,
            Reason::NotSupported,
        ];
        for pair in steps.windows(2) {
            assert!(
                pair[0].rank() < pair[1].rank(),
                "{} vs {}",
                pair[0],
                pair[1]
            );
        }
        // A signature without a log entry stopped before one whose annotations differ.
        assert_eq!(
            Reason::furthest([Reason::AnnotationMismatch, Reason::TlogMissing]),
            Some(Reason::AnnotationMismatch)
        );
        assert_eq!(
            Reason::furthest([Reason::TlogMissing, Reason::AnnotationMismatch]),
            Some(Reason::AnnotationMismatch)
        );
        assert_eq!(Reason::furthest([]), None);
        // Whatever is not a signature step ranks below every step.
        for reason in ALL_REASONS.iter().filter(|r| !steps.contains(r)) {
            assert!(reason.rank() < steps[0].rank(), "{reason}");
        }
    }
}
