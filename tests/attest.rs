//! Attestations (`sigward verify-attestation`): in-toto statements in DSSE envelopes, made by
//! cosign 2.5 either as Sigstore bundles attached as OCI referrers (`--new-bundle-format`; on
//! this registry through the `sha256-<hex>` referrers fallback tag) or as legacy `.att` layers.
//! Each is accepted with the signer's key, with the statement handed back, and cosign agrees;
//! then the rejections an attacker with push access could provoke, each for its own reason.
//!
//! The last tests replay a real keyless `.sig` layer (a 2022 GitHub Actions signature, Rekor
//! SET, Fulcio chain and SCT, from `shared/fixtures/legacy-keyless`) onto an image of ours: all
//! of it verifies offline, and only the signed digest gives the replay away.

use std::fs;

use serde_json::Value;

use crate::support::image::layout_digest;
use crate::support::lab::{Attestation, CUSTOM_PREDICATE};
use crate::support::outcome::{checks, signatures};
use crate::support::referrers::{ReferrersIndex, referrers_tag};
use crate::support::{Image, KeyPair, Lab, Outcome, SigManifest, shared_dir};

/// The custom predicate cosign wraps (as a string) in `{"Data": …, "Timestamp": …}`. Rows change
/// one byte of it, a change only the signature can notice.
const PREDICATE: &str = r#"{"builder":"sigward e2e","note":"original"}"#;

/// An image with one cosign attestation by `key`, already checked to verify.
struct Attested {
    lab: Lab,
    key: KeyPair,
    image: Image,
}

fn attested(repo: &str, format: Attestation) -> Attested {
    let lab = Lab::new();
    let key = lab.cosign_key_pair("signer");
    let image = lab.push_image(repo, "v1");
    let predicate = lab.file("predicate.json", PREDICATE);
    lab.cosign_attest(&image, &key, &predicate, format);
    let source = match format {
        Attestation::Bundle => "referrer-bundle",
        Attestation::AttLayer => "att-layer",
    };
    lab.verify_attestation(&image.by_tag(), "custom", &[&key], &[])
        .assert_verified_from(source);
    Attested { lab, key, image }
}

/// The in-toto statement a verified signature hands back as `payload` (a JSON string, or the
/// statement itself).
fn statement_of(signature: &Value) -> Value {
    match &signature["payload"] {
        Value::String(text) => serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("payload is not JSON ({e}): {signature}")),
        Value::Object(_) => signature["payload"].clone(),
        other => panic!("no statement in a verified signature: {other}\n{signature}"),
    }
}

/// The statement of the one verified signature of `report`, checked to be about `image` with
/// cosign's custom predicate holding `PREDICATE`.
fn assert_statement_about(report: &Value, image: &Image) {
    let verified: Vec<&Value> = signatures(report)
        .iter()
        .filter(|s| s["verified"] == true)
        .collect();
    assert_eq!(verified.len(), 1, "{report}");
    let statement = statement_of(verified[0]);
    assert_eq!(statement["predicateType"], CUSTOM_PREDICATE, "{statement}");
    assert_eq!(statement["predicate"]["Data"], PREDICATE, "{statement}");
    let hex = image.digest.strip_prefix("sha256:").expect("sha256 digest");
    let subjects = statement["subject"].as_array().expect("subject array");
    assert!(
        subjects.iter().any(|s| s["digest"]["sha256"] == hex),
        "no subject is {}: {statement}",
        image.digest
    );
}

/// `text` with one byte of the predicate's note changed (`original` → `originaL`).
fn change_one_byte(text: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(text.to_vec()).expect("UTF-8");
    assert!(text.contains("original"), "no note in {text}");
    let changed = text.replacen("original", "originaL", 1).into_bytes();
    assert_eq!(changed.len(), text.len());
    changed
}

/// cosign 2.5 and cosign 3.1 refuse the bundle attestations of `reference` under `key`.
fn cosign_rejects(lab: &Lab, reference: &str, key: &KeyPair) {
    lab.cosign_verify_attestation(reference, key, "custom", Attestation::Bundle)
        .assert_failure();
    lab.cosign3_verify_attestation(reference, key, CUSTOM_PREDICATE)
        .assert_failure();
}

