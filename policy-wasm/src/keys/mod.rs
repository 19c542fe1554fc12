//! Public keys that verify cosign signatures: ECDSA P-256, P-384 and P-521, RSA (PKCS#1 v1.5
//! and PSS, 2048 to 4096 bits) and Ed25519, read from PEM (`PUBLIC KEY`, or `RSA PUBLIC KEY`).
//!
//! Hash choice follows cosign's legacy verifiers (docs/formats/cosign-signatures.md,
//! "Keys and hash choice"): keys are loaded with SHA-256 whatever the curve, so a P-384 or P-521
//! key may have signed a SHA-256 digest; the curve's own hash (SHA-384 for P-384, SHA-512 for
//! P-521) is also accepted, as bundles and trust roots pin it. This module never performs I/O.

use der::{Decode as _, asn1::ObjectIdentifier};
use sha2::{Sha256, Sha384};
use spki::SubjectPublicKeyInfoRef;

/// id-ecPublicKey (RFC 5480).
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// secp256r1 / P-256.
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// secp384r1 / P-384.
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
/// secp521r1 / P-521.
const SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
/// rsaEncryption (RFC 8017).
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// id-Ed25519 (RFC 8410).
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// Smallest and largest RSA moduli accepted, in bits (`sigward sign` refuses keys outside it
/// too, so it never makes a signature this verifier would reject).
pub const RSA_BITS: core::ops::RangeInclusive<usize> = 2048..=4096;

/// A public key that can verify signatures.
#[derive(Debug, Clone, PartialEq)]
pub enum PublicKey {
    /// ECDSA over P-256.
    P256(p256::ecdsa::VerifyingKey),
    /// ECDSA over P-384.
    P384(p384::ecdsa::VerifyingKey),
    /// ECDSA over P-521 (cosign accepts such keys).
    P521(p521::ecdsa::VerifyingKey),
    /// RSA, PKCS#1 v1.5 or PSS padding with SHA-256.
    Rsa(rsa::PublicKey),
    /// Ed25519 (pure: the message itself is signed).
    Ed25519(ed25519_dalek::VerifyingKey),
}

/// Why a key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text is not PEM.
    #[error("not a PEM document: {0}")]
    NotPem(String),
    /// The PEM block is something else than a public key (a certificate, a private key, ...).
    #[error("PEM block {0:?} is not a public key (expected \"PUBLIC KEY\" or \"RSA PUBLIC KEY\")")]
    WrongLabel(String),
    /// The DER inside is not a SubjectPublicKeyInfo or PKCS#1 key.
    #[error("malformed public key: {0}")]
    Malformed(String),
    /// A key type or curve we do not verify with.
    #[error("unsupported public key algorithm {0}")]
    Unsupported(String),
    /// An RSA modulus outside 2048..=4096 bits.
    #[error("RSA key of {0} bits; 2048 to 4096 bits are accepted")]
    RsaSize(usize),
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature bytes are not a well-formed signature for this key type.
    #[error("signature is not a well-formed {0} signature")]
    Malformed(&'static str),
    /// The signature is well-formed but does not verify over the message.
    #[error("{0} signature does not verify")]
    Invalid(&'static str),
    /// The key signs messages, not digests, and only a digest was given.
    #[error("Ed25519 signatures can only be checked against the message, not its digest")]
    NeedsMessage,
}

impl PublicKey {
    /// Reads a PEM `PUBLIC KEY` (PKIX SubjectPublicKeyInfo) or `RSA PUBLIC KEY` (PKCS#1).
    ///
    /// # Errors
    ///
    /// [`KeyError::NotPem`] for text that is not PEM, [`KeyError::WrongLabel`] for another kind
    /// of PEM block, [`KeyError::Malformed`], [`KeyError::Unsupported`] or
    /// [`KeyError::RsaSize`] for keys we cannot use.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let (label, der) = pem_rfc7468::decode_vec(pem.trim().as_bytes())
            .map_err(|err| KeyError::NotPem(err.to_string()))?;
        match label {
            "PUBLIC KEY" => Self::from_spki_der(&der),
            "RSA PUBLIC KEY" => Self::from_pkcs1_der(&der),
            other => Err(KeyError::WrongLabel(other.to_owned())),
        }
    }

    /// Reads a DER PKCS#1 `RSAPublicKey` (trust roots' `PKCS1_RSA_PKCS1V5` keys).
    ///
    /// # Errors
    ///
    /// [`KeyError::Malformed`] or [`KeyError::RsaSize`].
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        use rsa::pkcs1::DecodeRsaPublicKey as _;
        let key = rsa::PublicKey::from_pkcs1_der(der)
            .map_err(|err| KeyError::Malformed(err.to_string()))?;
        Self::rsa(key)
    }

    /// Reads a DER SubjectPublicKeyInfo.
    ///
    /// # Errors
    ///
    /// As [`PublicKey::from_pem`], minus the PEM cases.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let spki = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|err| KeyError::Malformed(err.to_string()))?;
        let malformed = |err: &dyn core::fmt::Display| KeyError::Malformed(err.to_string());
        let bits = spki.subject_public_key.as_bytes().ok_or_else(|| {
            KeyError::Malformed("public key bit string has unused bits".to_owned())
        })?;
        let algorithm = spki.algorithm.oid;
        if algorithm == EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters_oid()
                .map_err(|err| KeyError::Malformed(err.to_string()))?;
            return if curve == SECP256R1 {
                p256::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                    .map(Self::P256)
                    .map_err(|err| malformed(&err))
            } else if curve == SECP384R1 {
                p384::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                    .map(Self::P384)
                    .map_err(|err| malformed(&err))
            } else if curve == SECP521R1 {
                p521::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                    .map(Self::P521)
                    .map_err(|err| malformed(&err))
            } else {
                Err(KeyError::Unsupported(format!("ECDSA curve {curve}")))
            };
        }
        if algorithm == RSA_ENCRYPTION {
            let key = rsa::PublicKey::try_from(spki).map_err(|err| malformed(&err))?;
            return Self::rsa(key);
        }
        if algorithm == ED25519 {
            let raw: &[u8; 32] = bits
                .try_into()
                .map_err(|_| KeyError::Malformed("Ed25519 key is not 32 bytes".to_owned()))?;
            return ed25519_dalek::VerifyingKey::from_bytes(raw)
                .map(Self::Ed25519)
                .map_err(|err| malformed(&err));
        }
        Err(KeyError::Unsupported(algorithm.to_string()))
    }

    fn rsa(key: rsa::PublicKey) -> Result<Self, KeyError> {
        use rsa::traits::PublicKeyParts as _;
        let bits = key.n().bit_width_vartime();
        let bits = usize::try_from(bits).unwrap_or(usize::MAX);
        if RSA_BITS.contains(&bits) {
            Ok(Self::Rsa(key))
        } else {
            Err(KeyError::RsaSize(bits))
        }
    }

    /// A short name of the algorithm, for reports.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Self::P256(_) => "ECDSA P-256",
            Self::P384(_) => "ECDSA P-384",
            Self::P521(_) => "ECDSA P-521",
            Self::Rsa(_) => "RSA",
            Self::Ed25519(_) => "Ed25519",
        }
    }

    /// Verifies `signature` over `message`.
    ///
    /// ECDSA signatures are ASN.1 DER; RSA signatures PKCS#1 v1.5 or PSS over SHA-256; Ed25519
    /// signatures the raw 64 bytes, checked strictly.
    ///
    /// # Errors
    ///
    /// [`SignatureError::Malformed`] when the bytes cannot be a signature of this key type,
    /// [`SignatureError::Invalid`] when the signature does not verify.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        use ecdsa::signature::hazmat::PrehashVerifier as _;
        use sha2::Digest as _;
        if let Self::Ed25519(key) = self {
            let sig = ed25519_dalek::Signature::from_slice(signature)
                .map_err(|_| SignatureError::Malformed("Ed25519"))?;
            return key
                .verify_strict(message, &sig)
                .map_err(|_| SignatureError::Invalid("Ed25519"));
        }
        let sha256: [u8; 32] = Sha256::digest(message).into();
        match (self, self.verify_sha256_prehash(&sha256, signature)) {
            // cosign's legacy default hash is SHA-256 for every key; bundles use the curve's
            // own (SHA-384 for P-384, SHA-512 for P-521).
            (Self::P384(key), Err(SignatureError::Invalid(name))) => {
                let sig = p384::ecdsa::DerSignature::from_bytes(signature)
                    .map_err(|_| SignatureError::Malformed(name))?;
                key.verify_prehash(&Sha384::digest(message), &sig)
                    .map_err(|_| SignatureError::Invalid(name))
            }
            (Self::P521(key), Err(SignatureError::Invalid(name))) => {
                let sig = p521::ecdsa::DerSignature::from_bytes(signature)
                    .map_err(|_| SignatureError::Malformed(name))?;
                key.verify_prehash(&sha2::Sha512::digest(message), &sig)
                    .map_err(|_| SignatureError::Invalid(name))
            }
            (_, outcome) => outcome,
        }
    }
}

