//! The HTTPS transport of `sigward serve`: TLS (rustls, certificate reloaded when its files
//! change), HTTP/1.1 (hyper), routing, body limits, health probes, Prometheus metrics and
//! graceful shutdown. It turns HTTP into calls of a [`Service`] and [`Reply`]s into HTTP; it
//! never parses an AdmissionReview, judges an image or talks to a registry.
//!
//! Routes:
//! - `POST /validate`, `POST /mutate`, `POST /gatekeeper` → [`Service::handle`] (query strings,
//!   such as the API server's `?timeout=10s`, are ignored); bodies over
//!   [`ServerConfig::max_body_bytes`] get 413, bodies not received within
//!   [`ServerConfig::body_timeout`] 408, compressed bodies (`Content-Encoding`) 415;
//! - `GET /healthz` → 200 `ok`; `GET /readyz` → 200 when [`Service::ready`], else 503;
//! - `GET /metrics` → [`Metrics::encode`];
//! - anything else → 404, or 405 for a known path with the wrong method, with a JSON
//!   `{"error": "..."}` body.
//!
//! Nothing is printed to stdout; everything goes through `tracing`: one line per admission
//! request (endpoint, status, decision, duration; never bodies or headers), at `info` when the
//! decision denies, warns or is an error and at `debug` when it allows.
//!
//! Slow and idle clients are bounded by [`ServerConfig::header_timeout`],
//! [`ServerConfig::body_timeout`], [`ServerConfig::idle_timeout`] and
//! [`ServerConfig::max_connections`] (at the cap, new connections wait in the listen backlog
//! while the connections idle longest are closed to make room).
//!
//! Files: `admission` is the [`Service`] that decides (the core's admission phases with this
//! host's I/O), `cache` its verdict cache, `slots` its bound on concurrent verifications,
//! `service` is the boundary with the transport, `tls` the certificate and its reloading,
//! `http` the accept loop and routes, `connections` the cap on them, `metrics` the Prometheus
//! registry.

mod admission;
mod cache;
mod connections;
mod http;
mod metrics;
mod service;
mod slots;
#[cfg(test)]
mod tests;
mod tls;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub use admission::{Admission, AdmissionService, Answer};
pub use cache::{CacheConfig, VerdictCache};
pub use metrics::{CONTENT_TYPE as METRICS_CONTENT_TYPE, Metrics};
pub use service::{Endpoint, Reply, Ruling, Service};
pub use slots::{QUEUE_FACTOR, SlotConfig};
pub use tls::TlsError;

use self::http::App;
use tls::{CertFiles, CertResolver, Stamp};

/// The default for [`ServerConfig::max_body_bytes`]: 4 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The default for [`ServerConfig::request_timeout`]: 10 s, Kubernetes' default webhook
/// `timeoutSeconds`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The default for [`ServerConfig::header_timeout`]: 10 s.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The default for [`ServerConfig::body_timeout`]: 10 s.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// The default for [`ServerConfig::idle_timeout`]: 30 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The default for [`ServerConfig::max_connections`]: 512.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// Where and how the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The address to listen on; port 0 picks a free port (see [`Bound::local_addr`]).
    pub listen: SocketAddr,
    /// The PEM certificate chain, leaf first. Reloaded when it changes.
    pub tls_cert: PathBuf,
    /// The PEM private key (PKCS#8, PKCS#1 or SEC1) of the leaf. Reloaded when it changes.
    pub tls_key: PathBuf,
    /// The largest request body accepted; larger ones are answered 413.
    pub max_body_bytes: usize,
    /// How long the [`Service`] may take for one request. The service enforces it itself; the
    /// transport answers 500 only if it has not answered one second after that.
    pub request_timeout: Duration,
    /// How long a client may take to send a request's headers, from their first byte; then
    /// the connection is closed.
    pub header_timeout: Duration,
    /// How long a client may take to send a request's body once its headers are in; then it
    /// is answered 408 and the connection is closed.
    pub body_timeout: Duration,
    /// How long a connection may stay open with nothing received and no request in flight
    /// (after the TLS handshake, or between keep-alive requests); then it is closed.
    pub idle_timeout: Duration,
    /// How many connections may be open at once. At the cap, new connections wait (in the
    /// listen backlog) and the connections idle longest are closed to make room.
    pub max_connections: usize,
}

