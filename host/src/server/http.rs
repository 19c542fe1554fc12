//! The accept loop and the routes: TCP, TLS handshake (bounded), HTTP/1.1 with hyper, body
//! limits, the outer safety timeout, request metrics and logs, and graceful shutdown.
//!
//! Every connection runs in its own task; a failed handshake or connection is logged at debug
//! level and forgotten. What one connection may hold, and for how long, is bounded (see
//! [`ServerConfig`](super::ServerConfig)): the TLS handshake by [`HANDSHAKE_TIMEOUT`], the
//! wait for a request (first or keep-alive) by `idle_timeout`, each request's headers by
//! `header_timeout` from their first byte, its body by `body_timeout` (then 408), and the
//! number of open connections by `max_connections` ([`Connections`] says what happens at the
//! cap). A body with a `Content-Encoding` other than `identity` is read (under the same cap)
//! and refused with 415: nothing here decompresses, so there is no decompression bomb to
//! defuse.
//!
//! On shutdown the listener is closed, open connections finish the request in flight (idle ones
//! close at once), and whatever is still open after [`SHUTDOWN_GRACE`] is aborted.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ALLOW, CONNECTION, CONTENT_ENCODING, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper::body::{Body as _, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

use super::connections::{ConnectionState, Connections, Phase, Reservation, Slot, Watched};
use super::metrics::{self, Metrics};
use super::service::{Endpoint, Ruling, Service};

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
    pub(crate) header_timeout: Duration,
    pub(crate) body_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_connections: usize,
}

/// Accepts connections on `listener` until `shutdown` resolves, then shuts down gracefully.
pub(crate) async fn accept<S: Service>(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Arc<App<S>>,
    shutdown: impl Future<Output = ()>,
) {
    let connections = Connections::new(app.max_connections);
    let (stop, stopping) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            // Reap finished connection tasks so the set does not grow.
            Some(joined) = tasks.join_next() => {
                if let Err(err) = joined {
                    tracing::debug!(error = %err, "connection task failed");
                }
                app.metrics.open_connections(connections.open());
            }
            accepted = accept_one(&listener, &connections, &app.metrics) => match accepted {
                Ok((tcp, peer, reservation)) => {
                    let (slot, state) = reservation.admit();
                    app.metrics.open_connections(connections.open());
                    let task = connection(
                        tcp,
                        peer,
                        acceptor.clone(),
                        Arc::clone(&app),
                        (slot, state),
                        stopping.clone(),
                    );
                    tasks.spawn(task);
                }
                Err(err) => {
                    tracing::debug!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    drop(listener);
    tracing::info!(
        open = tasks.len(),
        "shutting down: finishing open connections"
    );
    let _ = stop.send(true);
    let drained = timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = tasks.len(),
            "connections still open after {} s; closing them",
            SHUTDOWN_GRACE.as_secs(),
        );
    }
    tasks.abort_all();
}

/// Waits for room under the connection cap, then accepts one connection.
async fn accept_one(
    listener: &TcpListener,
    connections: &Arc<Connections>,
    metrics: &Metrics,
) -> io::Result<(TcpStream, SocketAddr, Reservation)> {
    let reservation = connections
        .reserve(|shed| {
            if shed > 0 {
                tracing::debug!(shed, "connection cap reached: closing idle connections");
                metrics.connections_shed(shed);
            }
        })
        .await;
    let (tcp, peer) = listener.accept().await?;
    Ok((tcp, peer, reservation))
}

