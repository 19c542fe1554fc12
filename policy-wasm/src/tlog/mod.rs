//! Rekor transparency log checks: what proves that a signature was logged, and that the log
//! entry describes exactly the material being verified.
//!
//! * [`set`]: the signed entry timestamp (inclusion promise; docs/formats/rekor.md,
//!   "Signed entry timestamp (SET)") and cosign's `dev.sigstore.cosign/bundle` annotation that
//!   carries it (docs/formats/cosign-signatures.md, "The Rekor bundle annotation");
//! * [`inclusion`]: the RFC 6962 / RFC 9162 Merkle audit path (docs/formats/rekor.md,
//!   "Merkle inclusion proofs");
//! * [`checkpoint`]: the signed tree head as a C2SP signed note, Rekor v1 and v2
//!   (docs/formats/rekor.md, "Checkpoints");
//! * [`body`]: entry consistency, the logged body against the signature, the signed digest or
//!   envelope and the signer (docs/formats/sigstore-bundle.md, "Step 8: entry consistency";
//!   docs/formats/rekor.md, "Entry bodies").
//!
//! Keys come from the trusted root ([`TransparencyLog`]); time is a parameter. This module never
//! performs I/O.

pub mod body;
pub mod checkpoint;
pub mod inclusion;
pub mod set;

pub use body::{Signed, Verifier, check_body};
pub use checkpoint::{Checkpoint, log_name, verify_checkpoint};
pub use inclusion::{leaf_hash, verify_inclusion};
pub use set::{RekorBundle, SetPayload, verify_set};

use crate::keys::{KeyError, SignatureError};
use crate::time::UnixTime;
use crate::trust_root::TransparencyLog;

/// Why a transparency log check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlogError {
    /// The `dev.sigstore.cosign/bundle` annotation is not of the expected shape.
    #[error("malformed Rekor bundle annotation: {0}")]
    MalformedRekorBundle(String),
    /// A field that must be base64 is not.
    #[error("{field} is not valid base64")]
    BadBase64 {
        /// The field.
        field: &'static str,
    },
    /// An integer of the SET payload that is negative or too large to be canonical JSON.
    #[error("{field} = {value} is outside 0..=2^53-1")]
    IntegerOutOfRange {
        /// The field.
        field: &'static str,
        /// Its value.
        value: i64,
    },
    /// No trusted log has this log ID.
    #[error("no trusted transparency log has log ID {log_id}")]
    UnknownLog {
        /// The log ID, lowercase hex.
        log_id: String,
    },
    /// The trusted root lists the log, but its key cannot be used.
    #[error("transparency log {base_url} has an unusable key: {source}")]
    UnusableLogKey {
        /// The log's base URL.
        base_url: String,
        /// Why the key cannot be used.
        source: KeyError,
    },
    /// The log key's `validFor` does not contain the time it is used at.
    #[error("transparency log {base_url} key is not valid at {at}")]
    LogKeyNotValidAt {
        /// The log's base URL.
        base_url: String,
        /// The time (Unix seconds).
        at: UnixTime,
    },
    /// The signed entry timestamp does not verify.
    #[error("signed entry timestamp does not verify: {0}")]
    BadSetSignature(SignatureError),

    /// The leaf index is not inside the tree.
    #[error("inclusion proof index {index} is not below tree size {tree_size}")]
    IndexOutOfRange {
        /// Leaf index.
        index: u64,
        /// Tree size.
        tree_size: u64,
    },
    /// The audit path has the wrong number of hashes for this index and tree size.
    #[error("inclusion proof has {actual} hashes, {expected} expected")]
    WrongProofLength {
        /// What index and tree size require.
        expected: usize,
        /// What the proof has.
        actual: usize,
    },
    /// The audit path leads to another root hash.
    #[error("inclusion proof does not lead to the root hash")]
    InclusionMismatch,

    /// The checkpoint is not a signed note (no blank line, bad signature lines, not UTF-8, ...).
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(&'static str),
    /// The checkpoint's first line (origin) is missing.
    #[error("checkpoint has no origin line")]
    CheckpointMissingOrigin,
    /// The checkpoint's second line (tree size) is missing or not a decimal number.
    #[error("checkpoint has no valid tree size line")]
    CheckpointBadTreeSize,
    /// The checkpoint's third line (root hash) is missing.
    #[error("checkpoint has no root hash line")]
    CheckpointMissingRootHash,
    /// The root hash line is not base64 of 32 bytes.
    #[error("checkpoint root hash is not base64 of 32 bytes")]
    CheckpointBadRootHash,
    /// A signature line by a trusted log key does not verify.
    #[error("checkpoint signature by {name} does not verify: {source}")]
    BadCheckpointSignature {
        /// The key name on the signature line.
        name: String,
        /// Why it failed.
        source: SignatureError,
    },
    /// No signature line is by a trusted log key (witness cosignatures are ignored).
    #[error("checkpoint has no signature by a trusted transparency log")]
    NoTrustedCheckpointSignature,
    /// The checkpoint's origin is not the origin of the log that signed it.
    #[error("checkpoint origin {origin:?} is not the signing log's origin {expected:?}")]
    CheckpointOriginMismatch {
        /// The origin line.
        origin: String,
        /// What the signing log's origin is (`<name>` or `<name> - <tree id>`).
        expected: String,
    },
    /// The checkpoint's root hash differs from the inclusion proof's.
    #[error("checkpoint root hash differs from the inclusion proof's")]
    RootHashMismatch,
    /// The checkpoint's tree size differs from the inclusion proof's.
    #[error("checkpoint tree size {checkpoint} differs from the inclusion proof's {proof}")]
    TreeSizeMismatch {
        /// In the checkpoint.
        checkpoint: u64,
        /// In the proof.
        proof: u64,
    },

    /// The entry body is not JSON of the shape its kind requires.
    #[error("malformed log entry body: {0}")]
    MalformedBody(String),
    /// An entry kind or version we do not check.
    #[error("unsupported log entry kind {kind} {version}")]
    UnsupportedKind {
        /// `kind`.
        kind: String,
        /// `apiVersion`.
        version: String,
    },
    /// The entry body describes other material than what is being verified.
    #[error("log entry body does not match the verified material: {field} differs")]
    BodyMismatch {
        /// The body field that differs (JSON path).
        field: &'static str,
    },
}

