//! Conversions between the core's types and the generated WIT types.

use sigward_policy::authority::{Authority, GithubWorkflow, Matcher, NamedAuthority};
use sigward_policy::bundle::{ArtifactInput, BundleRequest};
use sigward_policy::fetch::{self, FetchError};
use sigward_policy::image::{CheckKind, TlogPolicy, VerifyRequest};

use super::bindings::exports::sigward::policy::admission as wit_admission;
use super::bindings::exports::sigward::policy::verifier as wit;
use super::bindings::sigward::policy::types as wit_types;
use std::borrow::Cow;

use sigward_policy::Reason;
use sigward_policy::verdict::{
    BundleOutcome, Check, CheckOutcome, Failure, Report, SignatureReport, Source,
};

pub(super) fn verify_request(request: &VerifyRequest) -> wit::VerifyRequest {
    wit::VerifyRequest {
        image: request.image.clone(),
        authorities: request.authorities.iter().map(named_authority).collect(),
        annotations: request.annotations.clone(),
        check: match &request.check {
            CheckKind::Signature => wit::CheckKind::Signature,
            CheckKind::Attestation(predicate) => wit::CheckKind::Attestation(predicate.clone()),
        },
        tlog: match request.tlog {
            TlogPolicy::Require => wit::TlogPolicy::Require,
            TlogPolicy::InsecureIgnore => wit::TlogPolicy::InsecureIgnore,
        },
        signatures_from: request.signatures_from.clone(),
        trusted_root: request.trusted_root.clone(),
        at: request.at,
    }
}

fn named_authority(named: &NamedAuthority) -> wit::NamedAuthority {
    let authority = match &named.authority {
        Authority::Key(pem) => wit::Authority::Key(pem.clone()),
        Authority::Keyless(keyless) => wit::Authority::Keyless(wit::Keyless {
            identities: keyless
                .identities
                .iter()
                .map(|id| wit::Identity {
                    issuer: matcher(&id.issuer),
                    subject: matcher(&id.subject),
                    github_workflow: github_workflow(&id.github_workflow),
                })
                .collect(),
            trusted_root: keyless.trusted_root.clone(),
        }),
    };
    wit::NamedAuthority {
        name: named.name.clone(),
        authority,
    }
}

fn github_workflow(workflow: &GithubWorkflow) -> wit::GithubWorkflow {
    wit::GithubWorkflow {
        trigger: workflow.trigger.clone(),
        sha: workflow.sha.clone(),
        name: workflow.name.clone(),
        repository: workflow.repository.clone(),
        git_ref: workflow.git_ref.clone(),
    }
}

fn matcher(matcher: &Matcher) -> wit::Matcher {
    match matcher {
        Matcher::Exact(s) => wit::Matcher::Exact(s.clone()),
        Matcher::Regexp(s) => wit::Matcher::Regexp(s.clone()),
    }
}

pub(super) fn admission_request(request: &super::Evaluation) -> wit_admission::AdmissionRequest {
    use sigward_policy::admission::{NoMatch, TagHandling};
    let settings = &request.settings;
    wit_admission::AdmissionRequest {
        review: request.review.clone(),
        policies: request.policies.clone(),
        no_match: match settings.no_match {
            NoMatch::Deny => wit_admission::NoMatch::Deny,
            NoMatch::Allow => wit_admission::NoMatch::Allow,
            NoMatch::Warn => wit_admission::NoMatch::Warn,
        },
        tags: match settings.tags {
            TagHandling::VerifyResolved => wit_admission::TagHandling::VerifyResolved,
            TagHandling::RequireDigest => wit_admission::TagHandling::RequireDigest,
        },
        trusted_root: settings.trusted_root.clone(),
        mutate: request.mutate,
        at: settings.at,
    }
}

pub(super) fn bundle_request(request: &BundleRequest) -> wit::BundleRequest {
    wit::BundleRequest {
        bundle: request.bundle.clone(),
        artifact: match &request.artifact {
            ArtifactInput::Bytes(bytes) => wit::Artifact::Bytes(bytes.clone()),
            ArtifactInput::Digest(digest) => wit::Artifact::Digest(digest.clone()),
        },
        authority: named_authority(&NamedAuthority {
            name: String::new(),
            authority: request.authority.clone(),
        })
        .authority,
        trusted_root: request.trusted_root.clone(),
        at: request.at,
    }
}

