//! Merkle inclusion proofs: the RFC 6962 / RFC 9162 audit path from a log entry to a tree's root
//! hash (docs/formats/rekor.md, "Merkle inclusion proofs").
//!
//! This module never performs I/O.

use sha2::{Digest as _, Sha256};

use super::TlogError;

/// RFC 6962 §2.1: the hash of a leaf, SHA-256(0x00 ‖ entry).
pub fn leaf_hash(entry: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update([0x00])
        .chain_update(entry)
        .finalize()
        .into()
}

/// Verifies that `entry` (the canonicalized body, i.e. the leaf's data, not its hash) is leaf
/// `index` of the tree of `tree_size` leaves whose root is `root`, by the audit path `proof`
/// (RFC 9162 §2.1.3.2).
///
/// # Errors
///
/// [`TlogError::IndexOutOfRange`] when `index >= tree_size`, [`TlogError::WrongProofLength`]
/// when the path is not as long as the index and size require, and
/// [`TlogError::InclusionMismatch`] when it leads to another root.
pub fn verify_inclusion(
    entry: &[u8],
    index: u64,
    tree_size: u64,
    proof: &[[u8; 32]],
    root: &[u8; 32],
) -> Result<(), TlogError> {
    if index >= tree_size {
        return Err(TlogError::IndexOutOfRange { index, tree_size });
    }
    // docs/formats/rekor.md, "Merkle inclusion proofs": `inner` = bit_length(index XOR (size − 1))
    // levels where the path can go either way, then `border` = popcount(index >> inner)
    // right-border levels. `tree_size >= 1` here, so the subtraction cannot wrap.
    let last = tree_size.saturating_sub(1);
    let inner = u64::BITS.saturating_sub((index ^ last).leading_zeros());
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    let expected = usize::try_from(inner.saturating_add(border)).unwrap_or(usize::MAX);
    if proof.len() != expected {
        return Err(TlogError::WrongProofLength {
            expected,
            actual: proof.len(),
        });
    }
    let (inner_path, border_path) = proof.split_at(proof.len().min(to_usize(inner)));

    let mut hash = leaf_hash(entry);
    for (level, sibling) in (0u32..).zip(inner_path) {
        // Bit `level` of the index says whether this node is a left (0) or right (1) child.
        hash = if index.checked_shr(level).unwrap_or(0) & 1 == 0 {
            node_hash(&hash, sibling)
        } else {
            node_hash(sibling, &hash)
        };
    }
    for sibling in border_path {
        hash = node_hash(sibling, &hash);
    }
    if hash == *root {
        Ok(())
    } else {
        Err(TlogError::InclusionMismatch)
    }
}

/// RFC 6962 §2.1: SHA-256(0x01 ‖ left ‖ right).
fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    Sha256::new()
        .chain_update([0x01])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// A level count (at most 64) as an index.
fn to_usize(levels: u32) -> usize {
    usize::try_from(levels).unwrap_or(usize::MAX)
}
