//! Kubernetes admission against ClusterImagePolicies (docs/formats/cluster-image-policy.md,
//! "Evaluation"; docs/formats/admission.md): read an AdmissionReview, decide, answer with an
//! AdmissionReview (and a JSONPatch that pins what was verified), or answer a Gatekeeper
//! ProviderRequest.
//!
//! Deciding happens in phases so that a host can do the I/O its own way (concurrently, from a
//! cache) while every decision is made here:
//!
//! 1. [`Review::parse`] reads the request; [`Plan::new`] matches each image against the
//!    policies (image globs and `match` selectors);
//! 2. [`Plan::tags_to_resolve`] lists the tag references to resolve to digests;
//! 3. [`Plan::verifications`] lists the distinct [`VerifyRequest`]s to run, each pinned by
//!    digest and each once however many containers share the image;
//! 4. [`Plan::decide`] turns their outcomes into a [`Decision`], which renders as an
//!    AdmissionReview response ([`Decision::review_response`]) or a Gatekeeper
//!    ProviderResponse ([`Decision::provider_response`]).
//!
//! [`evaluate`] runs the phases in order through a [`Fetch`] (the component's
//! `admission.evaluate` export does exactly that).
//!
//! Decisions: every matching policy must pass and any one of its authorities passes it; a
//! failing `warn` policy adds a warning instead of denying; an image no policy matches is
//! denied, allowed or warned about as [`NoMatch`] says. A tag is verified at the digest it
//! resolves to now and allowed with a warning, or denied under [`TagHandling::RequireDigest`].
//! An attestation's `policy` condition is evaluated in the CUE subset of
//! [`crate::policy::cue`]. What this core cannot evaluate (Rego, CUE beyond the subset,
//! CIP-level `spec.policy`, KMS and Secret keys the host did not resolve, custom CAs) fails,
//! never passes.
//!
//! This module never performs I/O.

mod decide;
mod plan;
mod response;
mod review;

use std::collections::BTreeMap;

pub use decide::{
    Decision, Failure, ImageVerdict, MAX_STATEMENT_BYTES, PatchOp, Verification, VerifyOutcome,
};
pub use plan::{Plan, Resolution, pinned_digest};
pub use response::{provider_error, provider_keys, review_error};
pub use review::{ContainerList, Resource, Review, Site};

use crate::fetch::Fetch;
use crate::image::{CheckKind, VerifyRequest, verify_image};
use crate::policy::ClusterImagePolicy;

/// What to do with an image no policy matches (policy-controller's `no-match-policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoMatch {
    /// Deny the request.
    #[default]
    Deny,
    /// Allow it.
    Allow,
    /// Allow it with a warning.
    Warn,
}

/// What to do with an image referenced by tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TagHandling {
    /// Verify the digest the tag resolves to now; allow with a warning (and pin it when
    /// mutating).
    #[default]
    VerifyResolved,
    /// Deny references not pinned by digest (for validation behind a pinning mutation).
    RequireDigest,
}

/// How to decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Images no policy matches.
    pub no_match: NoMatch,
    /// Tag references.
    pub tags: TagHandling,
    /// The trust root (a name for the host's `trusted-root`) for keyless authorities without
    /// `trustRootRef` and for transparency-log keys.
    pub trusted_root: String,
    /// Verification time, Unix seconds.
    pub at: i64,
}

impl Settings {
    /// The settings for a mutating answer: tags are verified at what they resolve to and
    /// pinned, whatever [`Settings::tags`] says, since requiring digests there would deny what
    /// the mutation exists to pin ([`TagHandling::RequireDigest`] is for validation behind it).
    #[must_use]
    pub fn for_mutation(self) -> Self {
        Self {
            tags: TagHandling::VerifyResolved,
            ..self
        }
    }
}

/// Why a request could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmissionError {
    /// The body is not JSON.
    #[error("the body is not JSON: {0}")]
    Json(String),
    /// JSON, but not an AdmissionReview v1 with a request (or not a ProviderRequest).
    #[error("not an AdmissionReview v1 request: {0}")]
    NotAReview(String),
    /// A review whose object cannot be checked (unknown kind, malformed pod spec).
    #[error("{message}")]
    Object {
        /// The review's uid, for the response.
        uid: String,
        /// What is wrong.
        message: String,
    },
}

/// Decides `review` against `policies`, resolving tags and fetching signatures through
/// `source`, one verification at a time.
pub fn evaluate(
    review: Review,
    policies: &[ClusterImagePolicy],
    settings: Settings,
    source: &mut impl Fetch,
) -> Decision {
    evaluate_with(review, policies, settings, source, verify_image)
}

/// [`evaluate`] with the image verification given (tests start from a digest they vouch for).
fn evaluate_with<F: Fetch>(
    review: Review,
    policies: &[ClusterImagePolicy],
    settings: Settings,
    source: &mut F,
    verify: impl Fn(&VerifyRequest, &mut F) -> Result<crate::verdict::Report, crate::Error>,
) -> Decision {
    let plan = Plan::new(review, policies, settings);
    let resolutions: BTreeMap<String, Resolution> = plan
        .tags_to_resolve()
        .into_iter()
        .map(|tag| {
            let resolution = crate::image::resolve(&tag, source)
                .map(|subject| subject.digest().to_string())
                .map_err(|e| e.to_string());
            (tag, resolution)
        })
        .collect();
    let outcomes: Vec<(VerifyRequest, VerifyOutcome)> = plan
        .verifications(&resolutions)
        .into_iter()
        .map(|request| {
            let outcome = verify(&request, source)
                .map(|report| Verification::of(&report, request.check != CheckKind::Signature))
                .map_err(|error| Failure::from(&error));
            (request, outcome)
        })
        .collect();
    plan.decide(&resolutions, &outcomes)
}

#[cfg(test)]
mod tests;
