//! Content digests (`sha256:<64 lowercase hex>`): parsing, computing, checking, and the tags
//! cosign and the OCI referrers fallback derive from them.
//!
//! Only SHA-256 is accepted. A parsed [`Digest`] is known to hold exactly 64 lowercase hex
//! digits, which is what makes it safe to use as a file name under `blobs/sha256/`.

use std::fmt::{self, Write as _};

use sha2::{Digest as _, Sha256};

use super::RegistryError;

/// A SHA-256 content digest, always `sha256:` followed by 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Digest {
    hex: String,
}

/// The cosign attachment kinds stored next to an image under a digest-derived tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Attachment {
    /// `sha256-<hex>.sig`: simple-signing payloads, one signature per layer.
    Signatures,
    /// `sha256-<hex>.att`: DSSE envelopes (legacy attestations).
    Attestations,
}

impl Digest {
    /// Parses `sha256:<64 lowercase hex>`.
    pub(super) fn parse(text: &str) -> Result<Self, RegistryError> {
        let hex = text
            .strip_prefix("sha256:")
            .ok_or_else(|| RegistryError::Invalid(format!("digest {text:?} is not sha256")))?;
        let well_formed = hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !well_formed {
            return Err(RegistryError::Invalid(format!(
                "digest {text:?} is not 64 lowercase hex digits"
            )));
        }
        Ok(Self {
            hex: hex.to_owned(),
        })
    }

    /// The digest of `bytes`.
    pub(super) fn of(bytes: &[u8]) -> Self {
        let sum = Sha256::digest(bytes);
        let mut hex = String::with_capacity(64);
        for byte in sum.iter() {
            // Writing to a String cannot fail.
            let _ = write!(hex, "{byte:02x}");
        }
        Self { hex }
    }

    /// Checks that `bytes` hash to this digest; `what` names them in the error.
    pub(super) fn verify(&self, bytes: &[u8], what: &str) -> Result<(), RegistryError> {
        let actual = Self::of(bytes);
        if actual == *self {
            Ok(())
        } else {
            Err(RegistryError::Invalid(format!(
                "{what}: content has digest {actual}, expected {self}"
            )))
        }
    }

    /// The 64 hex digits, without the algorithm.
    pub(super) fn hex(&self) -> &str {
        &self.hex
    }

    /// The cosign tag of an attachment: `sha256-<hex>.sig` or `sha256-<hex>.att`.
    // docs/formats/cosign-signatures.md, "Attachment tags": replace ':' by '-', append '.' and the
    // suffix.
    pub(super) fn attachment_tag(&self, kind: Attachment) -> String {
        let suffix = match kind {
            Attachment::Signatures => "sig",
            Attachment::Attestations => "att",
        };
        format!("sha256-{}.{suffix}", self.hex)
    }

    /// The OCI referrers tag schema fallback tag: `sha256-<hex>`.
    // docs/formats/oci.md, "Referrers tag schema".
    pub(super) fn referrers_tag(&self) -> String {
        format!("sha256-{}", self.hex)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
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
        assert!(digest.verify(b"", "empty").is_ok());
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
                matches!(Digest::parse(bad), Err(RegistryError::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_bytes_with_another_digest() {
        let digest = Digest::parse(EMPTY).unwrap();
        assert!(matches!(
            digest.verify(b"x", "blob"),
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
