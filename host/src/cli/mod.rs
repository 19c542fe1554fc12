//! The command-line interface: one file per subcommand, each a clap struct with
//! `run(self) -> anyhow::Result<ExitCode>`.
//!
//! Exit codes (like ripgrep's): 0 verified, 1 not verified, 2 could not decide (bad flags,
//! unreadable files, unreachable registry).

mod admission_args;
mod containerd;
mod evaluate;
mod output;
mod precompile;
mod serve;
mod sign;
mod timeout;
mod trust;
mod verify;
mod verify_bundle;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::runtime::ComponentSource;

/// Exit code: verified / done.
pub const EXIT_OK: u8 = 0;
/// Exit code: not verified.
pub const EXIT_NOT_VERIFIED: u8 = 1;
/// Exit code: could not decide.
pub const EXIT_ERROR: u8 = 2;

/// Verify cosign/Sigstore signatures of container images in a WebAssembly sandbox.
#[derive(Debug, clap::Parser)]
#[command(name = "sigward", version, about)]
pub struct Cli {
    /// Run this `.wasm` verifier component instead of the embedded one.
    #[arg(long, global = true, env = "SIGWARD_COMPONENT", value_name = "FILE")]
    component: Option<PathBuf>,

    /// Use the embedded portable component (no wide-arithmetic proposal).
    #[arg(long, global = true, hide = true)]
    portable: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    Verify(verify::VerifyCommand),
    Sign(sign::SignCommand),
    VerifyBundle(verify_bundle::VerifyBundleCommand),
    VerifyAttestation(verify::VerifyAttestationCommand),
    Evaluate(evaluate::EvaluateCommand),
    Serve(serve::ServeCommand),
    ContainerdVerifier(containerd::ContainerdVerifierCommand),
    Trust(trust::TrustCommand),
    #[command(hide = true)]
    Precompile(precompile::PrecompileCommand),
}

impl Cli {
    /// Runs the chosen subcommand.
    ///
    /// # Errors
    ///
    /// Any failure that should exit with [`EXIT_ERROR`].
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let component = match (self.component, self.portable) {
            (Some(path), _) => ComponentSource::File(path),
            (None, true) => ComponentSource::EmbeddedPortable,
            (None, false) => ComponentSource::EmbeddedWide,
        };
        match self.command {
            Command::Verify(cmd) => cmd.run(&component),
            Command::Sign(cmd) => cmd.run(),
            Command::VerifyBundle(cmd) => cmd.run(&component),
            Command::VerifyAttestation(cmd) => cmd.run(&component),
            Command::Evaluate(cmd) => cmd.run(&component),
            Command::Serve(cmd) => cmd.run(&component),
            Command::ContainerdVerifier(cmd) => cmd.run(&component),
            Command::Trust(cmd) => cmd.run(),
            Command::Precompile(cmd) => cmd.run(),
        }
    }
}

/// The process arguments as clap should read them: containerd's Go-style single-dash flags
/// after `containerd-verifier` (`-name REF`) become double-dash ones.
pub fn args() -> Vec<std::ffi::OsString> {
    containerd::go_flags(std::env::args_os())
}

/// Registry flags shared by subcommands that reach registries.
#[derive(Debug, Clone, clap::Args)]
struct RegistryArgs {
    /// Allow plain HTTP to registries that are not on loopback (loopback always may).
    #[arg(long)]
    allow_http_registry: bool,

    /// Timeout of each registry request, in seconds.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    registry_timeout: u64,

    /// Most bytes one verification may fetch from registries or layouts, everything included
    /// (manifests, signature layers, referrers, blobs): a number, or with a KiB, MiB or GiB
    /// suffix. Over it, the verification stops with a `too-large` error naming the budget.
    #[arg(long, default_value = "64MiB", value_parser = parse_bytes, value_name = "BYTES")]
    max_fetch_bytes: u64,
}

impl RegistryArgs {
    fn options(&self) -> crate::registry::Options {
        let mut options = crate::registry::Options::default();
        if self.allow_http_registry {
            options.http = crate::registry::HttpPolicy::AllowHttp;
        }
        options.limits.timeout = std::time::Duration::from_secs(self.registry_timeout);
        options.limits.verification_bytes = self.max_fetch_bytes;
        options
    }
}

