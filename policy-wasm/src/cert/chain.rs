//! Certificate path building and validation (RFC 5280 §6.1; docs/formats/sigstore-bundle.md,
//! "Step 2: certificate path" and "Step 6: validity at the verified times").
//!
//! A path runs from the leaf through intermediates to the last certificate of one trusted
//! root authority's chain (its root). The certificates of the authority's chain are the only
//! trusted ones; intermediates that came with the signature (a bundle's
//! `x509CertificateChain`, a cosign `chain` annotation) may fill gaps but never end a path.
//! Every certificate must be valid at the verification time, the authority's `validFor` must
//! contain it, and each issuer must be a CA whose signature over its child verifies. The
//! search is bounded: at most [`MAX_INTERMEDIATES`] supplied intermediates, paths of at most
//! [`MAX_PATH_LEN`] certificates and a fixed number of candidate issuers tried.

use std::collections::BTreeMap;

use der::asn1::ObjectIdentifier;

use super::{CertError, Certificate, Usage, signature};
use crate::time::UnixTime;
use crate::trust_root::CertificateAuthority;

/// The most certificates a path may hold, leaf and root included.
pub const MAX_PATH_LEN: usize = 10;
/// The most intermediates a signature may supply.
pub const MAX_INTERMEDIATES: usize = MAX_PATH_LEN - 2;
/// The most candidate issuers tried per authority, whatever the certificates look like.
const MAX_SEARCH_STEPS: usize = 256;

/// Extensions whose meaning this module processes, so they may be critical (RFC 5280 §4.2: an
/// unrecognised critical extension must make the certificate fail). The subject alternative name is
/// critical in Fulcio leaves (docs/formats/fulcio-certificates.md, "Leaf profile").
const HANDLED_CRITICAL: [ObjectIdentifier; 7] = [
    ObjectIdentifier::new_unwrap("2.5.29.14"), // subjectKeyIdentifier
    ObjectIdentifier::new_unwrap("2.5.29.15"), // keyUsage
    ObjectIdentifier::new_unwrap("2.5.29.17"), // subjectAltName
    ObjectIdentifier::new_unwrap("2.5.29.19"), // basicConstraints
    ObjectIdentifier::new_unwrap("2.5.29.32"), // certificatePolicies (no policy is required)
    ObjectIdentifier::new_unwrap("2.5.29.35"), // authorityKeyIdentifier
    ObjectIdentifier::new_unwrap("2.5.29.37"), // extKeyUsage
];

