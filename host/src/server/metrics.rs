//! Prometheus metrics of `sigward serve`, served at `GET /metrics`. The transport records
//! requests and decisions; the verifying service records verifications, cache lookups and
//! registry fetches through the same [`Metrics`]. This module only counts and encodes.

use std::fmt;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::encode`]'s output (the OpenMetrics text format).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Request-duration buckets in seconds: 1, 2.5, 5 per decade from 0.1 ms to 10 s.
const REQUEST_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Verification-duration buckets in seconds: 1, 2.5, 5 per decade from 0.5 ms to 10 s.
const VERIFICATION_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The server's metrics and the registry that encodes them. Every method takes `&self`, so
/// one `Arc<Metrics>` is shared by the transport and the service.
///
/// Names (the text encoder appends `_total` to counters): `sigward_requests{endpoint,code}`,
/// `sigward_request_duration_seconds{endpoint}`, `sigward_decisions{endpoint,decision}`,
/// `sigward_verifications{outcome}`, `sigward_verification_duration_seconds`,
/// `sigward_cache_lookups{result}`, `sigward_registry_fetches{kind}`,
/// `sigward_open_connections`, `sigward_connections_shed`, `sigward_verifications_in_flight`,
/// `sigward_verifications_refused{reason}`, `sigward_trust_root_age_seconds{root}`,
/// `sigward_trust_root_refreshes{root,result}`.
pub struct Metrics {
    registry: Registry,
    requests: Family<EndpointCode, Counter>,
    request_duration: Family<EndpointLabel, Histogram, fn() -> Histogram>,
    decisions: Family<EndpointDecision, Counter>,
    verifications: Family<OutcomeLabel, Counter>,
    verification_duration: Histogram,
    cache_lookups: Family<ResultLabel, Counter>,
    registry_fetches: Family<KindLabel, Counter>,
    open_connections: Gauge,
    connections_shed: Counter,
    verifications_in_flight: Gauge,
    verifications_refused: Family<ReasonLabel, Counter>,
    trust_root_age: Family<RootLabel, Gauge>,
    trust_root_refreshes: Family<RootResult, Counter>,
}

impl Metrics {
    /// Creates the metrics, all at zero, registered under their names.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<EndpointCode, Counter>::default();
        let request_duration =
            Family::<EndpointLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                request_histogram,
            );
        let decisions = Family::<EndpointDecision, Counter>::default();
        let verifications = Family::<OutcomeLabel, Counter>::default();
        let verification_duration = Histogram::new(VERIFICATION_BUCKETS);
        let cache_lookups = Family::<ResultLabel, Counter>::default();
        let registry_fetches = Family::<KindLabel, Counter>::default();
        let open_connections = Gauge::default();
        let connections_shed = Counter::default();
        let verifications_in_flight = Gauge::default();
        let verifications_refused = Family::<ReasonLabel, Counter>::default();
        let trust_root_age = Family::<RootLabel, Gauge>::default();
        let trust_root_refreshes = Family::<RootResult, Counter>::default();

        registry.register(
            "sigward_requests",
            "Admission requests answered, by endpoint and HTTP status code",
            requests.clone(),
        );
        registry.register(
            "sigward_request_duration_seconds",
            "Time to answer an admission request, by endpoint",
            request_duration.clone(),
        );
        registry.register(
            "sigward_decisions",
            "Admission decisions, by endpoint and decision (allow, deny, warn, error)",
            decisions.clone(),
        );
        registry.register(
            "sigward_verifications",
            "Image verifications, by outcome (verified, not-verified, error)",
            verifications.clone(),
        );
        registry.register(
            "sigward_verification_duration_seconds",
            "Time to verify one image",
            verification_duration.clone(),
        );
        registry.register(
            "sigward_cache_lookups",
            "Verdict cache lookups, by result (hit, miss)",
            cache_lookups.clone(),
        );
        registry.register(
            "sigward_registry_fetches",
            "Registry fetches, by kind (resolve, attached, trusted-root)",
            registry_fetches.clone(),
        );
        registry.register(
            "sigward_open_connections",
            "Client connections open now",
            open_connections.clone(),
        );
        registry.register(
            "sigward_connections_shed",
            "Idle client connections closed early because the connection cap was reached",
            connections_shed.clone(),
        );
        registry.register(
            "sigward_verifications_in_flight",
            "Verifications running now (each holds a verification slot and a thread until it \
             really ends, deadline passed or not)",
            verifications_in_flight.clone(),
        );
        registry.register(
            "sigward_verifications_refused",
            "Verifications not started for lack of a free slot before the request's deadline, \
             by reason (overloaded)",
            verifications_refused.clone(),
        );
        registry.register(
            "sigward_trust_root_age_seconds",
            "Seconds since the trust root in force was last verified from its TUF repository \
             (serve --tuf-mirror), by root",
            trust_root_age.clone(),
        );
        registry.register(
            "sigward_trust_root_refreshes",
            "TUF refreshes of a trust root, by root and result (updated, unchanged, failed)",
            trust_root_refreshes.clone(),
        );

        Self {
            registry,
            requests,
            request_duration,
            decisions,
            verifications,
            verification_duration,
            cache_lookups,
            registry_fetches,
            open_connections,
            connections_shed,
            verifications_in_flight,
            verifications_refused,
            trust_root_age,
            trust_root_refreshes,
        }
    }

    /// Records that the trust root `root` was last verified `seconds` ago.
    pub fn trust_root_age(&self, root: &str, seconds: i64) {
        let labels = RootLabel {
            root: root.to_owned(),
        };
        self.trust_root_age.get_or_create(&labels).set(seconds);
    }

    /// Counts one TUF refresh of `root` that ended with `result` (`updated`, `unchanged`,
    /// `failed`).
    pub fn trust_root_refresh(&self, root: &str, result: &str) {
        let labels = RootResult {
            root: root.to_owned(),
            result: result.to_owned(),
        };
        self.trust_root_refreshes.get_or_create(&labels).inc();
    }

    /// Counts one request to `endpoint` answered with HTTP status `status`.
    pub fn request(&self, endpoint: &str, status: u16) {
        let labels = EndpointCode {
            endpoint: endpoint.to_owned(),
            code: status.to_string(),
        };
        self.requests.get_or_create(&labels).inc();
    }

    /// Records how long a request to `endpoint` took, in seconds.
    pub fn request_duration(&self, endpoint: &str, seconds: f64) {
        let labels = EndpointLabel {
            endpoint: endpoint.to_owned(),
        };
        self.request_duration
            .get_or_create(&labels)
            .observe(seconds);
    }

    /// Counts one decision (`allow`, `deny`, `warn`, `error`) made at `endpoint`.
    pub fn decision(&self, endpoint: &str, decision: &str) {
        let labels = EndpointDecision {
            endpoint: endpoint.to_owned(),
            decision: decision.to_owned(),
        };
        self.decisions.get_or_create(&labels).inc();
    }

    /// Counts one image verification with `outcome` (`verified`, `not-verified`, `error`) and
    /// records how long it took, in seconds.
    pub fn verification(&self, outcome: &str, seconds: f64) {
        let labels = OutcomeLabel {
            outcome: outcome.to_owned(),
        };
        self.verifications.get_or_create(&labels).inc();
        self.verification_duration.observe(seconds);
    }

    /// Counts one verdict-cache lookup with `result` (`hit`, `miss`).
    pub fn cache(&self, result: &str) {
        let labels = ResultLabel {
            result: result.to_owned(),
        };
        self.cache_lookups.get_or_create(&labels).inc();
    }

    /// Counts one registry fetch of `kind` (`resolve`, `attached`, `trusted-root`).
    pub fn registry_fetch(&self, kind: &str) {
        let labels = KindLabel {
            kind: kind.to_owned(),
        };
        self.registry_fetches.get_or_create(&labels).inc();
    }

    /// Records how many client connections are open.
    pub fn open_connections(&self, open: usize) {
        self.open_connections
            .set(i64::try_from(open).unwrap_or(i64::MAX));
    }

    /// Counts `shed` idle connections closed to make room under the connection cap.
    pub fn connections_shed(&self, shed: usize) {
        self.connections_shed
            .inc_by(u64::try_from(shed).unwrap_or(u64::MAX));
    }

    /// Records how many verifications are running.
    pub fn verifications_in_flight(&self, running: usize) {
        self.verifications_in_flight
            .set(i64::try_from(running).unwrap_or(i64::MAX));
    }

    /// Counts one verification refused for `reason` (`overloaded`).
    pub fn verification_refused(&self, reason: &str) {
        let labels = ReasonLabel {
            reason: reason.to_owned(),
        };
        self.verifications_refused.get_or_create(&labels).inc();
    }

    /// Encodes every metric in the OpenMetrics text format ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail, so an error can only come from the encoder itself;
        // it is logged and whatever was encoded so far is served.
        if let Err(err) = text::encode(&mut out, &self.registry) {
            tracing::error!(error = %err, "encoding metrics failed");
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn request_histogram() -> Histogram {
    Histogram::new(REQUEST_BUCKETS)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointCode {
    endpoint: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabel {
    endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointDecision {
    endpoint: String,
    decision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RootLabel {
    root: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RootResult {
    root: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}
