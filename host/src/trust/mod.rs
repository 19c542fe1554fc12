//! Trust roots the host hands to the component by name (`fetcher.trusted-root`): the
//! production and staging Sigstore roots, and files named on the command line.
//!
//! Where the production and staging roots come from, first found wins:
//!
//! 1. `<trust dir>/<name>.json`, a file the operator placed there (used as it is);
//! 2. the TUF cache `<trust dir>/tuf/<name>/` that `sigward trust init` or `serve
//!    --tuf-mirror` verified ([`store`], [`tuf`]) — unless it is older than the embedded root
//!    (its newest key or authority starts before the embedded one's), which is then used, with
//!    a note. A cache whose TUF timestamp has expired is still used, with a note saying how old
//!    it is: it is the newest verified view, and the embedded one is older still;
//! 3. the root embedded in the binary (see `roots/README.md` for where it came from).
//!
//! The trust directory is `$SIGWARD_TRUST_DIR`, else `$HOME/.sigward/trust`.
//!
//! This module only finds bytes (and checks that a cached root parses); the component parses
//! and judges them.

pub mod store;
pub mod tuf;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use sha2::{Digest as _, Sha256};
use sigward_policy::time::format_rfc3339;
use sigward_policy::trust_root::TrustedRoot;

use self::store::{Cached, Store};

/// The production Sigstore trust root shipped with sigward.
const PRODUCTION: &[u8] = include_bytes!("roots/production/trusted_root.json");
/// The staging Sigstore trust root shipped with sigward.
const STAGING: &[u8] = include_bytes!("roots/staging/trusted_root.json");
/// The TUF root of the production Sigstore repository shipped with sigward.
const PRODUCTION_TUF_ROOT: &[u8] = include_bytes!("roots/production/root.json");
/// The TUF root of the staging Sigstore repository shipped with sigward.
const STAGING_TUF_ROOT: &[u8] = include_bytes!("roots/staging/root.json");

/// The name of the production root.
pub const PRODUCTION_NAME: &str = "production";
/// The name of the staging root.
pub const STAGING_NAME: &str = "staging";

/// Sigstore's production TUF mirror.
pub const PRODUCTION_MIRROR: &str = "https://tuf-repo-cdn.sigstore.dev";
/// Sigstore's staging TUF mirror.
pub const STAGING_MIRROR: &str = "https://tuf-repo-cdn.sigstage.dev";

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

/// The embedded TUF repository behind `name` (`production` or `staging`): its mirror and the
/// TUF root a first refresh starts from.
pub fn embedded_repository(name: &str) -> Option<(&'static str, &'static [u8])> {
    match name {
        PRODUCTION_NAME => Some((PRODUCTION_MIRROR, PRODUCTION_TUF_ROOT)),
        STAGING_NAME => Some((STAGING_MIRROR, STAGING_TUF_ROOT)),
        _ => None,
    }
}

/// The embedded `trusted_root.json` called `name`.
fn embedded(name: &str) -> Option<&'static [u8]> {
    match name {
        PRODUCTION_NAME => Some(PRODUCTION),
        STAGING_NAME => Some(STAGING),
        _ => None,
    }
}

/// The trust directory: `$SIGWARD_TRUST_DIR`, else `$HOME/.sigward/trust`.
pub fn trust_dir() -> Option<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    var("SIGWARD_TRUST_DIR")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|home| PathBuf::from(home).join(".sigward/trust")))
}

/// Whether the TUF cache `cached` may stand for the root `name` at `now`: `Err` (saying why)
/// when it does not parse or is older than the embedded root, `Ok` with a note when its TUF
/// timestamp has expired, `Ok(None)` when it is current.
///
/// # Errors
///
/// The reason the cache is not used, for the user.
pub fn judge_cached(name: &str, cached: &Cached, now: i64) -> Result<Option<String>, String> {
    let newest = |bytes: &[u8]| TrustedRoot::parse(bytes).map(|r| r.newest_start());
    let embedded_newest = embedded(name).map(newest).and_then(Result::ok).flatten();
    match newest(&cached.trusted_root) {
        Err(err) => {
            return Err(format!(
                "the {name} trust root cached in {} is not a trusted root ({err}); using the \
                 embedded root",
                cached.dir.display()
            ));
        }
        Ok(start) if start < embedded_newest => {
            return Err(format!(
                "the {name} trust root cached from {} is older than the one embedded in \
                 sigward; using the embedded root (run `sigward trust init` to refresh)",
                cached.state.mirror
            ));
        }
        Ok(_) => {}
    }
    if cached.state.timestamp_expires >= now {
        return Ok(None);
    }
    let days = (now - cached.state.refreshed) / 86_400;
    Ok(Some(format!(
        "the {name} trust root was last refreshed from {} at {} ({days} days ago) and its TUF \
         timestamp expired at {}; still using it (run `sigward trust init` to refresh)",
        cached.state.mirror,
        format_rfc3339(cached.state.refreshed),
        format_rfc3339(cached.state.timestamp_expires),
    )))
}