/// Verifies that `leaf` chains to one of `authorities` at time `at` for `usage`, and returns
/// the path, leaf first and the authority's root last.
///
/// `intermediates` are untrusted certificates that came with the signature; they may be
/// used to reach a trusted authority certificate. Call [`reject_roots`] on them first where
/// a root inside a supplied chain must fail (the Sigstore bundle conformance suite).
///
/// Checks, in order: at most [`MAX_INTERMEDIATES`] intermediates; the leaf is valid at `at`
/// (closed interval), is not a CA, has the digitalSignature key usage (for
/// [`Usage::CodeSigning`]) and the extended key usage of `usage`; then for each authority, a
/// path whose every issuer has the child's issuer name, verifies the child's signature, (for
/// the leaf's issuer) has a validity that contains the leaf's, is
/// valid at `at`, is a CA (basicConstraints cA, keyCertSign when a key usage is present,
/// path length), does not restrict the extended key usage away from `usage`, and has no
/// unhandled critical extension; finally the authority's `validFor` contains `at`.
///
/// # Errors
///
/// [`CertError::ChainTooLong`] for too many intermediates; [`CertError::OutsideValidity`],
/// [`CertError::LeafIsCa`], [`CertError::MissingDigitalSignature`],
/// [`CertError::MissingExtendedKeyUsage`] or [`CertError::UnhandledCriticalExtension`] for
/// the leaf; otherwise, when no path verifies, the most telling reason found:
/// [`CertError::AuthorityOutsideValidity`] when a path reached an authority that is not
/// trusted at `at`, a failed issuer check when the right issuer was found, or
/// [`CertError::UntrustedChain`].
pub fn verify_chain(
    leaf: &Certificate,
    intermediates: &[Certificate],
    authorities: &[CertificateAuthority],
    at: UnixTime,
    usage: Usage,
) -> Result<Vec<Certificate>, CertError> {
    // Bounded work whatever the signature supplies.
    if intermediates.len() > MAX_INTERMEDIATES {
        return Err(CertError::ChainTooLong {
            found: intermediates.len(),
            max: MAX_INTERMEDIATES,
        });
    }
    // The leaf itself (docs/formats/sigstore-bundle.md, "Verification", steps 0, 2 and 6).
    check_leaf(leaf, at, usage)?;
    let mut failure = Failure::default();
    for authority in authorities {
        let trusted = match authority
            .chain
            .iter()
            .map(|der| Certificate::from_der(der))
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(trusted) => trusted,
            Err(err) => {
                failure.note(err);
                continue;
            }
        };
        let mut search = Search::new(leaf, &trusted, intermediates, at, usage);
        let Some(path) = search.run() else {
            if let Some(err) = search.failure {
                failure.note(err);
            }
            continue;
        };
        // docs/formats/trusted-root.md, "Validity windows": the authority's validFor bounds when
        // its certificates count.
        if authority.valid_for.contains(at) {
            return Ok(path);
        }
        failure.note(CertError::AuthorityOutsideValidity {
            authority: if authority.common_name.is_empty() {
                authority.uri.clone()
            } else {
                authority.common_name.clone()
            },
            at,
        });
    }
    Err(failure.error)
}

/// Fails when `intermediates` (a chain that came with a signature) holds a root: a self-signed CA
/// certificate. Trust anchors come from the trusted root only; the Sigstore conformance suite
/// (`bundle-with-root-cert_fail`) requires rejecting a bundle that carries one
/// (docs/formats/sigstore-bundle.md, "Pitfalls"). Intermediates that the trusted root also lists
/// are fine.
///
/// # Errors
///
/// [`CertError::RootInChain`] naming the root's subject.
pub fn reject_roots(intermediates: &[Certificate]) -> Result<(), CertError> {
    match intermediates.iter().find(|cert| cert.is_root()) {
        Some(root) => Err(CertError::RootInChain(root.subject())),
        None => Ok(()),
    }
}

/// Checks the leaf's own properties.
fn check_leaf(leaf: &Certificate, at: UnixTime, usage: Usage) -> Result<(), CertError> {
    // docs/formats/sigstore-bundle.md, "Step 6: validity at the verified times"; RFC 5280 §4.1.2.5
    // (validity, both ends inclusive).
    leaf.check_valid_at(at)?;
    // docs/formats/sigstore-bundle.md, "Step 0: shape": a CA certificate never signs artifacts.
    if leaf
        .basic_constraints()?
        .is_some_and(|constraints| constraints.ca)
    {
        return Err(CertError::LeafIsCa);
    }
    // docs/formats/fulcio-certificates.md, "Leaf profile": Fulcio leaves have KU digitalSignature
    // (sigstore-python requires it).
    if usage == Usage::CodeSigning
        && !leaf
            .key_usage()?
            .is_some_and(|key_usage| key_usage.digital_signature())
    {
        return Err(CertError::MissingDigitalSignature);
    }
    // docs/formats/fulcio-certificates.md, "Leaf profile"; RFC 5280 §4.2.1.12: EKU codeSigning (or
    // timeStamping for a TSA).
    if !leaf.allows_extended_key_usage(usage.oid(), false)? {
        return Err(CertError::MissingExtendedKeyUsage(usage));
    }
    check_critical_extensions(leaf)
}

