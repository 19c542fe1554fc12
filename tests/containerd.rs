//! Enforcement at pull time (issue 11): a real containerd 2.1 calls `sigward
//! containerd-verifier` as its image verifier (plugin `io.containerd.image-verifier.v1.bindir`),
//! with the same ClusterImagePolicies as the admission webhook, against images in a real
//! `docker-registry` signed by cosign 2.5. `ctr images pull` is the node pulling.

use std::fs;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;

use crate::support::containerd::{Containerd, VERIFIER};
use crate::support::registry::{OCI_INDEX, OCI_MANIFEST};
use crate::support::slow::SlowRegistry;
use crate::support::webhook::key_policy;
use crate::support::{Image, KeyPair, Lab, Outcome};

/// A lab with a policy directory trusting `key` for `HOST/signed/**` (enforce) and
/// `HOST/warned/**` (warn), and a pull cache directory.
struct Node {
    lab: Lab,
    key: KeyPair,
    policies: PathBuf,
    cache: PathBuf,
}

fn node() -> Node {
    let lab = Lab::new();
    let key = lab.cosign_key_pair("team");
    let policies = lab.path("policies");
    fs::create_dir_all(&policies).expect("policy dir");
    let host = lab.registry.host();
    fs::write(
        policies.join("signed.yaml"),
        key_policy("signed", &format!("{host}/signed/**"), &key, "enforce"),
    )
    .expect("policy");
    fs::write(
        policies.join("warned.yaml"),
        key_policy("warned", &format!("{host}/warned/**"), &key, "warn"),
    )
    .expect("policy");
    let cache = lab.path("pull-cache");
    Node {
        lab,
        key,
        policies,
        cache,
    }
}

impl Node {
    /// The node's verifier flags (those the installed script passes before containerd's).
    fn flags(&self) -> Vec<String> {
        vec![
            "--policy".into(),
            self.policies.display().to_string(),
            "--cache-dir".into(),
            self.cache.display().to_string(),
        ]
    }

    fn containerd(&self, extra: &[&str]) -> Containerd {
        let mut flags = self.flags();
        flags.extend(extra.iter().map(|flag| (*flag).to_owned()));
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        Containerd::start(&self.lab, &flags)
    }

    /// Runs the verifier as containerd does, without containerd: containerd's flags and the
    /// image's descriptor on stdin.
    fn verifier(&self, name: &str, digest: &str) -> Outcome {
        let descriptor = format!(
            "{{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"{digest}\",\"size\":1}}"
        );
        let stdin = self.lab.file("descriptor.json", descriptor);
        self.verifier_fed(name, digest, &[], stdin_from(&stdin))
    }

    /// The verifier with `extra` flags before containerd's, and `stdin` as its standard input.
    fn verifier_fed(&self, name: &str, digest: &str, extra: &[&str], stdin: Stdio) -> Outcome {
        let mut command = self.lab.sigward();
        command
            .arg("containerd-verifier")
            .args(self.flags())
            .args(extra)
            .args(["-name", name, "-digest", digest])
            .args([
                "-stdin-media-type",
                "application/vnd.oci.descriptor.v1+json",
            ]);
        Outcome::run_fed(&mut command, stdin)
    }
}

fn stdin_from(path: &std::path::Path) -> Stdio {
    Stdio::from(fs::File::open(path).expect("stdin file"))
}

/// ctr's error for a pull sigward blocked, naming sigward's reason.
fn assert_blocked(outcome: &Outcome, reason: &str) {
    outcome.assert_failure();
    let expected = format!("verifier {VERIFIER} rejected image");
    assert!(
        outcome.stderr.contains(&expected) && outcome.stderr.contains("sigward: blocked"),
        "not blocked by sigward\n{outcome}"
    );
    assert!(outcome.stderr.contains(reason), "{reason:?}\n{outcome}");
}

#[test]
fn containerd_pulls_signed_images_and_blocks_the_rest() {
    let node = node();
    let lab = &node.lab;
    let signed = lab.push_image("signed/app", "v1");
    lab.cosign_sign(&signed, &node.key, &[]);
    let unsigned = lab.push_image("signed/unsigned", "v1");
    let other_key = lab.cosign_key_pair("other");
    let foreign = lab.push_image("signed/foreign", "v1");
    lab.cosign_sign(&foreign, &other_key, &[]);
    let unmatched = lab.push_image("elsewhere/app", "v1");
    let containerd = node.containerd(&[]);

    containerd.pull(lab, &signed.by_tag()).assert_success();
    containerd.pull(lab, &signed.by_digest()).assert_success();
    // containerd asked sigward both times, with the digest it resolved.
    let calls = containerd.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    for call in &calls {
        assert!(
            call.contains(&format!("-digest {}", signed.digest)),
            "{call}"
        );
    }

    assert_blocked(&containerd.pull(lab, &unsigned.by_tag()), "no-signatures");
    assert_blocked(
        &containerd.pull(lab, &foreign.by_digest()),
        "signature-mismatch",
    );
    assert_blocked(
        &containerd.pull(lab, &unmatched.by_tag()),
        "no ClusterImagePolicy matches",
    );
}

