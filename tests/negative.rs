//! The negative matrix that cosign and skopeo agree on (issue 2): each row starts from an image
//! that sigward accepts, changes one thing the way an attacker with push access could, and asserts
//! that sigward rejects it for that row's reason and that cosign 2.5, cosign 3.1 and skopeo reject
//! it too — so every row is a real rejection, not a test artefact. Two rows at the end cover checks
//! of sigward's that cosign does not make.

use std::fs;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

use crate::support::signature::SIGNATURE_ANNOTATION;
use crate::support::{Image, KeyPair, Lab, SigManifest};

/// Annotation cosign writes into the payload's `optional` map; rows change one byte of it, a
/// change that only the signature (or the blob digest) can notice.
const NOTE: &str = "note=original";

/// An image signed by cosign with `key`, already checked to verify before a row tampers.
struct Signed {
    lab: Lab,
    key: KeyPair,
    image: Image,
}

fn signed(repo: &str) -> Signed {
    let lab = Lab::new();
    let key = lab.cosign_key_pair("signer");
    let image = lab.push_image(repo, "v1");
    lab.cosign_sign(&image, &key, &[NOTE]);
    lab.verify(&image.by_tag(), &[&key], &[]).assert_verified();
    Signed { lab, key, image }
}

/// cosign 2.5, cosign 3.1 and skopeo all refuse `reference` under `key`.
fn peers_reject(lab: &Lab, reference: &str, key: &KeyPair) {
    lab.cosign_verify(reference, key, &[]).assert_failure();
    lab.cosign3_verify(reference, key).assert_failure();
    lab.skopeo_verify(reference, key).assert_failure();
}

/// `payload` with one byte of the note's value changed (`original` → `originaL`).
fn change_one_byte(payload: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(payload.to_vec()).expect("payload is UTF-8");
    assert!(
        text.contains("\"original\""),
        "payload without the note: {text}"
    );
    let changed = text
        .replacen("\"original\"", "\"originaL\"", 1)
        .into_bytes();
    assert_eq!(changed.len(), payload.len());
    changed
}

#[test]
fn rejects_wrong_key() {
    let Signed { lab, image, .. } = signed("matrix/wrong-key");
    let wrong = lab.cosign_key_pair("wrong");
    lab.verify(&image.by_tag(), &[&wrong], &[])
        .assert_rejected("signature-mismatch");
    peers_reject(&lab, &image.by_tag(), &wrong);
}

#[test]
fn rejects_payload_byte_changed_behind_its_descriptor_digest() {
    // The registry's stored blob is rewritten in place: the descriptor (and the digest the
    // registry serves it under) stays, the bytes no longer hash to it.
    let Signed { lab, key, image } = signed("matrix/payload-in-place");
    let sig = SigManifest::fetch(&lab.registry, &image);
    let path = lab.registry.blob_path(&sig.layer_digest(0));
    let stored = fs::read(&path).expect("stored payload");
    fs::write(&path, change_one_byte(&stored)).expect("rewrite stored payload");

    lab.verify(&image.by_tag(), &[&key], &[])
        .assert_rejected("payload-digest-mismatch");
    peers_reject(&lab, &image.by_tag(), &key);
}

#[test]
fn rejects_payload_byte_changed_with_descriptor_digest_fixed() {
    // The changed payload is uploaded as a new blob and the descriptor follows it, so every
    // digest matches and only the signature can tell.
    let Signed { lab, key, image } = signed("matrix/payload-new-blob");
    let mut sig = SigManifest::fetch(&lab.registry, &image);
    let changed = change_one_byte(&sig.payload(0));
    sig.replace_payload(0, &changed);
    sig.push_for(&image);

    lab.verify(&image.by_tag(), &[&key], &[])
        .assert_rejected("signature-mismatch");
    peers_reject(&lab, &image.by_tag(), &key);
}

