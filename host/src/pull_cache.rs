//! The verdict cache `sigward containerd-verifier` shares across invocations, so that pulling
//! an image again is cheap: containerd runs the verifier afresh for every pull.
//!
//! What is trusted, and why:
//!
//! - Only allowed pulls are stored. A denial can come from a registry that was briefly away;
//!   it is checked again at the next pull, which is the safe direction.
//! - An entry is named by [`PullKey`], the SHA-256 of everything the decision depends on (this
//!   binary's version and component, the policy texts, the decision settings, every trust
//!   root's bytes, and the image with the digest containerd resolved). A changed policy or
//!   root, or a tag that now points elsewhere, finds no entry.
//! - The directory is used only when it is owned by this process's effective user and nobody
//!   else may write to it (no group or other write bit); each entry is read only under the
//!   same rule. Otherwise the cache is ignored, never trusted: a user who could plant an entry
//!   could allow any pull. Run the verifier as root (containerd does) with a directory only
//!   root can write, such as the default `/var/cache/sigward/pulls`.
//! - Entries expire after the TTL (an entry claiming to live longer than the TTL from now is
//!   refused), are at most [`MAX_ENTRY_BYTES`], and are JSON with no unknown fields. A corrupt
//!   entry is removed. At most `max_entries` are kept; the oldest go first.
//! - Writes go to a temporary file in the same directory, then one rename, so a reader never
//!   sees half an entry.

use std::fs::{self, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

/// The largest entry read; a real one is a few hundred bytes.
pub const MAX_ENTRY_BYTES: u64 = 4096;

/// What a pull decision depends on, hashed: build it with [`PullKey::builder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullKey([u8; 32]);

/// Collects the parts of a [`PullKey`], each length-prefixed so that no two lists of parts
/// hash alike.
pub struct PullKeyBuilder(Sha256);

impl PullKey {
    /// Starts a key (format version 1).
    pub fn builder() -> PullKeyBuilder {
        let mut builder = PullKeyBuilder(Sha256::new());
        builder.part(b"sigward pull verdict v1");
        builder
    }

    fn file_name(&self) -> String {
        format!("{}.json", base16ct::lower::encode_string(&self.0))
    }
}

impl PullKeyBuilder {
    /// Adds one part.
    pub fn part(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.update((bytes.len() as u64).to_be_bytes());
        self.0.update(bytes);
        self
    }

    /// The key.
    pub fn finish(self) -> PullKey {
        PullKey(self.0.finalize().into())
    }
}

/// One stored decision.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    /// When it stops counting, Unix seconds.
    expires: i64,
    /// The reason line printed when it was decided.
    reason: String,
}

/// A directory of allowed pull decisions (see the module docs).
#[derive(Debug)]
pub struct PullCache {
    dir: PathBuf,
    ttl: Duration,
    max_entries: usize,
    owner: u32,
}

impl PullCache {
    /// Opens (creating it, mode 0700, when missing) the cache in `dir`.
    ///
    /// # Errors
    ///
    /// Why the directory cannot be used: it cannot be made, is not a directory, belongs to
    /// another user, or others may write to it.
    pub fn open(dir: &Path, ttl: Duration, max_entries: usize) -> Result<Self, String> {
        let shown = dir.display();
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| format!("cannot create {shown}: {e}"))?;
        }
        let owner = rustix::process::geteuid().as_raw();
        let meta = fs::symlink_metadata(dir).map_err(|e| format!("cannot read {shown}: {e}"))?;
        if !meta.is_dir() {
            return Err(format!("{shown} is not a directory"));
        }
        check_private(&meta, owner).map_err(|why| format!("{shown} {why}"))?;
        Ok(Self {
            dir: dir.to_owned(),
            ttl,
            max_entries,
            owner,
        })
    }

    /// The reason stored for `key`, when an entry is there, trusted and not expired at `now`.
    pub fn get(&self, key: &PullKey, now: i64) -> Option<String> {
        let path = self.dir.join(key.file_name());
        let entry = match self.read(&path) {
            Ok(Some(entry)) => entry,
            Ok(None) => return None,
            Err(why) => {
                tracing::warn!(entry = %path.display(), "ignoring a pull cache entry: {why}");
                // A foreign or damaged entry is not ours to keep; removing may fail (then it is
                // ignored again next time).
                let _ = fs::remove_file(&path);
                return None;
            }
        };
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        (entry.expires > now && entry.expires <= now.saturating_add(ttl)).then_some(entry.reason)
    }

    /// Stores an allowed decision for `key`, then trims the directory to `max_entries`.
    ///
    /// # Errors
    ///
    /// Why it could not be written (the pull is decided anyway; only the next one is slower).
    pub fn put(&self, key: &PullKey, reason: &str, now: i64) -> Result<(), String> {
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let entry = Entry {
            expires: now.saturating_add(ttl),
            reason: reason.to_owned(),
        };
        let mut bytes = serde_json::to_vec(&entry).map_err(|e| e.to_string())?;
        if bytes.len() as u64 > MAX_ENTRY_BYTES {
            // Keep the entry readable: a shorter reason is enough for a cached pull.
            let mut short = reason.chars().take(1024).collect::<String>();
            short.push('…');
            bytes = serde_json::to_vec(&Entry {
                reason: short,
                ..entry
            })
            .map_err(|e| e.to_string())?;
        }
        let path = self.dir.join(key.file_name());
        let temporary = tempfile::Builder::new()
            .prefix(".entry-")
            .tempfile_in(&self.dir)
            .map_err(|e| format!("cannot write in {}: {e}", self.dir.display()))?;
        temporary
            .as_file()
            .write_all(&bytes)
            .map_err(|e| format!("cannot write an entry: {e}"))?;
        temporary
            .persist(&path)
            .map_err(|e| format!("cannot store an entry: {e}"))?;
        self.trim();
        Ok(())
    }

    /// Reads an entry: `None` when there is none; an error when it is not to be trusted.
    fn read(&self, path: &Path) -> Result<Option<Entry>, String> {
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let meta = file.metadata().map_err(|e| e.to_string())?;
        if !meta.is_file() {
            return Err("not a regular file".to_owned());
        }
        check_private(&meta, self.owner)?;
        if meta.len() > MAX_ENTRY_BYTES {
            return Err(format!("larger than {MAX_ENTRY_BYTES} bytes"));
        }
        let mut bytes = Vec::new();
        file.take(MAX_ENTRY_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| e.to_string())?;
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("not an entry: {e}"))
    }

    /// Removes the oldest entries beyond `max_entries` (by modification time).
    fn trim(&self) {
        let Ok(listing) = fs::read_dir(&self.dir) else {
            return;
        };
        let mut entries: Vec<(std::time::SystemTime, PathBuf)> = listing
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".json"))
            .filter_map(|entry| {
                let modified = entry.metadata().ok()?.modified().ok()?;
                Some((modified, entry.path()))
            })
            .collect();
        if entries.len() <= self.max_entries {
            return;
        }
        entries.sort();
        let excess = entries.len() - self.max_entries;
        for (_, path) in entries.into_iter().take(excess) {
            let _ = fs::remove_file(path);
        }
    }
}

