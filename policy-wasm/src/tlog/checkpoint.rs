//! Checkpoints: a log's signed tree head, written as a C2SP signed note (C2SP `tlog-checkpoint`,
//! `signed-note`; docs/formats/rekor.md, "Checkpoints").
//!
//! ```text
//! <origin>\n<tree size>\n<base64 root hash>\n[<extension line>\n...]\n
//! — <key name> <base64(4-byte key hint ‖ signature)>\n
//! [— <key name> <base64(...)>\n ...]
//! ```
//!
//! Rekor v1 signs with ECDSA P-256: key name `rekor.sigstore.dev`, origin
//! `rekor.sigstore.dev - <tree id>`, hint the first 4 bytes of the log ID (SHA-256 of the DER
//! key). Rekor v2 signs with Ed25519: key name and origin the log's host name, hint the first 4
//! bytes of the C2SP key id SHA-256(name ‖ 0x0A ‖ 0x01 ‖ key), which is the trusted root's log
//! ID. Either way, the key name is the trusted log's `baseUrl` without its scheme, and the hint
//! is the first 4 bytes of its log ID. This module never performs I/O.

use base64::Engine as _;

use super::{TlogError, check_validity, log_key};
use crate::time::UnixTime;
use crate::trust_root::TransparencyLog;

/// A checkpoint whose signature by a trusted log was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The origin line: which log (and, for Rekor v1, which shard tree).
    pub origin: String,
    /// The number of leaves in the tree.
    pub tree_size: u64,
    /// The tree's root hash.
    pub root_hash: [u8; 32],
    /// Extension lines after the root hash (Rekor v1 writes `Timestamp: <ns>`), unverified
    /// meaning, signed bytes.
    pub extensions: Vec<String>,
    /// The log ID of the trusted log whose signature verified.
    pub log_id: Vec<u8>,
}

/// The em dash and space that start every signature line (C2SP signed-note).
const SIGNATURE_PREFIX: &str = "\u{2014} ";
/// A key hint is the first 4 bytes of the key id.
const HINT_LEN: usize = 4;

/// Parses a signed checkpoint and verifies it (docs/formats/rekor.md, "Checkpoints"):
///
/// 1. split the note text (everything up to and including the newline before the first
///    blank line) from the signature lines;
/// 2. read origin, tree size and root hash, the three lines the note text must start with;
/// 3. find signature lines whose key name and hint are a trusted log's (others, such as
///    witness cosignatures, are ignored) and verify each: one that fails rejects the note,
///    as Go's `note.Open` does, and at least one must verify;
/// 4. the origin must be the signing log's (`<name>`, or `<name> - <tree id>` for Rekor v1);
/// 5. with `at`, that log's key must be valid then.
///
/// # Errors
///
/// [`TlogError::MalformedCheckpoint`], [`TlogError::CheckpointMissingOrigin`],
/// [`TlogError::CheckpointBadTreeSize`], [`TlogError::CheckpointMissingRootHash`],
/// [`TlogError::CheckpointBadRootHash`] for the text; [`TlogError::BadCheckpointSignature`],
/// [`TlogError::UnusableLogKey`], [`TlogError::NoTrustedCheckpointSignature`],
/// [`TlogError::CheckpointOriginMismatch`] and [`TlogError::LogKeyNotValidAt`] for the
/// signatures.
pub fn verify_checkpoint(
    envelope: &str,
    tlogs: &[TransparencyLog],
    at: Option<UnixTime>,
) -> Result<Checkpoint, TlogError> {
    // 1. Note text and signatures. C2SP: text ends in a newline, then one blank line.
    let split = envelope.find("\n\n").ok_or(TlogError::MalformedCheckpoint(
        "no blank line before the signatures",
    ))?;
    let (text, signatures) = envelope.split_at(split.saturating_add(1));
    let signatures = signatures
        .strip_prefix('\n')
        .and_then(|s| s.strip_suffix('\n'))
        .ok_or(TlogError::MalformedCheckpoint(
            "signature block does not end with a newline",
        ))?;
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(TlogError::MalformedCheckpoint(
            "control character in the note text",
        ));
    }

    // 2. Origin, size, root hash, then extension lines.
    let body = text.strip_suffix('\n').unwrap_or(text);
    let mut lines = body.split('\n');
    let origin = lines
        .next()
        .filter(|line| !line.is_empty() && !is_decimal(line))
        .ok_or(TlogError::CheckpointMissingOrigin)?;
    let tree_size = lines
        .next()
        .filter(|line| is_decimal(line) && (*line == "0" || !line.starts_with('0')))
        .and_then(|line| line.parse::<u64>().ok())
        .ok_or(TlogError::CheckpointBadTreeSize)?;
    let root_line = lines
        .next()
        .filter(|line| !line.is_empty())
        .ok_or(TlogError::CheckpointMissingRootHash)?;
    let root_hash: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(root_line)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(TlogError::CheckpointBadRootHash)?;
    let extensions = lines.map(str::to_owned).collect();

    // 3. Signatures by trusted logs.
    let mut signer = None;
    for line in signatures.split('\n') {
        let (name, hint, signature) = parse_signature_line(line)?;
        for log in tlogs {
            if log_name(log) != name || log.log_id.get(..HINT_LEN) != Some(hint.as_slice()) {
                continue;
            }
            log_key(log)?
                .verify(text.as_bytes(), &signature)
                .map_err(|source| TlogError::BadCheckpointSignature {
                    name: name.to_owned(),
                    source,
                })?;
            signer.get_or_insert(log);
        }
    }
    let log = signer.ok_or(TlogError::NoTrustedCheckpointSignature)?;

    // 4. The origin is the signing log's.
    let name = log_name(log);
    let origin_matches = origin == name
        || origin
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(" - "))
            .is_some_and(is_decimal);
    if !origin_matches {
        return Err(TlogError::CheckpointOriginMismatch {
            origin: origin.to_owned(),
            expected: name.to_owned(),
        });
    }

    // 5. The key's validity.
    if let Some(at) = at {
        check_validity(log, at)?;
    }
    Ok(Checkpoint {
        origin: origin.to_owned(),
        tree_size,
        root_hash,
        extensions,
        log_id: log.log_id.clone(),
    })
}

/// The signed-note key name of a log: its `baseUrl` without scheme or trailing slash
/// (`https://rekor.sigstore.dev` → `rekor.sigstore.dev`, `http://localhost:8000` →
/// `localhost:8000`).
pub fn log_name(log: &TransparencyLog) -> &str {
    let url = log.base_url.as_str();
    let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    without_scheme.trim_end_matches('/')
}

/// Splits `— <name> <base64>` into name, key hint and signature.
///
/// # Errors
///
/// [`TlogError::MalformedCheckpoint`] for a line of another shape.
fn parse_signature_line(line: &str) -> Result<(&str, [u8; HINT_LEN], Vec<u8>), TlogError> {
    let malformed = TlogError::MalformedCheckpoint("bad signature line");
    let (name, encoded) = line
        .strip_prefix(SIGNATURE_PREFIX)
        .and_then(|rest| rest.split_once(' '))
        .ok_or_else(|| malformed.clone())?;
    if name.is_empty() || name.contains('+') {
        return Err(malformed);
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| malformed.clone())?;
    let (hint, signature) = bytes
        .split_first_chunk::<HINT_LEN>()
        .filter(|(_, signature)| !signature.is_empty())
        .ok_or(malformed)?;
    Ok((name, *hint, signature.to_vec()))
}

/// True for a non-empty run of ASCII digits.
fn is_decimal(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}
