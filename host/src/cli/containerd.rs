//! `sigward containerd-verifier`: judges an image pull for containerd's image verifier plugin
//! (`io.containerd.image-verifier.v1.bindir`; docs/formats/containerd-verifier.md), with the
//! same ClusterImagePolicies and the same decision as the admission webhook
//! (`server::AdmissionService::judge_pull`).
//!
//! containerd runs every executable in its `bin_dir` as `NAME -name REF -digest sha256:…
//! -stdin-media-type application/vnd.oci.descriptor.v1+json`, with the image's descriptor on
//! stdin; exit 0 allows the pull, anything else blocks it, and stdout is the reason it shows.
//! A node installs a one-line script there that runs this command with its policy flags
//! followed by containerd's (`"$@"`). Go's single-dash long flags are read as clap's
//! double-dash ones ([`go_flags`]).
//!
//! The digest containerd resolved is what gets verified, never the tag again. Allowed pulls
//! are remembered in a [`PullCache`] shared by invocations (see `pull_cache` for what it
//! trusts).

use std::ffi::OsString;
use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;
use sigward_policy::admission::Decision;
use sigward_policy::digest::Digest;
use sigward_policy::reference::ImageReference;

use super::admission_args::{AdmissionArgs, Loaded};
use super::output::outln;
use super::timeout::{Deadline, TimeoutArgs, parse_duration};
use super::{EXIT_ERROR, EXIT_NOT_VERIFIED, EXIT_OK, RegistryArgs};
use crate::pull_cache::{PullCache, PullKey};
use crate::registry::Sources;
use crate::runtime::{ComponentSource, Limits, Runtime};
use crate::server::{Admission, AdmissionService, CacheConfig, Metrics, SlotConfig, VerdictCache};

/// The subcommand's name, after which containerd's Go-style flags are rewritten.
pub(crate) const NAME: &str = "containerd-verifier";

/// The flags containerd passes, in Go's single-dash spelling.
const GO_FLAGS: [&str; 3] = ["name", "digest", "stdin-media-type"];

/// The media type of the descriptor containerd writes on stdin.
const DESCRIPTOR_MEDIA_TYPE: &str = "application/vnd.oci.descriptor.v1+json";

/// The most stdin read: a descriptor is a few hundred bytes.
const MAX_STDIN_BYTES: u64 = 64 * 1024;

/// Judge an image pull for containerd's image verifier plugin: exit 0 allows it, 1 blocks it
/// (not allowed by the policies), 2 blocks it (could not decide); one line on stdout says why.
#[derive(Debug, clap::Args)]
pub(crate) struct ContainerdVerifierCommand {
    #[command(flatten)]
    admission: AdmissionArgs,

    #[command(flatten)]
    registry: RegistryArgs,

    /// Give up (and block the pull) after this long; keep it below containerd's
    /// `per_verifier_timeout` (10s by default).
    #[arg(long, default_value = "8s", value_parser = parse_duration, value_name = "DURATION")]
    timeout: Duration,

    /// Where allowed pulls are remembered across invocations: a directory owned by this user
    /// that nobody else may write to (otherwise the cache is not used).
    #[arg(long, default_value = "/var/cache/sigward/pulls", value_name = "DIR")]
    cache_dir: PathBuf,

    /// Do not read or write the pull cache.
    #[arg(long)]
    no_cache: bool,

    /// How long an allowed pull is remembered.
    #[arg(long, default_value = "10m", value_parser = parse_duration, value_name = "DURATION")]
    cache_ttl: Duration,

    /// The most pulls remembered; the oldest are forgotten first.
    #[arg(long, default_value_t = 4096, value_name = "N")]
    cache_max_entries: usize,

    /// (containerd) The image reference being pulled, as given to the pull.
    #[arg(long = "name", value_name = "REF")]
    name: String,

    /// (containerd) The digest containerd resolved the reference to: what gets verified.
    #[arg(long = "digest", value_name = "DIGEST")]
    digest: String,

    /// (containerd) The media type of what is on stdin (an OCI descriptor).
    #[arg(long = "stdin-media-type", value_name = "TYPE")]
    stdin_media_type: Option<String>,
}