async fn connection<S: Service>(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    app: Arc<App<S>>,
    (slot, state): (Slot, Arc<ConnectionState>),
    mut stopping: watch::Receiver<bool>,
) {
    // Holds the connection's place under the cap until this task ends.
    let _slot = slot;
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
    state.idle();
    let idle_timeout = app.idle_timeout;
    let header_timeout = app.header_timeout;
    let handler_state = Arc::clone(&state);
    let service = service_fn(move |request| {
        let app = Arc::clone(&app);
        let busy = handler_state.busy();
        async move {
            let response = app.respond(request).await;
            drop(busy);
            Ok::<_, Infallible>(response)
        }
    });
    // hyper's header timer starts when it begins waiting for a request, so it is given the idle
    // and header allowances together; the loop below holds each phase to its own.
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(idle_timeout.saturating_add(header_timeout))
        .serve_connection(TokioIo::new(Watched::new(tls, Arc::clone(&state))), service);
    let mut conn = pin!(conn);
    // Once closing, hyper finishes the request in flight (if any) and ends the connection.
    let mut closing = false;
    let result = loop {
        let check = match state.phase() {
            Phase::Idle(since) if !closing => since + idle_timeout,
            Phase::Headers(since) => since + header_timeout,
            Phase::Idle(_) | Phase::Busy => Instant::now() + idle_timeout.min(header_timeout),
        };
        tokio::select! {
            result = conn.as_mut() => break result,
            () = state.shed.notified(), if !closing => {
                if let Phase::Idle(_) = state.phase() {
                    tracing::debug!(%peer, "closing an idle connection to make room");
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                } else {
                    state.decline();
                }
            }
            () = tokio::time::sleep_until(check.into()) => match state.phase() {
                Phase::Idle(since) if !closing && since.elapsed() >= idle_timeout => {
                    tracing::debug!(%peer, "closing an idle connection");
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
                Phase::Headers(since) if since.elapsed() >= header_timeout => {
                    // Half a request: nothing to finish gracefully.
                    tracing::debug!(%peer, "request headers not received in time");
                    return;
                }
                Phase::Idle(_) | Phase::Headers(_) | Phase::Busy => {}
            },
            _ = stopping.wait_for(|stop| *stop), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    };
    if let Err(err) = result {
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
            (method_not_allowed("POST"), Ruling::Error)
        };
        let elapsed = started.elapsed();
        let status = response.status().as_u16();
        self.metrics.request(endpoint.as_str(), status);
        self.metrics
            .request_duration(endpoint.as_str(), elapsed.as_secs_f64());
        self.metrics.decision(endpoint.as_str(), decision.as_str());
        let duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        // At the default level only what needs a look (denials, warnings, errors) is logged;
        // a line for every allowed request is debug (a million requests once wrote 203 MB).
        if decision == Ruling::Allow {
            tracing::debug!(
                endpoint = endpoint.as_str(),
                status,
                decision = decision.as_str(),
                duration_ms,
                "admission request"
            );
        } else {
            tracing::info!(
                endpoint = endpoint.as_str(),
                status,
                decision = decision.as_str(),
                duration_ms,
                "admission request"
            );
        }
        response
    }

    async fn call(&self, endpoint: Endpoint, request: Request<Incoming>) -> (HttpResponse, Ruling) {
        let encoded = request
            .headers()
            .get_all(CONTENT_ENCODING)
            .iter()
            .any(|encoding| !encoding.as_bytes().eq_ignore_ascii_case(b"identity"));
        let body = timeout(
            self.body_timeout,
            read_body(request.into_body(), self.max_body_bytes),
        );
        let body = match body.await.unwrap_or(Err(BodyError::Slow)) {
            Ok(body) => body,
            Err(BodyError::Slow) => {
                tracing::debug!(
                    endpoint = endpoint.as_str(),
                    "request body not received in time"
                );
                let message = format!(
                    "request body not received within {} ms",
                    self.body_timeout.as_millis()
                );
                let mut response = json_error(StatusCode::REQUEST_TIMEOUT, &message);
                response
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
                return (response, Ruling::Error);
            }
            Err(BodyError::TooLarge) => {
                let message = format!("request body larger than {} bytes", self.max_body_bytes);
                let mut response = json_error(StatusCode::PAYLOAD_TOO_LARGE, &message);
                // The rest of the body is never read, so the connection cannot be reused.
                response
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
                return (response, Ruling::Error);
            }
            Err(BodyError::Read(err)) => {
                tracing::debug!(endpoint = endpoint.as_str(), error = %err, "reading request body failed");
                let response = json_error(StatusCode::BAD_REQUEST, "reading request body failed");
                return (response, Ruling::Error);
            }
        };
        // Refused only once read (under the same cap and deadline), so that the client is not
        // cut off while it sends; what was read is dropped undecoded.
        if encoded {
            let response = json_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Encoding is not supported; send the body uncompressed",
            );
            return (response, Ruling::Error);
        }
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
                    Ruling::Error,
                )
            }
        }
    }
}

enum BodyError {
    TooLarge,
    Slow,
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
