//! `sigward verify` against a hostile registry (issue 8, items 7, 10, 11 and 15): one table of
//! misbehaviours, each of which must end within `--timeout` (plus a generous second) with exit
//! 1 or 2 and a clear reason: never "Verified", never a panic.
//!
//! The registry-level checks behind each row (caps, budget, deadline, realm rules) have their
//! own tests in `host/src/registry`; this table proves the whole command stays bounded, in the
//! Rust binary and in Node's `tests/node/sigward.mjs` (the second engine, issue 11).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::hostile::{Act, HostileRegistry};
use crate::support::lab::IGNORE_TLOG;
use crate::support::registry::{OCI_MANIFEST, sha256_digest as sha256};
use crate::support::{Lab, Outcome};

/// The `--timeout` every row runs with.
const TIMEOUT: Duration = Duration::from_secs(4);
/// How much later than `--timeout` a row may end: generous, since speed is not what is tested.
const MARGIN: Duration = Duration::from_secs(1);
const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({ "mediaType": media_type, "size": bytes.len(), "digest": sha256(bytes) })
}

fn manifest(layers: &[Value]) -> Vec<u8> {
    let config = descriptor("application/vnd.oci.image.config.v1+json", b"{}");
    let manifest = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": layers,
    });
    serde_json::to_vec(&manifest).expect("manifest JSON")
}

/// The image every row is about: a small valid manifest, and its `.sig` path.
struct Subject {
    manifest: Vec<u8>,
    digest: String,
}

impl Subject {
    fn new() -> Subject {
        let manifest = manifest(&[descriptor(
            "application/vnd.oci.image.layer.v1.tar",
            b"layer",
        )]);
        let digest = sha256(&manifest);
        Subject { manifest, digest }
    }

    fn sig_path(&self) -> String {
        format!("/v2/evil/manifests/{}.sig", self.digest.replace(':', "-"))
    }

    /// The tag `v1` answers the manifest, and `.sig` gets `sig`.
    fn with_sig(&self, sig: Act) -> HashMap<String, Act> {
        HashMap::from([
            (
                "/v2/evil/manifests/v1".to_owned(),
                Act::ok(self.manifest.clone()),
            ),
            (self.sig_path(), sig),
        ])
    }
}

/// One row: what the registry does, the reasons that are a correct answer, and what else must
/// hold afterwards.
struct Row {
    name: &'static str,
    registry: HostileRegistry,
    /// Other servers the row needs (token services, redirect targets), kept alive.
    peers: Vec<HostileRegistry>,
    /// The image reference, relative to the registry host.
    image: String,
    /// Acceptable reason codes (of the error, or of the not-verified report).
    reasons: &'static [&'static str],
    /// Docker config `auths` entries to write before running.
    credentials: Option<(String, String)>,
    /// The row is about registry authentication, which Node's anonymous reader never does.
    authenticates: bool,
    check: Check,
}

/// What else must hold after a row ran.
type Check = Box<dyn Fn(&Row, &Outcome)>;

