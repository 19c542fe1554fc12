//! The one reader of the Sigstore conformance cases (`SIGWARD_CONFORMANCE_DIR`, default
//! `<repo>/../shared/conformance`, read in place), shared by every runner: the native one
//! (`policy-wasm/tests/conformance.rs`) and the CLI one (`tests/conformance.rs`, which includes
//! this file with `#[path]`). A case directory holds `bundle.sigstore.json` and optionally
//! `trusted_root.json`, `key.pub`, `identity`, `issuer` and `artifact`; see the cases' README.
//!
//! Every `_fail` case must be rejected for the reason pinned in `conformance-reasons.txt`
//! beside this file's directory (like webpki's `exceptions.json`), so a rejection for the wrong
//! reason fails too; a `_fail` case without a pinned reason fails the loader.

#![allow(dead_code, reason = "each runner uses a different part")]

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// The signer of the conformance bundles when a case has no `identity` file.
pub(crate) const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
/// The OIDC issuer when a case has no `issuer` file.
pub(crate) const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Who must have signed a case's bundle.
#[derive(Debug, Clone)]
pub(crate) enum Signer {
    /// A managed key (`key.pub`).
    Key(PathBuf),
    /// A certificate identity and its OIDC issuer, matched exactly.
    Identity {
        /// The SAN.
        identity: String,
        /// The issuer.
        issuer: String,
    },
}

/// One case, with every default applied.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    /// The directory name.
    pub(crate) name: String,
    /// The directory.
    pub(crate) dir: PathBuf,
    /// `bundle.sigstore.json`.
    pub(crate) bundle: PathBuf,
    /// The signed artifact: the case's own, else `a.txt`.
    pub(crate) artifact: PathBuf,
    /// `sha256:<hex>` of the artifact.
    pub(crate) artifact_digest: String,
    /// Who must have signed.
    pub(crate) signer: Signer,
    /// The case's own trust root, if it has one (else the production root).
    pub(crate) trusted_root: Option<PathBuf>,
    /// `None` when the case must verify; the reason code it must be rejected for otherwise.
    pub(crate) rejected_for: Option<String>,
}

/// The conformance directory.
pub(crate) fn dir() -> PathBuf {
    std::env::var_os("SIGWARD_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared/conformance")
                .components()
                .collect()
        })
}

/// The pinned reasons: `case reason-code` per line, `#` comments.
fn pinned_reasons() -> Vec<(String, String)> {
    let path = Path::new(file!())
        .parent()
        .and_then(Path::parent)
        .map(|tests| tests.join("conformance-reasons.txt"))
        .expect("file!() has a parent");
    // `file!()` is relative to the workspace root, where cargo runs rustc.
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join(&path))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{} not found", path.display()));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (case, reason) = line
                .split_once(char::is_whitespace)
                .unwrap_or_else(|| panic!("not `case reason`: {line:?}"));
            (case.to_owned(), reason.trim().to_owned())
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Every case, sorted by name. Panics when a `_fail` case has no pinned reason, or a pinned
/// reason names no case.
pub(crate) fn cases() -> Vec<Case> {
    let root = dir().join("bundle-verify");
    let pinned = pinned_reasons();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    let cases: Vec<Case> = dirs
        .into_iter()
        .map(|dir| {
            let name = dir
                .file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned();
            let artifact = Some(dir.join("artifact"))
                .filter(|p| p.exists())
                .unwrap_or_else(|| root.join("a.txt"));
            let bytes = std::fs::read(&artifact).expect("artifact");
            let signer = if dir.join("key.pub").exists() {
                Signer::Key(dir.join("key.pub"))
            } else {
                Signer::Identity {
                    identity: read_trimmed(&dir.join("identity"))
                        .unwrap_or_else(|| DEFAULT_IDENTITY.to_owned()),
                    issuer: read_trimmed(&dir.join("issuer"))
                        .unwrap_or_else(|| DEFAULT_ISSUER.to_owned()),
                }
            };
            let rejected_for = name.ends_with("_fail").then(|| {
                pinned
                    .iter()
                    .find(|(case, _)| *case == name)
                    .map(|(_, reason)| reason.clone())
                    .unwrap_or_else(|| {
                        panic!("{name}: no reason pinned in conformance-reasons.txt")
                    })
            });
            Case {
                bundle: dir.join("bundle.sigstore.json"),
                artifact_digest: format!("sha256:{}", hex(&Sha256::digest(&bytes))),
                artifact,
                signer,
                trusted_root: Some(dir.join("trusted_root.json")).filter(|p| p.exists()),
                rejected_for,
                name,
                dir,
            }
        })
        .collect();
    for (case, _) in &pinned {
        assert!(
            cases.iter().any(|c| c.name == *case),
            "conformance-reasons.txt pins {case}, which is not a case"
        );
    }
    cases
}