/// The reason a WIT record names. A code this host does not know (a component of another
/// version) is the component breaking its contract.
fn reason(code: &str) -> Reason {
    Reason::from_code(code).unwrap_or(Reason::VerifierFailed)
}

pub(super) fn bundle_outcome(report: wit::BundleReport) -> BundleOutcome {
    BundleOutcome {
        verified: report.verified && report.reason.is_none(),
        reason: report.reason.as_deref().map(reason),
        checks: report.checks.into_iter().map(check).collect(),
    }
}

fn check(check: wit::Check) -> Check {
    Check {
        name: Cow::Owned(check.name),
        outcome: match check.outcome {
            wit::Outcome::Pass => CheckOutcome::Pass,
            wit::Outcome::Fail => CheckOutcome::Fail,
            wit::Outcome::Skip => CheckOutcome::Skip,
        },
        detail: check.detail,
    }
}

/// The core's report from the WIT one. Whether the image verified is recomputed from the
/// signatures (as the core always does), never taken from the record's own summary.
pub(super) fn report(report: wit::Report) -> Report {
    Report {
        image: report.image,
        digest: report.digest,
        repository: report.repository,
        signatures: report
            .signatures
            .into_iter()
            .map(|sig| SignatureReport {
                source: match sig.source {
                    wit::SignatureSource::SigLayer => Source::SigLayer,
                    wit::SignatureSource::AttLayer => Source::AttLayer,
                    wit::SignatureSource::ReferrerBundle => Source::ReferrerBundle,
                },
                digest: sig.digest,
                authority: sig.authority,
                // A signature the record calls unverified stays unverified, reason or not.
                reason: match (sig.verified, sig.reason) {
                    (true, None) => None,
                    (_, Some(code)) => Some(reason(&code)),
                    (false, None) => Some(Reason::VerifierFailed),
                },
                checks: sig.checks.into_iter().map(check).collect(),
                payload: sig.payload,
                signer: sig.signer.map(|s| sigward_policy::cert::Signer {
                    subject_alternative_names: s.subject_alternative_names,
                    issuer: s.issuer,
                    extensions: s.extensions.into_iter().collect(),
                }),
            })
            .collect(),
    }
}

pub(super) fn failure(denial: wit::Denial) -> Failure {
    Failure::new(reason(&denial.reason), denial.message)
}

pub(super) fn kinds(kinds: wit_types::MaterialKinds) -> fetch::Kinds {
    fetch::Kinds {
        signatures: kinds.contains(wit_types::MaterialKinds::SIGNATURES),
        attestations: kinds.contains(wit_types::MaterialKinds::ATTESTATIONS),
        bundles: kinds.contains(wit_types::MaterialKinds::BUNDLES),
    }
}

pub(super) fn manifest(manifest: fetch::Manifest) -> wit_types::Manifest {
    wit_types::Manifest {
        media_type: manifest.media_type,
        bytes: manifest.bytes,
    }
}

pub(super) fn material(material: fetch::Material) -> wit_types::SignatureMaterial {
    let layer = |layer: fetch::Layer| wit_types::Layer {
        media_type: layer.media_type,
        digest: layer.digest,
        annotations: layer.annotations.into_iter().collect(),
        payload: layer.payload,
    };
    wit_types::SignatureMaterial {
        signatures: material.signatures.into_iter().map(layer).collect(),
        attestations: material.attestations.into_iter().map(layer).collect(),
        bundles: material
            .bundles
            .into_iter()
            .map(|b| wit_types::AttachedBundle {
                media_type: b.media_type,
                digest: b.digest,
                bundle: b.bundle,
            })
            .collect(),
    }
}

pub(super) fn fetch_error(err: FetchError) -> wit_types::FetchError {
    use wit_types::FetchError as W;
    match err {
        FetchError::NotFound(m) => W::NotFound(m),
        FetchError::Denied(m) => W::Denied(m),
        FetchError::TooLarge(m) => W::TooLarge(m),
        FetchError::Invalid(m) => W::Invalid(m),
        FetchError::Unavailable(m) => W::Unavailable(m),
        FetchError::Unsupported(m) => W::Unsupported(m),
    }
}
