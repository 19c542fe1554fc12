//! The second engine (issue 11): the same portable component run by Node (V8 through jco;
//! `tests/node/sigward.mjs`, transpiled by `make node`) and by the sigward binary (wasmtime)
//! must judge alike. Each vector goes through both command lines with the same arguments, and
//! the exit codes and the whole JSON reports (verdict, reason, every signature and check) must
//! be identical:
//!
//! - every shared Sigstore conformance case, with the artifact's path and with its digest, also
//!   checked against the reason pinned in `policy-wasm/tests/conformance-reasons.txt`;
//! - images in the real registry and in OCI layouts: cosign 2.5 `.sig` layers (by tag, by
//!   digest, with another key, with a required annotation it lacks), a layout signed by
//!   `sigward sign`, the README's demo layout, a `cosign save` layout, skopeo's, cosign 3.1
//!   referrer bundles, attestations as `.att` layers and as bundles, a real keyless layer with
//!   its Rekor SET, an unsigned image, a tag that does not exist.
//!
//! The lying-host matrix in both engines is `host/src/runtime/lying.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::attest::replayed_onto_new_image;
use crate::conformance::cases;
use crate::support::lab::{Attestation, IGNORE_TLOG};
use crate::support::{Lab, Outcome, program, repo_root};

/// `node` (`SIGWARD_NODE`, default from `PATH`).
pub(crate) fn node_program() -> PathBuf {
    std::env::var_os("SIGWARD_NODE").map_or_else(|| "node".into(), PathBuf::from)
}

/// Node's command line (`SIGWARD_NODE_CLI`, default `tests/node/sigward.mjs`).
pub(crate) fn node_cli() -> PathBuf {
    program("SIGWARD_NODE_CLI", "tests/node/sigward.mjs")
}

fn sigward_program() -> PathBuf {
    program("SIGWARD_BIN", "target/release/sigward")
}

/// What one engine printed: its exit code, its JSON report (`Null` when it printed none) and
/// the reason of an error it printed instead.
#[derive(Debug)]
struct Judgement {
    code: Option<i32>,
    report: Value,
    error: Option<String>,
    stderr: String,
}

impl Judgement {
    fn of(outcome: &Outcome) -> Judgement {
        let stdout = outcome.stdout.trim();
        let report: Value = if stdout.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(stdout)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\n{}", outcome.stderr))
        };
        // `--output json` errors are `{"error": {"reason", "message"}}` on stdout; other errors
        // are `error: REASON: message` on stderr.
        let error = report["error"]["reason"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| {
                outcome.stderr.lines().find_map(|line| {
                    let rest = line.strip_prefix("error: ")?;
                    Some(rest.split([':', ' ']).next()?.to_owned())
                })
            });
        Judgement {
            code: outcome.code,
            report,
            error,
            stderr: outcome.stderr.clone(),
        }
    }
}

/// Runs `args` through both engines (from `dir`, with `lab`'s environment when given) and
/// asserts they agree; returns the wasmtime engine's judgement. Errors a host makes itself
/// (a registry that does not answer) are compared by reason only: the hosts word them apart.
fn in_both(lab: Option<&Lab>, args: &[&str]) -> Judgement {
    let command = |program: &Path, first: Option<&Path>| {
        let mut command = match lab {
            Some(lab) => lab.command(program),
            None => Command::new(program),
        };
        command.args(first).args(args);
        command
    };
    let wasmtime = Judgement::of(&Outcome::run(&mut command(&sigward_program(), None)));
    let node = Judgement::of(&Outcome::run(&mut command(
        &node_program(),
        Some(&node_cli()),
    )));
    let what = format!("{args:?}\nwasmtime: {wasmtime:#?}\nnode: {node:#?}");
    assert!(
        matches!(wasmtime.code, Some(0..=2)),
        "wasmtime crashed: {what}"
    );
    assert_eq!(wasmtime.code, node.code, "exit codes differ: {what}");
    assert_eq!(wasmtime.error, node.error, "errors differ: {what}");
    if wasmtime.error.is_none() {
        assert_eq!(wasmtime.report, node.report, "reports differ: {what}");
    }
    wasmtime
}

