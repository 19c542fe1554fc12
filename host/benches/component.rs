//! `make bench`, part (a) and (c): one keyed verification in the component vs the native
//! core, in process, and the component's size, compile, cache-load and instantiation times.
//!
//! A plain harness (median of many runs, after warm-up) that prints Markdown rows; the Makefile
//! puts them into BENCHMARKS.md. Input: the P-256 case `cosign-tagless` of
//! `policy-wasm/tests/data/image`, served from memory so no I/O is timed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sigward::runtime::{ComponentSource, Limits, Runtime};
use sigward_policy::authority::{Authority, NamedAuthority};
use sigward_policy::digest::Digest;
use sigward_policy::fetch::{Fetch, FetchError, Kinds, Layer, Manifest, Material};
use sigward_policy::image::{CheckKind, SIGNATURE_ANNOTATION, TlogPolicy, VerifyRequest};

/// Serves the vectors' manifest and the given `.sig` layers.
#[derive(Clone)]
struct Memory {
    manifest: Vec<u8>,
    layers: Vec<Layer>,
}

impl Fetch for Memory {
    fn resolve(&mut self, _: &str) -> Result<Manifest, FetchError> {
        Ok(Manifest {
            media_type: sigward_policy::manifest::OCI_MANIFEST.to_owned(),
            bytes: self.manifest.clone(),
        })
    }
    fn attached(&mut self, _: &str, _: &str, _: Kinds) -> Result<Material, FetchError> {
        Ok(Material {
            signatures: self.layers.clone(),
            ..Material::default()
        })
    }
    fn trusted_root(&mut self, name: &str) -> Result<Vec<u8>, FetchError> {
        Err(FetchError::NotFound(name.to_owned()))
    }
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn time(iterations: usize, mut f: impl FnMut()) -> Duration {
    for _ in 0..iterations / 10 + 1 {
        f();
    }
    median(
        (0..iterations)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn main() {
    let data: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "../policy-wasm/tests/data/image",
    ]
    .iter()
    .collect();
    let case = data.join("cosign-tagless");
    let payload = std::fs::read(case.join("payload")).unwrap();
    let layer = Layer {
        media_type: sigward_policy::simple_signing::MEDIA_TYPE.to_owned(),
        digest: Digest::of(&payload).to_string(),
        annotations: BTreeMap::from([(
            SIGNATURE_ANNOTATION.to_owned(),
            std::fs::read_to_string(case.join("signature")).unwrap(),
        )]),
        payload,
    };
    let source = Memory {
        manifest: std::fs::read(data.join("manifest.json")).unwrap(),
        layers: vec![layer],
    };
    let request = VerifyRequest {
        image: "registry.test/team/app:v1".to_owned(),
        authorities: vec![NamedAuthority {
            name: "key.pub".to_owned(),
            authority: Authority::Key(std::fs::read_to_string(data.join("key.pub")).unwrap()),
        }],
        annotations: vec![],
        check: CheckKind::Signature,
        tlog: TlogPolicy::InsecureIgnore,
        signatures_from: None,
        trusted_root: "production".to_owned(),
        at: 1_700_000_000,
    };
    let empty = VerifyRequest {
        authorities: vec![],
        ..request.clone()
    };

    // A fresh cache directory: the first load compiles, the second hits the cache.
    let cache = tempfile::tempdir().unwrap();
    // SAFETY of set_var: single-threaded here, before any runtime or thread exists.
    #[allow(unsafe_code, reason = "set_var before any thread is started")]
    unsafe {
        std::env::set_var("SIGWARD_CACHE_DIR", cache.path());
    }

    const N: usize = 2000;
    let native = time(N, || {
        let report = sigward_policy::verify_image(&request, &mut source.clone()).unwrap();
        assert!(report.verified());
    });
    println!(
        "| keyed P-256 verification, native core | {} | |",
        micros(native)
    );

    for (name, component, file) in [
        (
            "wide-arithmetic",
            ComponentSource::EmbeddedWide,
            "sigward-policy-wide.wasm",
        ),
        (
            "portable",
            ComponentSource::EmbeddedPortable,
            "sigward-policy.wasm",
        ),
    ] {
        let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "../target/components", file]
            .iter()
            .collect();
        let from_file = ComponentSource::File(path.clone());
        let load = |source: &ComponentSource| {
            let start = Instant::now();
            drop(Runtime::new(source, Limits::default()).unwrap());
            start.elapsed()
        };
        let cold = load(&from_file);
        let cached = load(&from_file);
        let embedded = load(&component);
        let runtime = Runtime::new(&component, Limits::default()).unwrap();
        let verify = time(N, || {
            let report = runtime
                .verify_image(&request, Box::new(source.clone()))
                .unwrap()
                .unwrap();
            assert!(report.verified());
        });
        let instantiate = time(N, || {
            let denial = runtime
                .verify_image(&empty, Box::new(source.clone()))
                .unwrap()
                .unwrap_err();
            assert_eq!(denial.reason, sigward_policy::Reason::InvalidRequest);
        });
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let ratio = verify.as_secs_f64() / native.as_secs_f64();
        println!(
            "| keyed P-256 verification, component ({name}), fresh instance per call | {} | {ratio:.2}× native |",
            micros(verify)
        );
        println!(
            "| instantiate + trivial call ({name}) | {} | |",
            micros(instantiate)
        );
        println!(
            "| load component ({name}) from its .wasm: compile, empty cache | {:.1} ms | |",
            cold.as_secs_f64() * 1e3
        );
        println!(
            "| load component ({name}) from its .wasm: wasmtime's cache | {:.1} ms | |",
            cached.as_secs_f64() * 1e3
        );
        println!(
            "| load component ({name}) embedded, precompiled by `make build` | {:.1} ms | |",
            embedded.as_secs_f64() * 1e3
        );
        println!("| component size ({name}) | {} KiB | |", size / 1024);
    }
    bundle_benchmarks();
}

/// One keyless bundle verification (conformance `happy-path-v0.3`: Fulcio chain, SCT, SET,
/// inclusion proof, checkpoint, entry consistency), natively and in the component.
fn bundle_benchmarks() {
    use sigward_policy::authority::{Identity, Keyless, Matcher};
    use sigward_policy::bundle::{ArtifactInput, BundleRequest, verify_bundle_request};

    struct Roots(Vec<u8>);
    impl Fetch for Roots {
        fn resolve(&mut self, image: &str) -> Result<Manifest, FetchError> {
            Err(FetchError::Unsupported(image.to_owned()))
        }
        fn attached(&mut self, image: &str, _: &str, _: Kinds) -> Result<Material, FetchError> {
            Err(FetchError::Unsupported(image.to_owned()))
        }
        fn trusted_root(&mut self, _: &str) -> Result<Vec<u8>, FetchError> {
            Ok(self.0.clone())
        }
    }
    let conformance: PathBuf = std::env::var_os("SIGWARD_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            [env!("CARGO_MANIFEST_DIR"), "../../shared/conformance"]
                .iter()
                .collect()
        });
    let root = std::fs::read(conformance.join("trust/production/trusted_root.json")).unwrap();
    let request = BundleRequest {
        bundle: std::fs::read(conformance.join("bundle-verify/happy-path-v0.3/bundle.sigstore.json")).unwrap(),
        artifact: ArtifactInput::Bytes(std::fs::read(conformance.join("bundle-verify/a.txt")).unwrap()),
        authority: Authority::Keyless(Keyless {
            identities: vec![Identity {
                issuer: Matcher::Exact("https://token.actions.githubusercontent.com".to_owned()),
                subject: Matcher::Exact("https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main".to_owned()),
                github_workflow: Default::default(),
            }],
            trusted_root: "production".to_owned(),
        }),
        trusted_root: "production".to_owned(),
        at: 1_750_000_000,
    };
    const N: usize = 300;
    let native = time(N, || {
        let report = verify_bundle_request(&request, &mut Roots(root.clone())).unwrap();
        assert!(report.verified(), "{:?}", report.error);
    });
    println!(
        "| keyless bundle verification (happy-path-v0.3), native core | {} | |",
        micros(native)
    );
    let runtime = Runtime::new(&ComponentSource::EmbeddedWide, Limits::default()).unwrap();
    let wasm = time(N, || {
        let outcome = runtime
            .verify_bundle(&request, Box::new(Roots(root.clone())))
            .unwrap()
            .unwrap();
        assert!(outcome.verified, "{:?}", outcome.reason);
    });
    let ratio = wasm.as_secs_f64() / native.as_secs_f64();
    println!(
        "| keyless bundle verification, component (wide-arithmetic), fresh instance per call | {} | {ratio:.2}× native |",
        micros(wasm)
    );
}
