//! X.509 certificates as Sigstore uses them: Fulcio leaves, their CA chains and the identity a leaf
//! carries (docs/formats/fulcio-certificates.md; docs/formats/sigstore-bundle.md, "Verification",
//! steps 2, 4 and 6).
//!
//! - [`Certificate`] keeps the DER a certificate arrived as next to its parsed form, so every
//!   signature is checked over the bytes that were signed, never over a re-encoding.
//! - [`verify_chain`] builds and checks the path from a leaf to one of the trusted root's
//!   certificate authorities at a given time ([`chain`](mod@chain)).
//! - [`Certificate::signer`] and [`check_identity`] read and match the signer identity: SANs,
//!   OIDC issuer, Fulcio extensions ([`identity`](mod@identity)).
//!
//! This module never performs I/O and never reads a clock: the verification time is an
//! argument.

use der::asn1::{AnyRef, ObjectIdentifier};
use der::{Decode as _, Encode as _};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage};

use crate::keys::{KeyError, PublicKey};
use crate::time::UnixTime;

pub mod chain;
pub mod identity;
mod signature;

pub use chain::{MAX_INTERMEDIATES, MAX_PATH_LEN, reject_roots, verify_chain};
pub use identity::{Signer, check_identity};
pub(crate) use signature::{Hash, verify_with_hash};

/// id-kp-codeSigning (RFC 5280 §4.2.1.12): Fulcio leaves carry it
/// (docs/formats/fulcio-certificates.md, "Leaf profile").
pub const CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// id-kp-timeStamping (RFC 5280 §4.2.1.12, RFC 3161 §2.3): TSA signing certificates.
pub const TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
/// anyExtendedKeyUsage (RFC 5280 §4.2.1.12): an issuer with it may issue any usage.
const ANY_EXTENDED_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37.0");

/// A parsed X.509 certificate together with the exact DER it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    /// The TBSCertificate exactly as it appears in `der` (what the issuer signed).
    tbs_der: Vec<u8>,
    parsed: x509_cert::Certificate,
    not_before: UnixTime,
    not_after: UnixTime,
}

/// What a leaf certificate is used for; decides the extended key usage [`verify_chain`]
/// requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// Signing artifacts: Fulcio leaves (EKU codeSigning and KU digitalSignature).
    CodeSigning,
    /// Signing RFC 3161 timestamps: TSA certificates (EKU timeStamping).
    TimeStamping,
}

impl Usage {
    /// The extended key usage this use requires.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::CodeSigning => CODE_SIGNING,
            Self::TimeStamping => TIME_STAMPING,
        }
    }
}

impl core::fmt::Display for Usage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::CodeSigning => "codeSigning",
            Self::TimeStamping => "timeStamping",
        })
    }
}

