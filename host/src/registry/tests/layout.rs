//! OCI image layouts: the `cosign save` way and the tag way, reading and appending.

use std::collections::BTreeMap;
use std::path::Path;

use super::support;
use crate::registry::digest::Digest;
use crate::registry::manifest::{self, OCI_INDEX, OCI_MANIFEST};
use crate::registry::{Kinds, Layer, Limits, RegistryError, write_layout_image};

const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The image in `testdata/cosign-save`.
const SAVED_IMAGE: &str = "sha256:d24c375b8d0d10c1cde8e8d40a9c5cd31608d108a65fbb53c4dc353511dfb27c";

fn oci(dir: &Path, suffix: &str) -> String {
    format!("oci:{}{suffix}", dir.display())
}

fn signature_layer(payload: &[u8]) -> Layer {
    Layer {
        media_type: SIMPLE_SIGNING.to_owned(),
        digest: Digest::of(payload).to_string(),
        annotations: BTreeMap::from([(
            "dev.cosignproject.cosign/signature".to_owned(),
            "c2ln".to_owned(),
        )]),
        payload: payload.to_vec(),
    }
}

fn index_json(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap()
}

/// Entries of `index.json` with `key` annotated as `value`.
fn entries_with(dir: &Path, key: &str, value: &str) -> Vec<serde_json::Value> {
    index_json(dir)["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["annotations"][key] == value)
        .cloned()
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn cosign_saved_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&support::testdata().join("cosign-save"), dir.path());
    dir
}

#[tokio::test]
async fn reads_a_layout_written_by_cosign_save() {
    let dir = support::testdata().join("cosign-save");
    let sources = support::sources(Limits::default());
    let resolved = sources
        .resolve(&oci(&dir, ""), &support::budget())
        .await
        .unwrap();
    assert_eq!(resolved.digest().to_string(), SAVED_IMAGE);
    assert_eq!(resolved.media_type, OCI_MANIFEST);

    let material = sources
        .attached(&oci(&dir, ""), SAVED_IMAGE, Kinds::ALL, &support::budget())
        .await
        .unwrap();
    assert_eq!(material.signatures.len(), 2);
    for signature in &material.signatures {
        assert_eq!(signature.media_type, SIMPLE_SIGNING);
        assert!(
            signature
                .annotations
                .contains_key("dev.cosignproject.cosign/signature")
        );
        assert!(signature.payload.starts_with(b"{\"critical\""));
    }
    assert_eq!(material.attestations.len(), 1);
    assert_eq!(
        material.attestations[0].media_type,
        "application/vnd.dsse.envelope.v1+json"
    );
    assert!(material.bundles.is_empty());

    // The saved signatures belong to the saved image only.
    let other = Digest::of(b"another image").to_string();
    let none = sources
        .attached(&oci(&dir, ""), &other, Kinds::ALL, &support::budget())
        .await
        .unwrap();
    assert!(none.signatures.is_empty() && none.attestations.is_empty());
}

#[tokio::test]
async fn appends_to_a_cosign_saved_layout_in_place() {
    let dir = cosign_saved_copy();
    let sources = support::sources(Limits::default());
    let image = oci(dir.path(), "");
    let added = signature_layer(b"{\"third\":true}");
    sources
        .append_signature(&image, SAVED_IMAGE, added.clone(), &support::budget())
        .await
        .unwrap();

    let material = sources
        .attached(&image, SAVED_IMAGE, Kinds::ALL, &support::budget())
        .await
        .unwrap();
    assert_eq!(material.signatures.len(), 3);
    assert_eq!(material.signatures[2], added);
    assert_eq!(material.attestations.len(), 1);
    let sigs = entries_with(dir.path(), "kind", "dev.cosignproject.cosign/sigs");
    assert_eq!(sigs.len(), 1);
}

