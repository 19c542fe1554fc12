//! Where signature material comes from: OCI distribution registries and OCI image layouts on
//! disk. This module fetches bytes and checks that they are the bytes asked for; it never
//! judges a signature (the policy component does) and knows nothing about policies.
//!
//! What it guarantees to its callers:
//! - everything is keyed by a manifest digest computed here from the bytes served (a
//!   `Docker-Content-Digest` header is never believed), and a digest in the reference must
//!   match it;
//! - every blob and manifest is size-checked against [`Limits`] before it is fetched (from
//!   its descriptor) and while it is read, and hashed against its digest after;
//! - every registry call is bounded by [`Limits::timeout`], and every call of one verification
//!   by that verification's [`Budget`] (a deadline and a total of bytes fetched);
//! - plain HTTP is used only for loopback registries unless [`HttpPolicy::AllowHttp`];
//! - credentials (Docker config, credential helpers) never reach logs or error messages.
//!
//! Files: `reference` parses and normalises references, `remote` talks to registries
//! (through oci-client), `auth` finds credentials, `layout` reads and writes image layouts,
//! `material` collects and checks attached material from either, `manifest` is the JSON,
//! `digest` and `limits` the two kinds of check, `budget` the per-verification totals, `token`
//! the bearer-token exchange.

mod auth;
mod budget;
mod digest;
mod layout;
mod limits;
mod manifest;
mod material;
mod reference;
mod referrers;
mod remote;
#[cfg(test)]
mod tests;
mod token;

pub use auth::Credentials;
pub use budget::{Budget, DEFAULT_BUDGET_BYTES, DEFAULT_COMMAND_TIMEOUT};
pub use layout::write_layout_image;
pub use limits::Limits;

use digest::Digest;
use layout::Layout;
use reference::Target;
use remote::Remote;

/// Whether plain-HTTP registries may be used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HttpPolicy {
    /// Plain HTTP only for registries on this machine (`127.0.0.0/8`, `localhost`, `[::1]`);
    /// HTTPS for everything else.
    #[default]
    LoopbackOnly,
    /// Plain HTTP for every registry (`--allow-http-registry`): registries are trusted not to
    /// be impersonated on the network. For tests and closed networks only.
    AllowHttp,
}

/// How [`Sources`] reaches registries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Limits on everything fetched.
    pub limits: Limits,
    /// When plain HTTP may be used.
    pub http: HttpPolicy,
    /// Where registry credentials come from.
    pub credentials: Credentials,
    /// Tests: stand-ins for remote hosts.
    #[cfg(test)]
    pub(crate) network: tests::TestNetwork,
    /// Whether `oci:` image layouts may be read.
    pub layouts: Layouts,
}

/// Whether [`Sources`] reads `oci:DIR` image layouts from this machine's filesystem.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Layouts {
    /// Read them (the CLI, whose user names the directory).
    #[default]
    Read,
    /// Refuse them without touching the filesystem (the server: image names come from the
    /// cluster, and an answer about a path would tell its caller about the server's files).
    Refuse,
}

// The material types are the verifier's own (`sigward_policy::fetch`): the registry fills
// them, the component's `fetcher` import hands them over unchanged.
pub use sigward_policy::fetch::{AttachedBundle, Kinds, Layer, Manifest, Material};

/// How referrers were found (logged; the verifier is not told, as it could not check it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Discovery {
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

/// Why fetching or storing failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    /// The image, tag, manifest or blob does not exist (HTTP 404, missing file).
    #[error("not found: {0}")]
    NotFound(String),
    /// The registry refused access (HTTP 401/403, failed authentication or credential helper).
    #[error("access denied: {0}")]
    Denied(String),
    /// Something is larger than a [`Limits`] value allows.
    #[error("{what} is too large: {size} over the limit of {limit}")]
    TooLarge {
        /// What was too large.
        what: String,
        /// Its size (bytes, or a count for layers and referrers), as far as it was read.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Malformed or inconsistent content: bad JSON, a digest mismatch, a bad reference.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The registry could not be reached or failed (network, timeout, HTTP 5xx, file I/O).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Content or a feature this module does not handle (e.g. Docker schema 1, sha512).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Fetching `what` would pass the verification's [`Budget`] of bytes.
    #[error(
        "{what} is over the verification's fetch budget: {needed} bytes needed, {budget} allowed \
         in total"
    )]
    OverBudget {
        /// What was being fetched.
        what: String,
        /// The bytes fetched so far plus those of `what` (as far as known).
        needed: u64,
        /// The budget's total.
        budget: u64,
    },
    /// The verification's [`Budget`] deadline passed before `what` ended (or started).
    #[error("{what}: stopped at the deadline")]
    DeadlinePassed {
        /// What was cut short or not started.
        what: String,
    },
}

/// Registries and image layouts behind one interface. Build it once: it holds the HTTP
/// connection pools and the credentials and tokens already obtained.
///
/// References are `oci:DIR[:TAG]` or `oci:DIR@sha256:…` for an OCI image layout, anything else
/// a registry reference (`host[:port]/repo[:tag][@digest]`, normalised by the verifier core's
/// `sigward_policy::reference`: `nginx` → `index.docker.io/library/nginx`). Layouts are read
/// only under [`Layouts::Read`].
#[derive(Debug)]
pub struct Sources {
    limits: Limits,
    layouts: Layouts,
    remote: Remote,
}

impl Sources {
    /// Creates the registry clients.
    ///
    /// # Errors
    ///
    /// [`RegistryError::Unavailable`] if the TLS stack cannot be initialised.
    pub fn new(options: Options) -> Result<Self, RegistryError> {
        Ok(Self {
            limits: options.limits,
            layouts: options.layouts,
            remote: Remote::new(&options)?,
        })
    }

