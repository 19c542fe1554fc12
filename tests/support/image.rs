//! Small container images without docker: an OCI image layout directory holding one image of
//! one uncompressed tar layer, reproducible for a given content (fixed mtimes and owners), and
//! the references the tests use for an image once it is in a registry.

use std::fs;
use std::path::Path;

use serde_json::json;

use super::registry::{OCI_INDEX, OCI_MANIFEST, sha256_digest};

/// An image in the test registry.
#[derive(Clone, Debug)]
pub(crate) struct Image {
    /// `127.0.0.1:PORT/repo`.
    pub(crate) repository: String,
    /// The repository path without the registry host.
    pub(crate) repo: String,
    /// The tag it was pushed under.
    pub(crate) tag: String,
    /// The manifest digest.
    pub(crate) digest: String,
}

impl Image {
    /// `HOST:PORT/repo@sha256:…`
    pub(crate) fn by_digest(&self) -> String {
        format!("{}@{}", self.repository, self.digest)
    }

    /// `HOST:PORT/repo:tag`
    pub(crate) fn by_tag(&self) -> String {
        format!("{}:{}", self.repository, self.tag)
    }

    /// The cosign signature tag, `sha256-<hex>.sig`.
    pub(crate) fn sig_tag(&self) -> String {
        sig_tag(&self.digest)
    }
}

/// The tag under which cosign stores the signatures of `digest`.
pub(crate) fn sig_tag(digest: &str) -> String {
    format!("{}.sig", digest.replace(':', "-"))
}

/// Writes an OCI image layout at `dir` with one image tagged `tag` whose only file,
/// `/hello.txt`, holds `content`. Returns the manifest digest.
pub(crate) fn write_layout(dir: &Path, tag: &str, content: &str) -> String {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).expect("layout dir");
    let write_blob = |data: &[u8]| -> String {
        let digest = sha256_digest(data);
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        fs::write(blobs.join(hex), data).expect("write blob");
        digest
    };

    let layer = tar_with_one_file("hello.txt", content.as_bytes());
    let layer_digest = write_blob(&layer);
    let config = json!({
        "created": "1970-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    });
    let config = serde_json::to_vec(&config).expect("config JSON");
    let config_digest = write_blob(&config);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer_digest,
            "size": layer.len(),
        }],
    });
    let manifest = serde_json::to_vec(&manifest).expect("manifest JSON");
    let manifest_digest = write_blob(&manifest);
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": manifest_digest,
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&index).expect("index JSON"),
    )
    .expect("index.json");
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
    manifest_digest
}

/// The digest of the manifest tagged `tag` in the layout at `dir`.
pub(crate) fn layout_digest(dir: &Path, tag: &str) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("index.json")).expect("index.json"))
            .expect("index JSON");
    index["manifests"]
        .as_array()
        .expect("manifests array")
        .iter()
        .find(|entry| entry["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .and_then(|entry| entry["digest"].as_str())
        .unwrap_or_else(|| panic!("no {tag} in {}", dir.display()))
        .to_owned()
}

/// Adds an OCI image manifest and its blobs to the layout at `dir`, listed in `index.json`
/// under the tag `tag`.
pub(crate) fn add_to_layout(dir: &Path, tag: &str, manifest: &[u8], blobs: &[Vec<u8>]) {
    let blob_dir = dir.join("blobs/sha256");
    for data in blobs.iter().map(Vec::as_slice).chain([manifest]) {
        let digest = sha256_digest(data);
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        fs::write(blob_dir.join(hex), data).expect("write blob");
    }
    let index_path = dir.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&fs::read(&index_path).expect("index.json")).expect("index JSON");
    index["manifests"]
        .as_array_mut()
        .expect("manifests array")
        .push(json!({
            "mediaType": OCI_MANIFEST,
            "digest": sha256_digest(manifest),
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }));
    fs::write(&index_path, serde_json::to_vec(&index).expect("index JSON")).expect("index.json");
}

fn tar_with_one_file(name: &str, data: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_ustar();
    header.set_size(u64::try_from(data.len()).expect("small file"));
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    let mut builder = tar::Builder::new(Vec::new());
    builder
        .append_data(&mut header, name, data)
        .expect("tar entry");
    builder.into_inner().expect("tar archive")
}