#[tokio::test]
async fn signing_a_single_image_layout_makes_it_a_cosign_layout() {
    let dir = tempfile::tempdir().unwrap();
    let digest = write_layout_image(dir.path(), "v1", b"{}", &[("text/plain", b"hello")]).unwrap();
    let sources = support::sources(Limits::default());
    let image = oci(dir.path(), ":v1");
    let (first, second) = (signature_layer(b"one"), signature_layer(b"two"));
    sources
        .append_signature(&image, &digest, first.clone(), &support::budget())
        .await
        .unwrap();
    sources
        .append_signature(&image, &digest, second.clone(), &support::budget())
        .await
        .unwrap();

    let material = sources
        .attached(&image, &digest, Kinds::ALL, &support::budget())
        .await
        .unwrap();
    assert_eq!(material.signatures, vec![first, second]);
    let images = entries_with(dir.path(), "kind", "dev.cosignproject.cosign/image");
    assert_eq!(images.len(), 1);
    assert_eq!(images[0]["digest"], digest.as_str());
    // The tag stays usable.
    assert_eq!(
        images[0]["annotations"]["org.opencontainers.image.ref.name"],
        "v1"
    );
    assert_eq!(
        entries_with(dir.path(), "kind", "dev.cosignproject.cosign/sigs").len(),
        1
    );
    assert_eq!(
        sources
            .resolve(&image, &support::budget())
            .await
            .unwrap()
            .digest()
            .to_string(),
        digest
    );
    assert_eq!(
        sources
            .resolve(&oci(dir.path(), ""), &support::budget())
            .await
            .unwrap()
            .digest()
            .to_string(),
        digest
    );
}

#[tokio::test]
async fn signs_one_of_several_images_under_the_sig_tag() {
    let dir = tempfile::tempdir().unwrap();
    let one = write_layout_image(dir.path(), "one", b"{}", &[("text/plain", b"1")]).unwrap();
    let two = write_layout_image(dir.path(), "two", b"{}", &[("text/plain", b"2")]).unwrap();
    let sources = support::sources(Limits::default());
    let signature = signature_layer(b"for two");
    sources
        .append_signature(
            &oci(dir.path(), ":two"),
            &two,
            signature.clone(),
            &support::budget(),
        )
        .await
        .unwrap();

    let sig_tag = format!("sha256-{}.sig", &two["sha256:".len()..]);
    let tagged = entries_with(dir.path(), "org.opencontainers.image.ref.name", &sig_tag);
    assert_eq!(tagged.len(), 1);
    let material = sources
        .attached(
            &oci(dir.path(), ":two"),
            &two,
            Kinds::ALL,
            &support::budget(),
        )
        .await
        .unwrap();
    assert_eq!(material.signatures, vec![signature]);
    let unsigned = sources
        .attached(
            &oci(dir.path(), ":one"),
            &one,
            Kinds::ALL,
            &support::budget(),
        )
        .await
        .unwrap();
    assert!(unsigned.signatures.is_empty());

    // Without a tag the layout is ambiguous; the `.sig` entry does not count as an image.
    let ambiguous = sources
        .resolve(&oci(dir.path(), ""), &support::budget())
        .await;
    assert!(
        matches!(ambiguous, Err(RegistryError::Invalid(_))),
        "{ambiguous:?}"
    );
    assert_eq!(
        sources
            .resolve(&oci(dir.path(), &format!("@{one}")), &support::budget())
            .await
            .unwrap()
            .digest()
            .to_string(),
        one
    );
    let missing = sources
        .resolve(&oci(dir.path(), ":three"), &support::budget())
        .await;
    assert!(
        matches!(missing, Err(RegistryError::NotFound(_))),
        "{missing:?}"
    );
}

#[tokio::test]
async fn finds_bundles_under_the_referrers_tag_of_a_layout() {
    let dir = tempfile::tempdir().unwrap();
    let subject = write_layout_image(dir.path(), "v1", b"{}", &[("text/plain", b"x")]).unwrap();
    let bundle_type = "application/vnd.dev.sigstore.bundle.v0.3+json";
    let bundle_manifest = write_layout_image(
        dir.path(),
        "bundle",
        b"{}",
        &[(bundle_type, b"{\"bundle\":1}")],
    )
    .unwrap();
    let manifest_bytes = std::fs::read(
        dir.path()
            .join("blobs/sha256")
            .join(&bundle_manifest["sha256:".len()..]),
    )
    .unwrap();
    let index = manifest::to_json(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": bundle_manifest,
                       "size": manifest_bytes.len()}]}))
    .unwrap();
    let index_digest = Digest::of(&index);
    std::fs::write(
        dir.path().join("blobs/sha256").join(index_digest.hex()),
        &index,
    )
    .unwrap();
    let mut json = index_json(dir.path());
    let referrers_tag = format!("sha256-{}", &subject["sha256:".len()..]);
    json["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
        "mediaType": OCI_INDEX, "digest": index_digest.to_string(), "size": index.len(),
        "annotations": {"org.opencontainers.image.ref.name": referrers_tag}}));
    std::fs::write(dir.path().join("index.json"), json.to_string()).unwrap();

    let sources = support::sources(Limits::default());
    let material = sources
        .attached(
            &oci(dir.path(), ":v1"),
            &subject,
            Kinds::ALL,
            &support::budget(),
        )
        .await
        .unwrap();
    assert_eq!(material.bundles.len(), 1);
    assert_eq!(material.bundles[0].bundle, b"{\"bundle\":1}");
}