/// Owned by `owner` and writable by nobody else.
fn check_private(meta: &fs::Metadata, owner: u32) -> Result<(), String> {
    if meta.uid() != owner {
        return Err(format!(
            "belongs to user {}, not to this process's user {owner}",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "may be written by others (mode {:o})",
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    const TTL: Duration = Duration::from_secs(600);

    fn key(image: &str) -> PullKey {
        let mut builder = PullKey::builder();
        builder.part(image.as_bytes());
        builder.finish()
    }

    fn cache(dir: &Path) -> PullCache {
        PullCache::open(dir, TTL, 3).unwrap()
    }

    #[test]
    fn stores_and_expires_allowed_decisions() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache(&dir.path().join("pulls"));
        let mode = fs::metadata(dir.path().join("pulls")).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700, "created private");
        assert_eq!(cache.get(&key("a"), 1000), None);
        cache.put(&key("a"), "allowed a", 1000).unwrap();
        assert_eq!(cache.get(&key("a"), 1000).as_deref(), Some("allowed a"));
        assert_eq!(cache.get(&key("b"), 1000), None, "another key");
        assert_eq!(cache.get(&key("a"), 1000 + 600), None, "expired");
        assert_eq!(cache.get(&key("a"), 1000 - 600), None, "from the future");
    }

    #[test]
    fn refuses_directories_others_may_write() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let error = PullCache::open(dir.path(), TTL, 3).unwrap_err();
        assert!(error.contains("may be written by others"), "{error}");
        let file = dir.path().join("file");
        fs::write(&file, "").unwrap();
        assert!(
            PullCache::open(&file, TTL, 3)
                .unwrap_err()
                .contains("not a directory")
        );
    }

    #[test]
    fn ignores_and_removes_untrusted_entries() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache(dir.path());
        cache.put(&key("a"), "allowed a", 1000).unwrap();
        let path = dir.path().join(key("a").file_name());

        // Writable by others: ignored and removed.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(cache.get(&key("a"), 1000), None);
        assert!(!path.exists());

        // Corrupt, unknown fields, oversized, or a symlink: ignored.
        for bytes in [
            b"{not json".to_vec(),
            br#"{"expires":2000,"reason":"x","allowed":true}"#.to_vec(),
            [b' '; 5000].to_vec(),
        ] {
            fs::write(&path, &bytes).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
            assert_eq!(cache.get(&key("a"), 1000), None);
        }
        let target = dir.path().join("elsewhere");
        fs::write(&target, br#"{"expires":2000,"reason":"planted"}"#).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert_eq!(
            cache.get(&key("a"), 1000),
            None,
            "symlinks are not followed"
        );

        // An entry claiming to outlive the TTL.
        let _ = fs::remove_file(&path);
        fs::write(&path, br#"{"expires":999999,"reason":"forever"}"#).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(cache.get(&key("a"), 1000), None);
    }

    #[test]
    fn keeps_at_most_max_entries() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache(dir.path());
        for (index, image) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            cache.put(&key(image), image, 1000).unwrap();
            // Distinct modification times, oldest first.
            let path = dir.path().join(key(image).file_name());
            let when = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(index as u64 * 10);
            File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
        let count = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(count, 3);
        assert_eq!(cache.get(&key("a"), 1000), None);
        assert_eq!(cache.get(&key("e"), 1000).as_deref(), Some("e"));
    }
}
