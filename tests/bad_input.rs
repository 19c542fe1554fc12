//! Bad input (issue 2): unusable key files and unreachable or hostile registries are errors
//! (exit 2, `{"error": …}`), while garbage inside one signature rejects that signature (exit 1)
//! with a reason naming what was wrong.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::support::registry::free_port;
use crate::support::signature::SIGNATURE_ANNOTATION;
use crate::support::{Image, KeyPair, Lab, SigManifest, shared_dir};

/// What a hostile manifest advertises: 100 MiB.
const HUNDRED_MIB: usize = 100 * 1024 * 1024;

/// An image signed by cosign with `key`.
fn signed_image(lab: &Lab, repo: &str) -> (KeyPair, Image) {
    let key = lab.cosign_key_pair("signer");
    let image = lab.push_image(repo, "v1");
    lab.cosign_sign(&image, &key, &[]);
    (key, image)
}

fn verify_with_key_file(lab: &Lab, image: &Image, key_file: &Path) -> crate::support::Outcome {
    lab.verify_with_key_files(&image.by_tag(), [key_file], &[])
}

#[test]
fn malformed_pem_key_is_an_error() {
    let lab = Lab::new();
    let (_, image) = signed_image(&lab, "bad/malformed-pem");
    let cases = [
        (
            "bad-base64.pub",
            "-----BEGIN PUBLIC KEY-----\nthis is *not* base64!\n-----END PUBLIC KEY-----\n",
        ),
        (
            "truncated.pub",
            "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n",
        ),
        (
            "no-end.pub",
            "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYI\n",
        ),
        ("not-pem.pub", "just some text, no PEM here\n"),
        ("empty.pub", ""),
    ];
    for (name, text) in cases {
        let file = lab.file(name, text);
        verify_with_key_file(&lab, &image, &file).assert_error("invalid-key");
    }
}

#[test]
fn pem_that_is_not_a_public_key_is_an_error() {
    let lab = Lab::new();
    let (key, image) = signed_image(&lab, "bad/not-a-key");

    // A real certificate (a Fulcio leaf), read from the shared fixtures where it is.
    let annotations = shared_dir().join("fixtures/legacy-keyless/distroless-static-gha-2022");
    let annotations: Value = serde_json::from_slice(
        &fs::read(annotations.join("annotations.json")).expect("shared fixture"),
    )
    .expect("annotations JSON");
    let certificate = annotations["dev.sigstore.cosign/certificate"]
        .as_str()
        .expect("certificate annotation");
    assert!(certificate.starts_with("-----BEGIN CERTIFICATE-----"));
    let certificate = lab.file("certificate.pem", certificate);
    verify_with_key_file(&lab, &image, &certificate).assert_error("invalid-key");

    // A PEM block of a type no key has.
    let other = lab.file(
        "other-block.pem",
        "-----BEGIN SIGWARD TEST DATA-----\naGVsbG8gd29ybGQ=\n-----END SIGWARD TEST DATA-----\n",
    );
    verify_with_key_file(&lab, &image, &other).assert_error("invalid-key");

    // The private key where the public key belongs.
    verify_with_key_file(&lab, &image, &key.private).assert_error("invalid-key");

    // One bad key among good ones is still an error, not a silently skipped key.
    let outcome = lab.verify_with_key_files(
        &image.by_tag(),
        [key.public.as_path(), other.as_path()],
        &[],
    );
    outcome.assert_error("invalid-key");
}

#[test]
fn missing_key_file_is_an_error() {
    let lab = Lab::new();
    let (_, image) = signed_image(&lab, "bad/missing-key");
    let missing = lab.path("no-such-key.pub");
    let outcome = verify_with_key_file(&lab, &image, &missing);
    assert_eq!(outcome.code, Some(2), "{outcome}");
    let report = outcome.json();
    let message = report["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("no-such-key.pub"),
        "the message should name the file\n{outcome}"
    );
}

#[test]
fn garbage_base64_signature_rejects_that_signature() {
    let lab = Lab::new();
    let (key, image) = signed_image(&lab, "bad/base64");
    let mut sig = SigManifest::fetch(&lab.registry, &image);
    sig.set_annotation(0, SIGNATURE_ANNOTATION, "%%% this is not base64 %%%");
    sig.push_for(&image);

    lab.verify(&image.by_tag(), &[&key], &[])
        .assert_rejected("invalid-signature-encoding");
    lab.cosign_verify(&image.by_tag(), &key, &[])
        .assert_failure();
}

