use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sigward_policy::Reason;
use sigward_policy::authority::{Authority, NamedAuthority};
use sigward_policy::digest::Digest;
use sigward_policy::fetch::{FetchError, Kinds, Layer, Manifest, Material};
use sigward_policy::image::{CheckKind, SIGNATURE_ANNOTATION, TlogPolicy};

use super::*;

fn cases() -> PathBuf {
    [
        env!("CARGO_MANIFEST_DIR"),
        "../policy-wasm/tests/data/image",
    ]
    .iter()
    .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Serves one image whose `.sig` holds the given layers; optionally slow or oversized.
#[derive(Clone)]
struct Memory {
    layers: Vec<Layer>,
    delay: Duration,
}

impl Fetch for Memory {
    fn resolve(&mut self, _: &str) -> Result<Manifest, FetchError> {
        std::thread::sleep(self.delay);
        Ok(Manifest {
            media_type: sigward_policy::manifest::OCI_MANIFEST.to_owned(),
            bytes: std::fs::read(cases().join("manifest.json")).unwrap(),
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

fn layer(case: &Path) -> Layer {
    let payload = std::fs::read(case.join("payload")).unwrap();
    Layer {
        media_type: "application/vnd.dev.cosign.simplesigning.v1+json".to_owned(),
        digest: Digest::of(&payload).to_string(),
        annotations: BTreeMap::from([(
            SIGNATURE_ANNOTATION.to_owned(),
            read(&case.join("signature")),
        )]),
        payload,
    }
}

fn request(case: &Path) -> VerifyRequest {
    let key = if case.join("use-other-key").exists() {
        "other.pub"
    } else {
        "key.pub"
    };
    VerifyRequest {
        image: "registry.test/team/app:v1".to_owned(),
        authorities: vec![NamedAuthority {
            name: key.to_owned(),
            authority: Authority::Key(read(&cases().join(key))),
        }],
        annotations: std::fs::read_to_string(case.join("annotations"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect(),
        check: CheckKind::Signature,
        tlog: TlogPolicy::InsecureIgnore,
        signatures_from: None,
        trusted_root: "production".to_owned(),
        at: 1_700_000_000,
    }
}

fn runtime(source: &ComponentSource, limits: Limits) -> Runtime {
    Runtime::new(source, limits).expect("component loads (run `make components` first)")
}

#[test]
fn imports_only_the_fetcher_wasi_cli_io_and_the_hash_seed() {
    for source in [
        ComponentSource::EmbeddedWide,
        ComponentSource::EmbeddedPortable,
    ] {
        let imports = runtime(&source, Limits::default()).imports();
        assert!(
            imports.iter().any(|i| i == "sigward:policy/fetcher@0.3.0"),
            "{imports:?}"
        );
        let unexpected: Vec<_> = imports
            .iter()
            .filter(|name| {
                !(name.starts_with("sigward:policy/")
                    || name.starts_with("wasi:cli/")
                    || name.starts_with("wasi:io/")
                    // std's HashMap seed; the host fixes it (see the module docs).
                    || name.starts_with("wasi:random/insecure-seed@"))
            })
            .collect();
        assert!(
            unexpected.is_empty(),
            "component imports more than allowed: {unexpected:?}"
        );
    }
}

#[test]
fn component_and_native_core_agree_on_every_case() {
    let wide = runtime(&ComponentSource::EmbeddedWide, Limits::default());
    let portable = runtime(&ComponentSource::EmbeddedPortable, Limits::default());
    let mut seen = 0;
    for entry in std::fs::read_dir(cases()).unwrap() {
        let case = entry.unwrap().path();
        if !case.is_dir() {
            continue;
        }
        seen += 1;
        let source = Memory {
            layers: vec![layer(&case)],
            delay: Duration::ZERO,
        };
        let request = request(&case);
        let native = sigward_policy::verify_image(&request, &mut source.clone()).unwrap();
        for runtime in [&wide, &portable] {
            let report = runtime
                .verify_image(&request, Box::new(source.clone()))
                .unwrap()
                .unwrap();
            assert_eq!(report, native, "{}", case.display());
        }
        let expect = read(&case.join("expect"));
        assert_eq!(
            native.reason().map_or("verified", Reason::code),
            expect.trim()
        );
    }
    assert!(seen >= 10);
}

#[test]
fn denials_cross_the_boundary() {
    let runtime = runtime(&ComponentSource::EmbeddedWide, Limits::default());
    let mut request = request(&cases().join("cosign-tagless"));
    request.authorities[0].authority =
        Authority::Key("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n".to_owned());
    let source = Memory {
        layers: vec![],
        delay: Duration::ZERO,
    };
    let denial = runtime
        .verify_image(&request, Box::new(source))
        .unwrap()
        .unwrap_err();
    assert_eq!(denial.reason, Reason::InvalidKey);
}

/// The component hashes the manifest the host serves: a digest reference answered with other
/// bytes is refused, and the digest reported for a tag is the hash of the bytes served (the
/// full lying-host matrix runs natively in `policy-wasm/src/image/tests/lying.rs`).
#[test]
fn the_component_hashes_the_manifest_itself() {
    let runtime = runtime(&ComponentSource::EmbeddedPortable, Limits::default());
    let case = cases().join("cosign-tagless");
    let source = Memory {
        layers: vec![layer(&case)],
        delay: Duration::ZERO,
    };
    let served = Digest::of(&std::fs::read(cases().join("manifest.json")).unwrap());
    let report = runtime
        .verify_image(&request(&case), Box::new(source.clone()))
        .unwrap()
        .unwrap();
    assert!(report.verified());
    assert_eq!(report.digest, served.to_string());

    let mut pinned = request(&case);
    pinned.image = format!("registry.test/team/app@sha256:{}", "b".repeat(64));
    let denial = runtime
        .verify_image(&pinned, Box::new(source))
        .unwrap()
        .unwrap_err();
    assert_eq!(denial.reason, Reason::FetchInvalid);
    assert!(
        denial.message.contains(&served.to_string()),
        "{}",
        denial.message
    );
}

#[test]
fn memory_limit_traps_and_the_runtime_keeps_serving() {
    let limits = Limits {
        memory_bytes: 8 << 20,
        ..Limits::default()
    };
    let runtime = runtime(&ComponentSource::EmbeddedWide, limits);
    let case = cases().join("cosign-tagless");
    let mut huge = layer(&case);
    huge.payload = vec![b'x'; 16 << 20];
    let oversized = Memory {
        layers: vec![huge],
        delay: Duration::ZERO,
    };
    let err = runtime
        .verify_image(&request(&case), Box::new(oversized))
        .unwrap_err();
    assert!(matches!(err, RuntimeError::Trap(_)), "{err}");

    let fine = Memory {
        layers: vec![layer(&case)],
        delay: Duration::ZERO,
    };
    let report = runtime
        .verify_image(&request(&case), Box::new(fine))
        .unwrap()
        .unwrap();
    assert!(report.verified());
}

#[test]
fn deadline_interrupts_the_guest() {
    let limits = Limits {
        deadline: Duration::from_millis(50),
        ..Limits::default()
    };
    let runtime = runtime(&ComponentSource::EmbeddedWide, limits);
    let case = cases().join("cosign-tagless");
    let slow = Memory {
        layers: vec![layer(&case)],
        delay: Duration::from_millis(200),
    };
    let err = runtime
        .verify_image(&request(&case), Box::new(slow))
        .unwrap_err();
    assert!(matches!(err, RuntimeError::Deadline(_)), "{err}");
}

/// Issue 8 item 8: the guest's time limit is what is left of the request's deadline when that
/// is shorter than the configured one, and nothing is fetched once it has passed.
#[test]
fn a_request_deadline_shorter_than_the_limit_stops_the_guest() {
    let runtime = runtime(&ComponentSource::EmbeddedWide, Limits::default());
    let case = cases().join("cosign-tagless");
    let slow = Memory {
        layers: vec![layer(&case)],
        delay: Duration::from_millis(300),
    };
    let started = Instant::now();
    let until = Instant::now() + Duration::from_millis(100);
    let err = runtime
        .verify_image_until(&request(&case), Box::new(slow), until)
        .unwrap_err();
    assert!(matches!(err, RuntimeError::Deadline(_)), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "not the 30 s limit: {:?}",
        started.elapsed()
    );

    let passed = Instant::now();
    let fine = Memory {
        layers: vec![layer(&case)],
        delay: Duration::ZERO,
    };
    let err = runtime
        .verify_image_until(&request(&case), Box::new(fine), passed)
        .unwrap_err();
    assert!(matches!(err, RuntimeError::Deadline(_)), "{err}");
    assert!(runtime.check().is_ok(), "still instantiable");
}

#[test]
fn refuses_files_that_are_not_components() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.wasm");
    std::fs::write(&path, b"\0asm garbage").unwrap();
    let err = Runtime::new(&ComponentSource::File(path), Limits::default())
        .err()
        .unwrap();
    assert!(matches!(err, RuntimeError::Load(_)), "{err}");
    let missing = Runtime::new(
        &ComponentSource::File(dir.path().join("nope")),
        Limits::default(),
    );
    assert!(matches!(missing.err().unwrap(), RuntimeError::Read { .. }));
}

/// The conformance-case loader every runner shares.
#[path = "../../../policy-wasm/tests/common/conformance.rs"]
pub(super) mod conformance;

/// Serves trust roots from the conformance directory: the case's own, else production.
#[derive(Clone)]
struct ConformanceRoots {
    case: Option<PathBuf>,
}

impl Fetch for ConformanceRoots {
    fn resolve(&mut self, image: &str) -> Result<Manifest, FetchError> {
        Err(FetchError::Unsupported(image.to_owned()))
    }
    fn attached(&mut self, image: &str, _: &str, _: Kinds) -> Result<Material, FetchError> {
        Err(FetchError::Unsupported(image.to_owned()))
    }
    fn trusted_root(&mut self, name: &str) -> Result<Vec<u8>, FetchError> {
        let path = match (name, &self.case) {
            ("case", Some(path)) => path.clone(),
            (other, _) => conformance::dir()
                .join("trust")
                .join(other)
                .join("trusted_root.json"),
        };
        std::fs::read(&path).map_err(|e| FetchError::NotFound(format!("{}: {e}", path.display())))
    }
}

/// The same Sigstore vectors as the native runner, through the component: identical outcomes.
#[test]
fn component_and_native_core_agree_on_every_conformance_case() {
    use conformance::Signer;
    use sigward_policy::authority::{Identity, Keyless, Matcher};
    use sigward_policy::bundle::{ArtifactInput, BundleRequest, verify_bundle_request};

    let runtime = runtime(&ComponentSource::EmbeddedWide, Limits::default());
    let cases = conformance::cases();
    for case in &cases {
        let root = if case.trusted_root.is_some() {
            "case"
        } else {
            "production"
        };
        let authority = match &case.signer {
            Signer::Key(path) => Authority::Key(std::fs::read_to_string(path).unwrap()),
            Signer::Identity { identity, issuer } => Authority::Keyless(Keyless {
                identities: vec![Identity {
                    subject: Matcher::Exact(identity.clone()),
                    issuer: Matcher::Exact(issuer.clone()),
                    github_workflow: Default::default(),
                }],
                trusted_root: root.to_owned(),
            }),
        };
        let request = BundleRequest {
            bundle: std::fs::read(&case.bundle).unwrap(),
            artifact: ArtifactInput::Bytes(std::fs::read(&case.artifact).unwrap()),
            authority,
            trusted_root: root.to_owned(),
            at: 1_750_000_000,
        };
        let source = ConformanceRoots {
            case: case.trusted_root.clone(),
        };
        let native = verify_bundle_request(&request, &mut source.clone())
            .map(|report| BundleOutcome::of(&report))
            .map_err(|err| Failure::from(&err));
        let wasm = runtime.verify_bundle(&request, Box::new(source)).unwrap();
        assert_eq!(wasm, native, "{}", case.name);
        // The component gives the pinned reason, denial or report alike.
        let reason = match &wasm {
            Ok(outcome) => outcome.reason,
            Err(failure) => Some(failure.reason),
        };
        assert_eq!(
            reason.map(Reason::code),
            case.rejected_for.as_deref(),
            "{}",
            case.name
        );
    }
    assert!(cases.len() >= 40);
}

/// The pooling allocator's slots bound live instances: one call past them fails to instantiate
/// (an error the callers deny with), and the slot serves again once released.
#[test]
fn a_call_past_the_pooled_slots_fails_cleanly_and_the_slot_is_reused() {
    let limits = Limits {
        instances: 1,
        ..Limits::default()
    };
    let runtime = runtime(&ComponentSource::EmbeddedWide, limits);
    let case = cases().join("cosign-tagless");
    let slow = Memory {
        layers: vec![layer(&case)],
        delay: Duration::from_millis(600),
    };
    std::thread::scope(|scope| {
        let holder = scope.spawn(|| runtime.verify_image(&request(&case), Box::new(slow)));
        std::thread::sleep(Duration::from_millis(200));
        let refused = runtime.check().unwrap_err();
        assert!(matches!(refused, RuntimeError::Trap(_)), "{refused}");
        let report = holder.join().unwrap().unwrap().unwrap();
        assert!(report.verified(), "the slot holder finished normally");
    });
    assert!(runtime.check().is_ok(), "the slot is free again");
}

/// A component that asks the host for a clock (or anything else beyond what the verifier
/// imports) is refused when it is loaded, naming what it asked for.
#[test]
fn a_component_importing_a_clock_is_refused() {
    let name = b"wasi:clocks/wall-clock@0.2.6";
    // The smallest such component: one type (an instance exporting `now: func() -> u64`),
    // imported under that name. Component binary format: preamble, type section (7), import
    // section (10).
    let mut wasm = vec![0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
    let instance = [
        0x42, 0x02, // instance type, two declarations
        0x01, 0x40, 0x00, 0x00, 0x77, // type 0: func, no params, result u64
        0x04, 0x00, 0x03, b'n', b'o', b'w', 0x01, 0x00, // export "now": func of type 0
    ];
    wasm.extend([0x07, 0x10, 0x01]);
    wasm.extend(instance);
    let len = u8::try_from(name.len()).unwrap();
    wasm.extend([0x0a, len + 5, 0x01, 0x00, len]);
    wasm.extend(name);
    wasm.extend([0x05, 0x00]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clock.wasm");
    std::fs::write(&path, &wasm).unwrap();
    let refused = Runtime::new(&ComponentSource::File(path), Limits::default())
        .err()
        .expect("no clock is linked");
    let message = format!("{refused:#}");
    assert!(
        message.contains("wasi:clocks/wall-clock@0.2.6"),
        "{message}"
    );
    assert!(message.contains("not found"), "{message}");
}

/// The wide build's dependencies are compiled once, without the proposal, with the portable
/// build's (`policy-wasm/components/wide`); only the final link enables it. An engine without
/// the proposal must still compile the portable build and refuse the wide one, so the flag
/// reached the whole module and nothing else did.
#[test]
fn only_the_wide_component_uses_wide_arithmetic() {
    let mut config = config();
    config.wasm_wide_arithmetic(false);
    let engine = Engine::new(&config).unwrap();
    let components = Embedded::current();
    Component::new(&engine, components.portable).expect("the portable build compiles");
    let refused =
        Component::new(&engine, components.wide).expect_err("the wide build needs the proposal");
    assert!(
        format!("{refused:#}").contains("wide arithmetic"),
        "{refused:#}"
    );
}

/// The verify-only component (`make component-verify-only`, WIT world `verifier-only`) asks for
/// exactly what the full one does and offers only the verifier.
#[test]
fn the_verify_only_component_exports_only_the_verifier() {
    let dir = std::env::var_os("SIGWARD_COMPONENT_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/components"),
        PathBuf::from,
    );
    let path = dir.join("sigward-policy-verify-only.wasm");
    let engine = Engine::new(&config()).unwrap();
    let component = Component::from_file(&engine, &path).unwrap_or_else(|e| {
        panic!(
            "{} (built by `make component-verify-only`): {e}",
            path.display()
        )
    });
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(&engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    assert_eq!(exports, ["sigward:policy/verifier@0.3.0"]);
    let mut imports: Vec<String> = ty
        .imports(&engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    imports.sort();
    let mut full = runtime(&ComponentSource::EmbeddedPortable, Limits::default()).imports();
    full.sort();
    assert_eq!(imports, full);
}
