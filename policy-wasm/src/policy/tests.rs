use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::*;
use crate::authority::{Authority, Identity, Matcher};
use crate::image::{CheckKind, TlogPolicy};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/policy")
}

fn read(case: &str) -> String {
    let dir = data().join(case);
    let path = if dir.join("policy.json").exists() {
        dir.join("policy.json")
    } else {
        dir.join("policy.yaml")
    };
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load(case: &str) -> ClusterImagePolicy {
    ClusterImagePolicy::parse(&read(case)).unwrap_or_else(|e| panic!("{case}: {e}"))
}

fn exact(value: &str) -> Matcher {
    Matcher::Exact(value.to_owned())
}

fn regexp(value: &str) -> Matcher {
    Matcher::Regexp(value.to_owned())
}

fn signature_check() -> Vec<RequiredCheck> {
    vec![RequiredCheck {
        name: "signature".into(),
        kind: CheckKind::Signature,
        policy: None,
    }]
}

#[test]
fn loads_keyless_github_actions() {
    let policy = load("keyless-github-actions");
    assert_eq!(policy.api_version, ApiVersion::V1Beta1);
    assert_eq!(policy.name, "github-actions-keyless");
    assert_eq!(policy.mode(), Mode::Enforce);
    assert!(policy.matches("ghcr.io/sigward-test/app:v1"));
    assert!(!policy.matches("ghcr.io/other/app:v1"));
    assert_eq!(
        policy.authorities("production"),
        vec![PolicyAuthority::Verify {
            named: NamedAuthority {
                name: "release-workflow".into(),
                authority: Authority::Keyless(Keyless {
                    identities: vec![Identity {
                        issuer: exact("https://token.actions.githubusercontent.com"),
                        subject: regexp(
                            r"^https://github\.com/sigward-test/app/\.github/workflows/release\.yml@refs/tags/v.*$"
                        ),
                        github_workflow: Default::default(),
                    }],
                    trusted_root: "production".into(),
                }),
            },
            checks: signature_check(),
            tlog: TlogPolicy::Require,
            source: None,
            log_trusted_root: None,
        }]
    );
}

#[test]
fn loads_inline_key_v1alpha1_without_tlog() {
    let policy = load("key-inline-v1alpha1");
    assert_eq!(policy.api_version, ApiVersion::V1Alpha1);
    let authorities = policy.authorities("production");
    let [
        PolicyAuthority::Verify {
            named,
            checks,
            tlog,
            ..
        },
    ] = authorities.as_slice()
    else {
        panic!("one verify authority expected");
    };
    // docs/formats/cluster-image-policy.md, "API basics": the default name is authority-<index>.
    assert_eq!(named.name, "authority-0");
    assert!(
        matches!(&named.authority, Authority::Key(pem) if pem.starts_with("-----BEGIN PUBLIC KEY-----"))
    );
    assert_eq!(checks, &signature_check());
    // docs/formats/cluster-image-policy.md, "Evaluation": a key authority without ctlog does not
    // consult the log.
    assert_eq!(*tlog, TlogPolicy::InsecureIgnore);
}

#[test]
fn key_with_ctlog_requires_the_log() {
    let policy = load("key-with-ctlog");
    let authorities = policy.authorities("production");
    let [PolicyAuthority::Verify { tlog, .. }] = authorities.as_slice() else {
        panic!("one verify authority expected");
    };
    assert_eq!(*tlog, TlogPolicy::Require);
}

#[test]
fn leaves_kms_and_secret_keys_to_the_host() {
    let policy = load("kms-and-secret");
    let authorities = policy.authorities("production");
    assert_eq!(authorities.len(), 2);
    assert!(matches!(
        &authorities[0],
        PolicyAuthority::HostKey { name, key: KeySource::Kms(uri), tlog: TlogPolicy::InsecureIgnore, .. }
            if name == "authority-0" && uri.starts_with("awskms:///arn:aws:kms:")
    ));
    assert!(matches!(
        &authorities[1],
        PolicyAuthority::HostKey { name, key: KeySource::SecretRef { name: secret, namespace: Some(ns) }, .. }
            if name == "authority-1" && secret == "cosign-pub" && ns == "cosign-system"
    ));
}

#[test]
fn loads_static_pass_and_fail() {
    assert_eq!(
        load("static-pass").authorities("production"),
        vec![PolicyAuthority::Static {
            name: "authority-0".into(),
            pass: true,
            message: None,
        }]
    );
    let deny = load("static-fail");
    assert_eq!(deny.api_version, ApiVersion::V1Alpha1);
    assert_eq!(
        deny.authorities("production"),
        vec![PolicyAuthority::Static {
            name: "no-docker-hub".into(),
            pass: false,
            message: Some("pull from the internal mirror instead".into()),
        }]
    );
    assert!(deny.matches("nginx"));
    assert!(deny.matches("bitnami/redis:7"));
    assert!(!deny.matches("ghcr.io/org/app"));
}

#[test]
fn attestations_become_one_check_each() {
    let policy = load("attestations");
    let authorities = policy.authorities("production");
    let [
        PolicyAuthority::Verify {
            named,
            checks,
            tlog,
            ..
        },
    ] = authorities.as_slice()
    else {
        panic!("one verify authority expected");
    };
    let Authority::Keyless(keyless) = &named.authority else {
        panic!("keyless expected");
    };
    // trustRootRef overrides the default trust root.
    assert_eq!(keyless.trusted_root, "staging");
    assert_eq!(*tlog, TlogPolicy::Require);
    assert_eq!(checks.len(), 2);
    assert_eq!(checks[0].name, "sbom");
    assert_eq!(
        checks[0].kind,
        CheckKind::Attestation("https://spdx.dev/Document".into())
    );
    assert_eq!(checks[0].policy, None);
    assert_eq!(checks[1].name, "provenance");
    assert_eq!(
        checks[1].kind,
        CheckKind::Attestation("https://slsa.dev/provenance/v1".into())
    );
    let policy_block = checks[1].policy.as_ref().expect("a CUE policy");
    assert_eq!(policy_block.language, PolicyLanguage::Cue);
    assert!(
        matches!(&policy_block.source, PolicySource::Inline(text) if text.contains("predicateType"))
    );
}

#[test]
fn loads_warn_mode() {
    let policy = load("warn-mode");
    assert_eq!(policy.mode(), Mode::Warn);
    assert_eq!(policy.spec.mode, Mode::Warn);
}

#[test]
fn loads_json_and_ignores_metadata_and_status_fields() {
    let policy = load("json");
    assert_eq!(policy.name, "json-policy");
    assert!(policy.matches("quay.io/org/app:v1"));
    assert!(policy.matches("quay.io/org/app"));
    assert!(!policy.matches("quay.io/org/team/app:v1"));
}

#[test]
fn parse_all_reads_every_document() {
    let text = fs::read_to_string(data().join("multi-document/policies.yaml")).unwrap();
    let policies = ClusterImagePolicy::parse_all(&text).unwrap();
    let names: Vec<_> = policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["first", "second", "third"]);
    assert_eq!(policies[1].api_version, ApiVersion::V1Alpha1);
    assert_eq!(policies[2].mode(), Mode::Warn);
    assert_eq!(
        ClusterImagePolicy::parse(&text),
        Err(PolicyError::NotSingle)
    );
}

