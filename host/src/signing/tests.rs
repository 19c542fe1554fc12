//! Tests over real keys made by cosign 2.5 and OpenSSL (tests/data/signing/README.md), with
//! OpenSSL and cosign as independent verifiers.
//!
//! cosign is found through `SIGWARD_COSIGN` (a path), else as `cosign` on `PATH`; the tests
//! that need it fail, rather than skip, when it is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use ed25519_dalek::Verifier as _;
use p256::ecdsa::signature::DigestVerifier as _;
use pkcs8::DecodePublicKey as _;
use sha2::Digest as _;

use super::*;

/// The password of every encrypted fixture (test only).
const PASSWORD: &[u8] = b"secret";
/// A message to sign, not a fixture: any bytes do.
const MESSAGE: &[u8] = b"sigward signing test message\n";

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/signing")
}

fn fixture(name: &str) -> Vec<u8> {
    let path = data_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn load(name: &str, password: Option<&[u8]>) -> Result<SigningKey, KeyError> {
    SigningKey::from_pem(&fixture(name), password)
}

/// The SPKI DER inside a `PUBLIC KEY` PEM fixture.
fn public_key_der(name: &str) -> Vec<u8> {
    let pem = fixture(name);
    let (label, der) = pem_rfc7468::decode_vec(&pem).unwrap();
    assert_eq!(label, "PUBLIC KEY");
    der
}

/// (private key, password, public key made by cosign or OpenSSL, algorithm) for every
/// supported fixture.
const SUPPORTED: &[(&str, Option<&[u8]>, &str, Algorithm)] = &[
    (
        "cosign-p256.key",
        Some(PASSWORD),
        "cosign-p256.pub",
        Algorithm::EcdsaP256Sha256,
    ),
    (
        "legacy-cosign-p256.key",
        Some(PASSWORD),
        "legacy-cosign-p256.pub",
        Algorithm::EcdsaP256Sha256,
    ),
    (
        "cosign-ed25519.key",
        Some(PASSWORD),
        "cosign-ed25519.pub",
        Algorithm::Ed25519,
    ),
    (
        "p256-pkcs8.pem",
        None,
        "p256-pkcs8.pub",
        Algorithm::EcdsaP256Sha256,
    ),
    (
        "p256-sec1.pem",
        None,
        "p256-sec1.pub",
        Algorithm::EcdsaP256Sha256,
    ),
    (
        "p384-pkcs8.pem",
        None,
        "p384-pkcs8.pub",
        Algorithm::EcdsaP384Sha256,
    ),
    (
        "ed25519-pkcs8.pem",
        None,
        "ed25519-pkcs8.pub",
        Algorithm::Ed25519,
    ),
    (
        "rsa-pkcs8.pem",
        None,
        "rsa-pkcs8.pub",
        Algorithm::RsaPkcs1v15Sha256,
    ),
    (
        "rsa4096-pkcs1.pem",
        None,
        "rsa4096-pkcs1.pub",
        Algorithm::RsaPkcs1v15Sha256,
    ),
    (
        "cosign-rsa.key",
        Some(PASSWORD),
        "cosign-rsa.pub",
        Algorithm::RsaPkcs1v15Sha256,
    ),
];

#[test]
fn public_key_matches_the_one_cosign_and_openssl_wrote() {
    for &(key, password, public, algorithm) in SUPPORTED {
        let signing_key = load(key, password).unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(signing_key.algorithm(), algorithm, "{key}");
        let expected = public_key_der(public);
        assert_eq!(signing_key.public_key_der(), expected, "{key}");
        let pem = signing_key.public_key_pem();
        let (label, der) = pem_rfc7468::decode_vec(pem.as_bytes()).unwrap();
        assert_eq!((label, der), ("PUBLIC KEY", expected), "{key}");
    }
}

#[test]
fn ignores_password_for_unencrypted_keys() {
    assert!(load("p256-pkcs8.pem", Some(b"anything")).is_ok());
}

#[test]
fn rejects_wrong_missing_and_empty_password() {
    assert_eq!(
        load("cosign-p256.key", Some(b"Secret")).unwrap_err(),
        KeyError::WrongPassword
    );
    assert_eq!(
        load("cosign-p256.key", Some(b"")).unwrap_err(),
        KeyError::WrongPassword
    );
    assert_eq!(
        load("cosign-p256.key", None).unwrap_err(),
        KeyError::PasswordRequired
    );
}

#[test]
fn errors_never_show_the_password() {
    let password = b"hunter2-do-not-print";
    let err = load("cosign-p256.key", Some(password)).unwrap_err();
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains("hunter2"), "{text}");
    }
}

