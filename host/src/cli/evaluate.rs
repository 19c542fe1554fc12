//! `sigward evaluate`: the local policy tester. Decides an AdmissionReview (or a manifest, as
//! the API server would send it) against ClusterImagePolicies through the component's
//! `admission.evaluate` export, exactly as a cluster would, and explains the decision.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use sigward_policy::admission::Review;

use super::admission_args::AdmissionArgs;
use super::{EXIT_NOT_VERIFIED, EXIT_OK, RegistryArgs};
use crate::fetcher::RegistryFetch;
use crate::registry::Sources;
use crate::runtime::{ComponentSource, Evaluation, Limits, Runtime};

/// Decide an AdmissionReview or a workload manifest against policies; prints the
/// AdmissionReview response on stdout and the explanation on stderr. Exit code 0 when
/// allowed, 1 when denied.
#[derive(Debug, clap::Args)]
pub(crate) struct EvaluateCommand {
    #[command(flatten)]
    admission: AdmissionArgs,

    /// An AdmissionReview v1 JSON file (as the API server sends it).
    #[arg(long, value_name = "FILE", required_unless_present = "manifest")]
    request: Option<PathBuf>,

    /// A workload manifest (YAML or JSON: Pod, Deployment, CronJob, ...), reviewed as a CREATE.
    #[arg(long, value_name = "FILE", conflicts_with = "request")]
    manifest: Option<PathBuf>,

    /// Answer as the mutating webhook: the response pins each verified tag to its digest.
    #[arg(long)]
    mutate: bool,

    #[command(flatten)]
    registry: RegistryArgs,
}

impl EvaluateCommand {
    pub(crate) fn run(self, component: &ComponentSource) -> anyhow::Result<ExitCode> {
        let loaded = self.admission.load()?;
        let review = self.review()?;
        let mut settings = loaded.settings;
        settings.at = crate::fetcher::unix_now();
        let io = super::io_runtime()?;
        let source = RegistryFetch::new(
            Arc::new(Sources::new(self.registry.options())?),
            io.handle().clone(),
            Arc::new(loaded.trust),
        );
        let runtime = Runtime::new(component, Limits::default())?;
        let evaluation = Evaluation {
            review,
            policies: loaded.texts,
            settings,
            mutate: self.mutate,
        };
        let (response, explanation) = match runtime.evaluate(&evaluation, Box::new(source)) {
            Ok(Ok(answer)) => answer,
            Ok(Err(denial)) => anyhow::bail!("{}: {}", denial.reason, denial.message),
            Err(err) => anyhow::bail!("the verifier gave no answer: {err}"),
        };
        let response: serde_json::Value =
            serde_json::from_str(&response).context("the component's response is not JSON")?;
        for line in &explanation {
            eprintln!("{line}");
        }
        let allowed = response.pointer("/response/allowed") == Some(&serde_json::Value::Bool(true));
        eprintln!("{}", if allowed { "ALLOWED" } else { "DENIED" });
        println!("{}", serde_json::to_string_pretty(&response)?);
        Ok(ExitCode::from(if allowed {
            EXIT_OK
        } else {
            EXIT_NOT_VERIFIED
        }))
    }

    /// The AdmissionReview JSON: the file as given, or one made around the manifest.
    fn review(&self) -> anyhow::Result<String> {
        if let Some(path) = &self.request {
            return std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()));
        }
        let Some(path) = &self.manifest else {
            anyhow::bail!("--request or --manifest is required");
        };
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let object: serde_json::Value = if text.trim_start().starts_with('{') {
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?
        } else {
            serde_saphyr::from_str(&text)
                .with_context(|| format!("{} is not one YAML document", path.display()))?
        };
        let review = Review::wrap_object("sigward-evaluate", &object)
            .with_context(|| format!("manifest {}", path.display()))?;
        Ok(review.to_string())
    }
}
