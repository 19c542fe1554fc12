//! A real OCI registry for one test: Debian's `docker-registry` (CNCF distribution 2.8) bound to
//! a free 127.0.0.1 port with its storage in a temporary directory, killed when dropped. Also a
//! small raw HTTP client for what the tests do behind the signers' backs (read and rewrite
//! manifests and blobs) and the on-disk path of a stored blob, for tampering with storage.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};
use tempfile::TempDir;

/// The registry program (`SIGWARD_REGISTRY` overrides; `make tools` installs this one).
const DEFAULT_REGISTRY: &str = "/usr/bin/docker-registry";
/// Media type of the manifests the tests write.
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image index (what the referrers fallback tag points at).
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// A running `docker-registry` owned by one test.
pub(crate) struct Registry {
    child: Child,
    port: u16,
    dir: TempDir,
    http: ureq::Agent,
}

impl Registry {
    /// Starts a registry on a free loopback port and waits until `GET /v2/` answers 200.
    pub(crate) fn start() -> Registry {
        let program =
            std::env::var("SIGWARD_REGISTRY").unwrap_or_else(|_| DEFAULT_REGISTRY.to_owned());
        assert!(
            Path::new(&program).exists(),
            "{program} not found: run `make tools` (Debian package docker-registry)"
        );
        // The port is free when chosen but another process may take it before the registry
        // binds it; the registry then exits and we try again.
        let mut last_log = String::new();
        for _ in 0..5 {
            let dir = tempfile::Builder::new()
                .prefix("sigward-registry-")
                .tempdir()
                .expect("temp dir");
            let port = free_port();
            let config = dir.path().join("config.yml");
            fs::write(&config, config_yaml(port, &dir.path().join("storage"))).expect("config");
            let log = fs::File::create(dir.path().join("registry.log")).expect("log file");
            let child = Command::new(&program)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log file"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {program}: {e}"));
            let mut registry = Registry {
                child,
                port,
                dir,
                http: agent(),
            };
            if registry.wait_ready() {
                return registry;
            }
            last_log =
                fs::read_to_string(registry.dir.path().join("registry.log")).unwrap_or_default();
        }
        panic!("docker-registry did not start; last log:\n{last_log}");
    }

    /// `127.0.0.1:PORT`, as image references spell the registry.
    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// GETs a manifest by tag or digest: its exact bytes and the digest of those bytes.
    pub(crate) fn manifest(&self, repo: &str, reference: &str) -> (Vec<u8>, String) {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base());
        let mut response = self
            .http
            .get(&url)
            .header("Accept", ACCEPT_MANIFESTS)
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert_eq!(response.status(), 200, "GET {url}");
        let body = response.body_mut().read_to_vec().expect("manifest body");
        let digest = sha256_digest(&body);
        (body, digest)
    }

    /// Whether a manifest exists (HEAD answers 200).
    pub(crate) fn has_manifest(&self, repo: &str, reference: &str) -> bool {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base());
        let response = self
            .http
            .head(&url)
            .header("Accept", ACCEPT_MANIFESTS)
            .call()
            .unwrap_or_else(|e| panic!("HEAD {url}: {e}"));
        response.status() == 200
    }

    /// PUTs an OCI image manifest under a tag or digest and returns its digest.
    pub(crate) fn put_manifest(&self, repo: &str, reference: &str, body: &[u8]) -> String {
        self.put_manifest_of_type(repo, reference, OCI_MANIFEST, body)
    }

    /// PUTs a manifest of `media_type` (an image manifest or an index) under a tag or digest
    /// and returns its digest.
    pub(crate) fn put_manifest_of_type(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> String {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base());
        let mut response = self
            .http
            .put(&url)
            .header("Content-Type", media_type)
            .send(body)
            .unwrap_or_else(|e| panic!("PUT {url}: {e}"));
        let status = response.status();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        assert_eq!(status, 201, "PUT {url}: {text}");
        sha256_digest(body)
    }

    /// GETs a blob.
    pub(crate) fn blob(&self, repo: &str, digest: &str) -> Vec<u8> {
        let url = format!("{}/v2/{repo}/blobs/{digest}", self.base());
        let mut response = self
            .http
            .get(&url)
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert_eq!(response.status(), 200, "GET {url}");
        response
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_vec()
            .expect("blob body")
    }

    /// Uploads a blob in one request (POST then PUT) and returns its digest.
    pub(crate) fn put_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = sha256_digest(data);
        let start = format!("{}/v2/{repo}/blobs/uploads/", self.base());
        let response = self
            .http
            .post(&start)
            .send_empty()
            .unwrap_or_else(|e| panic!("POST {start}: {e}"));
        assert_eq!(response.status(), 202, "POST {start}");
        let location = response
            .headers()
            .get("Location")
            .and_then(|v| v.to_str().ok())
            .expect("upload Location")
            .to_owned();
        let location = if location.starts_with("http") {
            location
        } else {
            format!("{}{location}", self.base())
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={digest}");
        let mut response = self
            .http
            .put(&url)
            .header("Content-Type", "application/octet-stream")
            .send(data)
            .unwrap_or_else(|e| panic!("PUT blob {digest}: {e}"));
        let status = response.status();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        assert_eq!(status, 201, "PUT blob {digest}: {text}");
        digest
    }

    /// Where the registry keeps a blob's bytes on disk. Rewriting this file changes what the
    /// registry serves under the digest (distribution does not re-hash on reads).
    pub(crate) fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        let path = self
            .dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data");
        assert!(path.exists(), "no stored blob at {}", path.display());
        path
    }

    fn base(&self) -> String {
        format!("http://{}", self.host())
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        let url = format!("{}/v2/", self.base());
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(response) = self.http.get(&url).call()
                && response.status() == 200
            {
                return true;
            }
            thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sha256:<hex>` of some bytes.
pub(crate) fn sha256_digest(data: &[u8]) -> String {
    let hash = Sha256::digest(data);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A loopback port nothing listens on right now.
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// A plain-HTTP client that never uses a proxy and hands every status back to the caller.
fn agent() -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(60)))
        .build();
    ureq::Agent::new_with_config(config)
}

fn config_yaml(port: u16, storage: &Path) -> String {
    format!(
        "version: 0.1\n\
         log:\n  level: warn\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
         http:\n  addr: 127.0.0.1:{port}\n",
        storage.display()
    )
}