impl ServerConfig {
    /// A configuration with the `DEFAULT_*` limits.
    pub fn new(listen: SocketAddr, tls_cert: PathBuf, tls_key: PathBuf) -> Self {
        Self {
            listen,
            tls_cert,
            tls_key,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listening socket could not be opened.
    #[error("listening on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the operating system returned.
        source: io::Error,
    },
    /// The TLS certificate or key could not be loaded.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// A server whose socket is open and whose certificate is loaded, not yet accepting.
pub struct Bound {
    listener: TcpListener,
    local_addr: SocketAddr,
    acceptor: TlsAcceptor,
    files: CertFiles,
    resolver: Arc<CertResolver>,
    stamp: Stamp,
    limits: ServerConfig,
}

/// Loads the certificate and opens the listening socket.
///
/// # Errors
///
/// [`ServerError::Tls`] when the certificate or key cannot be read, parsed or paired (the
/// error names the file), [`ServerError::Bind`] when the address cannot be listened on.
pub async fn bind(config: ServerConfig) -> Result<Bound, ServerError> {
    let files = CertFiles::new(config.tls_cert.clone(), config.tls_key.clone());
    let (resolver, stamp) = files.load_resolver()?;
    let resolver = Arc::new(resolver);
    let tls = tls::server_config(&files, Arc::clone(&resolver))?;
    let addr = config.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| ServerError::Bind { addr, source })?;
    Ok(Bound {
        listener,
        local_addr,
        acceptor: TlsAcceptor::from(Arc::new(tls)),
        files,
        resolver,
        stamp,
        limits: config,
    })
}

/// [`bind`], then [`Bound::run`]: serves until `shutdown` resolves and open connections have
/// finished (at most 10 s more).
///
/// # Errors
///
/// As [`bind`]; once serving, nothing ends the server but `shutdown`.
pub async fn serve<S: Service>(
    config: ServerConfig,
    service: Arc<S>,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    bind(config).await?.run(service, metrics, shutdown).await;
    Ok(())
}

impl Bound {
    /// The address the socket is bound to (with the port chosen when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Accepts connections and answers requests with `service` until `shutdown` resolves;
    /// then stops accepting and lets open connections finish for at most 10 s. Failed
    /// connections are logged at debug level and never end the server. The certificate files
    /// are checked for changes every second while this runs.
    pub async fn run<S: Service>(
        self,
        service: Arc<S>,
        metrics: Arc<Metrics>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) {
        let _reload = AbortOnDrop(tokio::spawn(self.files.watch(self.resolver, self.stamp)));
        let app = Arc::new(App {
            service,
            metrics,
            max_body_bytes: self.limits.max_body_bytes,
            request_timeout: self.limits.request_timeout,
            header_timeout: self.limits.header_timeout,
            body_timeout: self.limits.body_timeout,
            idle_timeout: self.limits.idle_timeout,
            max_connections: self.limits.max_connections,
        });
        tracing::info!(addr = %self.local_addr, "serving HTTPS");
        http::accept(self.listener, self.acceptor, app, shutdown).await;
        tracing::info!("server stopped");
    }
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// Resolves when the process receives SIGTERM or SIGINT (Ctrl-C). If a signal handler cannot
/// be installed, that signal is logged and never resolves this.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %err, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received, shutting down"),
        () = terminate() => tracing::info!("SIGTERM received, shutting down"),
    }
}

#[cfg(unix)]
async fn terminate() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut sigterm) => {
            sigterm.recv().await;
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot listen for SIGTERM");
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(not(unix))]
async fn terminate() {
    std::future::pending::<()>().await;
}

/// Aborts the task when dropped, so the certificate watcher ends with [`Bound::run`] even when
/// its future is dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
