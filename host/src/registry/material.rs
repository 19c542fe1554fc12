//! Signature material attached to an image, collected the same way from a registry and from an
//! image layout: cosign `.sig` / `.att` manifests, and Sigstore bundles found as OCI referrers.
//!
//! Every check on fetched content lives here, once: limits on advertised sizes before fetching,
//! layer and referrer counts, the advertised total against the verification's [`Budget`] (all
//! before any blob is requested), and the digest of every byte string against its descriptor.
//! A [`Store`] only moves bytes (and caps how many it reads, taking them from the budget).

use super::budget::Budget;
use super::digest::{Attachment, Digest};
use super::limits::{self, Limits};
use super::manifest::{
    self, BUNDLE_PREFIX, DOCKER_MANIFEST, Descriptor, OCI_MANIFEST, SignatureImage,
};
use super::{AttachedBundle, Discovery, Kinds, Layer, Material, RegistryError};

/// Where attached material is read from: one repository of a registry, or one image layout.
///
/// Implementations return raw bytes, enforce the byte caps they are given and take what they read
/// from their verification's [`Budget`]; checking digests is the caller's job (this module's).
pub(super) trait Store {
    /// The `.sig` or `.att` manifest attached to `digest`, or `None` when there is none.
    async fn attachment(
        &self,
        digest: &Digest,
        kind: Attachment,
    ) -> Result<Option<Vec<u8>>, RegistryError>;

    /// The descriptors that refer to `digest`, and how they were found.
    async fn referrers(
        &self,
        digest: &Digest,
    ) -> Result<(Vec<Descriptor>, Discovery), RegistryError>;

    /// The manifest whose digest is `digest` (at most `Limits::manifest_bytes`).
    async fn manifest(&self, digest: &Digest) -> Result<Vec<u8>, RegistryError>;

    /// The blob whose digest is `digest`, refusing to read more than `max` bytes.
    async fn blob(&self, digest: &Digest, max: u64) -> Result<Vec<u8>, RegistryError>;
}

/// Collects the requested kinds of material attached to `digest`.
pub(super) async fn collect(
    store: &impl Store,
    digest: &Digest,
    kinds: Kinds,
    limits: &Limits,
    budget: &Budget,
) -> Result<Material, RegistryError> {
    // The three lookups are independent: run them concurrently (one round trip each way
    // instead of several in a row).
    let signatures = async {
        if kinds.signatures {
            layers(store, digest, Attachment::Signatures, limits, budget).await
        } else {
            Ok(Vec::new())
        }
    };
    let attestations = async {
        if kinds.attestations {
            layers(store, digest, Attachment::Attestations, limits, budget).await
        } else {
            Ok(Vec::new())
        }
    };
    let referrers = async {
        if kinds.bundles {
            bundles(store, digest, limits, budget).await
        } else {
            Ok((Vec::new(), Discovery::None))
        }
    };
    let (signatures, attestations, referrers) = tokio::join!(signatures, attestations, referrers);
    let (signatures, attestations, (bundles, discovery)) = (signatures?, attestations?, referrers?);
    tracing::debug!(%digest, ?discovery, bundles = bundles.len(), "referrers");
    Ok(Material {
        signatures,
        attestations,
        bundles,
    })
}

/// The signature image of `digest` with `layer` appended, or `None` if it already holds it.
pub(super) async fn signature_update(
    store: &impl Store,
    digest: &Digest,
    layer: Descriptor,
    limits: &Limits,
) -> Result<Option<SignatureImage>, RegistryError> {
    let what = digest.attachment_tag(Attachment::Signatures);
    let existing = match store.attachment(digest, Attachment::Signatures).await? {
        Some(bytes) => Some(manifest::parse_manifest(&bytes, &what)?),
        None => None,
    };
    manifest::with_signature(existing, layer, limits.layers)
}

