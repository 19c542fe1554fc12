//! Bridges the registry client (async) to the verifier's synchronous [`Fetch`] trait, which
//! the component's `fetcher` imports call into, for the CLI and the server alike.
//!
//! A CLI run knows what the verifier will ask first, so it starts fetching (tag → digest, then
//! the attached material) while the component is still loading; the verifier's calls then pick up
//! those answers. They are the same calls' results, so nothing is skipped: the verifier checks
//! them as it checks any other.

use std::sync::Arc;

use sigward_policy::fetch::{Fetch, FetchError, Kinds, Material, Resolved};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::registry::{RegistryError, Sources};
use crate::trust::TrustRoots;

/// What a prefetch found: the resolution, then the signatures of the digest it resolved to.
type Prefetched = (
    Result<Resolved, RegistryError>,
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
}

impl RegistryFetch {
    /// A fetcher with nothing prefetched.
    pub fn new(sources: Arc<Sources>, handle: Handle, trust: Arc<TrustRoots>) -> Self {
        Self {
            sources,
            handle,
            prefetch: None,
            material: None,
            trust,
            kinds: Kinds::default(),
        }
    }

    /// A fetcher that starts resolving `image` and listing its signatures right away.
    pub fn prefetching(
        sources: Arc<Sources>,
        handle: Handle,
        trust: Arc<TrustRoots>,
        image: &str,
        kinds: Kinds,
    ) -> Self {
        let task = {
            let (sources, image) = (Arc::clone(&sources), image.to_owned());
            handle.spawn(async move {
                let resolved = sources.resolve(&image).await;
                let material = match &resolved {
                    Ok(resolved) => Some(sources.attached(&image, &resolved.digest, kinds).await),
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
        }
    }

    /// The prefetched resolution of `image`, if a prefetch was started for it.
    fn prefetched(&mut self, image: &str) -> Option<Result<Resolved, RegistryError>> {
        let (_, task) = self
            .prefetch
            .take_if(|(prefetched, _)| prefetched == image)?;
        let (resolved, material) = self.handle.block_on(task).ok()?;
        if let (Ok(resolved), Some(material)) = (&resolved, material) {
            self.material = Some((image.to_owned(), resolved.digest.clone(), material));
        }
        Some(resolved)
    }
}

impl Fetch for RegistryFetch {
    fn resolve(&mut self, image: &str) -> Result<Resolved, FetchError> {
        match self.prefetched(image) {
            Some(resolved) => resolved,
            None => self.handle.block_on(self.sources.resolve(image)),
        }
        .map_err(fetch_error)
    }

    fn attached(
        &mut self,
        image: &str,
        digest: &str,
        kinds: Kinds,
    ) -> Result<Material, FetchError> {
        let prefetched = self
            .material
            .take_if(|(i, d, _)| i == image && d == digest && kinds == self.kinds)
            .map(|(_, _, material)| material);
        match prefetched {
            Some(material) => material,
            None => self
                .handle
                .block_on(self.sources.attached(image, digest, kinds)),
        }
        .map_err(fetch_error)
    }

    fn trusted_root(&mut self, name: &str) -> Result<Vec<u8>, FetchError> {
        self.trust
            .get(name)
            .map(<[u8]>::to_vec)
            .map_err(|e| FetchError::NotFound(e.to_string()))
    }
}

fn fetch_error(err: RegistryError) -> FetchError {
    let message = err.to_string();
    match err {
        RegistryError::NotFound(..) => FetchError::NotFound(message),
        RegistryError::Denied(..) => FetchError::Denied(message),
        RegistryError::TooLarge { .. } => FetchError::TooLarge(message),
        RegistryError::Invalid(..) => FetchError::Invalid(message),
        RegistryError::Unavailable(..) => FetchError::Unavailable(message),
        RegistryError::Unsupported(..) => FetchError::Unsupported(message),
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
