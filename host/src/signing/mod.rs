//! Signing keys: loads the private keys that cosign and OpenSSL write, and signs the way
//! cosign does, so `cosign verify --key`, skopeo and sigward's own verifier accept the result.
//!
//! Accepted PEM blocks:
//!
//! - `ENCRYPTED SIGSTORE PRIVATE KEY` (cosign 2.x) and `ENCRYPTED COSIGN PRIVATE KEY` (older
//!   cosign): a password-encrypted PKCS#8 key in cosign's scrypt + NaCl secretbox envelope.
//! - `PRIVATE KEY`: unencrypted PKCS#8 (RFC 5958), as `openssl genpkey` writes it.
//! - `EC PRIVATE KEY`: unencrypted SEC1 (RFC 5915), as `openssl ecparam -genkey -noout` writes it.
//! - `RSA PRIVATE KEY`: unencrypted PKCS#1 (RFC 8017 Appendix A.1.2), as `openssl genrsa
//!   -traditional` writes it.
//!
//! Supported algorithms ([`Algorithm`]):
//!
//! - ECDSA P-256 with SHA-256 (cosign's default), signature as ASN.1 DER.
//! - ECDSA P-384 with **SHA-256**, signature as ASN.1 DER. cosign 2.5 and containers/image load
//!   every `--key` ECDSA key with SHA-256 whatever the curve: `cosign verify-blob` accepts a
//!   P-384 signature over SHA-256 and rejects one over SHA-384 (tried with cosign 2.5.0), so
//!   SHA-256 is the hash those verifiers accept. sigward's verifier accepts both.
//! - Ed25519 (pure, not Ed25519ph), signature as the raw 64 bytes.
//! - RSA with RSASSA-PKCS1-v1_5 and SHA-256 (RFC 8017 §8.2), signature as the modulus-length
//!   big-endian bytes: what cosign signs with for an RSA `--key` (`LoadPrivateKey` in cosign's
//!   `pkg/cosign/keys.go` hands the key to `LoadDefaultSignerVerifier` in sigstore/sigstore's
//!   `pkg/signature/signerverifier.go`, which picks PKCS#1 v1.5 and SHA-256 for RSA). The
//!   modulus must be 2048 to 4096 bits ([`sigward_policy::keys::RSA_BITS`], the range sigward's
//!   verifier accepts), so `sigward sign` never makes a signature `sigward verify` would refuse.
//!
//! ECDSA signatures are deterministic (RFC 6979) and so are PKCS#1 v1.5 signatures. The RSA
//! private-key operation is blinded with random numbers from the operating system (the `rsa`
//! crate's `getrandom` feature), against timing side channels; the blinding does not change the
//! signature. This module never performs I/O: callers read the key file and the password and pass
//! the bytes.

mod encrypted;

use ed25519_dalek::Signer as _;
use p256::ecdsa::signature::DigestSigner as _;
use pkcs8::{AssociatedOid as _, EncodePublicKey, LineEnding, ObjectIdentifier, PrivateKeyInfoRef};
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use sec1::der::Decode as _;
use sha2::Digest as _;
use sigward_policy::keys::RSA_BITS;
use zeroize::Zeroizing;

/// PEM label of the encrypted keys cosign 2.x writes.
const LABEL_SIGSTORE: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// PEM label of the encrypted keys older cosign releases wrote; same envelope.
const LABEL_COSIGN: &str = "ENCRYPTED COSIGN PRIVATE KEY";
/// PEM label of an unencrypted PKCS#8 key (RFC 7468 §10).
const LABEL_PKCS8: &str = "PRIVATE KEY";
/// PEM label of a password-encrypted PKCS#8 key (RFC 7468 §11), which we do not decrypt.
const LABEL_PKCS8_ENCRYPTED: &str = "ENCRYPTED PRIVATE KEY";
/// PEM label of an unencrypted SEC1 EC key (RFC 5915 §4).
const LABEL_SEC1: &str = "EC PRIVATE KEY";
/// PEM label of an unencrypted PKCS#1 RSA key: OpenSSL's "traditional" format (not one of
/// RFC 7468's labels), which cosign's `import-key-pair` reads too.
const LABEL_PKCS1: &str = "RSA PRIVATE KEY";

