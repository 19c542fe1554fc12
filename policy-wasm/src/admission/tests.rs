use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use serde_json::{Value, json};

use super::*;
use crate::fetch::{FetchError, Kinds, Layer, Manifest, Material};

const SIGNED: &str = "registry.test/team/app:v1";
const UNSIGNED: &str = "registry.test/team/unsigned:v1";
/// The digest of the image vectors' manifest (`tests/data/image/manifest.json`).
const DIGEST: &str = "sha256:f20c43161d73848408ef247f0ec7111b19fe58ffebc0cbcaa0d2c8bda4967268";

#[test]
fn the_vectors_sign_this_digest() {
    assert_eq!(
        crate::testdata::image_manifest().digest().to_string(),
        DIGEST
    );
}

mod matrix;
mod objects;
mod references;

use crate::testdata::{image_vectors as data, legacy_keyless, legacy_keyless_case, sig_layer};

fn read(path: &Path) -> String {
    crate::testdata::read_text(path)
}

/// Two repositories: `team/app` signed by `key.pub` (a real cosign signature of [`DIGEST`]),
/// `team/unsigned` with nothing attached. Records every call.
#[derive(Default)]
struct Registry {
    calls: Vec<String>,
}

impl Fetch for Registry {
    fn resolve(&mut self, image: &str) -> Result<Manifest, FetchError> {
        self.calls.push(format!("resolve {image}"));
        if image.contains("missing") {
            return Err(FetchError::NotFound(format!("{image}: no such tag")));
        }
        Ok(crate::testdata::image_manifest())
    }

    fn attached(&mut self, image: &str, digest: &str, _: Kinds) -> Result<Material, FetchError> {
        self.calls.push(format!("attached {image}"));
        let mut material = Material::default();
        if image.contains("team/app") && digest == DIGEST {
            material
                .signatures
                .push(sig_layer(&data().join("cosign-tagless")));
        }
        Ok(material)
    }

    fn trusted_root(&mut self, name: &str) -> Result<Vec<u8>, FetchError> {
        Err(FetchError::NotFound(name.to_owned()))
    }
}

fn key_policy(name: &str, glob: &str, extra: &str) -> ClusterImagePolicy {
    let key = read(&data().join("key.pub")).replace('\n', "\n          ");
    ClusterImagePolicy::parse(&format!(
        "apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: {name}
spec:
  images:
  - glob: \"{glob}\"
  authorities:
  - name: team-key
    key:
      data: |
          {key}
{extra}"
    ))
    .unwrap()
}

fn static_policy(name: &str, glob: &str, action: &str) -> ClusterImagePolicy {
    ClusterImagePolicy::parse(&format!(
        "apiVersion: policy.sigstore.dev/v1alpha1
kind: ClusterImagePolicy
metadata: {{name: {name}}}
spec:
  images: [{{glob: \"{glob}\"}}]
  authorities: [{{name: fixed, static: {{action: {action}, message: listed}}}}]"
    ))
    .unwrap()
}

fn settings() -> Settings {
    Settings {
        no_match: NoMatch::Deny,
        tags: TagHandling::VerifyResolved,
        trusted_root: "production".to_owned(),
        at: 1_700_000_000,
    }
}

fn pod(containers: &[(&str, &str)]) -> Value {
    let list: Vec<Value> = containers
        .iter()
        .map(|(name, image)| json!({"name": name, "image": image}))
        .collect();
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"},
           "spec": {"containers": list}})
}

fn review_of(object: &Value) -> Vec<u8> {
    let kind = object["kind"].as_str().unwrap();
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u-1", "kind": {"group": "", "version": "v1", "kind": kind},
                    "operation": "CREATE", "namespace": "ns", "object": object}
    }))
    .unwrap()
}

fn decide(
    object: &Value,
    policies: &[ClusterImagePolicy],
    settings: Settings,
) -> (Decision, Registry) {
    let mut registry = Registry::default();
    let review = Review::parse(&review_of(object)).unwrap();
    (
        evaluate(review, policies, settings, &mut registry),
        registry,
    )
}

