//! `sigward evaluate`: the local policy tester. Decides an AdmissionReview (or a manifest, as
//! the API server would send it) against ClusterImagePolicies through the admission pipeline
//! `sigward serve` runs (`server::AdmissionService::answer`), so its answer is the cluster's,
//! byte for byte, and explains the decision. `--decide-in-component` decides inside the
//! component instead (its `admission.evaluate` export, for engines that want the whole
//! decision in the sandbox); the two are tested to agree.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use sigward_policy::admission::Review;

use super::admission_args::AdmissionArgs;
use super::output::outln;
use super::timeout::{Deadline, TimeoutArgs};
use super::{EXIT_NOT_VERIFIED, EXIT_OK, RegistryArgs};
use crate::fetcher::RegistryFetch;
use crate::registry::Sources;
use crate::runtime::{ComponentSource, Evaluation, Limits, Runtime};
use crate::server::{Admission, AdmissionService, CacheConfig, Metrics, SlotConfig, VerdictCache};

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

    /// Decide inside the component (its `admission.evaluate` export) rather than in the
    /// server's pipeline; for comparing the two.
    #[arg(long, hide = true)]
    decide_in_component: bool,

    #[command(flatten)]
    registry: RegistryArgs,

    #[command(flatten)]
    timeout: TimeoutArgs,
}

impl EvaluateCommand {
    pub(crate) fn run(self, component: &ComponentSource) -> anyhow::Result<ExitCode> {
        let deadline = self
            .timeout
            .start(|message| eprintln!("error: timeout: {message}"));
        let evaluated = self.evaluate(component, &deadline);
        deadline.finish();
        match evaluated {
            Err(err) if deadline.is_expired() => {
                Err(err.context(format!("timeout: {}", deadline.message())))
            }
            other => other,
        }
    }

    fn evaluate(
        &self,
        component: &ComponentSource,
        deadline: &Deadline,
    ) -> anyhow::Result<ExitCode> {
        let loaded = self.admission.load()?;
        super::print_trust_notes(&loaded.trust, &loaded.settings.trusted_root);
        let reviews = self.reviews()?;
        let io = super::io_runtime()?;
        let sources = Arc::new(Sources::new(self.registry.options())?);
        let limits = Limits {
            deadline: deadline.remaining(),
            ..Limits::default()
        };
        let runtime = Arc::new(Runtime::new(component, limits)?);
        let texts = loaded.texts.clone();
        let mut settings = loaded.settings.clone();
        let trust = Arc::new(loaded.trust);
        let service = AdmissionService::new(
            Admission {
                policies: loaded.policies,
                settings: loaded.settings,
                deadline: deadline.remaining(),
                slots: SlotConfig::default(),
            },
            Arc::clone(&runtime),
            Arc::clone(&sources),
            Arc::clone(&trust),
            VerdictCache::new(CacheConfig::default()),
            Arc::new(Metrics::new()),
        );
        let mut all_allowed = true;
        for (label, review) in reviews {
            let (response, explanation) = if self.decide_in_component {
                settings.at = crate::fetcher::unix_now();
                let source = RegistryFetch::new(
                    Arc::clone(&sources),
                    io.handle().clone(),
                    Arc::clone(&trust),
                )
                .with_budget(deadline.budget(sources.limits().verification_bytes));
                let evaluation = Evaluation {
                    review,
                    policies: texts.clone(),
                    settings: settings.clone(),
                    mutate: self.mutate,
                };
                match runtime.evaluate(&evaluation, Box::new(source)) {
                    Ok(Ok((response, explanation))) => (response.into_bytes(), explanation),
                    Ok(Err(failure)) => anyhow::bail!("{label}: {failure}"),
                    Err(err) => anyhow::bail!("{label}: the verifier gave no answer: {err}"),
                }
            } else {
                let answer = io.block_on(service.answer(review.as_bytes(), self.mutate));
                if answer.reply.status != http::StatusCode::OK {
                    let body = String::from_utf8_lossy(&answer.reply.body).into_owned();
                    anyhow::bail!("{label}: not an AdmissionReview: {body}");
                }
                (answer.reply.body, answer.explanation)
            };
            let response: serde_json::Value =
                serde_json::from_slice(&response).context("the response is not JSON")?;
            for line in &explanation {
                eprintln!("{line}");
            }
            let allowed =
                response.pointer("/response/allowed") == Some(&serde_json::Value::Bool(true));
            eprintln!("{} {label}", if allowed { "ALLOWED" } else { "DENIED" });
            outln!("{}", serde_json::to_string_pretty(&response)?);
            all_allowed &= allowed;
        }
        // Past the deadline, a denial is the timeout's doing (registry calls were cut short).
        if !all_allowed && deadline.is_expired() {
            anyhow::bail!("some reviews were denied after registry calls were cut short");
        }
        Ok(ExitCode::from(if all_allowed {
            EXIT_OK
        } else {
            EXIT_NOT_VERIFIED
        }))
    }

    /// The AdmissionReviews to decide, each with a label: the file as given, or one per
    /// workload in the manifest (YAML documents, a JSON object, or a kubectl `List`); other
    /// kinds (Services, ConfigMaps, ...) are skipped with a note.
    fn reviews(&self) -> anyhow::Result<Vec<(String, String)>> {
        if let Some(path) = &self.request {
            let review = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            return Ok(vec![(path.display().to_string(), review)]);
        }
        let Some(path) = &self.manifest else {
            anyhow::bail!("--request or --manifest is required");
        };
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        // One JSON document, else a YAML stream (JSON documents between `---` included).
        let documents: Vec<serde_json::Value> = match serde_json::from_str(&text) {
            Ok(document) => vec![document],
            Err(_) => serde_saphyr::from_str_multiple(&text)
                .with_context(|| format!("{} is neither JSON nor YAML", path.display()))?,
        };
        let objects = documents.into_iter().flat_map(|document| {
            match document.get("items").and_then(serde_json::Value::as_array) {
                Some(items) if document["kind"] == "List" => items.clone(),
                _ => vec![document],
            }
        });
        let mut reviews = Vec::new();
        for object in objects.filter(|o| !o.is_null()) {
            let label = format!(
                "{}/{}",
                object["kind"].as_str().unwrap_or("(no kind)"),
                object
                    .pointer("/metadata/name")
                    .and_then(|n| n.as_str())
                    .unwrap_or("(unnamed)")
            );
            match Review::wrap_object("sigward-evaluate", &object) {
                Ok(review) => reviews.push((label, review.to_string())),
                Err(err) => eprintln!("skipping {label}: {err}"),
            }
        }
        if reviews.is_empty() {
            anyhow::bail!("{}: no workload to evaluate", path.display());
        }
        Ok(reviews)
    }
}
