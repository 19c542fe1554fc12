use std::path::Path;

use super::*;
use crate::authority::{GithubWorkflow, Matcher};
use crate::error::Reason;
use crate::fetch::{FetchError, Layer, Manifest, Material};
use crate::verdict::CheckOutcome;

mod lying;

const IMAGE: &str = "registry.test/team/app:v1";

use crate::testdata::{
    image_manifest, image_vectors as data, legacy_keyless, legacy_keyless_case, sig_layer as layer,
};

/// The digest the image vectors sign.
fn digest() -> String {
    image_manifest().digest().to_string()
}

fn read(path: &Path) -> String {
    crate::testdata::read_text(path)
}

/// An in-memory source: one image (the vectors' manifest) with the given `.sig` layers.
#[derive(Clone)]
struct Memory {
    layers: Vec<Layer>,
    calls: Vec<String>,
}

impl Fetch for Memory {
    fn resolve(&mut self, image: &str) -> Result<Manifest, FetchError> {
        self.calls.push(format!("resolve {image}"));
        Ok(image_manifest())
    }

    fn attached(&mut self, _: &str, digest: &str, kinds: Kinds) -> Result<Material, FetchError> {
        self.calls.push(format!("attached {digest}"));
        assert!(kinds.signatures);
        Ok(Material {
            signatures: self.layers.clone(),
            ..Material::default()
        })
    }

    fn trusted_root(&mut self, name: &str) -> Result<Vec<u8>, FetchError> {
        let dir = std::env::var("SIGWARD_CONFORMANCE_DIR").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/conformance").to_owned()
        });
        std::fs::read(format!("{dir}/trust/{name}/trusted_root.json"))
            .map_err(|e| FetchError::NotFound(e.to_string()))
    }
}

fn request(keys: &[&str], annotations: Vec<(String, String)>) -> VerifyRequest {
    VerifyRequest {
        image: IMAGE.to_owned(),
        authorities: keys
            .iter()
            .map(|file| NamedAuthority {
                name: (*file).to_owned(),
                authority: Authority::Key(read(&data().join(file))),
            })
            .collect(),
        annotations,
        check: CheckKind::Signature,
        tlog: TlogPolicy::InsecureIgnore,
        signatures_from: None,
        trusted_root: "production".to_owned(),
        at: 1_700_000_000,
    }
}

fn memory(layers: Vec<Layer>) -> Memory {
    Memory {
        layers,
        calls: Vec::new(),
    }
}

