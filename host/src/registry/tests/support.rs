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
use crate::registry::{Credentials, Limits, Options, Sources};

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
}

/// An HTTP server that answers from a fixed table (404 elsewhere, 200 on `/v2/`) and records
/// every path asked for. Stopped when dropped.
pub(super) struct Hostile {
    /// `127.0.0.1:PORT`.
    pub(super) host: String,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Hostile {
    /// Serves `routes` (path → reply).
    pub(super) async fn start(routes: HashMap<String, Reply>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let routes = Arc::new(routes);
        let log = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let routes = Arc::clone(&routes);
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        answer(request, Arc::clone(&routes), Arc::clone(&log))
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            host: address.to_string(),
            requests,
            task,
        }
    }

    /// The paths requested so far.
    pub(super) fn requests(&self) -> Vec<String> {
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
    log: Arc<Mutex<Vec<String>>>,
) -> Result<Response<HostileBody>, Infallible> {
    let path = request.uri().path().to_owned();
    log.lock().unwrap().push(path.clone());
    let reply = match routes.get(&path) {
        Some(reply) => reply.clone(),
        None if path == "/v2/" => Reply::ok("{}"),
        None => Reply::Fixed {
            status: 404,
            headers: Vec::new(),
            body: br#"{"errors":[{"code":"NOT_FOUND","message":"no such thing"}]}"#.to_vec(),
        },
    };
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
