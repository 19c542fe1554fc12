//! The signer identity a Fulcio leaf carries, and matching it against wanted identities
//! (docs/formats/fulcio-certificates.md, "Identities"; docs/formats/sigstore-bundle.md,
//! "Step 4: identity").
//!
//! Identities are subject alternative names (email, URI, Fulcio's username `otherName`, DNS
//! and IP as cosign reports them) and the OIDC issuer extension. Matching follows cosign: an
//! exact string, or a regular expression that is unanchored unless it anchors itself (Go's
//! `regexp.MatchString`), against any SAN and against the issuer. An identity may also require
//! values of the deprecated GitHub Actions extensions `.1.2` to `.1.6`, compared exactly as
//! cosign's `--certificate-github-workflow-*` flags compare them (`validateCertExtensions` in
//! cosign's `pkg/cosign/verify.go`, over the raw extension bytes that
//! `pkg/cosign/certextensions.go` reads).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use der::Decode as _;
use der::asn1::{ObjectIdentifier, Utf8StringRef};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use super::{CertError, Certificate};
use crate::authority::{GithubWorkflow, Identity, Matcher};

/// The Fulcio extension arc `1.3.6.1.4.1.57264.1` (docs/formats/fulcio-certificates.md,
/// "Fulcio extensions").
const FULCIO_ARC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1");
/// `.1.1`: OIDC issuer, deprecated, the raw string bytes.
const ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// `.1.7`: the `otherName` SAN type of username identities, a DER UTF8String.
const USERNAME_SAN: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.7");
/// `.1.8`: OIDC issuer (v2), a DER UTF8String.
const ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
/// `.1.2` to `.1.6`: the deprecated GitHub Actions extensions (raw bytes), as (OID, what
/// Fulcio's `docs/oid-info.md` calls it), in the order of [`GithubWorkflow`]'s fields.
const GITHUB_EXTENSIONS: [(&str, &str); 5] = [
    ("1.3.6.1.4.1.57264.1.2", "GitHub Workflow Trigger"),
    ("1.3.6.1.4.1.57264.1.3", "GitHub Workflow SHA"),
    ("1.3.6.1.4.1.57264.1.4", "GitHub Workflow Name"),
    ("1.3.6.1.4.1.57264.1.5", "GitHub Workflow Repository"),
    ("1.3.6.1.4.1.57264.1.6", "GitHub Workflow Ref"),
];
/// The last arc of the deprecated extensions that hold raw bytes (`.1.1` to `.1.6`).
const LAST_RAW_ARC: u32 = 6;
/// The last arc docs/formats/fulcio-certificates.md, "Fulcio extensions" lists (`.1.23`, deployment
/// environment).
const LAST_KNOWN_ARC: u32 = 23;

/// Identity data of a Fulcio leaf.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Signer {
    /// Every subject alternative name as text: rfc822 emails, URIs, Fulcio username
    /// `otherName`s, DNS names, IP addresses; in certificate order.
    pub subject_alternative_names: Vec<String>,
    /// The OIDC issuer: extension `.1.8`, else the deprecated `.1.1`; `None` when the
    /// certificate has neither (early 2021 Fulcio leaves).
    pub issuer: Option<String>,
    /// Every Fulcio extension `1.3.6.1.4.1.57264.1.N` as text, keyed by dotted OID: `.1`
    /// to `.6` hold raw bytes, the others DER UTF8Strings. Extensions of newer arcs that do
    /// not hold a UTF8String are left out.
    pub extensions: BTreeMap<String, String>,
}

