//! The admission [`Service`]: answers `/validate`, `/mutate` and `/gatekeeper` by running the
//! core's phases (`sigward_policy::admission`) with this host's I/O: tags resolved
//! concurrently, each distinct verification run once in the component (or taken from the
//! [`VerdictCache`]), everything under one deadline per request. What misses the deadline is a
//! failure like any other, so an answer is always sent and it fails closed unless the policy
//! only warns.
//!
//! Verifications run in a bounded number of slots (see `slots`), and each one ends at its
//! request's deadline: the guest's time limit is the time left, and fetches asked for after it
//! are refused. Readiness (`/readyz`) is false while every slot is taken or the component
//! cannot be instantiated.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};
use sigward_policy::Reason;
use sigward_policy::admission::{
    AdmissionError, Decision, Failure, Plan, Resolution, Review, Settings, TagHandling,
    Verification, VerifyOutcome, provider_error, provider_keys, review_error,
};
use sigward_policy::fetch::{Fetch, FetchError, Kinds, Manifest, Material};
use sigward_policy::image::{CheckKind, VerifyRequest};
use sigward_policy::policy::ClusterImagePolicy;
use tokio::runtime::Handle;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::cache::VerdictCache;
use super::slots::{Refusal, SlotConfig, Slots};
use super::{Endpoint, Metrics, Reply, Ruling, Service};
use crate::fetcher::RegistryFetch;
use crate::registry::Sources;
use crate::runtime::{Runtime, RuntimeError};
use crate::trust::TrustRoots;

/// What the admission service decides with.
pub struct Admission {
    /// The loaded policies.
    pub policies: Vec<ClusterImagePolicy>,
    /// No-match and tag handling, trust root (`at` is set per request).
    pub settings: Settings,
    /// The budget of one request, I/O included; keep it below the webhook's `timeoutSeconds`.
    pub deadline: Duration,
    /// How many verifications may run at once, in all and per registry host.
    pub slots: SlotConfig,
}

/// How long a readiness check of the component is reused.
const READINESS_CHECK_TTL: Duration = Duration::from_secs(1);

/// Answers admission requests; cheap to clone.
#[derive(Clone)]
pub struct AdmissionService {
    inner: Arc<Inner>,
}

struct Inner {
    admission: Admission,
    /// The policies in force: [`Admission::policies`] until [`AdmissionService::replace_policies`].
    policies: RwLock<Arc<Vec<ClusterImagePolicy>>>,
    runtime: Arc<Runtime>,
    sources: Arc<Sources>,
    trust: Arc<TrustRoots>,
    cache: VerdictCache,
    metrics: Arc<Metrics>,
    slots: Arc<Slots>,
    /// When the component was last instantiated for readiness, and whether that worked.
    instantiable: Mutex<Option<(std::time::Instant, bool)>>,
}

impl AdmissionService {
    /// A service over loaded policies, a component runtime, registries and trust roots.
    pub fn new(
        admission: Admission,
        runtime: Arc<Runtime>,
        sources: Arc<Sources>,
        trust: Arc<TrustRoots>,
        cache: VerdictCache,
        metrics: Arc<Metrics>,
    ) -> Self {
        let slots = Slots::new(admission.slots, Arc::clone(&metrics));
        Self {
            inner: Arc::new(Inner {
                policies: RwLock::new(Arc::new(admission.policies.clone())),
                slots,
                instantiable: Mutex::new(None),
                admission,
                runtime,
                sources,
                trust,
                cache,
                metrics,
            }),
        }
    }
}

impl AdmissionService {
    /// Puts new policies in force for the requests that start from now on (requests already
    /// deciding finish with the policies they started with). Cached verdicts stay valid: they
    /// are keyed by the authorities themselves.
    pub fn replace_policies(&self, policies: Vec<ClusterImagePolicy>) {
        *self
            .inner
            .policies
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(policies);
    }
}

