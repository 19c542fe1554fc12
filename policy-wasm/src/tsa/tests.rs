//! Timestamps from the shared conformance bundles (read in place: `SIGWARD_CONFORMANCE_DIR`,
//! default `../shared/conformance`).

use serde_json::Value;

use super::*;
use crate::testdata::{b64, conformance_dir, read};
use crate::time::parse_rfc3339;
use crate::trust_root::{TrustedRoot, Validity};

/// A case's first timestamp, the signature it stamps (the message signature or the first
/// DSSE signature), and the case's trust root.
struct Case {
    response: Vec<u8>,
    signature: Vec<u8>,
    root: TrustedRoot,
}

impl Case {
    fn load(name: &str) -> Self {
        let dir = conformance_dir().join("bundle-verify").join(name);
        let bundle: Value =
            serde_json::from_slice(&read(dir.join("bundle.sigstore.json"))).unwrap();
        let root_path = dir.join("trusted_root.json");
        let root_path = if root_path.exists() {
            root_path
        } else {
            conformance_dir().join("trust/production/trusted_root.json")
        };
        let response =
            b64(
                bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]
                    ["signedTimestamp"]
                    .as_str()
                    .unwrap(),
            );
        let signature = bundle["messageSignature"]["signature"]
            .as_str()
            .or_else(|| bundle["dsseEnvelope"]["signatures"][0]["sig"].as_str())
            .unwrap();
        Self {
            response,
            signature: b64(signature),
            root: TrustedRoot::parse(&read(root_path)).unwrap(),
        }
    }

    fn verify(&self) -> Result<UnixTime, TsaError> {
        verify_timestamp(
            &self.response,
            &self.signature,
            &self.root.timestamp_authorities,
        )
    }
}

fn at(text: &str) -> UnixTime {
    parse_rfc3339(text).unwrap()
}

#[test]
fn accepts_conformance_timestamps() {
    for (name, gen_time) in [
        // Signing certificate only in the trust root.
        ("managed-key-happy-path", "2025-12-18T17:04:39Z"),
        ("rekor2-dsse-happy-path", "2026-05-13T19:23:33Z"),
        // Signing certificate embedded in the token, and trusted.
        ("rekor2-happy-path", "2025-06-12T12:02:20Z"),
        (
            "rekor2-timestamp-with-embedded-cert",
            "2025-08-06T18:51:36Z",
        ),
        ("rekor2-checkpoint-cosigned", "2025-06-12T12:02:20Z"),
        // A custom TSA over a DSSE signature; negative serial number, NULL parameters.
        ("intoto-with-custom-trust-root", "2023-02-01T00:00:00Z"),
    ] {
        assert_eq!(Case::load(name).verify(), Ok(at(gen_time)), "{name}");
    }
}

#[test]
fn rejects_conformance_timestamp_failures_for_their_reason() {
    assert_eq!(
        Case::load("rekor2-timestamp-payload-mismatch_fail").verify(),
        Err(TsaError::ImprintMismatch)
    );
    assert_eq!(
        Case::load("rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail").verify(),
        Err(TsaError::UntrustedTsa(CertError::UntrustedChain))
    );
    assert!(matches!(
        Case::load("rekor2-timestamp-outside-tsa-cert-validity_fail").verify(),
        Err(TsaError::OutsideValidity(CertError::OutsideValidity { .. }))
    ));
}

#[test]
fn the_imprint_binds_the_signature() {
    let case = Case::load("rekor2-happy-path");
    let mut other = case.signature.clone();
    other[10] ^= 1;
    assert_eq!(
        verify_timestamp(&case.response, &other, &case.root.timestamp_authorities),
        Err(TsaError::ImprintMismatch)
    );
    assert_eq!(
        verify_timestamp(&case.response, b"", &case.root.timestamp_authorities),
        Err(TsaError::ImprintMismatch)
    );
}