/// The layers of the `.sig` / `.att` manifest of `digest`, each fetched and checked.
async fn layers(
    store: &impl Store,
    digest: &Digest,
    kind: Attachment,
    limits: &Limits,
    budget: &Budget,
) -> Result<Vec<Layer>, RegistryError> {
    let what = digest.attachment_tag(kind);
    // docs/formats/cosign-signatures.md, "Attachment tags": no manifest under the tag means no
    // signatures, not an error.
    let Some(bytes) = store.attachment(digest, kind).await? else {
        return Ok(Vec::new());
    };
    let manifest = manifest::parse_manifest(&bytes, &what)?;
    limits::check_count(
        manifest.layers.len(),
        limits.layers,
        &format!("{what} layers"),
    )?;
    // Every layer's advertised size, and their total, before the first blob is requested.
    check_total(&manifest.layers, limits.blob_bytes, budget, &what)?;
    let mut layers = Vec::with_capacity(manifest.layers.len());
    for descriptor in manifest.layers {
        let payload = layer_blob(store, &descriptor, limits, budget).await?;
        layers.push(Layer {
            media_type: descriptor.media_type,
            digest: descriptor.digest,
            annotations: descriptor.annotations.unwrap_or_default(),
            payload,
        });
    }
    Ok(layers)
}

/// Sigstore bundles attached to `digest` as OCI referrers (docs/formats/oci.md, "Finding bundles",
/// step 4).
async fn bundles(
    store: &impl Store,
    digest: &Digest,
    limits: &Limits,
    budget: &Budget,
) -> Result<(Vec<AttachedBundle>, Discovery), RegistryError> {
    let (referrers, discovery) = store.referrers(digest).await?;
    limits::check_count(
        referrers.len(),
        limits.layers,
        &format!("referrers of {digest}"),
    )?;
    let mut bundles = Vec::new();
    // The index entry's artifactType is not trusted to admit anything (registries and cosign's
    // own tag-schema index rewrite it; `referrers` only lets it skip entries that declare
    // another type); only an image manifest can hold a bundle layer, so other entries are
    // skipped unread, and what is read must hold a single bundle layer.
    let manifests: Vec<Descriptor> = referrers
        .into_iter()
        .filter(|entry| [OCI_MANIFEST, DOCKER_MANIFEST].contains(&entry.media_type.as_str()))
        .collect();
    let what = format!("referrers of {digest}");
    check_total(&manifests, limits.manifest_bytes, budget, &what)?;
    for entry in &manifests {
        let manifest_digest = Digest::parse(&entry.digest)?;
        let what = format!("referrer {manifest_digest}");
        limits::check_advertised(entry.size, limits.manifest_bytes, &what)?;
        let bytes = store.manifest(&manifest_digest).await?;
        super::digest::verify(&manifest_digest, &bytes, &what)?;
        let referrer = manifest::parse_manifest(&bytes, &what)?;
        let [layer] = referrer.layers.as_slice() else {
            continue;
        };
        if !layer.media_type.starts_with(BUNDLE_PREFIX) {
            continue;
        }
        let bundle = layer_blob(store, layer, limits, budget).await?;
        bundles.push(AttachedBundle {
            media_type: layer.media_type.clone(),
            digest: layer.digest.clone(),
            bundle,
        });
    }
    Ok((bundles, discovery))
}

/// Fetches the signature-bearing blob `descriptor` names: its advertised size is checked
/// before the request and at most that many bytes are read.
///
/// Its digest is checked by the verifier, which re-hashes every layer against its descriptor
/// and rejects that one signature (`payload-digest-mismatch`). Failing the whole listing here
/// instead would let one corrupt layer hide a valid one beside it.
async fn layer_blob(
    store: &impl Store,
    descriptor: &Descriptor,
    limits: &Limits,
    budget: &Budget,
) -> Result<Vec<u8>, RegistryError> {
    let digest = Digest::parse(&descriptor.digest)?;
    let what = format!("blob {digest}");
    let size = limits::check_advertised(descriptor.size, limits.blob_bytes, &what)?;
    budget.check_fits(size, &what)?;
    store.blob(&digest, size).await
}

