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
    /// The request itself is inconsistent (no authorities, a bad annotation, ...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The host could not fetch what was needed.
    #[error("{0}")]
    Fetch(#[from] FetchError),
    /// The host returned a digest that is not a sha256 digest.
    #[error("host returned a bad digest: {0}")]
    BadDigest(#[from] DigestError),
    /// A capability that is designed but not built yet.
    #[error("not supported yet: {0}")]
    NotSupported(&'static str),
}

/// Stable kebab-case reason codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    // Per-signature reasons, in the order the checks run: a later one got further.
    /// The layer's bytes do not match its descriptor digest.
    PayloadDigestMismatch,
    /// The layer carries no signature annotation.
    MissingSignature,
    /// The signature annotation is not base64.
    InvalidSignatureEncoding,
    /// No authority's key verifies the signature.
    SignatureMismatch,
    /// The signed payload is not a simple-signing payload.
    MalformedPayload,
    /// `critical.type` is not cosign's.
    WrongPayloadType,
    /// The signed manifest digest is another image's.
    ManifestDigestMismatch,
    /// The signed repository is another repository.
    ReferenceMismatch,
    /// A required annotation is missing or different.
    AnnotationMismatch,
    /// The transparency log is required and the signature has no entry.
    TlogMissing,
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
}

impl Reason {
    /// The code as written in JSON, WIT denials and messages.
    pub fn code(self) -> &'static str {
        match self {
            Self::PayloadDigestMismatch => "payload-digest-mismatch",
            Self::MissingSignature => "missing-signature",
            Self::InvalidSignatureEncoding => "invalid-signature-encoding",
            Self::SignatureMismatch => "signature-mismatch",
            Self::MalformedPayload => "malformed-payload",
            Self::WrongPayloadType => "wrong-payload-type",
            Self::ManifestDigestMismatch => "manifest-digest-mismatch",
            Self::ReferenceMismatch => "reference-mismatch",
            Self::AnnotationMismatch => "annotation-mismatch",
            Self::TlogMissing => "tlog-missing",
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
        }
    }
}

impl Error {
    /// The reason code for this error.
    pub fn reason(&self) -> Reason {
        match self {
            Self::InvalidKey { .. } => Reason::InvalidKey,
            Self::InvalidRequest(_) => Reason::InvalidRequest,
            Self::Fetch(FetchError::NotFound(_)) => Reason::FetchNotFound,
            Self::Fetch(FetchError::Denied(_)) => Reason::FetchDenied,
            Self::Fetch(FetchError::TooLarge(_)) => Reason::FetchTooLarge,
            Self::Fetch(FetchError::Invalid(_)) | Self::BadDigest(_) => Reason::FetchInvalid,
            Self::Fetch(FetchError::Unavailable(_)) => Reason::FetchUnavailable,
            Self::Fetch(FetchError::Unsupported(_)) => Reason::FetchUnsupported,
            Self::NotSupported(_) => Reason::NotSupported,
        }
    }
}