#[test]
fn signed_deployment_is_allowed_and_each_tag_is_pinned() {
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"template": {"metadata": {}, "spec": {
            "initContainers": [{"name": "init", "image": SIGNED}],
            "containers": [{"name": "app", "image": SIGNED}, {"name": "side", "image": SIGNED}]}}}
    });
    let (decision, registry) = decide(
        &deployment,
        &[key_policy("signed", "registry.test/**", "")],
        settings(),
    );
    assert!(decision.allowed, "{decision:?}");
    assert_eq!(decision.uid, "u-1");
    let resolved = format!("resolve {SIGNED}");
    assert_eq!(registry.calls.iter().filter(|c| **c == resolved).count(), 1);
    assert_eq!(
        registry
            .calls
            .iter()
            .filter(|c| c.starts_with("attached"))
            .count(),
        1
    );
    let paths: Vec<&str> = decision.patch.iter().map(|op| op.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/spec/template/spec/initContainers/0/image",
            "/spec/template/spec/containers/0/image",
            "/spec/template/spec/containers/1/image"
        ]
    );
    assert!(
        decision
            .patch
            .iter()
            .all(|op| op.value == format!("{SIGNED}@{DIGEST}"))
    );
    assert_eq!(decision.warnings.len(), 3);
    assert!(
        decision.warnings[0].contains("not pinned"),
        "{:?}",
        decision.warnings
    );

    let response = decision.review_response(true);
    assert_eq!(response["response"]["uid"], "u-1");
    assert_eq!(response["response"]["patchType"], "JSONPatch");
    let patch = base64::engine::general_purpose::STANDARD
        .decode(response["response"]["patch"].as_str().unwrap())
        .unwrap();
    let patch: Value = serde_json::from_slice(&patch).unwrap();
    assert_eq!(patch[1]["op"], "replace");
    assert_eq!(patch[1]["path"], "/spec/template/spec/containers/0/image");
    // Validation does not patch.
    assert!(
        decision.review_response(false)["response"]
            .get("patch")
            .is_none()
    );
}

#[test]
fn eight_containers_sharing_an_image_verify_once() {
    let containers: Vec<(String, &str)> = (0..8).map(|i| (format!("c{i}"), SIGNED)).collect();
    let refs: Vec<(&str, &str)> = containers.iter().map(|(n, i)| (n.as_str(), *i)).collect();
    let policy = key_policy("signed", "registry.test/**", "");
    let review = Review::parse(&review_of(&pod(&refs))).unwrap();
    let plan = Plan::new(review, &[policy], settings());
    assert_eq!(plan.tags_to_resolve(), [SIGNED]);
    let resolutions = BTreeMap::from([(SIGNED.to_owned(), Ok(DIGEST.to_owned()))]);
    assert_eq!(plan.verifications(&resolutions).len(), 1);
}

#[test]
fn unsigned_image_is_denied_naming_container_image_policy_authority_and_check() {
    let (decision, _) = decide(
        &pod(&[("app", SIGNED), ("web", UNSIGNED)]),
        &[key_policy("signed", "registry.test/**", "")],
        settings(),
    );
    assert!(!decision.allowed);
    let message = &decision.message;
    for part in [
        "container \"web\"",
        UNSIGNED,
        "policy \"signed\"",
        "authority \"team-key\"",
        "signature: no-signatures",
    ] {
        assert!(message.contains(part), "{part} missing in {message}");
    }
    assert!(!message.contains("\"app\""), "{message}");
    let response = decision.review_response(true);
    assert_eq!(response["response"]["allowed"], false);
    assert_eq!(response["response"]["status"]["code"], 403);
    assert!(response["response"].get("patch").is_none());
}

#[test]
fn warn_mode_allows_with_a_warning() {
    let policy = key_policy("signed", "registry.test/**", "  mode: warn\n");
    let (decision, _) = decide(&pod(&[("web", UNSIGNED)]), &[policy], settings());
    assert!(decision.allowed);
    assert!(
        decision
            .warnings
            .iter()
            .any(|w| w.contains("no-signatures") && w.contains("mode: warn")),
        "{:?}",
        decision.warnings
    );
    assert!(decision.patch.is_empty());
}

#[test]
fn no_match_behaviour_is_configurable() {
    let policies = [key_policy("signed", "other.test/**", "")];
    for (no_match, allowed, warned) in [
        (NoMatch::Deny, false, false),
        (NoMatch::Allow, true, false),
        (NoMatch::Warn, true, true),
    ] {
        let (decision, registry) = decide(
            &pod(&[("app", SIGNED)]),
            &policies,
            Settings {
                no_match,
                ..settings()
            },
        );
        assert_eq!(decision.allowed, allowed, "{no_match:?}");
        assert_eq!(!decision.warnings.is_empty(), warned, "{no_match:?}");
        assert!(
            registry.calls.is_empty(),
            "unmatched images are not fetched"
        );
        if !allowed {
            assert!(decision.message.contains("no ClusterImagePolicy matches"));
        }
    }
}

