//! OCI image layouts on disk (`oci-layout`, `index.json`, `blobs/sha256/<hex>`): reading images
//! and their signatures, appending signatures, and writing a minimal image.
//!
//! Two ways of storing signatures are read:
//! - the `cosign save` way: `index.json` entries annotated `"kind"` =
//!   `dev.cosignproject.cosign/image` (or `/imageIndex`) for the one image of the layout and
//!   `dev.cosignproject.cosign/sigs` / `/atts` for its signature and attestation manifests;
//! - tags: entries annotated `org.opencontainers.image.ref.name`, signatures under the tag
//!   `sha256-<hex>.sig` as in a registry, bundles under the referrers tag `sha256-<hex>`.
//!
//! Every path is built from a validated digest (64 hex digits), so nothing escapes the layout
//! directory. Every blob is size-checked before it is read and hashed after.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde_json::Map;
use tokio::io::AsyncReadExt as _;

use super::budget::Budget;
use super::digest::{Attachment, Digest};
use super::limits::{self, Limits};
use super::manifest::{
    self, Descriptor, ImageIndex, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, SignatureImage,
};
use super::material::Store;
use super::reference::Selector;
use super::{Discovery, Manifest, RegistryError};

/// The tag annotation of `index.json` entries.
const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// cosign `save`'s annotation key and values.
const KIND: &str = "kind";
const KIND_IMAGE: &str = "dev.cosignproject.cosign/image";
const KIND_IMAGE_INDEX: &str = "dev.cosignproject.cosign/imageIndex";
const KIND_SIGS: &str = "dev.cosignproject.cosign/sigs";
const KIND_ATTS: &str = "dev.cosignproject.cosign/atts";
/// The `oci-layout` file.
const LAYOUT_VERSION: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// An opened image layout: its directory and parsed `index.json`.
#[derive(Debug)]
pub(super) struct Layout<'a> {
    dir: PathBuf,
    index: ImageIndex,
    limits: Limits,
    /// What every read is taken from.
    budget: &'a Budget,
}

impl<'a> Layout<'a> {
    /// Reads `DIR/index.json` (at most `limits.manifest_bytes`, taken from `budget`).
    pub(super) async fn open(
        dir: &Path,
        limits: Limits,
        budget: &'a Budget,
    ) -> Result<Self, RegistryError> {
        let path = dir.join("index.json");
        let bytes = read_capped(&path, limits.manifest_bytes, budget).await?;
        let index = manifest::parse_index(&bytes, &path.display().to_string())?;
        Ok(Self {
            dir: dir.to_owned(),
            index,
            limits,
            budget,
        })
    }

    /// The manifest of the image `selector` picks.
    pub(super) async fn resolve(&self, selector: &Selector) -> Result<Manifest, RegistryError> {
        let (digest, size) = match selector {
            Selector::Tag(tag) => {
                let entry = self
                    .entry(|entry| annotation(entry, REF_NAME) == Some(tag.as_str()))
                    .ok_or_else(|| self.missing(&format!("tag {tag}")))?;
                (Digest::parse(&entry.digest)?, Some(entry.size))
            }
            Selector::Digest(digest) => {
                // A manifest inside an index is a blob without an index.json entry of its own.
                let size = self
                    .entry(|entry| entry.digest == digest.to_string())
                    .map(|entry| entry.size);
                (digest.clone(), size)
            }
            Selector::Only => {
                let entry = self.only_image()?;
                (Digest::parse(&entry.digest)?, Some(entry.size))
            }
        };
        let bytes = self.checked_manifest(&digest, size).await?;
        manifest::served(bytes, &format!("manifest {digest}"))
    }