/// The fields of containerd's descriptor that are checked.
#[derive(Deserialize)]
struct Descriptor {
    digest: String,
}

impl ContainerdVerifierCommand {
    pub(crate) fn run(self, component: &ComponentSource) -> anyhow::Result<ExitCode> {
        // One deadline for everything: reading stdin and the policies as much as verifying.
        let deadline = TimeoutArgs::new(self.timeout).start(|message| {
            outln!("sigward: blocked: timeout: {message}");
        });
        let code = self.judge(component, &deadline);
        deadline.finish();
        Ok(ExitCode::from(code))
    }

    /// Decides the pull and prints why; the exit code.
    fn judge(&self, component: &ComponentSource, deadline: &Deadline) -> u8 {
        // Every early return is a blocked pull with its reason on stdout, where containerd
        // reads it.
        let block = |code: u8, reason: String| {
            outln!("sigward: blocked {}: {reason}", self.name);
            code
        };
        let image = match self.pinned_image() {
            Ok(image) => image,
            Err(reason) => return block(EXIT_NOT_VERIFIED, reason),
        };
        let loaded = match self.admission.load() {
            Ok(loaded) => loaded,
            Err(err) => return block(EXIT_ERROR, format!("cannot load the policies: {err:#}")),
        };
        super::print_trust_notes(&loaded.trust, &loaded.settings.trusted_root);
        let cache = self.cache();
        let key = match pull_key(&loaded, component, &image) {
            Ok(key) => key,
            Err(err) => return block(EXIT_ERROR, format!("{err:#}")),
        };
        let now = crate::fetcher::unix_now();
        if let Some(reason) = cache.as_ref().and_then(|cache| cache.get(&key, now)) {
            outln!("sigward: allowed {image} (decided earlier): {reason}");
            return EXIT_OK;
        }
        let decision = match self.decide(component, loaded, &image, deadline.remaining()) {
            Ok(decision) => decision,
            Err(err) => return block(EXIT_ERROR, format!("{err:#}")),
        };
        let reason = one_line(&decision);
        if !decision.allowed {
            outln!("sigward: blocked {image}: {reason}");
            return EXIT_NOT_VERIFIED;
        }
        if let Some(cache) = &cache
            && let Err(why) = cache.put(&key, &reason, now)
        {
            eprintln!("warning: the pull cache was not updated: {why}");
        }
        outln!("sigward: allowed {image}: {reason}");
        EXIT_OK
    }

    /// `-name` pinned to `-digest` (`repo[:tag]@sha256:…`), after checking that the digest is
    /// one, that a digest in `-name` is the same, and that the descriptor on stdin names it.
    fn pinned_image(&self) -> Result<String, String> {
        let digest = Digest::parse(&self.digest)
            .map_err(|_| format!("-digest {:?} is not a sha256 digest", self.digest))?;
        let reference = ImageReference::parse(&self.name)
            .map_err(|e| format!("-name is not an image reference: {e}"))?;
        if let Some(named) = reference.digest()
            && named != self.digest
        {
            return Err(format!(
                "-name pins {named}, but containerd resolved {}",
                self.digest
            ));
        }
        if self.stdin_media_type.as_deref() == Some(DESCRIPTOR_MEDIA_TYPE) {
            let described = read_descriptor()?;
            if described.digest != self.digest {
                return Err(format!(
                    "the descriptor on stdin names {}, not -digest {}",
                    described.digest, self.digest
                ));
            }
        }
        let tag = reference
            .tag()
            .map(|tag| format!(":{tag}"))
            .unwrap_or_default();
        Ok(format!("{}{tag}@{digest}", reference.written_name()))
    }

    fn cache(&self) -> Option<PullCache> {
        if self.no_cache {
            return None;
        }
        match PullCache::open(&self.cache_dir, self.cache_ttl, self.cache_max_entries) {
            Ok(cache) => Some(cache),
            Err(why) => {
                eprintln!("warning: not using the pull cache: {why}");
                None
            }
        }
    }

