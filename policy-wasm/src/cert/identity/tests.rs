//! GitHub workflow requirements over real GitHub Actions Fulcio leaves: the 2022 and 2026
//! legacy-keyless signatures and the conformance suite's 2024 beacon certificate, each of which
//! carries the deprecated extensions `.1.2` to `.1.6` (checked with `openssl x509 -text`).

use super::*;
use crate::cert::tests::{bundle, legacy};

const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// A real leaf's signer, its SAN, and the values of its `.1.2` to `.1.6` extensions.
struct Case {
    name: &'static str,
    signer: Signer,
    subject: String,
    workflow: GithubWorkflow,
}

fn cases() -> Vec<Case> {
    let from_legacy = |name: &'static str, workflow: [&str; 5]| {
        let case = legacy(name);
        Case {
            name,
            signer: case.leaf.signer().unwrap(),
            subject: case.identity,
            workflow: workflow_of(workflow),
        }
    };
    let (conformance, _) = bundle("happy-path-v0.3");
    vec![
        from_legacy(
            "distroless-static-gha-2022",
            [
                "schedule",
                "7e7572e578de7c51a2f1a1791f025cf315503aa2",
                "Create Release",
                "distroless/static",
                "refs/heads/main",
            ],
        ),
        from_legacy(
            "server-image-gha-2026",
            [
                "push",
                "7624bd5f279fb5d4700ea72c1b2373ee33960700",
                "Release",
                "salrashid123/go-bazel-github-workflow",
                "refs/tags/v0.0.30",
            ],
        ),
        Case {
            name: "happy-path-v0.3",
            signer: conformance[0].signer().unwrap(),
            subject: "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main".to_owned(),
            workflow: workflow_of([
                "workflow_dispatch",
                "c7b3dfb335f051e1c86bda4c716fac97df62ad81",
                "Extremely dangerous OIDC beacon",
                "sigstore-conformance/extremely-dangerous-public-oidc-beacon",
                "refs/heads/main",
            ]),
        },
    ]
}

fn workflow_of([trigger, sha, name, repository, git_ref]: [&str; 5]) -> GithubWorkflow {
    GithubWorkflow {
        trigger: Some(trigger.to_owned()),
        sha: Some(sha.to_owned()),
        name: Some(name.to_owned()),
        repository: Some(repository.to_owned()),
        git_ref: Some(git_ref.to_owned()),
    }
}

/// The five values of a fully set requirement, in field (and OID) order.
fn values(workflow: &GithubWorkflow) -> [&str; 5] {
    [
        &workflow.trigger,
        &workflow.sha,
        &workflow.name,
        &workflow.repository,
        &workflow.git_ref,
    ]
    .map(|value| value.as_deref().unwrap())
}

/// The case's own identity with `workflow` required.
fn identity(case: &Case, workflow: GithubWorkflow) -> Identity {
    Identity {
        github_workflow: workflow,
        ..Identity::new(
            Matcher::Exact(GITHUB_ISSUER.to_owned()),
            Matcher::Exact(case.subject.clone()),
        )
    }
}