    /// Writes a signature image for `digest` and points `index.json` at it.
    ///
    /// A cosign-`save` layout gets its `sigs` entry replaced. A layout whose only image is
    /// `digest` becomes one (its entry gains the `kind` annotation, its tag stays), so cosign
    /// reads it with `--local-image`. Otherwise the signatures go under the tag
    /// `sha256-<hex>.sig`.
    pub(super) async fn store_signature(
        &mut self,
        digest: &Digest,
        payload: &[u8],
        signature: SignatureImage,
    ) -> Result<(), RegistryError> {
        for blob in [payload, &signature.config, &signature.manifest] {
            write_blob(&self.dir, blob).await?;
        }
        let mut entry = manifest::describe(OCI_MANIFEST, &signature.manifest);
        let sig_tag = digest.attachment_tag(Attachment::Signatures);
        let tagged = self
            .index
            .manifests
            .iter()
            .position(|old| annotation(old, REF_NAME) == Some(sig_tag.as_str()));
        if let Some(old) = tagged.and_then(|at| self.index.manifests.get_mut(at)) {
            entry.annotations = old.annotations.take();
            *old = entry;
        } else if self.cosign_image(digest).is_some() || self.sole_image_is(digest) {
            self.mark_cosign_image(digest);
            self.index
                .manifests
                .retain(|old| kind(old) != Some(KIND_SIGS));
            entry.annotations = Some(BTreeMap::from([(KIND.to_owned(), KIND_SIGS.to_owned())]));
            self.index.manifests.push(entry);
        } else {
            entry.annotations = Some(BTreeMap::from([(REF_NAME.to_owned(), sig_tag)]));
            self.index.manifests.push(entry);
        }
        let bytes = manifest::to_json(&self.index)?;
        replace_file(&self.dir.join("index.json"), &bytes).await
    }

    /// Annotates the entry of `digest` as cosign `save` annotates its image (keeping a tag).
    fn mark_cosign_image(&mut self, digest: &Digest) {
        let wanted = digest.to_string();
        let Some(image) = self
            .index
            .manifests
            .iter_mut()
            .find(|entry| entry.digest == wanted)
        else {
            return;
        };
        let value = if [OCI_INDEX, manifest::DOCKER_LIST].contains(&image.media_type.as_str()) {
            KIND_IMAGE_INDEX
        } else {
            KIND_IMAGE
        };
        image
            .annotations
            .get_or_insert_default()
            .entry(KIND.to_owned())
            .or_insert_with(|| value.to_owned());
    }

    /// The first `index.json` entry matching `wanted`.
    fn entry(&self, wanted: impl Fn(&Descriptor) -> bool) -> Option<&Descriptor> {
        self.index.manifests.iter().find(|entry| wanted(entry))
    }

    /// The cosign-`save` image entry, if it is `digest`.
    fn cosign_image(&self, digest: &Digest) -> Option<&Descriptor> {
        self.entry(|entry| {
            matches!(kind(entry), Some(KIND_IMAGE | KIND_IMAGE_INDEX))
                && entry.digest == digest.to_string()
        })
    }

    /// Whether `digest` is the layout's only image (attachments aside).
    fn sole_image_is(&self, digest: &Digest) -> bool {
        self.only_image()
            .is_ok_and(|entry| entry.digest == digest.to_string())
    }

    /// The image of a layout that holds one: cosign's `kind` image, or the only entry that is
    /// not an attachment.
    fn only_image(&self) -> Result<&Descriptor, RegistryError> {
        let cosign: Vec<_> = self
            .index
            .manifests
            .iter()
            .filter(|entry| matches!(kind(entry), Some(KIND_IMAGE | KIND_IMAGE_INDEX)))
            .collect();
        let candidates = if cosign.is_empty() {
            self.index
                .manifests
                .iter()
                .filter(|entry| !is_attachment(entry))
                .collect()
        } else {
            cosign
        };
        match candidates.as_slice() {
            [only] => Ok(only),
            [] => Err(self.missing("an image")),
            many => Err(RegistryError::Invalid(format!(
                "image layout {} holds {} images; name one with oci:DIR:TAG or oci:DIR@DIGEST",
                self.dir.display(),
                many.len()
            ))),
        }
    }

