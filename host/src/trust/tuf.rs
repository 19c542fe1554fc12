//! Keeping trust roots current: a TUF client (the `tough` crate) that fetches Sigstore's
//! `trusted_root.json` target from a mirror and caches it in the trust directory ([`Store`]).
//!
//! What is verified is the whole TUF chain of The Update Framework specification
//! (<https://theupdateframework.github.io/specification/latest/>, §5 "Detailed client
//! workflow"), by `tough`: root rotation (each `N+1.root.json` signed by the thresholds of both
//! `N` and `N+1`), then timestamp, snapshot and targets, each signed by its role's keys, not
//! expired, and never older than what this cache saw before (rollback and freeze protection:
//! the cached metadata is the client's memory, so a refresh starts from it); consistent
//! snapshots; and each target's length and hashes as the signed targets metadata lists them.
//! The repositories and their first roots are Sigstore's (`root.json` of
//! `https://tuf-repo-cdn.sigstore.dev` and `https://tuf-repo-cdn.sigstage.dev`, shipped in the
//! `sigstore` PyPI package, see `roots/README.md`).
//!
//! A refresh writes a new generation of the cache and puts it in force only when everything
//! verified and the target parses as a trusted root; anything less leaves the previous one in
//! force. Every fetch is bounded: per-request timeouts, an overall deadline, size limits on
//! every metadata file (`tough::Limits`) and on the target.

use std::path::Path;
use std::time::Duration;

use futures_util::TryStreamExt as _;
use reqwest::Url;
use sha2::{Digest as _, Sha256};
use sigward_policy::trust_root::TrustedRoot;
use tough::{
    ExpirationEnforcement, IntoVec as _, Limits, RepositoryLoader, TargetName, TransportError,
    TransportErrorKind, TransportStream,
};

use super::store::{SIGNING_CONFIG, State, Store, TRUSTED_ROOT};

/// The largest target accepted (Sigstore's `trusted_root.json` is under 10 KiB).
const MAX_TARGET_BYTES: u64 = 4 << 20;

/// The most root rotations walked in one refresh.
const MAX_ROOT_UPDATES: u64 = 64;

/// The largest metadata file accepted (tough's own defaults are 1 MiB for root and timestamp,
/// and 1 MiB / 10 MiB for snapshot / targets when their length is not listed).
const MAX_METADATA_BYTES: u64 = 1 << 20;

/// A TUF repository: where it is served and the root a first refresh starts from.
#[derive(Debug, Clone)]
pub struct Repository {
    /// The mirror's base URL: metadata at `<mirror>/`, targets at `<mirror>/targets/`.
    pub mirror: Url,
    /// The TUF `root.json` to trust when the cache has none from this repository.
    pub bootstrap_root: Vec<u8>,
}

/// How long a refresh may take.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Each HTTP request (connect and every read).
    pub request: Duration,
    /// The whole refresh.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            request: Duration::from_secs(10),
            total: Duration::from_secs(60),
        }
    }
}

/// What a successful refresh put in force.
#[derive(Debug, Clone)]
pub struct Refreshed {
    /// The new generation's state.
    pub state: State,
    /// The verified `trusted_root.json`.
    pub trusted_root: Vec<u8>,
    /// Whether the trusted root differs from the one in force before.
    pub changed: bool,
}

/// Why a refresh failed; the previous cache stays in force.
#[derive(Debug, thiserror::Error)]
pub enum TufError {
    /// The mirror URL cannot be used.
    #[error("TUF mirror {0}: {1}")]
    Mirror(String, String),
    /// The TUF chain did not verify, or the mirror could not be read.
    #[error("TUF repository {mirror} did not verify: {message}")]
    Verify {
        /// The mirror.
        mirror: String,
        /// The client's error, with its causes.
        message: String,
    },
    /// The repository has no `trusted_root.json` target, or it is not a trusted root.
    #[error("TUF repository {mirror}: {message}")]
    Target {
        /// The mirror.
        mirror: String,
        /// What is wrong.
        message: String,
    },
    /// The refresh took longer than allowed.
    #[error("TUF repository {0} did not answer within {1:?}")]
    Timeout(String, Duration),
    /// The cache could not be read or written.
    #[error("TUF cache {0}: {1}")]
    Cache(String, std::io::Error),
}