/// One workflow requirement per field: (OID, the requirement with only that field set to
/// `value`).
fn one_field(value: &str) -> [(&'static str, GithubWorkflow); 5] {
    let some = || Some(value.to_owned());
    [
        (
            "1.3.6.1.4.1.57264.1.2",
            GithubWorkflow {
                trigger: some(),
                ..GithubWorkflow::default()
            },
        ),
        (
            "1.3.6.1.4.1.57264.1.3",
            GithubWorkflow {
                sha: some(),
                ..GithubWorkflow::default()
            },
        ),
        (
            "1.3.6.1.4.1.57264.1.4",
            GithubWorkflow {
                name: some(),
                ..GithubWorkflow::default()
            },
        ),
        (
            "1.3.6.1.4.1.57264.1.5",
            GithubWorkflow {
                repository: some(),
                ..GithubWorkflow::default()
            },
        ),
        (
            "1.3.6.1.4.1.57264.1.6",
            GithubWorkflow {
                git_ref: some(),
                ..GithubWorkflow::default()
            },
        ),
    ]
}

#[test]
fn each_github_workflow_extension_matches_its_exact_value() {
    for case in cases() {
        // All five at once, and each alone.
        assert_eq!(
            check_identity(&case.signer, &[identity(&case, case.workflow.clone())]),
            Ok(()),
            "{}",
            case.name
        );
        for (index, value) in values(&case.workflow).into_iter().enumerate() {
            let (oid, wanted) = one_field(value).into_iter().nth(index).unwrap();
            assert_eq!(
                check_identity(&case.signer, &[identity(&case, wanted)]),
                Ok(()),
                "{} {oid}",
                case.name
            );
        }
    }
}

#[test]
fn each_github_workflow_extension_rejects_any_other_value() {
    for case in cases() {
        for (index, value) in values(&case.workflow).into_iter().enumerate() {
            // Exact means exact: no prefix, no case folding, no trailing text, nothing empty-ish.
            for other in [
                value[..value.len() - 1].to_owned(),
                format!("{value}x"),
                value.to_uppercase(),
                format!(" {value}"),
            ] {
                if other == value {
                    continue;
                }
                let (oid, wanted) = one_field(&other).into_iter().nth(index).unwrap();
                let err = check_identity(&case.signer, &[identity(&case, wanted)]).unwrap_err();
                let CertError::GithubWorkflowMismatch {
                    oid: found_oid,
                    wanted,
                    found,
                    ..
                } = &err
                else {
                    panic!("{} {oid}: {err:?}", case.name);
                };
                assert_eq!(*found_oid, oid, "{}", case.name);
                assert_eq!(wanted, &other);
                assert_eq!(found.as_deref(), Some(value));
                // The message names the extension, its OID, and both values.
                let message = err.to_string();
                assert!(
                    message.contains(oid)
                        && message.contains("GitHub Workflow")
                        && message.contains(&format!("{value:?}"))
                        && message.contains(&format!("{other:?}")),
                    "{message}"
                );
            }
        }
        // One wrong field among right ones is enough to reject.
        let mut workflow = case.workflow.clone();
        workflow.git_ref = Some("refs/heads/evil".to_owned());
        assert!(matches!(
            check_identity(&case.signer, &[identity(&case, workflow)]),
            Err(CertError::GithubWorkflowMismatch {
                extension: "GitHub Workflow Ref",
                ..
            })
        ));
    }
}

#[test]
fn github_workflow_requirement_rejects_a_certificate_without_the_extensions() {
    // A 2021 email identity: no GitHub extensions at all (and no issuer extension).
    let case = legacy("kubewarden-nodeport-email-2021");
    let signer = case.leaf.signer().unwrap();
    for (oid, wanted) in one_field("push") {
        let identity = Identity {
            github_workflow: wanted,
            ..Identity::new(
                Matcher::Exact(String::new()),
                Matcher::Exact(case.identity.clone()),
            )
        };
        let err = check_identity(&signer, &[identity]).unwrap_err();
        assert!(
            matches!(&err, CertError::GithubWorkflowMismatch { oid: o, found: None, .. } if *o == oid),
            "{err:?}"
        );
        assert!(err.to_string().contains("is absent"), "{err}");
    }
}

#[test]
fn identity_mismatch_is_reported_before_workflow_and_any_identity_suffices() {
    let cases = cases();
    let case = &cases[0];
    let mut wrong = case.workflow.clone();
    wrong.trigger = Some("push".to_owned());
    // Another subject: the identity itself does not match, whatever the workflow says.
    let elsewhere = Identity {
        github_workflow: case.workflow.clone(),
        ..Identity::new(
            Matcher::Exact(GITHUB_ISSUER.to_owned()),
            Matcher::Exact(
                "https://github.com/evil/repo/.github/workflows/x.yml@refs/heads/main".to_owned(),
            ),
        )
    };
    assert!(matches!(
        check_identity(&case.signer, std::slice::from_ref(&elsewhere)),
        Err(CertError::IdentityMismatch { .. })
    ));
    // With a named identity whose workflow is wrong, that is the error, not "no identity".
    assert!(matches!(
        check_identity(&case.signer, &[elsewhere, identity(case, wrong.clone())]),
        Err(CertError::GithubWorkflowMismatch {
            extension: "GitHub Workflow Trigger",
            ..
        })
    ));
    // Any one wanted identity suffices, as before.
    assert_eq!(
        check_identity(
            &case.signer,
            &[identity(case, wrong), identity(case, case.workflow.clone())]
        ),
        Ok(())
    );
    // Without a requirement nothing changes.
    assert_eq!(
        check_identity(&case.signer, &[identity(case, GithubWorkflow::default())]),
        Ok(())
    );
}

#[test]
fn describes_identity_with_its_workflow_requirements() {
    let cases = cases();
    let workflow = GithubWorkflow {
        trigger: Some("push".to_owned()),
        git_ref: Some("refs/heads/main".to_owned()),
        ..GithubWorkflow::default()
    };
    let text = describe_identity(&identity(&cases[0], workflow));
    assert!(
        text.ends_with(
            r#"issuer "https://token.actions.githubusercontent.com" GitHub Workflow Trigger "push" GitHub Workflow Ref "refs/heads/main""#
        ),
        "{text}"
    );
}
