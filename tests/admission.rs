//! Admission end to end (issue 4): `sigward serve` over real HTTPS, AdmissionReviews built
//! from objects Debian's `kubectl` generates offline, images in a real `docker-registry`
//! signed by cosign 2.5, and `sigward evaluate` deciding the same objects locally.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::webhook::{
    Webhook, admission_review, apply_patch, key_policy, kubectl, pod_from,
};
use crate::support::{Image, KeyPair, Lab, Outcome, repo_root};

/// A lab with one cosign-signed and one unsigned image under `signed/` and `warned/`, and a
/// policy directory: `signed-by-team` (enforce, `HOST/signed/**`) and `warn-only` (warn,
/// `HOST/warned/**`), both trusting the cosign key.
struct World {
    lab: Lab,
    key: KeyPair,
    signed: Image,
    unsigned: Image,
    warned: Image,
    policies: PathBuf,
}

fn world() -> World {
    let lab = Lab::new();
    let key = lab.cosign_key_pair("team");
    let signed = lab.push_image("signed/app", "v1");
    lab.cosign_sign(&signed, &key, &[]);
    let unsigned = lab.push_image("signed/unsigned", "v1");
    let warned = lab.push_image("warned/app", "v1");
    let policies = lab.path("policies");
    fs::create_dir_all(&policies).expect("policy dir");
    let host = lab.registry.host();
    fs::write(
        policies.join("signed.yaml"),
        key_policy(
            "signed-by-team",
            &format!("{host}/signed/**"),
            &key,
            "enforce",
        ),
    )
    .expect("policy");
    fs::write(
        policies.join("warn.yaml"),
        key_policy("warn-only", &format!("{host}/warned/**"), &key, "warn"),
    )
    .expect("policy");
    World {
        lab,
        key,
        signed,
        unsigned,
        warned,
        policies,
    }
}

