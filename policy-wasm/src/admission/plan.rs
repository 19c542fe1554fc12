//! From a review and the policies to the verifications that must run: which policies match
//! each image (globs and `match` selectors), which tags need resolving, and the distinct
//! [`VerifyRequest`]s, each once however many containers share it.

use std::collections::BTreeMap;

use crate::authority::{Authority, Identity};
use crate::digest::Digest;
use crate::image::VerifyRequest;
use crate::policy::{
    ClusterImagePolicy, LabelExpression, MatchResource, Mode, PolicyAuthority, PolicyLanguage,
};
use crate::reference::ImageReference;

use super::review::{Resource, Review};
use super::{Settings, TagHandling};

/// A tag's resolution: the digest it points at, or why it could not be resolved.
pub type Resolution = Result<String, String>;

/// Everything needed to decide one review, computed before any I/O.
#[derive(Debug, Clone)]
pub struct Plan {
    pub(super) review: Review,
    pub(super) settings: Settings,
    /// Per site (same order as `review.sites`): the matching policies.
    pub(super) sites: Vec<Vec<PolicyPlan>>,
}

/// One matching policy, as it applies to one site.
#[derive(Debug, Clone)]
pub(super) struct PolicyPlan {
    pub(super) name: String,
    pub(super) mode: Mode,
    pub(super) authorities: Vec<PolicyAuthority>,
    /// An extra identity the pod's annotations demand (opt-in per policy).
    pub(super) container_identity: Option<Identity>,
    /// Why the whole policy cannot pass (a CIP-level CUE/Rego policy).
    pub(super) unsupported: Option<String>,
}

impl Plan {
    /// Matches every image of `review` against `policies`.
    pub fn new(review: Review, policies: &[ClusterImagePolicy], settings: Settings) -> Self {
        let sites = review
            .sites
            .iter()
            .map(|site| {
                // An image that is not a registry reference is denied before anything is
                // matched or fetched (`oci:` layouts are the CLI's, never a cluster's).
                let valid = ImageReference::parse(&site.image).is_ok();
                policies
                    .iter()
                    .filter(|_| valid)
                    .filter(|policy| policy.matches(&site.image) && applies_to(policy, &review))
                    .map(|policy| PolicyPlan {
                        name: policy.name.clone(),
                        mode: policy.mode(),
                        authorities: policy.authorities(&settings.trusted_root),
                        container_identity: policy
                            .container_identity(&review.pod_annotations, &site.container),
                        unsupported: policy.spec.policy.as_ref().map(|p| {
                            format!(
                                "spec.policy ({}) is not evaluated by sigward yet",
                                language(p.language)
                            )
                        }),
                    })
                    .collect()
            })
            .collect();
        Self {
            review,
            settings,
            sites,
        }
    }

    /// The review being decided.
    pub fn review(&self) -> &Review {
        &self.review
    }

    /// Tag references that must be resolved to a digest before verification: images that some
    /// matching policy verifies and that are not pinned (none under
    /// [`TagHandling::RequireDigest`], which denies them instead). Each appears once.
    pub fn tags_to_resolve(&self) -> Vec<String> {
        let mut tags: Vec<String> = Vec::new();
        if self.settings.tags == TagHandling::RequireDigest {
            return tags;
        }
        for (site, policies) in self.review.sites.iter().zip(&self.sites) {
            let verifies = policies.iter().any(PolicyPlan::verifies);
            if verifies && pinned_digest(&site.image).is_none() && !tags.contains(&site.image) {
                tags.push(site.image.clone());
            }
        }
        tags
    }

    /// The distinct verifications to run, given the tags' resolutions. A site whose tag did not
    /// resolve gets none (its decision reports the resolution failure).
    pub fn verifications(&self, resolutions: &BTreeMap<String, Resolution>) -> Vec<VerifyRequest> {
        let mut requests: Vec<VerifyRequest> = Vec::new();
        for (site, policies) in self.review.sites.iter().zip(&self.sites) {
            let Some(pinned) = self.pinned(&site.image, resolutions) else {
                continue;
            };
            for policy in policies {
                for authority in &policy.authorities {
                    for request in self.requests(authority, &pinned) {
                        if !requests.contains(&request) {
                            requests.push(request);
                        }
                    }
                }
            }
        }
        requests
    }