/// RFC 5280 §4.2: a certificate with a critical extension we do not process must fail.
fn check_critical_extensions(cert: &Certificate) -> Result<(), CertError> {
    let unhandled = cert
        .parsed
        .tbs_certificate()
        .extensions()
        .into_iter()
        .flatten()
        .find(|ext| ext.critical && !HANDLED_CRITICAL.contains(&ext.extn_id));
    match unhandled {
        Some(ext) => Err(CertError::UnhandledCriticalExtension(
            ext.extn_id.to_string(),
        )),
        None => Ok(()),
    }
}

/// The most telling error seen while no path verified.
struct Failure {
    error: CertError,
}

impl Default for Failure {
    fn default() -> Self {
        Self {
            error: CertError::UntrustedChain,
        }
    }
}

impl Failure {
    /// Keeps `err` when it says more than what is kept: an authority outside its validity
    /// beats a failed issuer check, which beats "no path".
    fn note(&mut self, err: CertError) {
        fn rank(err: &CertError) -> u8 {
            match err {
                CertError::UntrustedChain => 0,
                CertError::AuthorityOutsideValidity { .. } => 2,
                _ => 1,
            }
        }
        if rank(&err) > rank(&self.error) {
            self.error = err;
        }
    }
}

/// A depth-first search for a path to one authority's root.
struct Search<'a> {
    /// Index 0 is the leaf, then the authority's certificates, then supplied intermediates
    /// that the authority does not already hold.
    certs: Vec<&'a Certificate>,
    /// The authority's last certificate: a path ends there.
    anchor: Option<&'a Certificate>,
    at: UnixTime,
    usage: Usage,
    steps: usize,
    /// Signature checks already made, by (child, issuer) index.
    signed: BTreeMap<(usize, usize), bool>,
    /// The first reason an otherwise fitting issuer was refused.
    failure: Option<CertError>,
}

impl<'a> Search<'a> {
    fn new(
        leaf: &'a Certificate,
        trusted: &'a [Certificate],
        intermediates: &'a [Certificate],
        at: UnixTime,
        usage: Usage,
    ) -> Self {
        let mut certs = vec![leaf];
        certs.extend(trusted);
        for cert in intermediates {
            if !certs.iter().any(|known| known.der == cert.der) {
                certs.push(cert);
            }
        }
        Self {
            certs,
            anchor: trusted.last(),
            at,
            usage,
            steps: 0,
            signed: BTreeMap::new(),
            failure: None,
        }
    }

    fn run(&mut self) -> Option<Vec<Certificate>> {
        let mut path = vec![0];
        if !self.extend(&mut path) {
            return None;
        }
        path.iter()
            .map(|&index| self.certs.get(index).map(|&cert| cert.clone()))
            .collect()
    }

    /// Tries to complete `path` (indexes into `certs`, leaf first) up to the anchor.
    fn extend(&mut self, path: &mut Vec<usize>) -> bool {
        let Some(&child_index) = path.last() else {
            return false;
        };
        let (Some(&child), Some(anchor)) = (self.certs.get(child_index), self.anchor) else {
            return false;
        };
        if child_index != 0 && child.der == anchor.der {
            return true;
        }
        if path.len() >= MAX_PATH_LEN {
            self.note(CertError::ChainTooLong {
                found: path.len().saturating_add(1),
                max: MAX_PATH_LEN,
            });
            return false;
        }
        for index in 1..self.certs.len() {
            let Some(&issuer) = self.certs.get(index) else {
                continue;
            };
            // RFC 5280 §6.1.3 (a)(4): the issuer's subject is the child's issuer name.
            if path.contains(&index)
                || issuer.parsed.tbs_certificate().subject()
                    != child.parsed.tbs_certificate().issuer()
            {
                continue;
            }
            self.steps = self.steps.saturating_add(1);
            if self.steps > MAX_SEARCH_STEPS {
                self.note(CertError::ChainTooLong {
                    found: self.certs.len(),
                    max: MAX_PATH_LEN,
                });
                return false;
            }
            // RFC 5280 §6.1.3 (a)(1): the issuer's key verifies the child's signature.
            if !self.verifies(child_index, index) {
                continue;
            }
            // The leaf lives within its issuer's validity: an issuer valid today cannot date a
            // leaf to a time it did not exist at (a back-dated leaf would dodge checks keyed on
            // time, like the pre-2022 SCT exemption).
            if child_index == 0 && !within(child, issuer) {
                self.note(CertError::OutsideIssuerValidity {
                    issuer: issuer.subject(),
                    not_before: child.not_before(),
                    not_after: child.not_after(),
                });
                continue;
            }
            // Intermediates between this issuer and the leaf, for its path length.
            let below = path.len().saturating_sub(1);
            if let Err(err) = check_issuer(issuer, self.at, self.usage, below) {
                self.note(err);
                continue;
            }
            path.push(index);
            if self.extend(path) {
                return true;
            }
            path.pop();
        }
        false
    }

