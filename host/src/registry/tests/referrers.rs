//! The referrers API's pages and artifactType filter, against the hostile server (the real
//! `docker-registry` has no referrers API): pages followed through relative `Link` headers,
//! entries that declare another artifact type skipped unread whether or not the registry
//! filtered, and the links sigward must not follow (a loop, too many pages, another host, a
//! page that is not there) failing the listing instead of cutting it short.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::support::{self, Hostile, Reply};
use crate::registry::digest::Digest;
use crate::registry::manifest::{self, OCI_INDEX, OCI_MANIFEST};
use crate::registry::{Budget, Kinds, Limits, RegistryError};

const BUNDLE_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";
const SBOM_TYPE: &str = "application/spdx+json";

const BUNDLES: Kinds = Kinds {
    signatures: false,
    attestations: false,
    bundles: true,
};

fn subject() -> Digest {
    Digest::of(b"the image")
}

/// The referrers API path of the subject.
fn api() -> String {
    format!("/v2/evil/referrers/{}", subject())
}

/// The first page as sigward asks for it: unfiltered, as cosign asks.
fn first() -> String {
    api()
}

/// A referrer manifest holding one bundle layer (`name` makes it unique), served with its blob;
/// returns its index entry (declaring `artifact_type`, if any), its bundle and its manifest path.
fn referrer(
    name: &str,
    artifact_type: Option<&str>,
    routes: &mut HashMap<String, Reply>,
) -> (Value, Vec<u8>, String) {
    let bundle = format!(r#"{{"bundle":"{name}"}}"#).into_bytes();
    let referrer = manifest::image_manifest(
        manifest::describe(EMPTY_CONFIG, b"{}"),
        &[manifest::describe(BUNDLE_TYPE, &bundle)],
    )
    .unwrap();
    let digest = Digest::of(&referrer);
    let path = format!("/v2/evil/manifests/{digest}");
    let mut entry = json!({"mediaType": OCI_MANIFEST, "size": referrer.len(),
                           "digest": digest.to_string()});
    if let Some(declared) = artifact_type {
        entry["artifactType"] = json!(declared);
    }
    routes.insert(path.clone(), Reply::ok(referrer));
    routes.insert(
        format!("/v2/evil/blobs/{}", Digest::of(&bundle)),
        Reply::ok(bundle.clone()),
    );
    (entry, bundle, path)
}

/// One page of the listing: an index of `entries`, with a `Link` header if `next` is given and
/// `OCI-Filters-Applied: artifactType` if `filtered`.
fn page(entries: &[&Value], next: Option<&str>, filtered: bool) -> Reply {
    let body = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}))
    .unwrap();
    let mut headers = Vec::new();
    if let Some(next) = next {
        headers.push(("Link", format!(r#"<{next}>; rel="next""#)));
    }
    if filtered {
        headers.push(("OCI-Filters-Applied", "artifactType".to_owned()));
    }
    Reply::Fixed {
        status: 200,
        headers,
        body,
    }
}

/// The bundles sigward collects from `server`.
async fn bundles(
    server: &Hostile,
    limits: Limits,
    budget: &Budget,
) -> Result<Vec<Vec<u8>>, RegistryError> {
    let sources = support::sources(limits);
    let material = sources
        .attached(
            &format!("{}/evil:v1", server.host),
            &subject().to_string(),
            BUNDLES,
            budget,
        )
        .await?;
    Ok(material.bundles.into_iter().map(|b| b.bundle).collect())
}

/// How many referrers pages `server` was asked for.
fn pages_read(server: &Hostile) -> usize {
    server
        .requests()
        .iter()
        .filter(|path| **path == api())
        .count()
}

#[tokio::test]
async fn follows_next_links_across_pages_and_filters_what_was_not() {
    let mut routes = HashMap::new();
    let (a, bundle_a, _) = referrer("a", Some(BUNDLE_TYPE), &mut routes);
    let (b, bundle_b, _) = referrer("b", Some(EMPTY_CONFIG), &mut routes);
    let (c, bundle_c, _) = referrer("c", None, &mut routes);
    let (sbom, _, sbom_path) = referrer("sbom", Some(SBOM_TYPE), &mut routes);
    // Page 1 says it filtered; pages 2 and 3 did not (an SBOM comes through), and page 2
    // points on with a query-only reference.
    let second = format!("{}?last=a", api());
    routes.insert(first(), page(&[&a], Some(&second), true));
    routes.insert(second, page(&[&sbom, &b], Some("?last=b"), false));
    routes.insert(format!("{}?last=b", api()), page(&[&c], None, false));
    let server = Hostile::start(routes).await;

    let found = bundles(&server, support::quick_limits(), &support::budget())
        .await
        .unwrap();
    assert_eq!(found, [bundle_a, bundle_b, bundle_c]);
    assert_eq!(pages_read(&server), 3);
    // The declared SBOM was never read; the registry was not asked to filter.
    assert!(!server.requests().contains(&sbom_path));
    let asked = server.seen();
    let query = asked
        .iter()
        .find(|seen| seen.path == api())
        .and_then(|seen| seen.query.clone());
    assert_eq!(query, None);
}

#[tokio::test]
async fn a_next_link_back_to_a_page_already_read_is_refused() {
    let mut routes = HashMap::new();
    let (a, _, _) = referrer("a", Some(BUNDLE_TYPE), &mut routes);
    let second = format!("{}?last=a", api());
    routes.insert(first(), page(&[&a], Some(&second), false));
    // Page 2 sends the client back to page 1, as the same URL written out in full.
    routes.insert(second, page(&[], Some(&first()), false));
    let server = Hostile::start(routes).await;

    let result = bundles(&server, support::quick_limits(), &support::budget()).await;
    assert!(
        matches!(&result, Err(RegistryError::Invalid(m)) if m.contains("already read")),
        "{result:?}"
    );
    assert_eq!(pages_read(&server), 2);
}

#[tokio::test]
async fn stops_at_the_page_limit() {
    let mut routes = HashMap::new();
    let (a, _, _) = referrer("a", Some(BUNDLE_TYPE), &mut routes);
    // An endless chain of pages, each pointing at the next.
    routes.insert(first(), page(&[&a], Some("?page=2"), false));
    for n in 2..10 {
        routes.insert(
            format!("{}?page={n}", api()),
            page(&[&a], Some(&format!("?page={}", n + 1)), false),
        );
    }
    let server = Hostile::start(routes).await;
    let limits = Limits {
        referrer_pages: 3,
        ..support::quick_limits()
    };

    let result = bundles(&server, limits, &support::budget()).await;
    assert!(
        matches!(&result, Err(RegistryError::TooLarge { what, size: 4, limit: 3 })
            if what.contains("pages")),
        "{result:?}"
    );
    assert_eq!(pages_read(&server), 3);
}

#[tokio::test]
async fn never_follows_a_next_link_to_another_host() {
    // The other host answers anything with a page; it must never be asked.
    let elsewhere = Hostile::start(HashMap::from([(api(), page(&[], None, false))])).await;
    let port = elsewhere.port;
    for link in [
        format!("http://{}{}", elsewhere.host, api()),
        // The same server under another name is another origin too.
        format!("http://localhost:{port}{}", api()),
        format!("//{}{}", elsewhere.host, api()),
    ] {
        let mut routes = HashMap::new();
        let (a, _, _) = referrer("a", Some(BUNDLE_TYPE), &mut routes);
        routes.insert(first(), page(&[&a], Some(&link), false));
        let server = Hostile::start(routes).await;

        let result = bundles(&server, support::quick_limits(), &support::budget()).await;
        assert!(
            matches!(&result, Err(RegistryError::Invalid(m)) if m.contains("leaves the registry")),
            "{link}: {result:?}"
        );
        // Named by origin only: the link's path and query stay out of the message.
        assert!(
            !format!("{result:?}").contains("referrers/sha256"),
            "{result:?}"
        );
    }
    assert!(
        elsewhere.requests().is_empty(),
        "{:?}",
        elsewhere.requests()
    );
}

#[tokio::test]
async fn a_next_link_that_leads_nowhere_or_does_not_parse_fails_the_listing() {
    let mut routes = HashMap::new();
    let (a, _, _) = referrer("a", Some(BUNDLE_TYPE), &mut routes);
    routes.insert(first(), page(&[&a], Some("/v2/evil/referrers/gone"), false));
    let server = Hostile::start(routes).await;
    let result = bundles(&server, support::quick_limits(), &support::budget()).await;
    assert!(
        matches!(&result, Err(RegistryError::Invalid(m)) if m.contains("leads nowhere")),
        "{result:?}"
    );

    let mut routes = HashMap::new();
    let (a, _, _) = referrer("a", Some(BUNDLE_TYPE), &mut routes);
    let body = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [a]}))
    .unwrap();
    routes.insert(
        first(),
        Reply::Fixed {
            status: 200,
            headers: vec![("Link", "?last=a; rel=next".to_owned())],
            body,
        },
    );
    let server = Hostile::start(routes).await;
    let result = bundles(&server, support::quick_limits(), &support::budget()).await;
    assert!(
        matches!(&result, Err(RegistryError::Invalid(m)) if m.contains("malformed Link")),
        "{result:?}"
    );
}