/// id-ecPublicKey (RFC 5480 §2.1.1).
const ID_EC_PUBLIC_KEY: ObjectIdentifier = p256::elliptic_curve::ALGORITHM_OID;
/// id-Ed25519 (RFC 8410 §3).
const ID_ED25519: ObjectIdentifier = ed25519_dalek::pkcs8::ALGORITHM_OID;
/// rsaEncryption (RFC 8017 Appendix C); `new_unwrap` runs at compile time on a constant.
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// secp256r1 / P-256 (RFC 5480 §2.1.1.1).
const SECP256R1: ObjectIdentifier = p256::NistP256::OID;
/// secp384r1 / P-384 (RFC 5480 §2.1.1.1).
const SECP384R1: ObjectIdentifier = p384::NistP384::OID;

/// A private key that signs the way cosign does.
///
/// Its `Debug` output names the algorithm only, never key material.
pub struct SigningKey {
    /// The key itself; each variant zeroizes its secret on drop.
    key: KeyPair,
    /// The public key as DER `SubjectPublicKeyInfo` (RFC 5280 §4.1.2.7).
    public_key_der: Vec<u8>,
    /// `public_key_der` as a `PUBLIC KEY` PEM with LF line endings, as cosign writes `.pub`.
    public_key_pem: String,
}

/// The signature scheme of a [`SigningKey`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// ECDSA over P-256 with SHA-256; the signature is ASN.1 DER.
    EcdsaP256Sha256,
    /// ECDSA over P-384 with SHA-256, as cosign signs with P-384 keys; the signature is ASN.1
    /// DER.
    EcdsaP384Sha256,
    /// Ed25519 (RFC 8032, pure); the signature is the raw 64 bytes.
    Ed25519,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017 §8.2); the signature is as long as the modulus.
    RsaPkcs1v15Sha256,
}

