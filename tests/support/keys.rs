//! Signing key pairs on disk. cosign's and skopeo's are made by those programs (see `Lab`); a
//! plain, unencrypted PKCS#8 P-256 key (which `sigward sign` also accepts) is made here, and RSA
//! keys by `openssl` (`KeyPair::openssl_rsa`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use p256::ecdsa::SigningKey;
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use sha2::{Digest as _, Sha256};

use super::outcome::Outcome;

/// A private key file and its PKIX `PUBLIC KEY` PEM.
#[derive(Clone, Debug)]
pub(crate) struct KeyPair {
    /// The private key: cosign's encrypted PEM, skopeo's, or plain PKCS#8.
    pub(crate) private: PathBuf,
    /// The public key, `-----BEGIN PUBLIC KEY-----`.
    pub(crate) public: PathBuf,
}

impl KeyPair {
    /// An unencrypted PKCS#8 P-256 key derived from `seed` (deterministic, so a failure can be
    /// reproduced), written as `<dir>/<name>.pem` and `<dir>/<name>.pub`.
    pub(crate) fn plain_pkcs8(dir: &Path, name: &str) -> KeyPair {
        let scalar = Sha256::digest(format!("sigward-e2e plain key {name}").as_bytes());
        let key = SigningKey::from_slice(&scalar).expect("a SHA-256 output is a valid scalar");
        let private = dir.join(format!("{name}.pem"));
        let public = dir.join(format!("{name}.pub"));
        let private_pem = key.to_pkcs8_pem(LineEnding::LF).expect("PKCS#8 PEM");
        fs::write(&private, private_pem.as_bytes()).expect("write private key");
        let public_pem = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("public key PEM");
        fs::write(&public, public_pem).expect("write public key");
        KeyPair { private, public }
    }
}

/// How OpenSSL 3 writes a new RSA private key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RsaFormat {
    /// `openssl genpkey -algorithm RSA`: unencrypted PKCS#8, `PRIVATE KEY`.
    GenpkeyPkcs8,
    /// `openssl genrsa -traditional`: unencrypted PKCS#1, `RSA PRIVATE KEY`.
    GenrsaPkcs1,
}

impl KeyPair {
    /// A new RSA key of `bits` made by `openssl` in `format`, written as `<dir>/<name>.pem`, and
    /// its public key (`openssl pkey -pubout`) as `<dir>/<name>.pub`.
    pub(crate) fn openssl_rsa(dir: &Path, name: &str, bits: u32, format: RsaFormat) -> KeyPair {
        let private = dir.join(format!("{name}.pem"));
        let public = dir.join(format!("{name}.pub"));
        let mut generate = Command::new("openssl");
        let label = match format {
            RsaFormat::GenpkeyPkcs8 => {
                generate
                    .args(["genpkey", "-algorithm", "RSA", "-pkeyopt"])
                    .arg(format!("rsa_keygen_bits:{bits}"))
                    .arg("-out")
                    .arg(&private);
                "-----BEGIN PRIVATE KEY-----"
            }
            RsaFormat::GenrsaPkcs1 => {
                generate
                    .args(["genrsa", "-traditional", "-out"])
                    .arg(&private)
                    .arg(bits.to_string());
                "-----BEGIN RSA PRIVATE KEY-----"
            }
        };
        Outcome::run(&mut generate).assert_success();
        // The test is about these formats: make sure this OpenSSL wrote the one asked for.
        let pem = fs::read_to_string(&private).expect("read the RSA key");
        assert!(
            pem.starts_with(label),
            "openssl wrote {pem:.40}…, not {label}"
        );
        Outcome::run(
            Command::new("openssl")
                .args(["pkey", "-pubout", "-in"])
                .arg(&private)
                .arg("-out")
                .arg(&public),
        )
        .assert_success();
        KeyPair { private, public }
    }
}
