//! What `sigward serve` and `sigward evaluate` share: the policies to load, how to treat
//! unmatched images and tags, and the trust root.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sigward_policy::admission::{NoMatch, Settings, TagHandling};
use sigward_policy::policy::ClusterImagePolicy;

use super::{ChosenTrust, TrustArgs};
use crate::trust::TrustRoots;

/// Policy and decision flags.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct AdmissionArgs {
    /// A ClusterImagePolicy file (YAML or JSON, several documents allowed), or a directory of
    /// them (`*.yaml`, `*.yml`, `*.json`); repeatable.
    #[arg(long = "policy", required = true, value_name = "FILE|DIR")]
    policies: Vec<PathBuf>,

    /// What to do with an image no policy matches.
    #[arg(long, value_enum, default_value_t = NoMatchArg::Deny)]
    no_match: NoMatchArg,

    /// Deny image references not pinned by digest (validation behind the mutating webhook,
    /// which pins them), instead of verifying what the tag resolves to with a warning. A
    /// mutating answer (`/mutate`, `evaluate --mutate`) and `/gatekeeper` still verify tags and
    /// pin them.
    #[arg(long)]
    require_digest: bool,

    #[command(flatten)]
    trust: TrustArgs,

    /// A `trusted_root.json` that policies name with `keyless.trustRootRef` or
    /// `ctlog.trustRootRef` (repeatable); `production` and `staging` are always known.
    #[arg(long = "trust-root", value_name = "NAME=FILE", value_parser = super::key_value)]
    trust_roots: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum NoMatchArg {
    Deny,
    Allow,
    Warn,
}

/// Policies read and checked, with the settings and trust roots to decide with.
pub(crate) struct Loaded {
    /// The policy texts as read (for the component, which parses them itself).
    pub(crate) texts: Vec<String>,
    /// The same policies, parsed.
    pub(crate) policies: Vec<ClusterImagePolicy>,
    /// How to decide (`at` is 0: callers set the time of each decision).
    pub(crate) settings: Settings,
    /// The trust roots, with the chosen one under `settings.trusted_root`.
    pub(crate) trust: TrustRoots,
}

impl AdmissionArgs {
    /// Reads every policy; the first invalid one is an error naming its file and field.
    pub(crate) fn load(&self) -> anyhow::Result<Loaded> {
        let (texts, policies) = self.read()?;
        let ChosenTrust {
            roots: mut trust,
            name: trusted_root,
        } = self.trust.load()?;
        for (name, path) in &self.trust_roots {
            trust
                .add_file(name, Path::new(path))
                .with_context(|| format!("--trust-root {name}={path}"))?;
        }
        let settings = Settings {
            no_match: match self.no_match {
                NoMatchArg::Deny => NoMatch::Deny,
                NoMatchArg::Allow => NoMatch::Allow,
                NoMatchArg::Warn => NoMatch::Warn,
            },
            tags: if self.require_digest {
                TagHandling::RequireDigest
            } else {
                TagHandling::VerifyResolved
            },
            trusted_root: trusted_root.to_owned(),
            at: 0,
        };
        Ok(Loaded {
            texts,
            policies,
            settings,
            trust,
        })
    }

    /// Reads the policies again (for reloading); the first invalid one is an error.
    pub(crate) fn load_policies(&self) -> anyhow::Result<Vec<ClusterImagePolicy>> {
        Ok(self.read()?.1)
    }

    /// Every policy file's text and its policies.
    fn read(&self) -> anyhow::Result<(Vec<String>, Vec<ClusterImagePolicy>)> {
        let mut texts = Vec::new();
        let mut policies = Vec::new();
        for path in self.files()? {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading policy {}", path.display()))?;
            let parsed = ClusterImagePolicy::parse_all(&text)
                .with_context(|| format!("policy {}", path.display()))?;
            if parsed.is_empty() {
                anyhow::bail!("policy {}: no ClusterImagePolicy document", path.display());
            }
            policies.extend(parsed);
            texts.push(text);
        }
        Ok((texts, policies))
    }

    /// What the policy files look like on disk now (following symlinks, as a mounted
    /// ConfigMap's are), to notice a change.
    pub(crate) fn stamp(&self) -> crate::watch::Stamp {
        crate::watch::Stamp::of(self.files().map_err(std::io::Error::other))
    }

    /// The policy files: each `--policy` file, and the policy files of each directory (sorted).
    fn files(&self) -> anyhow::Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        for path in &self.policies {
            if !path.is_dir() {
                files.push(path.clone());
                continue;
            }
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("reading policy directory {}", path.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|file| file.is_file() && is_policy_file(file))
                .collect();
            if found.is_empty() {
                anyhow::bail!(
                    "no policy files (*.yaml, *.yml, *.json) in {}",
                    path.display()
                );
            }
            found.sort();
            files.extend(found);
        }
        Ok(files)
    }
}

fn is_policy_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
}
