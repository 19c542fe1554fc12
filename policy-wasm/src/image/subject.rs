//! Which image a request is about. The guest takes the digest it verifies from nobody: it
//! hashes the manifest bytes the host serves for the reference ([`resolve`]), checks that they
//! are a manifest of the type they were served as ([`crate::manifest`]), and, for a digest
//! reference, that they are exactly the bytes the reference names. The repository a signed
//! payload must name is read from the reference as the user wrote it
//! ([`crate::reference`]), never from the host.

use crate::digest::{Digest, DigestError};
use crate::error::Error;
use crate::fetch::Fetch;
use crate::manifest;
use crate::reference::{ImageReference, ReferenceError};

/// An image the verifier has identified: a digest it computed and the repository it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    digest: Digest,
    repository: Option<String>,
    media_type: &'static str,
}

impl Subject {
    /// The manifest digest, computed by the verifier from the bytes.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The normalised repository, or `None` for an OCI image layout (`oci:DIR`).
    pub fn repository(&self) -> Option<&str> {
        self.repository.as_deref()
    }

    /// The manifest's media type (one of [`manifest::MANIFEST_TYPES`]).
    pub fn media_type(&self) -> &'static str {
        self.media_type
    }

    /// A subject whose digest the test vouches for: the shared keyless fixtures sign images
    /// whose manifests are not kept.
    #[cfg(test)]
    pub(crate) fn assumed(digest: &str, repository: Option<&str>) -> Self {
        Self {
            digest: Digest::parse(digest).unwrap_or_else(|e| panic!("{e}")),
            repository: repository.map(str::to_owned),
            media_type: manifest::OCI_INDEX,
        }
    }
}

/// Identifies the image `image` names: asks the host for its manifest and checks it.
///
/// # Errors
///
/// [`Error::InvalidRequest`] when `image` is not a reference; the host's [`Error::Fetch`];
/// [`Error::BadManifest`] when the bytes are not a manifest of the type served;
/// [`Error::BadDigest`] when a digest reference is answered with other bytes.
pub fn resolve(image: &str, source: &mut impl Fetch) -> Result<Subject, Error> {
    let (repository, pinned) = read_reference(image)?;
    let served = source.resolve(image)?;
    let media_type = manifest::check(&served.bytes, &served.media_type)?;
    let digest = served.digest();
    if let Some(expected) = pinned
        && expected != digest
    {
        return Err(Error::BadDigest(DigestError::Mismatch {
            expected,
            actual: digest,
        }));
    }
    Ok(Subject {
        digest,
        repository,
        media_type,
    })
}

/// The repository (none for a layout) and the digest a reference pins, if any. A layout
/// (`oci:DIR`, `oci:DIR:TAG`, `oci:DIR@sha256:…`) pins the digest after its last `@`, as the
/// sigward CLI reads it.
fn read_reference(image: &str) -> Result<(Option<String>, Option<Digest>), Error> {
    let invalid = |detail: String| Error::InvalidRequest(format!("image {image:?}: {detail}"));
    let pinned = |digest: Option<&str>| {
        digest
            .map(Digest::parse)
            .transpose()
            .map_err(|e| invalid(e.to_string()))
    };
    match ImageReference::parse(image) {
        Ok(reference) => Ok((Some(reference.repository()), pinned(reference.digest())?)),
        Err(ReferenceError::Layout) => {
            let rest = image.strip_prefix("oci:").unwrap_or(image);
            Ok((None, pinned(rest.rsplit_once('@').map(|(_, d)| d))?))
        }
        Err(other) => Err(invalid(other.to_string())),
    }
}
