//! Image manifests and indexes: what kind of manifest a tag or digest names, and the JSON
//! shapes of manifests, indexes and descriptors (read by the host's registry client too, and
//! fuzzed). This module never performs I/O.
//!
//! Parsing keeps fields it does not model (`#[serde(flatten)]`), so a manifest or `index.json`
//! that is read, changed and written back loses nothing.
//!
//! The host hands the guest the manifest bytes a reference resolves to (the WIT `resolve`
//! import) and the media type it was served with. The guest hashes the bytes itself — that
//! hash is the digest it verifies — and reads the media type from the bytes with [`kind`]:
//!
//! - the document is a JSON object with `schemaVersion` 2 (OCI image-spec `manifest.md` and
//!   `image-index.md`; Docker's "Image Manifest V2, Schema 2"; schema 1 is refused, as cosign
//!   cannot sign it);
//! - its `mediaType`, when present, is one of the four [`MANIFEST_TYPES`]; when absent (it is
//!   optional in OCI) a document with `manifests` is an OCI index and any other an OCI image
//!   manifest, as go-containerregistry and containerd read it;
//! - the media type the host claims must be that same type, so a host cannot present an image
//!   manifest as an index or a signature blob as an image;
//! - at most [`MAX_MANIFEST_BYTES`] (4 MiB: the size the OCI distribution spec says registries
//!   should accept at least, and the limit distribution and containerd apply).
//!
//! Which digest a *tag* points to is the registry's word and nobody signs it; what the guest
//! guarantees is that the digest it verifies (and that admission pins) is the hash of a
//! manifest the host really holds, and that a digest reference is answered with exactly the
//! bytes it names.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The manifest media types a reference may resolve to.
pub const MANIFEST_TYPES: [&str; 4] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];
/// The largest manifest read.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// Why bytes are not a manifest the verifier accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Over [`MAX_MANIFEST_BYTES`].
    #[error("the manifest is {0} bytes, over the {MAX_MANIFEST_BYTES}-byte limit")]
    TooLarge(usize),
    /// Not a JSON object with a numeric `schemaVersion`.
    #[error("not a manifest: {0}")]
    NotAManifest(String),
    /// `schemaVersion` is not 2.
    #[error("manifest schemaVersion {0} (only 2 is supported)")]
    SchemaVersion(u64),
    /// A media type that is none of [`MANIFEST_TYPES`].
    #[error("{0:?} is not an image manifest or index media type")]
    UnknownMediaType(String),
    /// The host's media type is not the one the bytes declare.
    #[error("the manifest was served as {served:?} but is {actual:?}")]
    MediaTypeMismatch {
        /// What the host said.
        served: String,
        /// What the bytes are.
        actual: &'static str,
    },
}

/// A content descriptor (OCI image-spec `descriptor.md`).
///
/// Field order is go-containerregistry's, so what is serialised matches cosign byte for byte.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Advertised size in bytes; checked against limits before fetching.
    pub size: i64,
    /// Digest of the referenced content.
    pub digest: String,
    /// Annotations; cosign keeps the signature and certificates here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Everything else (`platform`, `artifactType`, `urls`, …), kept as it was.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An image manifest (OCI, or Docker schema 2, which has the same shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// Media type, optional in OCI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers, in order.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// `annotations`, `subject`, `artifactType`, …
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An image index (OCI index, Docker manifest list, a layout's `index.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// Media type, optional in OCI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests listed.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// `annotations`, `subject`, …
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Parses an image manifest (OCI, or Docker schema 2): schema version 2, at most
/// [`MAX_MANIFEST_BYTES`].
///
/// # Errors
///
/// [`ManifestError`] when the bytes are too large, not a manifest, or not schema 2.
pub fn parse_manifest(bytes: &[u8]) -> Result<ImageManifest, ManifestError> {
    let manifest: ImageManifest = parse_json(bytes)?;
    schema(manifest.schema_version)?;
    Ok(manifest)
}

/// Parses an image index (OCI index, Docker manifest list, a layout's `index.json`), as
/// [`parse_manifest`].
///
/// # Errors
///
/// As [`parse_manifest`].
pub fn parse_index(bytes: &[u8]) -> Result<ImageIndex, ManifestError> {
    let index: ImageIndex = parse_json(bytes)?;
    schema(index.schema_version)?;
    Ok(index)
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ManifestError> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(ManifestError::TooLarge(bytes.len()));
    }
    serde_json::from_slice(bytes).map_err(|e| ManifestError::NotAManifest(e.to_string()))
}

fn schema(version: u32) -> Result<(), ManifestError> {
    if version == 2 {
        Ok(())
    } else {
        Err(ManifestError::SchemaVersion(u64::from(version)))
    }
}

