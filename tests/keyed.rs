//! Keyed signatures from three signers — cosign 2.5, skopeo 1.18 and `sigward sign` — each
//! accepted with the signer's public key and rejected with another key (issue 2). sigward's
//! own signatures must also satisfy `cosign verify --key` (2.5 and 3.1), and cosign's and skopeo's verdicts
//! are checked alongside sigward's so a test cannot pass on a signature that is not real.

use serde_json::Value;

use crate::support::keys::RsaFormat;
use crate::support::lab::IGNORE_TLOG;
use crate::support::{Lab, Outcome, SigManifest};

#[test]
fn accepts_cosign_signature_with_its_key_and_rejects_another_key() {
    let lab = Lab::new();
    let key = lab.cosign_key_pair("signer");
    let other = lab.cosign_key_pair("other");
    let image = lab.push_image("keyed/cosign", "v1");
    lab.cosign_sign(&image, &key, &[]);

    for reference in [image.by_tag(), image.by_digest()] {
        let report = lab.verify(&reference, &[&key], &[]).assert_verified();
        assert_eq!(report["digest"], image.digest.as_str());
    }
    lab.verify(&image.by_tag(), &[&other], &[])
        .assert_rejected("signature-mismatch");

    // The independent verifiers agree on both verdicts.
    lab.cosign_verify(&image.by_tag(), &key, &[])
        .assert_success();
    lab.skopeo_verify(&image.by_tag(), &key).assert_success();
    lab.cosign_verify(&image.by_tag(), &other, &[])
        .assert_failure();
    lab.skopeo_verify(&image.by_tag(), &other).assert_failure();
}

#[test]
fn text_output_and_explicit_http_flag_keep_the_exit_codes() {
    let lab = Lab::new();
    let key = lab.cosign_key_pair("signer");
    let other = lab.cosign_key_pair("other");
    let image = lab.push_image("keyed/text", "v1");
    lab.cosign_sign(&image, &key, &[]);

    let text = |key: &std::path::Path| {
        Outcome::run(
            lab.sigward()
                .args([
                    "verify",
                    "--output",
                    "text",
                    "--allow-http-registry",
                    IGNORE_TLOG,
                ])
                .arg("--key")
                .arg(key)
                .arg(image.by_tag()),
        )
    };
    let accepted = text(&key.public);
    assert_eq!(accepted.code, Some(0), "{accepted}");
    let rejected = text(&other.public);
    assert_eq!(rejected.code, Some(1), "{rejected}");
    // Each signature's reason is printed for a rejection.
    let printed = format!("{}{}", rejected.stdout, rejected.stderr);
    assert!(
        printed.contains("signature-mismatch"),
        "the rejection does not name its reason\n{rejected}"
    );
}

#[test]
fn requires_a_transparency_log_entry_unless_told_not_to() {
    // Like cosign, sigward wants a Rekor entry by default; these signatures have none.
    let lab = Lab::new();
    let key = lab.cosign_key_pair("signer");
    let image = lab.push_image("keyed/tlog", "v1");
    lab.cosign_sign(&image, &key, &[]);

    let outcome = Outcome::run(
        lab.sigward()
            .args(["verify", "--output", "json", "--key"])
            .arg(&key.public)
            .arg(image.by_tag()),
    );
    outcome.assert_rejected("tlog-missing");
    lab.verify(&image.by_tag(), &[&key], &[]).assert_verified();
}

#[test]
fn accepts_skopeo_signature_with_its_key_and_rejects_another_key() {
    let lab = Lab::new();
    let key = lab.skopeo_key_pair("signer");
    let other = lab.cosign_key_pair("other");
    let image = lab.push_image_signed_by_skopeo("keyed/skopeo", "v1", &key);

    // skopeo writes the tag into docker-reference and creator/timestamp into `optional`.
    let payload = payload_json(&lab, &image, 0);
    assert!(
        payload["critical"]["identity"]["docker-reference"]
            .as_str()
            .is_some_and(|r| r.ends_with(":v1")),
        "skopeo payload: {payload}"
    );

    let report = lab.verify(&image.by_tag(), &[&key], &[]).assert_verified();
    assert_eq!(report["digest"], image.digest.as_str());
    lab.verify(&image.by_digest(), &[&other], &[])
        .assert_rejected("signature-mismatch");

    lab.cosign_verify(&image.by_tag(), &key, &[])
        .assert_success();
    lab.cosign_verify(&image.by_tag(), &other, &[])
        .assert_failure();
}

#[test]
fn accepts_sigward_signature_with_its_key_and_cosign_agrees() {
    let lab = Lab::new();
    let key = lab.cosign_key_pair("signer");
    let other = lab.cosign_key_pair("other");
    let image = lab.push_image("keyed/sigward", "v1");

    // Signing by tag signs the digest the tag resolves to.
    lab.sigward_sign(&image.by_tag(), &key, &[])
        .assert_success();
    let sig = SigManifest::fetch(&lab.registry, &image);
    assert_eq!(sig.layer_count(), 1);
    let payload = payload_json(&lab, &image, 0);
    assert_eq!(
        payload["critical"]["image"]["docker-manifest-digest"],
        image.digest.as_str()
    );
    assert_eq!(
        payload["critical"]["type"],
        "cosign container image signature"
    );

    lab.verify(&image.by_tag(), &[&key], &[]).assert_verified();
    lab.verify(&image.by_tag(), &[&other], &[])
        .assert_rejected("signature-mismatch");

    lab.cosign_verify(&image.by_tag(), &key, &[])
        .assert_success();
    lab.cosign_verify(&image.by_digest(), &key, &[])
        .assert_success();
    lab.skopeo_verify(&image.by_tag(), &key).assert_success();
    lab.cosign_verify(&image.by_tag(), &other, &[])
        .assert_failure();
    // cosign 3 reads the `.sig` sigward wrote as well.
    lab.cosign3_verify(&image.by_tag(), &key).assert_success();
    lab.cosign3_verify(&image.by_digest(), &key)
        .assert_success();
    lab.cosign3_verify(&image.by_tag(), &other).assert_failure();
}

