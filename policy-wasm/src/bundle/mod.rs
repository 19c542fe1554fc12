//! Sigstore bundles (`dev.sigstore.bundle.v1.Bundle`, protojson; docs/formats/sigstore-bundle.md):
//! parsed into a [`Bundle`] that is known to be well-formed, then verified by [`verify()`].
//!
//! Parsing is strict where it can be: an unknown media type or version, an unknown field, a
//! negative index, bad base64 or a missing required part is an error here, before any check
//! runs. This module never performs I/O.

mod raw;
pub mod request;
pub mod verify;

use base64::Engine as _;

use crate::dsse::Envelope;

pub(crate) use raw::RawEnvelope;
pub use request::{ArtifactInput, BundleReport, BundleRequest, verify_bundle_request};
pub use verify::{Artifact, BundleAuthority, BundleError, Verified, verify};

/// A bundle format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    /// v0.1: inclusion promise required, proof optional.
    V01,
    /// v0.2: inclusion proof with checkpoint required.
    V02,
    /// v0.3: a single leaf certificate instead of a chain.
    V03,
}

impl Version {
    /// The version a bundle media type names (both spellings of v0.3), if it is one.
    pub fn of_media_type(media_type: &str) -> Option<Self> {
        raw::version(media_type).ok()
    }
}

/// A well-formed bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The format version.
    pub version: Version,
    /// What verifies the signature.
    pub signer: SignerMaterial,
    /// Transparency log entries (clients require exactly one).
    pub tlog_entries: Vec<TlogEntry>,
    /// RFC 3161 `TimeStampResp` DER blobs.
    pub timestamps: Vec<Vec<u8>>,
    /// What was signed.
    pub content: Content,
}

/// The verification material that identifies the signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerMaterial {
    /// A leaf certificate (DER) and, for v0.1/v0.2, the intermediates that came with it.
    Certificate {
        /// The leaf.
        leaf: Vec<u8>,
        /// Further certificates of the chain, leaf-most first.
        chain: Vec<Vec<u8>>,
    },
    /// A key known to the verifier; the hint is untrusted.
    PublicKey {
        /// An opaque key identifier.
        hint: String,
    },
}

/// One transparency log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogEntry {
    /// The global log index.
    pub log_index: u64,
    /// `logId.keyId`.
    pub log_id: Vec<u8>,
    /// Entry kind, e.g. `hashedrekord`.
    pub kind: String,
    /// Entry version, e.g. `0.0.1`.
    pub version: String,
    /// Unix seconds; 0 (absent) for Rekor v2.
    pub integrated_time: i64,
    /// The signed entry timestamp (inclusion promise), if present.
    pub set: Option<Vec<u8>>,
    /// The inclusion proof, if present.
    pub proof: Option<InclusionProof>,
    /// `canonicalizedBody`, decoded: the exact logged entry JSON.
    pub body: Vec<u8>,
}

/// A Merkle inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// Index of the leaf in the (shard) tree.
    pub log_index: u64,
    /// Root hash the proof leads to.
    pub root_hash: [u8; 32],
    /// Tree size at that root.
    pub tree_size: u64,
    /// Audit path.
    pub hashes: Vec<[u8; 32]>,
    /// The signed checkpoint (note text); a proof without one is refused (v0.2+) or dropped
    /// (v0.1) when the bundle is read.
    pub checkpoint: String,
}

/// What the bundle signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A signature over an artifact.
    Message {
        /// `messageDigest`: algorithm name and digest, when present.
        digest: Option<(String, Vec<u8>)>,
        /// The signature.
        signature: Vec<u8>,
    },
    /// A DSSE envelope.
    Dsse(Envelope),
}

/// Why a bundle is not well-formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON of the bundle's shape (includes unknown fields).
    #[error("bundle is not valid JSON of the bundle's shape: {0}")]
    Malformed(String),
    /// A media type or version we do not know.
    #[error("unsupported bundle media type {0:?}")]
    UnknownVersion(String),
    /// A field the Sigstore protobuf-specs mark REQUIRED is absent or empty.
    #[error("bundle field {0} is REQUIRED and missing")]
    Missing(&'static str),
    /// Two exclusive parts are both present, or a part the format needs is empty.
    #[error("bundle {0}")]
    Shape(&'static str),
    /// A base64 or number field that does not decode.
    #[error("bundle field {0} is not valid")]
    BadField(&'static str),
}

impl Bundle {
    /// Parses bundle JSON.
    ///
    /// # Errors
    ///
    /// [`ParseError`] for anything that is not a well-formed v0.1–v0.3 bundle.
    pub fn parse(json: &[u8]) -> Result<Self, ParseError> {
        let raw: raw::Bundle =
            serde_json::from_slice(json).map_err(|e| ParseError::Malformed(e.to_string()))?;
        raw.into_bundle()
    }

    /// The signature the bundle carries: the message signature, or the first DSSE signature.
    pub fn signature(&self) -> Option<&[u8]> {
        match &self.content {
            Content::Message { signature, .. } => Some(signature),
            Content::Dsse(envelope) => envelope.signatures.first().map(|s| s.sig.as_slice()),
        }
    }
}

/// Standard base64 with padding.
pub(crate) fn b64(text: &str, field: &'static str) -> Result<Vec<u8>, ParseError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| ParseError::BadField(field))
}

#[cfg(test)]
mod tests;