/// An inclusion proof as bundles carry it (`inclusionProof`, docs/formats/sigstore-bundle.md,
/// "Transparency log entries").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InclusionProof<'a> {
    /// Leaf index inside the (shard) tree; not the global log index for sharded Rekor v1.
    pub log_index: u64,
    /// Tree size the proof is for.
    pub tree_size: u64,
    /// Root hash the proof leads to.
    pub root_hash: &'a [u8; 32],
    /// The audit path.
    pub hashes: &'a [[u8; 32]],
    /// The signed checkpoint (note text).
    pub checkpoint: &'a str,
}

/// Verifies that `entry` (the canonicalized body, the Merkle leaf) is in the log, as
/// docs/formats/sigstore-bundle.md, "Step 5: transparency log" asks: the audit path leads to the
/// proof's root (docs/formats/rekor.md, "Merkle inclusion proofs"), a trusted log signed a
/// checkpoint (docs/formats/rekor.md, "Checkpoints"), and that checkpoint names the same tree size
/// and root hash. With `at`, the signing log's key must be valid then.
///
/// # Errors
///
/// The [`verify_inclusion`] errors, the [`verify_checkpoint`] errors, then
/// [`TlogError::RootHashMismatch`] or [`TlogError::TreeSizeMismatch`].
pub fn verify_inclusion_proof(
    entry: &[u8],
    proof: &InclusionProof<'_>,
    tlogs: &[TransparencyLog],
    at: Option<UnixTime>,
) -> Result<Checkpoint, TlogError> {
    verify_inclusion(
        entry,
        proof.log_index,
        proof.tree_size,
        proof.hashes,
        proof.root_hash,
    )?;
    let checkpoint = verify_checkpoint(proof.checkpoint, tlogs, at)?;
    // docs/formats/rekor.md, "Merkle inclusion proofs": the proof's root and size are the
    // checkpoint's.
    if checkpoint.root_hash != *proof.root_hash {
        return Err(TlogError::RootHashMismatch);
    }
    if checkpoint.tree_size != proof.tree_size {
        return Err(TlogError::TreeSizeMismatch {
            checkpoint: checkpoint.tree_size,
            proof: proof.tree_size,
        });
    }
    Ok(checkpoint)
}

/// The usable key of `log`.
fn log_key(log: &TransparencyLog) -> Result<&crate::keys::PublicKey, TlogError> {
    log.key
        .as_ref()
        .map_err(|source| TlogError::UnusableLogKey {
            base_url: log.base_url.clone(),
            source: source.clone(),
        })
}

/// Checks that `log`'s key may be used at `at`.
fn check_validity(log: &TransparencyLog, at: UnixTime) -> Result<(), TlogError> {
    if log.valid_for.contains(at) {
        Ok(())
    } else {
        Err(TlogError::LogKeyNotValidAt {
            base_url: log.base_url.clone(),
            at,
        })
    }
}

#[cfg(test)]
mod tests;