/// Parses `N`, `NKiB`, `NMiB` or `NGiB` (a positive number of bytes).
fn parse_bytes(text: &str) -> Result<u64, String> {
    let units = [
        ("GiB", 1_u64 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
        ("", 1),
    ];
    let (number, scale) = units
        .iter()
        .find_map(|(suffix, scale)| Some((text.strip_suffix(suffix)?, *scale)))
        .unwrap_or((text, 1));
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{text:?} is not a size such as 1048576, 512KiB or 64MiB"))
}

/// Keyless identity flags, as cosign spells them.
#[derive(Debug, Clone, clap::Args)]
struct IdentityArgs {
    /// The certificate identity (a SAN: email, URI, ...) that must have signed, exactly.
    #[arg(long, value_name = "ID")]
    certificate_identity: Option<String>,

    /// A regular expression (unanchored unless it anchors itself) the identity must match.
    #[arg(long, value_name = "REGEXP", conflicts_with = "certificate_identity")]
    certificate_identity_regexp: Option<String>,

    /// The OIDC issuer that must have authenticated the signer, exactly.
    #[arg(long, value_name = "URL")]
    certificate_oidc_issuer: Option<String>,

    /// A regular expression the OIDC issuer must match.
    #[arg(
        long,
        value_name = "REGEXP",
        conflicts_with = "certificate_oidc_issuer"
    )]
    certificate_oidc_issuer_regexp: Option<String>,
}

impl IdentityArgs {
    /// True when any identity flag was given.
    fn given(&self) -> bool {
        self.certificate_identity.is_some()
            || self.certificate_identity_regexp.is_some()
            || self.certificate_oidc_issuer.is_some()
            || self.certificate_oidc_issuer_regexp.is_some()
    }

    /// The identity; both an identity and an issuer are required, as in cosign.
    fn identity(&self) -> anyhow::Result<sigward_policy::authority::Identity> {
        use sigward_policy::authority::{Identity, Matcher};
        let subject = match (
            &self.certificate_identity,
            &self.certificate_identity_regexp,
        ) {
            (Some(exact), _) => Matcher::Exact(exact.clone()),
            (None, Some(regexp)) => Matcher::Regexp(regexp.clone()),
            (None, None) => {
                anyhow::bail!("--certificate-identity or --certificate-identity-regexp is required")
            }
        };
        let issuer = match (
            &self.certificate_oidc_issuer,
            &self.certificate_oidc_issuer_regexp,
        ) {
            (Some(exact), _) => Matcher::Exact(exact.clone()),
            (None, Some(regexp)) => Matcher::Regexp(regexp.clone()),
            (None, None) => anyhow::bail!(
                "--certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required"
            ),
        };
        Ok(Identity::new(issuer, subject))
    }
}

/// Parses `KEY=VALUE`.
fn key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))
}

/// Which trust root verifies: the flags of every command that verifies (`verify`,
/// `verify-attestation`, `verify-bundle`, `evaluate`, `serve`).
#[derive(Debug, Clone, clap::Args)]
struct TrustArgs {
    /// Use this `trusted_root.json` (Fulcio CAs, Rekor and CT logs, timestamp authorities)
    /// instead of a Sigstore root; it wins over --staging.
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,

    /// Use the Sigstore staging trust root instead of production.
    #[arg(long)]
    staging: bool,
}

/// The trust roots a command decides with, and the name of the one it chose.
struct ChosenTrust {
    roots: crate::trust::TrustRoots,
    name: &'static str,
}

impl TrustArgs {
    /// The trust roots (trust directory over embedded, see `crate::trust`) with the chosen one
    /// loaded: the `--trusted-root` file (under the name `file`), staging or production.
    fn load(&self) -> Result<ChosenTrust, crate::trust::TrustError> {
        use crate::trust::{PRODUCTION_NAME, STAGING_NAME, TrustRoots};
        let mut roots = TrustRoots::new()?;
        let name = match &self.trusted_root {
            Some(path) => {
                roots.add_file(FILE_ROOT, path)?;
                FILE_ROOT
            }
            None if self.staging => STAGING_NAME,
            None => PRODUCTION_NAME,
        };
        Ok(ChosenTrust { roots, name })
    }
}

/// The name the `--trusted-root` file is known by.
const FILE_ROOT: &str = "file";

impl ChosenTrust {
    /// Prints what the user should know about the root in force (see [`print_trust_notes`]).
    fn print_notes(&self) {
        print_trust_notes(&self.roots, self.name);
    }
}

/// Prints what the user should know about the root `name` in force (a stale or refused TUF
/// cache; see `TrustRoots::notes`), unless it is the `--trusted-root` file.
fn print_trust_notes(roots: &crate::trust::TrustRoots, name: &str) {
    if name != FILE_ROOT {
        for note in roots.notes() {
            eprintln!("warning: {note}");
        }
    }
}

/// A tokio runtime for registry I/O: one worker, enough for a CLI.
fn io_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_byte_sizes() {
        let cases = [
            ("1048576", Some(1_u64 << 20)),
            ("512KiB", Some(512 << 10)),
            ("64MiB", Some(64 << 20)),
            ("2GiB", Some(2 << 30)),
            ("0", None),
            ("0MiB", None),
            ("MiB", None),
            ("64MB", None),
            ("-1", None),
            ("99999999999GiB", None),
        ];
        for (text, bytes) in cases {
            assert_eq!(parse_bytes(text).ok(), bytes, "{text:?}");
        }
    }
}