#[test]
fn parse_all_names_the_invalid_document() {
    let dir = data().join("multi-document-invalid_fail");
    let text = fs::read_to_string(dir.join("policies.yaml")).unwrap();
    let expect = fs::read_to_string(dir.join("expect")).unwrap();
    let error = ClusterImagePolicy::parse_all(&text).unwrap_err();
    assert_eq!(error.to_string(), expect.trim_end());
    assert!(matches!(error, PolicyError::Document { index: 1, .. }));
}

#[test]
fn rejects_empty_and_malformed_text() {
    assert_eq!(ClusterImagePolicy::parse(""), Err(PolicyError::NoDocument));
    assert_eq!(
        ClusterImagePolicy::parse("# only a comment\n"),
        Err(PolicyError::NoDocument)
    );
    assert!(matches!(
        ClusterImagePolicy::parse("spec: [unclosed"),
        Err(PolicyError::Syntax(_))
    ));
    assert!(matches!(
        ClusterImagePolicy::parse("{\"apiVersion\": "),
        Err(PolicyError::Syntax(_))
    ));
    assert_eq!(
        ClusterImagePolicy::parse("- a\n- b\n"),
        Err(PolicyError::Invalid {
            path: FieldPath::root(),
            problem: Problem::Decode("invalid type: sequence, expected an object".into()),
        })
    );
}

