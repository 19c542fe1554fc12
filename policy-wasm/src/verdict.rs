//! What the verifier reports: per signature, each check in order with its outcome. One model
//! for every side of the WIT boundary: the guest fills it, the host rebuilds it from the WIT
//! records, and its serde form is the CLI's `--output json`.

use std::borrow::Cow;

use serde::ser::{Serialize, SerializeStruct as _, Serializer};

use crate::error::Reason;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckOutcome {
    /// Passed.
    Pass,
    /// Failed; the signature is rejected.
    Fail,
    /// Did not apply.
    Skip,
}

/// One named check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    /// Stable kebab-case name.
    pub name: Cow<'static, str>,
    /// What happened.
    pub outcome: CheckOutcome,
    /// Human-readable detail.
    pub detail: String,
}

/// Where a signature came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// A legacy `.sig` layer.
    SigLayer,
    /// A legacy `.att` layer.
    AttLayer,
    /// A referrer bundle.
    ReferrerBundle,
}

/// The findings about one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureReport {
    /// Where it came from.
    pub source: Source,
    /// The layer digest as the host gave it.
    pub digest: String,
    /// The authority that verified it, if one did.
    pub authority: Option<String>,
    /// Why it did not verify; `None` when it did.
    pub reason: Option<Reason>,
    /// The checks in order.
    pub checks: Vec<Check>,
    /// The verified payload.
    pub payload: Option<String>,
    /// The certificate identity of a verified keyless signature: SANs, issuer and every Fulcio
    /// extension (GitHub workflow claims and the like), for policies.
    pub signer: Option<crate::cert::Signer>,
}

impl SignatureReport {
    /// True when the signature satisfied the request.
    pub fn verified(&self) -> bool {
        self.reason.is_none()
    }
}

impl Source {
    /// The name reports use: `sig-layer`, `att-layer` or `referrer-bundle`.
    pub fn name(self) -> &'static str {
        match self {
            Self::SigLayer => "sig-layer",
            Self::AttLayer => "att-layer",
            Self::ReferrerBundle => "referrer-bundle",
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `{source, digest, verified, authority, reason, checks, payload, signer}`.
impl Serialize for SignatureReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("SignatureReport", 8)?;
        out.serialize_field("source", &self.source)?;
        out.serialize_field("digest", &self.digest)?;
        out.serialize_field("verified", &self.verified())?;
        out.serialize_field("authority", &self.authority)?;
        out.serialize_field("reason", &self.reason)?;
        out.serialize_field("checks", &self.checks)?;
        out.serialize_field("payload", &self.payload)?;
        out.serialize_field("signer", &self.signer)?;
        out.end()
    }
}

/// The result of verifying one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The image as requested.
    pub image: String,
    /// The verified digest.
    pub digest: String,
    /// The repository, if the source has one.
    pub repository: Option<String>,
    /// Every signature found.
    pub signatures: Vec<SignatureReport>,
}

impl Report {
    /// True when at least one signature verified.
    pub fn verified(&self) -> bool {
        self.signatures.iter().any(SignatureReport::verified)
    }

    /// Why the image is not verified: `no-signatures`, or the failure that got furthest
    /// through the checks. `None` when verified.
    pub fn reason(&self) -> Option<Reason> {
        if self.verified() {
            return None;
        }
        Some(
            Reason::furthest(self.signatures.iter().filter_map(|s| s.reason))
                .unwrap_or(Reason::NoSignatures),
        )
    }
}

/// `{image, digest, repository, verified, reason, signatures}`.
impl Serialize for Report {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("Report", 6)?;
        out.serialize_field("image", &self.image)?;
        out.serialize_field("digest", &self.digest)?;
        out.serialize_field("repository", &self.repository)?;
        out.serialize_field("verified", &self.verified())?;
        out.serialize_field("reason", &self.reason())?;
        out.serialize_field("signatures", &self.signatures)?;
        out.end()
    }
}

/// The result of verifying a standalone bundle, as reports show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BundleOutcome {
    /// True when the bundle verified.
    pub verified: bool,
    /// Why it did not.
    pub reason: Option<Reason>,
    /// The checks in order.
    pub checks: Vec<Check>,
}

