//! Reports as the host shows them (`--output json`, logs, admission messages): plain data
//! converted from the component's WIT records.

use serde::Serialize;

/// The result of verifying one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The image as requested.
    pub image: String,
    /// The digest that was verified.
    pub digest: String,
    /// The repository, when the source has one.
    pub repository: Option<String>,
    /// True when at least one signature satisfied the request.
    pub verified: bool,
    /// The reason code when not verified.
    pub reason: Option<String>,
    /// Every signature found.
    pub signatures: Vec<SignatureReport>,
}

/// What was found about one signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureReport {
    /// `sig-layer`, `att-layer` or `referrer-bundle`.
    pub source: &'static str,
    /// The layer digest.
    pub digest: String,
    /// Whether it satisfied the request.
    pub verified: bool,
    /// The authority that verified it.
    pub authority: Option<String>,
    /// The reason code when it did not verify.
    pub reason: Option<String>,
    /// The checks in order.
    pub checks: Vec<Check>,
    /// The verified payload.
    pub payload: Option<String>,
    /// The certificate identity of a verified keyless signature.
    pub signer: Option<Signer>,
}

/// The certificate identity behind a keyless signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signer {
    /// Subject alternative names, in certificate order.
    pub subject_alternative_names: Vec<String>,
    /// The OIDC issuer.
    pub issuer: Option<String>,
    /// Fulcio extensions by dotted OID.
    pub extensions: std::collections::BTreeMap<String, String>,
}

/// One check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable name.
    pub name: String,
    /// `pass`, `fail` or `skip`.
    pub outcome: &'static str,
    /// Detail.
    pub detail: String,
}

/// The result of verifying a standalone bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundleOutcome {
    /// True when the bundle verified.
    pub verified: bool,
    /// The reason code when it did not.
    pub reason: Option<String>,
    /// The checks in order.
    pub checks: Vec<Check>,
}

impl BundleOutcome {
    /// Converts a report of the native core.
    pub fn from_core(report: &sigward_policy::bundle::BundleReport) -> Self {
        Self {
            verified: report.verified(),
            reason: report.error.as_ref().map(|e| e.reason().code().to_owned()),
            checks: report.checks.iter().map(Check::from_core).collect(),
        }
    }
}

impl Check {
    fn from_core(check: &sigward_policy::verdict::Check) -> Self {
        use sigward_policy::verdict::Outcome;
        Self {
            name: check.name.to_owned(),
            outcome: match check.outcome {
                Outcome::Pass => "pass",
                Outcome::Fail => "fail",
                Outcome::Skip => "skip",
            },
            detail: check.detail.clone(),
        }
    }
}

/// Why a request could not be decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct Denial {
    /// Stable reason code.
    pub reason: String,
    /// Detail.
    pub message: String,
}

impl Report {
    /// Converts a report of the native core (for in-process comparisons and benches).
    pub fn from_core(report: &sigward_policy::verdict::Report) -> Self {
        use sigward_policy::verdict::Source;
        Self {
            image: report.image.clone(),
            digest: report.digest.clone(),
            repository: report.repository.clone(),
            verified: report.verified(),
            reason: report.reason().map(|r| r.code().to_owned()),
            signatures: report
                .signatures
                .iter()
                .map(|sig| SignatureReport {
                    source: match sig.source {
                        Source::SigLayer => "sig-layer",
                        Source::AttLayer => "att-layer",
                        Source::ReferrerBundle => "referrer-bundle",
                    },
                    digest: sig.digest.clone(),
                    verified: sig.verified(),
                    authority: sig.authority.clone(),
                    reason: sig.reason.map(|r| r.code().to_owned()),
                    checks: sig.checks.iter().map(Check::from_core).collect(),
                    payload: sig.payload.clone(),
                    signer: sig.signer.as_ref().map(|s| Signer {
                        subject_alternative_names: s.subject_alternative_names.clone(),
                        issuer: s.issuer.clone(),
                        extensions: s.extensions.clone(),
                    }),
                })
                .collect(),
        }
    }
}

impl Report {
    /// What an admission decision needs of this report (the core's
    /// [`Verification::of`](sigward_policy::admission::Verification::of) on the guest's side
    /// of the boundary): the reason, and the failing check of the signature that got furthest.
    pub fn verification(&self, keep_statements: bool) -> sigward_policy::admission::Verification {
        let reason = self.reason.clone().unwrap_or_default();
        let detail = self
            .signatures
            .iter()
            .filter(|signature| !self.verified && signature.reason.as_deref() == Some(&reason))
            .find_map(|signature| {
                signature
                    .checks
                    .iter()
                    .rev()
                    .find(|check| check.outcome == "fail")
                    .map(|check| format!("{}: {}", check.name, check.detail))
            })
            .unwrap_or_default();
        sigward_policy::admission::Verification {
            digest: self.digest.clone(),
            verified: self.verified,
            reason,
            detail,
            signers: self
                .signatures
                .iter()
                .filter(|signature| signature.verified)
                .map(|signature| {
                    signature
                        .signer
                        .as_ref()
                        .map(|s| sigward_policy::cert::Signer {
                            subject_alternative_names: s.subject_alternative_names.clone(),
                            issuer: s.issuer.clone(),
                            extensions: s.extensions.clone(),
                        })
                })
                .collect(),
            statements: self
                .signatures
                .iter()
                .filter(|signature| keep_statements && signature.verified)
                .filter_map(|signature| signature.payload.clone())
                .filter(|payload| payload.len() <= sigward_policy::admission::MAX_STATEMENT_BYTES)
                .collect(),
        }
    }
}

impl From<&sigward_policy::Error> for Denial {
    fn from(err: &sigward_policy::Error) -> Self {
        Self {
            reason: err.reason().code().to_owned(),
            message: err.to_string(),
        }
    }
}