#[test]
fn rejects_flipped_signature_byte() {
    let Signed { lab, key, image } = signed("matrix/signature-byte");
    let mut sig = SigManifest::fetch(&lab.registry, &image);
    let mut signature = BASE64.decode(sig.signature(0)).expect("base64 signature");
    *signature.last_mut().expect("non-empty signature") ^= 0x01;
    sig.set_annotation(0, SIGNATURE_ANNOTATION, &BASE64.encode(&signature));
    sig.push_for(&image);

    lab.verify(&image.by_tag(), &[&key], &[])
        .assert_rejected("signature-mismatch");
    peers_reject(&lab, &image.by_tag(), &key);
}

#[test]
fn rejects_payload_whose_manifest_digest_points_elsewhere_even_when_signed() {
    // The payload names another image's digest and is signed again by the same key, so the
    // signature is valid and only the docker-manifest-digest check can reject it.
    let Signed { lab, key, image } = signed("matrix/digest-elsewhere");
    let elsewhere = lab.push_image("matrix/digest-elsewhere", "other");
    let mut sig = SigManifest::fetch(&lab.registry, &image);
    let mut payload: Value = serde_json::from_slice(&sig.payload(0)).expect("payload JSON");
    payload["critical"]["image"]["docker-manifest-digest"] = elsewhere.digest.as_str().into();
    let payload = serde_json::to_vec(&payload).expect("payload JSON");
    let signature = lab.cosign_sign_blob(&key, &payload);
    sig.replace_payload(0, &payload);
    sig.set_annotation(0, SIGNATURE_ANNOTATION, &signature);
    sig.push_for(&image);

    lab.verify(&image.by_tag(), &[&key], &[])
        .assert_rejected("manifest-digest-mismatch");
    peers_reject(&lab, &image.by_tag(), &key);
}

#[test]
fn rejects_layer_without_signature_annotation() {
    let Signed { lab, key, image } = signed("matrix/no-annotation");
    let mut sig = SigManifest::fetch(&lab.registry, &image);
    sig.remove_annotation(0, SIGNATURE_ANNOTATION);
    sig.push_for(&image);

    lab.verify(&image.by_tag(), &[&key], &[])
        .assert_rejected("missing-signature");
    peers_reject(&lab, &image.by_tag(), &key);
}

#[test]
fn rejects_sig_replayed_from_another_image() {
    let Signed { lab, key, image } = signed("matrix/replay");
    let victim = lab.push_image("matrix/replay", "victim");
    SigManifest::fetch(&lab.registry, &image).push_for(&victim);

    let report = lab
        .verify(&victim.by_tag(), &[&key], &[])
        .assert_rejected("manifest-digest-mismatch");
    assert_eq!(report["digest"], victim.digest.as_str());
    peers_reject(&lab, &victim.by_tag(), &key);
    // The original keeps verifying.
    lab.verify(&image.by_tag(), &[&key], &[]).assert_verified();
}

#[test]
fn rejects_image_without_sig() {
    let lab = Lab::new();
    let key = lab.cosign_key_pair("signer");
    let image = lab.push_image("matrix/unsigned", "v1");
    assert!(!lab.registry.has_manifest(&image.repo, &image.sig_tag()));

    let report = lab
        .verify(&image.by_tag(), &[&key], &[])
        .assert_rejected("no-signatures");
    assert!(crate::support::outcome::signatures(&report).is_empty());
    peers_reject(&lab, &image.by_tag(), &key);
}

#[test]
fn two_layers_by_two_keys_accept_either_key_and_reject_a_third() {
    let lab = Lab::new();
    let first = lab.cosign_key_pair("first");
    let second = lab.cosign_key_pair("second");
    let third = lab.cosign_key_pair("third");
    let image = lab.push_image("matrix/two-keys", "v1");
    lab.cosign_sign(&image, &first, &[]);
    lab.cosign_sign(&image, &second, &[]);
    assert_eq!(SigManifest::fetch(&lab.registry, &image).layer_count(), 2);

    for key in [&first, &second] {
        lab.verify(&image.by_tag(), &[key], &[]).assert_verified();
        lab.cosign_verify(&image.by_tag(), key, &[])
            .assert_success();
        lab.cosign3_verify(&image.by_tag(), key).assert_success();
        lab.skopeo_verify(&image.by_tag(), key).assert_success();
    }
    let report = lab
        .verify(&image.by_tag(), &[&third], &[])
        .assert_rejected("signature-mismatch");
    assert_eq!(crate::support::outcome::signatures(&report).len(), 2);
    peers_reject(&lab, &image.by_tag(), &third);
}

