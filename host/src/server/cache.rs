//! The verdict cache: outcomes of verifications keyed by everything that decides them (the
//! image pinned by digest, the authority with its key or identities, the check, the
//! transparency-log policy and the trust root's name; when a trust root is replaced, the
//! cache is emptied, [`VerdictCache::clear`]), with a TTL — long for verified outcomes, short for failures
//! — and a size bound. Concurrent misses for one key share one verification.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sigward_policy::Reason;
use sigward_policy::admission::VerifyOutcome;
use sigward_policy::image::VerifyRequest;
use tokio::sync::OnceCell;

/// How long outcomes are kept and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// How long a verified outcome is reused.
    pub ttl: Duration,
    /// How long a failure (not verified, or not decided) is reused.
    pub failure_ttl: Duration,
    /// At most this many outcomes are kept.
    pub capacity: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(300),
            failure_ttl: Duration::from_secs(10),
            capacity: 10_000,
        }
    }
}

/// Failure reasons that say more about this request's budget than about the image; they are
/// never cached.
const UNCACHED_REASONS: [Reason; 3] =
    [Reason::Deadline, Reason::VerifierFailed, Reason::Overloaded];

struct Entry {
    outcome: VerifyOutcome,
    expires: Instant,
}

/// Verification outcomes shared across requests.
pub struct VerdictCache {
    config: CacheConfig,
    entries: Mutex<HashMap<VerifyRequest, Entry>>,
    pending: Mutex<HashMap<VerifyRequest, Arc<OnceCell<VerifyOutcome>>>>,
}

impl VerdictCache {
    /// An empty cache.
    pub fn new(config: CacheConfig) -> Self {
        Self {
            config,
            entries: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// The cache key of `request`: the request without its verification time.
    pub fn key(request: &VerifyRequest) -> VerifyRequest {
        VerifyRequest {
            at: 0,
            ..request.clone()
        }
    }

    /// A live outcome for `key`.
    pub fn get(&self, key: &VerifyRequest) -> Option<VerifyOutcome> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|entry| entry.expires > Instant::now())
            .map(|entry| entry.outcome.clone())
    }

    /// The outcome for `key`: a live cached one, else the one `verify` produces (shared with
    /// any concurrent caller asking for the same key), which is then cached. The boolean is
    /// true when `verify` did not run for this caller.
    pub async fn get_or_verify<F>(&self, key: VerifyRequest, verify: F) -> (VerifyOutcome, bool)
    where
        F: Future<Output = VerifyOutcome>,
    {
        if let Some(outcome) = self.get(&key) {
            return (outcome, true);
        }
        let cell = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(pending.entry(key.clone()).or_default())
        };
        let mut ran = false;
        let outcome = cell
            .get_or_init(|| {
                ran = true;
                verify
            })
            .await
            .clone();
        if ran {
            self.insert(key.clone(), outcome.clone());
            self.pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&key);
        }
        (outcome, !ran)
    }

    fn insert(&self, key: VerifyRequest, outcome: VerifyOutcome) {
        let ttl = match &outcome {
            Ok(verification) if verification.verified => self.config.ttl,
            Err(failure) if UNCACHED_REASONS.contains(&failure.reason) => return,
            _ => self.config.failure_ttl,
        };
        if ttl.is_zero() || self.config.capacity == 0 {
            return;
        }
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.config.capacity && !entries.contains_key(&key) {
            entries.retain(|_, entry| entry.expires > now);
        }
        if entries.len() >= self.config.capacity
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, entry)| entry.expires)
                .map(|(key, _)| key.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(
            key,
            Entry {
                outcome,
                expires: now + ttl,
            },
        );
    }

    /// Forgets every outcome (verifications running now still finish and are kept).
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// How many outcomes are held (live or expired).
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use sigward_policy::admission::{Failure, Verification};
    use sigward_policy::image::{CheckKind, TlogPolicy};

    use super::*;

    fn request(image: &str, at: i64) -> VerifyRequest {
        VerifyRequest {
            image: image.to_owned(),
            authorities: Vec::new(),
            annotations: Vec::new(),
            check: CheckKind::Signature,
            tlog: TlogPolicy::InsecureIgnore,
            signatures_from: None,
            trusted_root: "production".to_owned(),
            at,
        }
    }

    fn verified(yes: bool) -> VerifyOutcome {
        Ok(Verification {
            digest: "sha256:00".to_owned(),
            verified: yes,
            reason: (!yes).then_some(Reason::SignatureMismatch),
            detail: String::new(),
            signers: Vec::new(),
            statements: Vec::new(),
        })
    }

    fn cache(ttl: u64, failure_ttl: u64, capacity: usize) -> VerdictCache {
        VerdictCache::new(CacheConfig {
            ttl: Duration::from_secs(ttl),
            failure_ttl: Duration::from_secs(failure_ttl),
            capacity,
        })
    }

    #[tokio::test]
    async fn keys_ignore_the_time_and_outcomes_are_reused() {
        let cache = cache(300, 10, 10);
        let runs = AtomicUsize::new(0);
        let verify = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            verified(true)
        };
        let (_, reused) = cache
            .get_or_verify(VerdictCache::key(&request("a", 1)), verify())
            .await;
        assert!(!reused);
        let (outcome, reused) = cache
            .get_or_verify(VerdictCache::key(&request("a", 2)), verify())
            .await;
        assert!(reused && outcome == verified(true));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let (_, reused) = cache
            .get_or_verify(VerdictCache::key(&request("b", 2)), verify())
            .await;
        assert!(!reused, "another image is another key");
    }

    #[tokio::test]
    async fn failures_expire_on_their_own_ttl_and_budget_failures_are_not_kept() {
        let cache = cache(300, 0, 10);
        let key = VerdictCache::key(&request("a", 1));
        let _ = cache
            .get_or_verify(key.clone(), async { verified(false) })
            .await;
        assert!(cache.get(&key).is_none(), "failure TTL 0: not kept");
        let cache = self::cache(300, 10, 10);
        let _ = cache
            .get_or_verify(key.clone(), async { verified(false) })
            .await;
        assert_eq!(cache.get(&key), Some(verified(false)));
        let other = VerdictCache::key(&request("b", 1));
        let deadline = Err(Failure {
            reason: Reason::Deadline,
            message: "slow".to_owned(),
        });
        let _ = cache.get_or_verify(other.clone(), async { deadline }).await;
        assert!(cache.get(&other).is_none());
    }

    #[tokio::test]
    async fn the_size_bound_holds() {
        let cache = cache(300, 10, 3);
        for i in 0..10 {
            let key = VerdictCache::key(&request(&format!("image-{i}"), 1));
            let _ = cache.get_or_verify(key, async { verified(true) }).await;
        }
        assert_eq!(cache.len(), 3);
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_verification() {
        let cache = Arc::new(cache(300, 10, 10));
        let runs = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (cache, runs) = (Arc::clone(&cache), Arc::clone(&runs));
                tokio::spawn(async move {
                    let verify = async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        verified(true)
                    };
                    cache
                        .get_or_verify(VerdictCache::key(&request("a", 1)), verify)
                        .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.expect("task").0, verified(true));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }
}
