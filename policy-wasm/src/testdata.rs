//! Where the unit tests find the shared vectors (read in place, never copied): the conformance
//! cases and trust roots (`SIGWARD_CONFORMANCE_DIR`, default `<repo>/../shared/conformance`)
//! and, beside them, the other fixtures.

use std::path::{Path, PathBuf};

use base64::Engine as _;

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