/// The one signature of `outcome`'s report: rejected for `reason` after the checks in `passed`
/// passed, in that order, and before the check `failed` failed. Nothing else failed.
fn assert_failed_after(outcome: &Outcome, reason: &str, passed: &[&str], failed: &str) {
    let report = outcome.assert_rejected(reason);
    let signatures = signatures(&report);
    assert_eq!(signatures.len(), 1, "{outcome}");
    let checks = checks(&signatures[0]);
    let position = |name: &str, verdict: &str| {
        checks
            .iter()
            .position(|c| c["name"] == name && c["outcome"] == verdict)
            .unwrap_or_else(|| panic!("no {name} check that is {verdict}\n{outcome}"))
    };
    let failed_at = position(failed, "fail");
    let mut previous = None;
    for name in passed {
        let at = position(name, "pass");
        assert!(
            at < failed_at,
            "{name} is not checked before {failed}\n{outcome}"
        );
        assert!(previous < Some(at), "{name} is out of order\n{outcome}");
        previous = Some(at);
    }
    let failures = checks.iter().filter(|c| c["outcome"] == "fail").count();
    assert_eq!(failures, 1, "more than one failed check\n{outcome}");
}

// --- bundles attached as referrers ---------------------------------------------------------

#[test]
fn accepts_cosign_bundle_attestation_and_returns_its_statement() {
    let Attested { lab, key, image } = attested("attest/bundle", Attestation::Bundle);

    // cosign attached it as a referrer through the fallback tag, not as a `.att`.
    let index = ReferrersIndex::fetch(&lab.registry, &image);
    assert_eq!(index.len(), 1);
    assert_eq!(index.referrer(0).subject_digest(), image.digest);
    let att_tag = format!("{}.att", referrers_tag(&image.digest));
    assert!(!lab.registry.has_manifest(&image.repo, &att_tag));

    for reference in [image.by_tag(), image.by_digest()] {
        let report = lab
            .verify_attestation(&reference, "custom", &[&key], &[])
            .assert_verified_from("referrer-bundle");
        assert_eq!(report["digest"], image.digest.as_str());
        assert_statement_about(&report, &image);
    }
    // The predicate type as a URI is the same as its shorthand.
    lab.verify_attestation(&image.by_tag(), CUSTOM_PREDICATE, &[&key], &[])
        .assert_verified_from("referrer-bundle");

    lab.cosign_verify_attestation(&image.by_tag(), &key, "custom", Attestation::Bundle)
        .assert_success();
    lab.cosign3_verify_attestation(&image.by_tag(), &key, CUSTOM_PREDICATE)
        .assert_success();
}

#[test]
fn rejects_bundle_attestation_with_wrong_key() {
    let Attested { lab, image, .. } = attested("attest/wrong-key", Attestation::Bundle);
    let wrong = lab.cosign_key_pair("wrong");
    assert_failed_after(
        &lab.verify_attestation(&image.by_tag(), "custom", &[&wrong], &[]),
        "signature-mismatch",
        &["payload-digest", "bundle"],
        "signature",
    );
    cosign_rejects(&lab, &image.by_tag(), &wrong);
}

#[test]
fn reports_an_attestation_of_another_predicate_type_without_accepting_it() {
    // A custom attestation is no SLSA provenance: it is listed, with the type it holds, and
    // rejected before any signature check, whoever signed it.
    let Attested { lab, key, image } = attested("attest/other-type", Attestation::Bundle);
    let report = lab
        .verify_attestation(&image.by_tag(), "slsaprovenance", &[&key], &[])
        .assert_rejected("predicate-type-mismatch");
    let listed = signatures(&report);
    assert_eq!(listed.len(), 1, "{report}");
    assert_eq!(listed[0]["source"], "referrer-bundle", "{report}");
    assert!(
        listed[0]["checks"]
            .to_string()
            .contains("https://cosign.sigstore.dev/attestation/v1"),
        "{report}"
    );
    lab.cosign_verify_attestation(&image.by_tag(), &key, "slsaprovenance", Attestation::Bundle)
        .assert_failure();
}

#[test]
fn rejects_bundle_whose_envelope_payload_changed() {
    // One byte of the statement changes; the bundle is uploaded again and the referrer manifest
    // and the referrers index follow it, so every digest matches and only the signature can
    // tell.
    let Attested { lab, key, image } = attested("attest/envelope", Attestation::Bundle);
    let mut index = ReferrersIndex::fetch(&lab.registry, &image);
    let mut referrer = index.referrer(0);
    let changed = change_one_byte(&referrer.dsse_payload());
    referrer.replace_dsse_payload(&changed);
    let entry = referrer.push();
    index.set(0, entry);
    index.push_for(&image);
    assert_eq!(
        ReferrersIndex::fetch(&lab.registry, &image)
            .referrer(0)
            .dsse_payload(),
        changed
    );

    assert_failed_after(
        &lab.verify_attestation(&image.by_tag(), "custom", &[&key], &[]),
        "signature-mismatch",
        &["payload-digest", "bundle"],
        "signature",
    );
    cosign_rejects(&lab, &image.by_tag(), &key);
}