#[test]
fn require_digest_denies_tags_and_verifies_digests_without_resolving() {
    let policies = [key_policy("signed", "registry.test/**", "")];
    let settings = Settings {
        tags: TagHandling::RequireDigest,
        ..settings()
    };
    let (decision, registry) = decide(&pod(&[("app", SIGNED)]), &policies, settings.clone());
    assert!(!decision.allowed);
    assert!(
        decision.message.contains("not pinned by digest"),
        "{}",
        decision.message
    );
    assert!(registry.calls.is_empty());

    let pinned = format!("registry.test/team/app@{DIGEST}");
    let (decision, registry) = decide(&pod(&[("app", &pinned)]), &policies, settings);
    assert!(decision.allowed, "{decision:?}");
    assert!(decision.warnings.is_empty());
    assert!(decision.patch.is_empty());
    assert!(
        !registry
            .calls
            .iter()
            .any(|c| c == &format!("resolve {SIGNED}"))
    );
    assert_eq!(decision.images[0].verified_digest.as_deref(), Some(DIGEST));
}

#[test]
fn every_matching_policy_must_pass_and_any_authority_suffices() {
    let allow = static_policy("allow-all", "registry.test/**", "pass");
    let deny = static_policy("deny-all", "registry.test/team/**", "fail");
    let signed = key_policy("signed", "registry.test/**", "");
    let (decision, _) = decide(
        &pod(&[("app", SIGNED)]),
        &[allow.clone(), signed.clone()],
        settings(),
    );
    assert!(decision.allowed);
    let (decision, _) = decide(&pod(&[("app", SIGNED)]), &[allow, deny, signed], settings());
    assert!(!decision.allowed);
    assert!(
        decision
            .message
            .contains("policy \"deny-all\" failed: authority \"fixed\": static: fail (listed)"),
        "{}",
        decision.message
    );
    // OR within one policy: a failing static authority next to a passing key authority.
    let either = key_policy(
        "either",
        "registry.test/**",
        "  - name: never\n    static: {action: fail}\n",
    );
    let (decision, _) = decide(&pod(&[("app", SIGNED)]), &[either], settings());
    assert!(decision.allowed, "{decision:?}");
}

#[test]
fn unresolvable_tags_fail_closed() {
    let (decision, _) = decide(
        &pod(&[("app", "registry.test/team/missing:v1")]),
        &[key_policy("signed", "registry.test/**", "")],
        settings(),
    );
    assert!(!decision.allowed);
    assert!(
        decision.message.contains("could not be resolved"),
        "{}",
        decision.message
    );
}

#[test]
fn kinds_lists_and_selectors() {
    let cron = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c", "labels": {"tier": "batch"}},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "job", "image": SIGNED}]}}}}}});
    let review = Review::parse(&review_of(&cron)).unwrap();
    assert_eq!(
        review.sites[0].pointer,
        "/spec/jobTemplate/spec/template/spec/containers/0/image"
    );
    assert_eq!(review.resource.resource, "cronjobs");

    let ephemeral = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "a", "image": SIGNED}], "ephemeralContainers": [{"name": "debug", "image": UNSIGNED}]}});
    let review = Review::parse(&review_of(&ephemeral)).unwrap();
    assert_eq!(review.sites[1].list, ContainerList::EphemeralContainers);
    assert_eq!(review.sites[1].pointer, "/spec/ephemeralContainers/0/image");

    // A policy restricted to deployments does not apply to a CronJob.
    let restricted = key_policy(
        "deployments-only",
        "registry.test/**",
        "  match:\n  - resource: deployments\n",
    );
    let (decision, registry) = decide(
        &cron,
        std::slice::from_ref(&restricted),
        Settings {
            no_match: NoMatch::Allow,
            ..settings()
        },
    );
    assert!(decision.allowed && registry.calls.is_empty());
    let labelled = key_policy(
        "batch-tier",
        "registry.test/**",
        "  match:\n  - resource: cronjobs\n    selector: {matchLabels: {tier: batch}}\n",
    );
    let (decision, registry) = decide(
        &cron,
        &[labelled],
        Settings {
            no_match: NoMatch::Allow,
            ..settings()
        },
    );
    assert!(decision.allowed && !registry.calls.is_empty());
}

#[test]
fn bad_reviews_are_errors() {
    assert!(matches!(
        Review::parse(b"not json"),
        Err(AdmissionError::Json(_))
    ));
    assert!(matches!(
        Review::parse(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#),
        Err(AdmissionError::NotAReview(_))
    ));
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}});
    match Review::parse(&review_of(&secret)) {
        Err(AdmissionError::Object { uid, message }) => {
            assert_eq!(uid, "u-1");
            assert!(
                message.contains("\"Secret\" is not a workload"),
                "{message}"
            );
            assert_eq!(review_error(&uid, &message)["response"]["allowed"], false);
        }
        other => panic!("{other:?}"),
    }
    let no_image =
        json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "a"}]}});
    assert!(matches!(
        Review::parse(&review_of(&no_image)),
        Err(AdmissionError::Object { .. })
    ));
}