#[test]
fn every_conformance_case_gives_identical_reports_in_node_and_wasmtime() {
    let cases = cases::cases();
    assert!(cases.len() >= 40, "only {} conformance cases", cases.len());
    let run = |case: &cases::Case| {
        let mut compared = 0;
        for input in [
            case.artifact.display().to_string(),
            case.artifact_digest.clone(),
        ] {
            let bundle = case.bundle.display().to_string();
            let mut args = vec!["verify-bundle", "--json", "--bundle", &bundle];
            let (key, root);
            match &case.signer {
                cases::Signer::Key(path) => {
                    key = path.display().to_string();
                    args.extend(["--key", &key]);
                }
                cases::Signer::Identity { identity, issuer } => {
                    args.extend(["--certificate-identity", identity]);
                    args.extend(["--certificate-oidc-issuer", issuer]);
                }
            }
            if let Some(path) = &case.trusted_root {
                root = path.display().to_string();
                args.extend(["--trusted-root", &root]);
            }
            args.push(&input);
            let judged = in_both(None, &args);
            let reason = judged
                .report
                .get("reason")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or(judged.error.clone());
            assert_eq!(
                reason, case.rejected_for,
                "{} ({input}): {}",
                case.name, judged.stderr
            );
            compared += 1;
        }
        compared
    };
    // Two at a time: each run is a whole process (Node's costs ~0.3 s).
    let (left, right) = cases.split_at(cases.len() / 2);
    let compared: usize = std::thread::scope(|scope| {
        let other = scope.spawn(|| left.iter().map(run).sum::<usize>());
        let here: usize = right.iter().map(run).sum();
        here + other.join().expect("conformance thread")
    });
    assert_eq!(compared, 2 * cases.len());
}

/// `verify --output json --insecure-ignore-tlog=true --key KEY [ARGS] IMAGE` in both engines.
fn verify_keyed(lab: &Lab, command: &str, key: &Path, args: &[&str], image: &str) -> Judgement {
    let key = key.display().to_string();
    let mut all = vec![command, "--output", "json", IGNORE_TLOG, "--key", &key];
    all.extend(args);
    all.push(image);
    in_both(Some(lab), &all)
}

fn assert_verdict(judged: &Judgement, reason: Option<&str>) {
    assert_eq!(
        judged.report["reason"].as_str(),
        reason,
        "{:#}",
        judged.report
    );
    assert_eq!(
        judged.report["verified"],
        reason.is_none(),
        "{:#}",
        judged.report
    );
}