#[test]
fn rejects_bundle_attestation_of_another_image() {
    // B's attestation is listed among A's referrers: as cosign left it (the referrer manifest's
    // subject says B), and with the manifest's subject rewritten to C, which nothing signed.
    // Either way only the in-toto subject inside the signed statement tells.
    let Attested { lab, key, image: b } = attested("attest/subject", Attestation::Bundle);
    let a = lab.push_image("attest/subject", "a");
    let c = lab.push_image("attest/subject", "c");
    let b_index = ReferrersIndex::fetch(&lab.registry, &b);

    let mut a_index = ReferrersIndex::empty(&lab.registry, &a);
    a_index.add(b_index.entry(0));
    a_index.push_for(&a);

    let mut referrer = b_index.referrer(0);
    referrer.set_subject(&c);
    let mut c_index = ReferrersIndex::empty(&lab.registry, &c);
    c_index.add(referrer.push());
    c_index.push_for(&c);
    assert_eq!(
        ReferrersIndex::fetch(&lab.registry, &c)
            .referrer(0)
            .subject_digest(),
        c.digest
    );

    for image in [&a, &c] {
        let report = lab
            .verify_attestation(&image.by_tag(), "custom", &[&key], &[])
            .assert_rejected("manifest-digest-mismatch");
        assert_eq!(report["digest"], image.digest.as_str());
        // The envelope's signature itself verified: the subject is what gave it away.
        let signature = &signatures(&report)[0];
        assert!(
            checks(signature)
                .iter()
                .any(|c| c["name"] == "signature" && c["outcome"] == "pass"),
            "the DSSE signature was not verified first: {report}"
        );
        cosign_rejects(&lab, &image.by_tag(), &key);
    }
    // B's own attestation still verifies.
    lab.verify_attestation(&b.by_tag(), "custom", &[&key], &[])
        .assert_verified_from("referrer-bundle");
}

#[test]
fn rejects_bundle_bytes_changed_behind_their_descriptor_digest() {
    // The registry's stored bundle is rewritten in place: one character of the key hint (which
    // nothing else checks) changes, and the descriptor and the digest the registry serves it
    // under stay, so only the blob digest check can notice.
    let Attested { lab, key, image } = attested("attest/blob-in-place", Attestation::Bundle);
    let referrer = ReferrersIndex::fetch(&lab.registry, &image).referrer(0);
    let path = lab.registry.blob_path(&referrer.bundle_digest());
    let stored = fs::read_to_string(&path).expect("stored bundle");
    let hint_at = stored.find(r#""hint":""#).expect("key hint in bundle") + r#""hint":""#.len();
    let replacement = if stored[hint_at..].starts_with('A') {
        "B"
    } else {
        "A"
    };
    let mut changed = stored.clone();
    changed.replace_range(hint_at..=hint_at, replacement);
    assert_ne!(changed, stored);
    fs::write(&path, changed).expect("rewrite stored bundle");

    assert_failed_after(
        &lab.verify_attestation(&image.by_tag(), "custom", &[&key], &[]),
        "payload-digest-mismatch",
        &[],
        "payload-digest",
    );
    cosign_rejects(&lab, &image.by_tag(), &key);
}

// --- legacy `.att` layers ------------------------------------------------------------------

#[test]
fn accepts_legacy_att_layer_attestation_and_rejects_another_key() {
    let Attested { lab, key, image } = attested("attest/legacy", Attestation::AttLayer);
    let att_tag = format!("{}.att", referrers_tag(&image.digest));
    assert!(lab.registry.has_manifest(&image.repo, &att_tag));
    assert!(
        !lab.registry
            .has_manifest(&image.repo, &referrers_tag(&image.digest))
    );

    let report = lab
        .verify_attestation(&image.by_tag(), "custom", &[&key], &[])
        .assert_verified_from("att-layer");
    assert_statement_about(&report, &image);

    let wrong = lab.cosign_key_pair("wrong");
    assert_failed_after(
        &lab.verify_attestation(&image.by_tag(), "custom", &[&wrong], &[]),
        "signature-mismatch",
        &["payload-digest", "envelope"],
        "signature",
    );

    lab.cosign_verify_attestation(&image.by_tag(), &key, "custom", Attestation::AttLayer)
        .assert_success();
    lab.cosign_verify_attestation(&image.by_tag(), &wrong, "custom", Attestation::AttLayer)
        .assert_failure();
}

// --- a real keyless signature, replayed ----------------------------------------------------

/// A real keyless `.sig` layer (see `shared/fixtures/legacy-keyless/README.md`).
pub(crate) struct KeylessLayer {
    payload: Vec<u8>,
    annotations: Value,
    pub(crate) identity: String,
    issuer: String,
    /// The digest the payload signs (`image.txt`'s, not ours).
    signed_digest: String,
}

fn keyless_layer() -> KeylessLayer {
    let dir = shared_dir().join("fixtures/legacy-keyless/distroless-static-gha-2022");
    let read = |name: &str| {
        fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{}/{name}: {e}", dir.display()))
    };
    let expect = String::from_utf8(read("expect.txt")).expect("expect.txt is UTF-8");
    let field = |key: &str| {
        expect
            .lines()
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| line.strip_prefix(&format!("{key}: ")))
            .unwrap_or_else(|| panic!("expect.txt has no {key}"))
            .trim()
            .to_owned()
    };
    let image = field("image");
    let (_, signed_digest) = image.split_once('@').expect("image@digest");
    KeylessLayer {
        payload: read("payload.json"),
        annotations: serde_json::from_slice(&read("annotations.json")).expect("annotations"),
        identity: field("identity"),
        issuer: field("issuer"),
        signed_digest: signed_digest.to_owned(),
    }
}

