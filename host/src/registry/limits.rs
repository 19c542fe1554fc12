//! Size, count and time limits for everything the registry module fetches, and the helpers that
//! enforce them while bytes arrive (never after buffering everything).

use std::future::Future;
use std::time::Duration;

use super::RegistryError;
use super::budget::{Budget, DEFAULT_BUDGET_BYTES};

/// Limits applied to everything fetched from a registry or an image layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest manifest or index accepted, in bytes (default 4 MiB).
    pub manifest_bytes: u64,
    /// Largest blob (signature payload, attestation, bundle) accepted, in bytes (default 16 MiB).
    pub blob_bytes: u64,
    /// Most layers accepted in one signature manifest, and most referrers read (default 1000,
    /// cosign's own limit).
    pub layers: usize,
    /// Most pages of one referrers API listing read (`Link: <…>; rel="next"`; default 16). Each
    /// page is an index of at most `manifest_bytes`, and the entries of all pages together count
    /// against `layers`.
    pub referrer_pages: usize,
    /// Upper bound on each registry call, connection through last body byte (default 10 s).
    pub timeout: Duration,
    /// Total of bytes one verification may fetch, everything included: the default of its
    /// [`Budget`](super::Budget) (default [`DEFAULT_BUDGET_BYTES`], 64 MiB; why is said there).
    pub verification_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            manifest_bytes: 4 * 1024 * 1024,
            blob_bytes: 16 * 1024 * 1024,
            layers: 1000,
            referrer_pages: 16,
            timeout: Duration::from_secs(10),
            verification_bytes: DEFAULT_BUDGET_BYTES,
        }
    }
}

/// Checks a descriptor's advertised `size` before anything is downloaded.
///
/// Returns the size as `u64` (negative sizes are invalid).
pub(super) fn check_advertised(size: i64, limit: u64, what: &str) -> Result<u64, RegistryError> {
    let size = u64::try_from(size)
        .map_err(|_| RegistryError::Invalid(format!("{what}: negative size {size}")))?;
    if size > limit {
        return Err(RegistryError::TooLarge {
            what: what.to_owned(),
            size,
            limit,
        });
    }
    Ok(size)
}

/// Checks a collection's length (layers, referrers) against `limit`.
pub(super) fn check_count(count: usize, limit: usize, what: &str) -> Result<(), RegistryError> {
    if count > limit {
        return Err(RegistryError::TooLarge {
            what: what.to_owned(),
            size: u64::try_from(count).unwrap_or(u64::MAX),
            limit: u64::try_from(limit).unwrap_or(u64::MAX),
        });
    }
    Ok(())
}

/// A buffer that refuses to grow past a limit: the caller stops reading on the first error, so a
/// server that sends more than it promised never makes us hold more than `limit` bytes. Every
/// chunk is also taken from the verification's [`Budget`].
#[derive(Debug)]
pub(super) struct Capped<'a> {
    bytes: Vec<u8>,
    limit: u64,
    budget: &'a Budget,
}

impl<'a> Capped<'a> {
    /// An empty buffer that accepts at most `limit` bytes, and no more than `budget` has left.
    pub(super) fn new(limit: u64, budget: &'a Budget) -> Self {
        Self {
            bytes: Vec::new(),
            limit,
            budget,
        }
    }

    /// Appends `chunk`, or fails with [`RegistryError::TooLarge`] if that would pass the limit
    /// ([`RegistryError::OverBudget`] if it would pass the budget).
    pub(super) fn push(&mut self, chunk: &[u8], what: &str) -> Result<(), RegistryError> {
        let held = u64::try_from(self.bytes.len()).unwrap_or(u64::MAX);
        let incoming = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
        let total = held.saturating_add(incoming);
        if total > self.limit {
            return Err(RegistryError::TooLarge {
                what: what.to_owned(),
                size: total,
                limit: self.limit,
            });
        }
        self.budget.take(incoming, what)?;
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// The bytes received.
    pub(super) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// Runs `call` with an upper bound of `timeout`; running out is [`RegistryError::Unavailable`].
pub(super) async fn bounded<T>(
    timeout: Duration,
    what: &str,
    call: impl Future<Output = Result<T, RegistryError>>,
) -> Result<T, RegistryError> {
    match tokio::time::timeout(timeout, call).await {
        Ok(result) => result,
        Err(_) => Err(RegistryError::Unavailable(format!(
            "{what}: no answer within {timeout:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_values() {
        let limits = Limits::default();
        assert_eq!(limits.manifest_bytes, 4 << 20);
        assert_eq!(limits.blob_bytes, 16 << 20);
        assert_eq!(limits.layers, 1000);
        assert_eq!(limits.timeout, Duration::from_secs(10));
        assert_eq!(limits.verification_bytes, 64 << 20);
    }

    #[test]
    fn refuses_advertised_sizes_over_the_limit_or_negative() {
        assert_eq!(check_advertised(10, 10, "blob"), Ok(10));
        assert_eq!(
            check_advertised(11, 10, "blob"),
            Err(RegistryError::TooLarge {
                what: "blob".into(),
                size: 11,
                limit: 10
            })
        );
        assert!(matches!(
            check_advertised(-1, 10, "blob"),
            Err(RegistryError::Invalid(_))
        ));
    }

    fn unlimited() -> Budget {
        Budget::starting_now(Duration::from_secs(60), u64::MAX)
    }

    #[test]
    fn capped_buffer_stops_at_the_limit() {
        let budget = unlimited();
        let mut buffer = Capped::new(4, &budget);
        buffer.push(b"abc", "blob").unwrap();
        assert!(matches!(
            buffer.push(b"de", "blob"),
            Err(RegistryError::TooLarge {
                size: 5,
                limit: 4,
                ..
            })
        ));
        assert_eq!(buffer.into_bytes(), b"abc");
    }

    #[test]
    fn capped_buffers_share_one_budget() {
        let budget = Budget::starting_now(Duration::from_secs(60), 5);
        let mut first = Capped::new(4, &budget);
        let mut second = Capped::new(4, &budget);
        first.push(b"abc", "first").unwrap();
        second.push(b"de", "second").unwrap();
        assert!(matches!(
            second.push(b"f", "second"),
            Err(RegistryError::OverBudget {
                needed: 6,
                budget: 5,
                ..
            })
        ));
    }

    #[test]
    fn counts_over_the_limit_are_too_large() {
        assert!(check_count(3, 3, "layers").is_ok());
        assert!(matches!(
            check_count(4, 3, "layers"),
            Err(RegistryError::TooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn slow_calls_become_unavailable() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(())
        };
        let result = bounded(Duration::from_millis(10), "ping", slow).await;
        assert!(matches!(result, Err(RegistryError::Unavailable(_))));
    }
}