/// The media type of a manifest or index, read from its bytes (see the module docs).
///
/// # Errors
///
/// [`ManifestError`] when the bytes are too large, not a schema-2 manifest, or of another type.
pub fn kind(bytes: &[u8]) -> Result<&'static str, ManifestError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Versioned {
        schema_version: u64,
        media_type: Option<String>,
        manifests: Option<serde::de::IgnoredAny>,
    }
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(ManifestError::TooLarge(bytes.len()));
    }
    let versioned: Versioned =
        serde_json::from_slice(bytes).map_err(|e| ManifestError::NotAManifest(e.to_string()))?;
    if versioned.schema_version != 2 {
        return Err(ManifestError::SchemaVersion(versioned.schema_version));
    }
    match (versioned.media_type, versioned.manifests) {
        (Some(declared), _) => MANIFEST_TYPES
            .into_iter()
            .find(|known| *known == declared)
            .ok_or(ManifestError::UnknownMediaType(declared)),
        (None, Some(_)) => Ok(OCI_INDEX),
        (None, None) => Ok(OCI_MANIFEST),
    }
}

/// Checks that `bytes` are a manifest of the media type the host `served` them as, and returns
/// that type.
///
/// # Errors
///
/// As [`kind`], and [`ManifestError::MediaTypeMismatch`] when the two differ.
pub fn check(bytes: &[u8], served: &str) -> Result<&'static str, ManifestError> {
    let actual = kind(bytes)?;
    if served == actual {
        Ok(actual)
    } else {
        Err(ManifestError::MediaTypeMismatch {
            served: served.to_owned(),
            actual,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let cases: [(&[u8], Result<&str, &str>); 10] = [
            (br#"{"schemaVersion":2,"config":{},"layers":[]}"#, Ok(OCI_MANIFEST)),
            (br#"{"schemaVersion":2,"manifests":[]}"#, Ok(OCI_INDEX)),
            (
                br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}"#,
                Ok(DOCKER_LIST),
            ),
            (
                br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#,
                Ok(DOCKER_MANIFEST),
            ),
            (br#"{"schemaVersion":1,"fsLayers":[]}"#, Err("schema")),
            (br#"{"schemaVersion":2,"mediaType":"text/plain"}"#, Err("type")),
            (
                br#"{"schemaVersion":2,"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json"}"#,
                Err("type"),
            ),
            (br#"{"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#, Err("json")),
            (br#"[2]"#, Err("json")),
            (b"\xff\xfe", Err("json")),
        ];
        for (bytes, expected) in cases {
            let got = kind(bytes);
            match (expected, &got) {
                (Ok(want), Ok(have)) => assert_eq!(want, *have),
                (Err("schema"), Err(ManifestError::SchemaVersion(1)))
                | (Err("type"), Err(ManifestError::UnknownMediaType(_)))
                | (Err("json"), Err(ManifestError::NotAManifest(_))) => {}
                _ => panic!("{}: {got:?}", String::from_utf8_lossy(bytes)),
            }
        }
    }

    #[test]
    fn parses_manifests_and_indexes_keeping_what_it_does_not_model() {
        let text = r#"{"schemaVersion":2,"manifests":[{"mediaType":"m","size":1,"digest":"d","platform":{"os":"linux"}}],"annotations":{"a":"b"}}"#;
        let index = parse_index(text.as_bytes()).unwrap();
        assert_eq!(index.manifests[0].extra["platform"]["os"], "linux");
        assert_eq!(serde_json::to_string(&index).unwrap(), text);
        assert_eq!(
            parse_manifest(
                br#"{"schemaVersion":1,"config":{"mediaType":"c","size":2,"digest":"d"}}"#
            )
            .err(),
            Some(ManifestError::SchemaVersion(1))
        );
        assert!(matches!(
            parse_manifest(br#"{"schemaVersion":2}"#),
            Err(ManifestError::NotAManifest(_))
        ));
        let big = vec![b' '; MAX_MANIFEST_BYTES + 1];
        assert_eq!(
            parse_index(&big).err(),
            Some(ManifestError::TooLarge(MAX_MANIFEST_BYTES + 1))
        );
    }

    #[test]
    fn served_type_must_match_and_size_is_capped() {
        let index = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert_eq!(check(index, OCI_INDEX), Ok(OCI_INDEX));
        assert!(matches!(
            check(index, OCI_MANIFEST),
            Err(ManifestError::MediaTypeMismatch { .. })
        ));
        let mut big = br#"{"schemaVersion":2,"x":""#.to_vec();
        big.resize(MAX_MANIFEST_BYTES, b' ');
        big.extend_from_slice(b"\"}");
        assert_eq!(
            kind(&big),
            Err(ManifestError::TooLarge(MAX_MANIFEST_BYTES + 2))
        );
    }
}