#[test]
fn a_tampered_layer_does_not_hide_a_valid_one() {
    // Any-of across layers: the first layer's stored payload is corrupted, the second layer
    // (another key) is intact. The corrupt layer fails alone; the image still verifies.
    let Signed { lab, image, .. } = signed("matrix/one-of-two");
    let second = lab.cosign_key_pair("second");
    lab.cosign_sign(&image, &second, &[]);
    let sig = SigManifest::fetch(&lab.registry, &image);
    assert_eq!(sig.layer_count(), 2);
    let path = lab.registry.blob_path(&sig.layer_digest(0));
    let stored = fs::read(&path).expect("stored payload");
    fs::write(&path, change_one_byte(&stored)).expect("rewrite stored payload");

    let report = lab
        .verify(&image.by_tag(), &[&second], &[])
        .assert_verified();
    let reasons: Vec<&Value> = crate::support::outcome::signatures(&report)
        .iter()
        .map(|s| &s["reason"])
        .collect();
    assert!(
        reasons.contains(&&Value::from("payload-digest-mismatch")),
        "the corrupt layer should be reported: {report}"
    );
}

#[test]
fn rejects_tag_moved_to_another_image_after_signing() {
    let Signed { lab, key, image } = signed("matrix/moved-tag");
    let other = lab.push_image("matrix/moved-tag", "other");
    lab.move_tag(&image, &other);

    let report = lab
        .verify(&image.by_tag(), &[&key], &[])
        .assert_rejected("no-signatures");
    assert_eq!(report["digest"], other.digest.as_str());
    peers_reject(&lab, &image.by_tag(), &key);
    // The signed image itself, by digest, still verifies.
    lab.verify(&image.by_digest(), &[&key], &[])
        .assert_verified();
}

// Beyond the shared matrix: checks that sigward and skopeo make and `cosign verify --key` does
// not.

#[test]
fn rejects_sig_copied_to_another_repository() {
    // Same digest, another repository: the signed docker-reference no longer matches. skopeo
    // (signedIdentity matchRepository) agrees; cosign does not check docker-reference.
    let Signed { lab, key, image } = signed("matrix/origin");
    lab.skopeo_verify(&image.by_tag(), &key).assert_success();
    let copied = lab.copy_image(&image, "matrix/elsewhere");
    assert_eq!(copied.digest, image.digest);
    SigManifest::fetch(&lab.registry, &image).push_for(&copied);

    lab.verify(&copied.by_tag(), &[&key], &[])
        .assert_rejected("reference-mismatch");
    lab.skopeo_verify(&copied.by_tag(), &key).assert_failure();
}

#[test]
fn rejects_payload_of_another_type_even_when_signed() {
    // critical.type must be "cosign container image signature". skopeo checks it; cosign 2.5's
    // `verify --key` accepts any type, so only skopeo is asked here.
    let Signed { lab, key, image } = signed("matrix/payload-type");
    lab.skopeo_verify(&image.by_tag(), &key).assert_success();
    let mut sig = SigManifest::fetch(&lab.registry, &image);
    let mut payload: Value = serde_json::from_slice(&sig.payload(0)).expect("payload JSON");
    payload["critical"]["type"] = "atomic container signature".into();
    let payload = serde_json::to_vec(&payload).expect("payload JSON");
    let signature = lab.cosign_sign_blob(&key, &payload);
    sig.replace_payload(0, &payload);
    sig.set_annotation(0, SIGNATURE_ANNOTATION, &signature);
    sig.push_for(&image);

    lab.verify(&image.by_tag(), &[&key], &[])
        .assert_rejected("wrong-payload-type");
    lab.skopeo_verify(&image.by_tag(), &key).assert_failure();
}
