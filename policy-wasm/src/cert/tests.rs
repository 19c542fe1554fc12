//! Certificate tests over real Fulcio material: the legacy-keyless fixtures and conformance
//! bundles in `../shared`, read in place; negative cases are tampered copies of them.

use std::path::PathBuf;

use base64::Engine as _;

use super::*;
use crate::authority::{Identity, Matcher};
use crate::trust_root::{CertificateAuthority, TrustedRoot};

pub(crate) use crate::testdata::conformance_dir;

pub(crate) fn legacy_dir() -> PathBuf {
    conformance_dir().join("../fixtures/legacy-keyless")
}

pub(crate) fn root(name: &str) -> TrustedRoot {
    let path = conformance_dir().join(format!("trust/{name}/trusted_root.json"));
    TrustedRoot::parse(&std::fs::read(path).unwrap()).unwrap()
}

/// One legacy-keyless case: its leaf, its chain annotation (if any) and `expect.txt`.
pub(crate) struct Legacy {
    pub(crate) name: String,
    pub(crate) leaf: Certificate,
    pub(crate) chain: Vec<Certificate>,
    pub(crate) verdict: String,
    pub(crate) identity: String,
    /// `None` for `issuer: none`.
    pub(crate) issuer: Option<String>,
    pub(crate) integrated_time: UnixTime,
}

impl Legacy {
    /// The chain annotation minus its root, as cosign passes it (docs/formats/cosign-signatures.md,
    /// "Verifying legacy layers", step 4).
    pub(crate) fn intermediates(&self) -> &[Certificate] {
        self.chain
            .split_last()
            .map_or(&[][..], |(_root, intermediates)| intermediates)
    }
}

pub(crate) fn legacy(name: &str) -> Legacy {
    let dir = legacy_dir().join(name);
    let annotations: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("annotations.json")).unwrap()).unwrap();
    let text = |key: &str| annotations.get(key).and_then(|v| v.as_str());
    let leaf = parse_pem_chain(text("dev.sigstore.cosign/certificate").unwrap()).unwrap();
    assert_eq!(leaf.len(), 1, "{name}");
    let chain = text("dev.sigstore.cosign/chain")
        .map(|pem| parse_pem_chain(pem).unwrap())
        .unwrap_or_default();
    let expect = std::fs::read_to_string(dir.join("expect.txt")).unwrap();
    let field = |key: &str| {
        expect
            .lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix(": "))
            .unwrap_or_else(|| panic!("{name}: no {key}"))
            .to_owned()
    };
    let issuer = field("issuer");
    Legacy {
        name: name.to_owned(),
        leaf: leaf.into_iter().next().unwrap(),
        chain,
        verdict: field("verdict"),
        identity: field("identity"),
        issuer: (issuer != "none").then_some(issuer),
        integrated_time: field("integrated-time")
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap(),
    }
}

/// Every legacy case whose certificate material is its own (not a derived negative).
pub(crate) fn accepted_legacy() -> Vec<Legacy> {
    let mut names: Vec<String> = std::fs::read_dir(legacy_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| legacy_dir().join(name).join("expect.txt").is_file())
        .collect();
    names.sort();
    let cases: Vec<Legacy> = names
        .iter()
        .map(|name| legacy(name))
        .filter(|case| case.verdict == "accept")
        .collect();
    assert!(cases.len() >= 6, "expected the six accepted legacy cases");
    cases
}

