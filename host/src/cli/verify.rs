//! `sigward verify` and `sigward verify-attestation`: verify an image's signatures (or
//! attestations) against public keys or keyless certificate identities, as cosign does.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::builder::NonEmptyStringValueParser;
use sigward_policy::authority::{Authority, GithubWorkflow, Keyless, NamedAuthority};
use sigward_policy::image::{CheckKind, TlogPolicy, VerifyRequest};

use super::output::outln;
use super::timeout::{Deadline, TimeoutArgs};
use super::{EXIT_ERROR, EXIT_NOT_VERIFIED, EXIT_OK, IdentityArgs, RegistryArgs, TrustArgs};
use crate::fetcher::RegistryFetch;
use crate::registry::Sources;
use crate::runtime::{ComponentSource, Failure, Limits, Report, Runtime};
use sigward_policy::Reason;
use sigward_policy::verdict::CheckOutcome;

/// Verify the signatures of an image (`HOST/REPO[:TAG][@DIGEST]` or `oci:DIR[:TAG]`).
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyCommand {
    #[command(flatten)]
    args: VerifyArgs,
}

/// Verify the attestations of an image: DSSE envelopes in `.att` layers or in Sigstore bundles
/// attached as referrers, whose in-toto statement is about this image.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyAttestationCommand {
    /// The predicate type: a URI, or a cosign shorthand (custom, slsaprovenance, spdx, ...).
    #[arg(long = "type", value_name = "PREDICATE_TYPE", default_value = "custom")]
    predicate_type: String,

    #[command(flatten)]
    args: VerifyArgs,
}

impl VerifyCommand {
    pub(crate) fn run(self, component: &ComponentSource) -> anyhow::Result<ExitCode> {
        self.args.run(component, CheckKind::Signature)
    }
}

impl VerifyAttestationCommand {
    pub(crate) fn run(self, component: &ComponentSource) -> anyhow::Result<ExitCode> {
        self.args
            .run(component, CheckKind::Attestation(self.predicate_type))
    }
}

/// What `verify` and `verify-attestation` share.
#[derive(Debug, clap::Args)]
struct VerifyArgs {
    /// A PEM public key that may have signed (repeatable: any one suffices).
    #[arg(long = "key", value_name = "FILE", required_unless_present_any = ["certificate_identity", "certificate_identity_regexp"])]
    keys: Vec<PathBuf>,

    #[command(flatten)]
    identity: IdentityArgs,

    #[command(flatten)]
    github_workflow: GithubWorkflowArgs,

    #[command(flatten)]
    trust: TrustArgs,

    /// A claim the signed payload must carry in `optional` (repeatable).
    #[arg(short = 'a', long = "annotations", value_name = "KEY=VALUE", value_parser = super::key_value)]
    annotations: Vec<(String, String)>,

    /// Accept signatures without a transparency log entry (cosign's flag of the same name).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, value_name = "BOOL")]
    insecure_ignore_tlog: bool,

    /// The repository the signatures were stored in, when not next to the image (cosign's
    /// `COSIGN_REPOSITORY`).
    #[arg(long, env = "COSIGN_REPOSITORY", value_name = "REPOSITORY")]
    signature_repository: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,

    #[command(flatten)]
    registry: RegistryArgs,

    #[command(flatten)]
    timeout: TimeoutArgs,

    /// The image to verify.
    image: String,
}

/// cosign's `--certificate-github-workflow-*` flags: values the keyless certificate's GitHub
/// Actions extensions must hold exactly (Fulcio OIDs 1.3.6.1.4.1.57264.1.2 to .1.6).
#[derive(Debug, Clone, clap::Args)]
struct GithubWorkflowArgs {
    /// The workflow trigger (`event_name`, such as `push`) the certificate must name, exactly.
    #[arg(long, value_name = "EVENT", value_parser = NonEmptyStringValueParser::new())]
    certificate_github_workflow_trigger: Option<String>,

