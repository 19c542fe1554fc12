//! The Sigstore conformance cases, natively against `sigward-policy` (the CLI runs them through
//! the component in `tests/` of the workspace, the host's runtime tests compare the two). Each
//! case runs with the artifact's bytes and with its digest; any unexpected accept or reject, or
//! a reject for another reason than the one pinned in `conformance-reasons.txt`, fails, after a
//! one-line summary. The cases are read by `common/conformance.rs`, which every runner shares.

use std::path::PathBuf;

use sigward_policy::authority::{Authority, Identity, Keyless, Matcher};
use sigward_policy::bundle::{ArtifactInput, BundleRequest, verify_bundle_request};
use sigward_policy::fetch::{Fetch, FetchError, Kinds, Manifest, Material};

#[path = "common/conformance.rs"]
mod conformance;

use conformance::{Case, Signer};

/// Trust roots from files: the case's own, or the production root.
struct Roots {
    case: Option<PathBuf>,
}

impl Fetch for Roots {
    fn resolve(&mut self, image: &str) -> Result<Manifest, FetchError> {
        Err(FetchError::Unsupported(image.to_owned()))
    }
    fn attached(&mut self, image: &str, _: &str, _: Kinds) -> Result<Material, FetchError> {
        Err(FetchError::Unsupported(image.to_owned()))
    }
    fn trusted_root(&mut self, name: &str) -> Result<Vec<u8>, FetchError> {
        let path = match (name, &self.case) {
            ("case", Some(path)) => path.clone(),
            (other, _) => conformance::dir()
                .join("trust")
                .join(other)
                .join("trusted_root.json"),
        };
        std::fs::read(&path).map_err(|e| FetchError::NotFound(format!("{}: {e}", path.display())))
    }
}

/// Verifies `case` with `artifact`: `Ok` when verified, else the reason code and message.
fn run(case: &Case, artifact: ArtifactInput) -> Result<(), (String, String)> {
    let root = if case.trusted_root.is_some() {
        "case"
    } else {
        "production"
    };
    let authority = match &case.signer {
        Signer::Key(path) => Authority::Key(std::fs::read_to_string(path).unwrap()),
        Signer::Identity { identity, issuer } => Authority::Keyless(Keyless {
            identities: vec![Identity {
                subject: Matcher::Exact(identity.clone()),
                issuer: Matcher::Exact(issuer.clone()),
                github_workflow: Default::default(),
            }],
            trusted_root: root.to_owned(),
        }),
    };
    let request = BundleRequest {
        bundle: std::fs::read(&case.bundle).unwrap(),
        artifact,
        authority,
        trusted_root: root.to_owned(),
        at: 1_750_000_000,
    };
    let mut roots = Roots {
        case: case.trusted_root.clone(),
    };
    let report = verify_bundle_request(&request, &mut roots)
        .map_err(|e| (e.reason().code().to_owned(), e.to_string()))?;
    match report.error {
        None => Ok(()),
        Some(err) => Err((err.reason().code().to_owned(), err.to_string())),
    }
}

#[test]
fn every_case_gives_its_verdict_natively() {
    let cases = conformance::cases();
    let (mut passed, mut unexpected) = (0, Vec::new());
    for case in &cases {
        let bytes = std::fs::read(&case.artifact).unwrap();
        for (form, artifact) in [
            ("bytes", ArtifactInput::Bytes(bytes)),
            (
                "digest",
                ArtifactInput::Digest(case.artifact_digest.clone()),
            ),
        ] {
            let outcome = run(case, artifact);
            let got = outcome.as_ref().err().map(|(reason, _)| reason.as_str());
            if got == case.rejected_for.as_deref() {
                passed += 1;
            } else {
                unexpected.push(format!(
                    "{} ({form}): expected {:?}, got {outcome:?}",
                    case.name, case.rejected_for
                ));
            }
        }
    }
    println!(
        "conformance (native): {passed} passed, {} unexpected, {} cases",
        unexpected.len(),
        cases.len()
    );
    assert!(cases.len() >= 40);
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
}
