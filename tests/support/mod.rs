//! What every end-to-end test stands on: a real `docker-registry` on a free loopback port
//! (`registry`), small OCI images (`image`), cosign `.sig` manifests (`signature`) and Sigstore
//! bundles attached as referrers (`referrers`) read and rewritten over raw HTTP, key pairs
//! (`keys`), the programs under test and their peers run in an isolated environment (`lab`),
//! sigward's verdicts (`outcome`), `sigward serve` (`webhook`) and a registry that answers
//! slowly (`slow`).
//!
//! Nothing here reaches beyond 127.0.0.1: every child process gets proxy variables that point
//! at a closed loopback port, with loopback exempted, so an accidental outside request fails.

pub(crate) mod containerd;
pub(crate) mod hostile;
pub(crate) mod image;
pub(crate) mod keys;
pub(crate) mod lab;
pub(crate) mod outcome;
pub(crate) mod referrers;
pub(crate) mod registry;
pub(crate) mod signature;
pub(crate) mod slow;
pub(crate) mod tuf;
pub(crate) mod webhook;

use std::env;
use std::path::PathBuf;

pub(crate) use image::Image;
pub(crate) use keys::KeyPair;
pub(crate) use lab::Lab;
pub(crate) use outcome::Outcome;
pub(crate) use signature::SigManifest;

/// The repository root (the parent of this crate).
pub(crate) fn repo_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .expect("tests/ has a parent directory")
        .to_path_buf()
}

/// The shared data directory (`SIGWARD_SHARED_DIR`, default `../shared` beside the repo). Its
/// files are read where they are, never copied into the repository.
pub(crate) fn shared_dir() -> PathBuf {
    env::var_os("SIGWARD_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared"))
}

/// A program the tests run: `$VAR` if set, else `default` under the repository root.
pub(crate) fn program(var: &str, default: &str) -> PathBuf {
    let path = env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(default));
    assert!(
        path.exists(),
        "{} not found (set {var}; `make tools build` puts it there)",
        path.display()
    );
    path
}
