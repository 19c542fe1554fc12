//! The Sigstore conformance cases (`SIGWARD_CONFORMANCE_DIR`, default
//! `../shared/conformance`), each run twice through `sigward verify-bundle` exactly as the public
//! conformance protocol calls it: with the artifact's path, and with its `sha256:<hex>` digest.
//!
//! Like webpki's x509-limbo harness, every run is sorted into pass, unexpected accept or
//! unexpected reject; a one-line summary is printed and any unexpected outcome fails the test.
//! Known divergences would be listed in `tests/conformance-divergences.txt` with a reason; the
//! file is empty.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest as _, Sha256};

use crate::support;

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn conformance_dir() -> PathBuf {
    std::env::var_os("SIGWARD_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| support::shared_dir().join("conformance"))
}

fn sigward() -> PathBuf {
    std::env::var_os("SIGWARD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| support::repo_root().join("target/release/sigward"))
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Runs one case with `artifact` (a path or a digest); true when sigward accepted it.
fn accepted(case: &Path, artifact: &str) -> (bool, String) {
    let mut cmd = Command::new(sigward());
    cmd.arg("verify-bundle")
        .arg("--bundle")
        .arg(case.join("bundle.sigstore.json"));
    if case.join("key.pub").exists() {
        cmd.arg("--key").arg(case.join("key.pub"));
    } else {
        let identity =
            read_trimmed(&case.join("identity")).unwrap_or_else(|| DEFAULT_IDENTITY.to_owned());
        let issuer =
            read_trimmed(&case.join("issuer")).unwrap_or_else(|| DEFAULT_ISSUER.to_owned());
        cmd.args([
            "--certificate-identity",
            &identity,
            "--certificate-oidc-issuer",
            &issuer,
        ]);
    }
    if case.join("trusted_root.json").exists() {
        cmd.arg("--trusted-root")
            .arg(case.join("trusted_root.json"));
    }
    cmd.arg(artifact);
    let output = cmd.output().expect("run sigward verify-bundle");
    let code = output.status.code();
    assert!(
        matches!(code, Some(0..=2)),
        "{}: exit {code:?}",
        case.display()
    );
    (
        code == Some(0),
        String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    )
}

#[test]
fn every_conformance_case_gives_its_verdict_with_path_and_digest() {
    let cases_dir = conformance_dir().join("bundle-verify");
    let divergences =
        std::fs::read_to_string(support::repo_root().join("tests/conformance-divergences.txt"))
            .unwrap_or_default();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&cases_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", cases_dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    let (mut passed, mut unexpected) = (0, Vec::new());
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        if divergences
            .lines()
            .any(|l| l.split_whitespace().next() == Some(name.as_str()))
        {
            continue;
        }
        let artifact = if case.join("artifact").exists() {
            case.join("artifact")
        } else {
            cases_dir.join("a.txt")
        };
        let sha256 = Sha256::digest(std::fs::read(&artifact).unwrap());
        let digest = format!(
            "sha256:{}",
            sha256
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let should_pass = !name.ends_with("_fail");
        for input in [artifact.display().to_string(), digest] {
            let (ok, stderr) = accepted(case, &input);
            if ok == should_pass {
                passed += 1;
            } else {
                let kind = if ok {
                    "unexpected accept"
                } else {
                    "unexpected reject"
                };
                unexpected.push(format!("{kind}: {name} ({input}): {stderr}"));
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
        cases_dir.display()
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
        let (ok, stderr) = accepted(dir.path(), &artifact.display().to_string());
        assert_eq!(ok, accept, "{what}: {stderr}");
        if !accept {
            assert!(stderr.contains("tlog-invalid"), "{what}: {stderr}");
        }
    }
}
