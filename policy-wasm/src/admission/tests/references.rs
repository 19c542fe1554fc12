//! Issue 8, items 3 and 6: every spelling of a Docker Hub repository meets the policy for it,
//! and references that are not registry references (`oci:` layouts among them) are denied
//! before anything is matched or fetched, whatever `no_match` says.

use super::*;

fn hub_policy() -> ClusterImagePolicy {
    key_policy("official-images", "index.docker.io/library/*", "")
}

fn allow_unmatched() -> Settings {
    Settings {
        no_match: NoMatch::Allow,
        ..settings()
    }
}

#[test]
fn every_spelling_of_a_hub_image_meets_the_hub_policy() {
    let spellings = [
        "nginx",
        "nginx:1.25",
        "docker.io/nginx",
        "docker.io/library/nginx:1.25",
        "index.docker.io/nginx",
        "index.docker.io/library/nginx",
        "registry-1.docker.io/nginx",
        "registry-1.docker.io/library/nginx:1.25",
        "Docker.IO/nginx",
    ];
    for image in spellings {
        for gatekeeper in [false, true] {
            let mut registry = Registry::default();
            let review = if gatekeeper {
                Review::of_images("gk", &[image.to_owned()])
            } else {
                Review::parse(&review_of(&pod(&[("web", image)]))).unwrap()
            };
            let decision = evaluate(review, &[hub_policy()], allow_unmatched(), &mut registry);
            assert!(
                !decision.allowed,
                "{image} escaped the policy: {decision:?}"
            );
            assert!(
                decision
                    .message
                    .contains("policy \"official-images\" failed")
                    && decision.message.contains("no-signatures"),
                "{image}: {}",
                decision.message
            );
            assert_eq!(
                registry.calls.first(),
                Some(&format!("resolve {image}")),
                "{image}"
            );
        }
    }
    // Not Docker Hub's official images: unmatched, so allowed under `--no-match allow`.
    for image in [
        "bitnami/nginx",
        "ghcr.io/library/nginx",
        "docker.io:443/nginx",
    ] {
        let (decision, registry) =
            decide(&pod(&[("web", image)]), &[hub_policy()], allow_unmatched());
        assert!(decision.allowed, "{image}: {decision:?}");
        assert!(registry.calls.is_empty(), "{image}");
    }
}

#[test]
fn references_that_are_not_registry_references_are_denied_unfetched() {
    let digest_layout = format!("oci:/var/lib/kubelet@{DIGEST}");
    let images = [
        "oci:/etc",
        "oci:/var/lib/sigward/layout:v1",
        digest_layout.as_str(),
        "oci:relative/dir",
        "Team/app:v1",
        "registry.test/Team/app",
        "registry.test:99999/team/app",
        "registry.test/team/app:bad tag",
        "registry.test/team/app@sha256:short",
    ];
    let policies = [
        key_policy("everything", "**", ""),
        static_policy("allow-all", "**", "pass"),
    ];
    for image in images {
        for no_match in [NoMatch::Deny, NoMatch::Allow, NoMatch::Warn] {
            for applicable in [&policies[..1], &policies[1..], &policies[..0]] {
                let settings = Settings {
                    no_match,
                    ..settings()
                };
                let (decision, registry) =
                    decide(&pod(&[("app", image)]), applicable, settings.clone());
                let cell = format!("{image} {no_match:?} {} policies", applicable.len());
                assert!(!decision.allowed, "{cell}: {decision:?}");
                assert!(
                    decision.message.contains("not a valid image reference"),
                    "{cell}: {}",
                    decision.message
                );
                assert!(
                    registry.calls.is_empty(),
                    "{cell}: fetched {:?}",
                    registry.calls
                );
                assert!(decision.patch.is_empty(), "{cell}");

                let mut registry = Registry::default();
                let decision = evaluate(
                    Review::of_images("gk", &[image.to_owned()]),
                    applicable,
                    settings,
                    &mut registry,
                );
                let item = &decision.provider_response()["response"]["items"][0];
                assert!(
                    item["error"]
                        .as_str()
                        .is_some_and(|e| e.contains("not a valid image reference")),
                    "{cell}: {item}"
                );
                assert!(registry.calls.is_empty(), "{cell}");
            }
        }
    }
    // The reason for a layout says what to do and nothing about the path beyond what was sent.
    let (decision, _) = decide(&pod(&[("app", "oci:/etc")]), &policies, settings());
    assert!(
        decision
            .message
            .contains("image layouts (oci:…) are read by the sigward CLI only"),
        "{}",
        decision.message
    );
    assert_eq!(
        decision.message.matches("/etc").count(),
        1,
        "{}",
        decision.message
    );
}