fn deployment(lab: &Lab, name: &str, images: &[String]) -> Value {
    let mut args = vec![
        "create".to_owned(),
        "deployment".to_owned(),
        name.to_owned(),
    ];
    args.extend(images.iter().map(|image| format!("--image={image}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    kubectl(lab, &args)
}

/// `sigward evaluate --policy POLICIES FLAG FILE EXTRA…` in the lab.
fn evaluate(lab: &Lab, policies: &Path, flag: &str, file: &Path, extra: &[&str]) -> Outcome {
    Outcome::run(
        lab.sigward()
            .arg("evaluate")
            .arg("--policy")
            .arg(policies)
            .arg(flag)
            .arg(file)
            .args(extra),
    )
}

fn images_of(object: &Value, pointer: &str) -> Vec<String> {
    object
        .pointer(pointer)
        .and_then(Value::as_array)
        .expect("containers")
        .iter()
        .map(|c| c["image"].as_str().expect("image").to_owned())
        .collect()
}

#[test]
fn validates_and_mutates_kubectl_objects_against_the_real_registry() {
    let w = world();
    let webhook = Webhook::start(&w.lab, &w.policies, &[]);

    // A signed image by tag: allowed, with a warning that the tag is not pinned.
    let object = deployment(&w.lab, "web", &[w.signed.by_tag()]);
    let review = admission_review(&object, "uid-allow", None);
    let response = webhook.review("/validate", &review);
    assert_eq!(response["allowed"], true, "{response}");
    let warnings = response["warnings"].to_string();
    assert!(
        warnings.contains("not pinned") && warnings.contains(&w.signed.digest),
        "{warnings}"
    );
    assert!(response.get("patch").is_none(), "validation never patches");

    // Mutation pins the tag to the verified digest; the patched object then passes
    // validation with no warning at all.
    let response = webhook.review("/mutate", &review);
    assert_eq!(response["allowed"], true, "{response}");
    let mut patched = object;
    apply_patch(&mut patched, &response);
    // The tag stays for people; the digest decides what runs.
    let pinned = format!("{}@{}", w.signed.by_tag(), w.signed.digest);
    assert_eq!(
        images_of(&patched, "/spec/template/spec/containers"),
        [pinned]
    );
    let response = webhook.review("/validate", &admission_review(&patched, "uid-pinned", None));
    assert_eq!(response["allowed"], true, "{response}");
    assert!(response.get("warnings").is_none(), "{response}");

    // An unsigned image: denied, and the message names container, image, policy, authority
    // and the failed check.
    let object = deployment(&w.lab, "mixed", &[w.signed.by_tag(), w.unsigned.by_tag()]);
    let response = webhook.review("/validate", &admission_review(&object, "uid-deny", None));
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["code"], 403);
    let message = response["status"]["message"].as_str().expect("message");
    for part in [
        "container \"unsigned\"",
        &w.unsigned.by_tag(),
        "policy \"signed-by-team\"",
        "authority \"team-key\"",
        "signature: no-signatures",
    ] {
        assert!(message.contains(part), "{part:?} not in {message}");
    }
    assert!(!message.contains("container \"app\""), "{message}");
    let response = webhook.review("/mutate", &admission_review(&object, "uid-deny-m", None));
    assert_eq!(response["allowed"], false);
    assert!(response.get("patch").is_none());

    // A warn-mode policy: allowed, with the failure as a warning.
    let object = deployment(&w.lab, "warned", &[w.warned.by_tag()]);
    let response = webhook.review("/validate", &admission_review(&object, "uid-warn", None));
    assert_eq!(response["allowed"], true, "{response}");
    let warnings = response["warnings"].to_string();
    assert!(
        warnings.contains("warn-only") && warnings.contains("no-signatures"),
        "{warnings}"
    );

    // An image no policy matches is denied by default.
    let stray = w.lab.push_image("stray/app", "v1");
    let object = deployment(&w.lab, "stray", &[stray.by_tag()]);
    let response = webhook.review("/validate", &admission_review(&object, "uid-stray", None));
    assert_eq!(response["allowed"], false);
    assert!(
        response["status"]["message"]
            .to_string()
            .contains("no ClusterImagePolicy matches")
    );

    // Other workload kinds kubectl makes: CronJob and Job.
    for (kind, args) in [
        (
            "cronjob",
            vec!["create", "cronjob", "nightly", "--schedule=0 3 * * *"],
        ),
        ("job", vec!["create", "job", "once"]),
    ] {
        let image = format!("--image={}", w.unsigned.by_tag());
        let mut args = args.clone();
        args.push(&image);
        let object = kubectl(&w.lab, &args);
        let response = webhook.review("/validate", &admission_review(&object, kind, None));
        assert_eq!(response["allowed"], false, "{kind}: {response}");
    }

    // Logs are JSON lines: one per request with its decision, never a request body.
    let logs = webhook.logs.lock().expect("logs").clone();
    assert!(
        logs.lines()
            .all(|line| serde_json::from_str::<Value>(line).is_ok()),
        "{logs}"
    );
    assert!(logs.contains("\"decision\":\"deny\""), "{logs}");
    assert!(
        !logs.contains("resources"),
        "no object content in logs: {logs}"
    );

    // Graceful shutdown: SIGTERM ends the process cleanly.
    assert!(webhook.stop().success());
}

#[test]
fn init_and_ephemeral_containers_are_checked() {
    let w = world();
    let webhook = Webhook::start(&w.lab, &w.policies, &[]);
    let base = deployment(&w.lab, "base", &[w.signed.by_digest()]);
    let mut pod = pod_from(&base, "with-init");
    pod["spec"]["initContainers"] = json!([{ "name": "setup", "image": w.unsigned.by_tag() }]);
    let response = webhook.review("/validate", &admission_review(&pod, "uid-init", None));
    assert_eq!(response["allowed"], false);
    assert!(
        response["status"]["message"]
            .to_string()
            .contains("container \\\"setup\\\""),
        "{response}"
    );

    // `kubectl debug` adds an ephemeral container through the pods/ephemeralcontainers
    // subresource: an UPDATE of the Pod.
    let mut pod = pod_from(&base, "debugged");
    pod["spec"]["ephemeralContainers"] =
        json!([{ "name": "debugger", "image": w.unsigned.by_tag() }]);
    let response = webhook.review(
        "/validate",
        &admission_review(&pod, "uid-ephemeral", Some("ephemeralcontainers")),
    );
    assert_eq!(response["allowed"], false);
    assert!(
        response["status"]["message"]
            .to_string()
            .contains("debugger"),
        "{response}"
    );
    pod["spec"]["ephemeralContainers"][0]["image"] = json!(w.signed.by_tag());
    let response = webhook.review(
        "/mutate",
        &admission_review(&pod, "uid-ephemeral-ok", Some("ephemeralcontainers")),
    );
    assert_eq!(response["allowed"], true, "{response}");
    apply_patch(&mut pod, &response);
    assert_eq!(
        images_of(&pod, "/spec/ephemeralContainers"),
        [format!("{}@{}", w.signed.by_tag(), w.signed.digest)]
    );
}

#[test]
fn require_digest_denies_tags_that_mutation_would_pin() {
    let w = world();
    let webhook = Webhook::start(&w.lab, &w.policies, &["--require-digest"]);
    let object = deployment(&w.lab, "web", &[w.signed.by_tag()]);
    let response = webhook.review("/validate", &admission_review(&object, "uid-tag", None));
    assert_eq!(response["allowed"], false);
    assert!(
        response["status"]["message"]
            .to_string()
            .contains("not pinned by digest")
    );
    // The mutating webhook still resolves, verifies and pins; what it produces validates.
    let response = webhook.review("/mutate", &admission_review(&object, "uid-mut", None));
    let mut patched = object;
    apply_patch(&mut patched, &response);
    let response = webhook.review("/validate", &admission_review(&patched, "uid-dig", None));
    assert_eq!(response["allowed"], true, "{response}");
}

#[test]
fn eight_containers_sharing_an_image_fetch_and_verify_once() {
    let w = world();
    let webhook = Webhook::start(&w.lab, &w.policies, &[]);
    let images: Vec<String> = (0..8).map(|_| w.signed.by_digest()).collect();
    let base = deployment(&w.lab, "eight", &images[..1]);
    let mut pod = pod_from(&base, "eight");
    pod["spec"]["containers"] = images
        .iter()
        .enumerate()
        .map(|(i, image)| json!({ "name": format!("c{i}"), "image": image }))
        .collect();
    let attached = || webhook.metric("sigward_registry_fetches_total", &["kind=\"attached\""]);
    let verifications = || webhook.metric("sigward_verifications_total", &[]);
    let (fetches_before, verified_before) = (attached(), verifications());
    let response = webhook.review("/validate", &admission_review(&pod, "uid-8", None));
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(attached() - fetches_before, 1.0, "one signature fetch");
    assert_eq!(verifications() - verified_before, 1.0, "one verification");
    assert_eq!(
        webhook.metric("sigward_verifications_total", &["outcome=\"verified\""]),
        1.0
    );

    // Again: answered from the verdict cache, nothing fetched or verified.
    let hits = webhook.metric("sigward_cache_lookups_total", &["result=\"hit\""]);
    let response = webhook.review("/validate", &admission_review(&pod, "uid-8b", None));
    assert_eq!(response["allowed"], true);
    assert_eq!(attached() - fetches_before, 1.0);
    assert_eq!(verifications() - verified_before, 1.0);
    assert!(webhook.metric("sigward_cache_lookups_total", &["result=\"hit\""]) > hits);
    assert!(webhook.metric("sigward_decisions_total", &["decision=\"allow\""]) >= 2.0);
    assert!(webhook.metric("sigward_verification_duration_seconds_count", &[]) >= 1.0);
}

#[test]
fn gatekeeper_provider_round_trip() {
    let w = world();
    let webhook = Webhook::start(&w.lab, &w.policies, &[]);
    let request = json!({
        "apiVersion": "externaldata.gatekeeper.sh/v1beta1",
        "kind": "ProviderRequest",
        "request": { "keys": [w.signed.by_tag(), w.unsigned.by_tag()] },
    });
    let (status, body) = webhook.post("/gatekeeper", request.to_string().as_bytes());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["apiVersion"], "externaldata.gatekeeper.sh/v1beta1");
    assert_eq!(body["kind"], "ProviderResponse");
    let items = body["response"]["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["key"], w.signed.by_tag().as_str());
    assert_eq!(items[0]["value"], w.signed.digest.as_str());
    assert!(items[0].get("error").is_none(), "{body}");
    assert_eq!(items[1]["key"], w.unsigned.by_tag().as_str());
    assert!(
        items[1]["error"].to_string().contains("no-signatures"),
        "{body}"
    );
    assert!(body["response"].get("systemError").is_none());

    let (status, body) = webhook.post("/gatekeeper", b"{\"kind\":\"ProviderRequest\"}");
    assert_eq!(status, 400);
    assert!(
        body["response"]["systemError"].to_string().contains("keys"),
        "{body}"
    );
}

/// Issue 8 item 16 (and issue 4): hostile request bodies over real HTTPS, one table: each gets
/// a clear error status and message, never a panic or a stack overflow, and the server keeps
/// serving. Slow and idle clients are in the transport's tests (host/src/server/tests.rs).
#[test]
fn bad_input_gets_clear_errors_and_the_server_keeps_serving() {
    let w = world();
    let webhook = Webhook::start(&w.lab, &w.policies, &[]);

    let mut big = deployment(&w.lab, "big", &[w.signed.by_digest()]);
    big["metadata"]["annotations"] = json!({ "filler": "x".repeat(10 << 20) });
    let big = admission_review(&big, "uid-big", None).to_string();
    // 100,000 levels: far past serde_json's recursion limit (128), which must turn it into
    // an error before the parser's recursion can overflow a worker thread's stack.
    let deep_array = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = format!(
        r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u","object":{}1{}}}}}"#,
        r#"{"a":"#.repeat(100_000),
        "}".repeat(100_000)
    );
    let deep_keys = format!(
        r#"{{"kind":"ProviderRequest","request":{{"keys":{}}}}}"#,
        deep_array
    );
    // 64 MiB of zeros gzip'd to about 64 KiB; nothing on the server decompresses it.
    let bomb = Outcome::run(
        std::process::Command::new("sh")
            .args(["-c", "head -c 67108864 /dev/zero | gzip -9 | base64 -w0"]),
    );
    let bomb = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(bomb.stdout.trim())
            .expect("gzip output")
    };
    // Name, path, extra headers, body, expected status, expected part of the answer.
    type Case<'a> = (&'a str, &'a str, &'a [&'a str], &'a [u8], u16, &'a str);
    let cases: [Case<'_>; 8] = [
        (
            "not JSON",
            "/validate",
            &[],
            b"this is not JSON",
            400,
            "not JSON",
        ),
        (
            "no request",
            "/validate",
            &[],
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#,
            400,
            "no request",
        ),
        (
            "100k-deep array",
            "/validate",
            &[],
            deep_array.as_bytes(),
            400,
            "recursion limit",
        ),
        (
            "100k-deep object",
            "/mutate",
            &[],
            deep_object.as_bytes(),
            400,
            "recursion limit",
        ),
        (
            "100k-deep keys",
            "/gatekeeper",
            &[],
            deep_keys.as_bytes(),
            400,
            "recursion limit",
        ),
        (
            "10 MiB object",
            "/validate",
            &[],
            big.as_bytes(),
            413,
            "larger than",
        ),
        (
            "gzip bomb",
            "/validate",
            &["Content-Encoding: gzip"],
            &bomb,
            415,
            "Content-Encoding is not supported",
        ),
        ("empty", "/validate", &[], b"", 400, "not JSON"),
    ];
    for (name, path, headers, body, status, message) in cases {
        let (got, answer) = webhook.post_with(path, headers, body);
        assert_eq!(got, status, "{name}: {answer}");
        assert!(answer.to_string().contains(message), "{name}: {answer}");
        assert_eq!(webhook.get("/healthz").0, 200, "{name}: still alive");
    }

    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}});
    let response = webhook.review("/validate", &admission_review(&secret, "uid-secret", None));
    assert_eq!(response["allowed"], false, "fail closed");
    assert_eq!(response["status"]["code"], 400);
    assert!(
        response["status"]["message"].to_string().contains("Secret"),
        "{response}"
    );

    // Still serving.
    let object = deployment(&w.lab, "after", &[w.signed.by_digest()]);
    let response = webhook.review("/validate", &admission_review(&object, "uid-after", None));
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(webhook.get("/healthz").0, 200);
    assert_eq!(webhook.get("/nowhere").0, 404);
}