#[test]
fn accepts_any_object_meta_and_status_and_reads_null_as_absent() {
    let policy = ClusterImagePolicy::parse(
        r#"
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: from-kubectl
  uid: 0b7c6a52-1f3e-4c7e-9d2a-3c1f1c0e7a11
  resourceVersion: "4711"
  generation: 3
  creationTimestamp: "2025-01-01T00:00:00Z"
  labels: {team: platform}
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: "{}"
  managedFields:
  - manager: kubectl
    operation: Apply
    fieldsV1: {f:spec: {}}
  anythingElse: [1, {two: 3}]
spec:
  images:
  - glob: "ghcr.io/**"
  authorities:
  - name: null
    keyless:
      url: null
      identities:
      - issuer: https://accounts.google.com
        subject: a@example.com
        subjectRegExp: null
      insecureIgnoreSCT: null
    source: null
    ctlog: null
    attestations: null
  mode: null
  policy: null
  match: null
status:
  conditions: [{type: Ready, status: "True"}]
  unknown: 7
"#,
    )
    .unwrap();
    assert_eq!(policy.name, "from-kubectl");
    assert_eq!(
        policy.annotations.keys().collect::<Vec<_>>(),
        ["kubectl.kubernetes.io/last-applied-configuration"]
    );
    assert_eq!(policy.mode(), Mode::Enforce);
    assert_eq!(policy.spec.policy, None);
    assert!(policy.spec.match_resources.is_empty());
    let [authority] = policy.spec.authorities.as_slice() else {
        panic!("one authority expected");
    };
    assert_eq!(authority.name, "authority-0");
    assert_eq!((&authority.source, &authority.ctlog), (&None, &None));
    assert!(authority.attestations.is_empty());
    let AuthorityKind::Keyless(keyless) = &authority.kind else {
        panic!("keyless expected");
    };
    assert_eq!(keyless.url, None);
    assert!(!keyless.insecure_ignore_sct);
    assert_eq!(
        keyless.identities,
        [Identity::new(
            exact("https://accounts.google.com"),
            exact("a@example.com")
        )]
    );
}

#[test]
fn decoding_errors_name_their_path() {
    let error = ClusterImagePolicy::parse(&read("identity-unknown-field_fail")).unwrap_err();
    assert_eq!(
        error,
        PolicyError::Invalid {
            path: FieldPath("spec.authorities[0].keyless.identities[0].issuerRegexp".into()),
            problem: Problem::UnknownField,
        }
    );
    let error = ClusterImagePolicy::parse(&read("identity-not-string_fail")).unwrap_err();
    assert_eq!(
        error,
        PolicyError::Invalid {
            path: FieldPath("spec.authorities[0].keyless.identities[0].subject".into()),
            problem: Problem::Decode("invalid type: integer `42`, expected a string".into()),
        }
    );
    assert_eq!(
        ClusterImagePolicy::parse("just a string"),
        Err(PolicyError::Invalid {
            path: FieldPath::root(),
            problem: Problem::Decode(
                "invalid type: string \"just a string\", expected an object".into()
            ),
        })
    );
    // In JSON too; a list where a list of objects belongs must hold objects.
    let error = ClusterImagePolicy::parse(
        r#"{"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
            "metadata": {"name": "x"},
            "spec": {"images": [{"glob": "ghcr.io/**"}], "authorities": ["static"]}}"#,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "spec.authorities[0]: invalid type: string \"static\", expected an object"
    );
}

/// Every `<case>_fail/` is refused with exactly the message in its `expect` file.
#[test]
fn rejects_invalid_policies_with_the_field_path() {
    let mut cases = 0;
    for entry in fs::read_dir(data()).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with("_fail") || !dir.join("policy.yaml").exists() {
            continue;
        }
        cases += 1;
        let expect = fs::read_to_string(dir.join("expect")).unwrap();
        let expect = expect.trim_end();
        let error = ClusterImagePolicy::parse(&read(&name))
            .map(|_| ())
            .expect_err(&name);
        assert!(
            matches!(error, PolicyError::Invalid { .. }),
            "{name}: {error:?}"
        );
        let message = error.to_string();
        match expect.strip_suffix("PLACEHOLDER") {
            Some(prefix) => assert!(message.starts_with(prefix), "{name}: {message}"),
            None => assert_eq!(message, expect, "{name}"),
        }
    }
    assert!(cases >= 25, "only {cases} cases found");
}

