use super::*;

mod fields;
mod required;
mod timestamps;

use crate::testdata::conformance_dir as conformance;

fn bundle(case: &str) -> Vec<u8> {
    std::fs::read(
        conformance()
            .join("bundle-verify")
            .join(case)
            .join("bundle.sigstore.json"),
    )
    .unwrap()
}

/// Every conformance bundle parses, except `_fail` cases whose shape is what is wrong; which
/// ones those are is pinned, so a shape rule that starts refusing a good bundle fails here.
#[test]
fn parses_every_well_formed_conformance_bundle() {
    const MALFORMED: [&str; 6] = [
        "bundle-malformed-json_fail",
        "bundle-unknown-version_fail",
        "bundle-empty-certificate-chain_fail",
        // Without a REQUIRED inclusion proof, or its checkpoint (`required.rs`).
        "invalid-inclusion-proof_fail",
        "intoto-missing-inclusion-proof_fail",
        "rekor2-no-inclusion-proof_fail",
    ];
    let mut seen = 0;
    let mut refused = Vec::new();
    for entry in std::fs::read_dir(conformance().join("bundle-verify")).unwrap() {
        let case = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !conformance().join("bundle-verify").join(&case).is_dir() {
            continue;
        }
        seen += 1;
        match Bundle::parse(&bundle(&case)) {
            Ok(parsed) => assert_eq!(parsed.tlog_entries.len(), 1, "{case}"),
            Err(_) => refused.push(case),
        }
    }
    refused.sort();
    let mut expected = MALFORMED.to_vec();
    expected.sort_unstable();
    assert_eq!(refused, expected);
    assert!(seen > 35);
}

#[test]
fn rejects_malformed_unknown_and_empty() {
    assert!(matches!(
        Bundle::parse(&bundle("bundle-malformed-json_fail")),
        Err(ParseError::Malformed(_))
    ));
    assert!(matches!(
        Bundle::parse(&bundle("bundle-unknown-version_fail")),
        Err(ParseError::UnknownVersion(_))
    ));
    assert_eq!(
        Bundle::parse(&bundle("bundle-empty-certificate-chain_fail")),
        Err(ParseError::Shape("has an empty certificate chain"))
    );
}

#[test]
fn rejects_unknown_fields_and_negative_indexes() {
    let mut json: serde_json::Value = serde_json::from_slice(&bundle("happy-path-v0.3")).unwrap();
    json["verificationMaterial"]["surprise"] = serde_json::Value::Bool(true);
    assert!(matches!(
        Bundle::parse(json.to_string().as_bytes()),
        Err(ParseError::Malformed(_))
    ));
    let mut json: serde_json::Value = serde_json::from_slice(&bundle("happy-path-v0.3")).unwrap();
    json["verificationMaterial"]["tlogEntries"][0]["logIndex"] = "-1".into();
    assert_eq!(
        Bundle::parse(json.to_string().as_bytes()),
        Err(ParseError::BadField("logIndex"))
    );
}

#[test]
fn reads_versions_content_and_material() {
    let v1 = Bundle::parse(&bundle("happy-path-v0.1")).unwrap();
    assert_eq!(v1.version, Version::V01);
    assert!(matches!(v1.signer, SignerMaterial::Certificate { .. }));
    assert!(matches!(v1.content, Content::Message { .. }));
    let dsse = Bundle::parse(&bundle("happy-path-intoto-in-dsse-v3")).unwrap();
    assert_eq!(dsse.version, Version::V03);
    assert!(matches!(&dsse.content, Content::Dsse(e) if e.payload_type == crate::dsse::IN_TOTO));
    let key = Bundle::parse(&bundle("managed-key-happy-path")).unwrap();
    assert!(matches!(key.signer, SignerMaterial::PublicKey { .. }));
    assert_eq!(key.timestamps.len(), 1);
}

/// A keyless bundle's identity check covers the GitHub workflow requirements too: the
/// conformance beacon (`happy-path-v0.3`) was triggered by `workflow_dispatch` (Fulcio
/// extension 1.3.6.1.4.1.57264.1.2), so requiring that passes and requiring `push` fails the
/// `identity` check with `identity-mismatch`, naming the extension.
#[test]
fn keyless_identity_check_covers_github_workflow_extensions() {
    use crate::authority::{GithubWorkflow, Identity};
    use crate::error::Reason;
    use crate::image::TlogPolicy;
    use crate::trust_root::TrustedRoot;
    use crate::verdict::{CheckOutcome, Trail};

    let trust = TrustedRoot::parse(
        &std::fs::read(conformance().join("trust/production/trusted_root.json")).unwrap(),
    )
    .unwrap();
    let artifact = std::fs::read(conformance().join("bundle-verify/a.txt")).unwrap();
    let parsed = Bundle::parse(&bundle("happy-path-v0.3")).unwrap();
    let run = |trigger: &str| {
        let identities = [Identity {
            github_workflow: GithubWorkflow {
                trigger: Some(trigger.to_owned()),
                ..GithubWorkflow::default()
            },
            ..crate::cert::tests::conformance_identity()
        }];
        let mut trail = Trail::default();
        let result = verify(
            &parsed,
            &Artifact::Bytes(&artifact),
            &BundleAuthority::Keyless(&identities),
            &trust,
            TlogPolicy::Require,
            &mut trail,
        );
        (result, trail.checks)
    };

    let (result, checks) = run("workflow_dispatch");
    assert!(result.is_ok(), "{result:?}");
    assert!(
        checks
            .iter()
            .any(|c| c.name == "identity" && c.outcome == CheckOutcome::Pass)
    );

    let (result, checks) = run("push");
    let err = result.unwrap_err();
    assert_eq!(err.reason(), Reason::IdentityMismatch);
    let failed = checks.last().unwrap();
    assert_eq!(
        (failed.name.as_ref(), failed.outcome),
        ("identity", CheckOutcome::Fail)
    );
    assert!(
        failed.detail.contains(
            r#"GitHub Workflow Trigger (1.3.6.1.4.1.57264.1.2) is "workflow_dispatch", not "push""#
        ),
        "{}",
        failed.detail
    );
}
