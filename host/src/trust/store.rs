//! The trust directory's TUF cache: what `sigward trust init` (and `serve --tuf-mirror`) last
//! verified, read back by every command that needs a trust root.
//!
//! Layout, under `<trust dir>/tuf/<name>/` (`name` is `production` or `staging`):
//!
//! - `current`: a symbolic link to the generation in force;
//! - `<generation>/metadata/`: the verified TUF metadata (`root.json`, `timestamp.json`,
//!   `snapshot.json`, `targets.json`), where the next refresh starts from, so that its
//!   rollback and freeze checks compare against what was seen before;
//! - `<generation>/trusted_root.json` (and `signing_config.v0.2.json` when the repository has
//!   one): the verified targets;
//! - `<generation>/state.json`: [`State`].
//!
//! A refresh builds a whole new generation beside the current one and only then repoints
//! `current` (one `rename`, atomic on POSIX file systems), so a reader sees the old
//! generation or the new one, never a mix, and a refresh that fails leaves the old one in
//! force. Older generations are removed after the switch.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The link to the generation in force.
const CURRENT: &str = "current";
/// The state file of a generation.
const STATE: &str = "state.json";
/// The metadata directory of a generation.
const METADATA: &str = "metadata";
/// The file name of the trusted root target (and of Sigstore's TUF target).
pub const TRUSTED_ROOT: &str = "trusted_root.json";
/// The file name of the signing configuration target.
pub const SIGNING_CONFIG: &str = "signing_config.v0.2.json";

/// What a generation records about how it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct State {
    /// The mirror the metadata came from.
    pub mirror: String,
    /// SHA-256 (hex) of the TUF root the chain started from when this cache was first made;
    /// a refresh from another starting root starts a new chain.
    pub bootstrap_root_sha256: String,
    /// The version of the newest verified TUF root.
    pub root_version: u64,
    /// When the refresh that made this generation finished (Unix seconds).
    pub refreshed: i64,
    /// When the verified timestamp metadata expires (Unix seconds): after that the cache is
    /// stale, though still the newest verified view.
    pub timestamp_expires: i64,
    /// SHA-256 (hex) of the trusted root target.
    pub trusted_root_sha256: String,
}

/// One generation, read back.
#[derive(Debug, Clone)]
pub struct Cached {
    /// Its directory.
    pub dir: PathBuf,
    /// Its state.
    pub state: State,
    /// The trusted root target's bytes.
    pub trusted_root: Vec<u8>,
}

impl Cached {
    /// The directory of its verified metadata.
    pub fn metadata(&self) -> PathBuf {
        self.dir.join(METADATA)
    }
}

/// The TUF cache of one repository name in a trust directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The cache of `name` under `trust_dir`.
    pub fn new(trust_dir: &Path, name: &str) -> Self {
        Self {
            dir: trust_dir.join("tuf").join(name),
        }
    }

    /// The generation in force, if any.
    ///
    /// # Errors
    ///
    /// I/O errors other than "not found", and a state file that does not parse.
    pub fn current(&self) -> io::Result<Option<Cached>> {
        let link = self.dir.join(CURRENT);
        let dir = match std::fs::read_link(&link) {
            Ok(target) => self.dir.join(target),
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        let state = std::fs::read(dir.join(STATE))?;
        let state: State = serde_json::from_slice(&state)
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
        let trusted_root = std::fs::read(dir.join(TRUSTED_ROOT))?;
        Ok(Some(Cached {
            dir,
            state,
            trusted_root,
        }))
    }

    /// A new, empty generation directory (with an empty `metadata/`), not yet in force.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn begin(&self) -> io::Result<Generation> {
        std::fs::create_dir_all(&self.dir)?;
        let dir = tempfile::Builder::new()
            .prefix("generation-")
            .tempdir_in(&self.dir)?;
        std::fs::create_dir(dir.path().join(METADATA))?;
        Ok(Generation {
            store: self.clone(),
            dir,
        })
    }
}

/// A generation being built; dropped without [`Generation::commit`], it is removed.
#[derive(Debug)]
pub struct Generation {
    store: Store,
    dir: tempfile::TempDir,
}

impl Generation {
    /// Its metadata directory (the TUF client's datastore).
    pub fn metadata(&self) -> PathBuf {
        self.dir.path().join(METADATA)
    }

    /// Writes a verified target (`TRUSTED_ROOT` or `SIGNING_CONFIG`).
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn write_target(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        std::fs::write(self.dir.path().join(name), bytes)
    }

    /// Writes the state and puts this generation in force, then removes older ones.
    ///
    /// # Errors
    ///
    /// I/O errors; the generation in force is then unchanged.
    pub fn commit(self, state: &State) -> io::Result<PathBuf> {
        let state = serde_json::to_vec_pretty(state).map_err(io::Error::other)?;
        std::fs::write(self.dir.path().join(STATE), state)?;
        let dir = self.dir.keep();
        let name = dir
            .file_name()
            .ok_or_else(|| io::Error::other("generation without a name"))?
            .to_owned();
        // A fresh link beside `current`, renamed over it: readers see one or the other.
        let link = tempfile::Builder::new()
            .prefix(".current-")
            .make_in(&self.store.dir, |path| {
                std::os::unix::fs::symlink(&name, path)
            })?;
        let link = link.into_temp_path();
        link.persist(self.store.dir.join(CURRENT))
            .map_err(|err| err.error)?;
        self.store.remove_other_generations(&name);
        Ok(dir)
    }
}

impl Store {
    /// Removes every generation but `keep` (best effort: a leftover costs disk, not safety).
    fn remove_other_generations(&self, keep: &std::ffi::OsStr) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name != keep && name.to_string_lossy().starts_with("generation-") {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(n: u64) -> State {
        State {
            mirror: "http://127.0.0.1:1".into(),
            bootstrap_root_sha256: "00".into(),
            root_version: n,
            refreshed: 1,
            timestamp_expires: 2,
            trusted_root_sha256: "ab".into(),
        }
    }

    #[test]
    fn a_generation_is_in_force_only_once_committed_and_replaces_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), "production");
        assert!(store.current().unwrap().is_none());

        let first = store.begin().unwrap();
        first.write_target(TRUSTED_ROOT, b"one").unwrap();
        assert!(store.current().unwrap().is_none());
        first.commit(&state(1)).unwrap();
        let cached = store.current().unwrap().unwrap();
        assert_eq!(cached.trusted_root, b"one");
        assert_eq!(cached.state, state(1));

        // Abandoned: nothing changes and nothing is left behind.
        let abandoned = store.begin().unwrap();
        abandoned.write_target(TRUSTED_ROOT, b"never").unwrap();
        drop(abandoned);
        assert_eq!(store.current().unwrap().unwrap().trusted_root, b"one");

        let second = store.begin().unwrap();
        second.write_target(TRUSTED_ROOT, b"two").unwrap();
        second.commit(&state(2)).unwrap();
        let cached = store.current().unwrap().unwrap();
        assert_eq!(cached.trusted_root, b"two");
        assert_eq!(cached.state.root_version, 2);
        let generations = std::fs::read_dir(dir.path().join("tuf/production"))
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with("generation-")
            })
            .count();
        assert_eq!(generations, 1);
    }

    #[test]
    fn a_corrupt_state_is_an_error_not_a_root() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), "staging");
        let generation = store.begin().unwrap();
        generation.write_target(TRUSTED_ROOT, b"x").unwrap();
        let path = generation.commit(&state(1)).unwrap();
        std::fs::write(path.join(STATE), b"{").unwrap();
        assert!(store.current().is_err());
    }
}
