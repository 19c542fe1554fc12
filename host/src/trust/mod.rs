//! Trust roots the host hands to the component by name (`fetcher.trusted-root`): the
//! production and staging Sigstore roots embedded in the binary (see `roots/README.md` for
//! where they came from), overridable without rebuilding, and files named on the command line.
//!
//! This module only finds bytes; the component parses and judges them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The production Sigstore trust root shipped with sigward.
const PRODUCTION: &[u8] = include_bytes!("roots/production/trusted_root.json");
/// The staging Sigstore trust root shipped with sigward.
const STAGING: &[u8] = include_bytes!("roots/staging/trusted_root.json");

/// The name of the production root.
pub const PRODUCTION_NAME: &str = "production";
/// The name of the staging root.
pub const STAGING_NAME: &str = "staging";

/// Why a trust root could not be provided.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// No root has that name.
    #[error("no trust root named {0:?}")]
    Unknown(String),
    /// A file could not be read.
    #[error("reading trust root {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Named trust roots.
#[derive(Debug, Clone, Default)]
pub struct TrustRoots {
    /// Roots loaded from files, by name; they shadow the embedded ones.
    files: BTreeMap<String, Vec<u8>>,
}

impl TrustRoots {
    /// The embedded roots, each replaced by `$SIGWARD_TRUST_DIR/<name>.json` when that file
    /// exists (a newer root without rebuilding).
    ///
    /// # Errors
    ///
    /// [`TrustError::Read`] when an override exists but cannot be read.
    pub fn new() -> Result<Self, TrustError> {
        let mut roots = Self::default();
        if let Some(dir) = std::env::var_os("SIGWARD_TRUST_DIR").filter(|d| !d.is_empty()) {
            for name in [PRODUCTION_NAME, STAGING_NAME] {
                let path = Path::new(&dir).join(format!("{name}.json"));
                if path.is_file() {
                    roots.add_file(name, &path)?;
                }
            }
        }
        Ok(roots)
    }

    /// Registers the file at `path` under `name`.
    ///
    /// # Errors
    ///
    /// [`TrustError::Read`] when the file cannot be read.
    pub fn add_file(&mut self, name: &str, path: &Path) -> Result<(), TrustError> {
        let bytes = std::fs::read(path).map_err(|source| TrustError::Read {
            path: path.to_owned(),
            source,
        })?;
        self.files.insert(name.to_owned(), bytes);
        Ok(())
    }

    /// The `trusted_root.json` bytes called `name`.
    ///
    /// # Errors
    ///
    /// [`TrustError::Unknown`] for a name nobody defined.
    pub fn get(&self, name: &str) -> Result<&[u8], TrustError> {
        if let Some(bytes) = self.files.get(name) {
            return Ok(bytes);
        }
        match name {
            PRODUCTION_NAME => Ok(PRODUCTION),
            STAGING_NAME => Ok(STAGING),
            other => Err(TrustError::Unknown(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeds_both_roots_and_files_shadow_them() {
        let mut roots = TrustRoots::default();
        assert!(roots.get(PRODUCTION_NAME).unwrap().starts_with(b"{"));
        assert_ne!(
            roots.get(PRODUCTION_NAME).unwrap(),
            roots.get(STAGING_NAME).unwrap()
        );
        assert!(matches!(roots.get("nope"), Err(TrustError::Unknown(_))));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("root.json");
        std::fs::write(&file, b"{\"x\":1}").unwrap();
        roots.add_file(PRODUCTION_NAME, &file).unwrap();
        assert_eq!(roots.get(PRODUCTION_NAME).unwrap(), b"{\"x\":1}");
        assert!(roots.add_file("x", &dir.path().join("missing")).is_err());
    }
}