#[test]
fn payload_that_is_not_json_rejects_that_signature() {
    // Validly signed by the right key, so only the payload parser can object.
    let lab = Lab::new();
    let (key, image) = signed_image(&lab, "bad/not-json");
    let payload = b"this is not a simple-signing payload {";
    let signature = lab.cosign_sign_blob(&key, payload);
    let mut sig = SigManifest::fetch(&lab.registry, &image);
    sig.replace_payload(0, payload);
    sig.set_annotation(0, SIGNATURE_ANNOTATION, &signature);
    sig.push_for(&image);

    lab.verify(&image.by_tag(), &[&key], &[])
        .assert_rejected("malformed-payload");
    lab.cosign_verify(&image.by_tag(), &key, &[])
        .assert_failure();
}

#[test]
fn hostile_manifest_advertising_a_100_mib_layer_is_refused() {
    // The registry stores the manifest as given: its layer descriptor claims 100 MiB for the
    // real (small) payload blob. sigward must refuse on the advertised size.
    let lab = Lab::new();
    let (key, image) = signed_image(&lab, "bad/advertised-size");
    let (bytes, _) = lab.registry.manifest(&image.repo, &image.sig_tag());
    let mut manifest: Value = serde_json::from_slice(&bytes).expect("manifest JSON");
    manifest["layers"][0]["size"] = Value::from(HUNDRED_MIB);
    let bytes = serde_json::to_vec(&manifest).expect("manifest JSON");
    lab.registry
        .put_manifest(&image.repo, &image.sig_tag(), &bytes);

    lab.verify(&image.by_tag(), &[&key], &[])
        .assert_error("fetch-too-large");
}

#[test]
fn hostile_registry_serving_a_100_mib_layer_is_refused() {
    // Here the 100 MiB blob really exists and the descriptor is honest about it.
    let lab = Lab::new();
    let (key, image) = signed_image(&lab, "bad/real-size");
    let mut sig = SigManifest::fetch(&lab.registry, &image);
    let mut huge = sig.payload(0);
    huge.resize(HUNDRED_MIB, b' ');
    sig.replace_payload(0, &huge);
    sig.push_for(&image);

    lab.verify(&image.by_tag(), &[&key], &[])
        .assert_error("fetch-too-large");
}

#[test]
fn unreachable_registry_is_an_error() {
    let lab = Lab::new();
    let key = lab.cosign_key_pair("signer");
    let closed = free_port();
    let reference = format!("127.0.0.1:{closed}/bad/unreachable:v1");
    lab.verify(&reference, &[&key], &[])
        .assert_error("fetch-unavailable");
    let digest = format!(
        "127.0.0.1:{closed}/bad/unreachable@sha256:{}",
        "ab".repeat(32)
    );
    lab.verify(&digest, &[&key], &[])
        .assert_error("fetch-unavailable");
}

#[test]
fn errors_say_each_thing_once() {
    // The reason code names the kind; the message adds only the detail (no
    // `fetch-unavailable: unavailable: unavailable: …`).
    let lab = Lab::new();
    let key = lab.cosign_key_pair("signer");
    let closed = free_port();
    let cases = [
        (
            format!("127.0.0.1:{closed}/bad/once:v1"),
            format!("error: fetch-unavailable: 127.0.0.1:{closed}/bad/once/manifests/v1: "),
        ),
        (
            "oci:/nonexistent-layout".to_owned(),
            "error: fetch-not-found: /nonexistent-layout/index.json".to_owned(),
        ),
        (
            "Not A Reference!".to_owned(),
            "error: invalid-request: image \"Not A Reference!\": ".to_owned(),
        ),
    ];
    for (reference, start) in cases {
        let outcome = crate::support::Outcome::run(
            lab.sigward()
                .args(["verify", "--insecure-ignore-tlog=true", "--key"])
                .arg(&key.public)
                .arg(&reference),
        );
        assert_eq!(outcome.code, Some(2), "{outcome}");
        assert!(outcome.stderr.starts_with(&start), "{start}\n{outcome}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let lab = Lab::new();
    let (key, image) = signed_image(&lab, "bad/usage");
    let cases: [&[&str]; 3] = [
        // No image.
        &["verify", "--key"],
        // An annotation constraint without `=`.
        &["verify", "-a", "no-equals-sign", "--key"],
        // Not an image reference.
        &["verify", "--output", "json", "--key"],
    ];
    let references = [
        None,
        Some(image.by_tag()),
        Some("Not A Reference!".to_owned()),
    ];
    for (args, reference) in cases.into_iter().zip(references) {
        let mut command = lab.sigward();
        command.args(args).arg(&key.public);
        if let Some(reference) = reference {
            command.arg(reference);
        }
        let outcome = crate::support::Outcome::run(&mut command);
        assert_eq!(outcome.code, Some(2), "{outcome}");
    }
}
