//! The wit-bindgen adapter: converts WIT types to core types and back, nothing else.
//!
//! With the `admission` feature (the default) the component is the WIT world `policy`
//! (verification and admission); without it, the world `verifier-only`, for engines that only
//! verify. Link-time optimisation then drops the policy reader, the admission decision and the
//! YAML parser, which nothing else reaches.

use std::collections::BTreeMap;

use crate::authority::{Authority, GithubWorkflow, Identity, Keyless, Matcher, NamedAuthority};
use crate::bundle;
use crate::error::Error;
#[cfg(feature = "admission")]
use crate::error::Reason;
use crate::fetch::{self, Fetch};
use crate::image::{self, CheckKind, TlogPolicy};
use crate::verdict;
#[cfg(feature = "admission")]
use crate::{admission, policy};

#[cfg(feature = "admission")]
wit_bindgen::generate!({ world: "policy", path: "../wit" });
#[cfg(not(feature = "admission"))]
wit_bindgen::generate!({ world: "verifier-only", path: "../wit" });

#[cfg(feature = "admission")]
use exports::sigward::policy::admission::{self as wit_admission};
use exports::sigward::policy::verifier as wit;
use sigward::policy::fetcher;
use sigward::policy::types as wit_types;

struct Component;

impl wit::Guest for Component {
    fn verify_image(request: wit::VerifyRequest) -> Result<wit::Report, wit::Denial> {
        let request = image::VerifyRequest {
            image: request.image,
            authorities: request
                .authorities
                .into_iter()
                .map(named_authority)
                .collect(),
            annotations: request.annotations,
            check: match request.check {
                wit::CheckKind::Signature => CheckKind::Signature,
                wit::CheckKind::Attestation(predicate) => CheckKind::Attestation(predicate),
            },
            tlog: match request.tlog {
                wit::TlogPolicy::Require => TlogPolicy::Require,
                wit::TlogPolicy::InsecureIgnore => TlogPolicy::InsecureIgnore,
            },
            signatures_from: request.signatures_from,
            trusted_root: request.trusted_root,
            at: request.at,
        };
        crate::verify_image(&request, &mut WitFetcher)
            .map(report)
            .map_err(denial)
    }

    fn verify_bundle(request: wit::BundleRequest) -> Result<wit::BundleReport, wit::Denial> {
        let request = bundle::BundleRequest {
            bundle: request.bundle,
            artifact: match request.artifact {
                wit::Artifact::Bytes(bytes) => bundle::ArtifactInput::Bytes(bytes),
                wit::Artifact::Digest(digest) => bundle::ArtifactInput::Digest(digest),
            },
            authority: named_authority(wit::NamedAuthority {
                name: String::new(),
                authority: request.authority,
            })
            .authority,
            trusted_root: request.trusted_root,
            at: request.at,
        };
        let report = bundle::verify_bundle_request(&request, &mut WitFetcher).map_err(denial)?;
        Ok(wit::BundleReport {
            verified: report.verified(),
            reason: report.error.as_ref().map(|e| e.reason().code().to_owned()),
            checks: report.checks.into_iter().map(check).collect(),
        })
    }
}

#[cfg(feature = "admission")]
impl wit_admission::Guest for Component {
    fn evaluate(
        request: wit_admission::AdmissionRequest,
    ) -> Result<wit_admission::AdmissionResult, wit::Denial> {
        let refuse = |reason: Reason, message: String| wit::Denial {
            reason: reason.code().to_owned(),
            message,
        };
        let mut policies = Vec::new();
        for text in &request.policies {
            policies.extend(
                policy::ClusterImagePolicy::parse_all(text)
                    .map_err(|e| refuse(Reason::InvalidPolicy, e.to_string()))?,
            );
        }
        let review = match admission::Review::parse(request.review.as_bytes()) {
            Ok(review) => review,
            Err(admission::AdmissionError::Object { uid, message }) => {
                return Ok(wit_admission::AdmissionResult {
                    response: admission::review_error(&uid, &message).to_string(),
                    explanation: vec![message],
                });
            }
            Err(error) => return Err(refuse(Reason::InvalidRequest, error.to_string())),
        };
        let settings = admission::Settings {
            no_match: match request.no_match {
                wit_admission::NoMatch::Deny => admission::NoMatch::Deny,
                wit_admission::NoMatch::Allow => admission::NoMatch::Allow,
                wit_admission::NoMatch::Warn => admission::NoMatch::Warn,
            },
            tags: match request.tags {
                wit_admission::TagHandling::VerifyResolved => {
                    admission::TagHandling::VerifyResolved
                }
                wit_admission::TagHandling::RequireDigest => admission::TagHandling::RequireDigest,
            },
            trusted_root: request.trusted_root,
            at: request.at,
        };
        // As `sigward serve`'s `/mutate`: a mutating answer pins tags, never denies them.
        let settings = if request.mutate {
            settings.for_mutation()
        } else {
            settings
        };
        let decision = admission::evaluate(review, &policies, settings, &mut WitFetcher);
        Ok(wit_admission::AdmissionResult {
            response: decision.review_response(request.mutate).to_string(),
            explanation: decision.explanation,
        })
    }
}

export!(Component);

/// Implements [`Fetch`] with the WIT imports.
struct WitFetcher;

