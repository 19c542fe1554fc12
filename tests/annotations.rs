//! `-a KEY=VALUE` annotation constraints: the signed payload's `optional` map must hold every
//! constraint, as `cosign verify -a` requires.

use crate::support::Lab;

#[test]
fn annotation_constraints_select_cosign_signatures() {
    let lab = Lab::new();
    let key = lab.cosign_key_pair("signer");
    let image = lab.push_image("annotations/cosign", "v1");
    lab.cosign_sign(&image, &key, &["env=prod", "team=platform"]);

    let reference = image.by_tag();
    lab.verify(&reference, &[&key], &[]).assert_verified();
    lab.verify(&reference, &[&key], &["-a", "env=prod"])
        .assert_verified();
    lab.verify(
        &reference,
        &[&key],
        &["-a", "env=prod", "-a", "team=platform"],
    )
    .assert_verified();
    lab.verify(&reference, &[&key], &["-a", "env=dev"])
        .assert_rejected("annotation-mismatch");
    lab.verify(
        &reference,
        &[&key],
        &["-a", "env=prod", "-a", "team=security"],
    )
    .assert_rejected("annotation-mismatch");
    lab.verify(&reference, &[&key], &["-a", "region=eu"])
        .assert_rejected("annotation-mismatch");

    // cosign agrees with each verdict.
    lab.cosign_verify(&reference, &key, &["-a", "env=prod"])
        .assert_success();
    lab.cosign_verify(&reference, &key, &["-a", "env=dev"])
        .assert_failure();
    lab.cosign_verify(&reference, &key, &["-a", "region=eu"])
        .assert_failure();
}

#[test]
fn sigward_sign_writes_annotations_cosign_checks() {
    let lab = Lab::new();
    let key = lab.cosign_key_pair("signer");
    let image = lab.push_image("annotations/sigward", "v1");
    lab.sigward_sign(&image.by_tag(), &key, &["-a", "env=prod"])
        .assert_success();

    lab.verify(&image.by_tag(), &[&key], &["-a", "env=prod"])
        .assert_verified();
    lab.verify(&image.by_tag(), &[&key], &["-a", "env=dev"])
        .assert_rejected("annotation-mismatch");
    lab.cosign_verify(&image.by_tag(), &key, &["-a", "env=prod"])
        .assert_success();
    lab.cosign_verify(&image.by_tag(), &key, &["-a", "env=dev"])
        .assert_failure();
}

#[test]
fn any_signature_that_meets_the_constraints_is_enough() {
    // Two signatures by the same key, only the second carrying env=prod.
    let lab = Lab::new();
    let key = lab.cosign_key_pair("signer");
    let image = lab.push_image("annotations/any-of", "v1");
    lab.cosign_sign(&image, &key, &["env=dev"]);
    lab.cosign_sign(&image, &key, &["env=prod"]);

    lab.verify(&image.by_tag(), &[&key], &["-a", "env=prod"])
        .assert_verified();
    lab.verify(&image.by_tag(), &[&key], &["-a", "env=staging"])
        .assert_rejected("annotation-mismatch");
}