/// A conformance bundle's certificates (leaf first) and integrated time.
pub(crate) fn bundle(case: &str) -> (Vec<Certificate>, UnixTime) {
    let path = conformance_dir().join(format!("bundle-verify/{case}/bundle.sigstore.json"));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let material = &json["verificationMaterial"];
    let raw: Vec<&str> = match material.get("certificate") {
        Some(cert) => vec![cert["rawBytes"].as_str().unwrap()],
        None => material["x509CertificateChain"]["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|cert| cert["rawBytes"].as_str().unwrap())
            .collect(),
    };
    let certs = raw
        .into_iter()
        .map(|b64| {
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap();
            Certificate::from_der(&der).unwrap()
        })
        .collect();
    let at = material["tlogEntries"][0]["integratedTime"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    (certs, at)
}

/// The conformance suite's default identity (conformance README).
pub(crate) fn conformance_identity() -> Identity {
    Identity {
        subject: Matcher::Exact(
            "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
                .to_owned(),
        ),
        issuer: Matcher::Exact("https://token.actions.githubusercontent.com".to_owned()),
        github_workflow: Default::default(),
    }
}

fn exact(subject: &str, issuer: &str) -> Identity {
    Identity {
        subject: Matcher::Exact(subject.to_owned()),
        issuer: Matcher::Exact(issuer.to_owned()),
        github_workflow: Default::default(),
    }
}

fn regexp(subject: &str, issuer: &str) -> Identity {
    Identity {
        subject: Matcher::Regexp(subject.to_owned()),
        issuer: Matcher::Regexp(issuer.to_owned()),
        github_workflow: Default::default(),
    }
}

fn verify(
    case: &Legacy,
    intermediates: &[Certificate],
    at: UnixTime,
) -> Result<Vec<Certificate>, CertError> {
    let production = root("production");
    verify_chain(
        &case.leaf,
        intermediates,
        &production.certificate_authorities,
        at,
        Usage::CodeSigning,
    )
}

#[test]
fn verifies_every_accepted_legacy_leaf_with_its_identity() {
    let production = root("production");
    for case in accepted_legacy() {
        let name = &case.name;
        let at = case.integrated_time;
        let path =
            verify(&case, case.intermediates(), at).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(path.first(), Some(&case.leaf), "{name}");
        let last = path.last().unwrap();
        assert!(last.is_root(), "{name}: path ends at a root");
        assert!(
            production
                .certificate_authorities
                .iter()
                .any(|ca| ca.chain.last().map(Vec::as_slice) == Some(last.der())),
            "{name}: path ends at a trusted root"
        );
        // The intermediates come from the trusted root when the signature supplies none.
        assert_eq!(verify(&case, &[], at), Ok(path.clone()), "{name}");

        let signer = case.leaf.signer().unwrap();
        assert!(
            signer.subject_alternative_names.contains(&case.identity),
            "{name}"
        );
        assert_eq!(signer.issuer, case.issuer, "{name}");
        // A certificate without issuer extension has the empty issuer (cosign's GetIssuer).
        let wanted = exact(&case.identity, case.issuer.as_deref().unwrap_or(""));
        assert_eq!(check_identity(&signer, &[wanted]), Ok(()), "{name}");
    }
}

#[test]
fn rejects_private_ca_leaf() {
    let case = legacy("kubewarden-pod-privileged-private-ca_fail");
    for name in ["production", "staging"] {
        let root = root(name);
        assert_eq!(
            verify_chain(
                &case.leaf,
                &[],
                &root.certificate_authorities,
                case.integrated_time,
                Usage::CodeSigning
            ),
            Err(CertError::UntrustedChain),
            "{name}"
        );
    }
}

#[test]
fn rejects_fulcio_leaves_against_staging() {
    let staging = root("staging");
    for case in accepted_legacy() {
        assert_eq!(
            verify_chain(
                &case.leaf,
                case.intermediates(),
                &staging.certificate_authorities,
                case.integrated_time,
                Usage::CodeSigning
            ),
            Err(CertError::UntrustedChain),
            "{}",
            case.name
        );
    }
}

#[test]
fn validity_is_a_closed_interval() {
    let case = legacy("distroless-static-gha-2022");
    let (not_before, not_after) = (case.leaf.not_before(), case.leaf.not_after());
    assert_eq!(
        not_after - not_before,
        600,
        "Fulcio leaves live ten minutes"
    );
    assert!(verify(&case, &[], not_before).is_ok());
    assert!(verify(&case, &[], not_after).is_ok());
    for at in [not_before - 1, not_after + 1, 0] {
        assert_eq!(
            verify(&case, &[], at),
            Err(CertError::OutsideValidity {
                at,
                not_before,
                not_after
            })
        );
    }
}

#[test]
fn rejects_authority_outside_its_valid_for() {
    let case = legacy("kubewarden-nodeport-email-2021");
    let mut authorities = root("production").certificate_authorities;
    for authority in &mut authorities {
        authority.valid_for.end = Some(case.integrated_time - 1);
    }
    let err = verify_chain(
        &case.leaf,
        &[],
        &authorities,
        case.integrated_time,
        Usage::CodeSigning,
    )
    .unwrap_err();
    assert!(
        matches!(err, CertError::AuthorityOutsideValidity { at, .. } if at == case.integrated_time),
        "{err:?}"
    );
}

#[test]
fn rejects_wrong_usage_and_ca_leaf() {
    let case = legacy("distroless-static-gha-2022");
    let production = root("production");
    let at = case.integrated_time;
    assert_eq!(
        verify_chain(
            &case.leaf,
            &[],
            &production.certificate_authorities,
            at,
            Usage::TimeStamping
        ),
        Err(CertError::MissingExtendedKeyUsage(Usage::TimeStamping))
    );
    let intermediate = case.intermediates().first().unwrap();
    assert!(intermediate.is_ca() && !case.leaf.is_ca());
    assert_eq!(
        verify_chain(
            intermediate,
            &[],
            &production.certificate_authorities,
            at,
            Usage::CodeSigning
        ),
        Err(CertError::LeafIsCa)
    );
}

#[test]
fn rejects_tampered_leaf_signature_and_tbs() {
    let case = legacy("server-image-gha-2026");
    let der = case.leaf.der().to_vec();
    // The last byte is inside the signature; a byte of the SAN URI is inside the TBS.
    let mut signature = der.clone();
    *signature.last_mut().unwrap() ^= 1;
    let uri = b"go-bazel-github-workflow";
    let at_uri = der.windows(uri.len()).position(|w| w == uri).unwrap();
    let mut tbs = der;
    tbs[at_uri] ^= 0x20;
    for tampered in [signature, tbs] {
        let leaf = Certificate::from_der(&tampered).unwrap();
        let tampered_case = Legacy {
            leaf,
            ..legacy("server-image-gha-2026")
        };
        assert_eq!(
            verify(
                &tampered_case,
                tampered_case.intermediates(),
                case.integrated_time
            ),
            Err(CertError::UntrustedChain)
        );
    }
}

#[test]
fn identity_matching() {
    let case = legacy("distroless-static-gha-2022");
    let signer = case.leaf.signer().unwrap();
    let issuer = "https://token.actions.githubusercontent.com";
    let mismatch = |wanted: &[Identity]| {
        matches!(
            check_identity(&signer, wanted),
            Err(CertError::IdentityMismatch { .. })
        )
    };
    assert!(mismatch(&[exact(
        "https://github.com/distroless/static",
        issuer
    )]));
    assert!(mismatch(&[exact(
        &case.identity,
        "https://accounts.google.com"
    )]));
    assert!(mismatch(&[]));
    // Any of the wanted identities.
    assert_eq!(
        check_identity(
            &signer,
            &[exact("someone", issuer), exact(&case.identity, issuer)]
        ),
        Ok(())
    );
    // Regular expressions are unanchored, like Go's MatchString, unless anchored.
    assert_eq!(
        check_identity(&signer, &[regexp("distroless/static", "actions")]),
        Ok(())
    );
    assert_eq!(
        check_identity(
            &signer,
            &[regexp(
                r"^https://github\.com/distroless/",
                r"^https://token\.actions\.githubusercontent\.com$"
            )]
        ),
        Ok(())
    );
    assert!(mismatch(&[regexp("^distroless", issuer)]));
    assert!(mismatch(&[regexp("distroless/static$", issuer)]));
    assert!(mismatch(&[regexp("distroless", "^actions")]));
    // An invalid pattern is an error even when another identity would match.
    assert!(matches!(
        check_identity(&signer, &[exact(&case.identity, issuer), regexp("(", issuer)]),
        Err(CertError::InvalidRegexp { pattern, .. }) if pattern == "("
    ));
}

#[test]
fn reads_github_workflow_extensions() {
    let case = legacy("server-image-gha-2026");
    let signer = case.leaf.signer().unwrap();
    let ext = |arc: u32| {
        signer
            .extensions
            .get(&format!("1.3.6.1.4.1.57264.1.{arc}"))
            .map(String::as_str)
    };
    let workflow = "https://github.com/salrashid123/go-bazel-github-workflow/.github/workflows/release.yaml@refs/tags/v0.0.30";
    assert_eq!(signer.subject_alternative_names, [workflow]);
    assert_eq!(
        signer.issuer.as_deref(),
        Some("https://token.actions.githubusercontent.com")
    );
    // Raw (deprecated) extensions.
    assert_eq!(ext(1), Some("https://token.actions.githubusercontent.com"));
    assert_eq!(ext(2), Some("push"));
    assert_eq!(ext(3), Some("7624bd5f279fb5d4700ea72c1b2373ee33960700"));
    assert_eq!(ext(5), Some("salrashid123/go-bazel-github-workflow"));
    assert_eq!(ext(6), Some("refs/tags/v0.0.30"));
    // DER UTF8String extensions.
    assert_eq!(ext(8), Some("https://token.actions.githubusercontent.com"));
    assert_eq!(ext(9), Some(workflow));
    assert_eq!(ext(10), Some("7624bd5f279fb5d4700ea72c1b2373ee33960700"));
    assert_eq!(ext(11), Some("github-hosted"));
    assert_eq!(
        ext(12),
        Some("https://github.com/salrashid123/go-bazel-github-workflow")
    );
    assert_eq!(ext(15), Some("1150755799"));
    assert_eq!(ext(20), Some("push"));
    assert_eq!(
        ext(21),
        Some(
            "https://github.com/salrashid123/go-bazel-github-workflow/actions/runs/22498294485/attempts/1"
        )
    );
    assert_eq!(ext(22), Some("public"));
    assert!((9..=22).all(|arc| ext(arc).is_some()));
    assert_eq!(ext(7), None);
}

#[test]
fn reads_email_identity_without_issuer() {
    let signer = legacy("kubewarden-nodeport-email-2021")
        .leaf
        .signer()
        .unwrap();
    assert_eq!(signer.subject_alternative_names, ["flavio@castelli.me"]);
    assert_eq!(signer.issuer, None);
    assert!(signer.extensions.is_empty());
}

#[test]
fn verifies_conformance_bundle_certificates() {
    let production = root("production");
    let staging = root("staging");
    for case in ["happy-path-v0.1", "happy-path-v0.2", "happy-path-v0.3"] {
        let (certs, at) = bundle(case);
        let (leaf, intermediates) = certs.split_first().unwrap();
        assert_eq!(reject_roots(intermediates), Ok(()), "{case}");
        let verify = |authorities: &[CertificateAuthority]| {
            verify_chain(leaf, intermediates, authorities, at, Usage::CodeSigning)
        };
        let path =
            verify(&production.certificate_authorities).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(path.len(), 3, "{case}: leaf, intermediate, root");
        assert_eq!(
            verify(&staging.certificate_authorities),
            Err(CertError::UntrustedChain),
            "{case}"
        );
        let signer = leaf.signer().unwrap();
        assert_eq!(
            check_identity(&signer, &[conformance_identity()]),
            Ok(()),
            "{case}"
        );
    }
}

#[test]
fn rejects_root_inside_supplied_chain() {
    // Conformance `bundle-with-root-cert_fail`: leaf, root, intermediate.
    let (certs, at) = bundle("bundle-with-root-cert_fail");
    let (leaf, supplied) = certs.split_first().unwrap();
    assert_eq!(supplied.len(), 2);
    assert_eq!(
        reject_roots(supplied),
        Err(CertError::RootInChain(
            "CN=sigstore,O=sigstore.dev".to_owned()
        ))
    );
    // The root is the trusted one, so path building alone would accept: the separate check
    // is what rejects the bundle.
    let production = root("production");
    assert!(
        verify_chain(
            leaf,
            supplied,
            &production.certificate_authorities,
            at,
            Usage::CodeSigning
        )
        .is_ok()
    );
    // Intermediates the trusted root also lists are fine.
    let intermediates: Vec<Certificate> =
        supplied.iter().filter(|c| !c.is_root()).cloned().collect();
    assert_eq!(intermediates.len(), 1);
    assert_eq!(reject_roots(&intermediates), Ok(()));
}

#[test]
fn rejects_too_many_intermediates_cleanly() {
    let case = legacy("distroless-static-gha-2022");
    let intermediate = case.intermediates().first().unwrap().clone();
    let fifty = vec![intermediate.clone(); 50];
    assert_eq!(
        verify(&case, &fifty, case.integrated_time),
        Err(CertError::ChainTooLong {
            found: 50,
            max: MAX_INTERMEDIATES
        })
    );
    // Duplicates up to the limit are tolerated (deduplicated).
    let eight = vec![intermediate; MAX_INTERMEDIATES];
    assert!(verify(&case, &eight, case.integrated_time).is_ok());
    // A long supplied chain of real certificates from several cases, in any order.
    let mixed: Vec<Certificate> = accepted_legacy()
        .into_iter()
        .flat_map(|case| case.chain)
        .take(MAX_INTERMEDIATES)
        .collect();
    assert!(verify(&case, &mixed, case.integrated_time).is_ok());
}

#[test]
fn rejects_malformed_input_cleanly() {
    let der = legacy("distroless-static-gha-2022").leaf.der().to_vec();
    for cut in [0, 1, 2, 10, der.len() / 2, der.len() - 1] {
        assert!(
            matches!(
                Certificate::from_der(&der[..cut]),
                Err(CertError::Malformed(_))
            ),
            "cut at {cut}"
        );
    }
    let mut trailing = der.clone();
    trailing.push(0);
    assert!(matches!(
        Certificate::from_der(&trailing),
        Err(CertError::Malformed(_))
    ));
    assert_eq!(parse_pem_chain(""), Err(CertError::NoCertificates));
    assert!(matches!(
        parse_pem_chain("not pem"),
        Err(CertError::NotPem(_))
    ));
    let key = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    assert!(matches!(parse_pem_chain(key), Err(CertError::NotPem(_))));
    // Every single-byte truncation of the DER fails without panicking, and so does every
    // byte flip (which may still parse: then it must not verify or must fail cleanly).
    for cut in 0..der.len() {
        assert!(Certificate::from_der(&der[..cut]).is_err());
    }
    let case = legacy("distroless-static-gha-2022");
    let production = root("production");
    for index in 0..der.len() {
        let mut flipped = der.clone();
        flipped[index] ^= 0xff;
        if let Ok(cert) = Certificate::from_der(&flipped) {
            let _ = cert.signer();
            let _ = cert.public_key();
            let _ = cert.is_root();
            let path = [cert.clone(), case.chain[0].clone(), case.chain[1].clone()];
            // No panic; sct::tests pins which SCT bytes matter (the log id is not signed).
            let _ = crate::sct::verify_embedded_sct(&path, &production.ctlogs);
            assert!(
                verify_chain(
                    &cert,
                    &[],
                    &production.certificate_authorities,
                    case.integrated_time,
                    Usage::CodeSigning
                )
                .is_err()
            );
        }
    }
}

#[test]
fn parses_pem_chains_with_and_without_trailing_newline() {
    for case in accepted_legacy() {
        for cert in case.chain.iter().chain([&case.leaf]) {
            assert!(!cert.der().is_empty());
            assert_eq!(Certificate::from_der(cert.der()).as_ref(), Ok(cert));
        }
    }
    let chain = legacy("cloudbuild-sa-2023").chain;
    assert_eq!(chain.len(), 2);
    assert!(chain[1].is_root() && !chain[0].is_root() && chain[0].is_ca());
}

/// Certificates made here with rcgen, for validity windows no real Fulcio certificate has
/// (issue 8, item 5: a leaf back-dated before its issuer existed).
mod generated {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose, date_time_ymd,
    };

    use super::*;
    use crate::trust_root::Validity;

    /// 2024-01-01T00:00:00Z.
    const AT: UnixTime = 1_704_067_200;

    struct Pki {
        authority: CertificateAuthority,
        ca_params: CertificateParams,
        ca_key: KeyPair,
    }

    /// A CA valid 2023-01-01 to 2030-01-01, trusted from 2023 on.
    fn pki() -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "generated CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        ca_params.not_before = date_time_ymd(2023, 1, 1);
        ca_params.not_after = date_time_ymd(2030, 1, 1);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let authority = CertificateAuthority {
            common_name: "generated CA".to_owned(),
            uri: String::new(),
            chain: vec![ca.der().to_vec()],
            valid_for: Validity {
                start: 1_672_531_200,
                end: None,
            },
        };
        Pki {
            authority,
            ca_params,
            ca_key,
        }
    }

    /// A code-signing leaf valid from `(y, m, d)` to `until`.
    fn leaf(pki: &Pki, from: (i32, u8, u8), until: (i32, u8, u8)) -> Certificate {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["signer@example.com".to_owned()]).unwrap();
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        params.not_before = date_time_ymd(from.0, from.1, from.2);
        params.not_after = date_time_ymd(until.0, until.1, until.2);
        let issuer = Issuer::from_params(&pki.ca_params, &pki.ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        Certificate::from_der(cert.der()).unwrap()
    }

    #[test]
    fn leaf_validity_must_lie_within_its_issuers() {
        let pki = pki();
        let authorities = [pki.authority.clone()];
        let chain =
            |leaf: &Certificate| verify_chain(leaf, &[], &authorities, AT, Usage::CodeSigning);
        // Inside: verifies.
        assert!(chain(&leaf(&pki, (2023, 6, 1), (2025, 1, 1))).is_ok());
        // Each way out of the issuer's window, though valid at `AT`: refused.
        for (from, until) in [
            ((2021, 1, 1), (2025, 1, 1)), // back-dated before the CA existed
            ((2023, 6, 1), (2031, 1, 1)), // outlives the CA
            ((2020, 1, 1), (2035, 1, 1)), // both
        ] {
            let err = chain(&leaf(&pki, from, until)).unwrap_err();
            assert!(
                matches!(err, CertError::OutsideIssuerValidity { .. }),
                "{from:?}..{until:?}: {err:?}"
            );
        }
    }
}
