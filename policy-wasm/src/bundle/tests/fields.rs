//! Every bundle field a signature does not cover, altered one at a time (issue 8, item 1): a
//! hint may change without changing the verdict; anything else must reject, for the right
//! reason. The bundles are real conformance vectors: Rekor v2 (`rekor2-happy-path`: no SET, an
//! RFC 3161 timestamp), Rekor v1 with SET and timestamp (`managed-key-happy-path`), a v0.1
//! chain (`happy-path-v0.1`) and a DSSE bundle (`happy-path-intoto-in-dsse-v3`).

use serde_json::{Value, json};

use super::super::*;
use crate::authority::{Identity, Matcher};
use crate::image::TlogPolicy;
use crate::keys::PublicKey;
use crate::testdata::{conformance_dir, read};
use crate::tlog::TlogError;
use crate::trust_root::TrustedRoot;
use crate::verdict::Trail;

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

/// A 32-byte log ID no trust root has.
const UNKNOWN_LOG_ID: &str = "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=";
/// The production (and staging) Rekor v1 log ID, trusted in every root used here.
const REKOR_V1_LOG_ID: &str = "wNI9atQGlz+VWfO6LRygH4QUfY/8W4RFwiT5i5WRgB0=";
/// The staging Rekor v1 log ID in `rekor2-happy-path`'s trust root.
const STAGING_V1_LOG_ID: &str = "0y8wo8MtY5wrdiIFohx7sHeI5oKDpK5vQhGHI6G+pJY=";

type Edit = fn(&mut Value);

/// What a row expects.
enum Expect {
    /// Still verifies: the field is a hint.
    Verified,
    /// Rejected, and the error is the one described.
    Rejected(fn(&BundleError) -> bool),
}

struct Row {
    what: &'static str,
    case: &'static str,
    bundle: Edit,
    root: Edit,
    expect: Expect,
}

fn none(_: &mut Value) {}

fn entry(bundle: &mut Value) -> &mut Value {
    &mut bundle["verificationMaterial"]["tlogEntries"][0]
}