#[test]
fn signs_with_plain_pkcs8_key_and_cosign_agrees() {
    let lab = Lab::new();
    let key = lab.plain_key_pair("signer");
    let other = lab.plain_key_pair("other");
    let image = lab.push_image("keyed/pkcs8", "v1");

    lab.sigward_sign(&image.by_digest(), &key, &["--allow-http-registry"])
        .assert_success();

    lab.verify(&image.by_tag(), &[&key], &[]).assert_verified();
    lab.verify(&image.by_tag(), &[&other], &[])
        .assert_rejected("signature-mismatch");
    lab.cosign_verify(&image.by_tag(), &key, &[])
        .assert_success();
    lab.cosign_verify(&image.by_tag(), &other, &[])
        .assert_failure();
}

#[test]
fn signs_with_openssl_rsa_keys_and_cosign_agrees() {
    // cosign signs with an RSA `--key` as RSASSA-PKCS1-v1_5 over SHA-256; sigward must make
    // signatures both cosign releases accept, from each way an RSA key reaches a user.
    let lab = Lab::new();
    let pkcs8 = lab.openssl_rsa_key_pair("pkcs8-2048", 2048, RsaFormat::GenpkeyPkcs8);
    let pkcs1 = lab.openssl_rsa_key_pair("pkcs1-4096", 4096, RsaFormat::GenrsaPkcs1);
    let encrypted = lab.cosign3_import_key_pair(&pkcs8, "rsa-2048");
    let other = lab.openssl_rsa_key_pair("other-2048", 2048, RsaFormat::GenpkeyPkcs8);

    for (name, key) in [
        ("pkcs8-2048", &pkcs8),
        ("pkcs1-4096", &pkcs1),
        ("cosign-2048", &encrypted),
    ] {
        let image = lab.push_image(&format!("keyed/rsa-{name}"), "v1");
        lab.sigward_sign(&image.by_tag(), key, &[]).assert_success();

        lab.verify(&image.by_tag(), &[key], &[]).assert_verified();
        lab.verify(&image.by_tag(), &[&other], &[])
            .assert_rejected("signature-mismatch");
        lab.cosign_verify(&image.by_tag(), key, &[])
            .assert_success();
        lab.cosign_verify(&image.by_tag(), &other, &[])
            .assert_failure();
        lab.cosign3_verify(&image.by_tag(), key).assert_success();
        lab.cosign3_verify(&image.by_tag(), &other).assert_failure();
    }
}

#[test]
fn sign_refuses_an_rsa_key_under_2048_bits() {
    let lab = Lab::new();
    let small = lab.openssl_rsa_key_pair("small", 1024, RsaFormat::GenpkeyPkcs8);
    let image = lab.push_image("keyed/rsa-small", "v1");
    let outcome = lab.sigward_sign(&image.by_tag(), &small, &[]);
    assert_eq!(outcome.code, Some(2), "{outcome}");
    assert!(
        outcome.stderr.contains("RSA key of 1024 bits") && outcome.stderr.contains("2048"),
        "{outcome}"
    );
    // Nothing was written: the image is still unsigned.
    lab.verify(&image.by_tag(), &[&lab.plain_key_pair("any")], &[])
        .assert_rejected("no-signatures");
}

#[test]
fn sigward_sign_appends_a_layer_to_an_existing_sig_as_cosign_does() {
    let lab = Lab::new();
    let first = lab.cosign_key_pair("first");
    let second = lab.cosign_key_pair("second");
    let third = lab.cosign_key_pair("third");
    let image = lab.push_image("keyed/append", "v1");

    lab.cosign_sign(&image, &first, &[]);
    let before = SigManifest::fetch(&lab.registry, &image);
    lab.sigward_sign(&image.by_tag(), &second, &[])
        .assert_success();
    let after = SigManifest::fetch(&lab.registry, &image);
    assert_eq!(
        after.layer_count(),
        2,
        "sigward replaced instead of appending"
    );
    assert_eq!(after.layer_digest(0), before.layer_digest(0));
    assert_eq!(after.signature(0), before.signature(0));

    // Any of the layers, any of the keys.
    lab.verify(&image.by_tag(), &[&first], &[])
        .assert_verified();
    lab.verify(&image.by_tag(), &[&second], &[])
        .assert_verified();
    lab.verify(&image.by_tag(), &[&third, &second], &[])
        .assert_verified();
    lab.verify(&image.by_tag(), &[&third], &[])
        .assert_rejected("signature-mismatch");

    lab.cosign_verify(&image.by_tag(), &first, &[])
        .assert_success();
    lab.cosign_verify(&image.by_tag(), &second, &[])
        .assert_success();
    lab.cosign_verify(&image.by_tag(), &third, &[])
        .assert_failure();
}

/// The simple-signing payload of layer `index` of `image`'s `.sig`, parsed.
fn payload_json(lab: &Lab, image: &crate::support::Image, index: usize) -> Value {
    let sig = SigManifest::fetch(&lab.registry, image);
    serde_json::from_slice(&sig.payload(index)).expect("payload is JSON")
}