#[tokio::test]
async fn every_page_is_drawn_from_the_fetch_budget() {
    let mut routes = HashMap::new();
    let (sbom, _, _) = referrer("sbom", Some(SBOM_TYPE), &mut routes);
    let entries = vec![&sbom; 4];
    let second = format!("{}?last=a", api());
    let Reply::Fixed { body, .. } = page(&entries, None, false) else {
        unreachable!()
    };
    let page_bytes = u64::try_from(body.len()).unwrap();
    routes.insert(first(), page(&entries, Some(&second), false));
    routes.insert(second, page(&entries, None, false));
    let server = Hostile::start(routes).await;

    // Room for one page and a half: the second page does not fit.
    let budget = Budget::starting_now(Duration::from_secs(60), page_bytes * 3 / 2);
    let result = bundles(&server, support::quick_limits(), &budget).await;
    assert!(
        matches!(result, Err(RegistryError::OverBudget { .. })),
        "{result:?}"
    );
    // With room for both, both are read (and the SBOMs skipped).
    let budget = Budget::starting_now(Duration::from_secs(60), page_bytes * 3);
    let found = bundles(&server, support::quick_limits(), &budget)
        .await
        .unwrap();
    assert!(found.is_empty());
    assert_eq!(pages_read(&server), 4);
}
