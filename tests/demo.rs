//! The demo kept in the repository (`host/demo`, see its README): `make demo`'s command must
//! verify it, cosign must agree, and a changed copy must be rejected, so the demo shows a real
//! verification and not an accept-anything.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;

use crate::support::lab::IGNORE_TLOG;
use crate::support::{Lab, Outcome, repo_root};

const DEMO_KEY: &str = "host/demo/cosign.pub";
const DEMO_LAYOUT: &str = "host/demo/layout";

#[test]
fn make_demo_command_verifies_the_demo_layout() {
    let lab = Lab::new();
    // Exactly what `make demo` runs, from the repository root.
    let outcome = Outcome::run(
        lab.sigward()
            .current_dir(repo_root())
            .args(["verify", IGNORE_TLOG, "--key", DEMO_KEY])
            .arg(format!("oci:{DEMO_LAYOUT}")),
    );
    outcome.assert_success();

    let layout = repo_root().join(DEMO_LAYOUT);
    let report = lab
        .verify_with_key_files(
            &format!("oci:{}", layout.display()),
            [repo_root().join(DEMO_KEY).as_path()],
            &[],
        )
        .assert_verified();
    assert_eq!(report["digest"], demo_digest(&layout, "image").as_str());

    lab.cosign_verify_layout(&layout, &repo_root().join(DEMO_KEY))
        .assert_success();
}

#[test]
fn a_closed_stdout_ends_quietly_with_the_verdict_as_exit_code() {
    // `sigward verify … | head -0`: the reader is gone before sigward prints; the report is
    // dropped without a panic and the exit code still says "verified".
    let lab = Lab::new();
    let mut child = lab
        .sigward()
        .current_dir(repo_root())
        .args(["verify", IGNORE_TLOG, "--output", "json", "--key", DEMO_KEY])
        .arg(format!("oci:{DEMO_LAYOUT}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sigward");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("sigward ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn demo_layout_is_rejected_with_another_key() {
    let lab = Lab::new();
    let other = lab.cosign_key_pair("other");
    let layout = repo_root().join(DEMO_LAYOUT);
    lab.verify(&format!("oci:{}", layout.display()), &[&other], &[])
        .assert_rejected("signature-mismatch");
    lab.cosign_verify_layout(&layout, &other.public)
        .assert_failure();
}

#[test]
fn changed_copy_of_the_demo_layout_is_rejected() {
    // The layout source checks blob digests too: one changed payload byte on disk.
    let lab = Lab::new();
    let copy = lab.path("demo-layout");
    copy_dir(&repo_root().join(DEMO_LAYOUT), &copy);
    let sigs = manifest(&copy, &demo_digest(&copy, "sigs"));
    let payload = blob_path(&copy, sigs["layers"][0]["digest"].as_str().expect("digest"));
    let mut bytes = fs::read(&payload).expect("payload blob");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    fs::write(&payload, bytes).expect("rewrite payload");

    let key = repo_root().join(DEMO_KEY);
    lab.verify_with_key_files(&format!("oci:{}", copy.display()), [key.as_path()], &[])
        .assert_rejected("payload-digest-mismatch");
    lab.cosign_verify_layout(&copy, &key).assert_failure();
}

/// The digest of the index entry `cosign save` annotated `kind=dev.cosignproject.cosign/KIND`.
fn demo_digest(layout: &Path, kind: &str) -> String {
    let index: Value = serde_json::from_slice(&fs::read(layout.join("index.json")).expect("index"))
        .expect("index JSON");
    let wanted = format!("dev.cosignproject.cosign/{kind}");
    index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .find(|m| m["annotations"]["kind"] == wanted.as_str())
        .and_then(|m| m["digest"].as_str())
        .unwrap_or_else(|| panic!("no {wanted} entry in {}", layout.display()))
        .to_owned()
}

fn manifest(layout: &Path, digest: &str) -> Value {
    serde_json::from_slice(&fs::read(blob_path(layout, digest)).expect("manifest blob"))
        .expect("manifest JSON")
}

fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    layout.join("blobs/sha256").join(hex)
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create dir");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}
