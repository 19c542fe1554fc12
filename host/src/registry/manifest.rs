//! OCI and Docker manifest JSON as the registry client needs it: the verifier's types and
//! parsers (`sigward_policy::manifest`) with this module's errors, and building the signature
//! image (`.sig`) exactly as cosign 2.5 writes it through go-containerregistry.

use serde::Serialize;
use serde_json::Map;

use super::digest::Digest;
use super::{Manifest, RegistryError};

// The manifest media types and JSON shapes are the verifier's (it re-reads them).
use sigward_policy::manifest::{self, ManifestError};
pub(super) use sigward_policy::manifest::{
    DOCKER_LIST, DOCKER_MANIFEST, Descriptor, ImageIndex, ImageManifest, MANIFEST_TYPES, OCI_INDEX,
    OCI_MANIFEST,
};
/// OCI image config; cosign uses it for signature images.
pub(super) const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Prefix of every Sigstore bundle media type (docs/formats/oci.md, "Finding bundles", step 4).
pub(super) const BUNDLE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";

/// The two blobs of a signature image: its config and its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SignatureImage {
    /// The config JSON (go-containerregistry `ConfigFile`).
    pub(super) config: Vec<u8>,
    /// The manifest JSON.
    pub(super) manifest: Vec<u8>,
}

/// Parses an image manifest (`sigward_policy::manifest::parse_manifest`); `what` names it in
/// errors.
pub(super) fn parse_manifest(bytes: &[u8], what: &str) -> Result<ImageManifest, RegistryError> {
    manifest::parse_manifest(bytes).map_err(|e| parse_error(e, what))
}

/// Parses an image index (`sigward_policy::manifest::parse_index`); `what` names it in errors.
pub(super) fn parse_index(bytes: &[u8], what: &str) -> Result<ImageIndex, RegistryError> {
    manifest::parse_index(bytes).map_err(|e| parse_error(e, what))
}

fn parse_error(err: ManifestError, what: &str) -> RegistryError {
    match err {
        ManifestError::TooLarge(size) => RegistryError::TooLarge {
            what: what.to_owned(),
            size: u64::try_from(size).unwrap_or(u64::MAX),
            limit: u64::try_from(manifest::MAX_MANIFEST_BYTES).unwrap_or(u64::MAX),
        },
        ManifestError::SchemaVersion(_) | ManifestError::UnknownMediaType(_) => {
            RegistryError::Unsupported(format!("{what}: {err}"))
        }
        ManifestError::NotAManifest(_) | ManifestError::MediaTypeMismatch { .. } => {
            RegistryError::Invalid(format!("{what}: {err}"))
        }
    }
}

/// A manifest as the guest receives it: the bytes, and the media type they declare (read by
/// the verifier's own rules, `sigward_policy::manifest::kind`); `what` names it in errors.
pub(super) fn served(bytes: Vec<u8>, what: &str) -> Result<Manifest, RegistryError> {
    let media_type = manifest::kind(&bytes).map_err(|e| parse_error(e, what))?;
    Ok(Manifest {
        media_type: media_type.to_owned(),
        bytes,
    })
}

/// Appends `layer` to a signature image (`existing`, or a new one) as cosign does.
///
/// Returns `None` when an identical layer (digest and annotations) is already there, so signing
/// twice with the same signature changes nothing.
pub(super) fn with_signature(
    existing: Option<ImageManifest>,
    layer: Descriptor,
    max_layers: usize,
) -> Result<Option<SignatureImage>, RegistryError> {
    let mut layers = existing.map(|manifest| manifest.layers).unwrap_or_default();
    if layers.contains(&layer) {
        return Ok(None);
    }
    layers.push(layer);
    super::limits::check_count(layers.len(), max_layers, "signature manifest layers")?;
    signature_image(&layers).map(Some)
}

/// Serialises an OCI image manifest with an OCI config and these layers.
pub(super) fn image_manifest(
    config: Descriptor,
    layers: &[Descriptor],
) -> Result<Vec<u8>, RegistryError> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Manifest<'a> {
        schema_version: u32,
        media_type: &'a str,
        config: Descriptor,
        layers: &'a [Descriptor],
    }
    to_json(&Manifest {
        schema_version: 2,
        media_type: OCI_MANIFEST,
        config,
        layers,
    })
}

/// A descriptor for `bytes` of `media_type`, without annotations.
pub(super) fn describe(media_type: &str, bytes: &[u8]) -> Descriptor {
    Descriptor {
        media_type: media_type.to_owned(),
        size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
        digest: Digest::of(bytes).to_string(),
        annotations: None,
        extra: Map::new(),
    }
}

/// Serialises `value` as compact JSON.
pub(super) fn to_json(value: &impl Serialize) -> Result<Vec<u8>, RegistryError> {
    serde_json::to_vec(value).map_err(|e| RegistryError::Invalid(format!("serialising JSON: {e}")))
}

