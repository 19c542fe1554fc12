//! The accept loop and the routes: TCP, TLS handshake (bounded), HTTP/1.1 with hyper, body
//! limits, the outer safety timeout, request metrics and logs, and graceful shutdown.
//!
//! Every connection runs in its own task; a failed handshake or connection is logged at debug
//! level and forgotten. On shutdown the listener is closed, open connections finish the
//! request in flight (idle ones close at once), and whatever is still open after
//! [`SHUTDOWN_GRACE`] is aborted.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ALLOW, CONNECTION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper::body::{Body as _, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

use super::metrics::{self, Metrics};
use super::service::{Decision, Endpoint, Service};

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client may take to send a request's headers, and how long an idle keep-alive
/// connection stays open (hyper's default, made explicit).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long open connections may take to finish after shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long the transport waits beyond `request_timeout` before answering 500 itself.
const SAFETY_MARGIN: Duration = Duration::from_secs(1);

/// How long to pause after a failed `accept` (such as running out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

type HttpResponse = Response<Full<Bytes>>;

/// What every connection task shares.
pub(crate) struct App<S> {
    pub(crate) service: Arc<S>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) max_body_bytes: usize,
    pub(crate) request_timeout: Duration,
}

/// Accepts connections on `listener` until `shutdown` resolves, then shuts down gracefully.
pub(crate) async fn accept<S: Service>(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Arc<App<S>>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let task = connection(tcp, peer, acceptor.clone(), Arc::clone(&app), graceful.watcher());
                    connections.spawn(task);
                }
                Err(err) => {
                    tracing::debug!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            // Reap finished connection tasks so the set does not grow.
            Some(joined) = connections.join_next() => {
                if let Err(err) = joined {
                    tracing::debug!(error = %err, "connection task failed");
                }
            }
        }
    }
    drop(listener);
    tracing::info!(
        open = connections.len(),
        "shutting down: finishing open connections"
    );
    if timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open after {} s; closing them",
            SHUTDOWN_GRACE.as_secs(),
        );
    }
    connections.abort_all();
}

async fn connection<S: Service>(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    app: Arc<App<S>>,
    watcher: Watcher,
) {
    let tls = match timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(err)) => {
            tracing::debug!(%peer, error = %err, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let service = service_fn(move |request| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Infallible>(app.respond(request).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(tls), service);
    if let Err(err) = watcher.watch(conn).await {
        tracing::debug!(%peer, error = %err, "connection failed");
    }
}

impl<S: Service> App<S> {
    async fn respond(&self, request: Request<Incoming>) -> HttpResponse {
        if let Some(endpoint) = Endpoint::from_path(request.uri().path()) {
            return self.admission(endpoint, request).await;
        }
        let response = match request.uri().path() {
            "/healthz" => get_only(&request, || plain(StatusCode::OK, "ok")),
            "/readyz" => get_only(&request, || match self.service.ready() {
                true => plain(StatusCode::OK, "ok"),
                false => plain(StatusCode::SERVICE_UNAVAILABLE, "not ready"),
            }),
            "/metrics" => get_only(&request, || {
                response(
                    StatusCode::OK,
                    metrics::CONTENT_TYPE,
                    self.metrics.encode().into(),
                )
            }),
            _ => json_error(StatusCode::NOT_FOUND, "not found"),
        };
        tracing::debug!(
            path = request.uri().path(),
            status = response.status().as_u16(),
            "request",
        );
        response
    }

    /// Answers one request to an admission endpoint, and counts and logs it.
    async fn admission(&self, endpoint: Endpoint, request: Request<Incoming>) -> HttpResponse {
        let started = Instant::now();
        let (response, decision) = if request.method() == Method::POST {
            self.call(endpoint, request).await
        } else {
            (method_not_allowed("POST"), Decision::Error)
        };
        let elapsed = started.elapsed();
        let status = response.status().as_u16();
        self.metrics.request(endpoint.as_str(), status);
        self.metrics
            .request_duration(endpoint.as_str(), elapsed.as_secs_f64());
        self.metrics.decision(endpoint.as_str(), decision.as_str());
        tracing::info!(
            endpoint = endpoint.as_str(),
            status,
            decision = decision.as_str(),
            duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            "admission request",
        );
        response
    }

    async fn call(
        &self,
        endpoint: Endpoint,
        request: Request<Incoming>,
    ) -> (HttpResponse, Decision) {
        let body = match read_body(request.into_body(), self.max_body_bytes).await {
            Ok(body) => body,
            Err(BodyError::TooLarge) => {
                let message = format!("request body larger than {} bytes", self.max_body_bytes);
                let mut response = json_error(StatusCode::PAYLOAD_TOO_LARGE, &message);
                // The rest of the body is never read, so the connection cannot be reused.
                response
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
                return (response, Decision::Error);
            }
            Err(BodyError::Read(err)) => {
                tracing::debug!(endpoint = endpoint.as_str(), error = %err, "reading request body failed");
                let response = json_error(StatusCode::BAD_REQUEST, "reading request body failed");
                return (response, Decision::Error);
            }
        };
        let deadline = self.request_timeout.saturating_add(SAFETY_MARGIN);
        match timeout(deadline, self.service.handle(endpoint, body)).await {
            Ok(reply) => {
                let response = response(reply.status, "application/json", reply.body.into());
                (response, reply.decision)
            }
            Err(_) => {
                tracing::warn!(
                    endpoint = endpoint.as_str(),
                    timeout_ms = u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
                    "service did not answer in time",
                );
                let message = format!("no answer within {} ms", deadline.as_millis());
                (
                    json_error(StatusCode::INTERNAL_SERVER_ERROR, &message),
                    Decision::Error,
                )
            }
        }
    }
}

enum BodyError {
    TooLarge,
    Read(Box<dyn std::error::Error + Send + Sync>),
}

/// Reads `body` whole, refusing it as soon as it is known to be over `limit` bytes: from its
/// `Content-Length` before reading anything, else while reading.
async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, BodyError> {
    let limit_u64 = u64::try_from(limit).unwrap_or(u64::MAX);
    if body.size_hint().lower() > limit_u64 {
        return Err(BodyError::TooLarge);
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<LengthLimitError>() => Err(BodyError::TooLarge),
        Err(err) => Err(BodyError::Read(err)),
    }
}

fn get_only(request: &Request<Incoming>, answer: impl FnOnce() -> HttpResponse) -> HttpResponse {
    if request.method() == Method::GET {
        answer()
    } else {
        method_not_allowed("GET")
    }
}

fn method_not_allowed(allow: &'static str) -> HttpResponse {
    let mut response = json_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

fn json_error(status: StatusCode, message: &str) -> HttpResponse {
    let body = serde_json::json!({ "error": message }).to_string();
    response(status, "application/json", body.into())
}

fn plain(status: StatusCode, text: &'static str) -> HttpResponse {
    response(
        status,
        "text/plain; charset=utf-8",
        Bytes::from_static(text.as_bytes()),
    )
}

fn response(status: StatusCode, content_type: &'static str, body: Bytes) -> HttpResponse {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
