//! The lying-host matrix in both engines (issue 11). `tests/node/lying-host.json` names scenes
//! (a keyed `.sig` layout, a keyed `.att` layout, a real keyless bundle) and lies (one answer of
//! `fetcher` altered). Each row runs here through the component in wasmtime, with the host's
//! own layout fetcher wrapped in [`Liar`], and in Node through `tests/node/lying.mjs`, whose
//! liar alters the same answers the same way. Every honest row must verify, every lie must not,
//! with the reason the file pins, and the two engines must give identical results, whole
//! reports included. The core runs a wider matrix natively (`policy-wasm/src/image/tests/lying.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Value, json};
use sigward_policy::authority::{Authority, Identity, Keyless, Matcher, NamedAuthority};
use sigward_policy::bundle::{ArtifactInput, BundleRequest};
use sigward_policy::digest::Digest;
use sigward_policy::fetch::{FetchError, Kinds, Layer, Manifest, Material};
use sigward_policy::image::{CheckKind, SIGNATURE_ANNOTATION, TlogPolicy, VerifyRequest};
use sigward_policy::manifest::{OCI_INDEX, OCI_MANIFEST};

use super::tests::conformance;
use super::*;
use crate::fetcher::RegistryFetch;
use crate::registry::{Options, Sources};
use crate::trust::TrustRoots;

/// The time every row is judged at (as `lying.mjs`'s `AT`).
const AT: i64 = 1_767_225_600;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repository root")
}

/// The honest host's answers with the one `lie` names altered, as `lying.mjs` alters them.
struct Liar {
    honest: RegistryFetch,
    lie: Option<String>,
}

impl Liar {
    fn lie(&self) -> &str {
        self.lie.as_deref().unwrap_or("")
    }

    fn alter_layer(&self, layer: &mut Layer) {
        match self.lie() {
            "layer-payload" => flip_last(&mut layer.payload),
            "layer-payload-rehashed" => {
                flip_last(&mut layer.payload);
                layer.digest = Digest::of(&layer.payload).to_string();
            }
            "layer-digest" => layer.digest = format!("sha256:{}", "0".repeat(64)),
            "layer-media-type" => {
                layer.media_type = "application/vnd.oci.image.layer.v1.tar".to_owned();
            }
            "layer-signature" => {
                if let Some(value) = layer.annotations.get_mut(SIGNATURE_ANNOTATION) {
                    let b64 = base64::engine::general_purpose::STANDARD;
                    let mut bytes = b64.decode(value.as_bytes()).expect("base64 signature");
                    flip_last(&mut bytes);
                    *value = b64.encode(bytes);
                }
            }
            "layer-annotations-dropped" => layer.annotations.clear(),
            _ => {}
        }
    }
}

fn flip_last(bytes: &mut [u8]) {
    if let Some(last) = bytes.last_mut() {
        *last ^= 1;
    }
}

impl Fetch for Liar {
    fn resolve(&mut self, image: &str) -> Result<Manifest, FetchError> {
        let mut manifest = self.honest.resolve(image)?;
        match self.lie() {
            "manifest-bytes" => manifest.bytes.push(b'\n'),
            "manifest-media-type" => {
                manifest.media_type = if manifest.media_type == OCI_INDEX {
                    OCI_MANIFEST
                } else {
                    OCI_INDEX
                }
                .to_owned();
            }
            _ => {}
        }
        Ok(manifest)
    }

    fn attached(
        &mut self,
        image: &str,
        digest: &str,
        kinds: Kinds,
    ) -> Result<Material, FetchError> {
        let mut material = self.honest.attached(image, digest, kinds)?;
        if self.lie() == "layers-swapped-kind" {
            std::mem::swap(&mut material.signatures, &mut material.attestations);
        }
        let first = if material.signatures.is_empty() {
            material.attestations.first_mut()
        } else {
            material.signatures.first_mut()
        };
        if let Some(layer) = first {
            self.alter_layer(layer);
        }
        Ok(material)
    }

    fn trusted_root(&mut self, name: &str) -> Result<Vec<u8>, FetchError> {
        let root = self.honest.trusted_root(name)?;
        Ok(match self.lie() {
            "trusted-root-staging" => self.honest.trusted_root("staging")?,
            "trusted-root-without-tlogs" => {
                let mut parsed: Value = serde_json::from_slice(&root).expect("trusted root JSON");
                parsed.as_object_mut().expect("object").remove("tlogs");
                serde_json::to_vec(&parsed).expect("JSON")
            }
            "trusted-root-garbage" => b"not a trusted root".to_vec(),
            _ => root,
        })
    }
}