#[test]
fn every_case_gives_its_expected_verdict() {
    let mut seen = 0;
    for entry in std::fs::read_dir(data()).unwrap() {
        let case = entry.unwrap().path();
        if !case.is_dir() {
            continue;
        }
        seen += 1;
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let key = if case.join("use-other-key").exists() {
            "other.pub"
        } else {
            "key.pub"
        };
        let annotations = std::fs::read_to_string(case.join("annotations"))
            .unwrap_or_default()
            .lines()
            .map(|line| {
                let (k, v) = line.split_once('=').unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect();
        let report = verify_image(
            &request(&[key], annotations),
            &mut memory(vec![layer(&case)]),
        )
        .unwrap();
        let expect = read(&case.join("expect"));
        let got = report.reason().map_or("verified", Reason::code);
        assert_eq!(got, expect.trim(), "case {name}: {:#?}", report.signatures);
        assert_eq!(name.ends_with("_fail"), !report.verified(), "case {name}");
    }
    assert!(seen >= 10, "only {seen} cases found");
}

#[test]
fn verified_report_names_the_authority_and_payload() {
    let case = data().join("cosign-tagless");
    let report = verify_image(
        &request(&["other.pub", "key.pub"], vec![]),
        &mut memory(vec![layer(&case)]),
    )
    .unwrap();
    assert!(report.verified());
    let sig = &report.signatures[0];
    assert_eq!(sig.authority.as_deref(), Some("key.pub"));
    assert_eq!(
        sig.payload.as_deref(),
        Some(read(&case.join("payload")).as_str())
    );
    assert_eq!(report.digest, digest());
    assert_eq!(report.repository.as_deref(), Some("registry.test/team/app"));
}

#[test]
fn any_layer_suffices() {
    let bad = layer(&data().join("other-image_fail"));
    let good = layer(&data().join("cosign-tagless"));
    let report =
        verify_image(&request(&["key.pub"], vec![]), &mut memory(vec![bad, good])).unwrap();
    assert!(report.verified());
    assert_eq!(
        report.signatures[0].reason,
        Some(Reason::ManifestDigestMismatch)
    );
    assert_eq!(report.signatures[1].reason, None);
}

#[test]
fn tampered_blob_fails_its_descriptor_digest() {
    let mut tampered = layer(&data().join("cosign-tagless"));
    tampered.payload[5] ^= 1;
    let report = verify_image(
        &request(&["key.pub"], vec![]),
        &mut memory(vec![tampered.clone()]),
    )
    .unwrap();
    assert_eq!(report.reason(), Some(Reason::PayloadDigestMismatch));
    // With the descriptor fixed up, the signature no longer matches.
    tampered.digest = Digest::of(&tampered.payload).to_string();
    let report = verify_image(&request(&["key.pub"], vec![]), &mut memory(vec![tampered])).unwrap();
    assert_eq!(report.reason(), Some(Reason::SignatureMismatch));
}

#[test]
fn missing_annotation_and_no_layers() {
    let mut unsigned = layer(&data().join("cosign-tagless"));
    unsigned.annotations.clear();
    let report = verify_image(&request(&["key.pub"], vec![]), &mut memory(vec![unsigned])).unwrap();
    assert_eq!(report.reason(), Some(Reason::MissingSignature));
    let report = verify_image(&request(&["key.pub"], vec![]), &mut memory(vec![])).unwrap();
    assert_eq!(report.reason(), Some(Reason::NoSignatures));
}

#[test]
fn layout_source_skips_reference_check() {
    let mut source = memory(vec![layer(&data().join("other-repository_fail"))]);
    let mut request = request(&["key.pub"], vec![]);
    request.image = "oci:/images/app".to_owned();
    let report = verify_image(&request, &mut source).unwrap();
    assert!(report.verified());
    assert_eq!(report.repository, None);
    let check = report.signatures[0]
        .checks
        .iter()
        .find(|c| c.name == "docker-reference")
        .unwrap();
    assert_eq!(check.outcome, CheckOutcome::Skip);
}

#[test]
fn tlog_required_fails_without_entry() {
    let mut req = request(&["key.pub"], vec![]);
    req.tlog = TlogPolicy::Require;
    let report = verify_image(
        &req,
        &mut memory(vec![layer(&data().join("cosign-tagless"))]),
    )
    .unwrap();
    assert_eq!(report.reason(), Some(Reason::TlogMissing));
}

#[test]
fn request_errors_are_errors() {
    let mut req = request(&[], vec![]);
    assert!(matches!(
        verify_image(&req, &mut memory(vec![])),
        Err(Error::InvalidRequest(_))
    ));
    req.authorities.push(NamedAuthority {
        name: "bad".to_owned(),
        authority: Authority::Key("nope".to_owned()),
    });
    let err = verify_image(&req, &mut memory(vec![])).unwrap_err();
    assert_eq!(err.reason(), Reason::InvalidKey);
}

/// `key: value` lines of an `expect.txt`.
fn expectation(case: &Path, key: &str) -> Option<String> {
    read(&case.join("expect.txt")).lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_owned())
    })
}

/// A keyless request for `image` under the production root, the log required, at a time when
/// the shared fixtures' logs and CAs are trusted.
fn keyless_request(image: String, issuer: Matcher, subject: Matcher) -> VerifyRequest {
    VerifyRequest {
        image,
        authorities: vec![NamedAuthority {
            name: "keyless".to_owned(),
            authority: Authority::Keyless(crate::authority::Keyless {
                identities: vec![Identity::new(issuer, subject)],
                trusted_root: "production".to_owned(),
            }),
        }],
        annotations: vec![],
        check: CheckKind::Signature,
        tlog: TlogPolicy::Require,
        signatures_from: None,
        trusted_root: "production".to_owned(),
        at: 1_790_000_000,
    }
}

