//! Transparency log checks over the shared conformance bundles (read in place:
//! `SIGWARD_CONFORMANCE_DIR`, default `../shared/conformance`); the legacy fixtures beside them
//! in [`legacy`]; generated trees and notes for what the vectors do not cover in [`generated`].

mod generated;
mod legacy;

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::*;
use crate::testdata::{b64, conformance_dir, read};
use crate::trust_root::{TrustedRoot, Validity};

/// One conformance case: its bundle and the trust root it is verified against.
struct Case {
    name: String,
    bundle: Value,
    root: TrustedRoot,
}

impl Case {
    fn load(name: &str) -> Self {
        let dir = conformance_dir().join("bundle-verify").join(name);
        let bundle = serde_json::from_slice(&read(dir.join("bundle.sigstore.json"))).unwrap();
        let root_path = dir.join("trusted_root.json");
        let root_path = if root_path.exists() {
            root_path
        } else {
            conformance_dir().join("trust/production/trusted_root.json")
        };
        Self {
            name: name.to_owned(),
            bundle,
            root: TrustedRoot::parse(&read(root_path)).unwrap(),
        }
    }

    /// Every case whose bundle is JSON and whose trust root parses.
    fn all() -> Vec<Self> {
        let mut names: Vec<String> = std::fs::read_dir(conformance_dir().join("bundle-verify"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| !name.ends_with(".txt"))
            .collect();
        names.sort();
        names
            .iter()
            .filter(|name| {
                !matches!(
                    name.as_str(),
                    "bundle-malformed-json_fail" | "trust-root-tlog-missing-validity-start_fail"
                )
            })
            .map(|name| Self::load(name))
            .collect()
    }

    fn entry(&self) -> &Value {
        &self.bundle["verificationMaterial"]["tlogEntries"][0]
    }

    fn body(&self) -> Vec<u8> {
        b64(self.entry()["canonicalizedBody"].as_str().unwrap())
    }

    fn int(value: &Value) -> i64 {
        value
            .as_str()
            .map_or_else(|| value.as_i64().unwrap_or(0), |text| text.parse().unwrap())
    }

    fn set(&self) -> Result<(), TlogError> {
        let entry = self.entry();
        let set = b64(entry["inclusionPromise"]["signedEntryTimestamp"]
            .as_str()
            .unwrap());
        let payload = SetPayload {
            body: entry["canonicalizedBody"].as_str().unwrap(),
            integrated_time: Self::int(&entry["integratedTime"]),
            log_id: &b64(entry["logId"]["keyId"].as_str().unwrap()),
            log_index: Self::int(&entry["logIndex"]),
        };
        verify_set(&payload, &set, &self.root.tlogs)
    }

    fn has_set(&self) -> bool {
        self.entry().get("inclusionPromise").is_some()
    }

    fn proof(&self) -> Option<&Value> {
        self.entry().get("inclusionProof")
    }

    fn inclusion(&self) -> Result<(), TlogError> {
        let proof = self.proof().unwrap();
        let hashes: Vec<[u8; 32]> = proof["hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| b64(h.as_str().unwrap()).try_into().unwrap())
            .collect();
        let root: [u8; 32] = b64(proof["rootHash"].as_str().unwrap()).try_into().unwrap();
        verify_inclusion(
            &self.body(),
            u64::try_from(Self::int(&proof["logIndex"])).unwrap(),
            u64::try_from(Self::int(&proof["treeSize"])).unwrap(),
            &hashes,
            &root,
        )
    }

    fn checkpoint(&self) -> Option<&str> {
        self.proof()?.get("checkpoint")?["envelope"].as_str()
    }

    /// Inclusion proof and checkpoint together, with the key validity at the integrated time
    /// when the entry has one (Rekor v1).
    fn proof_with_checkpoint(&self) -> Result<Checkpoint, TlogError> {
        let proof = self.proof().unwrap();
        let hashes: Vec<[u8; 32]> = proof["hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| b64(h.as_str().unwrap()).try_into().unwrap())
            .collect();
        let root: [u8; 32] = b64(proof["rootHash"].as_str().unwrap()).try_into().unwrap();
        let integrated = Self::int(&self.entry()["integratedTime"]);
        let proof = InclusionProof {
            log_index: u64::try_from(Self::int(&proof["logIndex"])).unwrap(),
            tree_size: u64::try_from(Self::int(&proof["treeSize"])).unwrap(),
            root_hash: &root,
            hashes: &hashes,
            checkpoint: self.checkpoint().unwrap(),
        };
        let at = (integrated > 0).then_some(integrated);
        verify_inclusion_proof(&self.body(), &proof, &self.root.tlogs, at)
    }

    /// The bundle's signer, as the entry must name it.
    fn verifier_der(&self) -> Option<(bool, Vec<u8>)> {
        let material = &self.bundle["verificationMaterial"];
        if let Some(cert) = material["certificate"]["rawBytes"].as_str() {
            return Some((true, b64(cert)));
        }
        if let Some(cert) = material["x509CertificateChain"]["certificates"][0]["rawBytes"].as_str()
        {
            return Some((true, b64(cert)));
        }
        let key = conformance_dir()
            .join("bundle-verify")
            .join(&self.name)
            .join("key.pub");
        let pem = String::from_utf8(std::fs::read(key).ok()?).unwrap();
        let (_, der) = pem_rfc7468::decode_vec(pem.trim().as_bytes()).ok()?;
        Some((false, der))
    }

    /// What the bundle signs: the message signature with the digest it names (else the
    /// default artifact's), or the DSSE envelope.
    fn check_body(&self) -> Result<(&'static str, &'static str), TlogError> {
        let (is_cert, der) = self.verifier_der().expect("the bundle names its signer");
        let verifier = if is_cert {
            Verifier::Certificate(&der)
        } else {
            Verifier::PublicKey(&der)
        };
        let body = self.body();
        if let Some(message) = self.bundle.get("messageSignature") {
            let signature = b64(message["signature"].as_str().unwrap());
            let sha256: [u8; 32] = match message["messageDigest"]["digest"].as_str() {
                Some(digest) => b64(digest).try_into().unwrap(),
                None => Sha256::digest(read(conformance_dir().join("bundle-verify").join("a.txt")))
                    .into(),
            };
            let signed = Signed::Message {
                sha256: &sha256,
                signature: &signature,
            };
            return check_body(&body, &signed, &verifier);
        }
        let envelope = &self.bundle["dsseEnvelope"];
        let payload = b64(envelope["payload"].as_str().unwrap());
        let signatures: Vec<Vec<u8>> = envelope["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| b64(s["sig"].as_str().unwrap()))
            .collect();
        let signed = Signed::Dsse {
            payload: &payload,
            payload_type: envelope["payloadType"].as_str().unwrap(),
            signatures: &signatures,
            envelope_json: None,
        };
        check_body(&body, &signed, &verifier)
    }
}

#[test]
fn accepts_every_happy_conformance_entry() {
    let mut checked = 0;
    for case in Case::all() {
        let name = &case.name;
        if name.ends_with("_fail") {
            continue;
        }
        if case.has_set() {
            assert_eq!(case.set(), Ok(()), "{name}: SET");
        }
        assert_eq!(case.inclusion(), Ok(()), "{name}: inclusion proof");
        let checkpoint = case.proof_with_checkpoint();
        assert!(checkpoint.is_ok(), "{name}: checkpoint {checkpoint:?}");
        let kind = case.check_body();
        assert!(kind.is_ok(), "{name}: body {kind:?}");
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} happy cases");
}

#[test]
fn reports_the_entry_kind_checked() {
    let kind = |name| Case::load(name).check_body();
    assert_eq!(kind("happy-path-v0.3"), Ok(("hashedrekord", "0.0.1")));
    assert_eq!(kind("happy-path-intoto-in-dsse-v3"), Ok(("dsse", "0.0.1")));
    assert_eq!(
        kind("intoto-with-custom-trust-root"),
        Ok(("intoto", "0.0.2"))
    );
    assert_eq!(kind("rekor2-happy-path"), Ok(("hashedrekord", "0.0.2")));
    assert_eq!(
        kind("rekor2-dsse-happy-path"),
        Ok(("hashedrekord", "0.0.2"))
    );
    assert_eq!(
        kind("managed-key-happy-path"),
        Ok(("hashedrekord", "0.0.1"))
    );
}

#[test]
fn rejects_each_tlog_failure_for_its_reason() {
    let case = |name| Case::load(name);
    assert!(matches!(
        case("set-invalid-signature_fail").set(),
        Err(TlogError::BadSetSignature(_))
    ));
    assert_eq!(
        case("invalid-inclusion-proof_fail").inclusion(),
        Err(TlogError::InclusionMismatch)
    );
    assert!(matches!(
        case("invalid-checkpoint-signature_fail").proof_with_checkpoint(),
        Err(TlogError::BadCheckpointSignature { .. })
    ));
    // A real, validly signed checkpoint of a later tree: it does not vouch for this proof.
    assert_eq!(
        case("checkpoint-wrong-roothash_fail")
            .proof_with_checkpoint()
            .map(|_| ()),
        Err(TlogError::RootHashMismatch)
    );
    assert_eq!(
        case("rekor2-checkpoint-missing-origin_fail")
            .proof_with_checkpoint()
            .map(|_| ()),
        Err(TlogError::CheckpointMissingOrigin)
    );
    assert_eq!(
        case("rekor2-checkpoint-missing-root-hash_fail")
            .proof_with_checkpoint()
            .map(|_| ()),
        Err(TlogError::CheckpointMissingRootHash)
    );
    // Signed by the trusted key's hint under another log's name: not a trusted signature.
    assert_eq!(
        case("rekor2-checkpoint-no-matching-signature_fail")
            .proof_with_checkpoint()
            .map(|_| ()),
        Err(TlogError::NoTrustedCheckpointSignature)
    );
    // CVE-2022-36056 class: a valid entry for other material.
    for (name, field) in [
        ("wrong-hashedrekord-entry_fail", "spec.data.hash"),
        ("dsse-mismatch-envelope_fail", "spec.payloadHash"),
        (
            "rekor2-dsse-mismatch-envelope_fail",
            "spec.hashedRekordV002.data.digest",
        ),
    ] {
        assert_eq!(
            case(name).check_body(),
            Err(TlogError::BodyMismatch { field }),
            "{name}"
        );
    }
}

#[test]
fn log_key_must_be_valid_at_the_integrated_time() {
    let mut case = Case::load("happy-path-v0.1");
    let integrated = Case::int(&case.entry()["integratedTime"]);
    for log in &mut case.root.tlogs {
        log.valid_for = Validity {
            start: integrated + 1,
            end: None,
        };
    }
    assert!(matches!(
        case.set(),
        Err(TlogError::LogKeyNotValidAt { at, .. }) if at == integrated
    ));
    assert!(matches!(
        case.proof_with_checkpoint(),
        Err(TlogError::LogKeyNotValidAt { .. })
    ));
    case.root.tlogs.clear();
    assert!(matches!(case.set(), Err(TlogError::UnknownLog { .. })));
}

#[test]
fn checks_rekor_v2_entries_in_both_directions() {
    // A Rekor v2 message entry does not vouch for a DSSE envelope, and the other way round.
    let message = Case::load("rekor2-happy-path");
    let dsse = Case::load("rekor2-dsse-happy-path");
    let (_, leaf) = message.verifier_der().unwrap();
    let body = message.body();
    let payload = b"{}".to_vec();
    let signatures = vec![vec![1u8]];
    let signed = Signed::Dsse {
        payload: &payload,
        payload_type: crate::dsse::IN_TOTO,
        signatures: &signatures,
        envelope_json: None,
    };
    assert_eq!(
        check_body(&body, &signed, &Verifier::Certificate(&leaf)),
        Err(TlogError::BodyMismatch {
            field: "spec.hashedRekordV002.data.digest"
        })
    );
    // Two DSSE signatures cannot be one Rekor v2 entry.
    let (_, dsse_leaf) = dsse.verifier_der().unwrap();
    let envelope = &dsse.bundle["dsseEnvelope"];
    let payload = b64(envelope["payload"].as_str().unwrap());
    let sig = b64(envelope["signatures"][0]["sig"].as_str().unwrap());
    let two = vec![sig.clone(), sig];
    let signed = Signed::Dsse {
        payload: &payload,
        payload_type: crate::dsse::IN_TOTO,
        signatures: &two,
        envelope_json: None,
    };
    assert_eq!(
        check_body(&dsse.body(), &signed, &Verifier::Certificate(&dsse_leaf)),
        Err(TlogError::BodyMismatch {
            field: "spec.hashedRekordV002.signature.content"
        })
    );
    // The right material, but a public key where the entry names a certificate.
    let signature = b64(message.bundle["messageSignature"]["signature"]
        .as_str()
        .unwrap());
    let sha256: [u8; 32] = b64(
        message.bundle["messageSignature"]["messageDigest"]["digest"]
            .as_str()
            .unwrap(),
    )
    .try_into()
    .unwrap();
    let signed = Signed::Message {
        sha256: &sha256,
        signature: &signature,
    };
    assert_eq!(
        check_body(&body, &signed, &Verifier::Certificate(&leaf)),
        Ok(("hashedrekord", "0.0.2"))
    );
    assert_eq!(
        check_body(&body, &signed, &Verifier::PublicKey(&leaf)),
        Err(TlogError::BodyMismatch {
            field: "spec.hashedRekordV002.signature.verifier"
        })
    );
}

#[test]
fn rejects_unknown_kinds_and_garbage_bodies() {
    let sha256 = [0u8; 32];
    let signed = Signed::Message {
        sha256: &sha256,
        signature: b"sig",
    };
    let verifier = Verifier::PublicKey(b"key");
    assert_eq!(
        check_body(
            br#"{"apiVersion":"0.0.1","kind":"helm","spec":{}}"#,
            &signed,
            &verifier
        ),
        Err(TlogError::UnsupportedKind {
            kind: "helm".to_owned(),
            version: "0.0.1".to_owned()
        })
    );
    assert!(matches!(
        check_body(
            br#"{"apiVersion":"0.0.9","kind":"hashedrekord","spec":{}}"#,
            &signed,
            &verifier
        ),
        Err(TlogError::UnsupportedKind { .. })
    ));
    for body in [
        &b""[..],
        b"[]",
        b"{}",
        br#"{"apiVersion":"0.0.1","kind":"hashedrekord"}"#,
        br#"{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{}}}"#,
        br#"{"apiVersion":"0.0.1","kind":"dsse","spec":{"signatures":"x"}}"#,
    ] {
        assert!(
            matches!(
                check_body(body, &signed, &verifier),
                Err(TlogError::MalformedBody(_))
            ),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    // A message signature against a DSSE entry.
    let dsse = Case::load("happy-path-intoto-in-dsse-v3");
    assert_eq!(
        check_body(&dsse.body(), &signed, &verifier),
        Err(TlogError::BodyMismatch { field: "kind" })
    );
}

#[test]
fn checks_intoto_v001_entries_against_the_stored_envelope() {
    // Rekor intoto 0.0.1 as cosign logged legacy `.att` layers, built around a real envelope.
    let case = Case::load("happy-path-intoto-in-dsse-v3");
    let (_, leaf) = case.verifier_der().unwrap();
    let envelope = &case.bundle["dsseEnvelope"];
    let envelope_json = serde_json::to_vec(envelope).unwrap();
    let payload = b64(envelope["payload"].as_str().unwrap());
    let signatures = vec![b64(envelope["signatures"][0]["sig"].as_str().unwrap())];
    let pem =
        pem_rfc7468::encode_string("CERTIFICATE", pem_rfc7468::LineEnding::LF, &leaf).unwrap();
    let hex = |bytes: &[u8]| crate::digest::hex_lower(&Sha256::digest(bytes));
    let body = |payload_hash: Option<&str>| {
        let mut content = serde_json::json!({
            "hash": {"algorithm": "sha256", "value": hex(&envelope_json)},
        });
        if let Some(value) = payload_hash {
            content["payloadHash"] = serde_json::json!({"algorithm": "sha256", "value": value});
        }
        serde_json::to_vec(&serde_json::json!({
            "apiVersion": "0.0.1",
            "kind": "intoto",
            "spec": {
                "content": content,
                "publicKey": base64::engine::general_purpose::STANDARD.encode(&pem),
            },
        }))
        .unwrap()
    };
    let signed = |envelope_json| Signed::Dsse {
        payload: &payload,
        payload_type: crate::dsse::IN_TOTO,
        signatures: &signatures,
        envelope_json,
    };
    let verifier = Verifier::Certificate(&leaf);
    let payload_hash = hex(&payload);
    let full = body(Some(&payload_hash));
    assert_eq!(
        check_body(&full, &signed(Some(&envelope_json)), &verifier),
        Ok(("intoto", "0.0.1"))
    );
    assert_eq!(
        check_body(&full, &signed(None), &verifier),
        Ok(("intoto", "0.0.1"))
    );
    // Another stored envelope, another payload, another signer.
    assert_eq!(
        check_body(&full, &signed(Some(b"{}")), &verifier),
        Err(TlogError::BodyMismatch {
            field: "spec.content.hash"
        })
    );
    assert_eq!(
        check_body(&body(Some(&hex(b"other"))), &signed(None), &verifier),
        Err(TlogError::BodyMismatch {
            field: "spec.content.payloadHash"
        })
    );
    assert_eq!(
        check_body(&full, &signed(None), &Verifier::Certificate(b"other")),
        Err(TlogError::BodyMismatch {
            field: "spec.publicKey"
        })
    );
    // Neither hash can be checked: nothing ties the entry to this content.
    let bare = body(None);
    assert_eq!(
        check_body(&bare, &signed(None), &verifier),
        Err(TlogError::BodyMismatch {
            field: "spec.content.payloadHash"
        })
    );
    assert_eq!(
        check_body(&bare, &signed(Some(&envelope_json)), &verifier),
        Ok(("intoto", "0.0.1"))
    );
}
