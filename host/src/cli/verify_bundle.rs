//! `sigward verify-bundle`: verify a standalone Sigstore bundle, exactly as the public Sigstore
//! conformance CLI protocol calls it (`../shared/conformance/README.md`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use sigward_policy::authority::{Authority, Keyless};
use sigward_policy::bundle::{ArtifactInput, BundleRequest};

use super::output::outln;
use super::{EXIT_ERROR, EXIT_NOT_VERIFIED, EXIT_OK, IdentityArgs, TrustArgs};
use crate::fetcher::RegistryFetch;
use crate::registry::Sources;
use crate::runtime::{ComponentSource, Limits, Runtime};

/// Verify a Sigstore bundle over an artifact file or a `sha256:<hex>` digest.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyBundleCommand {
    #[command(flatten)]
    trust: TrustArgs,

    /// The bundle (`.sigstore.json`).
    #[arg(long, value_name = "FILE")]
    bundle: PathBuf,

    /// A PEM public key that signed the bundle (instead of a certificate identity).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["certificate_identity", "certificate_identity_regexp"])]
    key: Option<PathBuf>,

    #[command(flatten)]
    identity: IdentityArgs,

    /// Print the checks as JSON.
    #[arg(long)]
    json: bool,

    /// The artifact: a file, or `sha256:<64 hex>` when no such file exists.
    artifact: String,
}

impl VerifyBundleCommand {
    pub(crate) fn run(self, component: &ComponentSource) -> anyhow::Result<ExitCode> {
        let bundle = std::fs::read(&self.bundle)
            .with_context(|| format!("reading --bundle {}", self.bundle.display()))?;
        let artifact = artifact(&self.artifact)?;
        let trust = self.trust.load()?;
        trust.print_notes();
        let authority = match &self.key {
            Some(path) => Authority::Key(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading --key {}", path.display()))?,
            ),
            None => Authority::Keyless(Keyless {
                identities: vec![self.identity.identity()?],
                trusted_root: trust.name.to_owned(),
            }),
        };
        let request = BundleRequest {
            bundle,
            artifact,
            authority,
            trusted_root: trust.name.to_owned(),
            at: crate::fetcher::unix_now(),
        };
        let io = super::io_runtime()?;
        let sources = Arc::new(Sources::new(crate::registry::Options::default())?);
        let source = RegistryFetch::new(sources, io.handle().clone(), Arc::new(trust.roots));
        let runtime = Runtime::new(component, Limits::default())?;
        let outcome = match runtime.verify_bundle(&request, Box::new(source))? {
            Ok(outcome) => outcome,
            Err(denial) => {
                eprintln!("error: {denial}");
                return Ok(ExitCode::from(EXIT_ERROR));
            }
        };
        if self.json {
            outln!("{}", serde_json::to_string_pretty(&outcome)?);
        }
        match &outcome.reason {
            None => {
                eprintln!("OK: {}", self.bundle.display());
                Ok(ExitCode::from(EXIT_OK))
            }
            Some(reason) => {
                let failed = outcome
                    .checks
                    .iter()
                    .find(|c| c.outcome == sigward_policy::verdict::CheckOutcome::Fail);
                let detail = failed
                    .map(|c| format!("{}: {}", c.name, c.detail))
                    .unwrap_or_default();
                eprintln!("NOT verified: {reason} ({detail})");
                Ok(ExitCode::from(EXIT_NOT_VERIFIED))
            }
        }
    }
}

/// `FILE_OR_DIGEST`: a digest when it looks like one and is not a path on disk.
fn artifact(text: &str) -> anyhow::Result<ArtifactInput> {
    let is_digest = text
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
    if is_digest && !std::path::Path::new(text).exists() {
        return Ok(ArtifactInput::Digest(text.to_ascii_lowercase()));
    }
    Ok(ArtifactInput::Bytes(
        std::fs::read(text).with_context(|| format!("reading artifact {text}"))?,
    ))
}
