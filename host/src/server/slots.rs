//! The bound on concurrent verifications: a fixed number of verification slots, each held by
//! one verification from before its thread starts until that thread really ends (deadline
//! passed or not), so threads and memory stay bounded however many requests arrive.
//!
//! Fairness: a verification first takes a slot of its registry host (at most
//! [`SlotConfig::per_registry`] per host), then one of the shared slots, each queue first come,
//! first served (tokio's semaphore is fair). A slow registry can therefore hold at most its own
//! share of the shared slots, and the requests for it queue behind each other, not in front of
//! requests for other registries. A request waits for its slots until its deadline; when more
//! than [`QUEUE_FACTOR`] × `per_registry` verifications already wait for one host, it is
//! refused at once (those ahead of it would not all get a slot before their deadlines either).
//! A refusal is the failure `overloaded` (`Reason::Overloaded`), never a verification.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sigward_policy::reference::ImageReference;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, timeout_at};

use super::Metrics;

/// How many verifications may wait for one registry host, per slot of that host.
pub const QUEUE_FACTOR: usize = 4;

/// How many verifications may run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotConfig {
    /// Verifications running at once, in all (at least 1).
    pub total: usize,
    /// Verifications running at once against one registry host (at least 1, at most `total`).
    pub per_registry: usize,
}

impl Default for SlotConfig {
    fn default() -> Self {
        Self {
            total: 16,
            per_registry: 8,
        }
    }
}

/// The slots, shared by every request.
pub(crate) struct Slots {
    total: Arc<Semaphore>,
    capacity: usize,
    per_registry: usize,
    hosts: Mutex<HashMap<String, Arc<Host>>>,
    running: AtomicUsize,
    metrics: Arc<Metrics>,
}

/// One registry host's slots and how many wait for them.
struct Host {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
}

/// A verification's slots; dropping it frees them.
pub(crate) struct Slot {
    slots: Arc<Slots>,
    host: String,
    host_permit: Option<OwnedSemaphorePermit>,
    permit: Option<OwnedSemaphorePermit>,
}

/// Why no slot was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Too many verifications already wait for this registry host.
    QueueFull,
    /// No slot became free before the request's deadline.
    Deadline,
}

impl Slots {
    /// Slots as configured (each count raised to at least 1, `per_registry` capped by `total`).
    pub(crate) fn new(config: SlotConfig, metrics: Arc<Metrics>) -> Arc<Self> {
        let capacity = config.total.max(1);
        Arc::new(Self {
            total: Arc::new(Semaphore::new(capacity)),
            capacity,
            per_registry: config.per_registry.clamp(1, capacity),
            hosts: Mutex::new(HashMap::new()),
            running: AtomicUsize::new(0),
            metrics,
        })
    }

    /// Waits until `deadline` for a slot to verify `image`.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        image: &str,
        deadline: Instant,
    ) -> Result<Slot, Refusal> {
        let name = registry_host(image);
        let host = Arc::clone(
            self.lock()
                .entry(name.clone())
                .or_insert_with(|| Host::new(self.per_registry)),
        );
        // From here on the slot's drop forgets the host entry once nobody uses it.
        let mut slot = Slot {
            slots: Arc::clone(self),
            host: name,
            host_permit: None,
            permit: None,
        };
        let waiting = host.waiting.fetch_add(1, Ordering::SeqCst);
        let host_permit = if waiting >= self.per_registry.saturating_mul(QUEUE_FACTOR) {
            Err(Refusal::QueueFull)
        } else {
            acquire_by(&host.slots, deadline).await
        };
        host.waiting.fetch_sub(1, Ordering::SeqCst);
        drop(host);
        slot.host_permit = Some(host_permit?);
        slot.permit = Some(acquire_by(&self.total, deadline).await?);
        let running = self
            .running
            .fetch_add(1, Ordering::SeqCst)
            .saturating_add(1);
        self.metrics.verifications_in_flight(running);
        Ok(slot)
    }

    /// True when every slot is taken: a new verification would have to wait.
    pub(crate) fn exhausted(&self) -> bool {
        self.total.available_permits() == 0
    }

    /// How many verifications hold a slot.
    pub(crate) fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// How many slots there are in all.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Host>>> {
        self.hosts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Host {
    fn new(slots: usize) -> Arc<Self> {
        Arc::new(Self {
            slots: Arc::new(Semaphore::new(slots)),
            waiting: AtomicUsize::new(0),
        })
    }
}

