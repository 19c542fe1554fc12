//! Bridges the registry client (async) to the verifier's synchronous [`Fetch`] trait, which
//! the component's `fetcher` imports call into, for the CLI and the server alike.
//!
//! A CLI run knows what the verifier will ask first, so it starts fetching (tag → digest, then
//! the attached material) while the component is still loading; the verifier's calls then pick up
//! those answers. They are the same calls' results, so nothing is skipped: the verifier checks
//! them as it checks any other.
//!
//! Every call of one verification draws on one [`Budget`] (deadline and byte total, see
//! `registry::budget`): each import checks the deadline before it starts anything, and a
//! registry call still running at the deadline ends there, so a guest blocked in an import gets
//! its answer (an error) no later than the deadline.

use std::sync::Arc;

use sigward_policy::fetch::{Fetch, FetchError, Kinds, Manifest, Material};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::registry::{Budget, DEFAULT_COMMAND_TIMEOUT, RegistryError, Sources};
use crate::trust::TrustRoots;

/// What a prefetch found: the resolution, then the signatures of the digest it resolved to.
type Prefetched = (
    Result<Manifest, RegistryError>,
    Option<Result<Material, RegistryError>>,
);

/// Fetches through [`Sources`], blocking the calling (non-async) thread on `handle`.
pub struct RegistryFetch {
    sources: Arc<Sources>,
    handle: Handle,
    /// The image being prefetched and the task doing it.
    prefetch: Option<(String, JoinHandle<Prefetched>)>,
    /// Signatures a finished prefetch found: image, digest, result.
    material: Option<(String, String, Result<Material, RegistryError>)>,
    /// Trust roots by name.
    trust: Arc<TrustRoots>,
    /// What the prefetch lists.
    kinds: Kinds,
    /// The deadline and byte total of the verification this fetcher serves.
    budget: Arc<Budget>,
}

impl RegistryFetch {
    /// A fetcher with nothing prefetched and a budget of its own: [`DEFAULT_COMMAND_TIMEOUT`]
    /// from now and the byte total of `sources`' limits. Callers that know their deadline give
    /// it with [`RegistryFetch::with_budget`].
    pub fn new(sources: Arc<Sources>, handle: Handle, trust: Arc<TrustRoots>) -> Self {
        let bytes = sources.limits().verification_bytes;
        Self {
            sources,
            handle,
            prefetch: None,
            material: None,
            trust,
            kinds: Kinds::default(),
            budget: Arc::new(Budget::starting_now(DEFAULT_COMMAND_TIMEOUT, bytes)),
        }
    }

    /// This fetcher, drawing on `budget` (shared with the other calls of the same verification)
    /// instead of its own. Give it before the first call.
    #[must_use]
    pub fn with_budget(mut self, budget: Arc<Budget>) -> Self {
        self.budget = budget;
        self
    }

    /// A fetcher that starts resolving `image` and listing its signatures right away, within
    /// `budget`.
    pub fn prefetching(
        sources: Arc<Sources>,
        handle: Handle,
        trust: Arc<TrustRoots>,
        image: &str,
        kinds: Kinds,
        budget: Arc<Budget>,
    ) -> Self {
        let task = {
            let (sources, image) = (Arc::clone(&sources), image.to_owned());
            let budget = Arc::clone(&budget);
            handle.spawn(async move {
                let resolved = sources.resolve(&image, &budget).await;
                let material = match &resolved {
                    Ok(manifest) => {
                        let digest = manifest.digest().to_string();
                        let listing = sources.attached(&image, &digest, kinds, &budget);
                        Some(listing.await)
                    }
                    Err(_) => None,
                };
                (resolved, material)
            })
        };
        Self {
            sources,
            handle,
            prefetch: Some((image.to_owned(), task)),
            material: None,
            trust,
            kinds,
            budget,
        }
    }