#[test]
fn debug_shows_no_key_material() {
    let key = load("p256-pkcs8.pem", None).unwrap();
    assert_eq!(
        format!("{key:?}"),
        "SigningKey { algorithm: EcdsaP256Sha256, .. }"
    );
}

#[test]
fn rejects_input_that_is_not_pem() {
    assert!(matches!(
        SigningKey::from_pem(b"this is not a key", Some(PASSWORD)),
        Err(KeyError::NotPem(_))
    ));
    assert!(matches!(
        SigningKey::from_pem(b"", None),
        Err(KeyError::NotPem(_))
    ));
}

#[test]
fn rejects_pem_that_is_not_a_private_key() {
    assert_eq!(
        load("cosign-p256.pub", Some(PASSWORD)).unwrap_err(),
        KeyError::NotPrivateKey {
            label: "PUBLIC KEY".into()
        }
    );
}

#[test]
fn rejects_rsa_keys_outside_2048_to_4096_bits() {
    for (name, bits) in [
        ("rsa1024-pkcs8.pem", 1024),
        ("rsa1024-pkcs1.pem", 1024),
        ("rsa4160-pkcs8.pem", 4160),
    ] {
        let err = load(name, None).unwrap_err();
        assert_eq!(err, KeyError::RsaKeySize { bits }, "{name}");
        // The message says what is accepted, so a user knows what key to make instead.
        assert!(err.to_string().contains("2048 to 4096 bits"), "{err}");
    }
}

#[test]
fn rejects_rsa_key_whose_parts_do_not_fit_together() {
    // The PKCS#1 structure of a real key with the private exponent's last byte changed: the
    // DER is well-formed, the key is not (d·e ≢ 1), and signing with it would leak nothing
    // useful but produce garbage, so it must not load.
    let (_, der) = pem_rfc7468::decode_vec(&fixture("rsa4096-pkcs1.pem")).unwrap();
    let key = rsa::pkcs1::RsaPrivateKeyRef::from_der(&der).unwrap();
    let exponent = key.private_exponent.as_bytes();
    let at = der
        .windows(exponent.len())
        .position(|w| w == exponent)
        .unwrap()
        + exponent.len()
        - 1;
    let mut changed = der.clone();
    changed[at] ^= 0x02;
    let pem = pem_rfc7468::encode_string(LABEL_PKCS1, LineEnding::LF, &changed).unwrap();
    assert_eq!(
        SigningKey::from_pem(pem.as_bytes(), None).unwrap_err(),
        KeyError::MalformedRsaKey(rsa::pkcs1::Error::KeyMalformed)
    );
}

#[test]
fn rejects_unsupported_keys_with_a_reason() {
    assert_eq!(
        load("p256-pkcs8-encrypted.pem", Some(PASSWORD)).unwrap_err(),
        KeyError::EncryptedPkcs8
    );
    assert_eq!(
        load("secp256k1-pkcs8.pem", None).unwrap_err(),
        KeyError::UnsupportedCurve {
            oid: ObjectIdentifier::new_unwrap("1.3.132.0.10")
        }
    );
}

#[test]
fn rejects_every_truncation_without_panicking() {
    // Cut the PEM text itself.
    let pem = fixture("cosign-p256.key");
    for len in 0..pem.len() - 1 {
        assert!(
            SigningKey::from_pem(&pem[..len], Some(PASSWORD)).is_err(),
            "{len}"
        );
    }
    // Cut the DER inside well-formed PEM.
    for (name, label) in [
        ("p256-pkcs8.pem", LABEL_PKCS8),
        ("p256-sec1.pem", LABEL_SEC1),
        ("p384-pkcs8.pem", LABEL_PKCS8),
        ("ed25519-pkcs8.pem", LABEL_PKCS8),
        ("rsa-pkcs8.pem", LABEL_PKCS8),
        ("rsa4096-pkcs1.pem", LABEL_PKCS1),
    ] {
        let (_, der) = pem_rfc7468::decode_vec(&fixture(name)).unwrap();
        // From 1: pem-rfc7468 rejects an empty body as not PEM.
        for len in 1..der.len() {
            let cut = pem_rfc7468::encode_string(label, LineEnding::LF, &der[..len]).unwrap();
            let err = SigningKey::from_pem(cut.as_bytes(), None).unwrap_err();
            assert!(
                matches!(
                    err,
                    KeyError::MalformedKey(_) | KeyError::MalformedRsaKey(_)
                ),
                "{name} cut at {len}: {err}"
            );
        }
    }
}

