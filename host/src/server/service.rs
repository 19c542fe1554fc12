//! The boundary between the HTTPS transport and whatever answers admission requests: the
//! [`Service`] trait and the plain values that cross it. Nothing here does I/O.

use std::future::Future;

use bytes::Bytes;
use http::StatusCode;

/// What answers the admission endpoints. The transport reads the request body (size-capped),
/// calls [`Service::handle`] and writes the [`Reply`] back; it never looks inside either.
///
/// The service owns its deadline: it should answer before [`ServerConfig::request_timeout`]
/// (the transport only applies an outer safety timeout one second later and then answers 500).
///
/// [`ServerConfig::request_timeout`]: super::ServerConfig::request_timeout
pub trait Service: Send + Sync + 'static {
    /// Answers one request to `endpoint` whose body is `body` (JSON, at most
    /// [`ServerConfig::max_body_bytes`](super::ServerConfig::max_body_bytes) long).
    fn handle(&self, endpoint: Endpoint, body: Bytes) -> impl Future<Output = Reply> + Send;

    /// Whether the service can answer requests now (`GET /readyz` answers 200, else 503).
    fn ready(&self) -> bool;
}

/// The admission endpoints the transport routes to a [`Service`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /validate`: a Kubernetes validating admission webhook (AdmissionReview).
    Validate,
    /// `POST /mutate`: a Kubernetes mutating admission webhook (AdmissionReview).
    Mutate,
    /// `POST /gatekeeper`: a Gatekeeper external-data provider request.
    Gatekeeper,
}

impl Endpoint {
    /// The endpoint's name as used in paths, metric labels and logs: `validate`, `mutate`,
    /// `gatekeeper`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Validate => "validate",
            Self::Mutate => "mutate",
            Self::Gatekeeper => "gatekeeper",
        }
    }

    /// The endpoint served at `path` (the query string already removed), if any.
    pub fn from_path(path: &str) -> Option<Self> {
        match path {
            "/validate" => Some(Self::Validate),
            "/mutate" => Some(Self::Mutate),
            "/gatekeeper" => Some(Self::Gatekeeper),
            _ => None,
        }
    }
}

/// A [`Service`]'s answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status to answer with.
    pub status: StatusCode,
    /// The response body, JSON (sent as `application/json`).
    pub body: Vec<u8>,
    /// What was decided, for the `sigward_decisions` metric and the request log line.
    pub decision: Ruling,
}

/// What a request was answered with, as counted in metrics and logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ruling {
    /// The request was admitted.
    Allow,
    /// The request was refused.
    Deny,
    /// The request was admitted with a warning.
    Warn,
    /// No decision could be made (bad request, internal failure, timeout).
    Error,
}

impl Ruling {
    /// The decision's lowercase name: `allow`, `deny`, `warn`, `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}
