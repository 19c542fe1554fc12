//! Entry consistency: the logged entry body must describe exactly the material being verified, its
//! signature, signed digest or envelope, and signer (docs/formats/sigstore-bundle.md,
//! "Step 8: entry consistency"; the bodies in docs/formats/rekor.md, "Entry bodies"). Without this
//! check a valid log entry for one signature can vouch for another (CVE-2022-36056,
//! GHSA-8gw7-4j42-w388 in cosign).
//!
//! Every kind's fields are compared as decoded values (digests, signature bytes, DER), not as
//! text, so equivalent encodings (PEM line breaks, hex case) do not matter. This module never
//! performs I/O.

use base64::Engine as _;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};

use super::TlogError;
use crate::digest::hex_lower;
use crate::dsse::pae;

/// Who signed: what the entry's public key field must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verifier<'a> {
    /// A certificate (the Fulcio leaf), DER.
    Certificate(&'a [u8]),
    /// A public key, DER SubjectPublicKeyInfo.
    PublicKey(&'a [u8]),
}

/// What was signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signed<'a> {
    /// A signature over an artifact (a bundle's `messageSignature`, a legacy `.sig` layer).
    Message {
        /// SHA-256 of the artifact (of the layer blob for a `.sig` layer).
        sha256: &'a [u8; 32],
        /// The signature bytes.
        signature: &'a [u8],
    },
    /// A DSSE envelope.
    Dsse {
        /// The payload, decoded.
        payload: &'a [u8],
        /// `payloadType`.
        payload_type: &'a str,
        /// The envelope's signatures, decoded.
        signatures: &'a [Vec<u8>],
        /// The envelope JSON exactly as stored (a legacy `.att` layer blob), to check the
        /// entry's envelope hash; `None` for bundles, whose envelope is re-encoded JSON.
        envelope_json: Option<&'a [u8]>,
    },
}

/// Checks that `body` (the decoded `canonicalizedBody` or annotation `Payload.body`) describes
/// `signed` by `verifier`, and returns the entry's kind and version. Accepted kinds:
///
/// * `hashedrekord` 0.0.1: data hash SHA-256 of the artifact, signature, PEM of the signer;
/// * `hashedrekord` 0.0.2 (Rekor v2): the same in protobuf JSON; for DSSE the digest is
///   SHA-256 of the PAE and the envelope must have exactly one signature;
/// * `dsse` 0.0.1: payload hash, every signature with the signer as verifier, and the envelope
///   hash when the envelope JSON is given;
/// * `intoto` 0.0.1 (legacy `.att` layers): signer, payload hash when logged, and the envelope
///   hash when the envelope JSON is given (one of the two hashes must be checked);
/// * `intoto` 0.0.2: payload type, payload hash, payload and signatures (both base64 of the
///   envelope's base64 text), signer, and the envelope hash when the envelope JSON is given;
/// * `rekord` 0.0.1 (early cosign): data hash, x509 signature, PEM of the signer.
///
/// # Errors
///
/// [`TlogError::MalformedBody`] when the body is not JSON of its kind's shape,
/// [`TlogError::UnsupportedKind`] for other kinds and versions, and
/// [`TlogError::BodyMismatch`] naming the first field that does not describe the material
/// (`kind` when a message signature meets a DSSE entry or the other way round).
pub fn check_body(
    body: &[u8],
    signed: &Signed<'_>,
    verifier: &Verifier<'_>,
) -> Result<(&'static str, &'static str), TlogError> {
    let entry: Entry = serde_json::from_slice(body).map_err(malformed)?;
    match (entry.kind.as_str(), entry.api_version.as_str()) {
        ("hashedrekord", "0.0.1") => {
            hashed_rekord_v001(spec(entry.spec)?, signed, verifier)?;
            Ok(("hashedrekord", "0.0.1"))
        }
        ("hashedrekord", "0.0.2") => {
            hashed_rekord_v002(spec(entry.spec)?, signed, verifier)?;
            Ok(("hashedrekord", "0.0.2"))
        }
        ("dsse", "0.0.1") => {
            dsse_v001(spec(entry.spec)?, signed, verifier)?;
            Ok(("dsse", "0.0.1"))
        }
        ("intoto", "0.0.1") => {
            intoto_v001(spec(entry.spec)?, signed, verifier)?;
            Ok(("intoto", "0.0.1"))
        }
        ("intoto", "0.0.2") => {
            intoto_v002(spec(entry.spec)?, signed, verifier)?;
            Ok(("intoto", "0.0.2"))
        }
        ("rekord", "0.0.1") => {
            rekord_v001(spec(entry.spec)?, signed, verifier)?;
            Ok(("rekord", "0.0.1"))
        }
        _ => Err(TlogError::UnsupportedKind {
            kind: entry.kind,
            version: entry.api_version,
        }),
    }
}