fn row(name: &'static str, routes: HashMap<String, Act>, reasons: &'static [&'static str]) -> Row {
    Row {
        name,
        registry: HostileRegistry::start(routes),
        peers: Vec::new(),
        image: "evil:v1".to_owned(),
        reasons,
        credentials: None,
        authenticates: false,
        check: Box::new(|_, _| {}),
    }
}

fn rows(subject: &Subject) -> Vec<Row> {
    let tag = "/v2/evil/manifests/v1".to_owned();
    let only = |act: Act| HashMap::from([(tag.clone(), act)]);
    let mut rows = vec![
        row("never answers", only(Act::Hang), &["timeout"]),
        row(
            "stalls after headers",
            only(Act::StallAfterHeaders { length: 500 }),
            &["timeout"],
        ),
        row(
            "trickles one byte a second",
            only(Act::Trickle {
                body: subject.manifest.clone(),
            }),
            &["timeout"],
        ),
        row(
            "HTTP 503",
            only(Act::status(503, Vec::new())),
            &["fetch-unavailable"],
        ),
        row(
            "HTTP 429 with Retry-After",
            only(Act::status(429, vec![("Retry-After", "3600".to_owned())])),
            &["fetch-unavailable"],
        ),
        row(
            "multi-GiB Content-Length",
            only(Act::Announce { length: 8 << 30 }),
            &["fetch-too-large"],
        ),
        row(
            "redirect loop",
            only(Act::status(302, vec![("Location", tag.clone())])),
            &["fetch-unavailable"],
        ),
        row(
            "malformed JSON",
            only(Act::ok("{not json")),
            &["fetch-invalid"],
        ),
        row(
            "truncated JSON",
            only(Act::ok(
                subject.manifest[..subject.manifest.len() / 2].to_vec(),
            )),
            &["fetch-invalid"],
        ),
        row(
            "100k-deep JSON",
            only(Act::ok(["[".repeat(100_000), "]".repeat(100_000)].concat())),
            &["fetch-invalid"],
        ),
        row(
            "a manifest with a million layers",
            only(million_layers()),
            &["fetch-too-large"],
        ),
        row(
            ".sig with 10,000 layers",
            subject.with_sig(Act::ok(manifest(&small_layers(10_000)))),
            &["fetch-too-large"],
        ),
        row(
            ".sig with 10 MiB of annotations",
            subject.with_sig(Act::ok(annotated_sig(10 << 20))),
            &["fetch-too-large"],
        ),
        row(
            ".sig listing 1000 layers of 16 MiB (over the fetch budget)",
            subject.with_sig(Act::ok(manifest(&big_layers(1000, 16 << 20)))),
            &["fetch-too-large"],
        ),
    ];
    for row in &mut rows {
        if row.name.starts_with(".sig") {
            // Refused from the manifest: no blob is ever asked for.
            row.check = Box::new(|row, outcome| {
                let blobs: Vec<_> = row
                    .registry
                    .seen()
                    .into_iter()
                    .filter(|seen| seen.target.contains("/blobs/"))
                    .collect();
                assert!(blobs.is_empty(), "{}: {blobs:?}\n{outcome}", row.name);
            });
        }
    }
    rows.push(slow_blobs(subject));
    rows.push(digest_mismatch(subject));
    rows.push(lying_content_digest(subject));
    rows.push(redirect_elsewhere(subject));
    rows.push(realm_elsewhere(subject));
    rows
}

/// A `.sig` of 1000 small layers whose blobs each answer after 1.2 s (issue 8, item 11): the
/// command ends at its deadline, not 20 minutes later.
fn slow_blobs(subject: &Subject) -> Row {
    let payloads: Vec<Vec<u8>> = (0..1000)
        .map(|i| format!("payload {i}").into_bytes())
        .collect();
    let layers: Vec<Value> = payloads
        .iter()
        .map(|payload| descriptor(SIMPLE_SIGNING, payload))
        .collect();
    let mut routes = subject.with_sig(Act::ok(manifest(&layers)));
    for payload in payloads {
        let slow = Act::Delay {
            delay: Duration::from_millis(1200),
            then: Box::new(Act::ok(payload.clone())),
        };
        routes.insert(format!("/v2/evil/blobs/{}", sha256(&payload)), slow);
    }
    row(".sig of 1000 slow blobs", routes, &["timeout"])
}

/// A digest reference whose manifest is other bytes.
fn digest_mismatch(subject: &Subject) -> Row {
    let claimed = sha256(b"what the reference pins");
    let routes = HashMap::from([(
        format!("/v2/evil/manifests/{claimed}"),
        Act::ok(subject.manifest.clone()),
    )]);
    let mut row = row(
        "manifest bytes not matching the digest",
        routes,
        &["fetch-invalid"],
    );
    row.image = format!("evil@{claimed}");
    row
}

/// A `Docker-Content-Digest` naming another digest, whose `.sig` is never even looked at.
fn lying_content_digest(subject: &Subject) -> Row {
    let lie = sha256(b"another image");
    let lie_sig = format!("/v2/evil/manifests/{}.sig", lie.replace(':', "-"));
    let routes = HashMap::from([
        (
            "/v2/evil/manifests/v1".to_owned(),
            Act::ok_with(
                subject.manifest.clone(),
                vec![("Docker-Content-Digest", lie)],
            ),
        ),
        (lie_sig.clone(), Act::ok(manifest(&small_layers(1)))),
    ]);
    let mut row = row("lying Docker-Content-Digest", routes, &["no-signatures"]);
    row.check = Box::new(move |row, outcome| {
        let seen = row.registry.seen();
        assert!(
            seen.iter().all(|seen| seen.target != lie_sig),
            "the lie was followed\n{outcome}"
        );
    });
    row
}

/// A registry that asks for basic credentials, then redirects the manifest to another host:
/// the credentials must not follow.
fn redirect_elsewhere(subject: &Subject) -> Row {
    let elsewhere = HostileRegistry::start(HashMap::from([(
        "/v2/evil/manifests/v1".to_owned(),
        Act::ok(subject.manifest.clone()),
    )]));
    let port = elsewhere
        .host
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let basic = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    let challenge = r#"Basic realm="hostile""#.to_owned();
    let guard = |then: Act| Act::Guard {
        authorization: format!("Basic {basic}"),
        challenge: challenge.clone(),
        then: Box::new(then),
    };
    let routes = HashMap::from([
        (
            "/v2/".to_owned(),
            Act::status(401, vec![("WWW-Authenticate", challenge.clone())]),
        ),
        (
            "/v2/evil/manifests/v1".to_owned(),
            guard(Act::status(
                302,
                vec![(
                    "Location",
                    format!("http://localhost:{port}/v2/evil/manifests/v1"),
                )],
            )),
        ),
    ]);
    let mut row = row(
        "redirect to another host",
        routes,
        &["no-signatures", "fetch-denied", "fetch-not-found"],
    );
    row.credentials = Some(("alice".to_owned(), "s3cret".to_owned()));
    row.authenticates = true;
    row.peers.push(elsewhere);
    row.check = Box::new(|row, outcome| {
        let elsewhere = &row.peers[0];
        let seen = elsewhere.seen();
        assert!(!seen.is_empty(), "the redirect was not followed\n{outcome}");
        assert!(
            seen.iter().all(|seen| seen.authorization.is_none()),
            "credentials followed the redirect: {seen:?}\n{outcome}"
        );
        // The registry itself did get them (it asked).
        assert!(
            row.registry
                .seen()
                .iter()
                .any(|seen| seen.authorization.is_some())
        );
    });
    row
}

/// A bearer challenge whose token service, on another host, answers without end.
fn realm_elsewhere(subject: &Subject) -> Row {
    let tokens = HostileRegistry::start(HashMap::from([(
        "/token".to_owned(),
        Act::Announce { length: 8 << 30 },
    )]));
    let port = tokens
        .host
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let challenge = format!(r#"Bearer realm="http://localhost:{port}/token",service="hostile""#);
    let routes = HashMap::from([
        (
            "/v2/".to_owned(),
            Act::status(401, vec![("WWW-Authenticate", challenge.clone())]),
        ),
        (
            "/v2/evil/manifests/v1".to_owned(),
            Act::Guard {
                authorization: "Bearer never".to_owned(),
                challenge,
                then: Box::new(Act::ok(subject.manifest.clone())),
            },
        ),
    ]);
    let mut row = row(
        "bearer realm on another host answering without end",
        routes,
        &["fetch-too-large"],
    );
    row.peers.push(tokens);
    row.authenticates = true;
    row.check = Box::new(|row, outcome| {
        let asked = row.peers[0].seen();
        assert_eq!(asked.len(), 1, "{asked:?}\n{outcome}");
    });
    row
}

/// An image manifest listing a million layers (about 150 MB), generated as it is sent.
fn million_layers() -> Act {
    let layer = descriptor(SIMPLE_SIGNING, b"layer").to_string();
    let config = descriptor("application/vnd.oci.image.config.v1+json", b"{}");
    let head =
        format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{config},"layers":["#);
    Act::Generate {
        head: head.into_bytes(),
        repeat: format!("{layer},").into_bytes(),
        count: 999_999,
        tail: format!("{layer}]}}").into_bytes(),
    }
}

fn small_layers(count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| descriptor(SIMPLE_SIGNING, format!("payload {i}").as_bytes()))
        .collect()
}

/// `count` layers that each advertise `size` bytes (under the per-blob limit).
fn big_layers(count: usize, size: u64) -> Vec<Value> {
    (0..count)
        .map(|i| {
            let mut layer = descriptor(SIMPLE_SIGNING, format!("big {i}").as_bytes());
            layer["size"] = json!(size);
            layer
        })
        .collect()
}

/// A `.sig` manifest whose one layer carries `bytes` of annotation.
fn annotated_sig(bytes: usize) -> Vec<u8> {
    let mut layer = descriptor(SIMPLE_SIGNING, b"payload");
    layer["annotations"] = json!({ "dev.cosignproject.cosign/signature": "A".repeat(bytes) });
    manifest(&[layer])
}

/// The reason sigward gave: the error's, or the not-verified report's.
fn reason(outcome: &Outcome) -> String {
    let report = outcome.json();
    let reason = report
        .pointer("/error/reason")
        .or_else(|| report.get("reason"))
        .and_then(Value::as_str);
    reason.unwrap_or_default().to_owned()
}

#[test]
fn every_hostile_registry_ends_within_the_timeout_with_a_reason() {
    let lab = Lab::new();
    let key = lab.plain_key_pair("hostile");
    let timeout = format!("{}s", TIMEOUT.as_secs());
    run_table(&lab, true, |reference| {
        lab.verify(reference, &[&key], &["--timeout", &timeout])
    });
}

/// The same table through the second engine (`tests/node/sigward.mjs`, issue 11): Node's
/// fetcher must stay within the same limits and deadline. Rows about registry authentication are
/// left out: Node's reader is anonymous.
#[test]
fn every_hostile_registry_ends_within_the_timeout_in_node_too() {
    let lab = Lab::new();
    let key = lab.plain_key_pair("hostile");
    let timeout = format!("{}s", TIMEOUT.as_secs());
    let node = crate::node::node_program();
    let cli = crate::node::node_cli();
    run_table(&lab, false, |reference| {
        Outcome::run(
            lab.command(&node)
                .arg(&cli)
                .args([
                    "verify",
                    "--output",
                    "json",
                    IGNORE_TLOG,
                    "--timeout",
                    &timeout,
                ])
                .arg("--key")
                .arg(&key.public)
                .arg(reference),
        )
    });
}

/// Runs every row of the table through `verify` (a reference in, the outcome out), skipping
/// the authentication rows unless the engine `authenticates`.
fn run_table(lab: &Lab, authenticates: bool, verify: impl Fn(&str) -> Outcome) {
    let subject = Subject::new();
    let docker_config = lab.path("home/.docker");
    std::fs::create_dir_all(&docker_config).expect("Docker config directory");
    let mut failures = Vec::new();
    for row in rows(&subject) {
        if row.authenticates && !authenticates {
            continue;
        }
        let config = match &row.credentials {
            Some((user, password)) => {
                let auth =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                let mut auths = serde_json::Map::new();
                auths.insert(row.registry.host.clone(), json!({ "auth": auth }));
                json!({ "auths": auths })
            }
            None => json!({}),
        };
        std::fs::write(docker_config.join("config.json"), config.to_string())
            .expect("Docker config");
        let reference = format!("{}/{}", row.registry.host, row.image);
        let started = Instant::now();
        let outcome = verify(&reference);
        let took = started.elapsed();

        let name = row.name;
        assert!(
            !outcome.stderr.contains("panicked"),
            "{name}: panic\n{outcome}"
        );
        assert!(
            matches!(outcome.code, Some(1 | 2)),
            "{name}: exit code\n{outcome}"
        );
        assert!(
            !outcome.stdout.contains("\"verified\": true"),
            "{name}: verified\n{outcome}"
        );
        assert!(took <= TIMEOUT + MARGIN, "{name}: took {took:?}\n{outcome}");
        let reason = reason(&outcome);
        if !row.reasons.contains(&reason.as_str()) {
            failures.push(format!(
                "{name}: reason {reason:?}, expected one of {:?}\n{outcome}",
                row.reasons
            ));
        }
        let message = outcome.json().to_string();
        assert!(
            message.len() > reason.len() + 20,
            "{name}: no detail\n{outcome}"
        );
        (row.check)(&row, &outcome);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The same table against `sigward serve` (issue 8, item 15): each row is answered for 50
/// concurrent AdmissionReviews naming the hostile image, every one a denial with a reason
/// within the request deadline (plus the time curl takes to start under that load), and
/// `/healthz` answers meanwhile. Failures are not cached (`--cache-failure-ttl 0`), so each
/// review goes to the registry itself. Rows that need registry credentials run only in the
/// CLI table: the server reads its Docker config once, at start.
#[test]
fn every_hostile_registry_is_denied_by_the_server_under_load() {
    use std::sync::Arc;

    use crate::support::webhook::{Webhook, admission_review, key_policy};

    const REVIEWS: usize = 50;
    const DEADLINE: Duration = Duration::from_secs(4);
    const CURL_MARGIN: Duration = Duration::from_secs(4);
    let lab = Lab::new();
    let key = lab.plain_key_pair("hostile");
    let policies = lab.path("hostile-policies");
    std::fs::create_dir_all(&policies).expect("policy dir");
    std::fs::write(
        policies.join("all.yaml"),
        key_policy("every-image", "**", &key, "enforce"),
    )
    .expect("policy");
    let deadline = DEADLINE.as_secs().to_string();
    let webhook = Arc::new(Webhook::start(
        &lab,
        &policies,
        &["--request-timeout", &deadline, "--cache-failure-ttl", "0"],
    ));
    let subject = Subject::new();
    let mut rows_run = 0;
    for row in rows(&subject) {
        if row.credentials.is_some() {
            continue;
        }
        rows_run += 1;
        let image = format!("{}/{}", row.registry.host, row.image);
        let flood: Vec<_> = (0..REVIEWS)
            .map(|n| {
                let pod = json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": { "name": format!("hostile-{n}"), "namespace": "default" },
                    "spec": { "containers": [{ "name": "app", "image": image }] },
                });
                let review = admission_review(&pod, &format!("uid-{n}"), None);
                let webhook = Arc::clone(&webhook);
                std::thread::spawn(move || {
                    let sent = Instant::now();
                    let response = webhook.review("/validate", &review);
                    (response, sent.elapsed())
                })
            })
            .collect();
        let (healthz, _) = webhook.get("/healthz");
        assert_eq!(healthz, 200, "{}: /healthz while under load", row.name);
        for joined in flood {
            let (response, took) = joined.join().expect("review thread");
            let name = row.name;
            assert_eq!(response["allowed"], false, "{name}: {response}");
            let message = response["status"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains(&row.registry.host) && message.len() > image.len() + 20,
                "{name}: no reason: {response}"
            );
            assert!(!message.contains("panicked"), "{name}: panic: {response}");
            assert!(
                took <= DEADLINE + CURL_MARGIN,
                "{name}: answered after {took:?}: {response}"
            );
        }
    }
    assert!(rows_run >= 18, "{rows_run} rows");
    assert_eq!(webhook.get("/healthz").0, 200, "/healthz after the table");
    assert_eq!(webhook.get("/readyz").0, 200, "ready after the table");
}

/// The `--timeout` watchdog (issue 8, item 11): whatever blocks outside the registry calls
/// (here the key file, a FIFO nobody writes to), the command ends within its timeout plus the
/// watchdog's grace, with exit 2 and the reason.
#[test]
fn the_watchdog_ends_a_command_blocked_outside_the_registry() {
    let lab = Lab::new();
    let fifo = lab.path("key.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let started = Instant::now();
    let outcome = Outcome::run(
        lab.sigward()
            .args(["verify", "--timeout", "1s", "--key"])
            .arg(&fifo)
            .arg("127.0.0.1:9/nothing:v1"),
    );
    let took = started.elapsed();
    assert_eq!(outcome.code, Some(2), "{outcome}");
    assert!(outcome.stderr.contains("timeout"), "{outcome}");
    assert!(
        took < Duration::from_secs(1) + MARGIN,
        "took {took:?}\n{outcome}"
    );
}
