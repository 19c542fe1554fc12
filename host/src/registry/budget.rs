//! The budget of one verification: a deadline and a total number of bytes, shared by every
//! registry and image-layout call that the verification makes (issue 8, items 7, 8 and 11).
//!
//! [`Limits`](super::Limits) bound each call and each object; a [`Budget`] bounds their sum.
//! Without it, one `.sig` manifest listing 1000 layers of 16 MiB each is 16 GB that every
//! per-object limit allows, and 1000 calls that each answer just inside the per-call timeout
//! keep a verification busy for hours after anyone stopped waiting for it.
//!
//! How it is used: the caller (the CLI, or the server for one admission request) makes one
//! `Arc<Budget>` per verification and passes it to every [`Sources`](super::Sources) call of
//! that verification, directly or through `fetcher::RegistryFetch::with_budget`. Then:
//! - every byte read from a registry or a layout (manifests, `.sig` / `.att` layers, referrers,
//!   blobs, token-service answers) is counted as it arrives, and reading stops with
//!   [`RegistryError::OverBudget`] the moment the total would pass [`Budget::bytes`]; a blob
//!   whose advertised size does not fit in what is left is refused before it is requested;
//! - every registry call ends at [`Budget::deadline`] at the latest (the future is dropped,
//!   which closes its connection), and no call starts once it has passed
//!   ([`RegistryError::DeadlinePassed`]).
//!
//! Everything the guest receives was fetched under the budget, so the budget also bounds what
//! crosses into the component.
//!
//! This module performs no I/O and reads no clock other than [`Instant::now`].

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::RegistryError;

/// The default total of bytes one verification may fetch: 64 MiB.
///
/// Real signature material is small: a `.sig` layer is a simple-signing payload of about 1 KiB
/// with a certificate chain of a few KiB in its annotations, and a Sigstore bundle is 5–20 KiB.
/// An image with a hundred signatures, attestations of a few MiB (SBOMs, provenance) and their
/// manifests stays well under 64 MiB. Four maximum-size blobs
/// ([`Limits::blob_bytes`](super::Limits::blob_bytes), 16 MiB) still fit, so no single object
/// the per-object limits accept is refused by the budget alone. And 64 MiB is a quarter of the
/// component's default memory cap (256 MiB), so what is fetched can cross into the guest and be
/// parsed there without the guest running out of memory first.
pub const DEFAULT_BUDGET_BYTES: u64 = 64 << 20;

/// The default overall deadline of a CLI command: 3 minutes, cosign's `--timeout` default.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(180);

/// The deadline and byte total of one verification. Share it with `Arc` between every call of
/// the verification (concurrent calls draw on the same total).
///
/// The API (`new`, `deadline`, `bytes`, `used`, `is_expired`, `within`) is stable: the server's
/// verify path builds one per verification.
#[derive(Debug)]
pub struct Budget {
    deadline: Instant,
    bytes: u64,
    used: AtomicU64,
}

impl Budget {
    /// A budget that ends at `deadline` and allows `bytes` in total.
    pub fn new(deadline: Instant, bytes: u64) -> Self {
        Self {
            deadline,
            bytes,
            used: AtomicU64::new(0),
        }
    }

    /// A budget of `bytes` that ends `timeout` from now.
    pub fn starting_now(timeout: Duration, bytes: u64) -> Self {
        Self::new(Instant::now() + timeout, bytes)
    }

    /// When every call of this verification must have ended.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The total of bytes allowed.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The bytes fetched so far.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Whether the deadline has passed.
    pub fn is_expired(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Fails with [`RegistryError::DeadlinePassed`] once the deadline has passed: called before
    /// starting anything new.
    ///
    /// # Errors
    ///
    /// [`RegistryError::DeadlinePassed`] naming `what`.
    pub fn check_deadline(&self, what: &str) -> Result<(), RegistryError> {
        if self.is_expired() {
            return Err(self.deadline_passed(what));
        }
        Ok(())
    }

    /// Runs `call` until it ends or the deadline passes, whichever is first. A call is not
    /// started at all once the deadline has passed.
    ///
    /// # Errors
    ///
    /// The call's own error, or [`RegistryError::DeadlinePassed`] naming `what`.
    pub async fn within<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, RegistryError>>,
    ) -> Result<T, RegistryError> {
        self.check_deadline(what)?;
        match tokio::time::timeout_at(self.deadline, call).await {
            Ok(result) => result,
            Err(_) => Err(self.deadline_passed(what)),
        }
    }

