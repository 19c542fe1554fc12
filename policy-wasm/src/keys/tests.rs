use std::path::PathBuf;

use super::*;

fn case(name: &str, file: &str) -> Vec<u8> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/data/keys", name, file]
        .iter()
        .collect();
    std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn key(name: &str, file: &str) -> Result<PublicKey, KeyError> {
    PublicKey::from_pem(&String::from_utf8(case(name, file)).unwrap())
}

#[test]
fn verifies_every_supported_algorithm() {
    for (name, algorithm) in [
        ("p256", "ECDSA P-256"),
        ("p384-sha256", "ECDSA P-384"),
        ("p384-sha384", "ECDSA P-384"),
        ("p521-sha256", "ECDSA P-521"),
        ("p521-sha512", "ECDSA P-521"),
        ("rsa2048-pkcs1", "RSA"),
        ("rsa4096-pss", "RSA"),
        ("ed25519", "Ed25519"),
    ] {
        let key = key(name, "pub.pem").unwrap();
        assert_eq!(key.algorithm(), algorithm, "{name}");
        let (msg, sig) = (case(name, "msg"), case(name, "sig"));
        assert_eq!(key.verify(&msg, &sig), Ok(()), "{name}");

        let mut tampered = msg.clone();
        tampered[10] ^= 1;
        assert_eq!(
            key.verify(&tampered, &sig),
            Err(SignatureError::Invalid(algorithm)),
            "{name}"
        );
    }
}

#[test]
fn reads_pkcs1_rsa_public_key() {
    let key = key("rsa2048-pkcs1", "pub-pkcs1.pem").unwrap();
    assert_eq!(key, self::key("rsa2048-pkcs1", "pub.pem").unwrap());
}

#[test]
fn rejects_wrong_key() {
    let other = key("p384-sha256", "pub.pem").unwrap();
    let sig = case("p384-sha384", "sig");
    assert_eq!(
        other.verify(&case("p384-sha384", "msg"), &sig),
        Err(SignatureError::Invalid("ECDSA P-384"))
    );
}

#[test]
fn rejects_garbage_signatures_without_panicking() {
    for name in ["p256", "p384-sha256", "rsa2048-pkcs1", "ed25519"] {
        let key = key(name, "pub.pem").unwrap();
        for sig in [&b""[..], b"\x30\x02\x01", &[0xff; 600]] {
            assert!(key.verify(b"msg", sig).is_err(), "{name}");
        }
    }
}

#[test]
fn refuses_small_rsa_and_unknown_curves() {
    assert!(matches!(
        key("rsa1024", "pub.pem"),
        Err(KeyError::RsaSize(1024))
    ));
    assert!(matches!(
        key("secp256k1", "pub.pem"),
        Err(KeyError::Unsupported(_))
    ));
}

#[test]
fn refuses_non_key_pem_and_garbage() {
    let cert = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
    assert_eq!(
        PublicKey::from_pem(cert),
        Err(KeyError::WrongLabel("CERTIFICATE".to_owned()))
    );
    assert!(matches!(
        PublicKey::from_pem("not pem at all"),
        Err(KeyError::NotPem(_))
    ));
    let bad_der = "-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n";
    assert!(matches!(
        PublicKey::from_pem(bad_der),
        Err(KeyError::Malformed(_))
    ));
}

#[test]
fn verifies_over_a_sha256_digest() {
    use sha2::{Digest as _, Sha256};
    for name in ["p256", "p384-sha256", "rsa2048-pkcs1", "rsa4096-pss"] {
        let key = key(name, "pub.pem").unwrap();
        let digest: [u8; 32] = Sha256::digest(case(name, "msg")).into();
        assert_eq!(
            key.verify_sha256_prehash(&digest, &case(name, "sig")),
            Ok(()),
            "{name}"
        );
        let other: [u8; 32] = Sha256::digest(b"other").into();
        assert!(
            key.verify_sha256_prehash(&other, &case(name, "sig"))
                .is_err(),
            "{name}"
        );
    }
    let ed = key("ed25519", "pub.pem").unwrap();
    assert_eq!(
        ed.verify_sha256_prehash(&[0; 32], &case("ed25519", "sig")),
        Err(SignatureError::NeedsMessage)
    );
}
