//! Sigstore bundles attached as OCI referrers (cosign `--new-bundle-format`). Debian's
//! `docker-registry` has no referrers API, so cosign keeps an image index under the fallback
//! tag `sha256-<hex>` listing one referrer manifest per bundle, each pushed by digest with the
//! bundle as its only layer. Here they are read and rewritten over raw HTTP, the way an attacker
//! with push access to the repository could.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use super::image::Image;
use super::registry::{OCI_INDEX, OCI_MANIFEST, Registry, sha256_digest};

/// The media type of a v0.3 Sigstore bundle layer.
pub(crate) const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// The referrers fallback tag of `digest`: `sha256-<hex>`.
pub(crate) fn referrers_tag(digest: &str) -> String {
    digest.replace(':', "-")
}

/// The referrers index of one image (what its `sha256-<hex>` tag points at), as JSON.
pub(crate) struct ReferrersIndex<'r> {
    registry: &'r Registry,
    repo: String,
    index: Value,
}

impl<'r> ReferrersIndex<'r> {
    /// Reads the referrers index of `image`; panics if there is none.
    pub(crate) fn fetch(registry: &'r Registry, image: &Image) -> ReferrersIndex<'r> {
        let (bytes, _) = registry.manifest(&image.repo, &referrers_tag(&image.digest));
        let index: Value = serde_json::from_slice(&bytes).expect("referrers index is JSON");
        assert_eq!(index["mediaType"], OCI_INDEX, "referrers index: {index}");
        ReferrersIndex {
            registry,
            repo: image.repo.clone(),
            index,
        }
    }

    /// An index with no entries, for an image that has no referrers yet.
    pub(crate) fn empty(registry: &'r Registry, image: &Image) -> ReferrersIndex<'r> {
        assert!(
            !registry.has_manifest(&image.repo, &referrers_tag(&image.digest)),
            "{} already has a referrers index",
            image.by_digest()
        );
        ReferrersIndex {
            registry,
            repo: image.repo.clone(),
            index: json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}),
        }
    }

    /// How many referrers it lists.
    pub(crate) fn len(&self) -> usize {
        self.entries().len()
    }

    /// Entry `index` (a descriptor of a referrer manifest).
    pub(crate) fn entry(&self, index: usize) -> Value {
        self.entries()[index].clone()
    }

    /// The referrer manifest that entry `index` names, fetched by its digest.
    pub(crate) fn referrer(&self, index: usize) -> Referrer<'r> {
        let digest = self.entry(index)["digest"]
            .as_str()
            .expect("entry digest")
            .to_owned();
        Referrer::fetch(self.registry, &self.repo, &digest)
    }

    /// Appends an entry.
    pub(crate) fn add(&mut self, entry: Value) {
        self.entries_mut().push(entry);
    }

    /// Replaces entry `index`.
    pub(crate) fn set(&mut self, index: usize, entry: Value) {
        self.entries_mut()[index] = entry;
    }

    /// Writes the index under `image`'s referrers tag (same repository: the referrer manifests
    /// it names must be there).
    pub(crate) fn push_for(&self, image: &Image) {
        assert_eq!(
            image.repo, self.repo,
            "referrer manifests are only in {}",
            self.repo
        );
        let bytes = serde_json::to_vec(&self.index).expect("index JSON");
        self.registry.put_manifest_of_type(
            &image.repo,
            &referrers_tag(&image.digest),
            OCI_INDEX,
            &bytes,
        );
    }

    fn entries(&self) -> &Vec<Value> {
        self.index["manifests"].as_array().expect("manifests array")
    }

    fn entries_mut(&mut self) -> &mut Vec<Value> {
        self.index["manifests"]
            .as_array_mut()
            .expect("manifests array")
    }
}

/// One referrer manifest carrying a Sigstore bundle as its only layer.
pub(crate) struct Referrer<'r> {
    registry: &'r Registry,
    repo: String,
    manifest: Value,
}

impl<'r> Referrer<'r> {
    /// Reads the referrer manifest `digest` of `repo` and checks it carries one bundle layer.
    pub(crate) fn fetch(registry: &'r Registry, repo: &str, digest: &str) -> Referrer<'r> {
        let (bytes, _) = registry.manifest(repo, digest);
        let manifest: Value = serde_json::from_slice(&bytes).expect("referrer manifest JSON");
        let layers = manifest["layers"].as_array().expect("layers array");
        assert_eq!(layers.len(), 1, "referrer manifest: {manifest}");
        assert_eq!(layers[0]["mediaType"], BUNDLE_V03, "referrer: {manifest}");
        Referrer {
            registry,
            repo: repo.to_owned(),
            manifest,
        }
    }

    /// The manifest's `subject` digest (what the referrer claims to be about; unauthenticated).
    pub(crate) fn subject_digest(&self) -> String {
        self.manifest["subject"]["digest"]
            .as_str()
            .expect("subject digest")
            .to_owned()
    }

    /// The descriptor digest of the bundle layer.
    pub(crate) fn bundle_digest(&self) -> String {
        self.manifest["layers"][0]["digest"]
            .as_str()
            .expect("bundle digest")
            .to_owned()
    }

    /// The bundle, parsed.
    pub(crate) fn bundle(&self) -> Value {
        let bytes = self.registry.blob(&self.repo, &self.bundle_digest());
        serde_json::from_slice(&bytes).expect("bundle JSON")
    }

    /// The bundle's DSSE payload (the in-toto statement), base64-decoded.
    pub(crate) fn dsse_payload(&self) -> Vec<u8> {
        let bundle = self.bundle();
        let payload = bundle["dsseEnvelope"]["payload"]
            .as_str()
            .expect("DSSE payload");
        BASE64.decode(payload).expect("base64 DSSE payload")
    }

    /// Replaces the DSSE payload (keeping the signatures), uploads the bundle as a new blob and
    /// points the layer at it, so every descriptor digest matches its blob.
    pub(crate) fn replace_dsse_payload(&mut self, payload: &[u8]) {
        let mut bundle = self.bundle();
        bundle["dsseEnvelope"]["payload"] = Value::String(BASE64.encode(payload));
        let bytes = serde_json::to_vec(&bundle).expect("bundle JSON");
        let digest = self.registry.put_blob(&self.repo, &bytes);
        let layer = &mut self.manifest["layers"][0];
        layer["digest"] = Value::String(digest);
        layer["size"] = Value::from(bytes.len());
    }

    /// Points the manifest's `subject` at `image` (what a lazy verifier might trust).
    pub(crate) fn set_subject(&mut self, image: &Image) {
        let (bytes, digest) = self.registry.manifest(&image.repo, &image.digest);
        self.manifest["subject"] = json!({
            "mediaType": OCI_MANIFEST,
            "digest": digest,
            "size": bytes.len(),
        });
    }

    /// Pushes the manifest by digest and returns its descriptor, as an index entry (with the
    /// `artifactType` cosign's fallback index carries).
    pub(crate) fn push(&self) -> Value {
        let bytes = serde_json::to_vec(&self.manifest).expect("manifest JSON");
        let digest = self
            .registry
            .put_manifest(&self.repo, &sha256_digest(&bytes), &bytes);
        json!({
            "mediaType": OCI_MANIFEST,
            "digest": digest,
            "size": bytes.len(),
            "artifactType": "application/vnd.oci.empty.v1+json",
        })
    }
}