    /// Reads a manifest blob and checks its digest and, when known, its size.
    async fn checked_manifest(
        &self,
        digest: &Digest,
        size: Option<i64>,
    ) -> Result<Vec<u8>, RegistryError> {
        let what = format!("manifest {digest}");
        if let Some(size) = size {
            limits::check_advertised(size, self.limits.manifest_bytes, &what)?;
        }
        let bytes = self.blob(digest, self.limits.manifest_bytes).await?;
        super::digest::verify(digest, &bytes, &what)?;
        if size.is_some_and(|size| i64::try_from(bytes.len()) != Ok(size)) {
            return Err(RegistryError::Invalid(format!(
                "{what}: size differs from index.json"
            )));
        }
        Ok(bytes)
    }

    fn missing(&self, what: &str) -> RegistryError {
        RegistryError::NotFound(format!("{what} in image layout {}", self.dir.display()))
    }
}

impl Store for Layout<'_> {
    async fn attachment(
        &self,
        digest: &Digest,
        kind_wanted: Attachment,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        let tag = digest.attachment_tag(kind_wanted);
        let tagged = self.entry(|entry| annotation(entry, REF_NAME) == Some(tag.as_str()));
        let saved = || {
            let value = match kind_wanted {
                Attachment::Signatures => KIND_SIGS,
                Attachment::Attestations => KIND_ATTS,
            };
            // cosign save's attachments belong to its one image.
            self.cosign_image(digest)?;
            self.entry(|entry| kind(entry) == Some(value))
        };
        let Some(entry) = tagged.or_else(saved) else {
            return Ok(None);
        };
        let digest = Digest::parse(&entry.digest)?;
        self.checked_manifest(&digest, Some(entry.size))
            .await
            .map(Some)
    }

    async fn referrers(
        &self,
        digest: &Digest,
    ) -> Result<(Vec<Descriptor>, Discovery), RegistryError> {
        let tag = digest.referrers_tag();
        let Some(entry) = self.entry(|entry| annotation(entry, REF_NAME) == Some(tag.as_str()))
        else {
            return Ok((Vec::new(), Discovery::Layout));
        };
        let index_digest = Digest::parse(&entry.digest)?;
        let bytes = self
            .checked_manifest(&index_digest, Some(entry.size))
            .await?;
        let index = manifest::parse_index(&bytes, &format!("tag {tag}"))?;
        Ok((index.manifests, Discovery::Layout))
    }

    async fn manifest(&self, digest: &Digest) -> Result<Vec<u8>, RegistryError> {
        self.blob(digest, self.limits.manifest_bytes).await
    }

    async fn blob(&self, digest: &Digest, max: u64) -> Result<Vec<u8>, RegistryError> {
        read_capped(&blob_path(&self.dir, digest), max, self.budget).await
    }
}