/// Checks each descriptor's advertised size against `limit`, and their sum against what is left
/// of `budget`, so that a listing that cannot be fetched whole is refused before any request.
fn check_total(
    descriptors: &[Descriptor],
    limit: u64,
    budget: &Budget,
    what: &str,
) -> Result<(), RegistryError> {
    let mut total = 0_u64;
    for descriptor in descriptors {
        let item = format!("{what}: {}", descriptor.digest);
        total = total.saturating_add(limits::check_advertised(descriptor.size, limit, &item)?);
    }
    let count = descriptors.len();
    budget.check_fits(
        total,
        &format!("{what} ({count} items, {total} bytes advertised)"),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;
    use crate::registry::manifest::describe;

    /// A store over in-memory maps that records which blobs were requested.
    #[derive(Default)]
    struct Memory {
        attachments: HashMap<String, Vec<u8>>,
        referrers: Vec<Descriptor>,
        manifests: HashMap<String, Vec<u8>>,
        blobs: HashMap<String, Vec<u8>>,
        requested: Mutex<Vec<String>>,
    }

    impl Store for Memory {
        async fn attachment(
            &self,
            digest: &Digest,
            kind: Attachment,
        ) -> Result<Option<Vec<u8>>, RegistryError> {
            Ok(self.attachments.get(&digest.attachment_tag(kind)).cloned())
        }

        async fn referrers(
            &self,
            _digest: &Digest,
        ) -> Result<(Vec<Descriptor>, Discovery), RegistryError> {
            Ok((self.referrers.clone(), Discovery::ReferrersApi))
        }

        async fn manifest(&self, digest: &Digest) -> Result<Vec<u8>, RegistryError> {
            self.manifests
                .get(&digest.to_string())
                .cloned()
                .ok_or_else(|| RegistryError::NotFound(digest.to_string()))
        }

        async fn blob(&self, digest: &Digest, max: u64) -> Result<Vec<u8>, RegistryError> {
            self.requested.lock().unwrap().push(digest.to_string());
            let bytes = self
                .blobs
                .get(&digest.to_string())
                .cloned()
                .ok_or_else(|| RegistryError::NotFound(digest.to_string()))?;
            let budget = roomy();
            let mut capped = limits::Capped::new(max, &budget);
            capped.push(&bytes, "blob")?;
            Ok(capped.into_bytes())
        }
    }

    /// A budget no test here reaches.
    fn roomy() -> Budget {
        Budget::starting_now(std::time::Duration::from_secs(60), u64::MAX)
    }

    fn subject() -> Digest {
        Digest::of(b"image")
    }

    fn sig_manifest(layers: &[Descriptor]) -> Vec<u8> {
        manifest::image_manifest(describe(manifest::OCI_CONFIG, b"{}"), layers).unwrap()
    }

    fn with_sig(layers: &[Descriptor], blobs: &[&[u8]]) -> Memory {
        let mut store = Memory::default();
        store.attachments.insert(
            subject().attachment_tag(Attachment::Signatures),
            sig_manifest(layers),
        );
        for blob in blobs {
            store
                .blobs
                .insert(Digest::of(blob).to_string(), blob.to_vec());
        }
        store
    }

    const ALL: Kinds = Kinds {
        signatures: true,
        attestations: true,
        bundles: true,
    };

    #[tokio::test]
    async fn reads_every_signature_layer_with_its_annotations() {
        let mut first = describe("application/vnd.dev.cosign.simplesigning.v1+json", b"one");
        first.annotations = Some([("k".to_owned(), "v".to_owned())].into());
        let second = describe("application/vnd.dev.cosign.simplesigning.v1+json", b"two");
        let store = with_sig(&[first, second], &[b"one", b"two"]);
        let material = collect(&store, &subject(), ALL, &Limits::default(), &roomy())
            .await
            .unwrap();
        assert_eq!(material.signatures.len(), 2);
        assert_eq!(material.signatures[0].payload, b"one");
        assert_eq!(material.signatures[0].annotations["k"], "v");
        assert_eq!(material.signatures[1].payload, b"two");
        assert!(material.attestations.is_empty());
    }

    #[tokio::test]
    async fn refuses_oversize_layers_before_fetching_them() {
        let big = describe("x", &[0; 64]);
        let store = with_sig(&[big], &[&[0; 64]]);
        let limits = Limits {
            blob_bytes: 63,
            ..Limits::default()
        };
        let result = collect(&store, &subject(), ALL, &limits, &roomy()).await;
        assert!(matches!(result, Err(RegistryError::TooLarge { .. })));
        assert!(store.requested.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn passes_mismatched_layers_on_for_the_verifier_to_reject() {
        let layer = describe("x", b"expected");
        let mut store = with_sig(std::slice::from_ref(&layer), &[]);
        store
            .blobs
            .insert(layer.digest.clone(), b"tampered".to_vec());
        let material = collect(&store, &subject(), ALL, &Limits::default(), &roomy())
            .await
            .unwrap();
        // The descriptor digest is kept, so the verifier sees the mismatch.
        assert_eq!(material.signatures[0].digest, layer.digest);
        assert_eq!(material.signatures[0].payload, b"tampered");
    }

    #[tokio::test]
    async fn refuses_more_layers_than_the_limit() {
        let layers: Vec<_> = (0..3).map(|i| describe("x", &[i])).collect();
        let store = with_sig(&layers, &[&[0], &[1], &[2]]);
        let limits = Limits {
            layers: 2,
            ..Limits::default()
        };
        let result = collect(&store, &subject(), ALL, &limits, &roomy()).await;
        assert!(matches!(result, Err(RegistryError::TooLarge { .. })));
    }

    // Issue 8, item 7: many layers that each pass the per-blob limit are refused as a whole
    // when their advertised total does not fit in the verification's budget, before any blob
    // is requested.
    #[tokio::test]
    async fn refuses_layers_whose_total_passes_the_budget_before_fetching_any() {
        let blobs: Vec<Vec<u8>> = (0..10_u8).map(|i| vec![i; 100]).collect();
        let layers: Vec<_> = blobs.iter().map(|blob| describe("x", blob)).collect();
        let refs: Vec<&[u8]> = blobs.iter().map(Vec::as_slice).collect();
        let store = with_sig(&layers, &refs);
        let budget = Budget::starting_now(std::time::Duration::from_secs(60), 999);
        let result = collect(&store, &subject(), ALL, &Limits::default(), &budget).await;
        assert!(
            matches!(
                result,
                Err(RegistryError::OverBudget {
                    needed: 1000,
                    budget: 999,
                    ..
                })
            ),
            "{result:?}"
        );
        assert!(store.requested.lock().unwrap().is_empty());

        let budget = Budget::starting_now(std::time::Duration::from_secs(60), 1000);
        let material = collect(&store, &subject(), ALL, &Limits::default(), &budget)
            .await
            .unwrap();
        assert_eq!(material.signatures.len(), 10);
    }

    #[tokio::test]
    async fn keeps_only_single_layer_bundle_referrers() {
        let bundle_type = "application/vnd.dev.sigstore.bundle.v0.3+json";
        let bundle_layer = describe(bundle_type, b"bundle");
        let good = sig_manifest(std::slice::from_ref(&bundle_layer));
        let two_layers = sig_manifest(&[bundle_layer.clone(), describe("x", b"y")]);
        let sbom = sig_manifest(&[describe("text/spdx", b"sbom")]);
        let mut store = Memory::default();
        for bytes in [&good, &two_layers, &sbom] {
            // The artifactType the registry reports is deliberately wrong: it is not used.
            let mut entry = describe(OCI_MANIFEST, bytes);
            entry.extra.insert(
                "artifactType".into(),
                "application/vnd.oci.empty.v1+json".into(),
            );
            store.referrers.push(entry);
            store
                .manifests
                .insert(Digest::of(bytes).to_string(), bytes.clone());
        }
        store
            .referrers
            .push(describe(manifest::OCI_INDEX, b"nested"));
        store
            .blobs
            .insert(Digest::of(b"bundle").to_string(), b"bundle".to_vec());

        let material = collect(&store, &subject(), ALL, &Limits::default(), &roomy())
            .await
            .unwrap();
        assert_eq!(material.bundles.len(), 1);
        let found = &material.bundles[0];
        assert_eq!(found.media_type, bundle_type);
        assert_eq!(found.bundle, b"bundle");
    }

    #[tokio::test]
    async fn refuses_referrer_manifests_that_do_not_match_their_digest() {
        let mut store = Memory::default();
        let entry = describe(OCI_MANIFEST, b"claimed");
        store
            .manifests
            .insert(entry.digest.clone(), b"served instead".to_vec());
        store.referrers.push(entry);
        let result = collect(&store, &subject(), ALL, &Limits::default(), &roomy()).await;
        assert!(matches!(result, Err(RegistryError::Invalid(_))));
    }

    #[tokio::test]
    async fn collects_only_the_kinds_asked_for() {
        let store = with_sig(&[describe("x", b"one")], &[b"one"]);
        let none = Kinds {
            signatures: false,
            attestations: false,
            bundles: false,
        };
        let material = collect(&store, &subject(), none, &Limits::default(), &roomy())
            .await
            .unwrap();
        assert!(material.signatures.is_empty());
    }
}
