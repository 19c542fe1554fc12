//! Against a hostile HTTP server: lying digests, sizes and bodies, hangs and errors.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::support::{self, Hostile, Reply, TestTls};
use crate::registry::digest::{Attachment, Digest};
use crate::registry::manifest::{self, OCI_INDEX, OCI_MANIFEST};
use crate::registry::{Kinds, Limits, RegistryError};

const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

fn subject() -> Digest {
    Digest::of(b"the image")
}

fn sig_path(digest: &Digest) -> String {
    format!(
        "/v2/evil/manifests/{}",
        digest.attachment_tag(Attachment::Signatures)
    )
}

fn sig_manifest(layers: &[manifest::Descriptor]) -> Vec<u8> {
    manifest::image_manifest(manifest::describe(manifest::OCI_CONFIG, b"{}"), layers).unwrap()
}

const SIGNATURES: Kinds = Kinds {
    signatures: true,
    attestations: false,
    bundles: false,
};

#[tokio::test]
async fn refuses_a_manifest_that_does_not_match_the_reference_digest() {
    let claimed = Digest::of(b"what the reference pins");
    let served = sig_manifest(&[]);
    // The server even sends a matching Docker-Content-Digest header; it is not believed.
    let reply = Reply::Fixed {
        status: 200,
        headers: vec![("Docker-Content-Digest", claimed.to_string())],
        body: served,
    };
    let server = Hostile::start(HashMap::from([(
        format!("/v2/evil/manifests/{claimed}"),
        reply,
    )]))
    .await;
    let sources = support::sources(support::quick_limits());
    let result = sources
        .resolve(
            &format!("{}/evil:v1@{claimed}", server.host),
            &support::budget(),
        )
        .await;
    assert!(
        matches!(result, Err(RegistryError::Invalid(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn resolved_digest_is_computed_not_taken_from_the_header() {
    let served = sig_manifest(&[]);
    let reply = Reply::Fixed {
        status: 200,
        headers: vec![("Docker-Content-Digest", Digest::of(b"lie").to_string())],
        body: served.clone(),
    };
    let routes = HashMap::from([("/v2/evil/manifests/v1".to_owned(), reply)]);
    let server = Hostile::start(routes).await;
    let sources = support::sources(support::quick_limits());
    let resolved = sources
        .resolve(&format!("{}/evil:v1", server.host), &support::budget())
        .await
        .unwrap();
    assert_eq!(
        resolved.digest().to_string(),
        Digest::of(&served).to_string()
    );
}

#[tokio::test]
async fn refuses_an_oversize_layer_without_downloading_it() {
    let mut layer = manifest::describe(SIMPLE_SIGNING, b"payload");
    layer.size = 64 << 20;
    let routes = HashMap::from([(sig_path(&subject()), Reply::ok(sig_manifest(&[layer])))]);
    let server = Hostile::start(routes).await;
    let sources = support::sources(support::quick_limits());
    let result = sources
        .attached(
            &format!("{}/evil:v1", server.host),
            &subject().to_string(),
            SIGNATURES,
            &support::budget(),
        )
        .await;
    assert!(
        matches!(result, Err(RegistryError::TooLarge { size, .. }) if size == 64 << 20),
        "{result:?}"
    );
    let requests = server.requests();
    assert!(
        !requests.iter().any(|path| path.contains("/blobs/")),
        "{requests:?}"
    );
}

#[tokio::test]
async fn forged_blob_keeps_its_descriptor_digest_for_the_verifier() {
    let layer = manifest::describe(SIMPLE_SIGNING, b"signed payload");
    let routes = HashMap::from([
        (
            sig_path(&subject()),
            Reply::ok(sig_manifest(std::slice::from_ref(&layer))),
        ),
        (
            format!("/v2/evil/blobs/{}", layer.digest),
            Reply::ok(b"forged payload".to_vec()),
        ),
    ]);
    let server = Hostile::start(routes).await;
    let sources = support::sources(support::quick_limits());
    let result = sources
        .attached(
            &format!("{}/evil:v1", server.host),
            &subject().to_string(),
            SIGNATURES,
            &support::budget(),
        )
        .await
        .unwrap();
    // Passed on unchanged: the verifier re-hashes it and rejects that signature alone.
    assert_eq!(result.signatures[0].digest, layer.digest);
    assert_eq!(result.signatures[0].payload, b"forged payload");
}

#[tokio::test]
async fn stops_reading_a_blob_longer_than_its_descriptor() {
    let layer = manifest::describe(SIMPLE_SIGNING, b"ten bytes!");
    let routes = HashMap::from([
        (
            sig_path(&subject()),
            Reply::ok(sig_manifest(std::slice::from_ref(&layer))),
        ),
        (format!("/v2/evil/blobs/{}", layer.digest), Reply::Endless),
    ]);
    let server = Hostile::start(routes).await;
    let sources = support::sources(support::quick_limits());
    let result = sources
        .attached(
            &format!("{}/evil:v1", server.host),
            &subject().to_string(),
            SIGNATURES,
            &support::budget(),
        )
        .await;
    assert!(
        matches!(result, Err(RegistryError::TooLarge { limit: 10, .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn refuses_oversize_manifests_announced_or_streamed() {
    let limits = Limits {
        manifest_bytes: 1024,
        ..support::quick_limits()
    };
    let announced = Reply::ok(vec![b' '; 2048]);
    let routes = HashMap::from([
        ("/v2/evil/manifests/announced".to_owned(), announced),
        ("/v2/evil/manifests/streamed".to_owned(), Reply::Endless),
    ]);
    let server = Hostile::start(routes).await;
    let sources = support::sources(limits);
    for tag in ["announced", "streamed"] {
        let result = sources
            .resolve(&format!("{}/evil:{tag}", server.host), &support::budget())
            .await;
        assert!(
            matches!(result, Err(RegistryError::TooLarge { limit: 1024, .. })),
            "{tag}: {result:?}"
        );
    }
}

#[tokio::test]
async fn a_registry_that_never_answers_times_out() {
    let routes = HashMap::from([("/v2/evil/manifests/v1".to_owned(), Reply::Hang)]);
    let server = Hostile::start(routes).await;
    let sources = support::sources(Limits {
        timeout: Duration::from_millis(300),
        ..Limits::default()
    });
    let started = Instant::now();
    let result = sources
        .resolve(&format!("{}/evil:v1", server.host), &support::budget())
        .await;
    assert!(
        matches!(result, Err(RegistryError::Unavailable(_))),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn maps_http_failures_to_error_kinds() {
    let routes = HashMap::from([
        ("/v2/evil/manifests/broken".to_owned(), Reply::status(503)),
        (
            "/v2/evil/manifests/forbidden".to_owned(),
            Reply::status(403),
        ),
        ("/v2/evil/manifests/json".to_owned(), Reply::ok("not json")),
    ]);
    let server = Hostile::start(routes).await;
    let sources = support::sources(support::quick_limits());
    let resolve = async |tag: &str| {
        sources
            .resolve(&format!("{}/evil:{tag}", server.host), &support::budget())
            .await
    };
    assert!(matches!(
        resolve("broken").await,
        Err(RegistryError::Unavailable(_))
    ));
    assert!(matches!(
        resolve("forbidden").await,
        Err(RegistryError::Denied(_))
    ));
    assert!(matches!(
        resolve("json").await,
        Err(RegistryError::Invalid(_))
    ));
    assert!(matches!(
        resolve("absent").await,
        Err(RegistryError::NotFound(_))
    ));
}

#[tokio::test]
async fn uses_the_referrers_api_when_the_registry_has_one() {
    let bundle = b"{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\"}";
    let bundle_type = "application/vnd.dev.sigstore.bundle.v0.3+json";
    let bundle_manifest = sig_manifest(&[manifest::describe(bundle_type, bundle)]);
    let manifest_digest = Digest::of(&bundle_manifest);
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "size": bundle_manifest.len(),
                       "digest": manifest_digest.to_string()}]}))
    .unwrap();
    let routes = HashMap::from([
        (
            format!("/v2/evil/referrers/{}", subject()),
            Reply::ok(index),
        ),
        (
            format!("/v2/evil/manifests/{manifest_digest}"),
            Reply::ok(bundle_manifest),
        ),
        (
            format!("/v2/evil/blobs/{}", Digest::of(bundle)),
            Reply::ok(bundle.to_vec()),
        ),
    ]);
    let server = Hostile::start(routes).await;
    let sources = support::sources(support::quick_limits());
    let material = sources
        .attached(
            &format!("{}/evil:v1", server.host),
            &subject().to_string(),
            Kinds::ALL,
            &support::budget(),
        )
        .await
        .unwrap();
    assert_eq!(material.bundles.len(), 1);
    assert_eq!(material.bundles[0].bundle, bundle);
    assert!(material.signatures.is_empty());
}

/// A Docker config directory holding basic credentials for `registry`.
fn credentials_for(registry: &str, user: &str, password: &str) -> tempfile::TempDir {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut auths = serde_json::Map::new();
    auths.insert(registry.to_owned(), serde_json::json!({ "auth": auth }));
    let config = serde_json::json!({ "auths": auths });
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    dir
}

/// Sources that reach the `support::TLS_NAMES` hosts on loopback through `tls`, with the
/// credentials in `config`.
fn sources_over_tls(tls: &TestTls, config: &tempfile::TempDir) -> crate::registry::Sources {
    crate::registry::Sources::new(crate::registry::Options {
        limits: support::quick_limits(),
        credentials: crate::registry::Credentials::DockerConfigDir(config.path().to_owned()),
        network: crate::registry::tests::TestNetwork {
            roots: vec![tls.der.clone()],
            hosts: support::TLS_NAMES.map(str::to_owned).to_vec(),
        },
        ..crate::registry::Options::default()
    })
    .unwrap()
}

fn bearer_challenge(realm: &str) -> Reply {
    Reply::with_headers(
        401,
        vec![(
            "WWW-Authenticate",
            format!(r#"Bearer realm="{realm}",service="registry.test""#),
        )],
    )
}

// Issue 8, item 10: a token service's answer is read into a bounded buffer, whether it
// announces its size or streams forever.
#[tokio::test]
async fn token_answers_are_capped() {
    for (case, answer) in [
        ("streamed", Reply::Endless),
        ("announced", Reply::Announce(8 << 30)),
    ] {
        let auth = Hostile::start(HashMap::from([("/token".to_owned(), answer)])).await;
        let realm = format!("http://{}/token", auth.host);
        let manifest = Reply::Guarded {
            authorization: "Bearer never".into(),
            challenge: format!(r#"Bearer realm="{realm}""#),
            reply: Box::new(Reply::ok(sig_manifest(&[]))),
        };
        let registry = Hostile::start(HashMap::from([
            ("/v2/".to_owned(), bearer_challenge(&realm)),
            ("/v2/evil/manifests/v1".to_owned(), manifest),
        ]))
        .await;
        let sources = support::sources(support::quick_limits());
        let started = Instant::now();
        let result = sources
            .resolve(&format!("{}/evil:v1", registry.host), &support::budget())
            .await;
        assert!(
            matches!(result, Err(RegistryError::TooLarge { limit, .. }) if limit == 256 << 10),
            "{case}: {result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{case}");
        assert_eq!(auth.requests(), ["/token"], "{case}");
    }
}

// Issue 8, item 10: an HTTPS registry that names a plain-HTTP token service (elsewhere, or on
// its own host) does not get the user's credentials sent there in cleartext: the realm is
// refused and never contacted.
#[tokio::test]
async fn an_https_registry_with_an_http_realm_is_refused_and_gets_no_credentials() {
    let tls = TestTls::new();
    let plain_auth = Hostile::start(HashMap::from([(
        "/token".to_owned(),
        Reply::ok(r#"{"token":"t"}"#),
    )]))
    .await;
    let same_host_plain = Hostile::start(HashMap::new()).await;
    for realm in [
        format!("http://{}/token", plain_auth.host),
        format!("http://registry.test:{}/token", same_host_plain.port),
    ] {
        let registry = Hostile::start_tls(
            HashMap::from([
                ("/v2/".to_owned(), bearer_challenge(&realm)),
                (
                    "/v2/evil/manifests/v1".to_owned(),
                    Reply::Guarded {
                        authorization: "Bearer t".into(),
                        challenge: format!(r#"Bearer realm="{realm}""#),
                        reply: Box::new(Reply::ok(sig_manifest(&[]))),
                    },
                ),
            ]),
            &tls,
        )
        .await;
        let name = format!("registry.test:{}", registry.port);
        let config = credentials_for(&name, "alice", "s3cret");
        let sources = sources_over_tls(&tls, &config);
        let result = sources
            .resolve(&format!("{name}/evil:v1"), &support::budget())
            .await;
        let Err(RegistryError::Invalid(message)) = &result else {
            panic!("{realm}: {result:?}");
        };
        assert!(message.contains("plain-HTTP token service"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
        // The registry was reached over TLS (it answered the challenge)...
        assert!(registry.requests().contains(&"/v2/".to_owned()));
        // ...and no credentials were sent anywhere.
        assert!(
            registry
                .seen()
                .iter()
                .all(|seen| seen.authorization.is_none()),
            "{:?}",
            registry.seen()
        );
    }
    assert!(plain_auth.seen().is_empty(), "{:?}", plain_auth.seen());
    assert!(same_host_plain.seen().is_empty());
}

// Issue 8, item 10: a realm on another host over HTTPS (as Docker Hub's) is used: the
// credentials go to it, the token it answers goes to the registry.
#[tokio::test]
async fn an_https_realm_on_another_host_is_used() {
    let tls = TestTls::new();
    let auth = Hostile::start_tls(
        HashMap::from([("/token".to_owned(), Reply::ok(r#"{"token":"t0ken"}"#))]),
        &tls,
    )
    .await;
    let realm = format!("https://auth.test:{}/token", auth.port);
    let manifest = sig_manifest(&[]);
    let registry = Hostile::start_tls(
        HashMap::from([
            ("/v2/".to_owned(), bearer_challenge(&realm)),
            (
                "/v2/evil/manifests/v1".to_owned(),
                Reply::Guarded {
                    authorization: "Bearer t0ken".into(),
                    challenge: format!(r#"Bearer realm="{realm}""#),
                    reply: Box::new(Reply::ok(manifest.clone())),
                },
            ),
        ]),
        &tls,
    )
    .await;
    let name = format!("registry.test:{}", registry.port);
    let config = credentials_for(&name, "alice", "s3cret");
    let sources = sources_over_tls(&tls, &config);
    let resolved = sources
        .resolve(&format!("{name}/evil:v1"), &support::budget())
        .await
        .unwrap();
    assert_eq!(
        resolved.digest().to_string(),
        Digest::of(&manifest).to_string()
    );

    let asked = auth.seen();
    assert_eq!(asked.len(), 1, "{asked:?}");
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    assert_eq!(asked[0].authorization, Some(format!("Basic {basic}")));
    let query = asked[0].query.clone().unwrap_or_default();
    assert!(query.contains("service=registry.test"), "{query}");
    assert!(query.contains("scope=repository%3Aevil%3Apull"), "{query}");
    // The registry saw the token, never the password.
    let sent: Vec<_> = registry
        .seen()
        .into_iter()
        .filter_map(|seen| seen.authorization)
        .collect();
    assert_eq!(sent, ["Bearer t0ken"]);
}