impl AdmissionService {
    /// Puts a new `trusted_root.json` in force under `name` for the verifications that start
    /// from now on, and forgets cached verdicts (they were reached under the old root). False
    /// when those bytes were already in force (nothing changes).
    pub fn replace_trust_root(&self, name: &str, bytes: Vec<u8>) -> bool {
        if self.inner.trust.get(name).is_ok_and(|old| *old == *bytes) {
            return false;
        }
        self.inner.trust.replace(name, bytes);
        self.inner.cache.clear();
        true
    }
}

/// One AdmissionReview decided: the webhook's answer, and the decision explained for people.
pub struct Answer {
    /// What `/validate` or `/mutate` answers.
    pub reply: Reply,
    /// One line per image and policy (empty when the review could not be read).
    pub explanation: Vec<String>,
}

impl AdmissionService {
    /// Decides one AdmissionReview as `/validate` (or, with `mutate`, `/mutate`) does, within
    /// the service's deadline: the one admission pipeline every caller shares (`sigward serve`,
    /// `sigward evaluate`).
    pub async fn answer(&self, body: &[u8], mutate: bool) -> Answer {
        let deadline = Instant::now() + self.inner.admission.deadline;
        self.inner.review(body, mutate, deadline).await
    }

    /// Decides whether a node may pull `image` (`name@sha256:…`, the digest the runtime
    /// resolved), within the service's deadline: the same policies and decision as admission,
    /// with the image matched as the Gatekeeper provider's keys are (by glob only; a pull has
    /// no workload for `match` selectors, so every policy whose globs match applies). A
    /// reference that is not pinned by digest is denied: a pull is judged at the digest the
    /// runtime will fetch, never at a tag resolved again.
    pub async fn judge_pull(&self, image: &str) -> Decision {
        let deadline = Instant::now() + self.inner.admission.deadline;
        let mut settings = self.inner.settings();
        settings.tags = TagHandling::RequireDigest;
        self.inner
            .decide(
                Review::of_images("pull", &[image.to_owned()]),
                settings,
                deadline,
            )
            .await
    }
}

impl Service for AdmissionService {
    fn handle(&self, endpoint: Endpoint, body: Bytes) -> impl Future<Output = Reply> + Send {
        let inner = Arc::clone(&self.inner);
        async move {
            let deadline = Instant::now() + inner.admission.deadline;
            match endpoint {
                Endpoint::Validate => inner.review(&body, false, deadline).await.reply,
                Endpoint::Mutate => inner.review(&body, true, deadline).await.reply,
                Endpoint::Gatekeeper => inner.gatekeeper(&body, deadline).await,
            }
        }
    }

    fn ready(&self) -> bool {
        if self.inner.slots.exhausted() {
            tracing::debug!(
                running = self.inner.slots.running(),
                "not ready: every verification slot is taken"
            );
            return false;
        }
        self.inner.instantiable()
    }
}

