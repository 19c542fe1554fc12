//! A slow registry for denial-of-service tests (fault injection, in-process, plain HTTP on a
//! free loopback port): it serves `images` distinct one-layer-less image manifests in the
//! repository `slow/app`, each with a `.sig` manifest listing `layers` signature layers whose
//! blobs are answered only after `delay` — inside the per-call timeout, so only a deadline
//! that covers the whole verification stops the fetching. Threads per connection; nothing is
//! stopped when dropped (the process ends with the test binary), but every connection closes
//! once its client goes away.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// A running slow registry.
pub(crate) struct SlowRegistry {
    /// The loopback port it listens on.
    pub(crate) port: u16,
    /// The image digests it serves, in order.
    pub(crate) digests: Vec<String>,
    /// How many blob requests it has received.
    pub(crate) blob_requests: Arc<AtomicUsize>,
}

impl SlowRegistry {
    /// Starts serving `images` images whose `.sig` lists `layers` blobs each answered after
    /// `delay`.
    pub(crate) fn start(images: usize, layers: usize, delay: Duration) -> SlowRegistry {
        let config = b"{}".to_vec();
        let config_descriptor = descriptor("application/vnd.oci.image.config.v1+json", &config);
        let mut manifests = HashMap::new();
        let mut blobs = HashMap::new();
        blobs.insert(sha256(&config), config.clone());
        let sig_layers: Vec<String> = (0..layers)
            .map(|n| {
                let payload = format!(
                    "{{\"critical\":{{\"identity\":{{\"docker-reference\":\"slow/app\"}},\
                     \"image\":{{\"docker-manifest-digest\":\"sha256:{}\"}},\
                     \"type\":\"cosign container image signature\"}},\"optional\":{{\"n\":{n}}}}}",
                    "0".repeat(64)
                )
                .into_bytes();
                let layer = descriptor(SIMPLE_SIGNING, &payload).replacen(
                    '}',
                    ",\"annotations\":{\"dev.cosignproject.cosign/signature\":\"MEUCIQ==\"}}",
                    1,
                );
                blobs.insert(sha256(&payload), payload);
                layer
            })
            .collect();
        let sig = manifest(&config_descriptor, &sig_layers, "");
        let mut digests = Vec::new();
        for n in 0..images {
            let image = manifest(
                &config_descriptor,
                &[],
                &format!(",\"annotations\":{{\"n\":\"{n}\"}}"),
            );
            let digest = sha256(&image);
            let tag = format!("sha256-{}.sig", digest.trim_start_matches("sha256:"));
            manifests.insert(digest.clone(), image);
            manifests.insert(tag, sig.clone());
            digests.push(digest);
        }
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the slow registry");
        let port = listener.local_addr().expect("address").port();
        let content = Arc::new((manifests, blobs));
        let blob_requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&blob_requests);
        thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let content = Arc::clone(&content);
                let counter = Arc::clone(&counter);
                thread::spawn(move || serve(stream, &content, delay, &counter));
            }
        });
        SlowRegistry {
            port,
            digests,
            blob_requests,
        }
    }
}

type Content = (HashMap<String, Vec<u8>>, HashMap<String, Vec<u8>>);

/// Answers the requests of one connection until the client closes it.
fn serve(stream: TcpStream, content: &Content, delay: Duration, blob_requests: &AtomicUsize) {
    let (manifests, blobs) = content;
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        // Headers: nothing in them matters here; GET requests have no body.
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" {
                break;
            }
        }
        let mut words = request_line.split(' ');
        let head_only = words.next() == Some("HEAD");
        let path = words.next().unwrap_or("");
        let (status, body) = if path == "/v2/" {
            ("200 OK", b"{}".to_vec())
        } else if let Some(reference) = path.strip_prefix("/v2/slow/app/manifests/") {
            match manifests.get(reference) {
                Some(manifest) => ("200 OK", manifest.clone()),
                None => ("404 Not Found", b"{\"errors\":[]}".to_vec()),
            }
        } else if let Some(digest) = path.strip_prefix("/v2/slow/app/blobs/") {
            blob_requests.fetch_add(1, Ordering::SeqCst);
            thread::sleep(delay);
            match blobs.get(digest) {
                Some(blob) => ("200 OK", blob.clone()),
                None => ("404 Not Found", b"{\"errors\":[]}".to_vec()),
            }
        } else {
            ("404 Not Found", b"{\"errors\":[]}".to_vec())
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {OCI_MANIFEST}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        // A HEAD answer has the headers only (containerd resolves tags and digests with HEAD).
        let body: &[u8] = if head_only { &[] } else { &body };
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(body).is_err() {
            return;
        }
    }
}

fn sha256(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

fn descriptor(media_type: &str, bytes: &[u8]) -> String {
    format!(
        "{{\"mediaType\":\"{media_type}\",\"digest\":\"{}\",\"size\":{}}}",
        sha256(bytes),
        bytes.len()
    )
}

fn manifest(config: &str, layers: &[String], extra: &str) -> Vec<u8> {
    format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{OCI_MANIFEST}\",\"config\":{config},\"layers\":[{}]{extra}}}",
        layers.join(",")
    )
    .into_bytes()
}
