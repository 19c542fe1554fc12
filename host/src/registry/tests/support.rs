//! Test peers: Debian's `docker-registry` (CNCF distribution 2.8) started on a free loopback
//! port with its storage in a temporary directory, a client that pushes test content to it,
//! and a hostile in-process HTTP server (hyper) for fault injection.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body, Bytes, Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Reference, RegistryOperation};
use reqwest::header::HeaderValue;

use crate::registry::manifest::{self, OCI_CONFIG};
use crate::registry::{Budget, Credentials, Limits, Options, Sources};

const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

/// The user and password in `testdata/htpasswd` (bcrypt; see testdata/README.md).
pub(super) const USER: &str = "sigward";
pub(super) const PASSWORD: &str = "registry-test-password";

/// A `docker-registry` process, stopped when dropped.
pub(super) struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub(super) host: String,
    _storage: tempfile::TempDir,
}

impl Registry {
    /// An open registry.
    pub(super) fn start() -> Self {
        Self::start_with("")
    }

    /// A registry that requires HTTP basic authentication with [`USER`] / [`PASSWORD`].
    pub(super) fn start_with_basic_auth() -> Self {
        let htpasswd = testdata().join("htpasswd");
        Self::start_with(&format!(
            "auth:\n  htpasswd:\n    realm: sigward-test\n    path: {}\n",
            htpasswd.display()
        ))
    }

    fn start_with(extra_config: &str) -> Self {
        let storage = tempfile::tempdir().unwrap();
        let host = format!("127.0.0.1:{}", free_port());
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  \
             delete:\n    enabled: true\nhttp:\n  addr: {host}\n{extra_config}",
            storage.path().join("data").display()
        );
        let config_path = storage.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(storage.path().join("registry.log")).unwrap();
        let child = Command::new(REGISTRY_BINARY)
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("starting {REGISTRY_BINARY} (apt-get install docker-registry): {e}")
            });
        let registry = Self {
            child,
            host,
            _storage: storage,
        };
        let started = Instant::now();
        while TcpStream::connect(&registry.host).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "docker-registry did not start listening on {}",
                registry.host
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        registry
    }

    /// `HOST/repository:tag`.
    pub(super) fn image(&self, repository: &str, tag: &str) -> String {
        format!("{}/{repository}:{tag}", self.host)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1 (nothing listens on it once this returns).
pub(super) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `host/src/registry/testdata`.
pub(super) fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/registry/testdata")
}

/// Sources with anonymous access, short timeouts and `limits` otherwise default.
pub(super) fn sources(limits: Limits) -> Sources {
    Sources::new(Options {
        limits,
        credentials: Credentials::Anonymous,
        ..Options::default()
    })
    .unwrap()
}

/// A budget no test reaches unless it means to: a minute, and no byte total.
pub(super) fn budget() -> Budget {
    Budget::starting_now(Duration::from_secs(60), u64::MAX)
}

/// Limits with a test-sized timeout.
pub(super) fn quick_limits() -> Limits {
    Limits {
        timeout: Duration::from_secs(5),
        ..Limits::default()
    }
}

/// Pushes test content with oci-client, independently of the code under test.
pub(super) struct Pusher {
    client: oci_client::Client,
    auth: RegistryAuth,
}

impl Pusher {
    pub(super) fn anonymous() -> Self {
        Self::with_auth(RegistryAuth::Anonymous)
    }

    pub(super) fn with_auth(auth: RegistryAuth) -> Self {
        let client = oci_client::Client::new(ClientConfig {
            protocol: ClientProtocol::Http,
            ..ClientConfig::default()
        });
        Self { client, auth }
    }

    /// Pushes `bytes` as a blob of `image`'s repository.
    pub(super) async fn blob(&self, image: &str, bytes: &[u8]) {
        let reference: Reference = image.parse().unwrap();
        self.client
            .auth(&reference, &self.auth, RegistryOperation::Push)
            .await
            .unwrap();
        let digest = manifest::describe("", bytes).digest;
        self.client
            .push_blob(&reference, bytes.to_vec(), &digest)
            .await
            .unwrap();
    }