#[test]
fn rejects_cosign_key_with_truncated_ciphertext() {
    let pem = fixture("cosign-p256.key");
    let (label, json) = pem_rfc7468::decode_vec(&pem).unwrap();
    let mut envelope: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let ciphertext = base64::engine::general_purpose::STANDARD
        .decode(envelope["ciphertext"].as_str().unwrap())
        .unwrap();
    for (len, expected) in [
        (ciphertext.len() - 1, KeyError::WrongPassword),
        (
            10,
            KeyError::BadEnvelopeField {
                field: "ciphertext",
                expected: "base64 of at least 16 bytes (the Poly1305 tag)",
            },
        ),
    ] {
        envelope["ciphertext"] = base64::engine::general_purpose::STANDARD
            .encode(&ciphertext[..len])
            .into();
        let body = serde_json::to_vec(&envelope).unwrap();
        let pem = pem_rfc7468::encode_string(label, LineEnding::LF, &body).unwrap();
        assert_eq!(
            SigningKey::from_pem(pem.as_bytes(), Some(PASSWORD)).unwrap_err(),
            expected
        );
    }
}

#[test]
fn ecdsa_signatures_verify_and_are_deterministic() {
    let p256_key = load("cosign-p256.key", Some(PASSWORD)).unwrap();
    let signature = p256_key.sign(MESSAGE).unwrap();
    assert_eq!(signature, p256_key.sign(MESSAGE).unwrap());
    let public =
        p256::ecdsa::VerifyingKey::from_public_key_der(&public_key_der("cosign-p256.pub")).unwrap();
    let signature = p256::ecdsa::DerSignature::from_bytes(&signature).unwrap();
    assert!(
        public
            .verify_digest(
                |d: &mut sha2::Sha256| {
                    d.update(MESSAGE);
                    Ok(())
                },
                &signature
            )
            .is_ok()
    );
    assert!(
        public
            .verify_digest(
                |d: &mut sha2::Sha256| {
                    d.update(b"other");
                    Ok(())
                },
                &signature
            )
            .is_err()
    );

    let p384_key = load("p384-pkcs8.pem", None).unwrap();
    let signature = p384_key.sign(MESSAGE).unwrap();
    assert_eq!(signature, p384_key.sign(MESSAGE).unwrap());
    let public =
        p384::ecdsa::VerifyingKey::from_public_key_der(&public_key_der("p384-pkcs8.pub")).unwrap();
    let signature = p384::ecdsa::DerSignature::from_bytes(&signature).unwrap();
    assert!(
        public
            .verify_digest(
                |d: &mut sha2::Sha256| {
                    d.update(MESSAGE);
                    Ok(())
                },
                &signature
            )
            .is_ok()
    );
}

#[test]
fn ed25519_signatures_verify() {
    for (key, password, public) in [
        ("ed25519-pkcs8.pem", None, "ed25519-pkcs8.pub"),
        ("cosign-ed25519.key", Some(PASSWORD), "cosign-ed25519.pub"),
    ] {
        let signature = load(key, password).unwrap().sign(MESSAGE).unwrap();
        assert_eq!(signature.len(), 64);
        let public =
            ed25519_dalek::VerifyingKey::from_public_key_der(&public_key_der(public)).unwrap();
        let signature = ed25519_dalek::Signature::from_slice(&signature).unwrap();
        assert!(public.verify(MESSAGE, &signature).is_ok(), "{key}");
        assert!(public.verify(b"other", &signature).is_err(), "{key}");
    }
}

