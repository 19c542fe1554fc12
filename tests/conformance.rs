//! The Sigstore conformance cases (`SIGWARD_CONFORMANCE_DIR`, default
//! `../shared/conformance`), each run twice through `sigward verify-bundle` exactly as the public
//! conformance protocol calls it: with the artifact's path, and with its `sha256:<hex>` digest.
//!
//! Like webpki's x509-limbo harness, every run is sorted into pass or unexpected outcome (an
//! accept, a reject, or a reject for another reason than the one pinned in
//! `policy-wasm/tests/conformance-reasons.txt`); a one-line summary is printed and any unexpected
//! outcome fails the test. The cases are read by the loader the native runner shares
//! (`policy-wasm/tests/common/conformance.rs`).
//! Known divergences would be listed in `tests/conformance-divergences.txt` with a reason; the
//! file is empty.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support;

#[path = "../policy-wasm/tests/common/conformance.rs"]
pub(crate) mod cases;

use cases::{DEFAULT_IDENTITY, DEFAULT_ISSUER, Signer};

fn conformance_dir() -> PathBuf {
    cases::dir()
}

fn sigward() -> PathBuf {
    std::env::var_os("SIGWARD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| support::repo_root().join("target/release/sigward"))
}

/// Runs `sigward verify-bundle` on `bundle` with `artifact` (a path or a digest): `None` when
/// it verified, else the reason code it printed; and its stderr.
fn verify_bundle(
    bundle: &Path,
    signer: &Signer,
    trusted_root: Option<&Path>,
    artifact: &str,
) -> (Option<String>, String) {
    let mut cmd = Command::new(sigward());
    cmd.arg("verify-bundle").arg("--bundle").arg(bundle);
    match signer {
        Signer::Key(key) => {
            cmd.arg("--key").arg(key);
        }
        Signer::Identity { identity, issuer } => {
            cmd.args(["--certificate-identity", identity])
                .args(["--certificate-oidc-issuer", issuer]);
        }
    }
    if let Some(root) = trusted_root {
        cmd.arg("--trusted-root").arg(root);
    }
    cmd.arg(artifact);
    let output = cmd.output().expect("run sigward verify-bundle");
    let code = output.status.code();
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    assert!(
        matches!(code, Some(0..=2)),
        "{}: exit {code:?}",
        bundle.display()
    );
    if code == Some(0) {
        return (None, stderr);
    }
    // `NOT verified: REASON (…)` or `error: REASON: …`.
    let reason = stderr
        .lines()
        .find_map(|line| {
            line.strip_prefix("NOT verified: ")
                .or_else(|| line.strip_prefix("error: "))
        })
        .and_then(|rest| rest.split([' ', ':']).next())
        .unwrap_or("no reason printed")
        .to_owned();
    (Some(reason), stderr)
}

#[test]
fn every_conformance_case_gives_its_verdict_with_path_and_digest() {
    let divergences =
        std::fs::read_to_string(support::repo_root().join("tests/conformance-divergences.txt"))
            .unwrap_or_default();
    let cases = cases::cases();
    let (mut passed, mut unexpected) = (0, Vec::new());
    for case in &cases {
        if divergences
            .lines()
            .any(|l| l.split_whitespace().next() == Some(case.name.as_str()))
        {
            continue;
        }
        for input in [
            case.artifact.display().to_string(),
            case.artifact_digest.clone(),
        ] {
            let (reason, stderr) = verify_bundle(
                &case.bundle,
                &case.signer,
                case.trusted_root.as_deref(),
                &input,
            );
            if reason == case.rejected_for {
                passed += 1;
            } else {
                unexpected.push(format!(
                    "{} ({input}): expected {:?}, got {reason:?}: {stderr}",
                    case.name, case.rejected_for
                ));
            }
        }
    }
    println!(
        "conformance: {passed} passed, {} unexpected, {} cases",
        unexpected.len(),
        cases.len()
    );
    assert!(
        cases.len() >= 40,
        "only {} cases found in {}",
        cases.len(),
        conformance_dir().display()
    );
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
}

/// Issue 8, item 1, through the real binary (the component): a Rekor v2 entry whose unsigned
/// `logId` names no trusted log used to skip the log key's validity check, so a checkpoint
/// signed by a key that had expired verified. Each alteration must be rejected by the CLI as
/// it is by the core (`policy-wasm/src/bundle/tests/fields.rs` has the whole table).
#[test]
fn rekor_v2_entry_log_is_identified_by_its_signer() {
    let case = conformance_dir().join("bundle-verify/rekor2-happy-path");
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(case.join("bundle.sigstore.json")).unwrap()).unwrap();
    let root: serde_json::Value =
        serde_json::from_slice(&std::fs::read(case.join("trusted_root.json")).unwrap()).unwrap();
    let v2_log = "8w1amZ2S5mJIQkQmPxdMuOrL/oJkvFg9MnQXmeOCXck=";
    let unknown_log_id = "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=";
    let expired = {
        let mut root = root.clone();
        for log in root["tlogs"].as_array_mut().unwrap() {
            if log["logId"]["keyId"] == v2_log {
                log["publicKey"]["validFor"]["end"] = "2025-04-17T00:00:00Z".into();
            }
        }
        root
    };
    let unknown_log = {
        let mut bundle = bundle.clone();
        bundle["verificationMaterial"]["tlogEntries"][0]["logId"]["keyId"] = unknown_log_id.into();
        bundle
    };
    let artifact = conformance_dir().join("bundle-verify/a.txt");
    let cases = [
        ("unchanged", &bundle, &root, true),
        ("log key expired", &bundle, &expired, false),
        ("logId unknown", &unknown_log, &root, false),
        (
            "logId unknown, log key expired",
            &unknown_log,
            &expired,
            false,
        ),
    ];
    for (what, bundle, root, accept) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bundle.sigstore.json"), bundle.to_string()).unwrap();
        std::fs::write(dir.path().join("trusted_root.json"), root.to_string()).unwrap();
        let signer = Signer::Identity {
            identity: DEFAULT_IDENTITY.to_owned(),
            issuer: DEFAULT_ISSUER.to_owned(),
        };
        let (reason, stderr) = verify_bundle(
            &dir.path().join("bundle.sigstore.json"),
            &signer,
            Some(&dir.path().join("trusted_root.json")),
            &artifact.display().to_string(),
        );
        let expected = (!accept).then(|| "tlog-invalid".to_owned());
        assert_eq!(reason, expected, "{what}: {stderr}");
    }
}