    /// Pushes manifest `bytes` under `image` (a tag or digest reference); returns its digest.
    pub(super) async fn manifest(&self, image: &str, bytes: &[u8], media_type: &str) -> String {
        let reference: Reference = image.parse().unwrap();
        self.client
            .auth(&reference, &self.auth, RegistryOperation::Push)
            .await
            .unwrap();
        self.client
            .push_manifest_raw(
                &reference,
                bytes.to_vec(),
                HeaderValue::from_str(media_type).unwrap(),
            )
            .await
            .unwrap();
        manifest::describe("", bytes).digest
    }

    /// Pushes a one-layer OCI image whose layer holds `content`; returns its digest.
    pub(super) async fn image(&self, image: &str, content: &[u8]) -> String {
        let config = br#"{"architecture":"amd64","os":"linux"}"#;
        self.blob(image, config).await;
        self.blob(image, content).await;
        let bytes = manifest::image_manifest(
            manifest::describe(OCI_CONFIG, config),
            &[manifest::describe(
                "application/vnd.oci.image.layer.v1.tar",
                content,
            )],
        )
        .unwrap();
        self.manifest(image, &bytes, manifest::OCI_MANIFEST).await
    }
}

/// What the hostile server answers on one path.
#[derive(Clone)]
pub(super) enum Reply {
    /// A status, headers and a body (sent with `Content-Length`).
    Fixed {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// 200 and a chunked body that never ends.
    Endless,
    /// Never answers.
    Hang,
    /// 200 announcing `Content-Length: length`, then a body that never ends.
    Announce(u64),
    /// `reply` to requests whose `Authorization` is exactly `authorization`; otherwise 401
    /// with `WWW-Authenticate: challenge`.
    Guarded {
        authorization: String,
        challenge: String,
        reply: Box<Reply>,
    },
}

impl Reply {
    /// 200 with `body`.
    pub(super) fn ok(body: impl Into<Vec<u8>>) -> Self {
        Self::Fixed {
            status: 200,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// `status` with an empty body.
    pub(super) fn status(status: u16) -> Self {
        Self::Fixed {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// `status` with `headers` and an empty body.
    pub(super) fn with_headers(status: u16, headers: Vec<(&'static str, String)>) -> Self {
        Self::Fixed {
            status,
            headers,
            body: Vec::new(),
        }
    }
}

/// One request the hostile server received.
#[derive(Debug, Clone)]
pub(super) struct Seen {
    /// The path, without the query.
    pub(super) path: String,
    /// The query, if any.
    pub(super) query: Option<String>,
    /// The `Authorization` header, if any.
    pub(super) authorization: Option<String>,
}

/// An HTTP (or HTTPS) server that answers from a fixed table of paths, with or without a query
/// (404 elsewhere, 200 on `/v2/`), and records every request. Stopped when dropped.
pub(super) struct Hostile {
    /// `127.0.0.1:PORT`.
    pub(super) host: String,
    /// The port.
    pub(super) port: u16,
    requests: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

/// A self-signed certificate for the test host names, and the TLS acceptor that presents it.
pub(super) struct TestTls {
    /// The certificate (DER), to trust.
    pub(super) der: Vec<u8>,
    acceptor: tokio_rustls::TlsAcceptor,
}

/// Host names the TLS certificate is good for; tests map them to 127.0.0.1.
pub(super) const TLS_NAMES: [&str; 2] = ["registry.test", "auth.test"];

impl TestTls {
    pub(super) fn new() -> Self {
        let names = TLS_NAMES.map(str::to_owned).to_vec();
        let made = rcgen::generate_simple_self_signed(names).unwrap();
        let der = made.cert.der().to_vec();
        let key =
            rustls_pki_types::PrivateKeyDer::try_from(made.signing_key.serialize_der()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![made.cert.der().clone()], key)
            .unwrap();
        Self {
            der,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        }
    }
}

impl Hostile {
    /// Serves `routes` (path → reply) over plain HTTP.
    pub(super) async fn start(routes: HashMap<String, Reply>) -> Self {
        Self::serve(routes, None).await
    }

    /// Serves `routes` over HTTPS with `tls`'s certificate.
    pub(super) async fn start_tls(routes: HashMap<String, Reply>, tls: &TestTls) -> Self {
        Self::serve(routes, Some(tls.acceptor.clone())).await
    }

    async fn serve(routes: HashMap<String, Reply>, tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let routes = Arc::new(routes);
        let log = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let routes = Arc::clone(&routes);
                let log = Arc::clone(&log);
                let tls = tls.clone();
                // In the set, so that stopping the server also ends its connections.
                connections.spawn(async move {
                    let service = service_fn(move |request| {
                        answer(request, Arc::clone(&routes), Arc::clone(&log))
                    });
                    let http = http1::Builder::new();
                    match tls {
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                        Some(tls) => {
                            let Ok(stream) = tls.accept(stream).await else {
                                return;
                            };
                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                });
            }
        });
        Self {
            host: address.to_string(),
            port: address.port(),
            requests,
            task,
        }
    }

    /// The paths requested so far.
    pub(super) fn requests(&self) -> Vec<String> {
        self.seen().into_iter().map(|seen| seen.path).collect()
    }

    /// The requests received so far.
    pub(super) fn seen(&self) -> Vec<Seen> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type HostileBody = BoxBody<Bytes, Infallible>;

async fn answer(
    request: Request<Incoming>,
    routes: Arc<HashMap<String, Reply>>,
    log: Arc<Mutex<Vec<Seen>>>,
) -> Result<Response<HostileBody>, Infallible> {
    let path = request.uri().path().to_owned();
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    log.lock().unwrap().push(Seen {
        path: path.clone(),
        query: request.uri().query().map(str::to_owned),
        authorization: authorization.clone(),
    });
    // A route may name a query (`/v2/…?last=b`, for pages); else the path alone answers.
    let with_query = request.uri().query().map(|query| format!("{path}?{query}"));
    let route = with_query
        .as_ref()
        .and_then(|full| routes.get(full))
        .or_else(|| routes.get(&path));
    let mut reply = match route {
        Some(reply) => reply.clone(),
        None if path == "/v2/" => Reply::ok("{}"),
        None => Reply::Fixed {
            status: 404,
            headers: Vec::new(),
            body: br#"{"errors":[{"code":"NOT_FOUND","message":"no such thing"}]}"#.to_vec(),
        },
    };
    while let Reply::Guarded {
        authorization: wanted,
        challenge,
        reply: guarded,
    } = reply
    {
        reply = if authorization.as_deref() == Some(wanted.as_str()) {
            *guarded
        } else {
            Reply::with_headers(401, vec![("WWW-Authenticate", challenge)])
        };
    }
    let response = match reply {
        Reply::Fixed {
            status,
            headers,
            body,
        } => {
            let mut builder = Response::builder().status(status);
            for (name, value) in headers {
                builder = builder.header(name, value);
            }
            builder.body(Full::new(Bytes::from(body)).boxed())
        }
        Reply::Endless => Response::builder().status(200).body(Endless.boxed()),
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Response::builder()
                .status(500)
                .body(Full::default().boxed())
        }
        Reply::Announce(length) => Response::builder()
            .status(200)
            .header("Content-Length", length.to_string())
            .body(Endless.boxed()),
        Reply::Guarded { .. } => unreachable!("unwrapped above"),
    };
    Ok(response.unwrap())
}

/// A body of 64 KiB chunks that never ends (no `Content-Length`).
struct Endless;

impl Body for Endless {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; 64 * 1024])))))
    }
}