fn rows() -> Vec<Row> {
    use Expect::{Rejected, Verified};
    let row = |what, case, bundle: Edit, root: Edit, expect| Row {
        what,
        case,
        bundle,
        root,
        expect,
    };
    vec![
        // Rekor v2: logId chooses the log; nothing signs it.
        row("v2 unchanged", "rekor2-happy-path", none, none, Verified),
        row(
            "v2 logId unknown",
            "rekor2-happy-path",
            |b| entry(b)["logId"]["keyId"] = json!(UNKNOWN_LOG_ID),
            none,
            Rejected(|e| matches!(e, BundleError::Tlog(TlogError::UnknownLog { .. }))),
        ),
        row(
            "v2 logId of another trusted log",
            "rekor2-happy-path",
            |b| entry(b)["logId"]["keyId"] = json!(STAGING_V1_LOG_ID),
            none,
            Rejected(|e| {
                matches!(
                    e,
                    BundleError::Tlog(TlogError::NoTrustedCheckpointSignature)
                )
            }),
        ),
        row(
            "v2 log key expired before the timestamp",
            "rekor2-happy-path",
            none,
            |root| expire_log(root, "8w1amZ2S5mJIQkQmPxdMuOrL/oJkvFg9MnQXmeOCXck="),
            Rejected(|e| matches!(e, BundleError::LogKeyNotValidAt(_))),
        ),
        row(
            "v2 log key expired, logId unknown (the reported defect)",
            "rekor2-happy-path",
            |b| entry(b)["logId"]["keyId"] = json!(UNKNOWN_LOG_ID),
            |root| expire_log(root, "8w1amZ2S5mJIQkQmPxdMuOrL/oJkvFg9MnQXmeOCXck="),
            Rejected(|e| matches!(e, BundleError::Tlog(TlogError::UnknownLog { .. }))),
        ),
        row(
            "v2 logIndex (a hint: the proof's index is what the tree checks)",
            "rekor2-happy-path",
            |b| entry(b)["logIndex"] = json!("736"),
            none,
            Verified,
        ),
        row(
            "v2 integratedTime without a SET (never a verified time)",
            "rekor2-happy-path",
            |b| entry(b)["integratedTime"] = json!("1000"),
            none,
            Verified,
        ),
        row(
            "v2 kindVersion.version",
            "rekor2-happy-path",
            |b| entry(b)["kindVersion"]["version"] = json!("0.0.1"),
            none,
            Rejected(kind_version_mismatch),
        ),
        row(
            "v2 kindVersion.kind",
            "rekor2-happy-path",
            |b| entry(b)["kindVersion"]["kind"] = json!("dsse"),
            none,
            Rejected(kind_version_mismatch),
        ),
        row(
            "v2 inclusionProof.logIndex",
            "rekor2-happy-path",
            |b| bump_string(&mut entry(b)["inclusionProof"]["logIndex"]),
            none,
            Rejected(|e| matches!(e, BundleError::Tlog(_))),
        ),
        row(
            "v2 inclusionProof.treeSize",
            "rekor2-happy-path",
            |b| bump_string(&mut entry(b)["inclusionProof"]["treeSize"]),
            none,
            Rejected(|e| matches!(e, BundleError::Tlog(_))),
        ),
        row(
            "v2 inclusionProof.rootHash",
            "rekor2-happy-path",
            |b| entry(b)["inclusionProof"]["rootHash"] = json!(UNKNOWN_LOG_ID),
            none,
            Rejected(|e| matches!(e, BundleError::Tlog(_))),
        ),
        row(
            "v2 checkpoint text",
            "rekor2-happy-path",
            |b| {
                let note = &mut entry(b)["inclusionProof"]["checkpoint"]["envelope"];
                let text = note.as_str().unwrap().replacen('\n', "\nX", 1);
                *note = json!(text);
            },
            none,
            Rejected(|e| matches!(e, BundleError::Tlog(_))),
        ),
        row(
            "v2 canonicalizedBody",
            "rekor2-happy-path",
            |b| entry(b)["canonicalizedBody"] = json!("e30="),
            none,
            Rejected(|e| matches!(e, BundleError::Tlog(TlogError::InclusionMismatch))),
        ),
        row(
            "v2 timestamps removed (no verified time, no SET)",
            "rekor2-happy-path",
            |b| {
                b["verificationMaterial"]
                    .as_object_mut()
                    .unwrap()
                    .remove("timestampVerificationData");
            },
            none,
            Rejected(|e| matches!(e, BundleError::MissingInclusionPromise)),
        ),
        // Threshold semantics (issue 9): a timestamp that does not verify is not counted.
        row(
            "v2 a second timestamp, corrupted (not counted)",
            "rekor2-happy-path",
            |b| {
                let corrupted = corrupted(&timestamps(b)[0]);
                timestamps(b).push(corrupted);
            },
            none,
            Verified,
        ),
        row(
            "v2 only a corrupted timestamp (no verified time)",
            "rekor2-happy-path",
            |b| timestamps(b)[0] = corrupted(&timestamps(b)[0]),
            none,
            Rejected(|e| matches!(e, BundleError::Timestamp(_))),
        ),
        row(
            "v2 the same timestamp twice",
            "rekor2-happy-path",
            |b| {
                let again = timestamps(b)[0].clone();
                timestamps(b).push(again);
            },
            none,
            Rejected(|e| matches!(e, BundleError::DuplicateTimestamp)),
        ),
        row(
            "v2 mediaType relabelled v0.1 (requires a SET it lacks)",
            "rekor2-happy-path",
            |b| b["mediaType"] = json!("application/vnd.dev.sigstore.bundle+json;version=0.1"),
            none,
            Rejected(|e| {
                matches!(
                    e,
                    BundleError::Parse(_) | BundleError::MissingInclusionPromise
                )
            }),
        ),
        // Rekor v1 with a SET and a timestamp, signed by a key.
        row(
            "v1 unchanged",
            "managed-key-happy-path",
            none,
            none,
            Verified,
        ),
        row(
            "v1 publicKey.hint (a hint: the key comes from the verifier)",
            "managed-key-happy-path",
            |b| b["verificationMaterial"]["publicKey"]["hint"] = json!("c29tZW9uZSBlbHNl"),
            none,
            Verified,
        ),
        row(
            "v1 logIndex (signed by the SET)",
            "managed-key-happy-path",
            |b| bump_string(&mut entry(b)["logIndex"]),
            none,
            Rejected(|e| matches!(e, BundleError::Tlog(TlogError::BadSetSignature(_)))),
        ),
        row(
            "v1 integratedTime (signed by the SET)",
            "managed-key-happy-path",
            |b| bump_string(&mut entry(b)["integratedTime"]),
            none,
            Rejected(|e| matches!(e, BundleError::Tlog(TlogError::BadSetSignature(_)))),
        ),
        row(
            "v1 logId unknown",
            "managed-key-happy-path",
            |b| entry(b)["logId"]["keyId"] = json!(UNKNOWN_LOG_ID),
            none,
            Rejected(|e| matches!(e, BundleError::Tlog(TlogError::UnknownLog { .. }))),
        ),
        row(
            "v1 without SET, timestamp only",
            "managed-key-happy-path",
            remove_set,
            none,
            Verified,
        ),
        row(
            "v1 without SET, logId unknown",
            "managed-key-happy-path",
            |b| {
                remove_set(b);
                entry(b)["logId"]["keyId"] = json!(UNKNOWN_LOG_ID);
            },
            none,
            Rejected(|e| matches!(e, BundleError::Tlog(TlogError::UnknownLog { .. }))),
        ),
        row(
            "v1 without SET, log key expired before the timestamp",
            "managed-key-happy-path",
            remove_set,
            |root| expire_log(root, REKOR_V1_LOG_ID),
            Rejected(|e| matches!(e, BundleError::LogKeyNotValidAt(_))),
        ),
        row(
            "v1 with SET, log key expired before the integrated time",
            "managed-key-happy-path",
            none,
            |root| expire_log(root, REKOR_V1_LOG_ID),
            Rejected(|e| matches!(e, BundleError::Tlog(TlogError::LogKeyNotValidAt { .. }))),
        ),
        // A v0.1 chain: the first certificate is the leaf, whatever else the chain holds.
        row("v0.1 unchanged", "happy-path-v0.1", none, none, Verified),
        row(
            "v0.1 chain with the leaf not first",
            "happy-path-v0.1",
            |b| {
                let chain = &mut b["verificationMaterial"]["x509CertificateChain"]["certificates"];
                let leaf = chain[0].clone();
                let intermediate = json!({ "rawBytes": intermediate_der_b64() });
                *chain = json!([intermediate, leaf]);
            },
            none,
            Rejected(|e| matches!(e, BundleError::Certificate(_))),
        ),
        // DSSE: the key id is a hint, the payload type is signed (PAE).
        row(
            "dsse unchanged",
            "happy-path-intoto-in-dsse-v3",
            none,
            none,
            Verified,
        ),
        row(
            "dsse signature keyid (a hint)",
            "happy-path-intoto-in-dsse-v3",
            |b| b["dsseEnvelope"]["signatures"][0]["keyid"] = json!("someone"),
            none,
            Verified,
        ),
        row(
            "dsse payloadType",
            "happy-path-intoto-in-dsse-v3",
            |b| b["dsseEnvelope"]["payloadType"] = json!("application/json"),
            none,
            Rejected(|e| matches!(e, BundleError::WrongPayloadType(_))),
        ),
    ]
}