    fn decide(
        &self,
        component: &ComponentSource,
        loaded: Loaded,
        image: &str,
        time_left: Duration,
    ) -> anyhow::Result<Decision> {
        let io = super::io_runtime()?;
        let sources = Arc::new(Sources::new(self.registry.options())?);
        let limits = Limits {
            deadline: time_left,
            ..Limits::default()
        };
        let runtime = Arc::new(Runtime::new(component, limits)?);
        let service = AdmissionService::new(
            Admission {
                policies: loaded.policies,
                settings: loaded.settings,
                deadline: time_left,
                slots: SlotConfig::default(),
            },
            runtime,
            sources,
            Arc::new(loaded.trust),
            VerdictCache::new(CacheConfig::default()),
            Arc::new(Metrics::new()),
        );
        Ok(io.block_on(service.judge_pull(image)))
    }
}

/// Reads the descriptor containerd writes on stdin.
fn read_descriptor() -> Result<Descriptor, String> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(MAX_STDIN_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the descriptor on stdin: {e}"))?;
    if bytes.len() as u64 > MAX_STDIN_BYTES {
        return Err(format!(
            "the descriptor on stdin is over {MAX_STDIN_BYTES} bytes"
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("the descriptor on stdin is not one: {e}"))
}

/// What the decision depends on (see `pull_cache`): this binary, its component, the policy
/// texts, the settings, every trust root, the image with its digest.
fn pull_key(loaded: &Loaded, component: &ComponentSource, image: &str) -> anyhow::Result<PullKey> {
    let mut key = PullKey::builder();
    key.part(env!("CARGO_PKG_VERSION").as_bytes());
    match component {
        ComponentSource::File(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            key.part(b"file").part(&bytes);
        }
        other => {
            key.part(format!("{other:?}").as_bytes());
        }
    }
    for text in &loaded.texts {
        key.part(text.as_bytes());
    }
    let settings = &loaded.settings;
    key.part(
        format!(
            "{:?} {:?} {}",
            settings.no_match, settings.tags, settings.trusted_root
        )
        .as_bytes(),
    )
    .part(&loaded.trust.fingerprint())
    .part(image.as_bytes());
    Ok(key.finish())
}

/// The decision in one line: the denials, else what allowed it (with any warning).
fn one_line(decision: &Decision) -> String {
    let text = if !decision.allowed {
        decision.message.clone()
    } else if decision.warnings.is_empty() {
        decision.explanation.join("; ")
    } else {
        format!(
            "{} (warning: {})",
            decision.explanation.join("; "),
            decision.warnings.join("; ")
        )
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The arguments with containerd's Go-style flags after `containerd-verifier` (`-name REF`,
/// `-digest=D`) spelled as clap's (`--name REF`, `--digest=D`); other arguments unchanged.
pub(crate) fn go_flags(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut after_subcommand = false;
    args.into_iter()
        .map(|arg| {
            let Some(text) = arg.to_str() else {
                return arg;
            };
            if !after_subcommand {
                after_subcommand = text == NAME;
                return arg;
            }
            let is_go_flag = text
                .strip_prefix('-')
                .filter(|rest| !rest.starts_with('-'))
                .and_then(|rest| rest.split('=').next())
                .is_some_and(|flag| GO_FLAGS.contains(&flag));
            if is_go_flag {
                OsString::from(format!("-{text}"))
            } else {
                arg
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn reads_containerds_go_flags() {
        let rewritten = go_flags(strings(&[
            "sigward",
            "--portable",
            NAME,
            "--policy",
            "/etc/p",
            "-name",
            "r/a:1",
            "-digest=sha256:00",
            "-stdin-media-type",
            "t",
            "-n",
            "--name",
        ]));
        assert_eq!(
            rewritten,
            strings(&[
                "sigward",
                "--portable",
                NAME,
                "--policy",
                "/etc/p",
                "--name",
                "r/a:1",
                "--digest=sha256:00",
                "--stdin-media-type",
                "t",
                "-n",
                "--name",
            ])
        );
        // Other subcommands keep their arguments.
        let verify = strings(&["sigward", "verify", "-name"]);
        assert_eq!(go_flags(verify.clone()), verify);
    }
}
