//! cosign 3.1 as an independent signer. cosign 3 writes every signature and attestation as a
//! Sigstore bundle v0.3 (a DSSE envelope; a signature's statement has the predicate type
//! `https://sigstore.dev/cosign/sign/v1`) attached as an OCI referrer, which on this registry
//! goes through the `sha256-<hex>` referrers fallback tag. It signs offline only with a signing
//! configuration that names no services (see `Lab::cosign3_sign`).
//!
//! Each image cosign 3 signs or attests verifies with `sigward verify` / `verify-attestation`
//! by tag and by digest, and is rejected with another key, replayed onto another image, or
//! after its tag moved; cosign 3 gives the same verdict every time but one, said where. `sigward sign`'s output
//! verifying with cosign 3 is in `keyed.rs`; cosign 3 is a second opinion in `negative.rs` and
//! `attest.rs` too.

use crate::support::lab::CUSTOM_PREDICATE;
use crate::support::outcome::{checks, signatures};
use crate::support::referrers::{ReferrersIndex, referrers_tag};
use crate::support::{Image, KeyPair, Lab};

/// The statement type of a cosign 3 image signature.
const SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// An image signed by cosign 3 with `key`.
struct Signed {
    lab: Lab,
    key: KeyPair,
    image: Image,
}

fn signed(repo: &str) -> Signed {
    let lab = Lab::new();
    let key = lab.cosign_key_pair("signer");
    let image = lab.push_image(repo, "v1");
    lab.cosign3_sign(&image, &key);
    Signed { lab, key, image }
}

/// The one verified signature of `report` is a referrer bundle whose statement has
/// `predicate_type`.
fn assert_one_verified_bundle(report: &serde_json::Value) {
    let verified: Vec<_> = signatures(report)
        .iter()
        .filter(|s| s["verified"] == true)
        .cloned()
        .collect();
    assert_eq!(verified.len(), 1, "{report}");
    assert_eq!(verified[0]["source"], "referrer-bundle", "{report}");
}

#[test]
fn cosign3_signature_verifies_by_tag_and_digest_and_not_with_another_key() {
    let Signed { lab, key, image } = signed("cosign3/sign");
    // cosign 3 attached a bundle through the referrers fallback tag, not a `.sig`.
    let index = ReferrersIndex::fetch(&lab.registry, &image);
    assert_eq!(index.len(), 1);
    assert_eq!(index.referrer(0).subject_digest(), image.digest);
    let statement: serde_json::Value =
        serde_json::from_slice(&index.referrer(0).dsse_payload()).expect("statement JSON");
    assert_eq!(statement["predicateType"], SIGN_PREDICATE, "{statement}");
    let sig_tag = format!("{}.sig", referrers_tag(&image.digest));
    assert!(!lab.registry.has_manifest(&image.repo, &sig_tag));

    for reference in [image.by_tag(), image.by_digest()] {
        let report = lab
            .verify(&reference, &[&key], &[])
            .assert_verified_from("referrer-bundle");
        assert_eq!(report["digest"], image.digest.as_str());
        assert_one_verified_bundle(&report);
        lab.cosign3_verify(&reference, &key).assert_success();
    }

    let other = lab.cosign_key_pair("other");
    lab.verify(&image.by_tag(), &[&other], &[])
        .assert_rejected("signature-mismatch");
    lab.cosign3_verify(&image.by_tag(), &other).assert_failure();
}

#[test]
fn cosign3_attestation_verifies_and_not_with_another_key() {
    let lab = Lab::new();
    let key = lab.cosign_key_pair("signer");
    let image = lab.push_image("cosign3/attest", "v1");
    let predicate = lab.file("predicate.json", r#"{"builder":"sigward e2e"}"#);
    lab.cosign3_attest(&image, &key, &predicate);

    for reference in [image.by_tag(), image.by_digest()] {
        let report = lab
            .verify_attestation(&reference, "custom", &[&key], &[])
            .assert_verified_from("referrer-bundle");
        assert_eq!(report["digest"], image.digest.as_str());
        assert_one_verified_bundle(&report);
        lab.cosign3_verify_attestation(&reference, &key, CUSTOM_PREDICATE)
            .assert_success();
    }
    // An attestation is not an image signature. Here the two disagree, knowingly: cosign
    // 3.1's `verify` takes any DSSE bundle the key signed about the image, whatever its
    // predicate type. sigward wants the signing statement, so that a key which only makes
    // claims about images (a scanner's "vulnerabilities found", a build's provenance) never
    // approves one to run by signing that claim.
    lab.verify(&image.by_tag(), &[&key], &[])
        .assert_rejected("predicate-type-mismatch");
    lab.cosign3_verify(&image.by_tag(), &key).assert_success();

    let other = lab.cosign_key_pair("other");
    lab.verify_attestation(&image.by_tag(), "custom", &[&other], &[])
        .assert_rejected("signature-mismatch");
    lab.cosign3_verify_attestation(&image.by_tag(), &other, CUSTOM_PREDICATE)
        .assert_failure();
}

#[test]
fn cosign3_signature_replayed_onto_another_image_is_rejected() {
    // The signed image's referrer is listed for a victim: as cosign 3 left it (its manifest's
    // subject names the signed image), and with that subject rewritten to the victim. Every
    // digest matches and the signature verifies; only the subject inside the signed statement
    // gives the replay away.
    let Signed { lab, key, image } = signed("cosign3/replay");
    let signed_index = ReferrersIndex::fetch(&lab.registry, &image);
    let as_left = lab.push_image("cosign3/replay", "as-left");
    let rewritten = lab.push_image("cosign3/replay", "rewritten");

    let mut index = ReferrersIndex::empty(&lab.registry, &as_left);
    index.add(signed_index.entry(0));
    index.push_for(&as_left);

    let mut referrer = signed_index.referrer(0);
    referrer.set_subject(&rewritten);
    let mut index = ReferrersIndex::empty(&lab.registry, &rewritten);
    index.add(referrer.push());
    index.push_for(&rewritten);

    for victim in [&as_left, &rewritten] {
        let report = lab
            .verify(&victim.by_tag(), &[&key], &[])
            .assert_rejected("manifest-digest-mismatch");
        assert_eq!(report["digest"], victim.digest.as_str());
        assert!(
            checks(&signatures(&report)[0])
                .iter()
                .any(|c| c["name"] == "signature" && c["outcome"] == "pass"),
            "the signature was not verified first: {report}"
        );
        lab.cosign3_verify(&victim.by_tag(), &key).assert_failure();
    }
    lab.verify(&image.by_tag(), &[&key], &[])
        .assert_verified_from("referrer-bundle");
}

#[test]
fn a_tag_moved_after_cosign3_signed_no_longer_verifies() {
    // The tag is verified by what it points at now: an unsigned image behind a tag that once
    // named a signed one has no signatures, while the signed digest still verifies.
    let Signed { lab, key, image } = signed("cosign3/moved");
    lab.verify(&image.by_tag(), &[&key], &[])
        .assert_verified_from("referrer-bundle");
    let unsigned = lab.push_image("cosign3/moved", "unsigned");
    lab.move_tag(&image, &unsigned);

    let report = lab
        .verify(&image.by_tag(), &[&key], &[])
        .assert_rejected("no-signatures");
    assert_eq!(report["digest"], unsigned.digest.as_str());
    lab.cosign3_verify(&image.by_tag(), &key).assert_failure();

    lab.verify(&image.by_digest(), &[&key], &[])
        .assert_verified_from("referrer-bundle");
    lab.cosign3_verify(&image.by_digest(), &key)
        .assert_success();
}