#[test]
fn a_tag_moved_to_an_unsigned_image_after_a_verified_pull_is_blocked() {
    let node = node();
    let lab = &node.lab;
    let signed = lab.push_image("signed/moving", "v1");
    lab.cosign_sign(&signed, &node.key, &[]);
    let unsigned = lab.push_image("signed/moving", "unsigned");
    let containerd = node.containerd(&[]);
    containerd.pull(lab, &signed.by_tag()).assert_success();
    // The same tag now names the unsigned image: the verdict cached for the signed digest
    // does not apply to it.
    lab.move_tag(&signed, &unsigned);
    let outcome = containerd.pull(lab, &signed.by_tag());
    assert_blocked(&outcome, &unsigned.digest);
    assert_blocked(&outcome, "no-signatures");
}

#[test]
fn a_registry_that_never_answers_blocks_the_pull_before_containerds_timeout() {
    let node = node();
    // Signature layers answered after 30 s: only sigward's own deadline (8 s by default, under
    // containerd's 10 s per_verifier_timeout) ends the verification.
    let slow = SlowRegistry::start(1, 2, Duration::from_secs(30));
    let policy = key_policy(
        "slow",
        &format!("127.0.0.1:{}/slow/**", slow.port),
        &node.key,
        "enforce",
    );
    fs::write(node.policies.join("slow.yaml"), policy).expect("policy");
    let containerd = node.containerd(&[]);
    let reference = format!("127.0.0.1:{}/slow/app@{}", slow.port, slow.digests[0]);
    let outcome = containerd.pull(&node.lab, &reference);
    // sigward's reason, not containerd's timeout: it answered in time.
    assert_blocked(&outcome, "deadline");
}

#[test]
fn the_verifier_remembers_allowed_pulls_and_forgets_them_when_the_policy_changes() {
    let node = node();
    let lab = &node.lab;
    let signed = lab.push_image("signed/cached", "v1");
    lab.cosign_sign(&signed, &node.key, &[]);
    let first = node.verifier(&signed.by_tag(), &signed.digest);
    first.assert_success();
    assert!(first.stdout.starts_with("sigward: allowed "), "{first}");
    assert!(!first.stdout.contains("decided earlier"), "{first}");
    let again = node.verifier(&signed.by_tag(), &signed.digest);
    again.assert_success();
    assert!(again.stdout.contains("(decided earlier)"), "{again}");
    assert_eq!(again.stdout.lines().count(), 1, "{again}");

    // Another key in the policy: the cached verdict no longer applies, and the pull is blocked.
    let other = lab.cosign_key_pair("rotated");
    fs::write(
        node.policies.join("signed.yaml"),
        key_policy(
            "signed",
            &format!("{}/signed/**", lab.registry.host()),
            &other,
            "enforce",
        ),
    )
    .expect("policy");
    let rotated = node.verifier(&signed.by_tag(), &signed.digest);
    assert_eq!(rotated.code, Some(1), "{rotated}");
    assert!(rotated.stdout.starts_with("sigward: blocked "), "{rotated}");
}