impl Certificate {
    /// Reads the signer identity of a Fulcio leaf (docs/formats/fulcio-certificates.md,
    /// "Identities").
    ///
    /// # Errors
    ///
    /// [`CertError::Malformed`] when the SAN extension or a known Fulcio extension does not
    /// decode (not DER, not UTF-8, an IP address of another length than 4 or 16 bytes).
    pub fn signer(&self) -> Result<Signer, CertError> {
        let mut signer = Signer::default();
        if let Some(san) = self.known_extension::<SubjectAltName>()? {
            for name in san.0 {
                if let Some(text) = general_name_text(&name)? {
                    signer.subject_alternative_names.push(text);
                }
            }
        }
        for ext in self
            .parsed
            .tbs_certificate()
            .extensions()
            .into_iter()
            .flatten()
        {
            if ext.extn_id.parent() != Some(FULCIO_ARC) {
                continue;
            }
            let bytes = ext.extn_value.as_bytes();
            let arc = ext.extn_id.arc(FULCIO_ARC.len()).unwrap_or(0);
            let text = if arc <= LAST_RAW_ARC {
                String::from_utf8(bytes.to_vec()).map_err(|_| {
                    CertError::Malformed(format!("extension {} is not UTF-8", ext.extn_id))
                })
            } else {
                utf8_string(bytes).map_err(|err| {
                    CertError::Malformed(format!("extension {}: {err}", ext.extn_id))
                })
            };
            match text {
                Ok(text) => {
                    signer.extensions.insert(ext.extn_id.to_string(), text);
                }
                Err(err) if arc <= LAST_KNOWN_ARC => return Err(err),
                Err(_) => {}
            }
        }
        // docs/formats/fulcio-certificates.md, "Issuer lookup": prefer .1.8 (DER), fall back to
        // .1.1 (raw).
        signer.issuer = signer
            .extensions
            .get(&ISSUER_V2.to_string())
            .or_else(|| signer.extensions.get(&ISSUER_V1.to_string()))
            .cloned();
        Ok(signer)
    }
}

/// Succeeds when `signer` matches any of `wanted`: its issuer matches the identity's issuer,
/// some SAN matches its subject (docs/formats/sigstore-bundle.md, "Step 4: identity"), and each
/// GitHub Actions extension the identity names holds exactly the wanted value. Exact matchers
/// compare strings; regular expressions use the `regex` crate (RE2 syntax, like Go's) and are
/// unanchored unless the pattern anchors itself, like Go's `MatchString`. A certificate without
/// an issuer extension has the empty issuer, as cosign's `GetIssuer` returns.
///
/// # Errors
///
/// - [`CertError::InvalidRegexp`] for a pattern that does not compile (checked for every
///   wanted identity, so a typo fails even when another identity matches first);
/// - [`CertError::GithubWorkflowMismatch`] when an identity's issuer and subject match but a
///   GitHub Actions extension does not (the first such extension of the first such identity);
/// - [`CertError::IdentityMismatch`] when no issuer and subject match, or `wanted` is empty.
pub fn check_identity(signer: &Signer, wanted: &[Identity]) -> Result<(), CertError> {
    let compiled = wanted
        .iter()
        .map(|identity| Ok((compile(&identity.issuer)?, compile(&identity.subject)?)))
        .collect::<Result<Vec<_>, CertError>>()?;
    let issuer = signer.issuer.as_deref().unwrap_or_default();
    let mut workflow_mismatch = None;
    for ((issuer_matcher, subject_matcher), identity) in compiled.iter().zip(wanted) {
        let named = issuer_matcher.matches(issuer)
            && signer
                .subject_alternative_names
                .iter()
                .any(|san| subject_matcher.matches(san));
        if !named {
            continue;
        }
        match check_github_workflow(signer, &identity.github_workflow) {
            Ok(()) => return Ok(()),
            Err(err) => {
                workflow_mismatch.get_or_insert(err);
            }
        }
    }
    if let Some(err) = workflow_mismatch {
        return Err(err);
    }
    Err(CertError::IdentityMismatch {
        wanted: if wanted.is_empty() {
            "no identity".to_owned()
        } else {
            wanted
                .iter()
                .map(describe_identity)
                .collect::<Vec<_>>()
                .join(" or ")
        },
        found: format!(
            "subject {:?} issuer {:?}",
            signer.subject_alternative_names, signer.issuer
        ),
    })
}

