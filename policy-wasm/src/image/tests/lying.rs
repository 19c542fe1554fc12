//! A host that lies (issue 8, item 13). Every answer `fetcher` gives — the manifest bytes and
//! media type, each layer's media type, digest, bytes and annotations, each bundle's, the
//! trust root — is altered in turn so that it no longer describes the signed truth, and the
//! verifier must then deny or fail, never verify. Each row first proves that the honest host's
//! answer verifies, so a row cannot pass by testing nothing.
//!
//! Three honest scenes: a key-signed `.sig` layer for a manifest served in full (the image
//! vectors), a real keyless `.sig` layer with its Rekor SET under the production trust root,
//! and a real Sigstore bundle (conformance `happy-path-v0.3`) attached as a referrer. The last
//! two sign images whose manifests the shared fixtures do not keep, so they start from the
//! digest ([`verify_subject`]); resolution lies are covered by the first.

use serde_json::{Value, json};

use super::*;
use crate::fetch::AttachedBundle;
use crate::manifest::{DOCKER_MANIFEST, OCI_INDEX};
use crate::testdata::{conformance_dir, read};

/// One lie: how an honest answer is altered.
#[derive(Clone, Copy)]
enum Lie {
    Resolve(fn(&mut Manifest)),
    Attached(fn(&mut Material)),
    TrustRoot(fn(&mut Vec<u8>)),
}

/// Answers as `honest` does, except for the one answer `lie` alters (none: the honest host).
struct Liar<F> {
    honest: F,
    lie: Option<Lie>,
}