/// The fixture's layer and a source that serves it for the image it names.
fn keyless_case(case: &Path) -> (Memory, VerifyRequest) {
    let (image, layer) = legacy_keyless_case(case);
    let source = memory(vec![layer]);
    let identity = expectation(case, "identity").unwrap_or_else(|| "nobody@example.com".to_owned());
    let issuer = match expectation(case, "issuer").as_deref() {
        None | Some("none") => Matcher::Exact(String::new()),
        Some(issuer) => Matcher::Exact(issuer.to_owned()),
    };
    let request = keyless_request(image, issuer, Matcher::Exact(identity));
    (source, request)
}

/// Verifies a keyless fixture against the digest its `image.txt` names: the shared fixtures
/// keep the signatures, not the images, so the digest is taken on the test's word.
fn verify_keyless(request: &VerifyRequest, source: &mut impl Fetch) -> Result<Report, Error> {
    let (repository, digest) = request.image.split_once('@').unwrap();
    let repository = crate::reference::repository(repository);
    verify_subject(
        request,
        &Subject::assumed(digest, repository.as_deref()),
        source,
    )
}

#[test]
fn legacy_keyless_layers_verify_offline_against_production() {
    let mut seen = 0;
    for entry in std::fs::read_dir(legacy_keyless()).unwrap() {
        let case = entry.unwrap().path();
        if !case.is_dir() {
            continue;
        }
        seen += 1;
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let (mut source, request) = keyless_case(&case);
        let report = verify_keyless(&request, &mut source).unwrap();
        let accept = expectation(&case, "verdict").as_deref() == Some("accept");
        assert_eq!(
            report.verified(),
            accept,
            "{name}: {:#?}",
            report.signatures[0].checks
        );
        assert_eq!(name.ends_with("_fail"), !accept, "{name}");
        if accept {
            // The verified identity reaches the report, for policies.
            let signer = report.signatures[0].signer.as_ref().unwrap();
            let identity = expectation(&case, "identity").unwrap();
            assert!(
                signer.subject_alternative_names.contains(&identity),
                "{name}: {signer:?}"
            );
        }
    }
    assert!(seen >= 9, "only {seen} legacy cases");
}

#[test]
fn github_workflow_claims_reach_the_report() {
    let (mut source, request) = keyless_case(&legacy_keyless().join("server-image-gha-2026"));
    let report = verify_keyless(&request, &mut source).unwrap();
    let signer = report.signatures[0].signer.as_ref().unwrap();
    // Fulcio 1.3.6.1.4.1.57264.1.12: source repository URI.
    assert_eq!(
        signer
            .extensions
            .get("1.3.6.1.4.1.57264.1.12")
            .map(String::as_str),
        Some("https://github.com/salrashid123/go-bazel-github-workflow")
    );
    assert_eq!(
        signer.issuer.as_deref(),
        Some("https://token.actions.githubusercontent.com")
    );
}