#[test]
fn the_verifier_judges_the_digest_containerd_resolved_and_says_why_in_one_line() {
    let node = node();
    let lab = &node.lab;
    let signed = lab.push_image("signed/judged", "v1");
    lab.cosign_sign(&signed, &node.key, &[]);
    let warned: Image = lab.push_image("warned/app", "v1");

    // warn mode allows, and says so.
    let outcome = node.verifier(&warned.by_tag(), &warned.digest);
    outcome.assert_success();
    assert!(outcome.stdout.contains("warning"), "{outcome}");

    // The descriptor on stdin must name the digest; a digest in -name must be the same.
    let stdin = lab.file(
        "other.json",
        r#"{"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"}"#,
    );
    let mismatch = node.verifier_fed(&signed.by_tag(), &signed.digest, &[], stdin_from(&stdin));
    assert_eq!(mismatch.code, Some(1), "{mismatch}");
    assert!(
        mismatch.stdout.contains("descriptor on stdin names"),
        "{mismatch}"
    );
    let pinned_elsewhere = format!("{}@sha256:{}", signed.repository, "1".repeat(64));
    let outcome = node.verifier(&pinned_elsewhere, &signed.digest);
    assert_eq!(outcome.code, Some(1), "{outcome}");
    assert!(
        outcome.stdout.contains("but containerd resolved"),
        "{outcome}"
    );

    // Not a digest, not a reference: blocked with the reason, never a crash.
    for (name, digest) in [
        (signed.by_tag(), "sha256:abc".to_owned()),
        ("Not A Reference".to_owned(), signed.digest),
    ] {
        let outcome = node.verifier(&name, &digest);
        assert_eq!(outcome.code, Some(1), "{outcome}");
        assert!(outcome.stdout.starts_with("sigward: blocked"), "{outcome}");
        assert_eq!(outcome.stdout.lines().count(), 1, "{outcome}");
    }
}

/// A multi-platform image: an OCI index of a linux/amd64 and a linux/arm64 manifest (each a
/// small image pushed under its own tag), pushed as `repo:tag`.
fn push_index(lab: &Lab, repo: &str, tag: &str) -> (Image, Vec<Image>) {
    let platforms: Vec<Image> = ["amd64", "arm64"]
        .iter()
        .map(|arch| lab.push_image(repo, &format!("{tag}-{arch}")))
        .collect();
    let entries: Vec<_> = platforms
        .iter()
        .zip(["amd64", "arm64"])
        .map(|(image, arch)| {
            let (bytes, _) = lab.registry.manifest(repo, &image.digest);
            json!({
                "mediaType": OCI_MANIFEST,
                "digest": image.digest,
                "size": bytes.len(),
                "platform": {"architecture": arch, "os": "linux"},
            })
        })
        .collect();
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries});
    let body = serde_json::to_vec(&index).expect("index JSON");
    let digest = lab
        .registry
        .put_manifest_of_type(repo, tag, OCI_INDEX, &body);
    let image = Image {
        repository: format!("{}/{repo}", lab.registry.host()),
        repo: repo.to_owned(),
        tag: tag.to_owned(),
        digest,
    };
    (image, platforms)
}

#[test]
fn a_multi_platform_image_is_judged_by_the_signature_on_its_index() {
    let node = node();
    let lab = &node.lab;
    // Signed as `cosign sign` signs a multi-platform tag: the index.
    let (signed, _) = push_index(lab, "signed/multi", "v1");
    lab.cosign_sign(&signed, &node.key, &[]);
    // Only the platform manifests signed, not the index.
    let (per_platform, platforms) = push_index(lab, "signed/per-platform", "v1");
    for platform in &platforms {
        lab.cosign_sign(platform, &node.key, &[]);
    }
    let containerd = node.containerd(&[]);

    containerd.pull(lab, &signed.by_tag()).assert_success();
    // containerd asked once, about the index it resolved, not about the platform manifest.
    let calls = containerd.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        calls[0].contains(&format!("-digest {}", signed.digest)),
        "{calls:?}"
    );

    let outcome = containerd.pull(lab, &per_platform.by_tag());
    assert_blocked(&outcome, &per_platform.digest);
    assert_blocked(&outcome, "no-signatures");
}

#[test]
fn a_stdin_that_never_closes_or_is_too_large_blocks_the_pull() {
    let node = node();
    let signed = node.lab.push_image("signed/stdin", "v1");
    // A pipe whose writer stays open: reading the descriptor waits, and the deadline ends it.
    let outcome = node.verifier_fed(
        &signed.by_tag(),
        &signed.digest,
        &["--timeout", "2s"],
        Stdio::piped(),
    );
    assert_eq!(outcome.code, Some(2), "{outcome}");
    assert!(
        outcome.stdout.starts_with("sigward: blocked: timeout:"),
        "{outcome}"
    );
    // A descriptor over the 64 KiB read cap is refused, not read on.
    let huge = node.lab.file("huge.json", vec![b' '; 65 * 1024 + 1]);
    let outcome = node.verifier_fed(&signed.by_tag(), &signed.digest, &[], stdin_from(&huge));
    assert_eq!(outcome.code, Some(1), "{outcome}");
    assert!(outcome.stdout.contains("is over 65536 bytes"), "{outcome}");
}
