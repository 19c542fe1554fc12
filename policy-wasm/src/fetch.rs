//! What the verifier asks of its host: the `fetcher` WIT interface as a Rust trait.
//!
//! The component implements [`Fetch`] with the WIT imports, native tests with files, benches
//! with memory. Nothing the host returns is trusted: every digest is checked again by the
//! verifier. This module never performs I/O.

use std::collections::BTreeMap;

/// Where the verifier gets signature material.
pub trait Fetch {
    /// Resolves `image` (a tag or digest reference) to its manifest digest.
    ///
    /// # Errors
    ///
    /// A [`FetchError`] when the host cannot resolve it.
    fn resolve(&mut self, image: &str) -> Result<Resolved, FetchError>;

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

/// Why the host could not provide something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// No such object.
    #[error("not found: {0}")]
    NotFound(String),
    /// Credentials missing or refused.
    #[error("access denied: {0}")]
    Denied(String),
    /// Larger than the host allows.
    #[error("too large: {0}")]
    TooLarge(String),
    /// The host received something invalid.
    #[error("invalid content: {0}")]
    Invalid(String),
    /// Network failure, timeout or server error.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The host does not offer this.
    #[error("unsupported: {0}")]
    Unsupported(String),
}

/// An image reference after the host resolved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The canonical repository, or `None` for sources without one (an OCI layout).
    pub repository: Option<String>,
    /// The digest of the manifest bytes, as text; the verifier parses it.
    pub digest: String,
    /// The manifest's media type.
    pub media_type: String,
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
    /// The referrer manifest's digest.
    pub manifest_digest: String,
    /// The bundle layer's media type.
    pub media_type: String,
    /// The bundle layer's digest.
    pub digest: String,
    /// The bundle JSON.
    pub bundle: Vec<u8>,
}

/// How referrers were found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Discovery {
    /// Not looked up, or nothing found.
    #[default]
    None,
    /// The OCI referrers API.
    ReferrersApi,
    /// The `sha256-<hex>` referrers tag schema.
    ReferrersTag,
    /// An OCI layout on disk.
    Layout,
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
    /// How bundles were found.
    pub discovery: Discovery,
}
