//! Issue 8, item 2: a failing `mode: warn` policy disabled pinning. The whole matrix
//! {enforce pass/fail} × {warn pass/fail/none} × {tag, digest} × {validate, validate with
//! digests required, mutate, gatekeeper}: pin whenever every enforcing policy passed, and warn
//! policies only ever add warnings.

use super::*;

/// A key policy over `registry.test/**` that trusts `key_file`; `other.pub` did not sign.
fn policy(name: &str, key_file: &str, mode: &str) -> ClusterImagePolicy {
    let key = read(&data().join(key_file)).replace('\n', "\n          ");
    ClusterImagePolicy::parse(&format!(
        "apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: {name}
spec:
  mode: {mode}
  images:
  - glob: \"registry.test/**\"
  authorities:
  - name: {name}-key
    key:
      data: |
          {key}
"
    ))
    .unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Warn {
    Pass,
    Fail,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Endpoint {
    Validate,
    ValidateRequireDigest,
    Mutate,
    Gatekeeper,
}

/// What one cell of the matrix answered.
#[derive(Debug)]
struct Answer {
    allowed: bool,
    patch: Option<Vec<Value>>,
    warnings: Vec<String>,
    /// Gatekeeper's `value` (the verified digest) and `error`.
    item: Option<(String, Option<String>)>,
}

fn answer(enforce_passes: bool, warn: Warn, image: &str, endpoint: Endpoint) -> Answer {
    let mut policies = vec![policy(
        "enforced",
        if enforce_passes {
            "key.pub"
        } else {
            "other.pub"
        },
        "enforce",
    )];
    match warn {
        Warn::Pass => policies.push(policy("advisory", "key.pub", "warn")),
        Warn::Fail => policies.push(policy("advisory", "other.pub", "warn")),
        Warn::None => {}
    }
    // The deployment in host/deploy passes `--require-digest`: `/validate` then requires
    // digests, and `/mutate` answers with [`Settings::for_mutation`].
    let settings = Settings {
        tags: match endpoint {
            Endpoint::ValidateRequireDigest | Endpoint::Mutate => TagHandling::RequireDigest,
            Endpoint::Validate | Endpoint::Gatekeeper => TagHandling::VerifyResolved,
        },
        ..settings()
    };
    let settings = if endpoint == Endpoint::Mutate {
        settings.for_mutation()
    } else {
        settings
    };
    let mut registry = Registry::default();
    if endpoint == Endpoint::Gatekeeper {
        let decision = evaluate(
            Review::of_images("gk", &[image.to_owned()]),
            &policies,
            settings,
            &mut registry,
        );
        let response = decision.provider_response();
        let item = &response["response"]["items"][0];
        assert_eq!(item["key"], image);
        return Answer {
            allowed: item.get("error").is_none(),
            patch: None,
            warnings: decision.warnings,
            item: Some((
                item["value"].as_str().unwrap().to_owned(),
                item.get("error").map(|e| e.as_str().unwrap().to_owned()),
            )),
        };
    }
    let review = Review::parse(&review_of(&pod(&[("app", image)]))).unwrap();
    let decision = evaluate(review, &policies, settings, &mut registry);
    let response = &decision.review_response(endpoint == Endpoint::Mutate)["response"];
    assert_eq!(response["allowed"], decision.allowed);
    let patch = response.get("patch").map(|patch| {
        assert_eq!(response["patchType"], "JSONPatch");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(patch.as_str().unwrap())
            .unwrap();
        serde_json::from_slice::<Vec<Value>>(&bytes).unwrap()
    });
    let warnings = response
        .get("warnings")
        .map(|w| serde_json::from_value(w.clone()).unwrap())
        .unwrap_or_default();
    Answer {
        allowed: decision.allowed,
        patch,
        warnings,
        item: None,
    }
}

#[test]
fn warn_policies_never_remove_the_pin_or_decide_admission() {
    let pinned = format!("registry.test/team/app@{DIGEST}");
    let mut cells = 0;
    for enforce_passes in [true, false] {
        for warn in [Warn::Pass, Warn::Fail, Warn::None] {
            for (image, is_tag) in [(SIGNED, true), (pinned.as_str(), false)] {
                for endpoint in [
                    Endpoint::Validate,
                    Endpoint::ValidateRequireDigest,
                    Endpoint::Mutate,
                    Endpoint::Gatekeeper,
                ] {
                    cells += 1;
                    let cell = format!(
                        "enforce passes {enforce_passes}, warn {warn:?}, {image}, {endpoint:?}"
                    );
                    let got = answer(enforce_passes, warn, image, endpoint);
                    let refused_tag = is_tag && endpoint == Endpoint::ValidateRequireDigest;
                    let allowed = enforce_passes && !refused_tag;
                    assert_eq!(got.allowed, allowed, "{cell}: {got:?}");

                    // The pin: exactly when mutating a tag that every enforcing policy passed.
                    let expect_patch = endpoint == Endpoint::Mutate && is_tag && enforce_passes;
                    match &got.patch {
                        Some(ops) => {
                            assert!(expect_patch, "{cell}: unexpected patch {ops:?}");
                            assert_eq!(ops.len(), 1, "{cell}");
                            assert_eq!(ops[0]["op"], "replace", "{cell}");
                            assert_eq!(ops[0]["path"], "/spec/containers/0/image", "{cell}");
                            assert_eq!(ops[0]["value"], format!("{SIGNED}@{DIGEST}"), "{cell}");
                        }
                        None => assert!(!expect_patch, "{cell}: the verified tag is not pinned"),
                    }

                    // Warnings: one "not pinned" for an allowed tag, one per failing warn policy
                    // (whether or not an enforcing one failed too), nothing else.
                    let unpinned = got
                        .warnings
                        .iter()
                        .filter(|w| w.contains("not pinned"))
                        .count();
                    let advisory = got
                        .warnings
                        .iter()
                        .filter(|w| {
                            w.contains("policy \"advisory\" failed") && w.contains("mode: warn")
                        })
                        .count();
                    let expect_unpinned = usize::from(is_tag && allowed);
                    let expect_advisory = usize::from(warn == Warn::Fail && !refused_tag);
                    assert_eq!(unpinned, expect_unpinned, "{cell}: {:?}", got.warnings);
                    assert_eq!(advisory, expect_advisory, "{cell}: {:?}", got.warnings);
                    assert_eq!(
                        got.warnings.len(),
                        expect_unpinned + expect_advisory,
                        "{cell}: {:?}",
                        got.warnings
                    );

                    // Gatekeeper: the verified digest when allowed, the enforcing denial if not.
                    if let Some((value, error)) = &got.item {
                        if enforce_passes {
                            assert_eq!(value, DIGEST, "{cell}");
                            assert_eq!(error, &None, "{cell}");
                        } else {
                            assert_eq!(value, "", "{cell}");
                            let error = error.as_deref().unwrap_or_default();
                            assert!(
                                error.contains("policy \"enforced\" failed"),
                                "{cell}: {error}"
                            );
                            assert!(!error.contains("advisory"), "{cell}: {error}");
                        }
                    }
                }
            }
        }
    }
    assert_eq!(cells, 2 * 3 * 2 * 4);
}