/// hashedrekord 0.0.1 (docs/formats/rekor.md, "hashedrekord 0.0.1").
fn hashed_rekord_v001(
    spec: HashedRekordV001,
    signed: &Signed<'_>,
    verifier: &Verifier<'_>,
) -> Result<(), TlogError> {
    let Signed::Message { sha256, signature } = signed else {
        return Err(mismatch("kind"));
    };
    check_sha256_hex(&spec.data.hash, sha256, "spec.data.hash")?;
    check_b64(&spec.signature.content, signature, "spec.signature.content")?;
    check_pem(
        &spec.signature.public_key.content,
        verifier,
        "spec.signature.publicKey.content",
    )
}

/// hashedrekord 0.0.2 (Rekor v2), for messages and DSSE (docs/formats/rekor.md,
/// "hashedrekord 0.0.2").
fn hashed_rekord_v002(
    spec: HashedRekordV002Spec,
    signed: &Signed<'_>,
    verifier: &Verifier<'_>,
) -> Result<(), TlogError> {
    let spec = spec.hashed_rekord_v002;
    let (digest, signature) = match signed {
        Signed::Message { sha256, signature } => (**sha256, *signature),
        Signed::Dsse {
            payload,
            payload_type,
            signatures,
            ..
        } => {
            // Rekor v2 logs DSSE as a hashedrekord over the PAE, which has room for exactly
            // one signature.
            let [signature] = signatures else {
                return Err(mismatch("spec.hashedRekordV002.signature.content"));
            };
            (sha256(&pae(payload_type, payload)), signature.as_slice())
        }
    };
    if spec.data.algorithm != "SHA2_256" {
        return Err(mismatch("spec.hashedRekordV002.data.algorithm"));
    }
    check_b64(
        &spec.data.digest,
        &digest,
        "spec.hashedRekordV002.data.digest",
    )?;
    check_b64(
        &spec.signature.content,
        signature,
        "spec.hashedRekordV002.signature.content",
    )?;
    let verifier_field = spec.signature.verifier;
    match (
        verifier,
        verifier_field.x509_certificate,
        verifier_field.public_key,
    ) {
        (Verifier::Certificate(der), Some(cert), None) => check_b64(
            &cert.raw_bytes,
            der,
            "spec.hashedRekordV002.signature.verifier.x509Certificate",
        ),
        (Verifier::PublicKey(der), None, Some(key)) => check_b64(
            &key.raw_bytes,
            der,
            "spec.hashedRekordV002.signature.verifier.publicKey",
        ),
        _ => Err(mismatch("spec.hashedRekordV002.signature.verifier")),
    }
}