#[test]
fn unsupported_parts_fail_closed() {
    let kms = ClusterImagePolicy::parse(
        "apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: kms}
spec:
  images: [{glob: \"registry.test/**\"}]
  authorities: [{name: cloud, key: {kms: \"awskms:///alias/cosign\"}}]",
    )
    .unwrap();
    let (decision, _) = decide(&pod(&[("app", SIGNED)]), &[kms], settings());
    assert!(!decision.allowed);
    assert!(
        decision.message.contains("KMS keys are not resolved"),
        "{}",
        decision.message
    );
}

#[test]
fn container_identity_annotations_need_a_keyless_signer() {
    let mut policy = key_policy("signed", "registry.test/**", "");
    policy.annotations.insert(
        crate::policy::CONTAINER_IDENTITY_ANNOTATION.to_owned(),
        "true".to_owned(),
    );
    let mut object = pod(&[("app", SIGNED)]);
    let (decision, _) = decide(&object, std::slice::from_ref(&policy), settings());
    assert!(decision.allowed, "no annotation, no extra requirement");
    object["metadata"]["annotations"] =
        json!({"subject.cosign.sigstore.dev/app": "someone@example.com"});
    let (decision, _) = decide(&object, &[policy], settings());
    assert!(!decision.allowed);
    assert!(
        decision.message.contains("identity-mismatch"),
        "{}",
        decision.message
    );
}

#[test]
fn gatekeeper_keys_become_items() {
    let body = br#"{"apiVersion":"externaldata.gatekeeper.sh/v1beta1","kind":"ProviderRequest","request":{"keys":["registry.test/team/app:v1","registry.test/team/unsigned:v1"]}}"#;
    let keys = provider_keys(body).unwrap();
    let mut registry = Registry::default();
    let decision = evaluate(
        Review::of_images("gk", &keys),
        &[key_policy("signed", "registry.test/**", "")],
        settings(),
        &mut registry,
    );
    let response = decision.provider_response();
    assert_eq!(response["kind"], "ProviderResponse");
    let items = response["response"]["items"].as_array().unwrap();
    assert_eq!(items[0]["key"], SIGNED);
    assert_eq!(items[0]["value"], DIGEST);
    assert!(items[0].get("error").is_none());
    assert_eq!(items[1]["key"], UNSIGNED);
    assert!(
        items[1]["error"]
            .as_str()
            .unwrap()
            .contains("no-signatures")
    );
    assert!(provider_keys(b"{}").is_err());
    assert!(provider_keys(br#"{"kind":"ProviderRequest","request":{"keys":[1]}}"#).is_err());
}

#[test]
fn reference_helpers() {
    assert_eq!(pinned_digest(&format!("a/b@{DIGEST}")), Some(DIGEST));
    assert_eq!(pinned_digest("a/b:v1"), None);
    assert_eq!(pinned_digest("a/b@sha256:abc"), None);
}

/// Serves the real keyless `.sig` layer of `../shared/fixtures/legacy-keyless/<case>` for the
/// image it signs, and the production trust root.
struct Keyless {
    image: String,
    layer: Layer,
}

impl Keyless {
    fn new(case: &str) -> Self {
        let (image, layer) = legacy_keyless_case(&legacy_keyless().join(case));
        Self { image, layer }
    }
}

impl Fetch for Keyless {
    fn resolve(&mut self, image: &str) -> Result<Manifest, FetchError> {
        // The fixtures keep the signature, not the image: see `evaluate_pinned`.
        Err(FetchError::NotFound(image.to_owned()))
    }

    fn attached(&mut self, _: &str, _: &str, _: Kinds) -> Result<Material, FetchError> {
        Ok(Material {
            signatures: vec![self.layer.clone()],
            ..Material::default()
        })
    }

    fn trusted_root(&mut self, name: &str) -> Result<Vec<u8>, FetchError> {
        Ok(crate::testdata::read(
            crate::testdata::conformance_dir().join(format!("trust/{name}/trusted_root.json")),
        ))
    }
}

/// [`evaluate`] over images named by digest, each taken to be the digest it pins: the keyless
/// fixtures keep signatures, not the images' manifests, so there are no bytes to hash.
fn evaluate_pinned(
    review: Review,
    policies: &[ClusterImagePolicy],
    settings: Settings,
    source: &mut Keyless,
) -> Decision {
    evaluate_with(review, policies, settings, source, |request, source| {
        let (repository, digest) = request.image.split_once('@').unwrap();
        let repository = crate::reference::repository(repository);
        let subject = crate::image::Subject::assumed(digest, repository.as_deref());
        crate::image::verify_subject(request, &subject, source)
    })
}

#[test]
fn keyless_policy_with_per_container_identities_from_pod_annotations() {
    const WORKFLOW: &str = "https://github.com/salrashid123/go-bazel-github-workflow/.github/workflows/release.yaml@refs/tags/v0.0.30";
    let mut source = Keyless::new("server-image-gha-2026");
    let policy = ClusterImagePolicy::parse(
        r#"apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: github-releases
  annotations: {sigward.dev/container-identity-annotations: "true"}
spec:
  images: [{glob: "index.docker.io/salrashid123/**"}]
  authorities:
  - name: release-workflow
    keyless:
      identities:
      - issuer: https://token.actions.githubusercontent.com
        subjectRegExp: ^https://github\.com/salrashid123/.+/\.github/workflows/release\.yaml@refs/tags/v.+$
"#,
    )
    .unwrap();
    let settings = Settings {
        at: 1_790_000_000,
        ..settings()
    };
    let decide = |annotations: Value, source: &mut Keyless| {
        let mut object = pod(&[("server", source.image.as_str())]);
        object["metadata"]["annotations"] = annotations;
        let review = Review::parse(&review_of(&object)).unwrap();
        evaluate_pinned(
            review,
            std::slice::from_ref(&policy),
            settings.clone(),
            source,
        )
    };
    let decision = decide(json!({}), &mut source);
    assert!(decision.allowed, "{decision:?}");
    assert!(
        decision.explanation[0].contains("release-workflow"),
        "{:?}",
        decision.explanation
    );

    let decision = decide(
        json!({"subject.cosign.sigstore.dev/server": WORKFLOW,
               "issuer.cosign.sigstore.dev/server": "https://token.actions.githubusercontent.com"}),
        &mut source,
    );
    assert!(decision.allowed, "{decision:?}");

    // The annotation narrows the policy: another tag's workflow identity is refused although
    // the policy's regexp alone would take it.
    let decision = decide(
        json!({"subject.cosign.sigstore.dev/server": WORKFLOW.replace("v0.0.30", "v0.0.31")}),
        &mut source,
    );
    assert!(!decision.allowed);
    assert!(
        decision.message.contains("identity-mismatch"),
        "{}",
        decision.message
    );

    // Annotations for another container change nothing.
    let decision = decide(
        json!({"subject.cosign.sigstore.dev/other": "x"}),
        &mut source,
    );
    assert!(decision.allowed);
}

#[test]
fn image_volumes_are_checked_and_status_updates_are_not() {
    let mut object = pod(&[("app", SIGNED)]);
    object["spec"]["volumes"] = json!([
        {"name": "data", "emptyDir": {}},
        {"name": "models", "image": {"reference": UNSIGNED, "pullPolicy": "IfNotPresent"}}
    ]);
    let (decision, _) = decide(
        &object,
        &[key_policy("signed", "registry.test/**", "")],
        settings(),
    );
    assert!(!decision.allowed);
    assert!(
        decision.message.contains("image volume \"models\""),
        "{}",
        decision.message
    );
    let review = Review::parse(&review_of(&object)).unwrap();
    assert_eq!(review.sites[1].pointer, "/spec/volumes/1/image/reference");

    let mut status = serde_json::from_slice::<Value>(&review_of(&object)).unwrap();
    status["request"]["subResource"] = json!("status");
    status["request"]["operation"] = json!("UPDATE");
    let review = Review::parse(&serde_json::to_vec(&status).unwrap()).unwrap();
    assert!(review.sites.is_empty(), "a status update changes no image");
}

#[test]
fn a_key_authority_with_ctlog_uses_its_trust_root_for_the_log() {
    let policy = key_policy(
        "logged",
        "registry.test/**",
        "    ctlog: {trustRootRef: private}\n",
    );
    let pinned = format!("registry.test/team/app@{DIGEST}");
    let review = Review::parse(&review_of(&pod(&[("app", &pinned)]))).unwrap();
    let plan = Plan::new(review, &[policy], settings());
    let requests = plan.verifications(&BTreeMap::new());
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].trusted_root, "private");
    assert_eq!(requests[0].tlog, crate::image::TlogPolicy::Require);
}