/// Why a private key could not be loaded. No message contains the password or key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The input is not a single well-formed PEM block.
    #[error(
        "the key file is not a PEM file ({0}); expected a cosign `.key` file or a PKCS#8, SEC1 \
         or PKCS#1 private key PEM"
    )]
    NotPem(pem_rfc7468::Error),
    /// The PEM block is something other than a private key (a public key, a certificate…).
    #[error(
        "the PEM block is `{label}`, not a private key; expected `{LABEL_SIGSTORE}`, \
         `{LABEL_COSIGN}`, `{LABEL_PKCS8}`, `{LABEL_SEC1}` or `{LABEL_PKCS1}`"
    )]
    NotPrivateKey {
        /// The label found after `-----BEGIN `.
        label: String,
    },
    /// A password-encrypted PKCS#8 key (`ENCRYPTED PRIVATE KEY`), which sigward does not decrypt.
    #[error(
        "password-encrypted PKCS#8 keys (`{LABEL_PKCS8_ENCRYPTED}`) are not supported; convert \
         the key with `cosign import-key-pair --key FILE` or decrypt it with `openssl pkey`"
    )]
    EncryptedPkcs8,
    /// The key is encrypted and the caller gave no password.
    #[error("the private key is encrypted and no password was given")]
    PasswordRequired,
    /// Decryption failed its authentication check: the password is wrong, or the ciphertext
    /// was changed (the two cannot be told apart).
    #[error("wrong password for the encrypted private key (or the key file is corrupted)")]
    WrongPassword,
    /// The envelope names a key derivation or cipher that cosign never writes.
    #[error(
        "unsupported key encryption (kdf `{kdf}`, cipher `{cipher}`); cosign keys use `scrypt` \
         and `nacl/secretbox`"
    )]
    UnsupportedEncryption {
        /// `kdf.name` from the envelope.
        kdf: String,
        /// `cipher.name` from the envelope.
        cipher: String,
    },
    /// The scrypt parameters are invalid, or cost more memory or time than sigward allows.
    #[error(
        "the key's scrypt parameters N={n}, r={r}, p={p} are invalid or exceed sigward's limits \
         (N a power of two, 128·N·r ≤ {} MiB, p ≤ {})",
        encrypted::MAX_SCRYPT_MEMORY >> 20,
        encrypted::MAX_SCRYPT_P
    )]
    UnsupportedKdfParams {
        /// scrypt's cost parameter `N`.
        n: u64,
        /// scrypt's block size `r`.
        r: u32,
        /// scrypt's parallelism `p`.
        p: u32,
    },
    /// The encrypted key's envelope is not the JSON document cosign writes.
    #[error("malformed cosign key envelope: {0}")]
    MalformedEnvelope(String),
    /// One field of the envelope has the wrong encoding or length.
    #[error("malformed cosign key envelope: `{field}` is not {expected}")]
    BadEnvelopeField {
        /// The JSON path of the field, such as `cipher.nonce`.
        field: &'static str,
        /// What the field should hold.
        expected: &'static str,
    },
    /// An RSA key whose modulus is outside [`RSA_BITS`].
    #[error(
        "RSA key of {bits} bits; sigward signs with RSA keys of {} to {} bits (make one with \
         `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072`)",
        RSA_BITS.start(),
        RSA_BITS.end()
    )]
    RsaKeySize {
        /// The modulus length in bits.
        bits: usize,
    },
    /// A key algorithm other than EC, Ed25519 or RSA (`rsaEncryption`).
    #[error(
        "unsupported key algorithm {oid}; sigward signs with ECDSA P-256, ECDSA P-384, Ed25519 \
         or RSA (rsaEncryption, 1.2.840.113549.1.1.1)"
    )]
    UnsupportedAlgorithm {
        /// The algorithm OID from the PKCS#8 `AlgorithmIdentifier`.
        oid: ObjectIdentifier,
    },
    /// An EC key on a curve other than P-256 or P-384.
    #[error(
        "unsupported elliptic curve {oid}; sigward signs with P-256 (1.2.840.10045.3.1.7) or \
         P-384 (1.3.132.0.34)"
    )]
    UnsupportedCurve {
        /// The named-curve OID from the key.
        oid: ObjectIdentifier,
    },
    /// An EC key that does not name its curve.
    #[error("the EC private key does not name its curve (named-curve parameters are required)")]
    MissingCurve,
    /// The key's ASN.1 structure or its values are invalid.
    #[error("malformed private key: {0}")]
    MalformedKey(#[from] pkcs8::Error),
    /// A PKCS#1 `RSA PRIVATE KEY` whose ASN.1 structure or values are invalid (including
    /// multi-prime keys and keys whose parts do not fit together).
    #[error("malformed RSA private key: {0}")]
    MalformedRsaKey(#[from] rsa::pkcs1::Error),
}

/// Why a loaded key could not sign. No message contains key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignError {
    /// The RSA private-key operation failed: the operating system gave no random numbers for
    /// blinding, or the result did not verify against the public key (a fault).
    #[error("RSA signing failed: {0}")]
    Rsa(rsa::Error),
}

