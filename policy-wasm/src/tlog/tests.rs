//! Transparency log checks over the shared conformance bundles and legacy fixtures (read in
//! place: `SIGWARD_CONFORMANCE_DIR`, default `../shared/conformance`), plus generated notes and
//! trees for what the vectors do not cover.

use std::path::PathBuf;

use base64::Engine as _;
use ed25519_dalek::Signer as _;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::*;
use crate::keys::PublicKey;
use crate::trust_root::{TrustedRoot, Validity};

fn conformance_dir() -> PathBuf {
    std::env::var_os("SIGWARD_CONFORMANCE_DIR").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/conformance")),
        PathBuf::from,
    )
}

fn read(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn b64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

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
        value.as_str().map_or_else(
            || value.as_i64().unwrap_or(0),
            |text| text.parse().unwrap(),
        )
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
                None => Sha256::digest(read(
                    conformance_dir().join("bundle-verify").join("a.txt"),
                ))
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
    assert_eq!(kind("intoto-with-custom-trust-root"), Ok(("intoto", "0.0.2")));
    assert_eq!(kind("rekor2-happy-path"), Ok(("hashedrekord", "0.0.2")));
    assert_eq!(kind("rekor2-dsse-happy-path"), Ok(("hashedrekord", "0.0.2")));
    assert_eq!(kind("managed-key-happy-path"), Ok(("hashedrekord", "0.0.1")));
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

/// The legacy fixtures: `dev.sigstore.cosign/bundle` annotations of real `.sig` layers.
fn legacy(name: &str) -> (Value, Vec<u8>) {
    let dir = conformance_dir().join("../fixtures/legacy-keyless").join(name);
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
    let pem = annotations["dev.sigstore.cosign/certificate"].as_str().unwrap();
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
    let pem = annotations["dev.sigstore.cosign/certificate"].as_str().unwrap();
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

/// RFC 6962 §2.1 Merkle tree hash, written the slow, obvious way.
fn tree_hash(leaves: &[&[u8]]) -> [u8; 32] {
    match leaves {
        [] => Sha256::digest(b"").into(),
        [leaf] => leaf_hash(leaf),
        _ => {
            let split = leaves.len().next_power_of_two() / 2;
            let (left, right) = leaves.split_at(split);
            Sha256::new()
                .chain_update([1])
                .chain_update(tree_hash(left))
                .chain_update(tree_hash(right))
                .finalize()
                .into()
        }
    }
}

/// RFC 6962 §2.1.1 audit path of leaf `m`.
fn audit_path(m: usize, leaves: &[&[u8]]) -> Vec<[u8; 32]> {
    if leaves.len() <= 1 {
        return Vec::new();
    }
    let split = leaves.len().next_power_of_two() / 2;
    let (left, right) = leaves.split_at(split);
    if m < split {
        let mut path = audit_path(m, left);
        path.push(tree_hash(right));
        path
    } else {
        let mut path = audit_path(m - split, right);
        path.push(tree_hash(left));
        path
    }
}

#[test]
fn verifies_every_leaf_of_generated_trees() {
    let data: Vec<Vec<u8>> = (0u8..17).map(|i| vec![i; usize::from(i)]).collect();
    for size in 1..=data.len() {
        let leaves: Vec<&[u8]> = data[..size].iter().map(Vec::as_slice).collect();
        let root = tree_hash(&leaves);
        let n = u64::try_from(size).unwrap();
        for (m, leaf) in leaves.iter().enumerate() {
            let path = audit_path(m, &leaves);
            let i = u64::try_from(m).unwrap();
            assert_eq!(verify_inclusion(leaf, i, n, &path, &root), Ok(()), "{m}/{size}");
            // Another leaf, index, root or path fails.
            assert!(verify_inclusion(b"other", i, n, &path, &root).is_err());
            let mut bad_root = root;
            bad_root[0] ^= 1;
            assert_eq!(
                verify_inclusion(leaf, i, n, &path, &bad_root),
                Err(TlogError::InclusionMismatch)
            );
            if let Some(first) = path.first() {
                let mut bad = path.clone();
                bad[0] = [first[0] ^ 1; 32];
                assert!(verify_inclusion(leaf, i, n, &bad, &root).is_err());
                assert!(matches!(
                    verify_inclusion(leaf, i, n, &path[1..], &root),
                    Err(TlogError::WrongProofLength { .. })
                ));
            }
            let mut long = path.clone();
            long.push(root);
            assert!(matches!(
                verify_inclusion(leaf, i, n, &long, &root),
                Err(TlogError::WrongProofLength { .. })
            ));
        }
        assert_eq!(
            verify_inclusion(b"x", n, n, &[], &root),
            Err(TlogError::IndexOutOfRange {
                index: n,
                tree_size: n
            })
        );
    }
    assert_eq!(
        verify_inclusion(b"x", u64::MAX, u64::MAX, &[], &[0; 32]),
        Err(TlogError::IndexOutOfRange {
            index: u64::MAX,
            tree_size: u64::MAX
        })
    );
    assert!(matches!(
        verify_inclusion(b"x", u64::MAX - 1, u64::MAX, &[], &[0; 32]),
        Err(TlogError::WrongProofLength { .. })
    ));
}

/// A Rekor v2 style log with an Ed25519 key from a fixed seed, for notes the vectors lack.
fn test_log(name: &str) -> (ed25519_dalek::SigningKey, TransparencyLog) {
    let signing = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let verifying = signing.verifying_key();
    // C2SP signed-note key id: SHA-256(name || 0x0A || 0x01 || key).
    let log_id = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([0x0a, 0x01])
        .chain_update(verifying.as_bytes())
        .finalize()
        .to_vec();
    let log = TransparencyLog {
        base_url: format!("https://{name}"),
        key_details: "PKIX_ED25519".to_owned(),
        key: Ok(PublicKey::Ed25519(verifying)),
        key_der: Vec::new(),
        log_id,
        valid_for: Validity {
            start: 100,
            end: Some(200),
        },
    };
    (signing, log)
}

/// `— <name> <b64(hint || signature)>`.
fn signature_line(name: &str, hint: &[u8], signature: &[u8]) -> String {
    let mut bytes = hint[..4].to_vec();
    bytes.extend_from_slice(signature);
    format!(
        "\u{2014} {name} {}\n",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

fn signed_note(text: &str, signing: &ed25519_dalek::SigningKey, log: &TransparencyLog) -> String {
    let signature = signing.sign(text.as_bytes()).to_bytes();
    format!(
        "{text}\n{}",
        signature_line(log_name(log), &log.log_id, &signature)
    )
}

#[test]
fn verifies_generated_checkpoints() {
    let (signing, log) = test_log("log.example");
    let logs = std::slice::from_ref(&log);
    let root = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let text = format!("log.example\n42\n{root}\nTimestamp: 1\n");
    let checkpoint = verify_checkpoint(&signed_note(&text, &signing, &log), logs, Some(150)).unwrap();
    assert_eq!(checkpoint.origin, "log.example");
    assert_eq!(checkpoint.tree_size, 42);
    assert_eq!(checkpoint.root_hash, [9; 32]);
    assert_eq!(checkpoint.extensions, vec!["Timestamp: 1".to_owned()]);
    assert_eq!(checkpoint.log_id, log.log_id);

    // Rekor v1 style origin: `<name> - <tree id>`.
    let text = format!("log.example - 1193050959916656506\n42\n{root}\n");
    assert!(verify_checkpoint(&signed_note(&text, &signing, &log), logs, None).is_ok());

    // A correctly signed note for another origin.
    for origin in ["other.example", "log.example - x", "log.example.evil", "xlog.example"] {
        let text = format!("{origin}\n42\n{root}\n");
        assert!(
            matches!(
                verify_checkpoint(&signed_note(&text, &signing, &log), logs, None),
                Err(TlogError::CheckpointOriginMismatch { .. })
            ),
            "{origin}"
        );
    }

    // The key's validity.
    let text = format!("log.example\n42\n{root}\n");
    let note = signed_note(&text, &signing, &log);
    assert!(matches!(
        verify_checkpoint(&note, logs, Some(201)),
        Err(TlogError::LogKeyNotValidAt { at: 201, .. })
    ));

    // Witness cosignatures before or after the log's line are ignored; a line that names the
    // log with another key hint is too.
    let witness = signature_line("witness.example", &[1, 2, 3, 4], &[0; 72]);
    let stray = signature_line("log.example", &[1, 2, 3, 4], &[0; 64]);
    let log_line = note.strip_prefix(&format!("{text}\n")).unwrap();
    for signatures in [
        format!("{witness}{log_line}"),
        format!("{log_line}{witness}{stray}"),
    ] {
        assert!(
            verify_checkpoint(&format!("{text}\n{signatures}"), logs, None).is_ok(),
            "{signatures}"
        );
    }
    // Only witnesses: no trusted signature.
    assert_eq!(
        verify_checkpoint(&format!("{text}\n{witness}"), logs, None).map(|_| ()),
        Err(TlogError::NoTrustedCheckpointSignature)
    );
    // A trusted line that does not verify rejects the note, even next to a good one.
    let forged = signature_line("log.example", &log.log_id, &[0; 64]);
    assert!(matches!(
        verify_checkpoint(&format!("{text}\n{log_line}{forged}"), logs, None),
        Err(TlogError::BadCheckpointSignature { .. })
    ));
    // Text changed after signing.
    let tampered = note.replacen("42", "43", 1);
    assert!(matches!(
        verify_checkpoint(&tampered, logs, None),
        Err(TlogError::BadCheckpointSignature { .. })
    ));
}

#[test]
fn rejects_malformed_checkpoints_without_panicking() {
    let (signing, log) = test_log("log.example");
    let logs = std::slice::from_ref(&log);
    let root = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let cases: Vec<(String, TlogError)> = vec![
        (format!("42\n{root}\n"), TlogError::CheckpointMissingOrigin),
        (format!("\n42\n{root}\n"), TlogError::CheckpointMissingOrigin),
        (format!("log.example\n{root}\n"), TlogError::CheckpointBadTreeSize),
        (format!("log.example\n042\n{root}\n"), TlogError::CheckpointBadTreeSize),
        (format!("log.example\n-1\n{root}\n"), TlogError::CheckpointBadTreeSize),
        (
            format!("log.example\n99999999999999999999\n{root}\n"),
            TlogError::CheckpointBadTreeSize,
        ),
        ("log.example\n42\n".to_owned(), TlogError::CheckpointMissingRootHash),
        ("log.example\n42\nAAAA\n".to_owned(), TlogError::CheckpointBadRootHash),
        ("log.example\n42\n!!!\n".to_owned(), TlogError::CheckpointBadRootHash),
    ];
    for (text, expected) in cases {
        let note = signed_note(&text, &signing, &log);
        assert_eq!(verify_checkpoint(&note, logs, None).map(|_| ()), Err(expected), "{text:?}");
    }
    let text = format!("log.example\n42\n{root}\n");
    let note = signed_note(&text, &signing, &log);
    for bad in [
        String::new(),
        "\n\n".to_owned(),
        text.clone(),
        note.trim_end().to_owned(),
        note.replace('\u{2014}', "-"),
        format!("{text}\n\u{2014} log.example !!!\n"),
        format!("{text}\n\u{2014} log.example AAAA\n"),
        format!("{text}\n\u{2014} log.example\n"),
        format!("{text}\n\n"),
        note.replace("log.example\n42", "log.example\r\n42"),
    ] {
        let result = verify_checkpoint(&bad, logs, None);
        assert!(result.is_err(), "{bad:?}: {result:?}");
    }
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
    let signature = b64(message.bundle["messageSignature"]["signature"].as_str().unwrap());
    let sha256: [u8; 32] = b64(message.bundle["messageSignature"]["messageDigest"]["digest"]
        .as_str()
        .unwrap())
    .try_into()
    .unwrap();
    let signed = Signed::Message {
        sha256: &sha256,
        signature: &signature,
    };
    assert_eq!(check_body(&body, &signed, &Verifier::Certificate(&leaf)), Ok(("hashedrekord", "0.0.2")));
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