/// Checks each GitHub Actions extension `wanted` names against the certificate's raw value,
/// byte for byte; an absent extension matches nothing, as cosign's getters return `""` for it
/// and compare that with a non-empty flag.
fn check_github_workflow(signer: &Signer, wanted: &GithubWorkflow) -> Result<(), CertError> {
    for ((oid, extension), value) in github_constraints(wanted) {
        let found = signer.extensions.get(oid);
        if found != Some(value) {
            return Err(CertError::GithubWorkflowMismatch {
                extension,
                oid,
                wanted: value.clone(),
                found: found.cloned(),
            });
        }
    }
    Ok(())
}

/// The extensions `wanted` constrains: ((OID, name), value), in OID order.
fn github_constraints(
    wanted: &GithubWorkflow,
) -> impl Iterator<Item = ((&'static str, &'static str), &String)> {
    let values = [
        &wanted.trigger,
        &wanted.sha,
        &wanted.name,
        &wanted.repository,
        &wanted.git_ref,
    ];
    GITHUB_EXTENSIONS
        .into_iter()
        .zip(values)
        .filter_map(|(extension, value)| Some((extension, value.as_ref()?)))
}

/// A matcher ready to use.
enum Compiled<'a> {
    Exact(&'a str),
    Regexp(regex::Regex),
}

impl Compiled<'_> {
    fn matches(&self, text: &str) -> bool {
        match self {
            Self::Exact(wanted) => *wanted == text,
            Self::Regexp(regex) => regex.is_match(text),
        }
    }
}

fn compile(matcher: &Matcher) -> Result<Compiled<'_>, CertError> {
    match matcher {
        Matcher::Exact(text) => Ok(Compiled::Exact(text)),
        Matcher::Regexp(pattern) => {
            // regex-lite: RE2 (Go) Perl classes such as \w and \d are ASCII, as in Go.
            regex::Regex::new(pattern)
                .map(Compiled::Regexp)
                .map_err(|err| CertError::InvalidRegexp {
                    pattern: pattern.clone(),
                    reason: err.to_string(),
                })
        }
    }
}

/// `subject "…" issuer ~"…"`: an identity as messages show it (`~` marks a regexp), followed
/// by the GitHub Actions extensions it requires (` GitHub Workflow Ref "refs/heads/main"`).
pub(crate) fn describe_identity(identity: &Identity) -> String {
    fn describe(matcher: &Matcher) -> String {
        match matcher {
            Matcher::Exact(text) => format!("{text:?}"),
            Matcher::Regexp(pattern) => format!("~{pattern:?}"),
        }
    }
    let mut text = format!(
        "subject {} issuer {}",
        describe(&identity.subject),
        describe(&identity.issuer)
    );
    for ((_, extension), value) in github_constraints(&identity.github_workflow) {
        text.push_str(&format!(" {extension} {value:?}"));
    }
    text
}

/// A SAN as cosign prints it; `None` for kinds that are no identity (directory names, ...).
fn general_name_text(name: &GeneralName) -> Result<Option<String>, CertError> {
    Ok(match name {
        GeneralName::Rfc822Name(text)
        | GeneralName::DnsName(text)
        | GeneralName::UniformResourceIdentifier(text) => Some(text.to_string()),
        // docs/formats/fulcio-certificates.md, "Identities": username identities, `otherName`
        // 1.3.6.1.4.1.57264.1.7 holding a DER UTF8String.
        GeneralName::OtherName(other) if other.type_id == USERNAME_SAN => Some(
            other
                .value
                .decode_as::<String>()
                .map_err(|err| CertError::Malformed(format!("username SAN: {err}")))?,
        ),
        GeneralName::IpAddress(octets) => {
            let bytes = octets.as_bytes();
            let text = if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
                Ipv4Addr::from(v4).to_string()
            } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
                Ipv6Addr::from(v6).to_string()
            } else {
                return Err(CertError::Malformed(
                    "IP address SAN of unexpected length".to_owned(),
                ));
            };
            Some(text)
        }
        _ => None,
    })
}

/// Decodes a DER UTF8String.
fn utf8_string(der: &[u8]) -> Result<String, der::Error> {
    Ok(Utf8StringRef::from_der(der)?.as_str().to_owned())
}

#[cfg(test)]
mod tests;