#[test]
fn reports_the_issue_example_path() {
    let error = ClusterImagePolicy::parse(&read("identity-no-issuer_fail")).unwrap_err();
    assert_eq!(
        error,
        PolicyError::Invalid {
            path: FieldPath("spec.authorities[1].keyless.identities[0]".into()),
            problem: Problem::NoIssuer,
        }
    );
}

#[test]
fn glob_matrix() {
    let text = fs::read_to_string(data().join("globs.tsv")).unwrap();
    let mut rows = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let fields: Vec<_> = line.split('\t').collect();
        let [glob, image, expected] = fields.as_slice() else {
            panic!("bad row {line:?}");
        };
        let pattern = ImagePattern::new(glob).unwrap();
        assert_eq!(
            pattern.matches(image),
            expected.parse::<bool>().unwrap(),
            "glob {glob:?} against {image:?}"
        );
        rows += 1;
    }
    assert!(rows >= 40);
}

#[test]
fn qualifies_references_like_go_containerregistry() {
    let digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    for (image, qualified) in [
        ("nginx", "index.docker.io/library/nginx:latest"),
        ("nginx:1.25", "index.docker.io/library/nginx:1.25"),
        (
            "docker.io/bitnami/redis",
            "index.docker.io/bitnami/redis:latest",
        ),
        ("localhost:5000/app", "localhost:5000/app:latest"),
        ("localhost:5000/app:v1", "localhost:5000/app:v1"),
    ] {
        assert_eq!(qualified_name(image).as_deref(), Some(qualified), "{image}");
    }
    assert_eq!(
        qualified_name(&format!("ghcr.io/o/a:v1@{digest}")),
        Some(format!("ghcr.io/o/a@{digest}"))
    );
    assert_eq!(qualified_name("Team/app"), None);
    assert_eq!(qualified_name("oci:/tmp/layout"), None);
}

#[test]
fn rejects_globs_outside_the_charset() {
    for glob in [
        "ghcr.io/a b",
        "ghcr.io/[ab]",
        "ghcr.io/a?",
        "ghcr.io/a+b",
        "é",
    ] {
        assert_eq!(
            ImagePattern::new(glob),
            Err(GlobError::InvalidCharacter(glob.into())),
            "{glob}"
        );
    }
    assert_eq!(ImagePattern::new(""), Err(GlobError::Empty));
}

#[test]
fn container_identity_needs_the_opt_in() {
    let annotations: BTreeMap<String, String> = [
        ("subject.cosign.sigstore.dev/app", "release@example.com"),
        (
            "issuer.cosign.sigstore.dev/app",
            "https://accounts.google.com",
        ),
        ("subject.cosign.sigstore.dev/sidecar", "ops@example.com"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let opted_out = load("keyless-github-actions");
    assert!(!opted_out.uses_container_identities());
    assert_eq!(opted_out.container_identity(&annotations, "app"), None);

    let opted_in = load("warn-mode");
    assert!(opted_in.uses_container_identities());
    assert_eq!(
        opted_in.container_identity(&annotations, "app"),
        Some(Identity {
            issuer: exact("https://accounts.google.com"),
            subject: exact("release@example.com"),
            github_workflow: Default::default(),
        })
    );
    // Only a subject: the issuer matches anything (as in the appvia webhook).
    assert_eq!(
        opted_in.container_identity(&annotations, "sidecar"),
        Some(Identity {
            issuer: regexp(".*"),
            subject: exact("ops@example.com"),
            github_workflow: Default::default(),
        })
    );
    assert_eq!(opted_in.container_identity(&annotations, "other"), None);
}

/// Every example in the repository's `policies/` directory loads.
#[test]
fn example_policies_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    let mut count = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        let policies = ClusterImagePolicy::parse_all(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!policies.is_empty(), "{}", path.display());
        // Every attestation condition is in the CUE subset sigward evaluates.
        for attestation in policies
            .iter()
            .flat_map(|p| &p.spec.authorities)
            .flat_map(|a| &a.attestations)
        {
            if let Some(EmbeddedPolicy {
                source: PolicySource::Inline(text),
                ..
            }) = &attestation.policy
            {
                cue::Condition::parse(text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
        }
        count += 1;
    }
    assert!(count >= 4, "only {count} example policies");
}