/// Parses a mirror URL: `https`, or `http` on a loopback address only.
///
/// # Errors
///
/// [`TufError::Mirror`] for anything else.
pub fn mirror_url(text: &str) -> Result<Url, TufError> {
    let mut url = Url::parse(text).map_err(|e| TufError::Mirror(text.to_owned(), e.to_string()))?;
    let host = url.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(TufError::Mirror(
                text.to_owned(),
                "plain HTTP is allowed only on loopback".into(),
            ));
        }
        other => {
            return Err(TufError::Mirror(
                text.to_owned(),
                format!("unsupported scheme {other:?}"),
            ));
        }
    }
    // A base URL: `targets/` and the metadata files resolve below it, not beside it.
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Refreshes the cache `store` from `repository`: verifies the chain from the cached metadata
/// (or from the bootstrap root when the cache has none from this repository), fetches the
/// targets, and puts a new generation in force.
///
/// # Errors
///
/// [`TufError`]; the generation in force is then unchanged.
pub async fn refresh(
    store: &Store,
    repository: &Repository,
    timeouts: Timeouts,
) -> Result<Refreshed, TufError> {
    let mirror = repository.mirror.to_string();
    tokio::time::timeout(timeouts.total, refresh_now(store, repository, timeouts))
        .await
        .unwrap_or(Err(TufError::Timeout(mirror, timeouts.total)))
}

async fn refresh_now(
    store: &Store,
    repository: &Repository,
    timeouts: Timeouts,
) -> Result<Refreshed, TufError> {
    let mirror = repository.mirror.to_string();
    let cache_error = |err| TufError::Cache(mirror.clone(), err);
    let bootstrap_sha256 = hex(&Sha256::digest(&repository.bootstrap_root));
    let previous = store.current().map_err(cache_error)?;
    let generation = store.begin().map_err(cache_error)?;
    // The cache is this client's memory of the repository: copied into the new generation, it
    // is what tough checks versions against, and its root is where the chain continues.
    let continued = previous
        .as_ref()
        .filter(|p| p.state.bootstrap_root_sha256 == bootstrap_sha256);
    let mut root = repository.bootstrap_root.clone();
    if let Some(previous) = continued {
        copy_files(&previous.metadata(), &generation.metadata()).map_err(cache_error)?;
        if let Ok(cached_root) = std::fs::read(generation.metadata().join("root.json")) {
            root = cached_root;
        }
    }

    let verify_error = |err: &dyn std::error::Error| TufError::Verify {
        mirror: mirror.clone(),
        message: chain(err),
    };
    let targets_url = repository
        .mirror
        .join("targets/")
        .map_err(|e| TufError::Mirror(mirror.clone(), e.to_string()))?;
    let transport = HttpTransport::new(timeouts.request, repository.mirror.scheme() == "https")
        .map_err(|e| TufError::Mirror(mirror.clone(), e.to_string()))?;
    let loaded = RepositoryLoader::new(&root, repository.mirror.clone(), targets_url)
        .transport(transport)
        .datastore(generation.metadata())
        .expiration_enforcement(ExpirationEnforcement::Safe)
        .limits(Limits {
            max_root_size: MAX_METADATA_BYTES,
            max_snapshot_size: MAX_METADATA_BYTES,
            max_targets_size: MAX_METADATA_BYTES,
            max_timestamp_size: MAX_METADATA_BYTES,
            max_root_updates: MAX_ROOT_UPDATES,
        })
        .load()
        .await
        .map_err(|e| verify_error(&e))?;

    let trusted_root = read_target(&loaded, TRUSTED_ROOT)
        .await
        .map_err(|e| verify_error(&*e))?
        .ok_or_else(|| TufError::Target {
            mirror: mirror.clone(),
            message: format!("no {TRUSTED_ROOT} target"),
        })?;
    if let Err(err) = TrustedRoot::parse(&trusted_root) {
        return Err(TufError::Target {
            mirror,
            message: format!("{TRUSTED_ROOT} is not a trusted root: {err}"),
        });
    }
    generation
        .write_target(TRUSTED_ROOT, &trusted_root)
        .map_err(cache_error)?;
    if let Some(config) = read_target(&loaded, SIGNING_CONFIG)
        .await
        .map_err(|e| verify_error(&*e))?
    {
        generation
            .write_target(SIGNING_CONFIG, &config)
            .map_err(cache_error)?;
    }

    let state = State {
        mirror: mirror.clone(),
        bootstrap_root_sha256: bootstrap_sha256,
        root_version: loaded.root().signed.version.get(),
        refreshed: crate::fetcher::unix_now(),
        timestamp_expires: loaded.timestamp().signed.expires.as_second(),
        trusted_root_sha256: hex(&Sha256::digest(&trusted_root)),
    };
    let changed = previous
        .as_ref()
        .is_none_or(|p| p.trusted_root != trusted_root);
    generation.commit(&state).map_err(cache_error)?;
    Ok(Refreshed {
        state,
        trusted_root,
        changed,
    })
}

