//! Signatures with an explicit hash: an X.509 `signatureAlgorithm` names both the key type
//! and the hash (RFC 5758 §3.2, RFC 4055 §5, RFC 8410 §6), so a certificate signature is
//! checked with exactly that hash, unlike cosign's legacy payload signatures
//! ([`PublicKey::verify`] tries several). SCTs use the same helper (RFC 6962 §3.2: SHA-256).

use der::asn1::ObjectIdentifier;
use ecdsa::signature::Verifier as _;
use ecdsa::signature::hazmat::PrehashVerifier as _;
use sha2::{Digest as _, Sha256, Sha384, Sha512};

use super::{CertError, Certificate};
use crate::keys::{PublicKey, SignatureError};

/// ecdsa-with-SHA256 (RFC 5758 §3.2).
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// ecdsa-with-SHA384 (RFC 5758 §3.2): Fulcio's CAs sign with it.
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
/// ecdsa-with-SHA512 (RFC 5758 §3.2).
const ECDSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
/// sha256WithRSAEncryption (RFC 4055 §5).
const RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
/// sha384WithRSAEncryption (RFC 4055 §5).
const RSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
/// sha512WithRSAEncryption (RFC 4055 §5).
const RSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
/// id-Ed25519 (RFC 8410 §3).
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// The hash a signature was made over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// The signature scheme of a certificate: key family plus hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Ecdsa(Hash),
    RsaPkcs1(Hash),
    Ed25519,
}

/// Checks that `issuer_key` signed `child` (its TBSCertificate, with the algorithm the
/// certificate names).
pub(crate) fn verify_issued_by(
    child: &Certificate,
    issuer_key: &PublicKey,
) -> Result<(), CertError> {
    let algorithm = child.parsed.signature_algorithm();
    // RFC 5280 §4.1.1.2: the outer algorithm must equal the one inside the TBS.
    if algorithm != child.parsed.tbs_certificate().signature() {
        return Err(CertError::Malformed(
            "signatureAlgorithm differs from tbsCertificate.signature".to_owned(),
        ));
    }
    let scheme = scheme(algorithm.oid)?;
    let signature =
        child.parsed.signature().as_bytes().ok_or_else(|| {
            CertError::Malformed("signature bit string has unused bits".to_owned())
        })?;
    let message = child.tbs_der();
    let checked = match (scheme, issuer_key) {
        (Scheme::Ecdsa(hash), PublicKey::P256(_) | PublicKey::P384(_))
        | (Scheme::RsaPkcs1(hash), PublicKey::Rsa(_)) => {
            verify_with_hash(issuer_key, hash, message, signature)
        }
        (Scheme::Ed25519, PublicKey::Ed25519(_)) => issuer_key.verify(message, signature),
        _ => {
            return Err(CertError::UnsupportedSignatureAlgorithm(format!(
                "{} with a {} key",
                algorithm.oid,
                issuer_key.algorithm()
            )));
        }
    };
    checked.map_err(|_| CertError::UntrustedChain)
}

/// Verifies an ECDSA (ASN.1 DER) or RSA PKCS#1 v1.5 `signature` over `message` hashed with
/// exactly `hash`. Ed25519 keys sign messages, not hashes, and are refused as malformed.
pub(crate) fn verify_with_hash(
    key: &PublicKey,
    hash: Hash,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    let name = key.algorithm();
    let invalid = |_| SignatureError::Invalid(name);
    let digest = match hash {
        Hash::Sha256 => Sha256::digest(message).to_vec(),
        Hash::Sha384 => Sha384::digest(message).to_vec(),
        Hash::Sha512 => Sha512::digest(message).to_vec(),
    };
    match key {
        // ECDSA truncates a longer digest to the curve order (SEC 1 §4.1.4 step 5).
        PublicKey::P256(key) => {
            let sig = p256::ecdsa::DerSignature::from_bytes(signature)
                .map_err(|_| SignatureError::Malformed(name))?;
            key.verify_prehash(&digest, &sig).map_err(invalid)
        }
        PublicKey::P384(key) => {
            let sig = p384::ecdsa::DerSignature::from_bytes(signature)
                .map_err(|_| SignatureError::Malformed(name))?;
            key.verify_prehash(&digest, &sig).map_err(invalid)
        }
        PublicKey::P521(key) => {
            let sig = p521::ecdsa::DerSignature::from_bytes(signature)
                .map_err(|_| SignatureError::Malformed(name))?;
            key.verify_prehash(&digest, &sig).map_err(invalid)
        }
        PublicKey::Rsa(key) => {
            let sig = rsa::pkcs1v15::Signature::try_from(signature)
                .map_err(|_| SignatureError::Malformed(name))?;
            let key = key.clone();
            match hash {
                Hash::Sha256 => {
                    rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key).verify(message, &sig)
                }
                Hash::Sha384 => {
                    rsa::pkcs1v15::VerifyingKey::<Sha384>::new(key).verify(message, &sig)
                }
                Hash::Sha512 => {
                    rsa::pkcs1v15::VerifyingKey::<Sha512>::new(key).verify(message, &sig)
                }
            }
            .map_err(invalid)
        }
        // Ed25519 signs the message itself (RFC 8032): there is no hash to choose.
        PublicKey::Ed25519(_) => Err(SignatureError::Malformed(name)),
    }
}

fn scheme(oid: ObjectIdentifier) -> Result<Scheme, CertError> {
    let known = [
        (ECDSA_SHA256, Scheme::Ecdsa(Hash::Sha256)),
        (ECDSA_SHA384, Scheme::Ecdsa(Hash::Sha384)),
        (ECDSA_SHA512, Scheme::Ecdsa(Hash::Sha512)),
        (RSA_SHA256, Scheme::RsaPkcs1(Hash::Sha256)),
        (RSA_SHA384, Scheme::RsaPkcs1(Hash::Sha384)),
        (RSA_SHA512, Scheme::RsaPkcs1(Hash::Sha512)),
        (ED25519, Scheme::Ed25519),
    ];
    known
        .into_iter()
        .find_map(|(known, scheme)| (known == oid).then_some(scheme))
        .ok_or_else(|| CertError::UnsupportedSignatureAlgorithm(oid.to_string()))
}