#[test]
fn invalid_policies_are_refused_at_start_with_file_and_field() {
    let lab = Lab::new();
    let dir = lab.path("bad-policies");
    fs::create_dir_all(&dir).expect("dir");
    fs::write(
        dir.join("bad-glob.yaml"),
        "apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: bad}
spec:
  images: [{glob: \"registry.example.com/[abc]\"}]
  authorities: [{static: {action: pass}}]
",
    )
    .expect("policy");
    let (cert, key) = (lab.path("tls.crt"), lab.path("tls.key"));
    crate::support::webhook::self_signed(&cert, &key);
    let outcome = Outcome::run(
        lab.sigward()
            .arg("serve")
            .arg("--policy")
            .arg(&dir)
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .args(["--listen", "127.0.0.1:0"]),
    );
    assert_eq!(outcome.code, Some(2), "{outcome:?}");
    for part in ["bad-glob.yaml", "spec.images[0].glob", "[abc]"] {
        assert!(
            outcome.stderr.contains(part),
            "{part:?} not in {}",
            outcome.stderr
        );
    }
}

#[test]
fn evaluate_decides_manifests_locally_like_the_server() {
    let w = world();
    let webhook = Webhook::start(&w.lab, &w.policies, &[]);
    for (name, image, allowed) in [
        ("good", w.signed.by_tag(), true),
        ("bad", w.unsigned.by_tag(), false),
    ] {
        let object = deployment(&w.lab, name, &[image]);
        let manifest = w.lab.file("manifest.json", object.to_string());
        let outcome = evaluate(&w.lab, &w.policies, "--manifest", &manifest, &["--mutate"]);
        assert_eq!(
            outcome.code,
            Some(if allowed { 0 } else { 1 }),
            "{outcome:?}"
        );
        let local: Value = serde_json::from_str(&outcome.stdout).expect("JSON response");
        let served = webhook.review(
            "/mutate",
            &admission_review(&object, "sigward-evaluate", None),
        );
        // The same pipeline decided both: the whole responses are equal.
        assert_eq!(local["response"], served);
        assert_eq!(local["kind"], "AdmissionReview");
        // Decided inside the component, the answer is the same too.
        let in_component = evaluate(
            &w.lab,
            &w.policies,
            "--manifest",
            &manifest,
            &["--mutate", "--decide-in-component"],
        );
        assert_eq!(in_component.code, outcome.code, "{in_component:?}");
        let in_component: Value =
            serde_json::from_str(&in_component.stdout).expect("JSON response");
        assert_eq!(in_component, local);
        assert!(
            outcome
                .stderr
                .contains(if allowed { "ALLOWED" } else { "DENIED" })
        );
        assert!(
            outcome.stderr.contains("policy \"signed-by-team\""),
            "{}",
            outcome.stderr
        );
    }
    // A multi-document manifest: every workload is decided, anything else is skipped.
    let service = kubectl(
        &w.lab,
        &["create", "service", "clusterip", "svc", "--tcp=80:80"],
    );
    let good = deployment(&w.lab, "good", &[w.signed.by_tag()]);
    let bad = deployment(&w.lab, "bad", &[w.unsigned.by_tag()]);
    let stream = format!("{service}\n---\n{good}\n---\n{bad}\n");
    let manifest = w.lab.file("stream.yaml", stream);
    let outcome = evaluate(&w.lab, &w.policies, "--manifest", &manifest, &[]);
    assert_eq!(outcome.code, Some(1), "{outcome:?}");
    for line in [
        "skipping Service/svc",
        "ALLOWED Deployment/good",
        "DENIED Deployment/bad",
    ] {
        assert!(
            outcome.stderr.contains(line),
            "{line:?} not in {}",
            outcome.stderr
        );
    }

    // An AdmissionReview file works the same way.
    let object = deployment(&w.lab, "review", &[w.signed.by_digest()]);
    let review = w.lab.file(
        "review.json",
        admission_review(&object, "uid-file", None).to_string(),
    );
    let outcome = evaluate(&w.lab, &w.policies, "--request", &review, &[]);
    assert_eq!(outcome.code, Some(0), "{outcome:?}");
    let local: Value = serde_json::from_str(&outcome.stdout).expect("JSON");
    assert_eq!(local["response"]["uid"], "uid-file");
}

#[test]
fn attestation_conditions_are_evaluated_on_the_verified_statement() {
    use crate::support::lab::Attestation;
    let lab = Lab::new();
    let key = lab.cosign_key_pair("builder");
    let approved = lab.push_image("attested/approved", "v1");
    let pending = lab.push_image("attested/pending", "v1");
    lab.cosign_attest(
        &approved,
        &key,
        &lab.file("approved.txt", "release-approved"),
        Attestation::AttLayer,
    );
    lab.cosign_attest(
        &pending,
        &key,
        &lab.file("pending.txt", "release-pending"),
        Attestation::Bundle,
    );
    let pem = fs::read_to_string(&key.public).expect("key");
    let pem = pem.trim_end().replace('\n', "\n          ");
    let policy = |language: &str, condition: &str| {
        let dir = lab.path(&format!("attested-{language}-{}", condition.len()));
        fs::create_dir_all(&dir).expect("dir");
        fs::write(
            dir.join("policy.yaml"),
            format!(
                "apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: reviewed}}
spec:
  images: [{{glob: \"{host}/attested/**\"}}]
  authorities:
  - name: builder-key
    key:
      data: |
          {pem}
    attestations:
    - name: review
      predicateType: custom
      policy:
        type: {language}
        data: |
          {condition}
",
                host = lab.registry.host()
            ),
        )
        .expect("policy");
        dir
    };
    let evaluate_image = |policies: &PathBuf, image: &Image| {
        let object = deployment(&lab, "attested", &[image.by_digest()]);
        let manifest = lab.file("manifest.json", object.to_string());
        evaluate(&lab, policies, "--manifest", &manifest, &[])
    };
    let cue = policy("cue", "predicate: Data: =~\"^release-approved$\"");
    let outcome = evaluate_image(&cue, &approved);
    assert_eq!(outcome.code, Some(0), "{outcome:?}");
    let outcome = evaluate_image(&cue, &pending);
    assert_eq!(outcome.code, Some(1), "{outcome:?}");
    assert!(
        outcome.stdout.contains("condition-unmet: predicate.Data"),
        "{}",
        outcome.stdout
    );
    // The same decision through the server (the host-side path to the statements).
    let webhook = Webhook::start(&lab, &cue, &[]);
    for (image, allowed) in [(&approved, true), (&pending, false)] {
        let object = deployment(&lab, "attested", &[image.by_tag()]);
        let response = webhook.review("/validate", &admission_review(&object, "uid-att", None));
        assert_eq!(response["allowed"], allowed, "{response}");
    }
    // Rego is not evaluated: fail closed.
    let rego = policy("rego", "package sigstore");
    let outcome = evaluate_image(&rego, &approved);
    assert_eq!(outcome.code, Some(1), "{outcome:?}");
    assert!(
        outcome.stdout.contains("condition-unsupported"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn a_registry_that_never_answers_still_gets_an_answer_in_time() {
    // A fault-injecting "registry": accepts connections and never says a word.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = hung.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in hung.incoming() {
            held.push(stream);
        }
    });
    let lab = Lab::new();
    let key = lab.cosign_key_pair("team");
    let dir = lab.path("hung-policies");
    fs::create_dir_all(&dir).expect("dir");
    let host = format!("127.0.0.1:{port}");
    fs::write(
        dir.join("enforce.yaml"),
        key_policy("enforced", &format!("{host}/enforced/**"), &key, "enforce"),
    )
    .expect("policy");
    fs::write(
        dir.join("warn.yaml"),
        key_policy("warned", &format!("{host}/warned/**"), &key, "warn"),
    )
    .expect("policy");
    let webhook = Webhook::start(&lab, &dir, &["--request-timeout", "2"]);
    let digest = format!("sha256:{}", "ab".repeat(32));
    for (path, allowed) in [("enforced", false), ("warned", true)] {
        let tagged = format!("{host}/{path}/app:v1");
        let pinned = format!("{host}/{path}/db@{digest}");
        let object = deployment(&lab, path, &[tagged, pinned]);
        let response = webhook.review("/validate", &admission_review(&object, path, None));
        assert_eq!(response["allowed"], allowed, "{response}");
        let text = response.to_string();
        assert!(
            text.contains("container \\\"app\\\"") && text.contains("container \\\"db\\\""),
            "{text}"
        );
        assert!(
            text.contains("unavailable") || text.contains("deadline"),
            "{text}"
        );
    }
    assert_eq!(webhook.get("/healthz").0, 200);
}

#[test]
fn signatures_kept_in_another_repository_are_found_through_source_oci() {
    let lab = Lab::new();
    let key = lab.cosign_key_pair("team");
    let image = lab.push_image("apps/elsewhere", "v1");
    let store = format!("{}/signatures/store", lab.registry.host());
    lab.cosign_sign_into(&image, &key, &store);

    let policies = lab.path("source-policies");
    fs::create_dir_all(&policies).expect("dir");
    let glob = format!("{}/apps/**", lab.registry.host());
    let with_source = key_policy("signed-elsewhere", &glob, &key, "enforce").replace(
        "  - name: team-key\n",
        &format!("  - name: team-key\n    source:\n    - oci: {store}\n"),
    );
    fs::write(policies.join("policy.yaml"), with_source).expect("policy");
    let evaluate_with = |dir: &PathBuf| {
        let object = deployment(&lab, "elsewhere", &[image.by_tag()]);
        let manifest = lab.file("manifest.json", object.to_string());
        evaluate(&lab, dir, "--manifest", &manifest, &[])
    };
    let outcome = evaluate_with(&policies);
    assert_eq!(outcome.code, Some(0), "{outcome:?}");

    // Without `source`, the image's own repository has no signature.
    let plain = lab.path("plain-policies");
    fs::create_dir_all(&plain).expect("dir");
    fs::write(
        plain.join("policy.yaml"),
        key_policy("signed-here", &glob, &key, "enforce"),
    )
    .expect("policy");
    let outcome = evaluate_with(&plain);
    assert_eq!(outcome.code, Some(1), "{outcome:?}");
    assert!(
        outcome.stdout.contains("no-signatures"),
        "{}",
        outcome.stdout
    );

    // `sigward verify` finds them the way cosign does, through COSIGN_REPOSITORY.
    lab.verify(
        &image.by_tag(),
        &[&key],
        &["--signature-repository", &store],
    )
    .assert_verified();
    lab.verify(&image.by_tag(), &[&key], &[])
        .assert_rejected("no-signatures");
}

#[test]
fn changed_policy_files_are_put_in_force_and_broken_ones_refused() {
    let lab = Lab::new();
    let image = lab.push_image("stray/app", "v1");
    let dir = lab.path("live-policies");
    fs::create_dir_all(&dir).expect("dir");
    let policy = |action: &str| {
        format!(
            "apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: listed}}
spec:
  images: [{{glob: \"{}/stray/**\"}}]
  authorities: [{{name: list, static: {{action: {action}}}}}]
",
            lab.registry.host()
        )
    };
    fs::write(dir.join("policy.yaml"), policy("pass")).expect("policy");
    let webhook = Webhook::start(&lab, &dir, &[]);
    let review = admission_review(&deployment(&lab, "stray", &[image.by_tag()]), "uid", None);
    assert_eq!(webhook.review("/validate", &review)["allowed"], true);

    let until = |allowed: bool| {
        for _ in 0..200 {
            if webhook.review("/validate", &review)["allowed"] == allowed {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the decision never became allowed={allowed}");
    };
    fs::write(dir.join("policy.yaml"), policy("fail")).expect("policy");
    until(false);

    // A broken edit is refused; the policy in force stays.
    fs::write(dir.join("policy.yaml"), "spec: [not, a, policy").expect("policy");
    for _ in 0..200 {
        if webhook
            .logs
            .lock()
            .expect("logs")
            .contains("policies not reloaded")
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        webhook
            .logs
            .lock()
            .expect("logs")
            .contains("policies not reloaded")
    );
    assert_eq!(webhook.review("/validate", &review)["allowed"], false);
    fs::write(dir.join("policy.yaml"), policy("pass")).expect("policy");
    until(true);
}

/// Issue 8 item 8, at small scale: many AdmissionReviews naming images whose `.sig` lists
/// layers that a registry answers slowly (each blob inside the per-call timeout). Every review
/// is denied by its deadline (`deadline`, or `overloaded` when no verification slot came
/// free), the server's readiness says it is saturated meanwhile, the verifications really end
/// (the in-flight gauge drains within deadline + 1 s of the last answer, instead of fetching
/// on for minutes), and then a freshly signed image on a healthy registry is allowed.
#[test]
fn slow_registries_are_bounded_and_the_server_recovers_at_the_deadline() {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use crate::support::slow::SlowRegistry;

    let w = world();
    let reviews = 24;
    let slow = SlowRegistry::start(reviews, 50, Duration::from_millis(800));
    // The same registry under two names: two registry hosts, which together can take every
    // verification slot (each alone may take only its share).
    let hosts = [
        format!("127.0.0.1:{}", slow.port),
        format!("localhost:{}", slow.port),
    ];
    let key = w.lab.cosign_key_pair("slow");
    for (n, host) in hosts.iter().enumerate() {
        fs::write(
            w.policies.join(format!("slow-{n}.yaml")),
            key_policy(&format!("slow-{n}"), &format!("{host}/**"), &key, "enforce"),
        )
        .expect("policy");
    }
    let deadline = Duration::from_secs(2);
    let webhook = Arc::new(Webhook::start(
        &w.lab,
        &w.policies,
        &[
            "--request-timeout",
            "2",
            "--max-verifications",
            "4",
            "--max-verifications-per-registry",
            "2",
        ],
    ));
    let flood: Vec<_> = slow
        .digests
        .iter()
        .enumerate()
        .map(|(n, digest)| {
            let image = format!("{}/slow/app@{digest}", hosts[n % 2]);
            let review = admission_review(
                &deployment(&w.lab, &format!("slow-{n}"), &[image]),
                &format!("uid-slow-{n}"),
                None,
            );
            let webhook = Arc::clone(&webhook);
            std::thread::spawn(move || {
                let sent = Instant::now();
                let response = webhook.review("/validate", &review);
                (response, sent.elapsed())
            })
        })
        .collect();
    // Saturated: every slot taken, and readiness says so.
    let started = Instant::now();
    let mut unready = false;
    while started.elapsed() < deadline * 2 && !unready {
        unready = webhook.get("/readyz").0 == 503;
    }
    assert!(unready, "/readyz never reported the saturation");
    assert_eq!(webhook.get("/healthz").0, 200, "liveness is not readiness");

    for joined in flood {
        let (response, took) = joined.join().expect("review thread");
        assert_eq!(response["allowed"], false, "{response}");
        let message = response["status"]["message"].to_string();
        assert!(
            message.contains("deadline") || message.contains("overloaded"),
            "{message}"
        );
        // The curl process itself takes a moment to start.
        assert!(
            took < deadline + Duration::from_secs(3),
            "answered after {took:?}"
        );
    }
    let answered = Instant::now();
    let in_flight = || webhook.metric("sigward_verifications_in_flight", &[]);
    while in_flight() > 0.0 {
        assert!(
            answered.elapsed() < deadline + Duration::from_secs(1),
            "verifications still running {:?} after the last answer",
            answered.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let blobs = slow.blob_requests.load(std::sync::atomic::Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        slow.blob_requests.load(std::sync::atomic::Ordering::SeqCst),
        blobs,
        "nothing fetches after the deadline"
    );
    assert_eq!(webhook.get("/readyz").0, 200, "ready again");

    // A freshly signed image on the healthy registry is allowed.
    let fresh = w.lab.push_image("signed/fresh", "v1");
    w.lab.cosign_sign(&fresh, &w.key, &[]);
    let object = deployment(&w.lab, "fresh", &[fresh.by_digest()]);
    let response = webhook.review("/validate", &admission_review(&object, "uid-fresh", None));
    assert_eq!(response["allowed"], true, "{response}");
}

/// Issue 8, item 6: the server took `oci:/some/path` from the cluster, read the layout and
/// answered with errors naming its files. A policy over every image trusts the key of the
/// demo layout kept in the repository, so reading it would verify; the server refuses every
/// layout the same way, whether the directory exists or not, and keeps serving.
#[test]
fn the_server_refuses_image_layouts_named_by_the_cluster() {
    let lab = Lab::new();
    let policies = lab.path("layout-policies");
    fs::create_dir_all(&policies).expect("policy dir");
    let pem = fs::read_to_string(repo_root().join("host/demo/cosign.pub")).expect("demo key");
    let pem = pem.trim_end().replace('\n', "\n          ");
    fs::write(
        policies.join("all.yaml"),
        format!(
            "apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: every-image
spec:
  images:
  - glob: \"**\"
  authorities:
  - name: demo-key
    key:
      data: |
          {pem}
"
        ),
    )
    .expect("policy");
    let webhook = Webhook::start(&lab, &policies, &["--no-match", "allow"]);
    let existing = format!("oci:{}", repo_root().join("host/demo/layout").display());
    let missing = format!("oci:{}", lab.path("no-such-layout").display());
    let mut answers = Vec::new();
    for image in [&existing, &missing] {
        for path in ["/validate", "/mutate"] {
            let pod = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "namespace": "default"},
                "spec": {"containers": [{"name": "app", "image": image}]},
            });
            let response = webhook.review(path, &admission_review(&pod, "uid-layout", None));
            assert_eq!(response["allowed"], false, "{image} {path}: {response}");
            assert!(response.get("patch").is_none(), "{response}");
            answers.push(
                response["status"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
        let request = json!({
            "apiVersion": "externaldata.gatekeeper.sh/v1beta1",
            "kind": "ProviderRequest",
            "request": { "keys": [image] },
        });
        let (status, body) = webhook.post("/gatekeeper", request.to_string().as_bytes());
        assert_eq!(status, 200, "{body}");
        let item = &body["response"]["items"][0];
        assert_eq!(item["value"], "", "{body}");
        answers.push(item["error"].as_str().unwrap_or_default().to_owned());
        for answer in answers.iter_mut() {
            *answer = answer.replace(image.as_str(), "IMAGE");
        }
    }
    for answer in &answers {
        assert!(
            answer.contains("image layouts (oci:…) are read by the sigward CLI only"),
            "{answer}"
        );
        for leak in [
            "index.json",
            "oci-layout",
            "blobs",
            "No such file",
            "os error",
        ] {
            assert!(!answer.contains(leak), "{leak} in {answer}");
        }
    }
    // Nothing tells an existing directory from a missing one.
    assert_eq!(answers[..3], answers[3..], "{answers:?}");
    assert_eq!(webhook.get("/healthz").0, 200);
}