impl Inner {
    /// Whether the component can be instantiated, checked at most once per
    /// [`READINESS_CHECK_TTL`] (probes may come often; an instantiation costs about a
    /// millisecond).
    fn instantiable(&self) -> bool {
        let mut last = self
            .instantiable
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((at, ok)) = *last
            && at.elapsed() < READINESS_CHECK_TTL
        {
            return ok;
        }
        let ok = match self.runtime.check() {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(error = %error, "not ready: the component cannot be instantiated");
                false
            }
        };
        *last = Some((std::time::Instant::now(), ok));
        ok
    }

    async fn review(self: &Arc<Self>, body: &[u8], mutate: bool, deadline: Instant) -> Answer {
        let review = match Review::parse(body) {
            Ok(review) => review,
            Err(AdmissionError::Object { uid, message }) => {
                tracing::info!(uid, message, "denied: the object cannot be checked");
                return Answer {
                    reply: reply(StatusCode::OK, &review_error(&uid, &message), Ruling::Deny),
                    explanation: vec![message],
                };
            }
            Err(error) => {
                return Answer {
                    reply: reply(
                        StatusCode::BAD_REQUEST,
                        &json!({ "error": error.to_string() }),
                        Ruling::Error,
                    ),
                    explanation: Vec::new(),
                };
            }
        };
        // The mutating webhook pins tags; validation behind it may require digests.
        let settings = if mutate {
            self.settings().for_mutation()
        } else {
            self.settings()
        };
        let decision = self.decide(review, settings, deadline).await;
        if !decision.allowed {
            tracing::info!(uid = decision.uid, message = decision.message, "denied");
        }
        Answer {
            reply: reply(
                StatusCode::OK,
                &decision.review_response(mutate),
                outcome(&decision),
            ),
            explanation: decision.explanation,
        }
    }

    async fn gatekeeper(self: &Arc<Self>, body: &[u8], deadline: Instant) -> Reply {
        let keys = match provider_keys(body) {
            Ok(keys) => keys,
            Err(error) => {
                return reply(
                    StatusCode::BAD_REQUEST,
                    &provider_error(&error.to_string()),
                    Ruling::Error,
                );
            }
        };
        let mut settings = self.settings();
        settings.tags = TagHandling::VerifyResolved;
        let decision = self
            .decide(Review::of_images("gatekeeper", &keys), settings, deadline)
            .await;
        reply(
            StatusCode::OK,
            &decision.provider_response(),
            outcome(&decision),
        )
    }

    fn settings(&self) -> Settings {
        Settings {
            at: crate::fetcher::unix_now(),
            ..self.admission.settings.clone()
        }
    }

    async fn decide(
        self: &Arc<Self>,
        review: Review,
        settings: Settings,
        deadline: Instant,
    ) -> Decision {
        let policies = Arc::clone(&self.policies.read().unwrap_or_else(PoisonError::into_inner));
        let plan = Plan::new(review, &policies, settings);
        let resolutions = self.resolve_all(plan.tags_to_resolve(), deadline).await;
        let outcomes = self
            .verify_all(plan.verifications(&resolutions), deadline)
            .await;
        plan.decide(&resolutions, &outcomes)
    }

    /// Resolves every tag concurrently, each within the request's deadline.
    async fn resolve_all(
        self: &Arc<Self>,
        tags: Vec<String>,
        deadline: Instant,
    ) -> BTreeMap<String, Resolution> {
        let mut tasks = JoinSet::new();
        for tag in tags {
            let inner = Arc::clone(self);
            tasks.spawn(async move {
                inner.metrics.registry_fetch("resolve");
                let budget = inner.sources.budget(deadline);
                let resolving = inner.sources.resolve(&tag, &budget);
                let resolved = tokio::time::timeout_at(deadline, resolving).await;
                let resolution = match resolved {
                    Ok(Ok(manifest)) => Ok(manifest.digest().to_string()),
                    Ok(Err(error)) => Err(error.to_string()),
                    Err(_) => Err("deadline: the registry did not answer in time".to_owned()),
                };
                (tag, resolution)
            });
        }
        let mut resolutions = BTreeMap::new();
        while let Some(joined) = tasks.join_next().await {
            if let Ok((tag, resolution)) = joined {
                resolutions.insert(tag, resolution);
            }
        }
        resolutions
    }

    /// Runs each verification once: from the cache, or in the component (concurrently).
    async fn verify_all(
        self: &Arc<Self>,
        requests: Vec<VerifyRequest>,
        deadline: Instant,
    ) -> Vec<(VerifyRequest, VerifyOutcome)> {
        let mut outcomes = Vec::with_capacity(requests.len());
        let mut tasks = JoinSet::new();
        for request in requests {
            let key = VerdictCache::key(&request);
            if let Some(outcome) = self.cache.get(&key) {
                self.metrics.cache("hit");
                outcomes.push((request, outcome));
                continue;
            }
            let inner = Arc::clone(self);
            tasks.spawn(async move {
                let verify = Arc::clone(&inner).verify(request.clone(), deadline);
                let (outcome, shared) = inner.cache.get_or_verify(key, verify).await;
                inner.metrics.cache(if shared { "hit" } else { "miss" });
                (request, outcome)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(pair) => outcomes.push(pair),
                Err(error) => tracing::warn!("a verification task failed: {error}"),
            }
        }
        outcomes
    }

    /// One verification in a fresh component instance, on a blocking thread, in a slot.
    async fn verify(self: Arc<Self>, request: VerifyRequest, deadline: Instant) -> VerifyOutcome {
        let started = std::time::Instant::now();
        let slot = match self.slots.acquire(&request.image, deadline).await {
            Ok(slot) => slot,
            Err(refusal) => {
                self.metrics.verification_refused(Reason::Overloaded.code());
                let why = match refusal {
                    Refusal::QueueFull => "too many verifications wait for this registry",
                    Refusal::Deadline => "no verification slot was free before the deadline",
                };
                tracing::debug!(image = request.image, why, "verification refused");
                let message = format!(
                    "{why} ({} verifications running); try again",
                    self.slots.capacity()
                );
                return Err(Failure::new(Reason::Overloaded, message));
            }
        };
        let runtime = Arc::clone(&self.runtime);
        let source = Counting {
            // Every fetch of this verification ends at the request's deadline (a call still
            // running then is dropped) and draws on one byte budget.
            inner: RegistryFetch::new(
                Arc::clone(&self.sources),
                Handle::current(),
                Arc::clone(&self.trust),
            )
            .with_budget(Arc::new(self.sources.budget(deadline))),
            metrics: Arc::clone(&self.metrics),
        };
        let statements = request.check != CheckKind::Signature;
        let image = request.image.clone();
        let until = deadline.into_std();
        let task = tokio::task::spawn_blocking(move || {
            // The slot is freed when this thread is done, not when the answer is sent.
            let _slot = slot;
            runtime.verify_image_until(&request, Box::new(source), until)
        });
        let outcome = match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(Ok(Ok(report)))) => Ok(Verification::of(&report, statements)),
            Ok(Ok(Ok(Err(failure)))) => Err(failure),
            Ok(Ok(Err(error))) => Err(runtime_failure(&image, &error)),
            Err(_) => Err(deadline_failure()),
            Ok(Err(error)) => {
                tracing::error!(image, error = %error, "a verification thread failed");
                Err(Failure::new(
                    Reason::VerifierFailed,
                    "the verification failed unexpectedly",
                ))
            }
        };
        let label = match &outcome {
            Ok(verification) if verification.verified => "verified",
            Ok(_) => "not-verified",
            Err(_) => "error",
        };
        self.metrics
            .verification(label, started.elapsed().as_secs_f64());
        outcome
    }
}

