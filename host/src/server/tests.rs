//! The transport against a fake [`Service`]: a real TLS listener on 127.0.0.1 with a
//! certificate made here (rcgen), spoken to by reqwest and by a raw rustls client.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{Endpoint, Metrics, Reply, Ruling, ServerConfig, ServerError, Service, TlsError};

/// Echoes the endpoint and the body's length; readiness and delay are set per test.
struct Fake {
    ready: AtomicBool,
    delay: Duration,
}

impl Fake {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            ready: AtomicBool::new(true),
            delay: Duration::ZERO,
        })
    }

    fn slow(delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            ready: AtomicBool::new(true),
            delay,
        })
    }
}

impl Service for Fake {
    async fn handle(&self, endpoint: Endpoint, body: Bytes) -> Reply {
        tokio::time::sleep(self.delay).await;
        let answer = serde_json::json!({ "endpoint": endpoint.as_str(), "len": body.len() });
        Reply {
            status: StatusCode::OK,
            body: answer.to_string().into_bytes(),
            decision: Ruling::Allow,
        }
    }

    fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

/// A self-signed certificate for `localhost` and its key.
struct TestCert {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

fn self_signed() -> TestCert {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    TestCert {
        cert_pem: made.cert.pem(),
        key_pem: made.signing_key.serialize_pem(),
        der: made.cert.der().clone(),
    }
}

/// A running server and what it needs.
struct Running {
    addr: SocketAddr,
    dir: tempfile::TempDir,
    metrics: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    async fn start(
        service: Arc<Fake>,
        cert: &TestCert,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        write_cert(dir.path(), cert);
        let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut config = ServerConfig::new(
            listen,
            dir.path().join("tls.crt"),
            dir.path().join("tls.key"),
        );
        configure(&mut config);
        let bound = super::bind(config).await.unwrap();
        let addr = bound.local_addr();
        assert_ne!(addr.port(), 0);
        let metrics = Arc::new(Metrics::new());
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let task_metrics = Arc::clone(&metrics);
        let task = tokio::spawn(bound.run(service, task_metrics, shutdown));
        Self {
            addr,
            dir,
            metrics,
            stop: Some(stop),
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// Signals shutdown and waits for the server to return.
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("server stops")
            .unwrap()
    }
}

fn write_cert(dir: &Path, cert: &TestCert) {
    std::fs::write(dir.join("tls.crt"), &cert.cert_pem).unwrap();
    std::fs::write(dir.join("tls.key"), &cert.key_pem).unwrap();
}

/// A reqwest client that trusts only `roots` and finds `localhost` at `addr`.
fn client(addr: SocketAddr, roots: &[&TestCert]) -> reqwest::Client {
    let certs = roots
        .iter()
        .map(|c| reqwest::Certificate::from_der(&c.der).unwrap());
    reqwest::Client::builder()
        .tls_certs_only(certs)
        .resolve("localhost", addr)
        .no_proxy()
        .tls_info(true)
        .build()
        .unwrap()
}

/// A TLS connection to `localhost` at `addr`, trusting only `roots`.
async fn tls_connect(addr: SocketAddr, roots: &[&TestCert]) -> TlsStream<TcpStream> {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.der.clone()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap()
}

/// Reads what the server sends until it closes the connection (EOF or reset) or `bound`
/// passes; the text and whether it closed.
async fn read_until_closed<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut R,
    bound: Duration,
) -> (String, bool) {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(bound, async {
        while let Ok(n @ 1..) = reader.read(&mut buf).await {
            answer.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&answer).into_owned(), closed)
}

/// Sends `request` as-is over a fresh TLS connection; returns the certificate the server
/// presented and everything it answered until it closed the connection.
async fn raw_exchange(addr: SocketAddr, roots: &[&TestCert], request: &[u8]) -> (Vec<u8>, String) {
    let mut tls = tls_connect(addr, roots).await;
    let presented = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    tls.write_all(request).await.unwrap();
    // Stop at EOF or at a reset: the server may close without reading all we sent.
    let (answer, _) = read_until_closed(&mut tls, Duration::from_secs(5)).await;
    (presented, answer)
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn admission_routes_reach_the_service_and_ignore_query_strings() {
    let cert = self_signed();
    let server = Running::start(Fake::new(), &cert, |_| {}).await;
    let client = client(server.addr, &[&cert]);
    for (path, endpoint) in [
        ("/validate?timeout=10s", "validate"),
        ("/mutate", "mutate"),
        ("/gatekeeper", "gatekeeper"),
    ] {
        let response = client
            .post(server.url(path))
            .body("hello")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["content-type"], "application/json");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(
            answer,
            serde_json::json!({ "endpoint": endpoint, "len": 5 })
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn health_probes_and_metrics_answer_get() {
    let cert = self_signed();
    let service = Fake::new();
    let server = Running::start(Arc::clone(&service), &cert, |_| {}).await;
    let client = client(server.addr, &[&cert]);

    let healthz = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(healthz.status(), StatusCode::OK);
    assert_eq!(healthz.text().await.unwrap(), "ok");
    let readyz = client.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(readyz.status(), StatusCode::OK);

    service.ready.store(false, Ordering::SeqCst);
    let readyz = client.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(readyz.status(), StatusCode::SERVICE_UNAVAILABLE);
    let healthz = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(
        healthz.status(),
        StatusCode::OK,
        "liveness does not depend on readiness"
    );

    client
        .post(server.url("/validate"))
        .body("{}")
        .send()
        .await
        .unwrap();
    client
        .post(server.url("/validate"))
        .body("{}")
        .send()
        .await
        .unwrap();
    client.get(server.url("/mutate")).send().await.unwrap();
    server.metrics.verification("verified", 0.01);
    server.metrics.cache("hit");
    server.metrics.registry_fetch("resolve");
    let metrics = client.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    assert_eq!(
        metrics.headers()["content-type"],
        super::METRICS_CONTENT_TYPE
    );
    let text = metrics.text().await.unwrap();
    for line in [
        r#"sigward_requests_total{endpoint="validate",code="200"} 2"#,
        r#"sigward_requests_total{endpoint="mutate",code="405"} 1"#,
        r#"sigward_decisions_total{endpoint="validate",decision="allow"} 2"#,
        r#"sigward_decisions_total{endpoint="mutate",decision="error"} 1"#,
        r#"sigward_request_duration_seconds_count{endpoint="validate"} 2"#,
        r#"sigward_request_duration_seconds_bucket{le="0.0001",endpoint="validate"}"#,
        r#"sigward_verifications_total{outcome="verified"} 1"#,
        "sigward_verification_duration_seconds_count 1",
        r#"sigward_cache_lookups_total{result="hit"} 1"#,
        r#"sigward_registry_fetches_total{kind="resolve"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    server.stop().await;
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405_with_json_errors() {
    let cert = self_signed();
    let server = Running::start(Fake::new(), &cert, |_| {}).await;
    let client = client(server.addr, &[&cert]);

    let missing = client.get(server.url("/nope")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"], "not found");

    let get_validate = client.get(server.url("/validate")).send().await.unwrap();
    assert_eq!(get_validate.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(get_validate.headers()["allow"], "POST");
    let body: Value = get_validate.json().await.unwrap();
    assert_eq!(body["error"], "method not allowed");

    let post_healthz = client.post(server.url("/healthz")).send().await.unwrap();
    assert_eq!(post_healthz.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post_healthz.headers()["allow"], "GET");
    server.stop().await;
}

#[tokio::test]
async fn oversized_body_is_413_and_the_server_keeps_serving() {
    let cert = self_signed();
    let server = Running::start(Fake::new(), &cert, |_| {}).await;
    let client = client(server.addr, &[&cert]);

    let big = vec![b'x'; 11 * 1024 * 1024];
    let response = client
        .post(server.url("/validate"))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "error": "request body larger than 4194304 bytes" })
    );

    let at_limit = vec![b'x'; super::DEFAULT_MAX_BODY_BYTES];
    let response = client
        .post(server.url("/validate"))
        .body(at_limit)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let healthz = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(healthz.status(), StatusCode::OK);
    server.stop().await;
}

/// Issue 8 item 16: hostile request bodies, sent raw, each refused with a clear status before
/// the service sees them (or passed on when harmless), and the server keeps serving. What the
/// service then does with the JSON (not JSON, 100k-deep) is in the e2e tests.
#[tokio::test]
async fn hostile_bodies_get_clear_errors_and_the_server_keeps_serving() {
    let cert = self_signed();
    let server = Running::start(Fake::new(), &cert, |config| config.max_body_bytes = 1024).await;
    let chunk = "x".repeat(800);
    let post = |headers: &str, body: &str| {
        format!(
            "POST /validate HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}\r\n{body}"
        )
    };
    let cases = [
        (
            "10 MiB announced",
            post("Content-Length: 10485760\r\n", ""),
            "HTTP/1.1 413",
            r#"{"error":"request body larger than 1024 bytes"}"#,
        ),
        (
            // No Content-Length: the limit can only be noticed while reading.
            "chunked, over the limit",
            post(
                "Transfer-Encoding: chunked\r\n",
                &format!("320\r\n{chunk}\r\n320\r\n{chunk}\r\n0\r\n\r\n"),
            ),
            "HTTP/1.1 413",
            r#"{"error":"request body larger than 1024 bytes"}"#,
        ),
        (
            // Nothing is decompressed, so a gzip bomb is refused as it is.
            "gzip",
            post(
                "Content-Encoding: gzip\r\nContent-Length: 4\r\n",
                "\x1f\x08\x00\x00",
            ),
            "HTTP/1.1 415",
            "Content-Encoding is not supported",
        ),
        (
            "deflate, mixed case",
            post("Content-Encoding: DEFLATE\r\nContent-Length: 2\r\n", "{}"),
            "HTTP/1.1 415",
            "Content-Encoding is not supported",
        ),
        (
            "identity is no encoding",
            post("Content-Encoding: identity\r\nContent-Length: 2\r\n", "{}"),
            "HTTP/1.1 200",
            r#"{"endpoint":"validate","len":2}"#,
        ),
    ];
    for (name, request, status, body) in cases {
        let (_, answer) = raw_exchange(server.addr, &[&cert], request.as_bytes()).await;
        assert!(answer.starts_with(status), "{name}: {answer}");
        assert!(answer.contains(body), "{name}: {answer}");
        let (_, answer) = raw_exchange(server.addr, &[&cert], HEALTHZ).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{name}, then: {answer}");
    }
    server.stop().await;
}

/// How a slow or idle client behaves once connected.
#[derive(Debug, Clone, Copy)]
enum Stall {
    /// Completes the TLS handshake and sends nothing.
    Silent,
    /// Sends one request, reads the answer and keeps the connection open.
    KeepAlive,
    /// Sends the request line, then its headers one byte every 200 ms.
    SlowHeaders,
    /// Sends the headers, then the body one byte every 200 ms.
    SlowBody,
    /// Sends the headers and half the body, then nothing.
    HalfBody,
}

/// Issue 8 items 9 and 16: every kind of slow or idle client is cut off within its timeout (+
/// a generous margin), and a new request is served while they hang on.
#[tokio::test]
async fn slow_and_idle_clients_are_cut_off_while_others_are_served() {
    let cert = self_signed();
    let limit = Duration::from_secs(1);
    let server = Running::start(Fake::new(), &cert, |config| {
        config.header_timeout = limit;
        config.body_timeout = limit;
        config.idle_timeout = limit;
    })
    .await;
    let cases = [
        (Stall::Silent, None),
        (Stall::KeepAlive, Some("HTTP/1.1 200")),
        (Stall::SlowHeaders, None),
        (Stall::SlowBody, Some("HTTP/1.1 408")),
        (Stall::HalfBody, Some("HTTP/1.1 408")),
    ];
    let mut stalls = tokio::task::JoinSet::new();
    for (stall, expected) in cases {
        let tls = tls_connect(server.addr, &[&cert]).await;
        stalls.spawn(async move {
            let started = std::time::Instant::now();
            let (mut reader, mut writer) = tokio::io::split(tls);
            let (opening, trickle): (&[u8], &[u8]) = match stall {
                Stall::Silent => (b"", b""),
                Stall::KeepAlive => (b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", b""),
                Stall::SlowHeaders => (
                    b"POST /validate HTTP/1.1\r\nHost: localhost\r\n",
                    b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                ),
                Stall::SlowBody => (
                    b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n",
                    &[b'x'; 100],
                ),
                Stall::HalfBody => (
                    b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{\"half\":",
                    b"",
                ),
            };
            writer.write_all(opening).await.unwrap();
            let trickling = tokio::spawn(async move {
                for byte in trickle {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if writer.write_all(&[*byte]).await.is_err() || writer.flush().await.is_err() {
                        break;
                    }
                }
                // Keep the connection open from this side.
                tokio::time::sleep(Duration::from_secs(30)).await;
                drop(writer);
            });
            let (answer, closed) = read_until_closed(&mut reader, Duration::from_secs(10)).await;
            trickling.abort();
            (stall, expected, answer, closed, started.elapsed())
        });
    }
    // Meanwhile a new request is served.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response = client(server.addr, &[&cert])
        .post(server.url("/validate"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    while let Some(joined) = stalls.join_next().await {
        let (stall, expected, answer, closed, elapsed) = joined.unwrap();
        assert!(closed, "{stall:?}: the server never closed the connection");
        assert!(
            elapsed < limit + Duration::from_secs(3),
            "{stall:?}: closed after {elapsed:?}"
        );
        match expected {
            Some(status) => assert!(answer.starts_with(status), "{stall:?}: {answer}"),
            None => assert!(
                answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
                "{stall:?}: {answer}"
            ),
        }
    }
    server.stop().await;
}

/// Issue 8 items 9 and 16: a thousand idle TLS connections against a cap of 100: the server
/// keeps at most 100 open by closing the idle ones longest, each new connection still gets
/// in, and a new request is served.
#[tokio::test]
async fn a_thousand_idle_connections_do_not_keep_new_requests_out() {
    let cert = self_signed();
    let server = Running::start(Fake::new(), &cert, |config| {
        config.max_connections = 100;
        // Only the cap may close them here.
        config.header_timeout = Duration::from_secs(120);
        config.idle_timeout = Duration::from_secs(120);
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..1000 {
        let connected =
            tokio::time::timeout(Duration::from_secs(10), tls_connect(server.addr, &[&cert])).await;
        idle.push(connected.expect("every connection gets in"));
    }
    let client = client(server.addr, &[&cert]);
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        client.post(server.url("/validate")).body("{}").send(),
    )
    .await
    .expect("served while 1000 idle connections were opened")
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let metrics = client.get(server.url("/metrics")).send().await.unwrap();
    let text = metrics.text().await.unwrap();
    let sample = |name: &str| -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    };
    assert!(sample("sigward_open_connections ") <= 100.0, "{text}");
    assert!(sample("sigward_connections_shed_total ") >= 900.0, "{text}");
    // The oldest idle connections were closed by the server.
    let (_, closed) = read_until_closed(&mut idle[0], Duration::from_secs(5)).await;
    assert!(closed);
    drop(idle);
    server.stop().await;
}

#[tokio::test]
async fn a_service_that_overruns_its_deadline_gets_500() {
    let cert = self_signed();
    let service = Fake::slow(Duration::from_secs(30));
    let server = Running::start(service, &cert, |config| {
        config.request_timeout = Duration::from_millis(100)
    })
    .await;
    let client = client(server.addr, &[&cert]);
    let response = client
        .post(server.url("/validate"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("1100 ms"),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn reloads_the_certificate_when_its_files_change() {
    let (a, b) = (self_signed(), self_signed());
    let server = Running::start(Fake::new(), &a, |_| {}).await;
    let roots = [&a, &b];

    let (presented, answer) = raw_exchange(server.addr, &roots, HEALTHZ).await;
    assert_eq!(presented, a.der.to_vec());
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    write_cert(server.dir.path(), &b);
    let mut seen = presented;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        (seen, _) = raw_exchange(server.addr, &roots, HEALTHZ).await;
        if seen == b.der.to_vec() {
            break;
        }
    }
    assert_eq!(seen, b.der.to_vec(), "certificate B not served within 3 s");

    // reqwest sees it too.
    let response = client(server.addr, &[&b])
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    let info = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .unwrap();
    assert_eq!(info.peer_certificate(), Some(b.der.as_ref()));
    server.stop().await;
}

#[tokio::test]
async fn a_broken_reload_keeps_the_previous_certificate() {
    let cert = self_signed();
    let server = Running::start(Fake::new(), &cert, |_| {}).await;
    std::fs::write(server.dir.path().join("tls.crt"), "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (presented, answer) = raw_exchange(server.addr, &[&cert], HEALTHZ).await;
    assert_eq!(presented, cert.der.to_vec());
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn initial_load_failure_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cert: PathBuf = dir.path().join("missing.crt");
    let key: PathBuf = dir.path().join("missing.key");
    let config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), cert.clone(), key);
    let err = super::bind(config).await.unwrap_err();
    assert!(
        matches!(&err, ServerError::Tls(TlsError::Read { path, .. }) if *path == cert),
        "{err:?}"
    );
    assert!(err.to_string().contains("missing.crt"), "{err}");

    let other = self_signed();
    let mine = self_signed();
    std::fs::write(&cert, &mine.cert_pem).unwrap();
    std::fs::write(dir.path().join("other.key"), &other.key_pem).unwrap();
    let config = ServerConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        cert,
        dir.path().join("other.key"),
    );
    let err = super::bind(config).await.unwrap_err();
    assert!(
        matches!(err, ServerError::Tls(TlsError::Key { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish_and_serve_returns() {
    let cert = self_signed();
    let dir = tempfile::tempdir().unwrap();
    write_cert(dir.path(), &cert);
    // Pick a free port first, since `serve` does not report the one it binds.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = ServerConfig::new(addr, dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let serve = tokio::spawn(super::serve(
        config,
        Fake::slow(Duration::from_millis(500)),
        Arc::new(Metrics::new()),
        shutdown,
    ));

    let client = client(addr, &[&cert]);
    let url = format!("https://localhost:{}/validate", addr.port());
    let mut ready = false;
    for _ in 0..50 {
        if TcpStream::connect(addr).await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ready, "server did not start");
    let in_flight = tokio::spawn(async move { client.post(url).body("{}").send().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.send(()).unwrap();

    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let served = tokio::time::timeout(Duration::from_secs(5), serve)
        .await
        .expect("serve returns")
        .unwrap();
    assert!(served.is_ok(), "{served:?}");
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
}
