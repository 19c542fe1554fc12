//! Content digests for the registry client: the core's [`Digest`] (`sha256:<64 lowercase hex>`,
//! the only kind accepted), whose errors are [`RegistryError::Invalid`] here. A parsed digest
//! holds exactly 64 lowercase hex digits, which is what makes it safe to use as a file name
//! under `blobs/sha256/`.

use sigward_policy::digest::DigestError;
pub(super) use sigward_policy::digest::{Attachment, Digest};

use super::RegistryError;

impl From<DigestError> for RegistryError {
    fn from(err: DigestError) -> Self {
        Self::Invalid(err.to_string())
    }
}

/// Checks that `bytes` hash to `digest`; `what` names them in the error.
pub(super) fn verify(digest: &Digest, bytes: &[u8], what: &str) -> Result<(), RegistryError> {
    digest
        .check(bytes)
        .map_err(|err| RegistryError::Invalid(format!("{what}: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn computes_sha256_of_bytes() {
        assert_eq!(Digest::of(b"").to_string(), EMPTY);
    }

    #[test]
    fn parses_and_round_trips() {
        let digest = Digest::parse(EMPTY).unwrap();
        assert_eq!(digest.to_string(), EMPTY);
        assert!(verify(&digest, b"", "empty").is_ok());
    }

    #[test]
    fn rejects_path_like_and_malformed_digests() {
        for bad in [
            "sha256:../../../../etc/passwd",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:e3b0",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            assert!(
                matches!(
                    Digest::parse(bad).map_err(RegistryError::from),
                    Err(RegistryError::Invalid(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_bytes_with_another_digest() {
        let digest = Digest::parse(EMPTY).unwrap();
        assert!(matches!(
            verify(&digest, b"x", "blob"),
            Err(RegistryError::Invalid(_))
        ));
    }

    #[test]
    fn derives_cosign_and_referrers_tags() {
        let digest = Digest::parse(EMPTY).unwrap();
        let hex = &EMPTY["sha256:".len()..];
        assert_eq!(
            digest.attachment_tag(Attachment::Signatures),
            format!("sha256-{hex}.sig")
        );
        assert_eq!(
            digest.attachment_tag(Attachment::Attestations),
            format!("sha256-{hex}.att")
        );
        assert_eq!(digest.referrers_tag(), format!("sha256-{hex}"));
    }
}