impl Fetch for WitFetcher {
    fn resolve(&mut self, image: &str) -> Result<fetch::Manifest, fetch::FetchError> {
        let manifest = fetcher::resolve(image).map_err(fetch_error)?;
        Ok(fetch::Manifest {
            media_type: manifest.media_type,
            bytes: manifest.bytes,
        })
    }

    fn attached(
        &mut self,
        image: &str,
        digest: &str,
        kinds: fetch::Kinds,
    ) -> Result<fetch::Material, fetch::FetchError> {
        let mut flags = wit_types::MaterialKinds::empty();
        flags.set(wit_types::MaterialKinds::SIGNATURES, kinds.signatures);
        flags.set(wit_types::MaterialKinds::ATTESTATIONS, kinds.attestations);
        flags.set(wit_types::MaterialKinds::BUNDLES, kinds.bundles);
        let material = fetcher::attached(image, digest, flags).map_err(fetch_error)?;
        Ok(fetch::Material {
            signatures: material.signatures.into_iter().map(layer).collect(),
            attestations: material.attestations.into_iter().map(layer).collect(),
            bundles: material
                .bundles
                .into_iter()
                .map(|b| fetch::AttachedBundle {
                    media_type: b.media_type,
                    digest: b.digest,
                    bundle: b.bundle,
                })
                .collect(),
        })
    }

    fn trusted_root(&mut self, name: &str) -> Result<Vec<u8>, fetch::FetchError> {
        fetcher::trusted_root(name).map_err(fetch_error)
    }
}

fn layer(layer: wit_types::Layer) -> fetch::Layer {
    fetch::Layer {
        media_type: layer.media_type,
        digest: layer.digest,
        annotations: layer.annotations.into_iter().collect::<BTreeMap<_, _>>(),
        payload: layer.payload,
    }
}

fn fetch_error(err: wit_types::FetchError) -> fetch::FetchError {
    use wit_types::FetchError as W;
    match err {
        W::NotFound(m) => fetch::FetchError::NotFound(m),
        W::Denied(m) => fetch::FetchError::Denied(m),
        W::TooLarge(m) => fetch::FetchError::TooLarge(m),
        W::Invalid(m) => fetch::FetchError::Invalid(m),
        W::Unavailable(m) => fetch::FetchError::Unavailable(m),
        W::Unsupported(m) => fetch::FetchError::Unsupported(m),
    }
}

fn named_authority(named: wit::NamedAuthority) -> NamedAuthority {
    let authority = match named.authority {
        wit::Authority::Key(pem) => Authority::Key(pem),
        wit::Authority::Keyless(keyless) => Authority::Keyless(Keyless {
            identities: keyless
                .identities
                .into_iter()
                .map(|id| Identity {
                    issuer: matcher(id.issuer),
                    subject: matcher(id.subject),
                    github_workflow: github_workflow(id.github_workflow),
                })
                .collect(),
            trusted_root: keyless.trusted_root,
        }),
    };
    NamedAuthority {
        name: named.name,
        authority,
    }
}

fn github_workflow(workflow: wit::GithubWorkflow) -> GithubWorkflow {
    GithubWorkflow {
        trigger: workflow.trigger,
        sha: workflow.sha,
        name: workflow.name,
        repository: workflow.repository,
        git_ref: workflow.git_ref,
    }
}

fn matcher(matcher: wit::Matcher) -> Matcher {
    match matcher {
        wit::Matcher::Exact(s) => Matcher::Exact(s),
        wit::Matcher::Regexp(s) => Matcher::Regexp(s),
    }
}

fn check(check: verdict::Check) -> wit::Check {
    wit::Check {
        name: check.name.into_owned(),
        outcome: match check.outcome {
            verdict::CheckOutcome::Pass => wit::Outcome::Pass,
            verdict::CheckOutcome::Fail => wit::Outcome::Fail,
            verdict::CheckOutcome::Skip => wit::Outcome::Skip,
        },
        detail: check.detail,
    }
}

fn denial(err: Error) -> wit::Denial {
    wit::Denial {
        reason: err.reason().code().to_owned(),
        message: err.to_string(),
    }
}

fn report(report: verdict::Report) -> wit::Report {
    let verified = report.verified();
    let reason = report.reason().map(|r| r.code().to_owned());
    wit::Report {
        image: report.image,
        digest: report.digest,
        repository: report.repository,
        verified,
        reason,
        signatures: report
            .signatures
            .into_iter()
            .map(signature_report)
            .collect(),
    }
}

fn signature_report(sig: verdict::SignatureReport) -> wit::SignatureReport {
    wit::SignatureReport {
        source: match sig.source {
            verdict::Source::SigLayer => wit::SignatureSource::SigLayer,
            verdict::Source::AttLayer => wit::SignatureSource::AttLayer,
            verdict::Source::ReferrerBundle => wit::SignatureSource::ReferrerBundle,
        },
        verified: sig.verified(),
        digest: sig.digest,
        authority: sig.authority,
        reason: sig.reason.map(|r| r.code().to_owned()),
        checks: sig.checks.into_iter().map(check).collect(),
        payload: sig.payload,
        signer: sig.signer.map(|signer| wit::SignerInfo {
            subject_alternative_names: signer.subject_alternative_names,
            issuer: signer.issuer,
            extensions: signer.extensions.into_iter().collect(),
        }),
    }
}