impl KeylessLayer {
    pub(crate) fn policy<'a>(&'a self, identity: &'a str) -> [&'a str; 4] {
        [
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            &self.issuer,
        ]
    }
}

/// The production trusted root from the shared conformance data, with `strip` emptied.
fn production_root_without(lab: &Lab, strip: &str) -> String {
    let path = shared_dir().join("conformance/trust/production/trusted_root.json");
    let mut root: Value = serde_json::from_slice(
        &fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("trusted root JSON");
    assert!(
        root[strip].as_array().is_some_and(|list| !list.is_empty()),
        "the production root has no {strip}"
    );
    root[strip] = Value::Array(Vec::new());
    let file = lab.file(&format!("root-without-{strip}.json"), root.to_string());
    file.to_str().expect("utf-8 path").to_owned()
}

/// A fresh image in `repo` with the real keyless layer (signed for another digest) pushed as
/// its `.sig`.
pub(crate) fn replayed_onto_new_image(repo: &str) -> (Lab, Image, KeylessLayer) {
    let layer = keyless_layer();
    let lab = Lab::new();
    let image = lab.push_image(repo, "v1");
    assert_ne!(image.digest, layer.signed_digest);
    SigManifest::with_layer(
        &lab.registry,
        &image,
        &layer.payload,
        layer.annotations.clone(),
    )
    .push_for(&image);
    (lab, image, layer)
}

#[test]
fn replayed_keyless_signature_verifies_offline_until_the_digest_check() {
    // The certificate expired minutes after it was issued in 2022: reaching the digest check
    // means the Rekor SET's integrated time, not the clock, dated it.
    let (lab, image, layer) = replayed_onto_new_image("keyless/replay");

    let policy = layer.policy(&layer.identity);
    let outcome = lab.verify_with_tlog(&image.by_tag(), &policy);
    assert_failed_after(
        &outcome,
        "manifest-digest-mismatch",
        &["payload-digest", "tlog", "signature"],
        "manifest-digest",
    );
    assert_eq!(outcome.json()["digest"], image.digest.as_str());

    // Another identity from the same issuer: the certificate is read, and refused.
    let other = layer
        .identity
        .replace("@refs/heads/main", "@refs/heads/evil");
    assert_ne!(other, layer.identity);
    assert_failed_after(
        &lab.verify_with_tlog(&image.by_tag(), &layer.policy(&other)),
        "identity-mismatch",
        &["tlog"],
        "signature",
    );
}

#[test]
fn replayed_keyless_signature_honours_the_github_workflow_flags() {
    // cosign's `--certificate-github-workflow-*` flags against the leaf's GitHub Actions
    // extensions (Fulcio 1.3.6.1.4.1.57264.1.2 to .1.6, read with `openssl x509 -text`). All five
    // right: the certificate is accepted and only the replayed digest gives the replay away.
    // Any one wrong: the signature check fails with identity-mismatch, naming the extension.
    let (lab, image, layer) = replayed_onto_new_image("keyless/workflow");
    let policy = layer.policy(&layer.identity);
    let flags = [
        (
            "--certificate-github-workflow-trigger",
            "schedule",
            "1.3.6.1.4.1.57264.1.2",
        ),
        (
            "--certificate-github-workflow-sha",
            "7e7572e578de7c51a2f1a1791f025cf315503aa2",
            "1.3.6.1.4.1.57264.1.3",
        ),
        (
            "--certificate-github-workflow-name",
            "Create Release",
            "1.3.6.1.4.1.57264.1.4",
        ),
        (
            "--certificate-github-workflow-repository",
            "distroless/static",
            "1.3.6.1.4.1.57264.1.5",
        ),
        (
            "--certificate-github-workflow-ref",
            "refs/heads/main",
            "1.3.6.1.4.1.57264.1.6",
        ),
    ];
    let run = |wrong: Option<&str>| {
        let mut args: Vec<&str> = policy.to_vec();
        for (flag, value, _) in &flags {
            args.push(flag);
            args.push(if wrong == Some(*flag) { "wrong" } else { value });
        }
        lab.verify_with_tlog(&image.by_tag(), &args)
    };

    assert_failed_after(
        &run(None),
        "manifest-digest-mismatch",
        &["payload-digest", "tlog", "signature"],
        "manifest-digest",
    );
    for (flag, value, oid) in &flags {
        let outcome = run(Some(flag));
        assert_failed_after(&outcome, "identity-mismatch", &["tlog"], "signature");
        let report = outcome.json();
        let failed = checks(&signatures(&report)[0])
            .iter()
            .find(|check| check["outcome"] == "fail")
            .and_then(|check| check["detail"].as_str())
            .unwrap_or_default()
            .to_owned();
        let expected = format!("({oid}) is \"{value}\", not \"wrong\"");
        assert!(failed.contains(&expected), "{flag}: {outcome}");
    }

    // The flags check a certificate: with only a key there is none, and sigward says so.
    let key = lab.plain_key_pair("signer");
    let outcome = lab.verify(
        &image.by_tag(),
        &[&key],
        &["--certificate-github-workflow-trigger", "schedule"],
    );
    outcome.assert_error("invalid-request");
}

#[test]
fn replayed_keyless_signature_needs_the_fulcio_ca_and_the_ct_log_of_the_trusted_root() {
    // The same replay against edited copies of the production trusted root: unchanged, it gets
    // as far as with the embedded root; without Fulcio CAs the chain fails, without CT logs the
    // SCT does, and the staging root does not know the Rekor key.
    let (lab, image, layer) = replayed_onto_new_image("keyless/roots");
    let policy = layer.policy(&layer.identity);
    let run = |extra: &[&str]| {
        let args: Vec<&str> = policy.iter().chain(extra).copied().collect();
        lab.verify_with_tlog(&image.by_tag(), &args)
    };

    let production = shared_dir().join("conformance/trust/production/trusted_root.json");
    let production = production.to_str().expect("utf-8 path");
    assert_failed_after(
        &run(&["--trusted-root", production]),
        "manifest-digest-mismatch",
        &["tlog", "signature"],
        "manifest-digest",
    );
    let no_ca = production_root_without(&lab, "certificateAuthorities");
    assert_failed_after(
        &run(&["--trusted-root", &no_ca]),
        "certificate-invalid",
        &["tlog"],
        "signature",
    );
    let no_ct = production_root_without(&lab, "ctlogs");
    assert_failed_after(
        &run(&["--trusted-root", &no_ct]),
        "sct-invalid",
        &["tlog"],
        "signature",
    );
    assert_failed_after(&run(&["--staging"]), "tlog-invalid", &[], "tlog");
}

#[test]
fn replayed_keyless_signature_in_an_oci_layout_is_rejected_by_digest() {
    let layer = keyless_layer();
    let lab = Lab::new();
    let image = lab.push_image("keyless/layout", "v1");
    // The layout skopeo pushed from. Its digest is not the registry's: skopeo gzips the
    // uncompressed layer on the way there.
    let layout = lab.layout_of(&image);
    let digest = layout_digest(&layout, &image.tag);
    assert_ne!(digest, layer.signed_digest);
    SigManifest::with_layer(
        &lab.registry,
        &image,
        &layer.payload,
        layer.annotations.clone(),
    )
    .write_to_layout(&layout, &digest);

    let reference = format!("oci:{}:{}", layout.display(), image.tag);
    let policy = layer.policy(&layer.identity);
    let outcome = lab.verify_with_tlog(&reference, &policy);
    assert_failed_after(
        &outcome,
        "manifest-digest-mismatch",
        &["payload-digest", "tlog", "signature"],
        "manifest-digest",
    );
    assert_eq!(outcome.json()["digest"], digest.as_str());
}