impl PublicKey {
    /// Verifies `signature` over a message known only by its SHA-256 `digest` (an artifact
    /// given as `sha256:<hex>`). ECDSA and RSA sign the digest, so this is exact; Ed25519
    /// signs the message itself and cannot be checked this way.
    ///
    /// # Errors
    ///
    /// [`SignatureError::Malformed`] or [`SignatureError::Invalid`] as for
    /// [`PublicKey::verify`]; [`SignatureError::NeedsMessage`] for Ed25519.
    pub fn verify_sha256_prehash(
        &self,
        digest: &[u8; 32],
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        use ecdsa::signature::hazmat::PrehashVerifier as _;
        let name = self.algorithm();
        let invalid = |_| SignatureError::Invalid(name);
        match self {
            Self::P256(key) => {
                let sig = p256::ecdsa::DerSignature::from_bytes(signature)
                    .map_err(|_| SignatureError::Malformed(name))?;
                key.verify_prehash(digest, &sig).map_err(invalid)
            }
            Self::P384(key) => {
                let sig = p384::ecdsa::DerSignature::from_bytes(signature)
                    .map_err(|_| SignatureError::Malformed(name))?;
                key.verify_prehash(digest, &sig).map_err(invalid)
            }
            Self::P521(key) => {
                let sig = p521::ecdsa::DerSignature::from_bytes(signature)
                    .map_err(|_| SignatureError::Malformed(name))?;
                key.verify_prehash(digest, &sig).map_err(invalid)
            }
            Self::Rsa(key) => {
                let pkcs1 = rsa::pkcs1v15::Signature::try_from(signature)
                    .map_err(|_| SignatureError::Malformed(name))?;
                if rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key.clone())
                    .verify_prehash(digest, &pkcs1)
                    .is_ok()
                {
                    return Ok(());
                }
                let pss = rsa::pss::Signature::try_from(signature)
                    .map_err(|_| SignatureError::Malformed(name))?;
                rsa::pss::VerifyingKey::<Sha256>::new_with_auto_salt_len(key.clone())
                    .verify_prehash(digest, &pss)
                    .map_err(invalid)
            }
            Self::Ed25519(_) => Err(SignatureError::NeedsMessage),
        }
    }
}

#[cfg(test)]
mod tests;