    /// The limits every call is held to.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// A budget for one verification that ends at `deadline` and may fetch
    /// [`Limits::verification_bytes`] in total.
    pub fn budget(&self, deadline: tokio::time::Instant) -> Budget {
        Budget::new(deadline, self.limits.verification_bytes)
    }

    /// Parses `image`; a layout under [`Layouts::Refuse`] is refused with a reason that does
    /// not repeat its path.
    fn target(&self, image: &str) -> Result<Target, RegistryError> {
        match reference::parse(image)? {
            Target::Layout(_) if self.layouts == Layouts::Refuse => {
                Err(RegistryError::Unsupported(
                    "image layouts (oci:…) are read by the sigward CLI only, not by the server; \
                     name an image in a registry"
                        .to_owned(),
                ))
            }
            target => Ok(target),
        }
    }

    /// Fetches the manifest (image manifest or index) `image` points to, within `budget`; its
    /// digest is [`Manifest::digest`].
    ///
    /// # Errors
    ///
    /// [`RegistryError::Invalid`] if the reference is malformed or its digest differs from
    /// that of the manifest served; [`RegistryError::NotFound`] if there is no such manifest;
    /// otherwise as for any fetch.
    pub async fn resolve(&self, image: &str, budget: &Budget) -> Result<Manifest, RegistryError> {
        let what = format!("resolving {image}");
        budget
            .within(&what, async {
                match self.target(image)? {
                    Target::Registry(reference) => self.remote.resolve(&reference, budget).await,
                    Target::Layout(layout) => {
                        let opened = Layout::open(&layout.dir, self.limits, budget).await?;
                        opened.resolve(&layout.selector).await
                    }
                }
            })
            .await
    }

    /// Collects the material of `kinds` attached to `digest` in `image`'s repository (or
    /// layout), within `budget`. Missing `.sig` / `.att` manifests or referrers mean empty
    /// lists, not errors.
    ///
    /// # Errors
    ///
    /// [`RegistryError::TooLarge`] if a manifest, blob, layer count or referrer count is over
    /// its limit (blobs are refused from their descriptor, before being fetched);
    /// [`RegistryError::OverBudget`] if the material does not fit in what is left of `budget`
    /// (refused from the descriptors when they tell, else when the bytes arrive);
    /// [`RegistryError::Invalid`] if fetched bytes do not match their digest or do not parse;
    /// otherwise as for any fetch.
    pub async fn attached(
        &self,
        image: &str,
        digest: &str,
        kinds: Kinds,
        budget: &Budget,
    ) -> Result<Material, RegistryError> {
        let what = format!("listing the signatures of {image}");
        budget
            .within(&what, async {
                let digest = Digest::parse(digest)?;
                let limits = &self.limits;
                match self.target(image)? {
                    Target::Registry(reference) => {
                        let repository = self.remote.repository(&reference, budget);
                        material::collect(&repository, &digest, kinds, limits, budget).await
                    }
                    Target::Layout(layout) => {
                        let opened = Layout::open(&layout.dir, self.limits, budget).await?;
                        material::collect(&opened, &digest, kinds, limits, budget).await
                    }
                }
            })
            .await
    }

    /// Appends one signature layer to the `sha256-<hex>.sig` manifest of `digest`, creating
    /// it if absent, as cosign 2.5 does (an OCI manifest with an OCI config; the descriptor
    /// carries the annotations). Appending a layer that is already there changes nothing.
    ///
    /// In a registry, the payload, config and manifest are pushed (read-modify-write, racy as
    /// in cosign). In an image layout they are written the way `cosign save` stores them.
    /// What is read and the whole call are held to `budget`.
    ///
    /// # Errors
    ///
    /// [`RegistryError::Invalid`] if `layer.payload` does not hash to `layer.digest`;
    /// [`RegistryError::TooLarge`] if the payload or the layer count is over its limit;
    /// otherwise as for any fetch or push.
    pub async fn append_signature(
        &self,
        image: &str,
        digest: &str,
        layer: Layer,
        budget: &Budget,
    ) -> Result<(), RegistryError> {
        let what = format!("signing {image}");
        budget
            .within(&what, self.append_within(image, digest, layer, budget))
            .await
    }

    async fn append_within(
        &self,
        image: &str,
        digest: &str,
        layer: Layer,
        budget: &Budget,
    ) -> Result<(), RegistryError> {
        let digest = Digest::parse(digest)?;
        let payload_digest = Digest::parse(&layer.digest)?;
        digest::verify(&payload_digest, &layer.payload, "signature payload")?;
        let size = i64::try_from(layer.payload.len()).unwrap_or(i64::MAX);
        limits::check_advertised(size, self.limits.blob_bytes, "signature payload")?;
        let descriptor = manifest::Descriptor {
            media_type: layer.media_type,
            size,
            digest: layer.digest,
            annotations: Some(layer.annotations).filter(|annotations| !annotations.is_empty()),
            extra: serde_json::Map::new(),
        };
        match self.target(image)? {
            Target::Registry(reference) => {
                let repository = self.remote.repository(&reference, budget);
                let update =
                    material::signature_update(&repository, &digest, descriptor, &self.limits);
                let Some(signature) = update.await? else {
                    return Ok(());
                };
                self.remote
                    .push_signature(&reference, &digest, &layer.payload, signature, budget)
                    .await
            }
            Target::Layout(layout) => {
                let mut opened = Layout::open(&layout.dir, self.limits, budget).await?;
                let update = material::signature_update(&opened, &digest, descriptor, &self.limits);
                let Some(signature) = update.await? else {
                    return Ok(());
                };
                opened
                    .store_signature(&digest, &layer.payload, signature)
                    .await
            }
        }
    }
}
