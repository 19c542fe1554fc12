//! Merkle trees and signed notes generated here, for the cases the vectors lack: every leaf of
//! small trees, other origins, witness lines, damaged notes.

use base64::Engine as _;
use ed25519_dalek::Signer as _;
use sha2::{Digest as _, Sha256};

use super::*;
use crate::keys::PublicKey;
use crate::trust_root::Validity;

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
            assert_eq!(
                verify_inclusion(leaf, i, n, &path, &root),
                Ok(()),
                "{m}/{size}"
            );
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
    let checkpoint =
        verify_checkpoint(&signed_note(&text, &signing, &log), logs, Some(150)).unwrap();
    assert_eq!(checkpoint.origin, "log.example");
    assert_eq!(checkpoint.tree_size, 42);
    assert_eq!(checkpoint.root_hash, [9; 32]);
    assert_eq!(checkpoint.extensions, vec!["Timestamp: 1".to_owned()]);
    assert_eq!(checkpoint.log_id, log.log_id);

    // Rekor v1 style origin: `<name> - <tree id>`.
    let text = format!("log.example - 1193050959916656506\n42\n{root}\n");
    assert!(verify_checkpoint(&signed_note(&text, &signing, &log), logs, None).is_ok());

    // A correctly signed note for another origin.
    for origin in [
        "other.example",
        "log.example - x",
        "log.example.evil",
        "xlog.example",
    ] {
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
        (
            format!("\n42\n{root}\n"),
            TlogError::CheckpointMissingOrigin,
        ),
        (
            format!("log.example\n{root}\n"),
            TlogError::CheckpointBadTreeSize,
        ),
        (
            format!("log.example\n042\n{root}\n"),
            TlogError::CheckpointBadTreeSize,
        ),
        (
            format!("log.example\n-1\n{root}\n"),
            TlogError::CheckpointBadTreeSize,
        ),
        (
            format!("log.example\n99999999999999999999\n{root}\n"),
            TlogError::CheckpointBadTreeSize,
        ),
        (
            "log.example\n42\n".to_owned(),
            TlogError::CheckpointMissingRootHash,
        ),
        (
            "log.example\n42\nAAAA\n".to_owned(),
            TlogError::CheckpointBadRootHash,
        ),
        (
            "log.example\n42\n!!!\n".to_owned(),
            TlogError::CheckpointBadRootHash,
        ),
    ];
    for (text, expected) in cases {
        let note = signed_note(&text, &signing, &log);
        assert_eq!(
            verify_checkpoint(&note, logs, None).map(|_| ()),
            Err(expected),
            "{text:?}"
        );
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