    /// The commit SHA the workflow ran on, exactly.
    #[arg(long, value_name = "SHA", value_parser = NonEmptyStringValueParser::new())]
    certificate_github_workflow_sha: Option<String>,

    /// The workflow's name, exactly.
    #[arg(long, value_name = "NAME", value_parser = NonEmptyStringValueParser::new())]
    certificate_github_workflow_name: Option<String>,

    /// The repository (`owner/repo`) the workflow ran in, exactly.
    #[arg(long, value_name = "OWNER/REPO", value_parser = NonEmptyStringValueParser::new())]
    certificate_github_workflow_repository: Option<String>,

    /// The git ref (such as `refs/heads/main`) the workflow ran on, exactly.
    #[arg(long, value_name = "REF", value_parser = NonEmptyStringValueParser::new())]
    certificate_github_workflow_ref: Option<String>,
}

impl GithubWorkflowArgs {
    fn workflow(&self) -> GithubWorkflow {
        GithubWorkflow {
            trigger: self.certificate_github_workflow_trigger.clone(),
            sha: self.certificate_github_workflow_sha.clone(),
            name: self.certificate_github_workflow_name.clone(),
            repository: self.certificate_github_workflow_repository.clone(),
            git_ref: self.certificate_github_workflow_ref.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    Text,
    Json,
}

impl VerifyArgs {
    fn run(self, component: &ComponentSource, check: CheckKind) -> anyhow::Result<ExitCode> {
        let output = self.output;
        let deadline = self.timeout.start(move |message| {
            print_error(output, &Failure::new(Reason::Timeout, message));
        });
        let decided = self.decide(component, check, &deadline);
        deadline.finish();
        // Past the deadline, a "no" or an error is the timeout's doing: say so (exit 2), with
        // what the verifier saw. A verification that completed is still one.
        let decided = match decided {
            Ok(report) if !report.verified() && deadline.is_expired() => {
                let seen = report.reason().map(Reason::code).unwrap_or_default();
                Err(Undecided::timeout(&deadline, seen))
            }
            Err(undecided) if deadline.is_expired() => Err(Undecided::timeout(
                &deadline,
                &undecided.failure.to_string(),
            )),
            other => other,
        };
        match decided {
            Ok(report) => {
                self.print_report(&report)?;
                Ok(ExitCode::from(if report.verified() {
                    EXIT_OK
                } else {
                    EXIT_NOT_VERIFIED
                }))
            }
            Err(Undecided { failure, code }) => {
                print_error(self.output, &failure);
                Ok(ExitCode::from(code))
            }
        }
    }

    fn decide(
        &self,
        component: &ComponentSource,
        check: CheckKind,
        deadline: &Deadline,
    ) -> Result<Report, Undecided> {
        let trust = self
            .trust
            .load()
            .map_err(|err| Undecided::error(Reason::TrustRoot, err.to_string()))?;
        let trusted_root = trust.name;
        trust.print_notes();
        let mut authorities = self
            .keys
            .iter()
            .map(|path| {
                let pem = std::fs::read_to_string(path)
                    .with_context(|| format!("reading --key {}", path.display()))
                    .map_err(|err| Undecided::error(Reason::InvalidKey, format!("{err:#}")))?;
                Ok(NamedAuthority {
                    name: path.display().to_string(),
                    authority: Authority::Key(pem),
                })
            })
            .collect::<Result<Vec<_>, Undecided>>()?;
        let github_workflow = self.github_workflow.workflow();
        if !github_workflow.is_empty() && !self.identity.given() {
            return Err(Undecided::error(
                Reason::InvalidRequest,
                "--certificate-github-workflow-* flags check a keyless certificate: give \
                 --certificate-identity (or -regexp) and --certificate-oidc-issuer (or -regexp) too"
                    .to_owned(),
            ));
        }
        if self.identity.given() {
            let mut identity = self
                .identity
                .identity()
                .map_err(|err| Undecided::error(Reason::InvalidRequest, format!("{err:#}")))?;
            identity.github_workflow = github_workflow;
            authorities.push(NamedAuthority {
                name: "certificate identity".to_owned(),
                authority: Authority::Keyless(Keyless {
                    identities: vec![identity],
                    trusted_root: trusted_root.to_owned(),
                }),
            });
        }
        let kinds = check.kinds();
        let request = VerifyRequest {
            image: self.image.clone(),
            authorities,
            annotations: self.annotations.clone(),
            check,
            tlog: if self.insecure_ignore_tlog {
                TlogPolicy::InsecureIgnore
            } else {
                TlogPolicy::Require
            },
            signatures_from: self.signature_repository.clone(),
            trusted_root: trusted_root.to_owned(),
            at: crate::fetcher::unix_now(),
        };
        let io = super::io_runtime()
            .map_err(|err| Undecided::error(Reason::Internal, format!("{err:#}")))?;
        let sources = Sources::new(self.registry.options())
            .map_err(|err| Undecided::error(Reason::Internal, err.to_string()))?;
        let budget = deadline.budget(sources.limits().verification_bytes);
        // Fetching starts now and overlaps with loading the component.
        let source = RegistryFetch::prefetching(
            Arc::new(sources),
            io.handle().clone(),
            Arc::new(trust.roots),
            &self.image,
            kinds,
            budget,
        );
        // The verifier's own time limit is what is left of the command's.
        let limits = Limits {
            deadline: deadline.remaining(),
            ..Limits::default()
        };
        let runtime = Runtime::new(component, limits)
            .map_err(|err| Undecided::error(Reason::ComponentUnavailable, err.to_string()))?;
        match runtime.verify_image(&request, Box::new(source)) {
            Ok(Ok(report)) => Ok(report),
            Ok(Err(failure)) => Err(Undecided {
                failure,
                code: EXIT_ERROR,
            }),
            // A trap or deadline is a "no", with the reason.
            Err(err) => Err(Undecided {
                failure: Failure::new(Reason::VerifierFailed, err.to_string()),
                code: EXIT_NOT_VERIFIED,
            }),
        }
    }

    fn print_report(&self, report: &Report) -> anyhow::Result<()> {
        if self.output == Output::Json {
            outln!("{}", serde_json::to_string_pretty(report)?);
            return Ok(());
        }
        let digest = &report.digest;
        match report.reason() {
            None => outln!("Verified {} ({digest})", report.image),
            Some(reason) => outln!("NOT verified {} ({digest}): {reason}", report.image),
        }
        for sig in &report.signatures {
            match (&sig.authority, &sig.reason) {
                (Some(authority), None) => {
                    outln!("  {} {}: verified by {authority}", sig.source, sig.digest)
                }
                (_, reason) => {
                    let failed = sig.checks.iter().find(|c| c.outcome == CheckOutcome::Fail);
                    let detail = failed
                        .map(|c| format!("{}: {}", c.name, c.detail))
                        .unwrap_or_default();
                    outln!(
                        "  {} {}: {} ({detail})",
                        sig.source,
                        sig.digest,
                        reason.map_or("?", Reason::code)
                    );
                }
            }
        }
        Ok(())
    }
}

/// A request the verifier could not decide, with the exit code to use.
struct Undecided {
    failure: Failure,
    code: u8,
}

impl Undecided {
    /// The command's deadline passed; `seen` is what the verifier reported meanwhile.
    fn timeout(deadline: &Deadline, seen: &str) -> Self {
        let mut message = deadline.message();
        if !seen.is_empty() {
            message.push_str(&format!(" ({seen})"));
        }
        Self::error(Reason::Timeout, message)
    }

    fn error(reason: Reason, message: String) -> Self {
        Self {
            failure: Failure::new(reason, message),
            code: EXIT_ERROR,
        }
    }
}

/// Prints a command's error: on stdout as JSON with `--output json`, else on stderr.
fn print_error(output: Output, failure: &Failure) {
    match output {
        Output::Json => outln!("{}", serde_json::json!({ "error": failure })),
        Output::Text => eprintln!("error: {failure}"),
    }
}