#[test]
fn rsa_signatures_are_pkcs1v15_sha256_and_deterministic() {
    for (key, password, public_file, bytes) in [
        ("rsa-pkcs8.pem", None, "rsa-pkcs8.pub", 256),
        ("cosign-rsa.key", Some(PASSWORD), "cosign-rsa.pub", 256),
        ("rsa4096-pkcs1.pem", None, "rsa4096-pkcs1.pub", 512),
    ] {
        let signing_key = load(key, password).unwrap();
        let signature = signing_key.sign(MESSAGE).unwrap();
        // Blinding is random; the signature is not.
        assert_eq!(signature, signing_key.sign(MESSAGE).unwrap(), "{key}");
        assert_eq!(signature.len(), bytes, "{key}");
        let public = rsa::PublicKey::from_public_key_der(&public_key_der(public_file)).unwrap();
        let scheme = || rsa::Pkcs1v15Sign::new::<sha2::Sha256>();
        assert!(
            public
                .verify(scheme(), &sha2::Sha256::digest(MESSAGE), &signature)
                .is_ok(),
            "{key}"
        );
        assert!(
            public
                .verify(scheme(), &sha2::Sha256::digest(b"other"), &signature)
                .is_err(),
            "{key}"
        );
        // And sigward's own verifier, the one `sigward verify --key` runs, accepts it.
        let pem = String::from_utf8(fixture(public_file)).unwrap();
        let verifier = sigward_policy::keys::PublicKey::from_pem(&pem).unwrap();
        assert!(verifier.verify(MESSAGE, &signature).is_ok(), "{key}");
    }
}

/// Runs `command` and returns whether it exited 0; fails the test if it cannot start.
fn succeeds(command: &mut Command) -> bool {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", command.get_program()));
    if !output.status.success() {
        eprintln!(
            "{command:?}: {}\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output.status.success()
}

#[test]
fn openssl_verifies_our_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let message = dir.path().join("msg");
    let signature_file = dir.path().join("sig");
    std::fs::write(&message, MESSAGE).unwrap();
    for &(key, password, public, algorithm) in SUPPORTED {
        let public = data_dir().join(public);
        let signature = load(key, password).unwrap().sign(MESSAGE).unwrap();
        std::fs::write(&signature_file, &signature).unwrap();
        let mut openssl = Command::new("openssl");
        match algorithm {
            // P-384 too: cosign hashes with SHA-256 for every curve (see the module docs).
            // `openssl dgst -verify` with an RSA key checks PKCS#1 v1.5 padding by default.
            Algorithm::EcdsaP256Sha256
            | Algorithm::EcdsaP384Sha256
            | Algorithm::RsaPkcs1v15Sha256 => openssl
                .args(["dgst", "-sha256", "-verify"])
                .arg(&public)
                .arg("-signature")
                .arg(&signature_file)
                .arg(&message),
            Algorithm::Ed25519 => openssl
                .args(["pkeyutl", "-verify", "-rawin", "-pubin", "-inkey"])
                .arg(&public)
                .arg("-sigfile")
                .arg(&signature_file)
                .arg("-in")
                .arg(&message),
        };
        assert!(
            succeeds(&mut openssl),
            "openssl rejected the signature of {key}"
        );
    }
}

/// cosign 2.5 from `SIGWARD_COSIGN`, else `cosign` on `PATH`.
fn cosign() -> Command {
    Command::new(std::env::var_os("SIGWARD_COSIGN").unwrap_or_else(|| "cosign".into()))
}

#[test]
fn cosign_verify_blob_accepts_our_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let blob = dir.path().join("blob");
    let signature_file = dir.path().join("blob.sig");
    std::fs::write(&blob, MESSAGE).unwrap();
    for &(key, password, public, _) in SUPPORTED {
        let signature = load(key, password).unwrap().sign(MESSAGE).unwrap();
        // cosign reads `--signature` files as base64.
        std::fs::write(
            &signature_file,
            base64::engine::general_purpose::STANDARD.encode(&signature),
        )
        .unwrap();
        let verify = |file: &Path| {
            succeeds(
                cosign()
                    .args(["verify-blob", "--key"])
                    .arg(data_dir().join(public))
                    .arg("--signature")
                    .arg(&signature_file)
                    .args(["--insecure-ignore-tlog=true", "--private-infrastructure"])
                    .arg(file),
            )
        };
        assert!(verify(&blob), "cosign rejected the signature of {key}");
        // And cosign is really checking: the same signature over other bytes fails.
        let other = dir.path().join("other");
        std::fs::write(&other, b"other").unwrap();
        assert!(
            !verify(&other),
            "cosign accepted a signature of {key} over other bytes"
        );
    }
}