/// Writes a minimal OCI image (config, layers, manifest) into the layout at `dir`, creating
/// the layout if needed, and tags it `tag` in `index.json` (replacing an entry with that tag).
///
/// The bytes are deterministic: the same inputs give the same digest. Returns the manifest
/// digest (`sha256:…`).
///
/// # Errors
///
/// [`RegistryError::Unavailable`] if a file cannot be written, [`RegistryError::Invalid`] if an
/// existing `index.json` cannot be parsed.
pub fn write_layout_image(
    dir: &Path,
    tag: &str,
    config: &[u8],
    layers: &[(&str, &[u8])],
) -> Result<String, RegistryError> {
    let io_error = |what: &Path, e: std::io::Error| {
        RegistryError::Unavailable(format!("writing {}: {e}", what.display()))
    };
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| io_error(&blobs, e))?;
    let write_blob = |bytes: &[u8]| -> Result<Descriptor, RegistryError> {
        let descriptor = manifest::describe("", bytes);
        let path = blob_path(dir, &Digest::of(bytes));
        std::fs::write(&path, bytes).map_err(|e| io_error(&path, e))?;
        Ok(descriptor)
    };
    let with_type = |mut descriptor: Descriptor, media_type: &str| {
        media_type.clone_into(&mut descriptor.media_type);
        descriptor
    };
    let config = with_type(write_blob(config)?, OCI_CONFIG);
    let layers = layers
        .iter()
        .map(|(media_type, bytes)| write_blob(bytes).map(|d| with_type(d, media_type)))
        .collect::<Result<Vec<_>, _>>()?;
    let image = manifest::image_manifest(config, &layers)?;
    let mut entry = with_type(write_blob(&image)?, OCI_MANIFEST);
    entry.annotations = Some(BTreeMap::from([(REF_NAME.to_owned(), tag.to_owned())]));

    let index_path = dir.join("index.json");
    let mut index = match std::fs::read(&index_path) {
        Ok(bytes) => manifest::parse_index(&bytes, &index_path.display().to_string())?,
        Err(e) if e.kind() == ErrorKind::NotFound => ImageIndex {
            schema_version: 2,
            media_type: Some(OCI_INDEX.to_owned()),
            manifests: Vec::new(),
            extra: Map::new(),
        },
        Err(e) => return Err(io_error(&index_path, e)),
    };
    index
        .manifests
        .retain(|old| annotation(old, REF_NAME) != Some(tag));
    let digest = entry.digest.clone();
    index.manifests.push(entry);
    let layout_file = dir.join("oci-layout");
    std::fs::write(&layout_file, LAYOUT_VERSION).map_err(|e| io_error(&layout_file, e))?;
    std::fs::write(&index_path, manifest::to_json(&index)?)
        .map_err(|e| io_error(&index_path, e))?;
    Ok(digest)
}

fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    // `Digest::hex` is exactly 64 hex digits: no separators, no `..`.
    dir.join("blobs").join("sha256").join(digest.hex())
}

fn annotation<'a>(entry: &'a Descriptor, key: &str) -> Option<&'a str> {
    entry.annotations.as_ref()?.get(key).map(String::as_str)
}

fn kind(entry: &Descriptor) -> Option<&str> {
    annotation(entry, KIND)
}

/// Whether an entry holds signature material rather than an image.
fn is_attachment(entry: &Descriptor) -> bool {
    if matches!(kind(entry), Some(KIND_SIGS | KIND_ATTS)) {
        return true;
    }
    annotation(entry, REF_NAME).is_some_and(|tag| {
        let name = tag.trim_end_matches(".sig").trim_end_matches(".att");
        name.strip_prefix("sha256-")
            .is_some_and(|hex| Digest::parse(&format!("sha256:{hex}")).is_ok())
    })
}

/// Reads a file, refusing one larger than `max` bytes or than what is left of `budget`.
async fn read_capped(path: &Path, max: u64, budget: &Budget) -> Result<Vec<u8>, RegistryError> {
    let what = path.display().to_string();
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => RegistryError::NotFound(what.clone()),
            _ => RegistryError::Unavailable(format!("reading {what}: {e}")),
        })?;
    let mut bytes = Vec::new();
    // One byte more than allowed tells a file that is too large from one that fits exactly.
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| RegistryError::Unavailable(format!("reading {what}: {e}")))?;
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size > max {
        return Err(RegistryError::TooLarge {
            what,
            size,
            limit: max,
        });
    }
    budget.take(size, &what)?;
    Ok(bytes)
}

/// Writes a blob unless it is already there.
async fn write_blob(dir: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    let path = blob_path(dir, &Digest::of(bytes));
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Ok(());
    }
    replace_file(&path, bytes).await
}

/// Writes `path` through a temporary file and a rename, so readers never see half a file.
async fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    let error =
        |e: std::io::Error| RegistryError::Unavailable(format!("writing {}: {e}", path.display()));
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    tokio::fs::write(&temporary, bytes).await.map_err(error)?;
    tokio::fs::rename(&temporary, path).await.map_err(error)
}