/// Why a certificate, a chain or an identity was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// Bytes that are not a DER certificate (or an extension that does not decode).
    #[error("malformed certificate: {0}")]
    Malformed(String),
    /// Text that is not a sequence of PEM `CERTIFICATE` blocks.
    #[error("not a PEM certificate chain: {0}")]
    NotPem(String),
    /// A PEM chain without any certificate.
    #[error("no certificate in PEM text")]
    NoCertificates,
    /// The certificate's public key cannot be used.
    #[error("certificate public key: {0}")]
    Key(#[from] KeyError),
    /// A certificate signed with an algorithm we do not verify (e.g. RSA-PSS, SHA-1).
    #[error("unsupported certificate signature algorithm {0}")]
    UnsupportedSignatureAlgorithm(String),
    /// A certificate is not valid at the verification time (X.509 validity, both ends
    /// included).
    #[error(
        "certificate is not valid at {at}: valid from {not_before} to {not_after} (Unix seconds)"
    )]
    OutsideValidity {
        /// The verification time.
        at: UnixTime,
        /// The certificate's notBefore.
        not_before: UnixTime,
        /// The certificate's notAfter.
        not_after: UnixTime,
    },
    /// The leaf's validity is not inside its issuer's: an issuer cannot vouch for a time it was
    /// not itself valid at, so a back-dated (or over-long) leaf is refused.
    #[error(
        "certificate validity {not_before}..{not_after} is not within its issuer {issuer:?}'s (Unix seconds)"
    )]
    OutsideIssuerValidity {
        /// The issuer's subject.
        issuer: String,
        /// The leaf's notBefore.
        not_before: UnixTime,
        /// The leaf's notAfter.
        not_after: UnixTime,
    },
    /// The leaf is a CA certificate (docs/formats/sigstore-bundle.md, "Step 0: shape").
    #[error("leaf certificate is a CA certificate")]
    LeafIsCa,
    /// The leaf's key usage does not allow digital signatures (docs/formats/fulcio-certificates.md,
    /// "Leaf profile").
    #[error("leaf certificate lacks the digitalSignature key usage")]
    MissingDigitalSignature,
    /// The leaf lacks the extended key usage, or an issuer restricts it away.
    #[error("certificate does not allow the {0} extended key usage")]
    MissingExtendedKeyUsage(Usage),
    /// A critical extension this verifier does not process (RFC 5280 §4.2).
    #[error("unhandled critical extension {0}")]
    UnhandledCriticalExtension(String),
    /// An issuer is not a CA (basicConstraints cA, keyCertSign) or exceeds its path length.
    #[error("issuing certificate {0:?} may not issue certificates here")]
    IssuerNotCa(String),
    /// A self-signed (root) certificate among the intermediates the signature supplied.
    #[error("the supplied chain contains a root certificate ({0:?})")]
    RootInChain(String),
    /// More certificates than a path may hold.
    #[error("certificate chain too long: {found} certificates, at most {max} allowed")]
    ChainTooLong {
        /// How many were supplied (or the path length reached).
        found: usize,
        /// The limit.
        max: usize,
    },
    /// No path leads from the leaf to a trusted certificate authority.
    #[error("certificate chain does not reach a trusted certificate authority")]
    UntrustedChain,
    /// The path reaches an authority whose `validFor` does not contain the verification time
    /// (docs/formats/trusted-root.md, "Validity windows").
    #[error("certificate authority {authority:?} is not trusted at {at} (Unix seconds)")]
    AuthorityOutsideValidity {
        /// The authority's common name (or URI).
        authority: String,
        /// The verification time.
        at: UnixTime,
    },
    /// No wanted identity matches the certificate's SANs and issuer.
    #[error("certificate identity {found} matches none of {wanted}")]
    IdentityMismatch {
        /// The wanted identities, as text.
        wanted: String,
        /// The certificate's SANs and issuer, as text.
        found: String,
    },
    /// The certificate's issuer and SAN match a wanted identity, but a GitHub Actions
    /// extension the identity requires is absent or holds another value.
    #[error(
        "certificate {extension} ({oid}) is {}, not {wanted:?}",
        found.as_deref().map_or_else(|| "absent".to_owned(), |f| format!("{f:?}"))
    )]
    GithubWorkflowMismatch {
        /// The extension's name in Fulcio's `docs/oid-info.md`, such as `GitHub Workflow Ref`.
        extension: &'static str,
        /// Its OID, such as `1.3.6.1.4.1.57264.1.6`.
        oid: &'static str,
        /// The value the identity requires.
        wanted: String,
        /// The certificate's value; `None` when it has no such extension.
        found: Option<String>,
    },
    /// A wanted identity's regular expression does not compile.
    #[error("invalid regular expression {pattern:?}: {reason}")]
    InvalidRegexp {
        /// The pattern.
        pattern: String,
        /// Why it does not compile.
        reason: String,
    },
}

