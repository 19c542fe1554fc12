//! A cosign `.sig` manifest (`sha256-<hex>.sig`, one simple-signing layer per signature) read
//! from the registry, changed the way an attacker with push access would, and written back.

use std::path::Path;

use serde_json::{Value, json};

use super::image::{self, Image, sig_tag};
use super::registry::{OCI_MANIFEST, Registry};

/// The annotation that carries a layer's base64 signature.
pub(crate) const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The media type of a `.sig` layer (a simple-signing payload).
pub(crate) const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// The `.sig` manifest of one image, as JSON, with the registry it lives in.
pub(crate) struct SigManifest<'r> {
    registry: &'r Registry,
    repo: String,
    manifest: Value,
}

impl<'r> SigManifest<'r> {
    /// Reads the `.sig` manifest of `image`; panics if there is none.
    pub(crate) fn fetch(registry: &'r Registry, image: &Image) -> SigManifest<'r> {
        let (bytes, _) = registry.manifest(&image.repo, &image.sig_tag());
        let manifest = serde_json::from_slice(&bytes).expect(".sig manifest is JSON");
        SigManifest {
            registry,
            repo: image.repo.clone(),
            manifest,
        }
    }

    /// A `.sig` manifest for `image` with one layer, laid out as cosign writes it: the blob is
    /// `payload` (uploaded to `image`'s repository with the config) and the descriptor carries
    /// `annotations` (signature, certificate, chain, Rekor bundle). Push it with `push_for`.
    pub(crate) fn with_layer(
        registry: &'r Registry,
        image: &Image,
        payload: &[u8],
        annotations: Value,
    ) -> SigManifest<'r> {
        let layer = registry.put_blob(&image.repo, payload);
        let config = json!({
            "architecture": "",
            "created": "0001-01-01T00:00:00Z",
            "history": [{"created": "0001-01-01T00:00:00Z"}],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [layer]},
            "config": {},
        });
        let config = serde_json::to_vec(&config).expect("config JSON");
        let config_digest = registry.put_blob(&image.repo, &config);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "size": config.len(),
                "digest": config_digest,
            },
            "layers": [{
                "mediaType": SIMPLE_SIGNING,
                "size": payload.len(),
                "digest": layer,
                "annotations": annotations,
            }],
        });
        SigManifest {
            registry,
            repo: image.repo.clone(),
            manifest,
        }
    }

    /// How many signature layers it has.
    pub(crate) fn layer_count(&self) -> usize {
        self.layers().len()
    }

    /// The payload (simple-signing JSON) of layer `index`, fetched by its descriptor digest.
    pub(crate) fn payload(&self, index: usize) -> Vec<u8> {
        self.registry.blob(&self.repo, &self.layer_digest(index))
    }

    /// The descriptor digest of layer `index`.
    pub(crate) fn layer_digest(&self, index: usize) -> String {
        self.layers()[index]["digest"]
            .as_str()
            .expect("layer digest")
            .to_owned()
    }

    /// The base64 signature of layer `index`.
    pub(crate) fn signature(&self, index: usize) -> String {
        self.layers()[index]["annotations"][SIGNATURE_ANNOTATION]
            .as_str()
            .expect("signature annotation")
            .to_owned()
    }

    /// Sets an annotation on layer `index`.
    pub(crate) fn set_annotation(&mut self, index: usize, key: &str, value: &str) {
        self.layer_mut(index)["annotations"][key] = Value::String(value.to_owned());
    }

    /// Removes an annotation from layer `index`.
    pub(crate) fn remove_annotation(&mut self, index: usize, key: &str) {
        let annotations = self.layer_mut(index)["annotations"]
            .as_object_mut()
            .expect("annotations object");
        assert!(annotations.remove(key).is_some(), "no annotation {key}");
    }

    /// Uploads `payload` as a new blob and points layer `index` (and the config's diff_ids, as
    /// cosign writes them) at it, so every descriptor digest matches its blob again.
    pub(crate) fn replace_payload(&mut self, index: usize, payload: &[u8]) {
        let digest = self.registry.put_blob(&self.repo, payload);
        let layer = self.layer_mut(index);
        layer["digest"] = Value::String(digest.clone());
        layer["size"] = Value::from(payload.len());

        let config_digest = self.manifest["config"]["digest"]
            .as_str()
            .expect("config digest")
            .to_owned();
        let mut config: Value =
            serde_json::from_slice(&self.registry.blob(&self.repo, &config_digest))
                .expect("config JSON");
        if let Some(diff_ids) = config["rootfs"]["diff_ids"].as_array_mut()
            && let Some(slot) = diff_ids.get_mut(index)
        {
            *slot = Value::String(digest);
        }
        let config = serde_json::to_vec(&config).expect("config JSON");
        let config_digest = self.registry.put_blob(&self.repo, &config);
        self.manifest["config"]["digest"] = Value::String(config_digest);
        self.manifest["config"]["size"] = Value::from(config.len());
    }

    /// Writes the manifest back as the `.sig` of `image`: its own image, or another one to
    /// replay the signatures there. For an image in another repository the config and layer
    /// blobs are copied there first, as `cosign copy` would.
    pub(crate) fn push_for(&self, image: &Image) {
        if image.repo != self.repo {
            let config = self.manifest["config"]["digest"]
                .as_str()
                .expect("config digest");
            let mut digests = vec![config.to_owned()];
            digests.extend((0..self.layer_count()).map(|i| self.layer_digest(i)));
            for digest in digests {
                let blob = self.registry.blob(&self.repo, &digest);
                self.registry.put_blob(&image.repo, &blob);
            }
        }
        let bytes = serde_json::to_vec(&self.manifest).expect("manifest JSON");
        self.registry
            .put_manifest(&image.repo, &sig_tag(&image.digest), &bytes);
    }

    /// Writes the manifest, its config and its layers into the OCI image layout `dir` as the
    /// `.sig` of the image `digest` (an `index.json` entry tagged `sha256-<hex>.sig`).
    pub(crate) fn write_to_layout(&self, dir: &Path, digest: &str) {
        let config = self.manifest["config"]["digest"]
            .as_str()
            .expect("config digest");
        let mut blobs = vec![self.registry.blob(&self.repo, config)];
        blobs.extend((0..self.layer_count()).map(|i| self.payload(i)));
        let bytes = serde_json::to_vec(&self.manifest).expect("manifest JSON");
        image::add_to_layout(dir, &sig_tag(digest), &bytes, &blobs);
    }

    fn layers(&self) -> &Vec<Value> {
        self.manifest["layers"].as_array().expect("layers array")
    }

    fn layer_mut(&mut self, index: usize) -> &mut Value {
        &mut self.manifest["layers"][index]
    }
}
