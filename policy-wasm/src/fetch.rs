//! What the verifier asks of its host: the `fetcher` WIT interface as a Rust trait.
//!
//! The component implements [`Fetch`] with the WIT imports, native tests with files, benches
//! with memory. Nothing the host returns is trusted: the verifier hashes the manifest bytes
//! itself ([`crate::image::resolve`]), re-hashes every payload against its digest, and takes
//! nothing else from the host that it cannot check. This module never performs I/O.

use std::collections::BTreeMap;

/// Where the verifier gets signature material.
pub trait Fetch {
    /// Returns the manifest `image` (a tag or digest reference) points to, as served.
    ///
    /// # Errors
    ///
    /// A [`FetchError`] when the host cannot resolve it.
    fn resolve(&mut self, image: &str) -> Result<Manifest, FetchError>;

    /// Lists the material of the requested `kinds` attached to `digest`.
    ///
    /// # Errors
    ///
    /// A [`FetchError`] when the host cannot list it (missing material is not an error).
    fn attached(&mut self, image: &str, digest: &str, kinds: Kinds)
    -> Result<Material, FetchError>;

    /// Returns the `trusted_root.json` document called `name`.
    ///
    /// # Errors
    ///
    /// A [`FetchError`] when the host has no such trust root.
    fn trusted_root(&mut self, name: &str) -> Result<Vec<u8>, FetchError>;
}

/// Why the host could not provide something. The variant is the kind (the reason code
/// `fetch-not-found`, `fetch-unavailable`, … says it), so the message is only the host's
/// detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// No such object.
    #[error("{0}")]
    NotFound(String),
    /// Credentials missing or refused.
    #[error("{0}")]
    Denied(String),
    /// Larger than the host allows.
    #[error("{0}")]
    TooLarge(String),
    /// The host received something invalid.
    #[error("{0}")]
    Invalid(String),
    /// Network failure, timeout or server error.
    #[error("{0}")]
    Unavailable(String),
    /// The host does not offer this.
    #[error("{0}")]
    Unsupported(String),
}

/// The manifest a reference points to, as the host received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The media type it was served with (`Content-Type`, or the layout descriptor's).
    pub media_type: String,
    /// The manifest bytes, exactly as served: their hash is the image digest.
    pub bytes: Vec<u8>,
}

impl Manifest {
    /// The digest of the bytes.
    pub fn digest(&self) -> crate::digest::Digest {
        crate::digest::Digest::of(&self.bytes)
    }
}

/// Which kinds of attached material to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Kinds {
    /// Legacy `.sig` layers.
    pub signatures: bool,
    /// Legacy `.att` layers.
    pub attestations: bool,
    /// Sigstore bundles found as OCI referrers.
    pub bundles: bool,
}

impl Kinds {
    /// Every kind.
    pub const ALL: Self = Self {
        signatures: true,
        attestations: true,
        bundles: true,
    };
}

/// One layer of a `.sig` or `.att` manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The descriptor's media type.
    pub media_type: String,
    /// The descriptor's digest, as text.
    pub digest: String,
    /// The descriptor's annotations.
    pub annotations: BTreeMap<String, String>,
    /// The blob.
    pub payload: Vec<u8>,
}

/// A Sigstore bundle attached as an OCI referrer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedBundle {
    /// The bundle layer's media type.
    pub media_type: String,
    /// The bundle layer's digest.
    pub digest: String,
    /// The bundle JSON.
    pub bundle: Vec<u8>,
}

/// Everything attached to one digest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Material {
    /// `.sig` layers in manifest order.
    pub signatures: Vec<Layer>,
    /// `.att` layers in manifest order.
    pub attestations: Vec<Layer>,
    /// Referrer bundles.
    pub bundles: Vec<AttachedBundle>,
}