/// dsse 0.0.1 (docs/formats/rekor.md, "dsse 0.0.1").
fn dsse_v001(
    spec: DsseV001,
    signed: &Signed<'_>,
    verifier: &Verifier<'_>,
) -> Result<(), TlogError> {
    let Signed::Dsse {
        payload,
        signatures,
        envelope_json,
        ..
    } = signed
    else {
        return Err(mismatch("kind"));
    };
    check_sha256_hex(&spec.payload_hash, &sha256(payload), "spec.payloadHash")?;
    // Every logged signature is one of the envelope's, by this signer, and the other way round.
    if spec.signatures.len() != signatures.len() {
        return Err(mismatch("spec.signatures"));
    }
    let mut logged = Vec::with_capacity(spec.signatures.len());
    for entry in &spec.signatures {
        logged.push(decode_b64(&entry.signature, "spec.signatures.signature")?);
        check_pem(&entry.verifier, verifier, "spec.signatures.verifier")?;
    }
    if !logged.iter().all(|sig| signatures.contains(sig))
        || !signatures.iter().all(|sig| logged.contains(sig))
    {
        return Err(mismatch("spec.signatures.signature"));
    }
    // sigstore-python leaves the envelope hash unchecked for bundles, whose envelope JSON is
    // re-encoded; for a stored envelope (a legacy `.att` layer) it is exact.
    if let Some(json) = envelope_json {
        let hash = spec
            .envelope_hash
            .as_ref()
            .ok_or_else(|| mismatch("spec.envelopeHash"))?;
        check_sha256_hex(hash, &sha256(json), "spec.envelopeHash")?;
    }
    Ok(())
}

/// intoto 0.0.1, as cosign logged attestations (docs/formats/rekor.md, "intoto 0.0.1"). The entry
/// holds the envelope's hash, not its signatures; cosign checks that hash against the stored
/// envelope.
fn intoto_v001(
    spec: IntotoV001,
    signed: &Signed<'_>,
    verifier: &Verifier<'_>,
) -> Result<(), TlogError> {
    let Signed::Dsse {
        payload,
        envelope_json,
        ..
    } = signed
    else {
        return Err(mismatch("kind"));
    };
    check_pem(&spec.public_key, verifier, "spec.publicKey")?;
    let payload_hash = spec.content.payload_hash.as_ref();
    if let Some(hash) = payload_hash {
        check_sha256_hex(hash, &sha256(payload), "spec.content.payloadHash")?;
    }
    match (envelope_json, payload_hash) {
        (Some(json), _) => check_sha256_hex(&spec.content.hash, &sha256(json), "spec.content.hash"),
        // Without the stored envelope only the payload hash ties the entry to the content.
        (None, Some(_)) => Ok(()),
        (None, None) => Err(mismatch("spec.content.payloadHash")),
    }
}

/// intoto 0.0.2 (docs/formats/rekor.md, "intoto 0.0.2"). Rekor stores the envelope's payload and
/// signatures base64 encoded once more: `sig` is base64 of the envelope's base64 signature text
/// (checked on the conformance `intoto-with-custom-trust-root` entry).
fn intoto_v002(
    spec: IntotoV002,
    signed: &Signed<'_>,
    verifier: &Verifier<'_>,
) -> Result<(), TlogError> {
    let Signed::Dsse {
        payload,
        payload_type,
        signatures,
        envelope_json,
    } = signed
    else {
        return Err(mismatch("kind"));
    };
    let content = spec.content;
    if content.envelope.payload_type != *payload_type {
        return Err(mismatch("spec.content.envelope.payloadType"));
    }
    let payload_hash = content
        .payload_hash
        .as_ref()
        .ok_or_else(|| mismatch("spec.content.payloadHash"))?;
    check_sha256_hex(payload_hash, &sha256(payload), "spec.content.payloadHash")?;
    if let Some(logged) = &content.envelope.payload {
        let field = "spec.content.envelope.payload";
        if decode_double_b64(logged, field)? != *payload {
            return Err(mismatch(field));
        }
    }
    if content.envelope.signatures.len() != signatures.len() {
        return Err(mismatch("spec.content.envelope.signatures"));
    }
    let mut logged = Vec::with_capacity(signatures.len());
    for entry in &content.envelope.signatures {
        logged.push(decode_double_b64(
            &entry.sig,
            "spec.content.envelope.signatures.sig",
        )?);
        check_pem(
            &entry.public_key,
            verifier,
            "spec.content.envelope.signatures.publicKey",
        )?;
    }
    if !logged.iter().all(|sig| signatures.contains(sig))
        || !signatures.iter().all(|sig| logged.contains(sig))
    {
        return Err(mismatch("spec.content.envelope.signatures.sig"));
    }
    if let Some(json) = envelope_json {
        let hash = content
            .hash
            .as_ref()
            .ok_or_else(|| mismatch("spec.content.hash"))?;
        check_sha256_hex(hash, &sha256(json), "spec.content.hash")?;
    }
    Ok(())
}