/// One row through the component in wasmtime: the report, or `{"error": failure}`.
fn run(runtime: &Runtime, io: &tokio::runtime::Runtime, scene: &Value, lie: Option<&str>) -> Value {
    let sources = Arc::new(Sources::new(Options::default()).expect("sources"));
    let honest = RegistryFetch::new(
        sources,
        io.handle().clone(),
        Arc::new(TrustRoots::default()),
    );
    let liar = Box::new(Liar {
        honest,
        lie: lie.map(str::to_owned),
    });
    let answer = if let Some(case) = scene["bundle"].as_str() {
        let dir = conformance::dir().join("bundle-verify");
        let request = BundleRequest {
            bundle: std::fs::read(dir.join(case).join("bundle.sigstore.json")).expect("bundle"),
            artifact: ArtifactInput::Bytes(std::fs::read(dir.join("a.txt")).expect("artifact")),
            authority: Authority::Keyless(Keyless {
                identities: vec![Identity {
                    subject: Matcher::Exact(conformance::DEFAULT_IDENTITY.to_owned()),
                    issuer: Matcher::Exact(conformance::DEFAULT_ISSUER.to_owned()),
                    github_workflow: Default::default(),
                }],
                trusted_root: "production".to_owned(),
            }),
            trusted_root: "production".to_owned(),
            at: AT,
        };
        let answer = runtime.verify_bundle(&request, liar).expect("no trap");
        answer.map(|outcome| serde_json::to_value(outcome).expect("JSON"))
    } else {
        let image = scene["image"].as_str().expect("scene image");
        let dir = image.strip_prefix("oci:").expect("a layout scene");
        let key = scene["key"].as_str().expect("scene key");
        let check = match scene["check"].as_str().expect("scene check") {
            "signature" => CheckKind::Signature,
            predicate => CheckKind::Attestation(predicate.to_owned()),
        };
        let request = VerifyRequest {
            image: format!("oci:{}", repo().join(dir).display()),
            authorities: vec![NamedAuthority {
                name: "key".to_owned(),
                authority: Authority::Key(
                    std::fs::read_to_string(repo().join(key)).expect("scene key"),
                ),
            }],
            annotations: Vec::new(),
            check,
            tlog: TlogPolicy::InsecureIgnore,
            signatures_from: None,
            trusted_root: "production".to_owned(),
            at: AT,
        };
        let answer = runtime.verify_image(&request, liar).expect("no trap");
        answer.map(|report| serde_json::to_value(report).expect("JSON"))
    };
    answer.unwrap_or_else(|failure| json!({ "error": failure }))
}

/// The rows Node gives, from `tests/node/lying.mjs` (`make node` transpiles the component).
fn node_rows() -> Vec<Value> {
    let node = std::env::var_os("SIGWARD_NODE").unwrap_or_else(|| "node".into());
    let script = repo().join("tests/node/lying.mjs");
    let output = Command::new(&node)
        .arg(&script)
        .arg(conformance::dir())
        .output()
        .unwrap_or_else(|e| panic!("running {node:?} {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "{} failed (run `make node` first): {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("lying.mjs prints a JSON array")
}

fn reason(result: &Value) -> &str {
    result["reason"]
        .as_str()
        .or_else(|| result["error"]["reason"].as_str())
        .unwrap_or("verified")
}

#[test]
fn every_lie_is_refused_alike_by_wasmtime_and_node() {
    let path = repo().join("tests/node/lying-host.json");
    let matrix: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("lying-host.json")).expect("JSON");
    let scenes = matrix["scenes"].as_object().expect("scenes");
    let lies = matrix["lies"].as_array().expect("lies");
    let runtime = Runtime::new(&ComponentSource::EmbeddedPortable, Limits::default())
        .expect("component loads (run `make components` first)");
    let io = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    // Node prints the honest rows, then the lies, in the file's order.
    let node = node_rows();
    assert_eq!(
        node.len(),
        scenes.len() + lies.len(),
        "Node ran another matrix"
    );
    assert!(lies.len() >= 15);
    for (at, from_node) in node.iter().enumerate() {
        let scene = from_node["scene"].as_str().expect("scene");
        let (lie, pinned) = match at.checked_sub(scenes.len()) {
            None => (None, "verified"),
            Some(i) => {
                assert_eq!(lies[i]["scene"], scene, "Node's rows are out of order");
                (
                    lies[i]["lie"].as_str(),
                    lies[i]["reason"].as_str().expect("reason"),
                )
            }
        };
        assert_eq!(
            from_node["lie"].as_str(),
            lie,
            "Node's rows are out of order"
        );
        let wasmtime = run(&runtime, &io, &scenes[scene], lie);
        let row = format!("{scene} / {}", lie.unwrap_or("honest"));
        assert_eq!(reason(&wasmtime), pinned, "{row} (wasmtime): {wasmtime:#}");
        assert_eq!(
            &from_node["result"], &wasmtime,
            "{row}: Node and wasmtime differ"
        );
    }
}