async fn acquire_by(
    semaphore: &Arc<Semaphore>,
    deadline: Instant,
) -> Result<OwnedSemaphorePermit, Refusal> {
    match timeout_at(deadline, Arc::clone(semaphore).acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        // Closed semaphores never happen here; treat one like running out of time.
        Ok(Err(_)) | Err(_) => Err(Refusal::Deadline),
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.permit.take().is_some() {
            let running = self.slots.running.fetch_sub(1, Ordering::SeqCst);
            self.slots
                .metrics
                .verifications_in_flight(running.saturating_sub(1));
        }
        self.host_permit = None;
        let mut hosts = self.slots.lock();
        // Only the map holds it: nobody runs, waits or is about to wait for this host.
        if hosts
            .get(&self.host)
            .is_some_and(|host| Arc::strong_count(host) == 1 && Arc::strong_count(&host.slots) == 1)
        {
            hosts.remove(&self.host);
        }
    }
}

/// The registry an image is fetched from, as the slots group them: the verifier core's
/// normalised registry (every name of Docker Hub is `index.docker.io`); `oci:` layouts are one
/// group, and references that do not parse (denied before any fetch) another. This groups for
/// fairness only; it decides nothing.
pub(crate) fn registry_host(image: &str) -> String {
    if image.starts_with("oci:") {
        return "oci".to_owned();
    }
    ImageReference::parse(image).map_or_else(
        |_| "invalid".to_owned(),
        |reference| reference.registry().to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn slots(total: usize, per_registry: usize) -> Arc<Slots> {
        Slots::new(
            SlotConfig {
                total,
                per_registry,
            },
            Arc::new(Metrics::new()),
        )
    }

    fn soon(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    #[test]
    fn groups_images_by_registry_host() {
        for (image, host) in [
            ("nginx", "index.docker.io"),
            ("library/nginx:1", "index.docker.io"),
            ("docker.io/library/nginx", "index.docker.io"),
            ("registry-1.docker.io/x/y", "index.docker.io"),
            ("Not/valid", "invalid"),
            ("ghcr.io/org/app:v1", "ghcr.io"),
            ("127.0.0.1:5000/slow/app", "127.0.0.1:5000"),
            ("localhost/app", "localhost"),
            ("Registry.Example.COM/app", "registry.example.com"),
            ("oci:/some/path", "oci"),
        ] {
            assert_eq!(registry_host(image), host, "{image}");
        }
    }

    #[tokio::test]
    async fn one_registry_cannot_take_every_slot() {
        let slots = slots(4, 2);
        let a1 = slots.acquire("slow.example/a", soon(50)).await.unwrap();
        let a2 = slots.acquire("slow.example/b", soon(50)).await.unwrap();
        assert_eq!(
            slots.acquire("slow.example/c", soon(50)).await.err(),
            Some(Refusal::Deadline),
            "the slow registry's share is used up"
        );
        let b1 = slots.acquire("fast.example/a", soon(50)).await.unwrap();
        let b2 = slots.acquire("fast.example/b", soon(50)).await.unwrap();
        assert!(slots.exhausted());
        assert_eq!(slots.running(), 4);
        assert_eq!(
            slots.acquire("other.example/a", soon(50)).await.err(),
            Some(Refusal::Deadline)
        );
        drop((a1, b1));
        assert!(!slots.exhausted());
        let c = slots.acquire("other.example/a", soon(50)).await.unwrap();
        drop((a2, b2, c));
        assert_eq!(slots.running(), 0);
        assert!(slots.lock().is_empty(), "unused hosts are forgotten");
    }

    #[tokio::test]
    async fn a_long_queue_for_one_host_is_refused_at_once() {
        let slots = slots(2, 1);
        let held = slots.acquire("slow.example/a", soon(1000)).await.unwrap();
        let waiters: Vec<_> = (0..QUEUE_FACTOR)
            .map(|_| {
                let slots = Arc::clone(&slots);
                tokio::spawn(async move { slots.acquire("slow.example/a", soon(2000)).await.err() })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = std::time::Instant::now();
        let refused = slots.acquire("slow.example/a", soon(5000)).await.err();
        assert_eq!(refused, Some(Refusal::QueueFull));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "refused without waiting"
        );
        drop(held);
        for waiter in waiters {
            waiter.await.unwrap();
        }
    }
}
