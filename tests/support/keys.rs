//! Signing key pairs on disk. cosign's and skopeo's are made by those programs (see `Lab`); a
//! plain, unencrypted PKCS#8 P-256 key (which `sigward sign` also accepts) is made here.

use std::fs;
use std::path::{Path, PathBuf};

use p256::ecdsa::SigningKey;
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use sha2::{Digest as _, Sha256};

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