/// A legacy keyless `.sig` layer with GitHub workflow requirements (cosign's
/// `--certificate-github-workflow-*`): `distroless-static-gha-2022`'s leaf says trigger
/// `schedule`, repository `distroless/static`, ref `refs/heads/main` (Fulcio `.1.2`, `.1.5`,
/// `.1.6`). Matching values verify; one other value fails the signature check with
/// `identity-mismatch`, and the check's detail names the extension and both values.
#[test]
fn legacy_keyless_checks_github_workflow_extensions() {
    let case = legacy_keyless().join("distroless-static-gha-2022");
    let verify_with = |github_workflow: GithubWorkflow| {
        let (mut source, mut request) = keyless_case(&case);
        if let Authority::Keyless(keyless) = &mut request.authorities[0].authority {
            keyless.identities[0].github_workflow = github_workflow;
        }
        verify_keyless(&request, &mut source).unwrap()
    };
    let matching = GithubWorkflow {
        trigger: Some("schedule".to_owned()),
        repository: Some("distroless/static".to_owned()),
        git_ref: Some("refs/heads/main".to_owned()),
        ..GithubWorkflow::default()
    };
    let report = verify_with(matching.clone());
    assert!(report.verified(), "{:#?}", report.signatures[0].checks);

    let report = verify_with(GithubWorkflow {
        git_ref: Some("refs/heads/release".to_owned()),
        ..matching
    });
    assert_eq!(report.reason(), Some(Reason::IdentityMismatch));
    let failed = report.signatures[0]
        .checks
        .iter()
        .find(|check| check.outcome == CheckOutcome::Fail)
        .unwrap();
    assert_eq!(failed.name, "signature");
    assert!(
        failed.detail.contains(
            r#"GitHub Workflow Ref (1.3.6.1.4.1.57264.1.6) is "refs/heads/main", not "refs/heads/release""#
        ),
        "{}",
        failed.detail
    );
}

#[test]
fn legacy_keyless_rejects_another_identity_and_staging() {
    let case = legacy_keyless().join("distroless-static-gha-2022");
    let (mut source, mut request) = keyless_case(&case);
    if let Authority::Keyless(keyless) = &mut request.authorities[0].authority {
        keyless.identities[0].subject = Matcher::Exact(
            "https://github.com/evil/repo/.github/workflows/x.yml@refs/heads/main".to_owned(),
        );
    }
    let report = verify_keyless(&request, &mut source).unwrap();
    assert_eq!(report.reason(), Some(Reason::IdentityMismatch));

    let (mut source, mut request) = keyless_case(&case);
    request.trusted_root = "staging".to_owned();
    if let Authority::Keyless(keyless) = &mut request.authorities[0].authority {
        keyless.trusted_root = "staging".to_owned();
    }
    let report = verify_keyless(&request, &mut source).unwrap();
    assert!(!report.verified());
    assert_eq!(report.reason(), Some(Reason::TlogInvalid));
}

/// Issue 8, item 5: the pre-2022 SCT exemption is keyed on the log's verified time and the
/// issuing CA's age, never on anything the leaf says about itself.
#[test]
fn sct_exemption_needs_a_logged_time_and_an_old_issuer() {
    use crate::cert::Certificate;
    use legacy::{SigningTime, issued_before_ct};

    let root = crate::cert::tests::root("production");
    let first = |pred: fn(&Certificate) -> bool| {
        root.certificate_authorities
            .iter()
            .flat_map(|ca| ca.chain.iter())
            .map(|der| Certificate::from_der(der).unwrap())
            .find(pred)
            .unwrap()
    };
    // The 2021 Fulcio root issued leaves without SCTs; the 2022 intermediate never did.
    let fulcio_2021 = first(|c| c.not_before() < 1_640_995_200);
    let intermediate_2022 = first(|c| c.not_before() > 1_640_995_200 && !c.is_root());
    let leaf = first(|_| true);
    let mid_2021 = 1_625_097_600; // 2021-07-01
    let mid_2023 = 1_688_169_600; // 2023-07-01
    let cases = [
        (SigningTime::Logged(mid_2021), &fulcio_2021, true),
        (SigningTime::Logged(mid_2021), &intermediate_2022, false),
        (SigningTime::Logged(mid_2023), &fulcio_2021, false),
        (SigningTime::Unlogged(mid_2021), &fulcio_2021, false),
        (SigningTime::Unlogged(mid_2023), &intermediate_2022, false),
    ];
    for (time, issuer, exempt) in cases {
        let path = [leaf.clone(), issuer.clone()];
        assert_eq!(
            issued_before_ct(time, &path),
            exempt,
            "{time:?}, issuer from {}",
            issuer.not_before()
        );
    }
    assert!(!issued_before_ct(
        SigningTime::Logged(mid_2021),
        std::slice::from_ref(&leaf)
    ));
}