/// rekord 0.0.1 (docs/formats/rekor.md, "rekord 0.0.1"), as early cosign logged `.sig` layers (the
/// signed data's hash, an `x509` signature and the signer's PEM).
fn rekord_v001(
    spec: RekordV001,
    signed: &Signed<'_>,
    verifier: &Verifier<'_>,
) -> Result<(), TlogError> {
    let Signed::Message { sha256, signature } = signed else {
        return Err(mismatch("kind"));
    };
    let hash = spec
        .data
        .hash
        .as_ref()
        .ok_or_else(|| mismatch("spec.data.hash"))?;
    check_sha256_hex(hash, sha256, "spec.data.hash")?;
    if spec.signature.format != "x509" {
        return Err(mismatch("spec.signature.format"));
    }
    check_b64(&spec.signature.content, signature, "spec.signature.content")?;
    check_pem(
        &spec.signature.public_key.content,
        verifier,
        "spec.signature.publicKey.content",
    )
}

/// `{"algorithm":"sha256","value":<hex>}` must hold `expected`.
fn check_sha256_hex(
    hash: &HashValue,
    expected: &[u8; 32],
    field: &'static str,
) -> Result<(), TlogError> {
    if hash.algorithm == "sha256" && hash.value.eq_ignore_ascii_case(&hex_lower(expected)) {
        Ok(())
    } else {
        Err(mismatch(field))
    }
}

/// A base64 field must decode to `expected`.
fn check_b64(text: &str, expected: &[u8], field: &'static str) -> Result<(), TlogError> {
    if decode_b64(text, field)? == expected {
        Ok(())
    } else {
        Err(mismatch(field))
    }
}

/// A base64 field holding a PEM certificate or public key must hold the verifier.
fn check_pem(text: &str, verifier: &Verifier<'_>, field: &'static str) -> Result<(), TlogError> {
    let pem = decode_b64(text, field)?;
    let (label, der) = decode_pem(&pem)
        .ok_or_else(|| TlogError::MalformedBody(format!("{field} is not one PEM block")))?;
    let matches = match verifier {
        Verifier::Certificate(expected) => label == "CERTIFICATE" && der == *expected,
        Verifier::PublicKey(expected) => label == "PUBLIC KEY" && der == *expected,
    };
    if matches {
        Ok(())
    } else {
        Err(mismatch(field))
    }
}

/// Reads one PEM block as Go's `pem.Decode` does, which is what wrote it: any line length
/// (Rekor's intoto entries hold the certificate base64 on one line), surrounding whitespace
/// allowed.
fn decode_pem(pem: &[u8]) -> Option<(&str, Vec<u8>)> {
    let text = core::str::from_utf8(pem).ok()?.trim();
    let (label, rest) = text.strip_prefix("-----BEGIN ")?.split_once("-----")?;
    let body = rest
        .strip_suffix("-----")?
        .strip_suffix(label)?
        .strip_suffix("-----END ")?;
    let encoded: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    Some((label, der))
}

fn decode_b64(text: &str, field: &'static str) -> Result<Vec<u8>, TlogError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| TlogError::MalformedBody(format!("{field} is not base64")))
}

