//! Where the unit tests find the shared vectors (read in place, never copied): the conformance
//! cases and trust roots (`SIGWARD_CONFORMANCE_DIR`, default `<repo>/../shared/conformance`)
//! and, beside them, the other fixtures.

use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use base64::Engine as _;

use crate::digest::Digest;
use crate::fetch::Layer;
use crate::image::SIGNATURE_ANNOTATION;

/// The conformance directory.
pub(crate) fn conformance_dir() -> PathBuf {
    std::env::var_os("SIGWARD_CONFORMANCE_DIR").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/conformance"
            ))
        },
        PathBuf::from,
    )
}

/// A file's bytes, or a panic naming it.
pub(crate) fn read(path: impl AsRef<Path>) -> Vec<u8> {
    let path = path.as_ref();
    std::fs::read(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Standard base64.
pub(crate) fn b64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// A file's text, or a panic naming it.
pub(crate) fn read_text(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// `policy-wasm/tests/data/image`: cosign `.sig` layers made for the image tests (its README).
pub(crate) fn image_vectors() -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "tests/data/image"]
        .iter()
        .collect()
}

/// The manifest of the image the image vectors sign, served as an OCI image manifest.
pub(crate) fn image_manifest() -> crate::fetch::Manifest {
    crate::fetch::Manifest {
        media_type: crate::manifest::OCI_MANIFEST.to_owned(),
        bytes: read(image_vectors().join("manifest.json")),
    }
}

/// A simple-signing `.sig` layer from a case directory holding `payload` and `signature`.
pub(crate) fn sig_layer(case: &Path) -> Layer {
    let payload = read(case.join("payload"));
    let annotations = BTreeMap::from([(
        SIGNATURE_ANNOTATION.to_owned(),
        read_text(case.join("signature")),
    )]);
    simple_signing_layer(payload, annotations)
}

/// `../shared/fixtures/legacy-keyless`: real keyless `.sig` layers (see its README).
pub(crate) fn legacy_keyless() -> PathBuf {
    conformance_dir().join("../fixtures/legacy-keyless")
}

/// A legacy keyless case: the image it signs (`repository@digest`) and its `.sig` layer with
/// the annotations copied verbatim.
pub(crate) fn legacy_keyless_case(case: &Path) -> (String, Layer) {
    let annotations: BTreeMap<String, String> =
        serde_json::from_slice(&read(case.join("annotations.json"))).unwrap();
    let image = read_text(case.join("image.txt")).trim().to_owned();
    (
        image,
        simple_signing_layer(read(case.join("payload.json")), annotations),
    )
}

fn simple_signing_layer(payload: Vec<u8>, annotations: BTreeMap<String, String>) -> Layer {
    Layer {
        media_type: crate::simple_signing::MEDIA_TYPE.to_owned(),
        digest: Digest::of(&payload).to_string(),
        annotations,
        payload,
    }
}
