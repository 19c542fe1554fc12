//! `sigward trust`: keep the Sigstore trust roots current through TUF (as cosign's
//! `initialize` and policy-controller's `--tuf-mirror` / `--tuf-root`), and show which roots
//! are in force.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use sha2::{Digest as _, Sha256};
use sigward_policy::time::format_rfc3339;

use super::EXIT_OK;
use super::output::outln;
use crate::trust::store::Store;
use crate::trust::tuf::{self, Repository, Timeouts};
use crate::trust::{PRODUCTION_NAME, STAGING_NAME, TrustRoots, embedded_repository, judge_cached};

/// Keep the Sigstore trust roots current (TUF) and show the roots in force.
#[derive(Debug, clap::Args)]
pub(crate) struct TrustCommand {
    #[command(subcommand)]
    command: TrustSubcommand,
}

#[derive(Debug, clap::Subcommand)]
enum TrustSubcommand {
    Init(InitCommand),
    Status(StatusCommand),
}

/// Where the TUF cache lives and which repository it is for.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TufArgs {
    /// The TUF repository's mirror (default: Sigstore's production or staging CDN). Plain
    /// HTTP only on loopback.
    #[arg(long = "mirror", value_name = "URL")]
    pub(crate) mirror: Option<String>,

    /// The TUF root.json to start from when the cache holds none from this repository
    /// (default: the one embedded for Sigstore's repository).
    #[arg(long = "root", value_name = "FILE")]
    pub(crate) root: Option<PathBuf>,
}

impl TufArgs {
    /// The repository for the root called `name`, with the embedded defaults.
    pub(crate) fn repository(&self, name: &str) -> anyhow::Result<Repository> {
        let (default_mirror, default_root) =
            embedded_repository(name).context("no TUF repository for this trust root")?;
        let mirror = tuf::mirror_url(self.mirror.as_deref().unwrap_or(default_mirror))?;
        let bootstrap_root = match &self.root {
            Some(path) => {
                std::fs::read(path).with_context(|| format!("reading --root {}", path.display()))?
            }
            None => default_root.to_vec(),
        };
        Ok(Repository {
            mirror,
            bootstrap_root,
        })
    }
}

/// Fetch and verify the trusted root from a TUF repository into the trust directory.
#[derive(Debug, clap::Args)]
struct InitCommand {
    #[command(flatten)]
    tuf: TufArgs,

    /// Initialize the staging root instead of the production one.
    #[arg(long)]
    staging: bool,

    /// The trust directory [default: ~/.sigward/trust].
    #[arg(long, env = "SIGWARD_TRUST_DIR", value_name = "DIR")]
    trust_dir: Option<PathBuf>,

    /// Give up after this long: `30s`, `3m`; a bare number is seconds.
    #[arg(long, default_value = "60s", value_parser = super::timeout::parse_duration, value_name = "DURATION")]
    timeout: Duration,
}

/// Show which trust roots are in force and where they came from.
#[derive(Debug, clap::Args)]
struct StatusCommand {
    /// The trust directory [default: ~/.sigward/trust].
    #[arg(long, env = "SIGWARD_TRUST_DIR", value_name = "DIR")]
    trust_dir: Option<PathBuf>,
}

impl TrustCommand {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            TrustSubcommand::Init(cmd) => cmd.run(),
            TrustSubcommand::Status(cmd) => cmd.run(),
        }
    }
}

/// The trust directory given, else the default one.
fn trust_dir(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    given
        .or_else(crate::trust::trust_dir)
        .context("no trust directory: set --trust-dir, SIGWARD_TRUST_DIR or HOME")
}

impl InitCommand {
    fn run(self) -> anyhow::Result<ExitCode> {
        let name = if self.staging {
            STAGING_NAME
        } else {
            PRODUCTION_NAME
        };
        let dir = trust_dir(self.trust_dir)?;
        let repository = self.tuf.repository(name)?;
        let store = Store::new(&dir, name);
        let timeouts = Timeouts {
            request: self.timeout.min(Timeouts::default().request),
            total: self.timeout,
        };
        let refreshed = super::io_runtime()?
            .block_on(tuf::refresh(&store, &repository, timeouts))
            .with_context(|| format!("the {name} trust root was not updated"))?;
        let state = &refreshed.state;
        outln!(
            "Initialized the {name} trust root from {} (TUF root version {}, timestamp valid \
             until {}): trusted_root.json sha256:{}{}",
            state.mirror,
            state.root_version,
            format_rfc3339(state.timestamp_expires),
            state.trusted_root_sha256,
            if refreshed.changed {
                ""
            } else {
                " (unchanged)"
            },
        );
        let roots = TrustRoots::from_dir(&dir)?;
        for note in roots.notes() {
            eprintln!("warning: {note}");
        }
        Ok(ExitCode::from(EXIT_OK))
    }
}

impl StatusCommand {
    fn run(self) -> anyhow::Result<ExitCode> {
        let dir = trust_dir(self.trust_dir)?;
        let roots = TrustRoots::from_dir(&dir)?;
        for name in [PRODUCTION_NAME, STAGING_NAME] {
            let file = dir.join(format!("{name}.json"));
            let cached = Store::new(&dir, name)
                .current()
                .ok()
                .flatten()
                .filter(|cached| judge_cached(name, cached, crate::fetcher::unix_now()).is_ok());
            let source = match cached {
                _ if file.is_file() => format!("file {}", file.display()),
                Some(cached) => format!(
                    "TUF cache from {}, refreshed {}, TUF root version {}, timestamp valid \
                     until {}",
                    cached.state.mirror,
                    format_rfc3339(cached.state.refreshed),
                    cached.state.root_version,
                    format_rfc3339(cached.state.timestamp_expires)
                ),
                None => "embedded".to_owned(),
            };
            let sha256 = base16ct::lower::encode_string(&Sha256::digest(&*roots.get(name)?));
            outln!("{name}: {source}; trusted_root.json sha256:{sha256}");
        }
        for note in roots.notes() {
            eprintln!("warning: {note}");
        }
        Ok(ExitCode::from(EXIT_OK))
    }
}