    /// Whether `certs[issuer]` signed `certs[child]`, remembered per pair.
    fn verifies(&mut self, child: usize, issuer: usize) -> bool {
        if let Some(&known) = self.signed.get(&(child, issuer)) {
            return known;
        }
        let outcome = match (self.certs.get(child), self.certs.get(issuer)) {
            (Some(&child_cert), Some(&issuer_cert)) => issuer_cert
                .public_key()
                .and_then(|key| signature::verify_issued_by(child_cert, &key)),
            _ => Err(CertError::UntrustedChain),
        };
        let verified = match outcome {
            Ok(()) => true,
            // A bad signature only means "not this issuer"; anything else is worth telling.
            Err(CertError::UntrustedChain) => false,
            Err(err) => {
                self.note(err);
                false
            }
        };
        self.signed.insert((child, issuer), verified);
        verified
    }

    fn note(&mut self, err: CertError) {
        if self.failure.is_none() {
            self.failure = Some(err);
        }
    }
}

/// Whether `child`'s validity interval lies inside `issuer`'s.
fn within(child: &Certificate, issuer: &Certificate) -> bool {
    issuer.not_before() <= child.not_before() && child.not_after() <= issuer.not_after()
}

/// Checks a certificate that issued another one in the path, `below` intermediates above
/// the leaf.
fn check_issuer(
    issuer: &Certificate,
    at: UnixTime,
    usage: Usage,
    below: usize,
) -> Result<(), CertError> {
    // docs/formats/sigstore-bundle.md, "Step 6: validity at the verified times" (cosign
    // `CheckExpiry`): issuers must be valid too.
    issuer.check_valid_at(at)?;
    let not_ca = || CertError::IssuerNotCa(issuer.subject());
    // RFC 5280 §4.2.1.9 / §6.1.4 (k): basicConstraints cA.
    let constraints = issuer.basic_constraints()?.ok_or_else(not_ca)?;
    if !constraints.ca {
        return Err(not_ca());
    }
    // RFC 5280 §6.1.4 (m): pathLenConstraint counts the intermediates below.
    if let Some(max) = constraints.path_len_constraint
        && below > usize::from(max)
    {
        return Err(not_ca());
    }
    // RFC 5280 §4.2.1.3 / §6.1.4 (n): keyCertSign when a key usage is present.
    if issuer
        .key_usage()?
        .is_some_and(|key_usage| !key_usage.key_cert_sign())
    {
        return Err(not_ca());
    }
    // As Go's crypto/x509 (which cosign uses): an issuer with an EKU extension must allow
    // the leaf's usage; no extension allows everything.
    if !issuer.allows_extended_key_usage(usage.oid(), true)? {
        return Err(CertError::MissingExtendedKeyUsage(usage));
    }
    check_critical_extensions(issuer)
}
