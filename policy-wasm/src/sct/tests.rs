//! SCT tests over the real Fulcio leaves of the legacy-keyless fixtures and conformance
//! bundles; negative cases are tampered copies.

use super::*;
use crate::cert::tests::{accepted_legacy, bundle, legacy, root};
use crate::cert::{Usage, verify_chain};

/// The verified path of a legacy case, leaf first.
fn path(name: &str) -> Vec<Certificate> {
    let case = legacy(name);
    let production = root("production");
    verify_chain(
        &case.leaf,
        &[],
        &production.certificate_authorities,
        case.integrated_time,
        Usage::CodeSigning,
    )
    .unwrap()
}

#[test]
fn verifies_embedded_scts_of_legacy_leaves() {
    let production = root("production");
    for case in accepted_legacy() {
        let name = &case.name;
        let path = verify_chain(
            &case.leaf,
            case.intermediates(),
            &production.certificate_authorities,
            case.integrated_time,
            Usage::CodeSigning,
        )
        .unwrap();
        let outcome = verify_embedded_sct(&path, &production.ctlogs);
        if name == "kubewarden-nodeport-email-2021" {
            // Issued before Fulcio embedded SCTs.
            assert_eq!(outcome, Err(SctError::Missing), "{name}");
            continue;
        }
        let at = outcome.unwrap_or_else(|e| panic!("{name}: {e}"));
        // Fulcio logs the precertificate while issuing it.
        assert!(
            (case.leaf.not_before()..=case.leaf.not_after()).contains(&at),
            "{name}: SCT at {at}"
        );
    }
}

#[test]
fn verifies_conformance_bundle_scts_against_production() {
    let production = root("production");
    let staging = root("staging");
    for case in ["happy-path-v0.1", "happy-path-v0.3"] {
        let (certs, at) = bundle(case);
        let path = verify_chain(
            &certs[0],
            &certs[1..],
            &production.certificate_authorities,
            at,
            Usage::CodeSigning,
        )
        .unwrap();
        let sct_at = verify_embedded_sct(&path, &production.ctlogs).unwrap();
        assert!(sct_at <= at && at - sct_at < 600, "{case}");
        // Staging's CT keys do not know these SCTs (the log id is unknown, every key fails).
        assert_eq!(
            verify_embedded_sct(&path, &staging.ctlogs),
            Err(SctError::InvalidSignature),
            "{case}"
        );
    }
}

#[test]
fn rejects_tampered_scts() {
    let production = root("production");
    let mut path = path("server-image-gha-2026");
    let leaf_der = path[0].der().to_vec();
    // The TLS-encoded list inside the extension's OCTET STRING (RFC 6962 §3.3).
    let list = path[0].extension(SCT_LIST).unwrap().unwrap();
    let tls = der::asn1::OctetString::from_der(list.extn_value.as_bytes()).unwrap();
    let tls = tls.as_bytes();
    let start = leaf_der.windows(tls.len()).position(|w| w == tls).unwrap();
    let end = start + tls.len();
    // Offsets: list length 2, SCT length 2, version 1, log id 32, timestamp 8.
    let log_id = start + 2 + 2 + 1;
    let last_timestamp_byte = log_id + 32 + 7;
    // The last byte is inside the signature.
    for index in [end - 1, last_timestamp_byte] {
        let mut der = leaf_der.clone();
        der[index] ^= 1;
        path[0] = Certificate::from_der(&der).unwrap();
        assert_eq!(
            verify_embedded_sct(&path, &production.ctlogs),
            Err(SctError::InvalidSignature),
            "byte {index}"
        );
    }
    // The log id is not signed (RFC 6962 §3.2): an unknown one makes every CT key a
    // candidate, as sigstore-python does, and the right key still verifies.
    let mut der = leaf_der;
    der[log_id] ^= 1;
    path[0] = Certificate::from_der(&der).unwrap();
    assert!(verify_embedded_sct(&path, &production.ctlogs).is_ok());
    // Without the right key among the candidates it fails.
    let other_logs: Vec<_> = production
        .ctlogs
        .iter()
        .filter(|log| log.log_id != tls[log_id - start..][..32])
        .cloned()
        .collect();
    assert_eq!(
        verify_embedded_sct(&path, &other_logs),
        Err(SctError::InvalidSignature)
    );
}

#[test]
fn rejects_wrong_issuer_and_short_paths() {
    let production = root("production");
    let path = path("cloudbuild-sa-2023");
    assert_eq!(
        verify_embedded_sct(&[], &production.ctlogs),
        Err(SctError::MissingIssuer)
    );
    assert_eq!(
        verify_embedded_sct(&path[..1], &production.ctlogs),
        Err(SctError::MissingIssuer)
    );
    // The root's key hash is not the one the log signed over.
    let skipped = [path[0].clone(), path[2].clone()];
    assert_eq!(
        verify_embedded_sct(&skipped, &production.ctlogs),
        Err(SctError::InvalidSignature)
    );
    assert_eq!(verify_embedded_sct(&path, &[]), Err(SctError::NoLog));
}

#[test]
fn log_key_validity_must_contain_the_sct_time() {
    let path = path("distroless-static-gha-2022");
    let mut ctlogs = root("production").ctlogs;
    let at = verify_embedded_sct(&path, &ctlogs).unwrap();
    for log in &mut ctlogs {
        log.valid_for.end = Some(at - 1);
    }
    assert_eq!(
        verify_embedded_sct(&path, &ctlogs),
        Err(SctError::OutsideLogValidity { at })
    );
    // Both ends are inclusive.
    for log in &mut ctlogs {
        log.valid_for.end = Some(at);
    }
    assert_eq!(verify_embedded_sct(&path, &ctlogs), Ok(at));
}

#[test]
fn precert_tbs_drops_only_the_sct_extension() {
    let path = path("chainguard-test-email-2023");
    let leaf = &path[0];
    let tbs = precert_tbs(leaf.tbs_der()).unwrap();
    let list = leaf.extension(SCT_LIST).unwrap().unwrap().to_der().unwrap();
    // One extension fewer (and shorter length prefixes), nothing else changed.
    let removed = leaf.tbs_der().len() - tbs.len();
    assert!(
        (list.len()..=list.len() + 3).contains(&removed),
        "{removed}"
    );
    let parsed = x509_cert::TbsCertificate::from_der(&tbs).unwrap();
    let original = leaf.x509().tbs_certificate();
    assert_eq!(
        parsed.subject_public_key_info(),
        original.subject_public_key_info()
    );
    assert_eq!(
        parsed.extensions().unwrap().len() + 1,
        original.extensions().unwrap().len()
    );
    // A TBS without the extension stays as it is.
    assert_eq!(precert_tbs(&tbs).unwrap(), tbs);
    assert!(matches!(
        precert_tbs(&tbs[..tbs.len() - 1]),
        Err(SctError::Malformed(_))
    ));
}