/// intoto 0.0.2's base64 of base64.
fn decode_double_b64(text: &str, field: &'static str) -> Result<Vec<u8>, TlogError> {
    let inner = decode_b64(text, field)?;
    let inner = core::str::from_utf8(&inner)
        .map_err(|_| TlogError::MalformedBody(format!("{field} is not base64 of base64")))?;
    decode_b64(inner, field)
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn spec<T: DeserializeOwned>(spec: serde_json::Value) -> Result<T, TlogError> {
    serde_json::from_value(spec).map_err(malformed)
}

fn malformed(err: serde_json::Error) -> TlogError {
    TlogError::MalformedBody(err.to_string())
}

fn mismatch(field: &'static str) -> TlogError {
    TlogError::BodyMismatch { field }
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    spec: serde_json::Value,
}

#[derive(Deserialize)]
struct HashValue {
    algorithm: String,
    value: String,
}

#[derive(Deserialize)]
struct PemContent {
    content: String,
}

#[derive(Deserialize)]
struct HashedRekordV001 {
    data: HashedRekordData,
    signature: HashedRekordSignature,
}

#[derive(Deserialize)]
struct HashedRekordData {
    hash: HashValue,
}

#[derive(Deserialize)]
struct HashedRekordSignature {
    content: String,
    #[serde(rename = "publicKey")]
    public_key: PemContent,
}

#[derive(Deserialize)]
struct HashedRekordV002Spec {
    #[serde(rename = "hashedRekordV002")]
    hashed_rekord_v002: HashedRekordV002,
}

#[derive(Deserialize)]
struct HashedRekordV002 {
    data: V002Digest,
    signature: V002Signature,
}

#[derive(Deserialize)]
struct V002Digest {
    algorithm: String,
    digest: String,
}

#[derive(Deserialize)]
struct V002Signature {
    content: String,
    verifier: V002Verifier,
}

#[derive(Deserialize)]
struct V002Verifier {
    #[serde(rename = "x509Certificate")]
    x509_certificate: Option<RawBytes>,
    #[serde(rename = "publicKey")]
    public_key: Option<RawBytes>,
}

#[derive(Deserialize)]
struct RawBytes {
    #[serde(rename = "rawBytes")]
    raw_bytes: String,
}

#[derive(Deserialize)]
struct DsseV001 {
    #[serde(rename = "envelopeHash")]
    envelope_hash: Option<HashValue>,
    #[serde(rename = "payloadHash")]
    payload_hash: HashValue,
    signatures: Vec<DsseSignature>,
}

#[derive(Deserialize)]
struct DsseSignature {
    signature: String,
    verifier: String,
}

#[derive(Deserialize)]
struct IntotoV001 {
    content: IntotoV001Content,
    #[serde(rename = "publicKey")]
    public_key: String,
}

#[derive(Deserialize)]
struct IntotoV001Content {
    hash: HashValue,
    #[serde(rename = "payloadHash")]
    payload_hash: Option<HashValue>,
}

#[derive(Deserialize)]
struct IntotoV002 {
    content: IntotoContent,
}

#[derive(Deserialize)]
struct IntotoContent {
    envelope: IntotoEnvelope,
    hash: Option<HashValue>,
    #[serde(rename = "payloadHash")]
    payload_hash: Option<HashValue>,
}

#[derive(Deserialize)]
struct IntotoEnvelope {
    payload: Option<String>,
    #[serde(rename = "payloadType")]
    payload_type: String,
    signatures: Vec<IntotoSignature>,
}

#[derive(Deserialize)]
struct IntotoSignature {
    sig: String,
    #[serde(rename = "publicKey")]
    public_key: String,
}

#[derive(Deserialize)]
struct RekordV001 {
    data: RekordData,
    signature: RekordSignature,
}

#[derive(Deserialize)]
struct RekordData {
    hash: Option<HashValue>,
}

#[derive(Deserialize)]
struct RekordSignature {
    format: String,
    content: String,
    #[serde(rename = "publicKey")]
    public_key: PemContent,
}