#[test]
fn the_authority_must_be_trusted_at_gen_time() {
    let mut case = Case::load("rekor2-happy-path");
    let gen_time = at("2025-06-12T12:02:20Z");
    for tsa in &mut case.root.timestamp_authorities {
        tsa.valid_for = Validity {
            start: gen_time + 1,
            end: None,
        };
    }
    assert!(matches!(
        case.verify(),
        Err(TsaError::OutsideValidity(
            CertError::AuthorityOutsideValidity { .. }
        ))
    ));
    // validFor is closed: genTime at its end is inside.
    for tsa in &mut case.root.timestamp_authorities {
        tsa.valid_for = Validity {
            start: 0,
            end: Some(gen_time),
        };
    }
    assert_eq!(case.verify(), Ok(gen_time));
}

#[test]
fn needs_a_trusted_authority() {
    // No embedded certificate and no authority: nothing can have signed it.
    let case = Case::load("managed-key-happy-path");
    assert_eq!(
        verify_timestamp(&case.response, &case.signature, &[]),
        Err(TsaError::SignerNotFound)
    );
    // An embedded certificate is not trusted by being there.
    let case = Case::load("rekor2-timestamp-with-embedded-cert");
    assert_eq!(
        verify_timestamp(&case.response, &case.signature, &[]),
        Err(TsaError::UntrustedTsa(CertError::UntrustedChain))
    );
    // Another deployment's TSA (production for a staging timestamp).
    let production = TrustedRoot::parse(&read(
        conformance_dir().join("trust/production/trusted_root.json"),
    ))
    .unwrap();
    let result = verify_timestamp(
        &case.response,
        &case.signature,
        &production.timestamp_authorities,
    );
    assert!(
        matches!(result, Err(TsaError::UntrustedTsa(_))),
        "{result:?}"
    );
}

#[test]
fn rejects_responses_that_are_not_granted_or_have_no_token() {
    let response = |status| {
        TimeStampResp {
            status: PkiStatusInfo {
                status,
                status_string: None,
                fail_info: None,
            },
            time_stamp_token: None,
        }
        .to_der()
        .unwrap()
    };
    let tsas = &Case::load("rekor2-happy-path").root.timestamp_authorities;
    assert_eq!(
        verify_timestamp(&response(2), b"sig", tsas),
        Err(TsaError::NotGranted { status: 2 })
    );
    assert_eq!(
        verify_timestamp(&response(0), b"sig", tsas),
        Err(TsaError::MissingToken)
    );
}

#[test]
fn rejects_damaged_responses_without_panicking() {
    let case = Case::load("rekor2-timestamp-with-embedded-cert");
    let tsas = &case.root.timestamp_authorities;
    for len in 0..case.response.len() {
        let truncated = &case.response[..len];
        assert!(
            verify_timestamp(truncated, &case.signature, tsas).is_err(),
            "{len}"
        );
    }
    for position in 0..case.response.len() {
        let mut damaged = case.response.clone();
        damaged[position] ^= 0x01;
        // Some flips land in bytes nobody signed (the unsigned parts of the status); none may
        // panic, and none may change the time.
        if let Ok(gen_time) = verify_timestamp(&damaged, &case.signature, tsas) {
            assert_eq!(gen_time, at("2025-08-06T18:51:36Z"), "{position}");
        }
    }
    let mut trailing = case.response.clone();
    trailing.push(0);
    assert!(matches!(
        verify_timestamp(&trailing, &case.signature, tsas),
        Err(TsaError::Malformed(_))
    ));
}

#[test]
fn reads_gen_time_with_and_without_fractions() {
    let time = |text: &[u8]| generalized_time(AnyRef::new(Tag::GeneralizedTime, text).unwrap());
    assert_eq!(time(b"20230201000000Z"), Ok(1_675_209_600));
    assert_eq!(time(b"20230201000000.999Z"), Ok(1_675_209_600));
    assert_eq!(time(b"20231231235959.5Z"), Ok(1_704_067_199));
    for bad in [
        &b"20230201000000"[..],
        b"2023020100000Z",
        b"20230201000000.Z",
        b"20231301000000Z",
        b"20230230000000Z",
        b"20230201250000Z",
        b"2023020100000aZ",
        b"+0230201000000Z",
        b"20230201000000+0100",
    ] {
        assert!(time(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
    let utc = AnyRef::new(Tag::UtcTime, b"230201000000Z").unwrap();
    assert!(generalized_time(utc).is_err());
}