    /// `image` pinned by digest (`name@sha256:…`): as written when it has a digest, else by its
    /// tag's successful resolution.
    pub(super) fn pinned(
        &self,
        image: &str,
        resolutions: &BTreeMap<String, Resolution>,
    ) -> Option<String> {
        if pinned_digest(image).is_some() {
            return Some(image.to_owned());
        }
        if self.settings.tags == TagHandling::RequireDigest {
            return None;
        }
        match resolutions.get(image) {
            Some(Ok(digest)) => ImageReference::parse(image)
                .ok()
                .map(|parsed| format!("{}@{digest}", parsed.written_name())),
            _ => None,
        }
    }

    /// The verify requests one authority needs on `pinned`: one per check.
    pub(super) fn requests(&self, authority: &PolicyAuthority, pinned: &str) -> Vec<VerifyRequest> {
        let PolicyAuthority::Verify {
            named,
            checks,
            tlog,
            source,
            log_trusted_root,
        } = authority
        else {
            return Vec::new();
        };
        let trusted_root = match &named.authority {
            Authority::Keyless(keyless) => keyless.trusted_root.clone(),
            Authority::Key(_) => log_trusted_root
                .clone()
                .unwrap_or_else(|| self.settings.trusted_root.clone()),
        };
        checks
            .iter()
            .map(|check| VerifyRequest {
                image: pinned.to_owned(),
                authorities: vec![named.clone()],
                annotations: Vec::new(),
                check: check.kind.clone(),
                tlog: *tlog,
                signatures_from: source.as_ref().map(|source| source.oci.clone()),
                trusted_root: trusted_root.clone(),
                at: self.settings.at,
            })
            .collect()
    }
}

impl PolicyPlan {
    /// True when some authority of this policy verifies signatures (needs the digest).
    fn verifies(&self) -> bool {
        self.unsupported.is_none()
            && self
                .authorities
                .iter()
                .any(|a| matches!(a, PolicyAuthority::Verify { .. }))
    }
}

/// The digest a reference pins (`…@sha256:<64 hex>`), if it has one.
pub fn pinned_digest(image: &str) -> Option<&str> {
    let (_, digest) = image.rsplit_once('@')?;
    Digest::parse(digest).is_ok().then_some(digest)
}

fn language(language: PolicyLanguage) -> &'static str {
    match language {
        PolicyLanguage::Cue => "cue",
        PolicyLanguage::Rego => "rego",
    }
}

/// policy-controller's `match`: no entries applies to everything; otherwise any entry whose
/// resource and label selector fit. A review without a resource (Gatekeeper keys) is matched by
/// every entry, so a restricted policy is never skipped for lack of information.
fn applies_to(policy: &ClusterImagePolicy, review: &Review) -> bool {
    let entries = &policy.spec.match_resources;
    entries.is_empty()
        || review.resource.resource.is_empty()
        || entries
            .iter()
            .any(|entry| matches_entry(entry, &review.resource, &review.labels))
}

fn matches_entry(
    entry: &MatchResource,
    resource: &Resource,
    labels: &BTreeMap<String, String>,
) -> bool {
    let same =
        |wanted: &Option<String>, actual: &str| wanted.as_deref().is_none_or(|w| w == actual);
    same(&entry.group, &resource.group)
        && same(&entry.version, &resource.version)
        && same(&entry.resource, &resource.resource)
        && entry
            .match_labels
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value))
        && entry
            .match_expressions
            .iter()
            .all(|expression| matches_expression(expression, labels))
}

fn matches_expression(expression: &LabelExpression, labels: &BTreeMap<String, String>) -> bool {
    let value = labels.get(&expression.key);
    match expression.operator.as_str() {
        "In" => value.is_some_and(|v| expression.values.contains(v)),
        "NotIn" => value.is_none_or(|v| !expression.values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        // Validation admits only the four operators; anything else never matches.
        _ => false,
    }
}
