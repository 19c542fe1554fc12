//! Bridges the registry client (async) to the verifier's synchronous [`Fetch`] trait, which
//! the component's `fetcher` imports call into.

use std::sync::Arc;

use sigward_policy::fetch::{self, Fetch, FetchError};
use tokio::runtime::Handle;

use crate::registry::{self, RegistryError, Sources};

/// Fetches through [`Sources`], blocking the calling (non-async) thread on `handle`.
pub(crate) struct RegistryFetch {
    pub(crate) sources: Arc<Sources>,
    pub(crate) handle: Handle,
}

impl Fetch for RegistryFetch {
    fn resolve(&mut self, image: &str) -> Result<fetch::Resolved, FetchError> {
        let resolved = self
            .handle
            .block_on(self.sources.resolve(image))
            .map_err(fetch_error)?;
        Ok(fetch::Resolved {
            repository: resolved.repository,
            digest: resolved.digest,
            media_type: resolved.media_type,
        })
    }

    fn attached(
        &mut self,
        image: &str,
        digest: &str,
        kinds: fetch::Kinds,
    ) -> Result<fetch::Material, FetchError> {
        let kinds = registry::Kinds {
            signatures: kinds.signatures,
            attestations: kinds.attestations,
            bundles: kinds.bundles,
        };
        let material = self
            .handle
            .block_on(self.sources.attached(image, digest, kinds))
            .map_err(fetch_error)?;
        let layer = |layer: registry::Layer| fetch::Layer {
            media_type: layer.media_type,
            digest: layer.digest,
            annotations: layer.annotations,
            payload: layer.payload,
        };
        Ok(fetch::Material {
            signatures: material.signatures.into_iter().map(layer).collect(),
            attestations: material.attestations.into_iter().map(layer).collect(),
            bundles: material
                .bundles
                .into_iter()
                .map(|b| fetch::AttachedBundle {
                    manifest_digest: b.manifest_digest,
                    media_type: b.media_type,
                    digest: b.digest,
                    bundle: b.bundle,
                })
                .collect(),
            discovery: match material.discovery {
                registry::Discovery::None => fetch::Discovery::None,
                registry::Discovery::ReferrersApi => fetch::Discovery::ReferrersApi,
                registry::Discovery::ReferrersTag => fetch::Discovery::ReferrersTag,
                registry::Discovery::Layout => fetch::Discovery::Layout,
            },
        })
    }

    fn trusted_root(&mut self, name: &str) -> Result<Vec<u8>, FetchError> {
        Err(FetchError::Unsupported(format!(
            "trust root {name:?}: trust roots arrive with issue 3"
        )))
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
