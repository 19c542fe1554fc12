//! One test's world: a fresh registry, a temporary home, and the programs under test and their
//! peers (sigward, cosign 2.5, cosign 3.1, skopeo 1.18) run in an environment that cannot leak the
//! developer's configuration or credentials in, nor reach beyond 127.0.0.1.

use std::cell::Cell;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use tempfile::TempDir;

use super::image::{self, Image};
use super::keys::{KeyPair, RsaFormat};
use super::outcome::Outcome;
use super::registry::Registry;
use super::{program, shared_dir};

/// The signatures these tests make carry no transparency-log entry (`--tlog-upload=false`,
/// no network here), so verification opts out of the log as cosign's does.
pub(crate) const IGNORE_TLOG: &str = "--insecure-ignore-tlog=true";

/// The predicate type cosign's `--type custom` stands for.
pub(crate) const CUSTOM_PREDICATE: &str = "https://cosign.sigstore.dev/attestation/v1";

/// Where `cosign attest` puts an attestation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Attestation {
    /// `--new-bundle-format`: a DSSE Sigstore bundle attached as an OCI referrer.
    Bundle,
    /// The legacy way: a DSSE envelope layer in the `sha256-<hex>.att` manifest.
    AttLayer,
}

/// The file (in the lab's directory) holding cosign 3's signing configuration without services.
const COSIGN3_SIGNING_CONFIG: &str = "cosign3-signing-config.json";

/// The file (in the lab's directory) holding a trusted root without keys.
const EMPTY_TRUSTED_ROOT: &str = "empty-trusted-root.json";

/// The password of every encrypted key the tests make (cosign's `COSIGN_PASSWORD`, skopeo's
/// passphrase file).
pub(crate) const PASSWORD: &str = "sigward e2e password";

/// A registry plus a scratch directory, and ways to run each program against them.
pub(crate) struct Lab {
    pub(crate) registry: Registry,
    dir: TempDir,
    sigward: PathBuf,
    cosign: PathBuf,
    cosign3: PathBuf,
    skopeo: PathBuf,
    files: Cell<usize>,
}

