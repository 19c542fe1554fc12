//! `sigward sign`: sign an image with a key, appending a layer to its `.sig` as cosign does.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use base64::Engine as _;
use sigward_policy::digest::Digest;
use sigward_policy::image::SIGNATURE_ANNOTATION;
use sigward_policy::simple_signing;

use super::output::outln;
use super::timeout::{Deadline, TimeoutArgs};
use super::{EXIT_OK, RegistryArgs};
use crate::registry::{Layer, Sources};
use crate::signing::SigningKey;

/// Sign an image: cosign encrypted key (password in COSIGN_PASSWORD), or a PKCS#8, SEC1 or PKCS#1
/// private key (ECDSA P-256/P-384, Ed25519, RSA 2048-4096).
#[derive(Debug, clap::Args)]
pub(crate) struct SignCommand {
    /// The private key PEM.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,

    /// A claim to put in the payload's `optional` (repeatable).
    #[arg(short = 'a', long = "annotations", value_name = "KEY=VALUE", value_parser = super::key_value)]
    annotations: Vec<(String, String)>,

    #[command(flatten)]
    registry: RegistryArgs,

    #[command(flatten)]
    timeout: TimeoutArgs,

    /// The image to sign; a tag is resolved to its digest first, and the digest is signed.
    image: String,
}

impl SignCommand {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let deadline = self
            .timeout
            .start(|message| eprintln!("error: timeout: {message}"));
        let signed = self.sign(&deadline);
        deadline.finish();
        match signed {
            Err(err) if deadline.is_expired() => {
                Err(err.context(format!("timeout: {}", deadline.message())))
            }
            other => other,
        }
    }

    fn sign(&self, deadline: &Deadline) -> anyhow::Result<ExitCode> {
        let pem = std::fs::read(&self.key)
            .with_context(|| format!("reading --key {}", self.key.display()))?;
        let password = std::env::var_os("COSIGN_PASSWORD").map(|p| p.into_encoded_bytes());
        let key = SigningKey::from_pem(&pem, password.as_deref())
            .with_context(|| format!("loading --key {}", self.key.display()))?;

        let io = super::io_runtime()?;
        let sources = Sources::new(self.registry.options())?;
        let budget = deadline.budget(sources.limits().verification_bytes);
        let digest = io
            .block_on(sources.resolve(&self.image, &budget))
            .with_context(|| format!("resolving {}", self.image))?
            .digest()
            .to_string();
        // cosign writes the repository without tag or digest (an image layout has none).
        let identity = sigward_policy::reference::repository(&self.image)
            .unwrap_or_else(|| self.image.clone());
        let annotations = self
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let payload = simple_signing::payload_bytes(&identity, &digest, &annotations);
        let signature = key
            .sign(&payload)
            .with_context(|| format!("signing with --key {}", self.key.display()))?;
        let signature = base64::engine::general_purpose::STANDARD.encode(signature);
        let layer = Layer {
            media_type: simple_signing::MEDIA_TYPE.to_owned(),
            digest: Digest::of(&payload).to_string(),
            annotations: [(SIGNATURE_ANNOTATION.to_owned(), signature)]
                .into_iter()
                .collect(),
            payload,
        };
        io.block_on(sources.append_signature(&self.image, &digest, layer, &budget))
            .with_context(|| format!("storing the signature of {}", self.image))?;
        eprintln!("Signed {} ({digest})", self.image);
        outln!("{digest}");
        Ok(ExitCode::from(EXIT_OK))
    }
}
