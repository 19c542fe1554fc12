//! From the verification results to the decision (docs/formats/cluster-image-policy.md,
//! "Evaluation"): every matching policy must pass, any one authority passes a policy, `warn`
//! policies only warn, and every message names the container, the image, the policy, the authority
//! and the check.

use std::collections::BTreeMap;

use crate::authority::Identity;
use crate::cert::Signer;
use crate::cert::identity::{check_identity, describe_identity};
use crate::error::Reason;
use crate::image::VerifyRequest;
use crate::policy::cue::Condition;
use crate::policy::{
    EmbeddedPolicy, KeySource, Mode, PolicyAuthority, PolicyLanguage, PolicySource,
};
use crate::reference::ImageReference;
use crate::verdict::{CheckOutcome, Report};

use super::plan::{Plan, PolicyPlan, Resolution, pinned_digest};
use super::review::{ContainerList, Site};
use super::{NoMatch, TagHandling};

/// Why a verification gave no report (the verifier's denial, a trap, a deadline).
pub use crate::verdict::Failure;

/// What a decision needs of one verification report: whether it verified, why not, and who
/// signed. Hosts that hold reports in another shape (the component's WIT records) build it
/// from theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// The digest whose signatures were checked.
    pub digest: String,
    /// True when a signature satisfied the request.
    pub verified: bool,
    /// Why not verified (`no-signatures`, `signature-mismatch`, ...); `None` when verified.
    pub reason: Option<Reason>,
    /// The failing check of the signature that got furthest, as `check: detail`.
    pub detail: String,
    /// The certificate identity of each verified signature (`None` for a key signature).
    pub signers: Vec<Option<Signer>>,
    /// The verified in-toto statements, for attestation conditions: kept only when asked for
    /// (attestation checks), each at most [`MAX_STATEMENT_BYTES`] long.
    pub statements: Vec<String>,
}

/// The largest statement a [`Verification`] keeps for conditions (a larger one cannot satisfy
/// a condition, which then fails).
pub const MAX_STATEMENT_BYTES: usize = 1 << 20;

impl Verification {
    /// Summarises a core report; with `keep_statements`, the verified payloads too.
    pub fn of(report: &Report, keep_statements: bool) -> Self {
        let reason = report.reason();
        let detail = reason
            .and_then(|reason| {
                report
                    .signatures
                    .iter()
                    .filter(|signature| signature.reason == Some(reason))
                    .find_map(|signature| {
                        signature
                            .checks
                            .iter()
                            .rev()
                            .find(|check| check.outcome == CheckOutcome::Fail)
                            .map(|check| format!("{}: {}", check.name, check.detail))
                    })
            })
            .unwrap_or_default();
        Self {
            digest: report.digest.clone(),
            verified: reason.is_none(),
            reason,
            detail,
            signers: report
                .signatures
                .iter()
                .filter(|signature| signature.verified())
                .map(|signature| signature.signer.clone())
                .collect(),
            statements: report
                .signatures
                .iter()
                .filter(|signature| keep_statements && signature.verified())
                .filter_map(|signature| signature.payload.clone())
                .filter(|payload| payload.len() <= MAX_STATEMENT_BYTES)
                .collect(),
        }
    }
}

/// The result of one verification.
pub type VerifyOutcome = Result<Verification, Failure>;

/// The admission decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The review's uid.
    pub uid: String,
    /// Whether the object may be admitted.
    pub allowed: bool,
    /// Every denial, joined (empty when allowed).
    pub message: String,
    /// Admission warnings (warn-mode failures, unpinned tags, unmatched images under `warn`).
    pub warnings: Vec<String>,
    /// `replace` operations pinning verified tags to the digest verified.
    pub patch: Vec<PatchOp>,
    /// One line per image and policy, for people.
    pub explanation: Vec<String>,
    /// Per image, in the review's order.
    pub images: Vec<ImageVerdict>,
}

