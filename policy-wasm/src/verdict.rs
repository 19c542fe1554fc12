//! What the verifier reports: per signature, each check in order with its outcome.

use crate::error::Reason;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Passed.
    Pass,
    /// Failed; the signature is rejected.
    Fail,
    /// Did not apply.
    Skip,
}

/// One named check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Stable kebab-case name.
    pub name: &'static str,
    /// What happened.
    pub outcome: Outcome,
    /// Human-readable detail.
    pub detail: String,
}

/// Where a signature came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
            self.signatures
                .iter()
                .filter_map(|s| s.reason)
                .max()
                .unwrap_or(Reason::NoSignatures),
        )
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
            name,
            outcome: Outcome::Pass,
            detail: detail.into(),
        });
    }

    /// Records a check that did not apply.
    pub fn skip(&mut self, name: &'static str, detail: impl Into<String>) {
        self.checks.push(Check {
            name,
            outcome: Outcome::Skip,
            detail: detail.into(),
        });
    }

    /// Records a failed check and hands `reason` back, for `map_err`.
    pub fn fail<E>(&mut self, name: &'static str, reason: E, detail: impl Into<String>) -> E {
        self.checks.push(Check {
            name,
            outcome: Outcome::Fail,
            detail: detail.into(),
        });
        reason
    }
}
