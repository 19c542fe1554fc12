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

/// Stable kebab-case reason codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
}

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
        }
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