impl Certificate {
    /// Parses a DER certificate (RFC 5280 §4.1).
    ///
    /// # Errors
    ///
    /// [`CertError::Malformed`] for anything that is not exactly one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, CertError> {
        let parsed = x509_cert::Certificate::from_der(der).map_err(malformed)?;
        // The TBS as it was signed: the first element of the outer SEQUENCE, copied rather
        // than re-encoded (x509-cert sorts SET OF values when it decodes them).
        let outer = Vec::<AnyRef<'_>>::from_der(der).map_err(malformed)?;
        let tbs_der = outer
            .first()
            .ok_or_else(|| CertError::Malformed("empty certificate".to_owned()))?
            .to_der()
            .map_err(malformed)?;
        let validity = parsed.tbs_certificate().validity();
        let not_before = unix_seconds(validity.not_before)?;
        let not_after = unix_seconds(validity.not_after)?;
        Ok(Self {
            der: der.to_vec(),
            tbs_der,
            parsed,
            not_before,
            not_after,
        })
    }

    /// The DER the certificate was read from.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The DER TBSCertificate, exactly as signed.
    pub fn tbs_der(&self) -> &[u8] {
        &self.tbs_der
    }

    /// The parsed certificate, for checks this module does not make.
    pub fn x509(&self) -> &x509_cert::Certificate {
        &self.parsed
    }

    /// notBefore, in Unix seconds.
    pub fn not_before(&self) -> UnixTime {
        self.not_before
    }

    /// notAfter, in Unix seconds (the last valid second: X.509 validity is a closed interval,
    /// RFC 5280 §4.1.2.5).
    pub fn not_after(&self) -> UnixTime {
        self.not_after
    }

    /// Checks that `at` lies in notBefore..=notAfter.
    ///
    /// # Errors
    ///
    /// [`CertError::OutsideValidity`].
    pub fn check_valid_at(&self, at: UnixTime) -> Result<(), CertError> {
        if (self.not_before..=self.not_after).contains(&at) {
            Ok(())
        } else {
            Err(CertError::OutsideValidity {
                at,
                not_before: self.not_before,
                not_after: self.not_after,
            })
        }
    }

    /// The DER SubjectPublicKeyInfo.
    ///
    /// # Errors
    ///
    /// [`CertError::Malformed`] if it cannot be encoded again.
    pub fn spki_der(&self) -> Result<Vec<u8>, CertError> {
        self.parsed
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(malformed)
    }

    /// The subject's public key.
    ///
    /// # Errors
    ///
    /// [`CertError::Key`] for a key type or size [`PublicKey`] does not support.
    pub fn public_key(&self) -> Result<PublicKey, CertError> {
        Ok(PublicKey::from_spki_der(&self.spki_der()?)?)
    }

    /// True when basicConstraints says cA. A malformed basicConstraints counts as "not a CA"
    /// here; [`verify_chain`] rejects such certificates as [`CertError::Malformed`].
    pub fn is_ca(&self) -> bool {
        self.basic_constraints()
            .ok()
            .flatten()
            .is_some_and(|constraints| constraints.ca)
    }

    /// The subject name as text (RFC 4514), for messages.
    pub fn subject(&self) -> String {
        self.parsed.tbs_certificate().subject().to_string()
    }

    /// True when subject and issuer names are equal (RFC 5280 §6.1: self-issued).
    pub fn is_self_issued(&self) -> bool {
        let tbs = self.parsed.tbs_certificate();
        tbs.subject() == tbs.issuer()
    }

    /// True for a self-signed CA certificate: self-issued, a CA, and its own key verifies its
    /// signature (a root).
    pub fn is_root(&self) -> bool {
        self.is_self_issued()
            && self.is_ca()
            && self
                .public_key()
                .is_ok_and(|key| signature::verify_issued_by(self, &key).is_ok())
    }

    /// Finds one extension by OID: `Ok(None)` when absent.
    ///
    /// # Errors
    ///
    /// [`CertError::Malformed`] when the extension appears twice (RFC 5280 §4.2).
    pub fn extension(
        &self,
        oid: ObjectIdentifier,
    ) -> Result<Option<&x509_cert::ext::Extension>, CertError> {
        let mut found = self
            .parsed
            .tbs_certificate()
            .extensions()
            .into_iter()
            .flatten()
            .filter(|extension| extension.extn_id == oid);
        let first = found.next();
        if found.next().is_some() {
            return Err(CertError::Malformed(format!(
                "extension {oid} appears twice"
            )));
        }
        Ok(first)
    }

    /// basicConstraints, if present.
    pub(crate) fn basic_constraints(&self) -> Result<Option<BasicConstraints>, CertError> {
        self.known_extension::<BasicConstraints>()
    }

    /// keyUsage, if present.
    pub(crate) fn key_usage(&self) -> Result<Option<KeyUsage>, CertError> {
        self.known_extension::<KeyUsage>()
    }

    /// extKeyUsage, if present.
    pub(crate) fn extended_key_usage(&self) -> Result<Option<ExtendedKeyUsage>, CertError> {
        self.known_extension::<ExtendedKeyUsage>()
    }

    /// True when the extended key usage extension lists `oid` (or there is none and
    /// `absent_allows` says an absent extension allows everything).
    pub(crate) fn allows_extended_key_usage(
        &self,
        oid: ObjectIdentifier,
        absent_allows: bool,
    ) -> Result<bool, CertError> {
        Ok(match self.extended_key_usage()? {
            None => absent_allows,
            Some(usages) => usages
                .0
                .iter()
                .any(|usage| *usage == oid || *usage == ANY_EXTENDED_KEY_USAGE),
        })
    }

    fn known_extension<T>(&self) -> Result<Option<T>, CertError>
    where
        T: for<'a> der::Decode<'a, Error = der::Error> + der::oid::AssociatedOid,
    {
        self.parsed
            .tbs_certificate()
            .get_extension::<T>()
            .map(|found| found.map(|(_critical, value)| value))
            .map_err(|err| CertError::Malformed(format!("extension {}: {err}", T::OID)))
    }
}

