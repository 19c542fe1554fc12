//! What keeps a call within a request's deadline on the host's side of the boundary: the
//! guest's epoch deadline stops wasm code, but not an import that is running, so fetches asked
//! for after the deadline are refused here before they start.

use std::time::Instant;

use sigward_policy::fetch::{Fetch, FetchError, Kinds, Manifest, Material};

/// A source that refuses every fetch asked for after `until`: the guest cannot be
/// interrupted while an import runs (epochs only count in wasm code), so an import that starts
/// after the deadline must not start the fetch at all.
pub(super) struct Until {
    pub(super) inner: Box<dyn Fetch + Send>,
    pub(super) until: Instant,
}

impl Until {
    fn check(&self) -> Result<(), FetchError> {
        if Instant::now() >= self.until {
            return Err(FetchError::Unavailable(
                "the request's deadline passed".to_owned(),
            ));
        }
        Ok(())
    }
}

impl Fetch for Until {
    fn resolve(&mut self, image: &str) -> Result<Manifest, FetchError> {
        self.check()?;
        self.inner.resolve(image)
    }

    fn attached(
        &mut self,
        image: &str,
        digest: &str,
        kinds: Kinds,
    ) -> Result<Material, FetchError> {
        self.check()?;
        self.inner.attached(image, digest, kinds)
    }

    fn trusted_root(&mut self, name: &str) -> Result<Vec<u8>, FetchError> {
        self.check()?;
        self.inner.trusted_root(name)
    }
}

/// A source with nothing in it (for `Runtime::check`, which makes no call).
pub(super) struct Nothing;

impl Fetch for Nothing {
    fn resolve(&mut self, image: &str) -> Result<Manifest, FetchError> {
        Err(FetchError::NotFound(image.to_owned()))
    }

    fn attached(&mut self, image: &str, _: &str, _: Kinds) -> Result<Material, FetchError> {
        Err(FetchError::NotFound(image.to_owned()))
    }

    fn trusted_root(&mut self, name: &str) -> Result<Vec<u8>, FetchError> {
        Err(FetchError::NotFound(name.to_owned()))
    }
}