/// Builds the config and manifest of a signature image holding `layers`.
///
/// cosign 2.5 appends each signature with go-containerregistry's `mutate.Append` to
/// `empty.Image`, as an OCI manifest with an OCI config: every layer adds a zero-time history
/// entry and, being uncompressed, a diff ID equal to its digest.
fn signature_image(layers: &[Descriptor]) -> Result<SignatureImage, RegistryError> {
    // go-containerregistry v1.ConfigFile field order; empty strings and the zero time are what
    // it writes for an empty image.
    #[derive(Serialize)]
    struct ConfigFile<'a> {
        architecture: &'a str,
        created: &'a str,
        history: Vec<History<'a>>,
        os: &'a str,
        rootfs: RootFs<'a>,
        config: Empty,
    }
    #[derive(Serialize)]
    struct History<'a> {
        created: &'a str,
    }
    #[derive(Serialize)]
    struct RootFs<'a> {
        #[serde(rename = "type")]
        kind: &'a str,
        diff_ids: Vec<&'a str>,
    }
    #[derive(Serialize)]
    struct Empty {}

    const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
    let config = to_json(&ConfigFile {
        architecture: "",
        created: ZERO_TIME,
        history: layers
            .iter()
            .map(|_| History { created: ZERO_TIME })
            .collect(),
        os: "",
        rootfs: RootFs {
            kind: "layers",
            diff_ids: layers.iter().map(|layer| layer.digest.as_str()).collect(),
        },
        config: Empty {},
    })?;
    let manifest = image_manifest(describe(OCI_CONFIG, &config), layers)?;
    Ok(SignatureImage { config, manifest })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Written by cosign 2.5.0 (`cosign sign --key` twice with two keys); see testdata/README.md.
    const MANIFEST_1: &[u8] = include_bytes!("testdata/cosign-sig/manifest-1.json");
    const CONFIG_1: &[u8] = include_bytes!("testdata/cosign-sig/config-1.json");
    const MANIFEST_2: &[u8] = include_bytes!("testdata/cosign-sig/manifest-2.json");
    const CONFIG_2: &[u8] = include_bytes!("testdata/cosign-sig/config-2.json");

    #[test]
    fn builds_signature_images_byte_for_byte_like_cosign() {
        let two = parse_manifest(MANIFEST_2, "sig").unwrap();
        let second = two.layers[1].clone();
        let first = parse_manifest(MANIFEST_1, "sig").unwrap();

        let appended = with_signature(Some(first), second, 1000).unwrap().unwrap();
        assert_eq!(appended.config, CONFIG_2);
        assert_eq!(appended.manifest, MANIFEST_2);

        let fresh = with_signature(None, two.layers[0].clone(), 1000)
            .unwrap()
            .unwrap();
        assert_eq!(fresh.config, CONFIG_1);
        assert_eq!(fresh.manifest, MANIFEST_1);
    }

    #[test]
    fn appending_an_identical_signature_changes_nothing() {
        let one = parse_manifest(MANIFEST_1, "sig").unwrap();
        let layer = one.layers[0].clone();
        assert_eq!(with_signature(Some(one), layer, 1000).unwrap(), None);
    }

    #[test]
    fn refuses_to_grow_past_the_layer_limit() {
        let two = parse_manifest(MANIFEST_2, "sig").unwrap();
        let one = parse_manifest(MANIFEST_1, "sig").unwrap();
        assert!(matches!(
            with_signature(Some(one), two.layers[1].clone(), 1),
            Err(RegistryError::TooLarge { .. })
        ));
    }

    #[test]
    fn round_trips_unknown_fields() {
        let text = r#"{"schemaVersion":2,"manifests":[{"mediaType":"m","size":1,"digest":"d","platform":{"os":"linux"}}],"annotations":{"a":"b"}}"#;
        let index = parse_index(text.as_bytes(), "index").unwrap();
        assert_eq!(to_json(&index).unwrap(), text.as_bytes());
    }

    #[test]
    fn serves_manifests_with_the_type_they_declare() {
        let media_type = |bytes: &[u8]| served(bytes.to_vec(), "m").map(|m| m.media_type);
        assert_eq!(media_type(MANIFEST_1).unwrap(), OCI_MANIFEST);
        assert_eq!(
            media_type(br#"{"schemaVersion":2,"manifests":[]}"#).unwrap(),
            OCI_INDEX
        );
        assert!(matches!(
            media_type(br#"{"schemaVersion":1,"fsLayers":[]}"#),
            Err(RegistryError::Unsupported(_))
        ));
        assert!(matches!(
            media_type(br#"{"schemaVersion":2,"mediaType":"text/plain"}"#),
            Err(RegistryError::Unsupported(_))
        ));
        assert!(matches!(
            media_type(b"not json"),
            Err(RegistryError::Invalid(_))
        ));
    }
}