#[test]
fn registry_and_layout_images_give_identical_reports_in_node_and_wasmtime() {
    let lab = Lab::new();
    let key = lab.cosign_key_pair("signer");
    let wrong = lab.cosign_key_pair("wrong");

    // cosign 2.5 `.sig` layers, in the registry and in an OCI layout.
    let signed = lab.push_image("node/keyed", "v1");
    lab.cosign_sign(&signed, &key, &["team=payments"]);
    for image in [signed.by_tag(), signed.by_digest()] {
        assert_verdict(
            &verify_keyed(&lab, "verify", &key.public, &[], &image),
            None,
        );
    }
    let other_key = verify_keyed(&lab, "verify", &wrong.public, &[], &signed.by_tag());
    assert_verdict(&other_key, Some("signature-mismatch"));
    let annotation = ["-a", "team=billing"];
    let lacking = verify_keyed(&lab, "verify", &key.public, &annotation, &signed.by_tag());
    assert_verdict(&lacking, Some("annotation-mismatch"));
    // The layout skopeo pushed from (its digest is not the registry's: skopeo compresses the
    // layer on the way), signed there by `sigward sign`.
    let in_layout = format!("oci:{}:v1", lab.layout_of(&signed).display());
    lab.sigward_sign(&in_layout, &key, &[]).assert_success();
    assert_verdict(
        &verify_keyed(&lab, "verify", &key.public, &[], &in_layout),
        None,
    );

    // skopeo's sigstore signature, and an unsigned image.
    let skopeo_key = lab.skopeo_key_pair("skopeo");
    let by_skopeo = lab.push_image_signed_by_skopeo("node/skopeo", "v1", &skopeo_key);
    let judged = verify_keyed(&lab, "verify", &skopeo_key.public, &[], &by_skopeo.by_tag());
    assert_verdict(&judged, None);
    let unsigned = lab.push_image("node/unsigned", "v1");
    let judged = verify_keyed(&lab, "verify", &key.public, &[], &unsigned.by_tag());
    assert_verdict(&judged, Some("no-signatures"));

    // cosign 3.1: a Sigstore bundle attached as a referrer (the tag-schema fallback here).
    let bundled = lab.push_image("node/bundle", "v1");
    lab.cosign3_sign(&bundled, &key);
    let judged = verify_keyed(&lab, "verify", &key.public, &[], &bundled.by_tag());
    assert_verdict(&judged, None);
    assert_eq!(judged.report["signatures"][0]["source"], "referrer-bundle");

    // Attestations: a cosign 2.5 `.att` layer and a cosign 3.1 DSSE bundle.
    let predicate = lab.file("predicate.json", r#"{"builder":"sigward e2e"}"#);
    let att = lab.push_image("node/att", "v1");
    lab.cosign_attest(&att, &key, &predicate, Attestation::AttLayer);
    let custom = ["--type", "custom"];
    let judged = verify_keyed(
        &lab,
        "verify-attestation",
        &key.public,
        &custom,
        &att.by_tag(),
    );
    assert_verdict(&judged, None);
    let att3 = lab.push_image("node/att3", "v1");
    lab.cosign3_attest(&att3, &key, &predicate);
    let judged = verify_keyed(
        &lab,
        "verify-attestation",
        &key.public,
        &custom,
        &att3.by_tag(),
    );
    assert_verdict(&judged, None);
    let judged = verify_keyed(
        &lab,
        "verify-attestation",
        &wrong.public,
        &custom,
        &att3.by_tag(),
    );
    assert_verdict(&judged, Some("signature-mismatch"));

    // Layouts in the repository: the README's demo and a `cosign save` layout.
    let demo = repo_root().join("host/demo");
    let judged = verify_keyed(
        &lab,
        "verify",
        &demo.join("cosign.pub"),
        &[],
        &format!("oci:{}", demo.join("layout").display()),
    );
    assert_verdict(&judged, None);
    let saved = repo_root().join("host/src/registry/testdata/cosign-save");
    let image = format!("oci:{}", saved.display());
    let judged = verify_keyed(&lab, "verify", &saved.join("key-1.pub"), &[], &image);
    assert_verdict(&judged, None);

    // A tag that does not exist: both hosts say so, with the same reason.
    let missing = format!("{}/node/keyed:missing", lab.registry.host());
    let judged = verify_keyed(&lab, "verify", &key.public, &[], &missing);
    assert_eq!(
        judged.error.as_deref(),
        Some("fetch-not-found"),
        "{judged:#?}"
    );
}

#[test]
fn a_real_keyless_layer_gives_identical_reports_in_node_and_wasmtime() {
    // The real 2022 keyless signature replayed onto an image of ours: the certificate, chain,
    // SCT and Rekor SET verify offline in both engines, and both stop at the signed digest.
    let (lab, image, layer) = replayed_onto_new_image("node/keyless");
    let mut args = vec!["verify", "--output", "json"];
    args.extend(layer.policy(&layer.identity));
    let reference = image.by_tag();
    args.push(&reference);
    let judged = in_both(Some(&lab), &args);
    assert_verdict(&judged, Some("manifest-digest-mismatch"));
}

#[test]
fn node_refuses_the_wide_build_with_a_clear_error() {
    // `make node` transpiles both builds; V8 has no wide-arithmetic proposal.
    let wide = repo_root().join("target/node/sigward-policy-wide");
    let demo = repo_root().join("host/demo");
    let outcome = Outcome::run(
        Command::new(node_program())
            .arg(node_cli())
            .env("SIGWARD_NODE_COMPONENT", &wide)
            .args(["verify", IGNORE_TLOG, "--key"])
            .arg(demo.join("cosign.pub"))
            .arg(format!("oci:{}", demo.join("layout").display())),
    );
    assert_eq!(outcome.code, Some(2), "{outcome:?}");
    assert!(
        outcome.stderr.starts_with("error: component-unavailable: ")
            && outcome.stderr.contains("load the portable build"),
        "{outcome:?}"
    );
}