impl BundleOutcome {
    /// The outcome of a core bundle report.
    pub fn of(report: &crate::bundle::BundleReport) -> Self {
        Self {
            verified: report.verified(),
            reason: report
                .error
                .as_ref()
                .map(crate::bundle::BundleError::reason),
            checks: report.checks.clone(),
        }
    }
}

/// Why a request could not be decided: the verifier's denial, or the host's (a deadline, a
/// trap, an unreadable trust root).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct Failure {
    /// Why.
    pub reason: Reason,
    /// Detail.
    pub message: String,
}

impl Failure {
    /// A failure for `reason` saying `message`.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

impl From<&crate::Error> for Failure {
    fn from(err: &crate::Error) -> Self {
        Self::new(err.reason(), err.to_string())
    }
}

/// Accumulates the checks run on one signature, in order.
#[derive(Debug, Default)]
pub struct Trail {
    /// The checks so far.
    pub checks: Vec<Check>,
}

impl Trail {
    /// Records a passed check.
    pub fn pass(&mut self, name: &'static str, detail: impl Into<String>) {
        self.checks.push(Check {
            name: Cow::Borrowed(name),
            outcome: CheckOutcome::Pass,
            detail: detail.into(),
        });
    }

    /// Records a check that did not apply.
    pub fn skip(&mut self, name: &'static str, detail: impl Into<String>) {
        self.checks.push(Check {
            name: Cow::Borrowed(name),
            outcome: CheckOutcome::Skip,
            detail: detail.into(),
        });
    }

    /// Records a failed check and hands `reason` back, for `map_err`.
    pub fn fail<E>(&mut self, name: &'static str, reason: E, detail: impl Into<String>) -> E {
        self.checks.push(Check {
            name: Cow::Borrowed(name),
            outcome: CheckOutcome::Fail,
            detail: detail.into(),
        });
        reason
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `--output json` form, key order included, as the CLI printed it before the model was
    /// shared with the host.
    #[test]
    fn reports_serialize_as_the_cli_prints_them() {
        let mut verified = Trail::default();
        verified.pass("signature", "by k");
        let mut rejected = Trail::default();
        let reason = rejected.fail("annotations", Reason::AnnotationMismatch, "env");
        let report = Report {
            image: "r/i:t".into(),
            digest: "sha256:00".into(),
            repository: Some("r/i".into()),
            signatures: vec![
                SignatureReport {
                    source: Source::SigLayer,
                    digest: "sha256:01".into(),
                    authority: Some("k".into()),
                    reason: None,
                    checks: verified.checks,
                    payload: Some("{}".into()),
                    signer: None,
                },
                SignatureReport {
                    source: Source::ReferrerBundle,
                    digest: "sha256:02".into(),
                    authority: None,
                    reason: Some(reason),
                    checks: rejected.checks,
                    payload: None,
                    signer: Some(crate::cert::Signer::default()),
                },
            ],
        };
        let expected = concat!(
            r#"{"image":"r/i:t","digest":"sha256:00","repository":"r/i","verified":true,"#,
            r#""reason":null,"signatures":[{"source":"sig-layer","digest":"sha256:01","#,
            r#""verified":true,"authority":"k","reason":null,"checks":[{"name":"signature","#,
            r#""outcome":"pass","detail":"by k"}],"payload":"{}","signer":null},"#,
            r#"{"source":"referrer-bundle","digest":"sha256:02","verified":false,"#,
            r#""authority":null,"reason":"annotation-mismatch","checks":[{"name":"annotations","#,
            r#""outcome":"fail","detail":"env"}],"payload":null,"signer":"#,
            r#"{"subject_alternative_names":[],"issuer":null,"extensions":{}}}]}"#
        );
        assert_eq!(serde_json::to_string(&report).unwrap(), expected);

        let failure = Failure::new(Reason::Deadline, "too slow");
        assert_eq!(
            serde_json::to_string(&failure).unwrap(),
            r#"{"reason":"deadline","message":"too slow"}"#
        );
        assert_eq!(failure.to_string(), "deadline: too slow");
    }
}