/// What the client is told when the component gave no answer. The full error (a trap's wasm
/// backtrace, with function names and offsets of the verifier) is logged; the client gets
/// [`RuntimeError::summary`].
fn runtime_failure(image: &str, error: &RuntimeError) -> Failure {
    if let RuntimeError::Deadline(_) = error {
        return deadline_failure();
    }
    tracing::warn!(image, error = %error, "the verifier gave no answer");
    Failure::new(Reason::VerifierFailed, error.summary())
}

fn deadline_failure() -> Failure {
    Failure::new(
        Reason::Deadline,
        "verification did not finish within the request's deadline",
    )
}

/// Counts the registry fetches the verifier makes.
struct Counting {
    inner: RegistryFetch,
    metrics: Arc<Metrics>,
}

impl Fetch for Counting {
    fn resolve(&mut self, image: &str) -> Result<Manifest, FetchError> {
        self.metrics.registry_fetch("resolve");
        self.inner.resolve(image)
    }

    fn attached(
        &mut self,
        image: &str,
        digest: &str,
        kinds: Kinds,
    ) -> Result<Material, FetchError> {
        self.metrics.registry_fetch("attached");
        self.inner.attached(image, digest, kinds)
    }

    fn trusted_root(&mut self, name: &str) -> Result<Vec<u8>, FetchError> {
        self.inner.trusted_root(name)
    }
}