impl<F: Fetch> Fetch for Liar<F> {
    fn resolve(&mut self, image: &str) -> Result<Manifest, FetchError> {
        let mut manifest = self.honest.resolve(image)?;
        if let Some(Lie::Resolve(lie)) = self.lie {
            lie(&mut manifest);
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
        if let Some(Lie::Attached(lie)) = self.lie {
            lie(&mut material);
        }
        Ok(material)
    }

    fn trusted_root(&mut self, name: &str) -> Result<Vec<u8>, FetchError> {
        let mut root = self.honest.trusted_root(name)?;
        if let Some(Lie::TrustRoot(lie)) = self.lie {
            lie(&mut root);
        }
        Ok(root)
    }
}

/// Verifies with `lie` (or honestly, for `None`); true only for a verified report.
type Scene = fn(Option<Lie>) -> bool;

fn run<F: Fetch>(
    honest: F,
    lie: Option<Lie>,
    verify: impl FnOnce(&mut Liar<F>) -> Result<Report, Error>,
) -> bool {
    verify(&mut Liar { honest, lie }).is_ok_and(|report| report.verified())
}

/// Scene 1: `registry.test/team/app:v1` by tag, signed with `key.pub`.
fn keyed_by_tag(lie: Option<Lie>) -> bool {
    let honest = memory(vec![layer(&data().join("cosign-tagless"))]);
    run(honest, lie, |source| {
        verify_image(&request(&["key.pub"], vec![]), source)
    })
}

/// Scene 1 again, pinned by digest.
fn keyed_by_digest(lie: Option<Lie>) -> bool {
    let honest = memory(vec![layer(&data().join("cosign-tagless"))]);
    let mut request = request(&["key.pub"], vec![]);
    request.image = format!("registry.test/team/app@{}", digest());
    run(honest, lie, |source| verify_image(&request, source))
}

/// Scene 2: a real keyless layer (GitHub Actions, 2022) with its SET, production root.
fn keyless(lie: Option<Lie>) -> bool {
    let (honest, request) = keyless_case(&legacy_keyless().join("distroless-static-gha-2022"));
    run(honest, lie, |source| verify_keyless(&request, source))
}

/// Serves the trust roots and one referrer bundle.
#[derive(Clone)]
struct Referrer(AttachedBundle);

impl Fetch for Referrer {
    fn resolve(&mut self, image: &str) -> Result<Manifest, FetchError> {
        Err(FetchError::NotFound(image.to_owned()))
    }
    fn attached(&mut self, _: &str, _: &str, _: Kinds) -> Result<Material, FetchError> {
        Ok(Material {
            bundles: vec![self.0.clone()],
            ..Material::default()
        })
    }
    fn trusted_root(&mut self, name: &str) -> Result<Vec<u8>, FetchError> {
        Ok(read(
            conformance_dir().join(format!("trust/{name}/trusted_root.json")),
        ))
    }
}

/// Scene 3: conformance `happy-path-v0.3` (a message signature over `a.txt`) as a referrer of
/// the image whose digest is `a.txt`'s, verified keyless with the conformance identity.
fn referrer(lie: Option<Lie>) -> bool {
    let bundle = read(conformance_dir().join("bundle-verify/happy-path-v0.3/bundle.sigstore.json"));
    let honest = Referrer(AttachedBundle {
        media_type: "application/vnd.dev.sigstore.bundle.v0.3+json".to_owned(),
        digest: Digest::of(&bundle).to_string(),
        bundle,
    });
    let digest = Digest::of(&read(conformance_dir().join("bundle-verify/a.txt")));
    let request = keyless_request(
        format!("registry.test/team/app@{digest}"),
        Matcher::Exact("https://token.actions.githubusercontent.com".to_owned()),
        Matcher::Exact("https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main".to_owned()),
    );
    let subject = Subject::assumed(&digest.to_string(), Some("registry.test/team/app"));
    run(honest, lie, |source| {
        verify_subject(&request, &subject, source)
    })
}

fn first_layer(material: &mut Material) -> &mut Layer {
    material.signatures.first_mut().unwrap()
}

fn first_bundle(material: &mut Material) -> &mut AttachedBundle {
    material.bundles.first_mut().unwrap()
}

/// Another case's layer in place of the honest one.
fn swap_layer(material: &mut Material, case: &str) {
    *first_layer(material) = layer(&data().join(case));
}

/// Rewrites a JSON document.
fn edit_json(bytes: &mut Vec<u8>, edit: impl FnOnce(&mut Value)) {
    let mut value: Value = serde_json::from_slice(bytes).unwrap();
    edit(&mut value);
    *bytes = serde_json::to_vec(&value).unwrap();
}

/// Rewrites a keyless layer's annotation.
fn edit_annotation(material: &mut Material, key: &str, edit: impl FnOnce(&mut String)) {
    edit(first_layer(material).annotations.get_mut(key).unwrap());
}

/// Rewrites the bundle JSON and fixes up its descriptor digest, as a careful liar would.
fn edit_bundle(material: &mut Material, edit: impl FnOnce(&mut Value)) {
    let bundle = first_bundle(material);
    edit_json(&mut bundle.bundle, edit);
    bundle.digest = Digest::of(&bundle.bundle).to_string();
}

fn staging(root: &mut Vec<u8>) {
    *root = read(conformance_dir().join("trust/staging/trusted_root.json"));
}

#[test]
fn a_lying_host_never_makes_an_image_verify() {
    use Lie::{Attached, Resolve, TrustRoot};
    let rows: &[(&str, &[Scene], Lie)] = &[
        // The manifest: bytes, media type, size.
        (
            "another manifest",
            &[keyed_by_tag, keyed_by_digest],
            Resolve(|m| {
                edit_json(&mut m.bytes, |v| v["annotations"] = json!({"x": "y"}));
            }),
        ),
        (
            "one byte flipped",
            &[keyed_by_tag, keyed_by_digest],
            Resolve(|m| m.bytes[10] ^= 1),
        ),
        (
            "served as an index",
            &[keyed_by_tag, keyed_by_digest],
            Resolve(|m| m.media_type = OCI_INDEX.to_owned()),
        ),
        (
            "served as a Docker manifest",
            &[keyed_by_tag, keyed_by_digest],
            Resolve(|m| m.media_type = DOCKER_MANIFEST.to_owned()),
        ),
        (
            "served as a signature",
            &[keyed_by_tag, keyed_by_digest],
            Resolve(|m| {
                m.media_type = crate::simple_signing::MEDIA_TYPE.to_owned();
            }),
        ),
        (
            "a signature payload as the manifest",
            &[keyed_by_tag, keyed_by_digest],
            Resolve(|m| {
                m.bytes = read(data().join("cosign-tagless/payload"));
            }),
        ),
        (
            "empty",
            &[keyed_by_tag, keyed_by_digest],
            Resolve(|m| m.bytes.clear()),
        ),
        (
            "schema 1",
            &[keyed_by_tag, keyed_by_digest],
            Resolve(|m| {
                edit_json(&mut m.bytes, |v| v["schemaVersion"] = json!(1));
            }),
        ),
        (
            "5 MiB",
            &[keyed_by_tag, keyed_by_digest],
            Resolve(|m| {
                let mut big = br#"{"schemaVersion":2,"x":""#.to_vec();
                big.resize(5 << 20, b'a');
                big.extend_from_slice(b"\"}");
                m.bytes = big;
            }),
        ),
        // `.sig` layers: descriptor, bytes, media type, annotations, provenance.
        (
            "layer digest of other bytes",
            &[keyed_by_tag, keyless],
            Attached(|m| {
                first_layer(m).digest = Digest::of(b"other").to_string();
            }),
        ),
        (
            "payload altered, digest fixed up",
            &[keyed_by_tag, keyless],
            Attached(|m| {
                let layer = first_layer(m);
                layer.payload.push(b' ');
                layer.digest = Digest::of(&layer.payload).to_string();
            }),
        ),
        (
            "layer served as DSSE",
            &[keyed_by_tag, keyless],
            Attached(|m| {
                first_layer(m).media_type = crate::dsse::ENVELOPE_MEDIA_TYPE.to_owned();
            }),
        ),
        (
            "layer of another image",
            &[keyed_by_tag],
            Attached(|m| swap_layer(m, "other-image_fail")),
        ),
        (
            "layer of another repository",
            &[keyed_by_tag],
            Attached(|m| swap_layer(m, "other-repository_fail")),
        ),
        (
            "signature of another payload",
            &[keyed_by_tag],
            Attached(|m| {
                let other = layer(&data().join("skopeo-tagged"));
                first_layer(m).annotations = other.annotations;
            }),
        ),
        (
            "signature removed",
            &[keyed_by_tag, keyless],
            Attached(|m| {
                first_layer(m).annotations.remove(SIGNATURE_ANNOTATION);
            }),
        ),
        (
            "signatures listed as attestations",
            &[keyed_by_tag, keyless],
            Attached(|m| {
                m.attestations = std::mem::take(&mut m.signatures);
            }),
        ),
        (
            "certificate of another signer",
            &[keyless],
            Attached(|m| {
                let (_, other) = legacy_keyless_case(&legacy_keyless().join("cloudbuild-sa-2022"));
                let cert = other.annotations[CERTIFICATE_ANNOTATION].clone();
                edit_annotation(m, CERTIFICATE_ANNOTATION, |c| *c = cert);
            }),
        ),
        (
            "Rekor bundle of another entry",
            &[keyless],
            Attached(|m| {
                let (_, other) = legacy_keyless_case(&legacy_keyless().join("cloudbuild-sa-2022"));
                let set = other.annotations[REKOR_BUNDLE_ANNOTATION].clone();
                edit_annotation(m, REKOR_BUNDLE_ANNOTATION, |b| *b = set);
            }),
        ),
        (
            "Rekor bundle's integrated time moved",
            &[keyless],
            Attached(|m| {
                edit_annotation(m, REKOR_BUNDLE_ANNOTATION, |b| {
                    let mut set: Value = serde_json::from_str(b).unwrap();
                    set["Payload"]["integratedTime"] = json!(1_659_000_000);
                    *b = set.to_string();
                });
            }),
        ),
        // Referrer bundles.
        (
            "bundle digest of other bytes",
            &[referrer],
            Attached(|m| {
                first_bundle(m).digest = Digest::of(b"other").to_string();
            }),
        ),
        (
            "bundle served as v0.1",
            &[referrer],
            Attached(|m| {
                first_bundle(m).media_type =
                    "application/vnd.dev.sigstore.bundle+json;version=0.1".to_owned();
            }),
        ),
        (
            "bundle served as a signature layer",
            &[referrer],
            Attached(|m| {
                first_bundle(m).media_type = crate::simple_signing::MEDIA_TYPE.to_owned();
            }),
        ),
        (
            "bundle signature altered",
            &[referrer],
            Attached(|m| {
                edit_bundle(m, |b| {
                    let signature = b["messageSignature"]["signature"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    b["messageSignature"]["signature"] = json!(signature.replacen('A', "B", 1));
                });
            }),
        ),
        (
            "bundle log entry of another index",
            &[referrer],
            Attached(|m| {
                edit_bundle(m, |b| {
                    b["verificationMaterial"]["tlogEntries"][0]["logIndex"] = json!("1")
                });
            }),
        ),
        // The trust root.
        (
            "staging served as production",
            &[keyless, referrer],
            TrustRoot(staging),
        ),
        (
            "no certificate authorities",
            &[keyless, referrer],
            TrustRoot(|r| {
                edit_json(r, |v| v["certificateAuthorities"] = json!([]));
            }),
        ),
        (
            "no transparency logs",
            &[keyless, referrer],
            TrustRoot(|r| {
                edit_json(r, |v| v["tlogs"] = json!([]));
            }),
        ),
        (
            "no CT logs",
            &[keyless, referrer],
            TrustRoot(|r| {
                edit_json(r, |v| v["ctlogs"] = json!([]));
            }),
        ),
        (
            "truncated",
            &[keyless, referrer],
            TrustRoot(|r| r.truncate(r.len() / 2)),
        ),
    ];
    let mut checked = 0;
    for (name, scenes, lie) in rows {
        for scene in *scenes {
            assert!(scene(None), "{name}: the honest host must verify");
            assert!(!scene(Some(*lie)), "{name}: a lie verified");
            checked += 1;
        }
    }
    assert!(checked >= 45, "{checked} rows");
}

/// What the verifier answers to the resolution lies: the pinned digest is checked, the media
/// type must agree with the bytes, and what is not a manifest is refused before any
/// signature is looked at.
#[test]
fn resolution_lies_are_errors_with_reasons() {
    let pinned = format!("registry.test/team/app@{}", digest());
    let cases: [(&str, Lie, Reason); 4] = [
        (
            &pinned,
            Lie::Resolve(|m| m.bytes[10] ^= 1),
            Reason::FetchInvalid,
        ),
        (
            IMAGE,
            Lie::Resolve(|m| m.media_type = OCI_INDEX.to_owned()),
            Reason::FetchInvalid,
        ),
        (
            IMAGE,
            Lie::Resolve(|m| m.bytes.clear()),
            Reason::FetchInvalid,
        ),
        (
            IMAGE,
            Lie::Resolve(|m| m.bytes.resize(5 << 20, b' ')),
            Reason::FetchTooLarge,
        ),
    ];
    for (image, lie, reason) in cases {
        let mut request = request(&["key.pub"], vec![]);
        request.image = image.to_owned();
        let mut liar = Liar {
            honest: memory(vec![layer(&data().join("cosign-tagless"))]),
            lie: Some(lie),
        };
        let err = verify_image(&request, &mut liar).unwrap_err();
        assert_eq!(err.reason(), reason, "{image}: {err}");
        assert!(
            liar.honest.calls.iter().all(|c| c.starts_with("resolve")),
            "{image}: looked for signatures of an unidentified image: {:?}",
            liar.honest.calls
        );
    }
    // Another manifest for a tag is another image: its digest is what gets verified (and
    // no signature names it).
    let mut liar = Liar {
        honest: memory(vec![layer(&data().join("cosign-tagless"))]),
        lie: Some(Lie::Resolve(|m| {
            edit_json(&mut m.bytes, |v| v["annotations"] = json!({"x": "y"}));
        })),
    };
    let report = verify_image(&request(&["key.pub"], vec![]), &mut liar).unwrap();
    assert_eq!(report.reason(), Some(Reason::ManifestDigestMismatch));
    assert_ne!(report.digest, digest());
}

#[test]
fn a_reference_the_guest_cannot_read_is_refused_before_asking_the_host() {
    for image in [
        "",
        "UPPER/app:v1",
        "registry.test/app@sha256:../../x",
        "oci:dir@sha512:00",
    ] {
        let mut source = memory(vec![]);
        let err = resolve(image, &mut source).unwrap_err();
        assert_eq!(err.reason(), Reason::InvalidRequest, "{image:?}: {err}");
        assert!(source.calls.is_empty(), "{image:?}");
    }
}
