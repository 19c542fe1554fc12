//! Against a real registry: Debian's `docker-registry` (distribution 2.8, no referrers API).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use oci_client::secrets::RegistryAuth;

use super::support::{self, PASSWORD, Pusher, Registry, USER};
use crate::registry::digest::Digest;
use crate::registry::manifest::{self, DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
use crate::registry::{Credentials, Kinds, Layer, Limits, Options, RegistryError, Sources};

const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

fn signature_layer(payload: &[u8], signature: &str) -> Layer {
    Layer {
        media_type: SIMPLE_SIGNING.to_owned(),
        digest: Digest::of(payload).to_string(),
        annotations: BTreeMap::from([(
            "dev.cosignproject.cosign/signature".to_owned(),
            signature.to_owned(),
        )]),
        payload: payload.to_vec(),
    }
}

#[tokio::test]
async fn resolves_tags_to_the_digest_of_the_served_manifest() {
    let registry = Registry::start();
    let pusher = Pusher::anonymous();
    let image = registry.image("demo", "v1");
    let digest = pusher.image(&image, b"hello").await;
    let sources = support::sources(support::quick_limits());

    let resolved = sources.resolve(&image, &support::budget()).await.unwrap();
    assert_eq!(resolved.digest().to_string(), digest);
    assert_eq!(resolved.media_type, OCI_MANIFEST);

    let pinned = format!("{}/demo@{digest}", registry.host);
    assert_eq!(
        sources
            .resolve(&pinned, &support::budget())
            .await
            .unwrap()
            .digest()
            .to_string(),
        digest
    );
    let both = format!("{image}@{digest}");
    assert_eq!(
        sources
            .resolve(&both, &support::budget())
            .await
            .unwrap()
            .digest()
            .to_string(),
        digest
    );
}

#[tokio::test]
async fn accepts_indexes_and_docker_manifests() {
    let registry = Registry::start();
    let pusher = Pusher::anonymous();
    let image = registry.image("multi", "oci");
    let child = pusher.image(&image, b"child").await;
    let entry = serde_json::json!({"mediaType": OCI_MANIFEST, "digest": child, "size": 1,
                                    "platform": {"architecture": "amd64", "os": "linux"}});
    let sources = support::sources(support::quick_limits());
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let docker = serde_json::json!({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": Digest::of(config).to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": Digest::of(b"child").to_string(), "size": 5}]});
    let cases = [
        (
            "index",
            OCI_INDEX,
            serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                                "manifests": [entry.clone()]}),
        ),
        (
            "list",
            DOCKER_LIST,
            serde_json::json!({"schemaVersion": 2, "mediaType": DOCKER_LIST,
            "manifests": [{"mediaType": DOCKER_MANIFEST, "digest": child, "size": 1,
                           "platform": {"architecture": "amd64", "os": "linux"}}]}),
        ),
        ("docker", DOCKER_MANIFEST, docker),
    ];
    for (tag, media_type, json) in cases {
        let bytes = serde_json::to_vec(&json).unwrap();
        let tagged = registry.image("multi", tag);
        let digest = pusher.manifest(&tagged, &bytes, media_type).await;
        let resolved = sources.resolve(&tagged, &support::budget()).await.unwrap();
        assert_eq!(
            (resolved.digest().to_string(), resolved.media_type),
            (digest, media_type.to_owned())
        );
    }
}

