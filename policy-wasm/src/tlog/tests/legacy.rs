//! cosign's `dev.sigstore.cosign/bundle` annotations: the legacy fixtures (real `.sig` layers
//! logged in the public-good Rekor) and the SET message itself.

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::*;

/// The legacy fixtures: `dev.sigstore.cosign/bundle` annotations of real `.sig` layers.
fn legacy(name: &str) -> (Value, Vec<u8>) {
    let dir = conformance_dir()
        .join("../fixtures/legacy-keyless")
        .join(name);
    let annotations = serde_json::from_slice(&read(dir.join("annotations.json"))).unwrap();
    (annotations, read(dir.join("payload.json")))
}

fn legacy_cases() -> Vec<String> {
    let dir = conformance_dir().join("../fixtures/legacy-keyless");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_type().unwrap().is_dir())
        .map(|entry| entry.file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The legacy layer's entry consistency, as cosign's `VerifyBundle` checks it.
fn legacy_body(annotations: &Value, payload: &[u8], rekor: &RekorBundle) -> Result<(), TlogError> {
    let signature = b64(annotations["dev.cosignproject.cosign/signature"]
        .as_str()
        .unwrap());
    let pem = annotations["dev.sigstore.cosign/certificate"]
        .as_str()
        .unwrap();
    let (_, leaf) = pem_rfc7468::decode_vec(pem.trim().as_bytes()).unwrap();
    let sha256: [u8; 32] = Sha256::digest(payload).into();
    let signed = Signed::Message {
        sha256: &sha256,
        signature: &signature,
    };
    check_body(&rekor.body_bytes()?, &signed, &Verifier::Certificate(&leaf)).map(|_| ())
}

#[test]
fn verifies_legacy_rekor_bundles_against_production() {
    let production = TrustedRoot::parse(&read(
        conformance_dir().join("trust/production/trusted_root.json"),
    ))
    .unwrap();
    let staging = TrustedRoot::parse(&read(
        conformance_dir().join("trust/staging/trusted_root.json"),
    ))
    .unwrap();
    let names = legacy_cases();
    assert!(names.len() >= 9, "{names:?}");
    for name in names {
        let (annotations, payload) = legacy(&name);
        let json = annotations["dev.sigstore.cosign/bundle"].as_str().unwrap();
        let rekor = RekorBundle::parse(json).unwrap();
        let set = rekor.verify(&production.tlogs);
        let body = legacy_body(&annotations, &payload, &rekor);
        match name.as_str() {
            "set-tampered_fail" => {
                assert!(matches!(set, Err(TlogError::BadSetSignature(_))), "{set:?}");
                assert_eq!(body, Ok(()), "{name}");
            }
            "payload-tampered_fail" => {
                assert_eq!(set, Ok(()), "{name}");
                assert_eq!(
                    body,
                    Err(TlogError::BodyMismatch {
                        field: "spec.data.hash"
                    })
                );
            }
            _ => {
                assert_eq!(set, Ok(()), "{name}");
                assert_eq!(body, Ok(()), "{name}");
            }
        }
        assert!(
            matches!(
                rekor.verify(&staging.tlogs),
                Err(TlogError::UnknownLog { .. })
            ),
            "{name}"
        );
    }
}

#[test]
fn checks_the_2021_rekord_entry() {
    let (annotations, payload) = legacy("kubewarden-nodeport-email-2021");
    let json = annotations["dev.sigstore.cosign/bundle"].as_str().unwrap();
    let rekor = RekorBundle::parse(json).unwrap();
    assert_eq!(rekor.log_index, 783_607);
    assert_eq!(rekor.integrated_time, 1_634_714_717);
    let body = rekor.body_bytes().unwrap();
    let signature = b64(annotations["dev.cosignproject.cosign/signature"]
        .as_str()
        .unwrap());
    let pem = annotations["dev.sigstore.cosign/certificate"]
        .as_str()
        .unwrap();
    let (_, leaf) = pem_rfc7468::decode_vec(pem.trim().as_bytes()).unwrap();
    let sha256: [u8; 32] = Sha256::digest(&payload).into();
    let signed = Signed::Message {
        sha256: &sha256,
        signature: &signature,
    };
    assert_eq!(
        check_body(&body, &signed, &Verifier::Certificate(&leaf)),
        Ok(("rekord", "0.0.1"))
    );
    // Another signer (the leaf of another fixture) is not the logged one.
    let (other, _) = legacy("distroless-static-gha-2022");
    let pem = other["dev.sigstore.cosign/certificate"].as_str().unwrap();
    let (_, other_leaf) = pem_rfc7468::decode_vec(pem.trim().as_bytes()).unwrap();
    assert_eq!(
        check_body(&body, &signed, &Verifier::Certificate(&other_leaf)),
        Err(TlogError::BodyMismatch {
            field: "spec.signature.publicKey.content"
        })
    );
    // A signature of the entry, but over other bytes.
    let other_sha256 = [0u8; 32];
    let signed = Signed::Message {
        sha256: &other_sha256,
        signature: &signature,
    };
    assert_eq!(
        check_body(&body, &signed, &Verifier::Certificate(&leaf)),
        Err(TlogError::BodyMismatch {
            field: "spec.data.hash"
        })
    );
}

#[test]
fn rekor_bundle_parse_is_strict_about_shape() {
    let good = r#"{"SignedEntryTimestamp":"AAE=","Payload":{"body":"e30=","integratedTime":1,"logIndex":2,"logID":"C0D2"}}"#;
    let rekor = RekorBundle::parse(good).unwrap();
    assert_eq!(rekor.set, vec![0, 1]);
    assert_eq!(rekor.log_id, vec![0xc0, 0xd2]);
    assert_eq!(rekor.body_bytes().unwrap(), b"{}");
    for bad in [
        // cosign rejects a body that is not a string.
        r#"{"SignedEntryTimestamp":"AAE=","Payload":{"body":{"a":1},"integratedTime":1,"logIndex":2,"logID":"c0"}}"#,
        r#"{"SignedEntryTimestamp":"AAE=","Payload":{"body":5,"integratedTime":1,"logIndex":2,"logID":"c0"}}"#,
        // Key names are exact.
        r#"{"signedEntryTimestamp":"AAE=","Payload":{"body":"e30=","integratedTime":1,"logIndex":2,"logID":"c0"}}"#,
        r#"{"SignedEntryTimestamp":"AAE=","Payload":{"Body":"e30=","integratedTime":1,"logIndex":2,"logID":"c0"}}"#,
        r#"{"SignedEntryTimestamp":"!!","Payload":{"body":"e30=","integratedTime":1,"logIndex":2,"logID":"c0"}}"#,
        r#"{"SignedEntryTimestamp":"AAE=","Payload":{"body":"e30=","integratedTime":1,"logIndex":2,"logID":"c0d"}}"#,
        r#"{"SignedEntryTimestamp":"AAE=","Payload":{"body":"e30=","integratedTime":"1","logIndex":2,"logID":"c0"}}"#,
        "",
        "[]",
    ] {
        assert!(
            matches!(
                RekorBundle::parse(bad),
                Err(TlogError::MalformedRekorBundle(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn set_message_is_rfc8785_canonical_json() {
    let payload = SetPayload {
        body: "a\"b\\c\u{1}\n/é",
        integrated_time: 1_624_396_085,
        log_id: &[0xc0, 0xd2],
        log_index: 5179,
    };
    assert_eq!(
        payload.canonical_json().unwrap(),
        r#"{"body":"a\"b\\c\u0001\n/é","integratedTime":1624396085,"logID":"c0d2","logIndex":5179}"#
    );
    for (integrated_time, log_index) in [(-1, 0), (0, -1), (0, 1 << 53)] {
        let payload = SetPayload {
            integrated_time,
            log_index,
            ..payload
        };
        assert!(matches!(
            payload.canonical_json(),
            Err(TlogError::IntegerOutOfRange { .. })
        ));
    }
}