    /// Fails unless `size` more bytes (e.g. a blob's advertised size) fit in what is left,
    /// without taking them: a cheap refusal before a request is made.
    pub(super) fn check_fits(&self, size: u64, what: &str) -> Result<(), RegistryError> {
        let used = self.used();
        if used.saturating_add(size) > self.bytes {
            return Err(self.over(what, used.saturating_add(size)));
        }
        Ok(())
    }

    /// Takes `size` bytes that have just arrived, or fails if they pass the total (they are
    /// then counted anyway: the verification stops, and concurrent calls stop too).
    pub(super) fn take(&self, size: u64, what: &str) -> Result<(), RegistryError> {
        let before = self.used.fetch_add(size, Ordering::Relaxed);
        let after = before.saturating_add(size);
        if after > self.bytes {
            return Err(self.over(what, after));
        }
        Ok(())
    }

    fn over(&self, what: &str, needed: u64) -> RegistryError {
        RegistryError::OverBudget {
            what: what.to_owned(),
            needed,
            budget: self.bytes,
        }
    }

    fn deadline_passed(&self, what: &str) -> RegistryError {
        RegistryError::DeadlinePassed {
            what: what.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generous() -> Budget {
        Budget::starting_now(Duration::from_secs(60), 100)
    }

    #[test]
    fn counts_bytes_up_to_the_total_and_refuses_past_it() {
        let budget = generous();
        budget.take(60, "a").unwrap();
        budget.take(40, "b").unwrap();
        assert_eq!(budget.used(), 100);
        assert_eq!(
            budget.take(1, "c"),
            Err(RegistryError::OverBudget {
                what: "c".into(),
                needed: 101,
                budget: 100
            })
        );
    }

    #[test]
    fn refuses_an_advertised_size_that_does_not_fit_without_taking_it() {
        let budget = generous();
        budget.take(90, "a").unwrap();
        assert!(budget.check_fits(10, "fits").is_ok());
        assert!(matches!(
            budget.check_fits(11, "too big"),
            Err(RegistryError::OverBudget { needed: 101, .. })
        ));
        assert_eq!(budget.used(), 90);
    }

    #[test]
    fn error_names_the_budget() {
        let error = Budget::starting_now(Duration::from_secs(1), 64 << 20)
            .check_fits(65 << 20, "blob sha256:ab")
            .unwrap_err();
        let message = error.to_string();
        assert!(message.contains("blob sha256:ab"), "{message}");
        assert!(message.contains("budget"), "{message}");
        assert!(message.contains(&(64u64 << 20).to_string()), "{message}");
    }

    #[tokio::test]
    async fn nothing_starts_after_the_deadline() {
        let budget = Budget::new(Instant::now(), 100);
        assert!(budget.is_expired());
        let started = std::sync::atomic::AtomicBool::new(false);
        let result = budget
            .within("late call", async {
                started.store(true, Ordering::Relaxed);
                Ok(())
            })
            .await;
        assert!(matches!(result, Err(RegistryError::DeadlinePassed { .. })));
        assert!(!started.load(Ordering::Relaxed));
    }

    #[tokio::test]
    async fn running_calls_end_at_the_deadline() {
        let budget = Budget::starting_now(Duration::from_millis(50), 100);
        let started = Instant::now();
        let result = budget
            .within("slow call", async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(())
            })
            .await;
        assert!(matches!(result, Err(RegistryError::DeadlinePassed { .. })));
        // Generous margin: the call ended at the deadline, not after its 30 s.
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
