//! Every field the protobuf-specs mark REQUIRED, removed in turn from a real bundle (issue 9,
//! "shape"): the bundle no longer parses, and the error names the field. Each row also sets
//! the field to its empty value, which protojson cannot tell from absent. The intact bundle
//! parses first, so a row cannot pass by testing nothing.

use serde_json::Value;

use super::*;
use crate::error::Reason;

/// Removes the field at `pointer` (a JSON pointer) from the bundle.
fn without(bundle: &Value, pointer: &str) -> Value {
    let mut edited = bundle.clone();
    let (parent, field) = pointer.rsplit_once('/').unwrap();
    edited
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("{pointer}: no parent"))
        .remove(field)
        .unwrap_or_else(|| panic!("{pointer}: not in the bundle"));
    edited
}

/// Sets the field at `pointer` to the empty value of its type.
fn emptied(bundle: &Value, pointer: &str) -> Value {
    let mut edited = bundle.clone();
    let slot = edited.pointer_mut(pointer).unwrap();
    *slot = match slot {
        Value::String(_) => Value::String(String::new()),
        Value::Array(_) => Value::Array(Vec::new()),
        Value::Object(_) => Value::Object(serde_json::Map::new()),
        other => panic!("{pointer}: {other}"),
    };
    edited
}

fn parse(value: &Value) -> Result<Bundle, ParseError> {
    Bundle::parse(value.to_string().as_bytes())
}

#[test]
fn every_required_field_removed_is_refused_by_name() {
    let rows: &[(&str, &str, &str)] = &[
        (
            "happy-path-v0.3",
            "/verificationMaterial",
            "verificationMaterial",
        ),
        (
            "happy-path-v0.3",
            "/verificationMaterial/certificate/rawBytes",
            "certificate.rawBytes",
        ),
        (
            "happy-path-v0.2",
            "/verificationMaterial/x509CertificateChain/certificates/0/rawBytes",
            "x509CertificateChain.certificates.rawBytes",
        ),
        (
            "happy-path-v0.3",
            "/messageSignature/signature",
            "messageSignature.signature",
        ),
        (
            "happy-path-v0.3",
            "/verificationMaterial/tlogEntries/0/logIndex",
            "tlogEntries.logIndex",
        ),
        (
            "happy-path-v0.3",
            "/verificationMaterial/tlogEntries/0/logId",
            "tlogEntries.logId",
        ),
        (
            "happy-path-v0.3",
            "/verificationMaterial/tlogEntries/0/logId/keyId",
            "tlogEntries.logId.keyId",
        ),
        (
            "happy-path-v0.3",
            "/verificationMaterial/tlogEntries/0/kindVersion",
            "tlogEntries.kindVersion",
        ),
        (
            "happy-path-v0.3",
            "/verificationMaterial/tlogEntries/0/kindVersion/kind",
            "tlogEntries.kindVersion.kind",
        ),
        (
            "happy-path-v0.3",
            "/verificationMaterial/tlogEntries/0/kindVersion/version",
            "tlogEntries.kindVersion.version",
        ),
        (
            "happy-path-v0.3",
            "/verificationMaterial/tlogEntries/0/canonicalizedBody",
            "tlogEntries.canonicalizedBody",
        ),
        (
            "happy-path-v0.3",
            "/verificationMaterial/tlogEntries/0/inclusionPromise/signedEntryTimestamp",
            "inclusionPromise.signedEntryTimestamp",
        ),
        (
            "happy-path-v0.3",
            "/verificationMaterial/tlogEntries/0/inclusionProof",
            "tlogEntries.inclusionProof",
        ),
        (
            "happy-path-v0.2",
            "/verificationMaterial/tlogEntries/0/inclusionProof",
            "tlogEntries.inclusionProof",
        ),
        (
            "happy-path-v0.3",
            "/verificationMaterial/tlogEntries/0/inclusionProof/logIndex",
            "inclusionProof.logIndex",
        ),
        (
            "happy-path-v0.3",
            "/verificationMaterial/tlogEntries/0/inclusionProof/rootHash",
            "inclusionProof.rootHash",
        ),
        (
            "happy-path-v0.3",
            "/verificationMaterial/tlogEntries/0/inclusionProof/treeSize",
            "inclusionProof.treeSize",
        ),
        (
            "happy-path-v0.3",
            "/verificationMaterial/tlogEntries/0/inclusionProof/checkpoint",
            "inclusionProof.checkpoint",
        ),
        (
            "happy-path-v0.3",
            "/verificationMaterial/tlogEntries/0/inclusionProof/checkpoint/envelope",
            "inclusionProof.checkpoint.envelope",
        ),
        (
            "rekor2-timestamp-with-embedded-cert",
            "/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0/signedTimestamp",
            "rfc3161Timestamps.signedTimestamp",
        ),
        (
            "happy-path-intoto-in-dsse-v3",
            "/dsseEnvelope/payload",
            "dsseEnvelope.payload",
        ),
        (
            "happy-path-intoto-in-dsse-v3",
            "/dsseEnvelope/payloadType",
            "dsseEnvelope.payloadType",
        ),
        (
            "happy-path-intoto-in-dsse-v3",
            "/dsseEnvelope/signatures",
            "dsseEnvelope.signatures",
        ),
        (
            "happy-path-intoto-in-dsse-v3",
            "/dsseEnvelope/signatures/0/sig",
            "dsseEnvelope.signatures.sig",
        ),
    ];
    for (case, pointer, field) in rows {
        let bundle: Value = serde_json::from_slice(&bundle(case)).unwrap();
        assert!(
            parse(&bundle).is_ok(),
            "{case}: the intact bundle must parse"
        );
        let removed = parse(&without(&bundle, pointer));
        assert_eq!(
            removed.err(),
            Some(ParseError::Missing(field)),
            "{case} without {pointer}"
        );
        // An emptied message is a present message; only strings, bytes and lists are checked
        // for emptiness.
        // int64 fields are strings in protojson, but "" is no number: not checked either.
        let value = bundle.pointer(pointer);
        let numeric = value
            .and_then(Value::as_str)
            .is_some_and(|text| text.parse::<i64>().is_ok());
        if !numeric && !matches!(value, Some(Value::Object(_))) {
            let empty = parse(&emptied(&bundle, pointer));
            assert_eq!(
                empty.err(),
                Some(ParseError::Missing(field)),
                "{case} with empty {pointer}"
            );
        }
    }
}