/// The verified bytes of target `name`, `None` when the repository does not list it. Length
/// and hashes are checked while the bytes are read: only a complete, matching read is returned.
async fn read_target(
    repository: &tough::Repository,
    name: &str,
) -> Result<Option<Vec<u8>>, Box<dyn std::error::Error + Send + Sync>> {
    let name = TargetName::new(name)?;
    let Some(target) = repository.targets().signed.targets.get(&name) else {
        return Ok(None);
    };
    if target.length > MAX_TARGET_BYTES {
        return Err(format!(
            "target {} is {} bytes, over the limit of {MAX_TARGET_BYTES}",
            name.raw(),
            target.length
        )
        .into());
    }
    match repository.read_target(&name).await? {
        Some(stream) => Ok(Some(stream.into_vec().await?)),
        None => Ok(None),
    }
}

/// Copies the regular files of `from` into `to` (the cached metadata, a few small files).
fn copy_files(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// An error and its causes, each once.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        cause = inner.source();
    }
    text
}

fn hex(bytes: &[u8]) -> String {
    base16ct::lower::encode_string(bytes)
}

/// tough's transport over reqwest: HTTPS with the system roots (plain HTTP only for loopback
/// mirrors, checked by [`mirror_url`]), a timeout on connecting and on every read, and no
/// proxy surprises beyond reqwest's standard environment variables. tough counts the bytes
/// of the stream against its size limits.
#[derive(Debug, Clone)]
struct HttpTransport {
    client: reqwest::Client,
}

impl HttpTransport {
    /// With `https_only`, a redirect to plain HTTP is refused too.
    fn new(timeout: Duration, https_only: bool) -> reqwest::Result<Self> {
        let client = reqwest::Client::builder()
            .https_only(https_only)
            .user_agent(concat!("sigward/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()?;
        Ok(Self { client })
    }
}

#[tough::async_trait]
impl tough::Transport for HttpTransport {
    async fn fetch(&self, url: Url) -> Result<TransportStream, TransportError> {
        let response = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| TransportError::new_with_cause(TransportErrorKind::Other, &url, e))?;
        let status = response.status();
        // What tough's own HTTP transport treats as "not there" (it ends a root walk).
        if matches!(status.as_u16(), 403 | 404 | 410) {
            return Err(TransportError::new_with_cause(
                TransportErrorKind::FileNotFound,
                &url,
                format!("HTTP {status}"),
            ));
        }
        if !status.is_success() {
            return Err(TransportError::new_with_cause(
                TransportErrorKind::Other,
                &url,
                format!("HTTP {status}"),
            ));
        }
        let stream = response
            .bytes_stream()
            .map_err(move |e| TransportError::new_with_cause(TransportErrorKind::Other, &url, e));
        Ok(Box::pin(stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_are_https_or_loopback_http() {
        assert!(mirror_url("https://tuf-repo-cdn.sigstore.dev").is_ok());
        assert!(mirror_url("http://127.0.0.1:8080/repo").is_ok());
        assert!(mirror_url("http://[::1]:8080/").is_ok());
        assert!(mirror_url("http://localhost/").is_ok());
        assert_eq!(
            mirror_url("http://127.0.0.1:1/a/mirror").unwrap().as_str(),
            "http://127.0.0.1:1/a/mirror/"
        );
        for bad in [
            "http://tuf-repo-cdn.sigstore.dev",
            "file:///etc/tuf",
            "ftp://example.com",
            "not a url",
        ] {
            assert!(mirror_url(bad).is_err(), "{bad}");
        }
    }
}