/// The decision about one container image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageVerdict {
    /// The container's name.
    pub container: String,
    /// The image as written.
    pub image: String,
    /// False when an enforcing policy failed (or no policy matched under `deny`).
    pub allowed: bool,
    /// The digest whose signatures were verified, when every enforcing policy passed and at
    /// least one passing policy verified signatures (a failing `warn` policy does not clear
    /// it).
    pub verified_digest: Option<String>,
    /// Why it was denied.
    pub denials: Vec<String>,
    /// What was only warned about.
    pub warnings: Vec<String>,
}

/// A JSONPatch `replace` of one `image` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchOp {
    /// The JSON pointer of the field.
    pub path: String,
    /// The pinned reference.
    pub value: String,
}

/// How one policy went for one image.
enum PolicyResult {
    /// Passed; the digest when a signature authority passed it.
    Pass {
        authority: String,
        digest: Option<String>,
    },
    /// Failed, with one message per authority.
    Fail(Vec<String>),
}

impl Plan {
    /// Decides, given the tags' resolutions and the outcome of every request
    /// [`Plan::verifications`] returned.
    pub fn decide(
        &self,
        resolutions: &BTreeMap<String, Resolution>,
        outcomes: &[(VerifyRequest, VerifyOutcome)],
    ) -> Decision {
        let mut decision = Decision {
            uid: self.review.uid.clone(),
            allowed: true,
            message: String::new(),
            warnings: Vec::new(),
            patch: Vec::new(),
            explanation: Vec::new(),
            images: Vec::new(),
        };
        for (site, policies) in self.review.sites.iter().zip(&self.sites) {
            let verdict = self.decide_site(site, policies, resolutions, outcomes, &mut decision);
            decision.allowed &= verdict.allowed;
            decision.warnings.extend(verdict.warnings.iter().cloned());
            decision.images.push(verdict);
        }
        decision.message = decision
            .images
            .iter()
            .flat_map(|image| image.denials.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("; ");
        if self.review.sites.is_empty() {
            decision.explanation.push(format!(
                "{} {}: no container images to check",
                self.review.kind,
                self.review.name.as_deref().unwrap_or("(unnamed)")
            ));
        }
        decision
    }

    fn decide_site(
        &self,
        site: &Site,
        policies: &[PolicyPlan],
        resolutions: &BTreeMap<String, Resolution>,
        outcomes: &[(VerifyRequest, VerifyOutcome)],
        decision: &mut Decision,
    ) -> ImageVerdict {
        let label = if site.pointer.is_empty() {
            format!("image {:?}", site.image)
        } else {
            let what = match site.list {
                ContainerList::ImageVolumes => "image volume",
                _ => "container",
            };
            format!("{what} {:?} (image {:?})", site.container, site.image)
        };
        let mut verdict = ImageVerdict {
            container: site.container.clone(),
            image: site.image.clone(),
            allowed: true,
            verified_digest: None,
            denials: Vec::new(),
            warnings: Vec::new(),
        };
        // Invalid references, and `oci:` layouts (whose paths name the server's own files),
        // are denied whatever the policies or `no_match` say, and nothing was fetched for
        // them (issue 8, items 3 and 6).
        if let Err(error) = ImageReference::parse(&site.image) {
            verdict
                .denials
                .push(format!("{label}: not a valid image reference: {error}"));
            verdict.allowed = false;
            decision
                .explanation
                .push(format!("{label}: denied: not a valid image reference"));
            return verdict;
        }
        let pinned = pinned_digest(&site.image).is_some();
        if !pinned && self.settings.tags == TagHandling::RequireDigest {
            verdict.denials.push(format!(
                "{label}: the image is not pinned by digest (digests are required; let the \
                 mutating webhook pin it, or write name@sha256:…)"
            ));
            verdict.allowed = false;
            decision
                .explanation
                .push(format!("{label}: denied: not pinned by digest"));
            return verdict;
        }
        if policies.is_empty() {
            let line = format!("{label}: no ClusterImagePolicy matches the image");
            match self.settings.no_match {
                NoMatch::Deny => {
                    verdict.denials.push(line.clone());
                    verdict.allowed = false;
                    decision.explanation.push(format!("{line}: denied"));
                }
                NoMatch::Warn => {
                    verdict.warnings.push(line.clone());
                    decision
                        .explanation
                        .push(format!("{line}: allowed with a warning"));
                }
                NoMatch::Allow => decision.explanation.push(format!("{line}: allowed")),
            }
            return verdict;
        }
        let target = self.pinned(&site.image, resolutions);
        let resolution_error = match resolutions.get(&site.image) {
            Some(Err(error)) => Some(error.as_str()),
            _ => None,
        };
        // Pinning depends on the enforcing policies alone: a failing `mode: warn` policy adds a
        // warning and must not leave a verified tag unpinned (issue 8, item 2).
        let mut enforced_pass = true;
        let mut digest = None;
        for policy in policies {
            match self.decide_policy(policy, target.as_deref(), resolution_error, outcomes) {
                PolicyResult::Pass {
                    authority,
                    digest: verified,
                } => {
                    decision.explanation.push(format!(
                        "{label}: policy {:?}: passed (authority {authority:?}{})",
                        policy.name,
                        verified
                            .as_deref()
                            .map(|d| format!(" verified {d}"))
                            .unwrap_or_default()
                    ));
                    digest = digest.or(verified);
                }
                PolicyResult::Fail(reasons) => {
                    let message = format!(
                        "{label}: policy {:?} failed: {}",
                        policy.name,
                        reasons.join("; ")
                    );
                    match policy.mode {
                        Mode::Enforce => {
                            enforced_pass = false;
                            verdict.denials.push(message.clone());
                            verdict.allowed = false;
                            decision.explanation.push(format!("{message} (denied)"));
                        }
                        Mode::Warn => {
                            verdict.warnings.push(format!("{message} (mode: warn)"));
                            decision.explanation.push(format!("{message} (warn only)"));
                        }
                    }
                }
            }
        }
        if enforced_pass && let Some(digest) = digest {
            verdict.verified_digest = Some(digest.clone());
            if !pinned && target.is_some() {
                let pin = format!("{}@{digest}", site.image);
                verdict.warnings.push(format!(
                    "{label}: the tag is not pinned; verified {digest}, which it resolves to now \
                     (pin it: {pin})"
                ));
                if !site.pointer.is_empty() {
                    // The tag stays for people to read; the digest decides what runs.
                    decision.patch.push(PatchOp {
                        path: site.pointer.clone(),
                        value: pin,
                    });
                }
            }
        }
        verdict
    }

    fn decide_policy(
        &self,
        policy: &PolicyPlan,
        target: Option<&str>,
        resolution_error: Option<&str>,
        outcomes: &[(VerifyRequest, VerifyOutcome)],
    ) -> PolicyResult {
        if let Some(unsupported) = &policy.unsupported {
            return PolicyResult::Fail(vec![unsupported.clone()]);
        }
        let mut reasons = Vec::new();
        for authority in &policy.authorities {
            match authority {
                PolicyAuthority::Static {
                    name, pass: true, ..
                } => {
                    return PolicyResult::Pass {
                        authority: name.clone(),
                        digest: None,
                    };
                }
                PolicyAuthority::Static { name, message, .. } => reasons.push(format!(
                    "authority {name:?}: static: fail{}",
                    message
                        .as_deref()
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default()
                )),
                PolicyAuthority::Unsupported { name, reason } => {
                    reasons.push(format!("authority {name:?}: {reason}"));
                }
                PolicyAuthority::HostKey { name, key, .. } => reasons.push(format!(
                    "authority {name:?}: {} keys are not resolved by this host; give the \
                     public key inline as key.data",
                    match key {
                        KeySource::SecretRef { .. } => "secretRef",
                        _ => "KMS",
                    }
                )),
                PolicyAuthority::Verify { named, checks, .. } => {
                    let Some(target) = target else {
                        reasons.push(format!(
                            "authority {:?}: the tag could not be resolved: {}",
                            named.name,
                            resolution_error.unwrap_or("no digest")
                        ));
                        continue;
                    };
                    let requests = self.requests(authority, target);
                    let mut failed = None;
                    let mut digest = None;
                    for (check, request) in checks.iter().zip(&requests) {
                        let outcome = outcomes.iter().find(|(r, _)| r == request).map(|(_, o)| o);
                        match judge(
                            outcome,
                            check.policy.as_ref(),
                            policy.container_identity.as_ref(),
                        ) {
                            Ok(verified) => digest = Some(verified),
                            Err(why) => {
                                failed = Some(format!(
                                    "authority {:?}: {}: {why}",
                                    named.name, check.name
                                ));
                                break;
                            }
                        }
                    }
                    match failed {
                        Some(reason) => reasons.push(reason),
                        None => {
                            return PolicyResult::Pass {
                                authority: named.name.clone(),
                                digest,
                            };
                        }
                    }
                }
            }
        }
        PolicyResult::Fail(reasons)
    }
}

/// Whether one check's outcome passes; the verified digest, or why not.
fn judge(
    outcome: Option<&VerifyOutcome>,
    condition: Option<&EmbeddedPolicy>,
    identity: Option<&Identity>,
) -> Result<String, String> {
    let verification = match outcome {
        None => return Err("not verified (no result)".to_owned()),
        Some(Err(failure)) => return Err(format!("{}: {}", failure.reason, failure.message)),
        Some(Ok(verification)) => verification,
    };
    if !verification.verified {
        let reason = verification.reason.unwrap_or(Reason::NoSignatures);
        return Err(if verification.detail.is_empty() {
            format!(
                "{reason}: nothing verifiable attached to {}",
                verification.digest
            )
        } else {
            format!("{reason}: {}", verification.detail)
        });
    }
    if let Some(condition) = condition {
        satisfies(condition, &verification.statements)?;
    }
    if let Some(identity) = identity {
        let wanted = std::slice::from_ref(identity);
        let matched = verification
            .signers
            .iter()
            .flatten()
            .any(|signer| check_identity(signer, wanted).is_ok());
        if !matched {
            return Err(format!(
                "identity-mismatch: no verified signature by the identity the pod's annotations \
                 demand ({})",
                describe_identity(identity)
            ));
        }
    }
    Ok(verification.digest.clone())
}

/// Whether some verified statement satisfies an attestation's `policy` (the CUE subset of
/// [`Condition`]); anything else fails.
fn satisfies(policy: &EmbeddedPolicy, statements: &[String]) -> Result<(), String> {
    let condition = match (&policy.language, &policy.source) {
        (PolicyLanguage::Cue, PolicySource::Inline(text)) => {
            Condition::parse(text).map_err(|e| format!("condition-unsupported: {e}"))?
        }
        (PolicyLanguage::Rego, _) => {
            return Err(
                "condition-unsupported: Rego conditions are not evaluated by sigward (write the \
                 condition in its CUE subset)"
                    .to_owned(),
            );
        }
        _ => {
            return Err(
                "condition-unsupported: conditions from a ConfigMap or URL are not fetched by \
                 sigward (give them inline as data)"
                    .to_owned(),
            );
        }
    };
    let mut first = None;
    for statement in statements {
        let checked = serde_json::from_str::<serde_json::Value>(statement)
            .map_err(|e| format!("the statement is not JSON: {e}"))
            .and_then(|statement| condition.check(&statement));
        match checked {
            Ok(()) => return Ok(()),
            Err(error) => {
                first.get_or_insert(error);
            }
        }
    }
    Err(format!(
        "condition-unmet: {}",
        first.unwrap_or_else(|| "no verified statement to check".to_owned())
    ))
}