    /// The budget this fetcher draws on.
    pub fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }

    /// The prefetched resolution of `image`, if a prefetch was started for it.
    fn prefetched(&mut self, image: &str) -> Option<Result<Manifest, RegistryError>> {
        let (_, mut task) = self
            .prefetch
            .take_if(|(prefetched, _)| prefetched == image)?;
        // The task's calls end at the deadline; waiting for it is bounded the same way, and a
        // task still running then is stopped.
        let deadline = self.budget.deadline();
        // Built inside the runtime: a timer needs one.
        let waited = self
            .handle
            .block_on(async { tokio::time::timeout_at(deadline, &mut task).await });
        let (resolved, material) = match waited {
            Ok(Ok(found)) => found,
            Ok(Err(stopped)) => {
                let message = format!("fetching {image} stopped: {stopped}");
                return Some(Err(RegistryError::Unavailable(message)));
            }
            Err(_) => {
                task.abort();
                let what = format!("resolving {image}");
                return Some(Err(RegistryError::DeadlinePassed { what }));
            }
        };
        if let (Ok(manifest), Some(material)) = (&resolved, material) {
            self.material = Some((image.to_owned(), manifest.digest().to_string(), material));
        }
        Some(resolved)
    }
}

impl Fetch for RegistryFetch {
    fn resolve(&mut self, image: &str) -> Result<Manifest, FetchError> {
        self.budget
            .check_deadline(&format!("resolving {image}"))
            .map_err(fetch_error)?;
        match self.prefetched(image) {
            Some(resolved) => resolved,
            None => self
                .handle
                .block_on(self.sources.resolve(image, &self.budget)),
        }
        .map_err(fetch_error)
    }

    fn attached(
        &mut self,
        image: &str,
        digest: &str,
        kinds: Kinds,
    ) -> Result<Material, FetchError> {
        self.budget
            .check_deadline(&format!("listing the signatures of {image}"))
            .map_err(fetch_error)?;
        let prefetched = self
            .material
            .take_if(|(i, d, _)| i == image && d == digest && kinds == self.kinds)
            .map(|(_, _, material)| material);
        match prefetched {
            Some(material) => material,
            None => self
                .handle
                .block_on(self.sources.attached(image, digest, kinds, &self.budget)),
        }
        .map_err(fetch_error)
    }

    fn trusted_root(&mut self, name: &str) -> Result<Vec<u8>, FetchError> {
        self.budget
            .check_deadline(&format!("trusted root {name}"))
            .map_err(fetch_error)?;
        self.trust
            .get(name)
            .map(|bytes| bytes.to_vec())
            .map_err(|e| FetchError::NotFound(e.to_string()))
    }
}

/// The guest's error for `err`: the kind goes in the variant (which becomes the reason code,
/// e.g. `fetch-unavailable`), only the detail in the message, so nothing is said twice.
fn fetch_error(err: RegistryError) -> FetchError {
    match err {
        RegistryError::NotFound(detail) => FetchError::NotFound(detail),
        RegistryError::Denied(detail) => FetchError::Denied(detail),
        RegistryError::Invalid(detail) => FetchError::Invalid(detail),
        RegistryError::Unavailable(detail) => FetchError::Unavailable(detail),
        RegistryError::Unsupported(detail) => FetchError::Unsupported(detail),
        err @ (RegistryError::TooLarge { .. } | RegistryError::OverBudget { .. }) => {
            FetchError::TooLarge(err.to_string())
        }
        err @ RegistryError::DeadlinePassed { .. } => FetchError::Unavailable(err.to_string()),
    }
}

impl Drop for RegistryFetch {
    /// Work whose answer nobody will read is cancelled: a prefetch still running when the
    /// verification ends (it failed early, or never asked) is stopped, not left fetching.
    fn drop(&mut self) {
        if let Some((_, task)) = self.prefetch.take() {
            task.abort();
        }
    }
}