fn outcome(decision: &Decision) -> Ruling {
    if !decision.allowed {
        Ruling::Deny
    } else if decision.warnings.is_empty() {
        Ruling::Allow
    } else {
        Ruling::Warn
    }
}

fn reply(status: StatusCode, body: &Value, decision: Ruling) -> Reply {
    Reply {
        status,
        body: serde_json::to_vec(body).unwrap_or_default(),
        decision,
    }
}

#[cfg(test)]
mod tests {
    use sigward_policy::authority::{Authority, NamedAuthority};
    use sigward_policy::fetch::{Fetch, FetchError, Kinds, Layer, Manifest, Material};
    use sigward_policy::image::{CheckKind, TlogPolicy, VerifyRequest};

    use super::runtime_failure;
    use crate::runtime::{ComponentSource, Limits, Runtime, RuntimeError};

    /// Serves one image whose signatures are far larger than the guest may hold.
    struct Huge;

    impl Fetch for Huge {
        fn resolve(&mut self, _: &str) -> Result<Manifest, FetchError> {
            Ok(Manifest {
                media_type: sigward_policy::manifest::OCI_INDEX.to_owned(),
                bytes: br#"{"schemaVersion":2,"manifests":[]}"#.to_vec(),
            })
        }
        fn attached(&mut self, _: &str, _: &str, _: Kinds) -> Result<Material, FetchError> {
            let payload = vec![b'x'; 16 << 20];
            Ok(Material {
                signatures: vec![Layer {
                    media_type: sigward_policy::simple_signing::MEDIA_TYPE.to_owned(),
                    digest: sigward_policy::digest::Digest::of(&payload).to_string(),
                    annotations: std::collections::BTreeMap::new(),
                    payload,
                }],
                ..Material::default()
            })
        }
        fn trusted_root(&mut self, name: &str) -> Result<Vec<u8>, FetchError> {
            Err(FetchError::NotFound(name.to_owned()))
        }
    }

    /// Issue 8 item 12: a trap's backtrace goes to the log, never to the client.
    #[test]
    fn a_trap_is_told_to_the_client_without_its_backtrace() {
        let limits = Limits {
            memory_bytes: 8 << 20,
            ..Limits::default()
        };
        let runtime = Runtime::new(&ComponentSource::EmbeddedWide, limits).unwrap();
        let key = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../policy-wasm/tests/data/image/key.pub"
        ))
        .unwrap();
        let request = VerifyRequest {
            image: "registry.test/app:v1".to_owned(),
            authorities: vec![NamedAuthority {
                name: "key".to_owned(),
                authority: Authority::Key(key),
            }],
            annotations: Vec::new(),
            check: CheckKind::Signature,
            tlog: TlogPolicy::InsecureIgnore,
            signatures_from: None,
            trusted_root: "production".to_owned(),
            at: 1_700_000_000,
        };
        let error = runtime.verify_image(&request, Box::new(Huge)).unwrap_err();
        assert!(matches!(error, RuntimeError::Trap(_)), "{error}");
        let logged = error.to_string();
        assert!(logged.contains("backtrace"), "the log keeps it: {logged}");
        let failure = runtime_failure(&request.image, &error);
        assert_eq!(failure.reason, sigward_policy::Reason::VerifierFailed);
        assert!(
            failure.message.starts_with("the verifier trapped"),
            "{}",
            failure.message
        );
        for internal in ["backtrace", "0x", "sigward_policy", ".rs:"] {
            assert!(
                !failure.message.contains(internal),
                "{internal:?} in {:?}",
                failure.message
            );
        }
        assert!(!failure.message.contains('\n'), "{:?}", failure.message);
    }
}