#[tokio::test]
async fn missing_image_is_not_found() {
    let registry = Registry::start();
    let sources = support::sources(support::quick_limits());
    let result = sources
        .resolve(&registry.image("nothing", "v1"), &support::budget())
        .await;
    assert!(
        matches!(result, Err(RegistryError::NotFound(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn missing_sig_means_no_signatures() {
    let registry = Registry::start();
    let image = registry.image("demo", "v1");
    let digest = Pusher::anonymous().image(&image, b"hello").await;
    let sources = support::sources(support::quick_limits());
    let material = sources
        .attached(&image, &digest, Kinds::ALL, &support::budget())
        .await
        .unwrap();
    assert!(material.signatures.is_empty());
    assert!(material.attestations.is_empty());
    assert!(material.bundles.is_empty());
}

#[tokio::test]
async fn appended_signatures_are_read_back_in_order() {
    let registry = Registry::start();
    let image = registry.image("demo", "v1");
    let digest = Pusher::anonymous().image(&image, b"hello").await;
    let sources = support::sources(support::quick_limits());
    let first = signature_layer(b"{\"payload\":1}", "c2lnLTE=");
    let second = signature_layer(b"{\"payload\":2}", "c2lnLTI=");

    sources
        .append_signature(&image, &digest, first.clone(), &support::budget())
        .await
        .unwrap();
    sources
        .append_signature(&image, &digest, second.clone(), &support::budget())
        .await
        .unwrap();
    // The same signature again is not a third layer.
    sources
        .append_signature(&image, &digest, second.clone(), &support::budget())
        .await
        .unwrap();

    let only_signatures = Kinds {
        signatures: true,
        attestations: false,
        bundles: false,
    };
    let material = sources
        .attached(&image, &digest, only_signatures, &support::budget())
        .await
        .unwrap();
    assert_eq!(material.signatures, vec![first, second]);
}

#[tokio::test]
async fn finds_bundles_through_the_referrers_tag() {
    let registry = Registry::start();
    let pusher = Pusher::anonymous();
    let image = registry.image("demo", "v1");
    let subject = pusher.image(&image, b"hello").await;
    let subject = Digest::parse(&subject).unwrap();

    // A bundle referrer as cosign 2.5 writes it (see testdata/README.md) …
    let bundle = std::fs::read(support::testdata().join("cosign-bundle/bundle.json")).unwrap();
    let bundle_manifest =
        std::fs::read(support::testdata().join("cosign-bundle/manifest.json")).unwrap();
    pusher.blob(&image, b"{}").await;
    pusher.blob(&image, &bundle).await;
    let by_digest = format!("{}/demo@{}", registry.host, Digest::of(&bundle_manifest));
    pusher
        .manifest(&by_digest, &bundle_manifest, OCI_MANIFEST)
        .await;
    // … and an SBOM referrer, which is not a bundle.
    let sbom = b"SPDXVersion: SPDX-2.3";
    pusher.blob(&image, sbom).await;
    let sbom_manifest = manifest::image_manifest(
        manifest::describe("application/vnd.oci.empty.v1+json", b"{}"),
        &[manifest::describe("text/spdx", sbom)],
    )
    .unwrap();
    let sbom_ref = format!("{}/demo@{}", registry.host, Digest::of(&sbom_manifest));
    pusher
        .manifest(&sbom_ref, &sbom_manifest, OCI_MANIFEST)
        .await;
    // The referrers index, with the artifactType cosign's fallback really writes (not the
    // bundle type): discovery must not depend on it.
    let entry = |bytes: &[u8]| {
        serde_json::json!({"mediaType": OCI_MANIFEST, "size": bytes.len(),
                           "digest": Digest::of(bytes).to_string(),
                           "artifactType": "application/vnd.oci.empty.v1+json"})
    };
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [entry(&sbom_manifest), entry(&bundle_manifest)]}))
    .unwrap();
    let tag = registry.image("demo", &subject.referrers_tag());
    pusher.manifest(&tag, &index, OCI_INDEX).await;

    let sources = support::sources(support::quick_limits());
    let material = sources
        .attached(&image, &subject.to_string(), Kinds::ALL, &support::budget())
        .await
        .unwrap();
    assert_eq!(material.bundles.len(), 1);
    let found = &material.bundles[0];
    assert_eq!(found.bundle, bundle);
    assert_eq!(
        found.media_type,
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
}

#[tokio::test]
async fn authenticates_with_basic_credentials_from_a_docker_config() {
    let registry = Registry::start_with_basic_auth();
    let image = registry.image("private", "v1");
    let pusher = Pusher::with_auth(RegistryAuth::Basic(USER.into(), PASSWORD.into()));
    let digest = pusher.image(&image, b"secret image").await;

    let config = tempfile::tempdir().unwrap();
    let write_config = |password: &str| {
        let auth = STANDARD.encode(format!("{USER}:{password}"));
        let json = serde_json::json!({"auths": {registry.host.as_str(): {"auth": auth}}});
        std::fs::write(config.path().join("config.json"), json.to_string()).unwrap();
    };
    let with_config = || {
        Sources::new(Options {
            limits: support::quick_limits(),
            credentials: Credentials::DockerConfigDir(config.path().into()),
            ..Options::default()
        })
        .unwrap()
    };

    write_config(PASSWORD);
    let sources = with_config();
    assert_eq!(
        sources
            .resolve(&image, &support::budget())
            .await
            .unwrap()
            .digest()
            .to_string(),
        digest
    );
    let signature = signature_layer(b"{}", "c2ln");
    sources
        .append_signature(&image, &digest, signature.clone(), &support::budget())
        .await
        .unwrap();
    let material = sources
        .attached(&image, &digest, Kinds::ALL, &support::budget())
        .await
        .unwrap();
    assert_eq!(material.signatures, vec![signature]);

    let anonymous = support::sources(support::quick_limits());
    let result = anonymous.resolve(&image, &support::budget()).await;
    assert!(
        matches!(result, Err(RegistryError::Denied(_))),
        "{result:?}"
    );

    write_config("wrong-password");
    let error = with_config()
        .resolve(&image, &support::budget())
        .await
        .unwrap_err();
    assert!(matches!(error, RegistryError::Denied(_)), "{error:?}");
    let shown = format!("{error} {error:?}");
    assert!(
        !shown.contains("wrong-password") && !shown.contains(PASSWORD),
        "{shown}"
    );
}

#[tokio::test]
async fn unreachable_registry_is_unavailable() {
    let image = format!("127.0.0.1:{}/demo:v1", support::free_port());
    let sources = support::sources(Limits::default());
    let result = sources.resolve(&image, &support::budget()).await;
    assert!(
        matches!(result, Err(RegistryError::Unavailable(_))),
        "{result:?}"
    );
}

#[test]
fn sources_futures_can_move_between_threads() {
    fn assert_send<T: Send>(_: &T) {}
    let sources = support::sources(Limits::default());
    assert_send(&sources.resolve("x", &support::budget()));
    assert_send(&sources.attached("x", "y", Kinds::ALL, &support::budget()));
    assert_send(&sources.append_signature("x", "y", signature_layer(b"", ""), &support::budget()));
}
