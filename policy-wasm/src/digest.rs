//! OCI content digests (`sha256:<64 hex>`): parsing and checking bytes against them.
//!
//! Only SHA-256 is accepted: it is what cosign, the OCI distribution spec's default and every
//! registry we target use. This module never performs I/O.

use core::fmt;

use sha2::{Digest as _, Sha256};

/// A parsed `sha256:<hex>` digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

/// Why a digest string was rejected, or bytes did not match it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The string is not `sha256:` followed by 64 lowercase hex digits.
    #[error("{0:?} is not a sha256 digest (sha256:<64 lowercase hex digits>)")]
    Malformed(String),
    /// The bytes hash to something else.
    #[error("content digest is {actual}, expected {expected}")]
    Mismatch {
        /// The digest the content should have had.
        expected: Digest,
        /// The digest the content has.
        actual: Digest,
    },
}

impl Digest {
    /// Parses `sha256:<64 lowercase hex digits>`.
    ///
    /// # Errors
    ///
    /// [`DigestError::Malformed`] for any other algorithm, length or character.
    pub fn parse(text: &str) -> Result<Self, DigestError> {
        let hex = text
            .strip_prefix("sha256:")
            .filter(|hex| hex.len() == 64)
            .filter(|hex| {
                hex.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            })
            .ok_or_else(|| DigestError::Malformed(text.to_owned()))?;
        Ok(Self {
            hex: hex.to_owned(),
        })
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self {
            hex: hex_lower(&Sha256::digest(bytes)),
        }
    }

    /// Checks that `bytes` hash to this digest.
    ///
    /// # Errors
    ///
    /// [`DigestError::Mismatch`] with both digests when they differ.
    pub fn check(&self, bytes: &[u8]) -> Result<(), DigestError> {
        let actual = Self::of(bytes);
        if actual == *self {
            Ok(())
        } else {
            Err(DigestError::Mismatch {
                expected: self.clone(),
                actual,
            })
        }
    }

    /// The 32 bytes of the SHA-256 hash.
    pub fn bytes(&self) -> [u8; 32] {
        let mut out = [0; 32];
        // A parsed digest holds exactly 64 lowercase hex digits.
        let _ = base16ct::lower::decode(&self.hex, &mut out);
        out
    }

    /// The 64 hex digits without the algorithm prefix.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

/// The cosign attachment kinds stored next to an image under a digest-derived tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attachment {
    /// `sha256-<hex>.sig`: simple-signing payloads, one signature per layer.
    Signatures,
    /// `sha256-<hex>.att`: DSSE envelopes (legacy attestations).
    Attestations,
}

impl Digest {
    /// The cosign tag of an attachment: `sha256-<hex>.sig` or `sha256-<hex>.att`
    /// (docs/formats/cosign-signatures.md, "Attachment tags").
    pub fn attachment_tag(&self, kind: Attachment) -> String {
        let suffix = match kind {
            Attachment::Signatures => "sig",
            Attachment::Attestations => "att",
        };
        format!("sha256-{}.{suffix}", self.hex)
    }

    /// The OCI referrers tag schema's fallback tag: `sha256-<hex>` (docs/formats/oci.md,
    /// "Referrers tag schema").
    pub fn referrers_tag(&self) -> String {
        format!("sha256-{}", self.hex)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    base16ct::lower::encode_string(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_and_prints_sha256() {
        let digest = Digest::parse(EMPTY).unwrap();
        assert_eq!(digest.to_string(), EMPTY);
        assert_eq!(Digest::of(b""), digest);
    }

    #[test]
    fn rejects_other_algorithms_lengths_and_case() {
        for text in [
            "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:e3b0c4",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:../../../../etc/passwd",
        ] {
            assert_eq!(
                Digest::parse(text),
                Err(DigestError::Malformed(text.to_owned()))
            );
        }
    }

    #[test]
    fn check_reports_both_digests() {
        let digest = Digest::parse(EMPTY).unwrap();
        assert!(digest.check(b"").is_ok());
        let err = digest.check(b"x").unwrap_err();
        assert!(matches!(err, DigestError::Mismatch { actual, .. } if actual == Digest::of(b"x")));
    }
}