impl SigningKey {
    /// Loads a private key PEM: cosign's `ENCRYPTED SIGSTORE PRIVATE KEY` or `ENCRYPTED COSIGN
    /// PRIVATE KEY` (decrypted with `password`), or an unencrypted `PRIVATE KEY` (PKCS#8),
    /// `EC PRIVATE KEY` (SEC1) or `RSA PRIVATE KEY` (PKCS#1). `password` is ignored for
    /// unencrypted keys; cosign allows an empty password, which is `Some(b"")`.
    ///
    /// # Errors
    ///
    /// - [`KeyError::NotPem`], [`KeyError::NotPrivateKey`], [`KeyError::EncryptedPkcs8`]: the
    ///   input is not one of the PEM blocks above.
    /// - [`KeyError::PasswordRequired`], [`KeyError::WrongPassword`]: decryption failed.
    /// - [`KeyError::UnsupportedEncryption`], [`KeyError::UnsupportedKdfParams`],
    ///   [`KeyError::MalformedEnvelope`], [`KeyError::BadEnvelopeField`]: the cosign envelope is
    ///   not one sigward can open.
    /// - [`KeyError::RsaKeySize`], [`KeyError::UnsupportedAlgorithm`],
    ///   [`KeyError::UnsupportedCurve`], [`KeyError::MissingCurve`]: the key is not ECDSA P-256,
    ///   ECDSA P-384, Ed25519, or RSA of 2048 to 4096 bits.
    /// - [`KeyError::MalformedKey`], [`KeyError::MalformedRsaKey`]: the key's DER is invalid.
    pub fn from_pem(pem: &[u8], password: Option<&[u8]>) -> Result<Self, KeyError> {
        let (label, body) = pem_rfc7468::decode_vec(pem).map_err(KeyError::NotPem)?;
        let body = Zeroizing::new(body);
        let key = match label {
            LABEL_SIGSTORE | LABEL_COSIGN => {
                let password = password.ok_or(KeyError::PasswordRequired)?;
                // The PEM body is the envelope's JSON text; inside it is PKCS#8 DER.
                let pkcs8 = encrypted::decrypt(&body, password)?;
                KeyPair::from_pkcs8_der(&pkcs8)?
            }
            LABEL_PKCS8 => KeyPair::from_pkcs8_der(&body)?,
            LABEL_SEC1 => KeyPair::from_sec1_der(&body)?,
            LABEL_PKCS1 => KeyPair::rsa(rsa::PrivateKey::from_pkcs1_der(&body)?)?,
            LABEL_PKCS8_ENCRYPTED => return Err(KeyError::EncryptedPkcs8),
            other => {
                return Err(KeyError::NotPrivateKey {
                    label: other.to_owned(),
                });
            }
        };
        let (public_key_der, public_key_pem) = key.public_key()?;
        Ok(Self {
            key,
            public_key_der,
            public_key_pem,
        })
    }

