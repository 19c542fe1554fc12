//! The Sigstore conformance cases, natively against `sigward-policy` (the CLI runs them through
//! the component in `tests/` of the workspace). Each case runs with the artifact's bytes and
//! with its digest; any unexpected accept or reject fails, after a one-line summary.

use std::path::{Path, PathBuf};

use sigward_policy::authority::{Authority, Identity, Keyless, Matcher};
use sigward_policy::bundle::{ArtifactInput, BundleRequest, verify_bundle_request};
use sigward_policy::fetch::{Fetch, FetchError, Kinds, Manifest, Material};

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn conformance() -> PathBuf {
    std::env::var_os("SIGWARD_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            [env!("CARGO_MANIFEST_DIR"), "../../shared/conformance"]
                .iter()
                .collect()
        })
}

/// Trust roots from files: the case's own, or the production root.
struct Roots {
    case: PathBuf,
}

impl Fetch for Roots {
    fn resolve(&mut self, image: &str) -> Result<Manifest, FetchError> {
        Err(FetchError::Unsupported(image.to_owned()))
    }
    fn attached(&mut self, image: &str, _: &str, _: Kinds) -> Result<Material, FetchError> {
        Err(FetchError::Unsupported(image.to_owned()))
    }
    fn trusted_root(&mut self, name: &str) -> Result<Vec<u8>, FetchError> {
        let path = match name {
            "case" => self.case.join("trusted_root.json"),
            other => conformance()
                .join("trust")
                .join(other)
                .join("trusted_root.json"),
        };
        std::fs::read(&path).map_err(|e| FetchError::NotFound(format!("{}: {e}", path.display())))
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

fn run(case: &Path, artifact: ArtifactInput) -> Result<(), String> {
    let root = if case.join("trusted_root.json").exists() {
        "case"
    } else {
        "production"
    };
    let authority = match std::fs::read_to_string(case.join("key.pub")) {
        Ok(pem) => Authority::Key(pem),
        Err(_) => Authority::Keyless(Keyless {
            identities: vec![Identity {
                subject: Matcher::Exact(
                    read_trimmed(&case.join("identity"))
                        .unwrap_or_else(|| DEFAULT_IDENTITY.to_owned()),
                ),
                issuer: Matcher::Exact(
                    read_trimmed(&case.join("issuer")).unwrap_or_else(|| DEFAULT_ISSUER.to_owned()),
                ),
                github_workflow: Default::default(),
            }],
            trusted_root: root.to_owned(),
        }),
    };
    let request = BundleRequest {
        bundle: std::fs::read(case.join("bundle.sigstore.json")).map_err(|e| e.to_string())?,
        artifact,
        authority,
        trusted_root: root.to_owned(),
        at: 1_750_000_000,
    };
    let report = verify_bundle_request(
        &request,
        &mut Roots {
            case: case.to_owned(),
        },
    )
    .map_err(|e| e.to_string())?;
    match report.error {
        None => Ok(()),
        Some(err) => Err(format!("{}: {err}", err.reason().code())),
    }
}

#[test]
fn every_case_gives_its_verdict_natively() {
    let dir = conformance().join("bundle-verify");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    let (mut passed, mut unexpected) = (0, Vec::new());
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let artifact_path = if case.join("artifact").exists() {
            case.join("artifact")
        } else {
            dir.join("a.txt")
        };
        let bytes = std::fs::read(&artifact_path).unwrap();
        let digest = format!(
            "sha256:{}",
            sigward_policy::digest::Digest::of(&bytes).hex()
        );
        for (form, artifact) in [
            ("bytes", ArtifactInput::Bytes(bytes.clone())),
            ("digest", ArtifactInput::Digest(digest)),
        ] {
            let outcome = run(case, artifact);
            if std::env::var_os("SIGWARD_SHOW_REASONS").is_some() {
                println!("{name} ({form}): {outcome:?}");
            }
            if outcome.is_ok() != name.ends_with("_fail") {
                passed += 1;
            } else {
                unexpected.push(format!("{name} ({form}): {outcome:?}"));
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