impl Lab {
    /// Starts a registry and prepares the scratch directory.
    pub(crate) fn new() -> Lab {
        let sigward = program("SIGWARD_BIN", "target/release/sigward");
        let cosign = program("SIGWARD_COSIGN", "target/tools/cosign");
        let cosign3 = program("SIGWARD_COSIGN3", "target/tools/cosign3");
        let skopeo = program("SIGWARD_SKOPEO", "target/tools/skopeo");
        let dir = tempfile::Builder::new()
            .prefix("sigward-e2e-")
            .tempdir()
            .expect("temp dir");
        let registry = Registry::start();
        let lab = Lab {
            registry,
            dir,
            sigward,
            cosign,
            cosign3,
            skopeo,
            files: Cell::new(0),
        };
        fs::create_dir_all(lab.home().join(".docker")).expect("home");
        fs::write(lab.path("password"), PASSWORD).expect("password file");
        // skopeo: accept anything when copying, and read/write sigstore signatures as cosign
        // attachments (`sha256-<hex>.sig`) for this registry.
        fs::write(
            lab.path("accept-anything.json"),
            br#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
        )
        .expect("policy");
        fs::create_dir_all(lab.path("registries.d")).expect("registries.d");
        let attachments = format!(
            "docker:\n  {}:\n    use-sigstore-attachments: true\n",
            lab.registry.host()
        );
        fs::write(lab.path("registries.d/sigward-e2e.yaml"), attachments).expect("registries.d");
        fs::write(
            lab.path("registries.conf"),
            "unqualified-search-registries = []\n",
        )
        .expect("registries.conf");
        // cosign 3 refuses to sign without a transparency log unless its signing configuration
        // names no services at all; this is that file, made the way cosign's documentation says
        // (`cosign signing-config create --no-default-*`, sigstore/cosign
        // `doc/cosign_signing-config_create.md`).
        Outcome::run(
            lab.cosign3()
                .args(["signing-config", "create", "--no-default-rekor"])
                .args(["--no-default-fulcio", "--no-default-oidc", "--out"])
                .arg(lab.path(COSIGN3_SIGNING_CONFIG)),
        )
        .assert_success();
        // cosign 3 verifies bundles against a trusted root, which it would otherwise fetch over
        // TUF; the keyed bundles here need none of its keys.
        let empty_root = json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        });
        fs::write(lab.path(EMPTY_TRUSTED_ROOT), empty_root.to_string()).expect("trusted root");
        lab
    }

    /// A path in the scratch directory.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `data` to a new file in the scratch directory and returns its path.
    pub(crate) fn file(&self, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
        let n = self.files.get() + 1;
        self.files.set(n);
        let path = self.path(&format!("{n}-{name}"));
        fs::write(&path, data).expect("write scratch file");
        path
    }

    // --- images -------------------------------------------------------------------------

    /// Builds a small image (its content is unique to `repo:tag`) and pushes it with skopeo.
    pub(crate) fn push_image(&self, repo: &str, tag: &str) -> Image {
        self.push_layout(repo, tag, &[])
    }

    /// Like `push_image`, and skopeo signs it while pushing (`--sign-by-sigstore-private-key`),
    /// storing the signature as a cosign `.sig` attachment.
    pub(crate) fn push_image_signed_by_skopeo(
        &self,
        repo: &str,
        tag: &str,
        key: &KeyPair,
    ) -> Image {
        let private = key.private.to_str().expect("utf-8 path").to_owned();
        let password = self
            .path("password")
            .to_str()
            .expect("utf-8 path")
            .to_owned();
        self.push_layout(
            repo,
            tag,
            &[
                "--sign-by-sigstore-private-key",
                &private,
                "--sign-passphrase-file",
                &password,
            ],
        )
    }

    /// Points `tag` of `image`'s repository at `target`'s manifest (moves a tag).
    pub(crate) fn move_tag(&self, image: &Image, target: &Image) {
        let (manifest, _) = self.registry.manifest(&target.repo, &target.digest);
        self.registry
            .put_manifest(&image.repo, &image.tag, &manifest);
    }

    /// Copies `image` (manifest, config and layers; not its signatures) to `repo` under the
    /// same tag, byte for byte, so the copy has the same digest.
    pub(crate) fn copy_image(&self, image: &Image, repo: &str) -> Image {
        let (manifest, _) = self.registry.manifest(&image.repo, &image.digest);
        let parsed: serde_json::Value = serde_json::from_slice(&manifest).expect("manifest JSON");
        let layers = parsed["layers"].as_array().expect("layers");
        for descriptor in layers.iter().chain([&parsed["config"]]) {
            let digest = descriptor["digest"].as_str().expect("digest");
            let blob = self.registry.blob(&image.repo, digest);
            self.registry.put_blob(repo, &blob);
        }
        let digest = self.registry.put_manifest(repo, &image.tag, &manifest);
        Image {
            repository: format!("{}/{repo}", self.registry.host()),
            repo: repo.to_owned(),
            tag: image.tag.clone(),
            digest,
        }
    }

    /// The OCI image layout `image` was pushed from (written by `push_image`; signatures can be
    /// added to it for `sigward verify oci:DIR:TAG`).
    pub(crate) fn layout_of(&self, image: &Image) -> PathBuf {
        self.layout_dir(&image.repo, &image.tag)
    }

    fn layout_dir(&self, repo: &str, tag: &str) -> PathBuf {
        self.path(&format!("layout-{}-{tag}", repo.replace('/', "_")))
    }

    fn push_layout(&self, repo: &str, tag: &str, extra: &[&str]) -> Image {
        let layout = self.layout_dir(repo, tag);
        image::write_layout(&layout, tag, &format!("{repo}:{tag}\n"));
        let repository = format!("{}/{repo}", self.registry.host());
        Outcome::run(
            self.skopeo()
                .args(["copy", "--dest-tls-verify=false"])
                .args(extra)
                .arg(format!("oci:{}:{tag}", layout.display()))
                .arg(format!("docker://{repository}:{tag}")),
        )
        .assert_success();
        let (_, digest) = self.registry.manifest(repo, tag);
        Image {
            repository,
            repo: repo.to_owned(),
            tag: tag.to_owned(),
            digest,
        }
    }

    // --- keys ---------------------------------------------------------------------------

    /// `cosign generate-key-pair`: an encrypted `SIGSTORE PRIVATE KEY` and its public key.
    pub(crate) fn cosign_key_pair(&self, name: &str) -> KeyPair {
        let prefix = self.path(&format!("cosign-{name}"));
        Outcome::run(
            self.cosign()
                .args(["generate-key-pair", "--output-key-prefix"])
                .arg(&prefix),
        )
        .assert_success();
        KeyPair {
            private: prefix.with_extension("key"),
            public: prefix.with_extension("pub"),
        }
    }

    /// `skopeo generate-sigstore-key`: skopeo's own key pair (passphrase `PASSWORD`).
    pub(crate) fn skopeo_key_pair(&self, name: &str) -> KeyPair {
        let prefix = self.path(&format!("skopeo-{name}"));
        Outcome::run(
            self.skopeo()
                .args(["generate-sigstore-key", "--output-prefix"])
                .arg(&prefix)
                .arg("--passphrase-file")
                .arg(self.path("password")),
        )
        .assert_success();
        KeyPair {
            private: prefix.with_extension("private"),
            public: prefix.with_extension("pub"),
        }
    }

    /// An unencrypted PKCS#8 P-256 key pair.
    pub(crate) fn plain_key_pair(&self, name: &str) -> KeyPair {
        KeyPair::plain_pkcs8(self.dir.path(), &format!("plain-{name}"))
    }

    /// A new RSA key pair of `bits` made by `openssl` (see `RsaFormat`).
    pub(crate) fn openssl_rsa_key_pair(&self, name: &str, bits: u32, format: RsaFormat) -> KeyPair {
        KeyPair::openssl_rsa(self.dir.path(), &format!("rsa-{name}"), bits, format)
    }

    /// `cosign import-key-pair` of `key`'s private key with cosign 3 (cosign 2.5 refuses RSA
    /// keys): the same key in cosign's encrypted envelope (PKCS#8 inside, password `PASSWORD`).
    pub(crate) fn cosign3_import_key_pair(&self, key: &KeyPair, name: &str) -> KeyPair {
        let prefix = self.path(&format!("cosign3-imported-{name}"));
        Outcome::run(
            self.cosign3()
                .args(["import-key-pair", "--key"])
                .arg(&key.private)
                .arg("--output-key-prefix")
                .arg(&prefix),
        )
        .assert_success();
        KeyPair {
            private: prefix.with_extension("key"),
            public: prefix.with_extension("pub"),
        }
    }

    // --- signing ------------------------------------------------------------------------

    /// `cosign sign --key` the image by digest, without a transparency log; each entry of
    /// `annotations` is `key=value`.
    pub(crate) fn cosign_sign(&self, image: &Image, key: &KeyPair, annotations: &[&str]) {
        let mut command = self.cosign();
        command.args([
            "sign",
            "--yes",
            "--tlog-upload=false",
            "--allow-http-registry",
        ]);
        command.arg("--key").arg(&key.private);
        for annotation in annotations {
            command.args(["-a", annotation]);
        }
        Outcome::run(command.arg(image.by_digest())).assert_success();
    }

    /// `cosign sign --key` the image by digest with `COSIGN_REPOSITORY=repository`: the
    /// signature goes to that repository instead of the image's.
    pub(crate) fn cosign_sign_into(&self, image: &Image, key: &KeyPair, repository: &str) {
        let mut command = self.cosign();
        command
            .env("COSIGN_REPOSITORY", repository)
            .args([
                "sign",
                "--yes",
                "--tlog-upload=false",
                "--allow-http-registry",
            ])
            .arg("--key")
            .arg(&key.private);
        Outcome::run(command.arg(image.by_digest())).assert_success();
    }

    /// `cosign sign-blob --key`: the base64 signature of `payload`, as cosign would put it in a
    /// `.sig` annotation. Used to sign payloads a test crafted, so that only the check the
    /// test aims at can reject them.
    pub(crate) fn cosign_sign_blob(&self, key: &KeyPair, payload: &[u8]) -> String {
        let payload = self.file("payload.json", payload);
        let signature = self.path("payload.sig");
        Outcome::run(
            self.cosign()
                .args(["sign-blob", "--yes", "--tlog-upload=false", "--key"])
                .arg(&key.private)
                .arg("--output-signature")
                .arg(&signature)
                .arg(&payload),
        )
        .assert_success();
        fs::read_to_string(&signature)
            .expect("signature file")
            .trim()
            .to_owned()
    }

    /// `cosign attest --key` the image by digest with `--type custom` and the predicate in the
    /// file `predicate`, without a transparency log, stored as `format` says.
    pub(crate) fn cosign_attest(
        &self,
        image: &Image,
        key: &KeyPair,
        predicate: &Path,
        format: Attestation,
    ) {
        let mut command = self.cosign();
        command.args([
            "attest",
            "--yes",
            "--tlog-upload=false",
            "--allow-http-registry",
            "--type",
            "custom",
        ]);
        if format == Attestation::Bundle {
            command.arg("--new-bundle-format");
        }
        command
            .arg("--key")
            .arg(&key.private)
            .arg("--predicate")
            .arg(predicate);
        Outcome::run(command.arg(image.by_digest())).assert_success();
    }

    /// `cosign sign --key` with cosign 3 and its signing configuration without services: the
    /// image by digest gets a Sigstore bundle attached as an OCI referrer.
    pub(crate) fn cosign3_sign(&self, image: &Image, key: &KeyPair) {
        Outcome::run(self.cosign3_signing("sign", key).arg(image.by_digest())).assert_success();
    }

    /// `cosign attest --key --type custom --predicate FILE` with cosign 3: a DSSE bundle
    /// attached as an OCI referrer.
    pub(crate) fn cosign3_attest(&self, image: &Image, key: &KeyPair, predicate: &Path) {
        Outcome::run(
            self.cosign3_signing("attest", key)
                .args(["--type", "custom", "--predicate"])
                .arg(predicate)
                .arg(image.by_digest()),
        )
        .assert_success();
    }

    fn cosign3_signing(&self, verb: &str, key: &KeyPair) -> Command {
        let mut command = self.cosign3();
        command
            .args([verb, "--yes", "--allow-http-registry", "--key"])
            .arg(&key.private)
            .arg("--signing-config")
            .arg(self.path(COSIGN3_SIGNING_CONFIG));
        command
    }

    /// `sigward sign --key KEY [ARGS] REFERENCE`.
    pub(crate) fn sigward_sign(&self, reference: &str, key: &KeyPair, args: &[&str]) -> Outcome {
        Outcome::run(
            self.sigward()
                .arg("sign")
                .arg("--key")
                .arg(&key.private)
                .args(args)
                .arg(reference),
        )
    }

    // --- verifying ----------------------------------------------------------------------

    /// `sigward verify --output json --insecure-ignore-tlog=true [--key K]... [ARGS] REFERENCE`.
    pub(crate) fn verify(&self, reference: &str, keys: &[&KeyPair], args: &[&str]) -> Outcome {
        self.verify_with_key_files(reference, keys.iter().map(|k| k.public.as_path()), args)
    }

    /// Like `verify`, with key files given as paths (for malformed ones).
    pub(crate) fn verify_with_key_files<'a>(
        &self,
        reference: &str,
        keys: impl IntoIterator<Item = &'a Path>,
        args: &[&str],
    ) -> Outcome {
        let mut command = self.sigward();
        command.args(["verify", "--output", "json", IGNORE_TLOG]);
        for key in keys {
            command.arg("--key").arg(key);
        }
        Outcome::run(command.args(args).arg(reference))
    }

    /// `sigward verify-attestation --output json --insecure-ignore-tlog=true --type TYPE
    /// [--key K]... [ARGS] REFERENCE`.
    pub(crate) fn verify_attestation(
        &self,
        reference: &str,
        predicate_type: &str,
        keys: &[&KeyPair],
        args: &[&str],
    ) -> Outcome {
        let mut command = self.sigward();
        command.args([
            "verify-attestation",
            "--output",
            "json",
            IGNORE_TLOG,
            "--type",
            predicate_type,
        ]);
        for key in keys {
            command.arg("--key").arg(&key.public);
        }
        Outcome::run(command.args(args).arg(reference))
    }

    /// `sigward verify --output json [ARGS] REFERENCE` with the transparency log required (for
    /// real keyless signatures, whose Rekor entries are checked offline).
    pub(crate) fn verify_with_tlog(&self, reference: &str, args: &[&str]) -> Outcome {
        Outcome::run(
            self.sigward()
                .args(["verify", "--output", "json"])
                .args(args)
                .arg(reference),
        )
    }

    /// `cosign verify-attestation --key PUB --insecure-ignore-tlog=true --allow-http-registry
    /// --type TYPE REF`, reading attestations stored as `format` says. For bundles cosign gets an
    /// empty trusted root, or it would fetch the public-good one over the network.
    pub(crate) fn cosign_verify_attestation(
        &self,
        reference: &str,
        key: &KeyPair,
        predicate_type: &str,
        format: Attestation,
    ) -> Outcome {
        let mut command = self.cosign();
        command.args([
            "verify-attestation",
            "--insecure-ignore-tlog=true",
            "--allow-http-registry",
            "--type",
            predicate_type,
        ]);
        if format == Attestation::Bundle {
            command
                .arg("--new-bundle-format")
                .arg("--trusted-root")
                .arg(self.path(EMPTY_TRUSTED_ROOT));
        }
        command.arg("--key").arg(&key.public);
        Outcome::run(command.arg(reference))
    }

    /// `cosign verify --key PUB --insecure-ignore-tlog=true --allow-http-registry [ARGS] REF`.
    pub(crate) fn cosign_verify(&self, reference: &str, key: &KeyPair, args: &[&str]) -> Outcome {
        Outcome::run(
            self.cosign()
                .args([
                    "verify",
                    "--insecure-ignore-tlog=true",
                    "--allow-http-registry",
                ])
                .arg("--key")
                .arg(&key.public)
                .args(args)
                .arg(reference),
        )
    }

    /// `cosign verify --key PUB --insecure-ignore-tlog=true --allow-http-registry REF` with
    /// cosign 3 (which reads both referrer bundles and `.sig` signatures).
    pub(crate) fn cosign3_verify(&self, reference: &str, key: &KeyPair) -> Outcome {
        Outcome::run(self.cosign3_verifying("verify", key).arg(reference))
    }

    /// `cosign verify-attestation --type TYPE` with cosign 3, as `cosign3_verify`.
    pub(crate) fn cosign3_verify_attestation(
        &self,
        reference: &str,
        key: &KeyPair,
        predicate_type: &str,
    ) -> Outcome {
        Outcome::run(
            self.cosign3_verifying("verify-attestation", key)
                .args(["--type", predicate_type])
                .arg(reference),
        )
    }

    fn cosign3_verifying(&self, verb: &str, key: &KeyPair) -> Command {
        let mut command = self.cosign3();
        command
            .args([verb, "--insecure-ignore-tlog=true", "--allow-http-registry"])
            .arg("--trusted-root")
            .arg(self.path(EMPTY_TRUSTED_ROOT))
            .arg("--key")
            .arg(&key.public);
        command
    }

    /// `cosign verify --local-image` of an OCI layout written by `cosign save`.
    pub(crate) fn cosign_verify_layout(&self, layout: &Path, key: &Path) -> Outcome {
        Outcome::run(
            self.cosign()
                .args(["verify", "--insecure-ignore-tlog=true", "--local-image"])
                .arg("--key")
                .arg(key)
                .arg(layout),
        )
    }

    /// skopeo's verdict: `skopeo copy` under a policy that requires a sigstore signature by
    /// `key` whose identity matches the repository; exit 0 means skopeo accepted the image.
    pub(crate) fn skopeo_verify(&self, reference: &str, key: &KeyPair) -> Outcome {
        let policy = json!({
            "default": [{"type": "reject"}],
            "transports": {"docker": {self.registry.host(): [{
                "type": "sigstoreSigned",
                "keyPath": key.public,
                "signedIdentity": {"type": "matchRepository"},
            }]}},
        });
        let policy = self.file("policy.json", policy.to_string());
        let out = self.path(&format!("skopeo-out-{}", self.files.get()));
        Outcome::run(
            self.skopeo_with_policy(&policy)
                .args(["copy", "--src-tls-verify=false", "--remove-signatures"])
                .arg(format!("docker://{reference}"))
                .arg(format!("oci:{}:out", out.display())),
        )
    }

    // --- programs -----------------------------------------------------------------------

    /// The sigward binary under test, in the lab's environment.
    pub(crate) fn sigward(&self) -> Command {
        self.command(&self.sigward)
    }

    fn cosign(&self) -> Command {
        self.command(&self.cosign)
    }

    fn cosign3(&self) -> Command {
        self.command(&self.cosign3)
    }

    fn skopeo(&self) -> Command {
        self.skopeo_with_policy(&self.path("accept-anything.json"))
    }

    fn skopeo_with_policy(&self, policy: &Path) -> Command {
        let mut command = self.command(&self.skopeo);
        command
            .arg("--policy")
            .arg(policy)
            .arg("--registries.d")
            .arg(self.path("registries.d"));
        command
    }

    fn home(&self) -> PathBuf {
        self.path("home")
    }

    /// `program` in the lab's environment (home, no proxies beyond loopback).
    pub(crate) fn command(&self, program: &Path) -> Command {
        let home = self.home();
        let mut command = Command::new(program);
        command
            .current_dir(self.dir.path())
            .env("HOME", &home)
            .env("DOCKER_CONFIG", home.join(".docker"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("TUF_ROOT", home.join(".sigstore/root"))
            .env("CONTAINERS_REGISTRIES_CONF", self.path("registries.conf"))
            .env("COSIGN_PASSWORD", PASSWORD)
            .env("SIGWARD_SHARED_DIR", shared_dir())
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("COSIGN_REPOSITORY")
            .env_remove("COSIGN_EXPERIMENTAL")
            .env_remove("SIGSTORE_REKOR_PUBLIC_KEY")
            .env_remove("SIGSTORE_CT_LOG_PUBLIC_KEY_FILE");
        // Anything that tries to leave the machine goes to a closed loopback port; loopback
        // itself (the test registry) is exempt.
        for var in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
        ] {
            command.env(var, "http://127.0.0.1:9");
        }
        for var in ["NO_PROXY", "no_proxy"] {
            command.env(var, "127.0.0.1,localhost,::1");
        }
        command
    }
}
