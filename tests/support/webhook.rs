//! `sigward serve` as a child process on a free loopback port with a fresh self-signed
//! certificate (openssl), spoken to over real HTTPS by curl, and Kubernetes objects as Debian's
//! `kubectl` generates them offline (`--dry-run=client`).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::keys::KeyPair;
use super::lab::Lab;
use super::outcome::Outcome;

/// A running `sigward serve`.
pub(crate) struct Webhook {
    child: Child,
    /// `https://127.0.0.1:PORT`.
    pub(crate) url: String,
    ca: PathBuf,
    scratch: PathBuf,
    /// Everything the server logged so far (JSON lines).
    pub(crate) logs: Arc<Mutex<String>>,
}

impl Webhook {
    /// Starts `sigward serve --policy <policies> <args>` on 127.0.0.1:0 and waits until it
    /// serves.
    pub(crate) fn start(lab: &Lab, policies: &Path, args: &[&str]) -> Webhook {
        let scratch = lab.path(&format!(
            "webhook-{}",
            lab.registry.host().replace(':', "-")
        ));
        let scratch = unique_dir(&scratch);
        let (cert, key) = (scratch.join("tls.crt"), scratch.join("tls.key"));
        self_signed(&cert, &key);
        let mut child = lab
            .sigward()
            .arg("serve")
            .arg("--policy")
            .arg(policies)
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sigward serve");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(String::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(entry) = serde_json::from_str::<Value>(&line)
                    && entry["fields"]["message"] == "serving HTTPS"
                    && let Some(addr) = entry["fields"]["addr"].as_str()
                {
                    let _ = addr_tx.send(addr.to_owned());
                }
                let mut logs = sink.lock().expect("logs");
                logs.push_str(&line);
                logs.push('\n');
            }
        });
        let Ok(addr) = addr_rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            panic!(
                "sigward serve did not start: {}",
                logs.lock().expect("logs")
            );
        };
        let webhook = Webhook {
            child,
            url: format!("https://{addr}"),
            ca: cert,
            scratch,
            logs,
        };
        let started = Instant::now();
        while webhook.get("/readyz").0 != 200 {
            assert!(started.elapsed() < Duration::from_secs(30), "never ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        webhook
    }

    /// POSTs `body` to `path`; the status and the body as JSON (`Value::Null` if not JSON).
    pub(crate) fn post(&self, path: &str, body: &[u8]) -> (u16, Value) {
        self.post_with(path, &[], body)
    }

    /// [`Webhook::post`] with extra `headers` (`Name: value`).
    pub(crate) fn post_with(&self, path: &str, headers: &[&str], body: &[u8]) -> (u16, Value) {
        let request = unique_file(&self.scratch, "request.json");
        std::fs::write(&request, body).expect("write request");
        let mut data = std::ffi::OsString::from("@");
        data.push(&request);
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "-X".as_ref(),
            "POST".as_ref(),
            "-H".as_ref(),
            "Content-Type: application/json".as_ref(),
        ];
        for header in headers {
            args.push("-H".as_ref());
            args.push(header.as_ref());
        }
        args.push("--data-binary".as_ref());
        args.push(data.as_os_str());
        let (status, text) = self.curl(&args, path);
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// POSTs an AdmissionReview to `/validate` or `/mutate` and returns its `response`.
    pub(crate) fn review(&self, path: &str, review: &Value) -> Value {
        let (status, body) = self.post(path, review.to_string().as_bytes());
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["kind"], "AdmissionReview", "{body}");
        assert_eq!(
            body["response"]["uid"], review["request"]["uid"],
            "same uid"
        );
        body["response"].clone()
    }

    /// GETs `path`: the status and the body.
    pub(crate) fn get(&self, path: &str) -> (u16, String) {
        self.curl(&[], path)
    }

    /// The sum of a metric's samples whose labels contain every `labels` entry
    /// (`name{a="b"}` lines of the Prometheus text).
    pub(crate) fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        let (status, text) = self.get("/metrics");
        assert_eq!(status, 200);
        text.lines()
            .filter(|line| {
                line.split(['{', ' ']).next() == Some(name)
                    && labels.iter().all(|label| line.contains(label))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub(crate) fn stop(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        Outcome::run(Command::new("kill").args(["-TERM", &pid])).assert_success();
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no graceful exit"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn curl(&self, args: &[&std::ffi::OsStr], path: &str) -> (u16, String) {
        let out = unique_file(&self.scratch, "response");
        let output = Command::new("curl")
            .args(["-sS", "--noproxy", "*", "--max-time", "30", "--cacert"])
            .arg(&self.ca)
            .arg("-o")
            .arg(&out)
            .args(["-w", "%{http_code}"])
            .args(args)
            .arg(format!("{}{path}", self.url))
            .output()
            .expect("run curl");
        let status = String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        assert!(
            status != 0,
            "curl failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        (status, std::fs::read_to_string(&out).unwrap_or_default())
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A self-signed P-256 certificate for `127.0.0.1` (IP SAN), made by openssl.
pub(crate) fn self_signed(cert: &Path, key: &Path) {
    Outcome::run(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1"])
            .arg("-keyout")
            .arg(key)
            .arg("-out")
            .arg(cert),
    )
    .assert_success();
}

/// `kubectl <args> --dry-run=client -o json`, offline (no kubeconfig, no server).
pub(crate) fn kubectl(lab: &Lab, args: &[&str]) -> Value {
    let output = Command::new("kubectl")
        .args(args)
        .args(["--dry-run=client", "-o", "json"])
        .env("KUBECONFIG", lab.path("no-kubeconfig"))
        .env("HOME", lab.path("kubectl-home"))
        .output()
        .expect("run kubectl");
    assert!(
        output.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("kubectl prints JSON")
}

/// A Pod made from the pod template of a `kubectl create deployment` object.
pub(crate) fn pod_from(deployment: &Value, name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name, "namespace": "default",
                      "labels": deployment["spec"]["template"]["metadata"]["labels"] },
        "spec": deployment["spec"]["template"]["spec"],
    })
}

/// A ClusterImagePolicy: images matching `glob` must be signed by `key`, in `mode` (`enforce`
/// or `warn`).
pub(crate) fn key_policy(name: &str, glob: &str, key: &KeyPair, mode: &str) -> String {
    let pem = std::fs::read_to_string(&key.public).expect("public key");
    let pem = pem.trim_end().replace('\n', "\n          ");
    format!(
        "apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: {name}
spec:
  mode: {mode}
  images:
  - glob: \"{glob}\"
  authorities:
  - name: team-key
    key:
      data: |
          {pem}
"
    )
}

/// An AdmissionReview v1 request for a CREATE of `object` (or an UPDATE of a subresource).
pub(crate) fn admission_review(object: &Value, uid: &str, sub_resource: Option<&str>) -> Value {
    let kind = object["kind"].as_str().expect("kind");
    let api_version = object["apiVersion"].as_str().expect("apiVersion");
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let resource = format!("{}s", kind.to_lowercase());
    let mut request = json!({
        "uid": uid,
        "kind": { "group": group, "version": version, "kind": kind },
        "resource": { "group": group, "version": version, "resource": resource },
        "namespace": "default",
        "name": object["metadata"]["name"],
        "operation": if sub_resource.is_some() { "UPDATE" } else { "CREATE" },
        "userInfo": { "username": "e2e" },
        "object": object,
    });
    if let Some(sub) = sub_resource {
        request["subResource"] = json!(sub);
    }
    json!({ "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request })
}

/// Applies a base64 JSONPatch of `replace` operations (what `/mutate` returns) to `object`.
pub(crate) fn apply_patch(object: &mut Value, response: &Value) {
    use base64::Engine as _;
    assert_eq!(response["patchType"], "JSONPatch", "{response}");
    let patch = base64::engine::general_purpose::STANDARD
        .decode(response["patch"].as_str().expect("patch"))
        .expect("base64 patch");
    let patch: Vec<Value> = serde_json::from_slice(&patch).expect("JSON patch");
    for op in patch {
        assert_eq!(op["op"], "replace", "{op}");
        let target = object
            .pointer_mut(op["path"].as_str().expect("path"))
            .unwrap_or_else(|| panic!("patch path {} does not exist", op["path"]));
        *target = op["value"].clone();
    }
}

fn unique_dir(base: &Path) -> PathBuf {
    let mut n = 0;
    loop {
        let dir = PathBuf::from(format!("{}-{n}", base.display()));
        if std::fs::create_dir(&dir).is_ok() {
            return dir;
        }
        n += 1;
    }
}

fn unique_file(dir: &Path, name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    dir.join(format!("{n}-{name}"))
}