    /// The signature scheme this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self.key {
            KeyPair::EcdsaP256(_) => Algorithm::EcdsaP256Sha256,
            KeyPair::EcdsaP384(_) => Algorithm::EcdsaP384Sha256,
            KeyPair::Ed25519(_) => Algorithm::Ed25519,
            KeyPair::Rsa(_) => Algorithm::RsaPkcs1v15Sha256,
        }
    }

    /// Signs `message` the way cosign does: ECDSA as ASN.1 DER over the message's SHA-256
    /// (for P-256 and P-384 alike, see the module docs), Ed25519 as the raw 64 bytes, RSA as
    /// RSASSA-PKCS1-v1_5 over the message's SHA-256.
    ///
    /// ECDSA uses RFC 6979 deterministic nonces and PKCS#1 v1.5 has no randomness, so the same
    /// key and message always give the same signature.
    ///
    /// # Errors
    ///
    /// [`SignError::Rsa`] when the RSA private-key operation fails (see the variant); ECDSA and
    /// Ed25519 signing cannot fail.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        // The `Signer`/`DigestSigner` convenience methods unwrap `try_sign*` inside the
        // signature crate. For these keys that cannot fail: ecdsa 0.17's RFC 6979
        // `sign_prehash` always returns `Ok`, and ed25519-dalek's `try_sign` always returns `Ok`.
        let signature = match &self.key {
            KeyPair::EcdsaP256(key) => {
                let signature: p256::ecdsa::DerSignature =
                    key.sign_digest(|digest: &mut sha2::Sha256| {
                        digest.update(message);
                    });
                signature.as_bytes().to_vec()
            }
            KeyPair::EcdsaP384(key) => {
                let signature: p384::ecdsa::DerSignature =
                    key.sign_digest(|digest: &mut sha2::Sha256| {
                        digest.update(message);
                    });
                signature.as_bytes().to_vec()
            }
            KeyPair::Ed25519(key) => key.sign(message).to_bytes().to_vec(),
            KeyPair::Rsa(key) => {
                // RFC 8017 §8.2.1: EMSA-PKCS1-v1_5 over the SHA-256 DigestInfo, then RSASP1
                // (blinded by the `rsa` crate, which also checks the result against the public
                // key before returning it).
                let digest = sha2::Sha256::digest(message);
                key.sign(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest)
                    .map_err(SignError::Rsa)?
            }
        };
        Ok(signature)
    }

    /// The public key as DER `SubjectPublicKeyInfo`, the body of [`Self::public_key_pem`].
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_key_der
    }

    /// The public key as a PKIX `PUBLIC KEY` PEM with LF line endings, like cosign's `.pub`.
    pub fn public_key_pem(&self) -> String {
        self.public_key_pem.clone()
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

/// The private key of one supported algorithm.
enum KeyPair {
    EcdsaP256(p256::ecdsa::SigningKey),
    EcdsaP384(p384::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
    /// Two-prime RSA whose modulus is within [`RSA_BITS`]; zeroized on drop by the `rsa` crate.
    Rsa(rsa::PrivateKey),
}

impl KeyPair {
    /// Reads an unencrypted PKCS#8 `PrivateKeyInfo` (RFC 5958 §2).
    fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let info = PrivateKeyInfoRef::try_from(der)?;
        let algorithm = info.algorithm.oid;
        if algorithm == ID_EC_PUBLIC_KEY {
            // RFC 5480 §2.1.1: the parameters are the named curve's OID.
            let curve = info
                .algorithm
                .parameters_oid()
                .map_err(pkcs8::Error::from)?;
            match curve {
                SECP256R1 => Ok(Self::EcdsaP256(p256::ecdsa::SigningKey::try_from(info)?)),
                SECP384R1 => Ok(Self::EcdsaP384(p384::ecdsa::SigningKey::try_from(info)?)),
                oid => Err(KeyError::UnsupportedCurve { oid }),
            }
        } else if algorithm == ID_ED25519 {
            Ok(Self::Ed25519(ed25519_dalek::SigningKey::try_from(info)?))
        } else if algorithm == RSA_ENCRYPTION {
            // RFC 8017 Appendix A.1: the parameters are NULL and the key is PKCS#1 inside.
            Self::rsa(rsa::PrivateKey::try_from(info)?)
        } else {
            Err(KeyError::UnsupportedAlgorithm { oid: algorithm })
        }
    }

    /// Reads an unencrypted SEC1 `ECPrivateKey` (RFC 5915 §3) that names its curve.
    fn from_sec1_der(der: &[u8]) -> Result<Self, KeyError> {
        let key = sec1::EcPrivateKey::from_der(der).map_err(pkcs8::Error::from)?;
        let curve = key
            .parameters
            .and_then(sec1::EcParameters::named_curve)
            .ok_or(KeyError::MissingCurve)?;
        let malformed = |e| KeyError::MalformedKey(pkcs8::Error::from(e));
        match curve {
            SECP256R1 => p256::SecretKey::try_from(key)
                .map(|secret| Self::EcdsaP256(secret.into()))
                .map_err(malformed),
            SECP384R1 => p384::SecretKey::try_from(key)
                .map(|secret| Self::EcdsaP384(secret.into()))
                .map_err(malformed),
            oid => Err(KeyError::UnsupportedCurve { oid }),
        }
    }

    /// Keeps an RSA key whose modulus is within [`RSA_BITS`]. The `rsa` crate has already
    /// checked that the key's parts fit together (`PrivateKey::from_components` validates).
    fn rsa(key: rsa::PrivateKey) -> Result<Self, KeyError> {
        let bits = usize::try_from(key.n().bit_width_vartime()).unwrap_or(usize::MAX);
        if RSA_BITS.contains(&bits) {
            Ok(Self::Rsa(key))
        } else {
            Err(KeyError::RsaKeySize { bits })
        }
    }

    /// The public key as SPKI DER and as a `PUBLIC KEY` PEM.
    fn public_key(&self) -> Result<(Vec<u8>, String), KeyError> {
        match self {
            Self::EcdsaP256(key) => encode_public_key(key.verifying_key()),
            Self::EcdsaP384(key) => encode_public_key(key.verifying_key()),
            Self::Ed25519(key) => encode_public_key(&key.verifying_key()),
            Self::Rsa(key) => encode_public_key(&key.to_public_key()),
        }
    }
}

/// Encodes a public key as SPKI DER and PEM (RFC 7468 §13).
fn encode_public_key(key: &impl EncodePublicKey) -> Result<(Vec<u8>, String), KeyError> {
    let der = key
        .to_public_key_der()
        .map_err(pkcs8::Error::from)?
        .into_vec();
    let pem = key
        .to_public_key_pem(LineEnding::LF)
        .map_err(pkcs8::Error::from)?;
    Ok((der, pem))
}

#[cfg(test)]
mod tests;