/// Named trust roots. One can be replaced while in use ([`TrustRoots::replace`]): each
/// [`TrustRoots::get`] returns the bytes in force at that moment, whole.
#[derive(Debug, Default)]
pub struct TrustRoots {
    /// Roots that shadow the embedded ones, by name.
    roots: RwLock<BTreeMap<String, Arc<[u8]>>>,
    /// What a user should know about the roots chosen (stale or refused caches).
    notes: Vec<String>,
}

impl TrustRoots {
    /// The roots of the trust directory ([`trust_dir`]) over the embedded ones, as the module
    /// documentation orders them.
    ///
    /// # Errors
    ///
    /// [`TrustError::Read`] when an override exists but cannot be read.
    pub fn new() -> Result<Self, TrustError> {
        match trust_dir() {
            Some(dir) => Self::from_dir(&dir),
            None => Ok(Self::default()),
        }
    }

    /// The roots of `dir` over the embedded ones.
    ///
    /// # Errors
    ///
    /// [`TrustError::Read`] when an override exists but cannot be read.
    pub fn from_dir(dir: &Path) -> Result<Self, TrustError> {
        let mut roots = Self::default();
        for name in [PRODUCTION_NAME, STAGING_NAME] {
            let path = dir.join(format!("{name}.json"));
            if path.is_file() {
                roots.add_file(name, &path)?;
                continue;
            }
            match Store::new(dir, name).current() {
                Ok(Some(cached)) => roots.use_cached(name, &cached, crate::fetcher::unix_now()),
                Ok(None) => {}
                Err(err) => roots.notes.push(format!(
                    "the {name} TUF cache in {} cannot be read ({err}); using the embedded root",
                    dir.display()
                )),
            }
        }
        Ok(roots)
    }

    /// Uses `cached` for `name` when [`judge_cached`] allows it, noting what it says.
    fn use_cached(&mut self, name: &str, cached: &Cached, now: i64) {
        match judge_cached(name, cached, now) {
            Ok(stale) => {
                self.notes.extend(stale);
                self.replace(name, cached.trusted_root.clone());
            }
            Err(refused) => self.notes.push(refused),
        }
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
        self.replace(name, bytes);
        Ok(())
    }

    /// Puts `bytes` in force under `name` for every later [`TrustRoots::get`].
    pub fn replace(&self, name: &str, bytes: Vec<u8>) {
        self.roots
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), bytes.into());
    }

    /// The `trusted_root.json` bytes called `name`.
    ///
    /// # Errors
    ///
    /// [`TrustError::Unknown`] for a name nobody defined.
    pub fn get(&self, name: &str) -> Result<Arc<[u8]>, TrustError> {
        let roots = self.roots.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(bytes) = roots.get(name) {
            return Ok(Arc::clone(bytes));
        }
        embedded(name)
            .map(Arc::from)
            .ok_or_else(|| TrustError::Unknown(name.to_owned()))
    }

    /// SHA-256 over every root in force (name and bytes, embedded ones included): what a
    /// cached decision depends on, so that a changed root makes earlier decisions unusable.
    pub fn fingerprint(&self) -> [u8; 32] {
        let roots = self.roots.read().unwrap_or_else(PoisonError::into_inner);
        let mut names: Vec<&str> = roots.keys().map(String::as_str).collect();
        names.extend([PRODUCTION_NAME, STAGING_NAME]);
        names.sort_unstable();
        names.dedup();
        let mut hash = Sha256::new();
        for name in names {
            let bytes = roots
                .get(name)
                .map(|bytes| &bytes[..])
                .or_else(|| embedded(name));
            let bytes = bytes.unwrap_or_default();
            for part in [name.as_bytes(), bytes] {
                hash.update((part.len() as u64).to_be_bytes());
                hash.update(part);
            }
        }
        hash.finalize().into()
    }

    /// What a user should know about the roots chosen: a cache that is stale, unreadable or
    /// older than the embedded root.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }
}

#[cfg(test)]
mod tests;