/// The exceptions the module docs name: a v0.1 bundle without an inclusion proof (or with one
/// that has no checkpoint), a Rekor v2
/// entry without an integrated time, and an audit path with no hashes all parse.
#[test]
fn what_protojson_leaves_out_is_not_required() {
    let v01: Value = serde_json::from_slice(&bundle("happy-path-v0.1")).unwrap();
    let without_proof = without(&v01, "/verificationMaterial/tlogEntries/0/inclusionProof");
    assert!(parse(&without_proof).is_ok());
    let pointer = "/verificationMaterial/tlogEntries/0/inclusionProof/checkpoint";
    let old_proof = parse(&without(&v01, pointer)).unwrap();
    assert_eq!(
        old_proof.tlog_entries[0].proof, None,
        "a v0.1 proof without checkpoint is ignored"
    );
    let v2: Value = serde_json::from_slice(&bundle("rekor2-happy-path")).unwrap();
    assert!(
        v2.pointer("/verificationMaterial/tlogEntries/0/integratedTime")
            .is_none()
    );
    assert!(parse(&v2).is_ok());
    let v03: Value = serde_json::from_slice(&bundle("happy-path-v0.3")).unwrap();
    let no_hashes = emptied(
        &v03,
        "/verificationMaterial/tlogEntries/0/inclusionProof/hashes",
    );
    assert!(parse(&no_hashes).is_ok());
}

/// The conformance cases without a REQUIRED inclusion proof, or its checkpoint, are refused
/// as they parse.
#[test]
fn conformance_cases_missing_required_fields_are_malformed() {
    assert_eq!(
        Bundle::parse(&bundle("invalid-inclusion-proof_fail")).err(),
        Some(ParseError::Missing("inclusionProof.checkpoint"))
    );
    assert_eq!(
        Bundle::parse(&bundle("intoto-missing-inclusion-proof_fail")).err(),
        Some(ParseError::Missing("tlogEntries.inclusionProof"))
    );
}

/// A bundle without a log entry, where the log is required, is `tlog-missing` (issue 9), not
/// `bundle-malformed`; two entries are malformed.
#[test]
fn no_log_entry_is_tlog_missing() {
    assert_eq!(BundleError::TlogEntryCount(0).reason(), Reason::TlogMissing);
    assert_eq!(
        BundleError::TlogEntryCount(2).reason(),
        Reason::BundleMalformed
    );
}