/// Parses concatenated PEM `CERTIFICATE` blocks (a cosign `chain` annotation, a
/// `--certificate-chain` file), in order.
///
/// # Errors
///
/// [`CertError::NotPem`] for text that is not PEM or blocks with another label,
/// [`CertError::NoCertificates`] when there is no block, [`CertError::Malformed`] for a block
/// that is not a certificate.
pub fn parse_pem_chain(pem: &str) -> Result<Vec<Certificate>, CertError> {
    const END: &str = "-----END CERTIFICATE-----";
    let mut certificates = Vec::new();
    // Each block ends with its post-encapsulation boundary (RFC 7468 §2); pem-rfc7468 decodes
    // one block at a time, so the text is cut after each boundary.
    for block in pem.split_inclusive(END) {
        let block = block.trim();
        if block.is_empty() {
            continue;
        }
        let (label, der) = pem_rfc7468::decode_vec(block.as_bytes())
            .map_err(|err| CertError::NotPem(err.to_string()))?;
        if label != "CERTIFICATE" {
            return Err(CertError::NotPem(format!(
                "PEM block {label:?} is not a CERTIFICATE"
            )));
        }
        certificates.push(Certificate::from_der(&der)?);
    }
    if certificates.is_empty() {
        return Err(CertError::NoCertificates);
    }
    Ok(certificates)
}

fn unix_seconds(time: x509_cert::time::Time) -> Result<UnixTime, CertError> {
    UnixTime::try_from(time.to_unix_duration().as_secs())
        .map_err(|_| CertError::Malformed("validity time out of range".to_owned()))
}

fn malformed(err: impl core::fmt::Display) -> CertError {
    CertError::Malformed(err.to_string())
}

#[cfg(test)]
pub(crate) mod tests;