/// Seconds since the Unix epoch: the time verifications are judged at (the verifier itself
/// never reads a clock).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::time::Duration;

    use tokio::time::Instant;

    use super::*;
    use crate::registry::{Credentials, Options};

    fn fetcher(io: &tokio::runtime::Runtime, budget: Budget) -> RegistryFetch {
        let options = Options {
            credentials: Credentials::Anonymous,
            ..Options::default()
        };
        let sources = Arc::new(Sources::new(options).unwrap());
        let trust = Arc::new(TrustRoots::new().unwrap());
        RegistryFetch::new(sources, io.handle().clone(), trust).with_budget(Arc::new(budget))
    }

    fn io() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    }

    // Issue 8, item 8: once the verification's deadline has passed, no import starts anything.
    #[test]
    fn no_import_starts_after_the_deadline() {
        let io = io();
        let registry = TcpListener::bind("127.0.0.1:0").unwrap();
        registry.set_nonblocking(true).unwrap();
        let image = format!("{}/repo:v1", registry.local_addr().unwrap());
        let mut fetch = fetcher(&io, Budget::new(Instant::now(), u64::MAX));
        let digest = format!("sha256:{}", "a".repeat(64));
        let results = [
            fetch.resolve(&image).map(drop),
            fetch.attached(&image, &digest, Kinds::ALL).map(drop),
            fetch.trusted_root(crate::trust::PRODUCTION_NAME).map(drop),
        ];
        for result in results {
            assert!(
                matches!(&result, Err(FetchError::Unavailable(message)) if message.contains("deadline")),
                "{result:?}"
            );
        }
        // Nobody knocked.
        assert!(registry.accept().is_err());
    }

    // Issue 8, items 8 and 11: an import blocked on a registry that never answers returns at
    // the verification's deadline, well before the per-call timeout (10 s).
    #[test]
    fn a_running_import_ends_at_the_deadline() {
        let io = io();
        let registry = TcpListener::bind("127.0.0.1:0").unwrap();
        let image = format!("{}/repo:v1", registry.local_addr().unwrap());
        // Accepts and never answers.
        let _silent = std::thread::spawn(move || {
            let held: Vec<_> = registry.incoming().take(4).collect();
            std::thread::sleep(Duration::from_secs(30));
            drop(held);
        });
        let mut fetch = fetcher(
            &io,
            Budget::starting_now(Duration::from_millis(300), u64::MAX),
        );
        let started = std::time::Instant::now();
        let result = fetch.resolve(&image);
        assert!(
            matches!(&result, Err(FetchError::Unavailable(message)) if message.contains("deadline")),
            "{result:?}"
        );
        // Generous margin over the 300 ms deadline; the per-call timeout would be 10 s.
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    // The same through a prefetch (the CLI's path): waiting for it ends at the deadline too.
    #[test]
    fn a_prefetch_ends_at_the_deadline() {
        let io = io();
        let registry = TcpListener::bind("127.0.0.1:0").unwrap();
        let image = format!("{}/repo:v1", registry.local_addr().unwrap());
        let _silent = std::thread::spawn(move || {
            let held: Vec<_> = registry.incoming().take(4).collect();
            std::thread::sleep(Duration::from_secs(30));
            drop(held);
        });
        let sources = Arc::new(Sources::new(Options::default()).unwrap());
        let trust = Arc::new(TrustRoots::new().unwrap());
        let budget = Budget::starting_now(Duration::from_millis(300), u64::MAX);
        let handle = io.handle().clone();
        let mut fetch = RegistryFetch::prefetching(
            sources,
            handle,
            trust,
            &image,
            Kinds::ALL,
            Arc::new(budget),
        );
        let started = std::time::Instant::now();
        let result = fetch.resolve(&image);
        assert!(
            matches!(&result, Err(FetchError::Unavailable(message)) if message.contains("deadline")),
            "{result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn budget_errors_reach_the_guest_as_too_large() {
        let error = fetch_error(RegistryError::OverBudget {
            what: "blob sha256:ab".into(),
            needed: 2,
            budget: 1,
        });
        assert!(
            matches!(&error, FetchError::TooLarge(message) if message.contains("fetch budget")),
            "{error:?}"
        );
    }
}