#[test]
fn every_unsigned_field_is_a_hint_or_rejects() {
    let mut failures = Vec::new();
    for row in rows() {
        let outcome = verify_row(&row);
        let ok = match (&row.expect, &outcome) {
            (Expect::Verified, Ok(_)) => true,
            (Expect::Rejected(matches), Err(err)) => matches(err),
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{} ({}): got {:?}",
                row.what,
                row.case,
                outcome.err()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn integrated_time_without_set_is_never_a_verified_time() {
    let row = Row {
        what: "",
        case: "rekor2-happy-path",
        bundle: |b| entry(b)["integratedTime"] = json!("1000"),
        root: none,
        expect: Expect::Verified,
    };
    let verified = verify_row(&row).unwrap();
    assert_eq!(verified.times.len(), 1);
    assert!(!verified.times.contains(&1000));
}

fn verify_row(row: &Row) -> Result<Verified, BundleError> {
    let dir = conformance_dir().join("bundle-verify").join(row.case);
    let mut bundle: Value =
        serde_json::from_slice(&read(dir.join("bundle.sigstore.json"))).unwrap();
    (row.bundle)(&mut bundle);
    let root_path = if dir.join("trusted_root.json").exists() {
        dir.join("trusted_root.json")
    } else {
        conformance_dir().join("trust/production/trusted_root.json")
    };
    let mut root: Value = serde_json::from_slice(&read(root_path)).unwrap();
    (row.root)(&mut root);
    let trust = TrustedRoot::parse(root.to_string().as_bytes()).unwrap();
    let artifact_bytes = read(conformance_dir().join("bundle-verify/a.txt"));
    let artifact = Artifact::Bytes(&artifact_bytes);
    let identities = [Identity {
        issuer: Matcher::Exact(ISSUER.to_owned()),
        subject: Matcher::Exact(IDENTITY.to_owned()),
        github_workflow: Default::default(),
    }];
    let key_pem = std::fs::read_to_string(dir.join("key.pub")).ok();
    let key = key_pem.as_deref().map(|pem| {
        let (_, der) = pem_rfc7468::decode_vec(pem.trim().as_bytes()).unwrap();
        (PublicKey::from_pem(pem).unwrap(), der)
    });
    let authority = match &key {
        Some((key, spki_der)) => BundleAuthority::Key { key, spki_der },
        None => BundleAuthority::Keyless(&identities),
    };
    let parsed = Bundle::parse(bundle.to_string().as_bytes())?;
    verify(
        &parsed,
        &artifact,
        &authority,
        &trust,
        TlogPolicy::Require,
        &mut Trail::default(),
    )
}

/// Ends the validity of the trusted log `log_id` the day after it started.
fn expire_log(root: &mut Value, log_id: &str) {
    let log = root["tlogs"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|log| log["logId"]["keyId"] == log_id)
        .unwrap();
    let start = log["publicKey"]["validFor"]["start"].as_str().unwrap();
    let start = crate::time::parse_rfc3339(start).unwrap();
    log["publicKey"]["validFor"]["end"] = json!(crate::time::format_rfc3339(start + 86_400));
}

fn kind_version_mismatch(err: &BundleError) -> bool {
    matches!(
        err,
        BundleError::Tlog(TlogError::BodyMismatch {
            field: "kindVersion"
        })
    )
}

fn remove_set(bundle: &mut Value) {
    entry(bundle)
        .as_object_mut()
        .unwrap()
        .remove("inclusionPromise");
}

/// The bundle's `rfc3161Timestamps` list.
fn timestamps(bundle: &mut Value) -> &mut Vec<Value> {
    bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
        .as_array_mut()
        .unwrap()
}

/// A timestamp entry whose DER has one byte flipped in the middle (still base64).
fn corrupted(timestamp: &Value) -> Value {
    use base64::Engine as _;
    let mut der = crate::testdata::b64(timestamp["signedTimestamp"].as_str().unwrap());
    let middle = der.len() / 2;
    der[middle] ^= 0x01;
    json!({ "signedTimestamp": base64::engine::general_purpose::STANDARD.encode(der) })
}

/// Adds one to a decimal string field.
fn bump_string(field: &mut Value) {
    let n: u64 = field.as_str().unwrap().parse().unwrap();
    *field = json!((n + 1).to_string());
}

/// The production Fulcio intermediate (DER, base64), from the production trust root.
fn intermediate_der_b64() -> String {
    let root: Value = serde_json::from_slice(&read(
        conformance_dir().join("trust/production/trusted_root.json"),
    ))
    .unwrap();
    root["certificateAuthorities"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find_map(|ca| {
            let chain = ca["certChain"]["certificates"].as_array()?;
            (chain.len() > 1).then(|| chain[0]["rawBytes"].as_str().unwrap().to_owned())
        })
        .unwrap()
}