#[tokio::test]
async fn checks_digests_and_sizes_of_layout_blobs() {
    let dir = cosign_saved_copy();
    let image = oci(dir.path(), "");
    let small = support::sources(Limits {
        blob_bytes: 100,
        ..Limits::default()
    });
    let result = small
        .attached(&image, SAVED_IMAGE, Kinds::ALL, &support::budget())
        .await;
    assert!(
        matches!(result, Err(RegistryError::TooLarge { .. })),
        "{result:?}"
    );

    // Overwrite the signed payload (the first signature layer) with other bytes.
    let payload = "f662d5375442f5f3d9e8e7239add51c238ba1ae80aadc6fc805ce47984f80974";
    std::fs::write(
        dir.path().join("blobs/sha256").join(payload),
        b"{\"forged\":1}",
    )
    .unwrap();
    let sources = support::sources(Limits::default());
    let material = sources
        .attached(&image, SAVED_IMAGE, Kinds::ALL, &support::budget())
        .await
        .unwrap();
    // Passed on with its descriptor digest, for the verifier to reject.
    let forged = material
        .signatures
        .iter()
        .find(|l| l.digest.ends_with(payload))
        .unwrap();
    assert_eq!(forged.payload, b"{\"forged\":1}");

    let result = sources
        .resolve(
            &oci(Path::new("/nonexistent/layout"), ""),
            &support::budget(),
        )
        .await;
    assert!(
        matches!(result, Err(RegistryError::NotFound(_))),
        "{result:?}"
    );
}

#[test]
fn writes_layout_images_deterministically() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let layers: &[(&str, &[u8])] = &[("application/vnd.oci.image.layer.v1.tar", b"layer")];
    let first = write_layout_image(a.path(), "v1", b"{\"os\":\"linux\"}", layers).unwrap();
    let second = write_layout_image(b.path(), "v1", b"{\"os\":\"linux\"}", layers).unwrap();
    assert_eq!(first, second);
    for file in ["index.json", "oci-layout"] {
        assert_eq!(
            std::fs::read(a.path().join(file)).unwrap(),
            std::fs::read(b.path().join(file)).unwrap()
        );
    }
    // Writing the same tag again replaces the entry rather than adding one.
    write_layout_image(a.path(), "v1", b"{}", layers).unwrap();
    assert_eq!(
        index_json(a.path())["manifests"].as_array().unwrap().len(),
        1
    );
}

/// Issue 8, item 6: under [`Layouts::Refuse`] (the server) no layout is read, existing or not,
/// and the reason does not repeat the path.
#[tokio::test]
async fn refused_layouts_are_not_read_and_not_named() {
    let sources = crate::registry::Sources::new(crate::registry::Options {
        layouts: crate::registry::Layouts::Refuse,
        ..crate::registry::Options::default()
    })
    .unwrap();
    let existing = support::testdata().join("cosign-save");
    let missing = existing.join("no-such-dir");
    let mut reasons = Vec::new();
    for dir in [&existing, &missing] {
        let image = oci(dir, "");
        let budget = support::budget();
        let resolved = sources.resolve(&image, &budget).await;
        let attached = sources
            .attached(&image, SAVED_IMAGE, Kinds::ALL, &budget)
            .await;
        let appended = sources
            .append_signature(&image, SAVED_IMAGE, signature_layer(b"{}"), &budget)
            .await;
        for result in [resolved.map(drop), attached.map(drop), appended] {
            let Err(RegistryError::Unsupported(reason)) = result else {
                panic!("{image}: {result:?}");
            };
            assert!(!reason.contains("cosign-save"), "{reason}");
            assert!(reason.contains("sigward CLI only"), "{reason}");
            reasons.push(reason);
        }
    }
    assert!(reasons.windows(2).all(|pair| pair[0] == pair[1]));
    // The default reads them (the CLI).
    let sources = support::sources(Limits::default());
    assert!(
        sources
            .resolve(&oci(&existing, ""), &support::budget())
            .await
            .is_ok()
    );
}
