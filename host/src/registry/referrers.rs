//! Listing the referrers of a digest through the OCI referrers API (distribution-spec v1.1,
//! "Listing Referrers": `GET /v2/<name>/referrers/<digest>`), every page of it.
//!
//! - **Filter.** The listing is asked for unfiltered, as cosign asks (`GetBundles`): a registry
//!   that applied `?artifactType=` would hide bundles of other versions and those it types by
//!   their config, turning a signed image into a false denial. The entries are filtered here
//!   instead ([`may_hold_a_bundle`]): an entry that declares another artifact type (an SBOM, a
//!   scan report) is skipped unread. The declared type only ever skips an entry, never admits
//!   one: what is kept is still fetched, hashed against its digest and read for a single
//!   bundle layer (`material`). Entries that declare no type, a bundle type, or the
//!   empty-config type are kept, since writers built on go-containerregistry derive the type
//!   from the config (cosign's own referrers-tag index carries
//!   `application/vnd.oci.empty.v1+json` for its bundles). A registry that filters anyway says
//!   so with `OCI-Filters-Applied`, which is logged.
//! - **Pages.** A registry may split the answer and point at the rest with
//!   `Link: <url>; rel="next"` (RFC 8288; the spec's "Pagination" section). The link is
//!   resolved against the page's URL (it may be relative) and followed only on the same origin
//!   (scheme, host and port: the credentials for this registry go with it), never to a page
//!   already read, and for at most [`Limits::referrer_pages`] pages. Every page is an index read
//!   under `Limits::manifest_bytes` and the verification's budget, and all pages' entries
//!   together count against `Limits::layers`. A link that cannot be read, leads elsewhere,
//!   loops or runs past the limit fails the listing: a page skipped could hide the signature
//!   that verifies, so sigward says it could not decide rather than deciding on part of it.
//!
//! A 404 on the first page means the registry has no referrers API (the caller then reads the
//! tag schema). This module makes no request itself: [`Remote::fetch`] does.

use std::collections::HashSet;

use oci_client::Reference;
use reqwest::Url;
use reqwest::header::{HeaderMap, LINK};

use super::RegistryError;
use super::budget::Budget;
use super::digest::Digest;
use super::limits::{self, Limits};
use super::manifest::{self, BUNDLE_PREFIX, Descriptor, OCI_INDEX};
use super::remote::Remote;

/// The response header that lists the filters a registry applied (distribution-spec v1.1).
const FILTERS_APPLIED: &str = "oci-filters-applied";

/// The empty-config media type, which go-containerregistry-based writers report as the
/// `artifactType` of cosign's bundle referrers.
const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";

/// Every referrer of `digest` in `image`'s repository that may hold a bundle, from every page
/// of the referrers API; `None` when the registry has no referrers API.
///
/// # Errors
///
/// [`RegistryError::Invalid`] for a page that is not an index, a `Link` header that does not
/// parse, a next link to another origin, one back to a page already read, or one that leads
/// nowhere (404); [`RegistryError::TooLarge`] past `Limits::referrer_pages` pages or
/// `Limits::layers` entries, or for a page over `Limits::manifest_bytes`; and whatever
/// [`Remote::fetch`] returns (budget, deadline, denied, unavailable).
pub(super) async fn list(
    remote: &Remote,
    image: &Reference,
    digest: &Digest,
    budget: &Budget,
) -> Result<Option<Vec<Descriptor>>, RegistryError> {
    let limits = remote.limits();
    let listing = format!("referrers of {digest}");
    let mut url = Url::parse(&remote.url(image, &format!("referrers/{digest}"))?)
        .map_err(|e| RegistryError::Invalid(format!("{listing}: {e}")))?;
    let mut read: HashSet<Url> = HashSet::new();
    let mut entries = Vec::new();
    for page in 1_usize.. {
        check_pages(page, limits, &listing)?;
        read.insert(url.clone());
        let what = format!("{listing}, page {page}");
        let fetched = remote
            .fetch(
                image,
                url.as_str(),
                &what,
                OCI_INDEX,
                limits.manifest_bytes,
                budget,
            )
            .await?;
        let Some(fetched) = fetched else {
            if page == 1 {
                return Ok(None);
            }
            return Err(RegistryError::Invalid(format!(
                "{what}: the previous page's next link leads nowhere (HTTP 404)"
            )));
        };
        let index = manifest::parse_index(&fetched.bytes, &what)?;
        let listed = index.manifests.len();
        entries.extend(index.manifests.into_iter().filter(may_hold_a_bundle));
        limits::check_count(entries.len(), limits.layers, &listing)?;
        tracing::debug!(
            page,
            listed,
            kept = entries.len(),
            filtered = filtered_by_artifact_type(&fetched.headers),
            "{listing}"
        );
        let Some(next) = next_page(&fetched.headers, &url, &what)? else {
            break;
        };
        if read.contains(&next) {
            return Err(RegistryError::Invalid(format!(
                "{what}: the next link leads back to a page already read"
            )));
        }
        url = next;
    }
    Ok(Some(entries))
}

/// Fails before page `page` is requested when it is one too many.
fn check_pages(page: usize, limits: &Limits, listing: &str) -> Result<(), RegistryError> {
    limits::check_count(page, limits.referrer_pages, &format!("{listing} (pages)"))
}

/// Whether an index entry may be a bundle referrer: an image manifest whose declared
/// `artifactType` (a hint) is absent, a Sigstore bundle type, or the empty-config type.
fn may_hold_a_bundle(entry: &Descriptor) -> bool {
    match entry.extra.get("artifactType") {
        None => true,
        Some(serde_json::Value::String(declared)) => {
            declared.starts_with(BUNDLE_PREFIX) || declared == EMPTY_CONFIG
        }
        // Not a string: not something we can read as a declaration, so it skips nothing.
        Some(_) => true,
    }
}

/// Whether the registry says it applied the `artifactType` filter (`OCI-Filters-Applied`, a
/// comma-separated list).
fn filtered_by_artifact_type(headers: &HeaderMap) -> bool {
    headers
        .get_all(FILTERS_APPLIED)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|filter| filter.trim().eq_ignore_ascii_case("artifactType"))
}

/// The next page's URL from the `Link` headers of the page at `base`: the one target whose
/// `rel` includes `next`, resolved against `base`, on `base`'s origin.
fn next_page(headers: &HeaderMap, base: &Url, what: &str) -> Result<Option<Url>, RegistryError> {
    let mut next = None;
    for value in headers.get_all(LINK) {
        let text = value
            .to_str()
            .map_err(|_| RegistryError::Invalid(format!("{what}: a Link header is not text")))?;
        for target in next_targets(text)
            .ok_or_else(|| RegistryError::Invalid(format!("{what}: malformed Link header")))?
        {
            if next.replace(target).is_some() {
                return Err(RegistryError::Invalid(format!(
                    "{what}: more than one next link"
                )));
            }
        }
    }
    let Some(target) = next else {
        return Ok(None);
    };
    let mut url = base
        .join(target)
        .map_err(|_| RegistryError::Invalid(format!("{what}: the next link is not a URL")))?;
    // A fragment never reaches the registry: without it, a loop through fragments is seen.
    url.set_fragment(None);
    // The registry's choice: named in errors by origin only, as its query could carry anything.
    if url.origin() != base.origin() || !url.username().is_empty() || url.password().is_some() {
        return Err(RegistryError::Invalid(format!(
            "{what}: the next link leaves the registry (to {}); not followed",
            url.origin().ascii_serialization()
        )));
    }
    Ok(Some(url))
}

/// The targets of the link-values in one `Link` header value whose `rel` includes `next`
/// (RFC 8288 §3: `<target>; param=value; …`, link-values separated by commas); `None` when the
/// value does not parse.
fn next_targets(header: &str) -> Option<Vec<&str>> {
    let mut targets = Vec::new();
    let mut rest = header;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return Some(targets);
        }
        let (target, after) = rest.strip_prefix('<')?.split_once('>')?;
        let (params, remaining) = split_link_value(after);
        if params.split(';').any(is_rel_next) {
            targets.push(target);
        }
        rest = remaining;
    }
}

/// Splits `; a=b; c="d, e", <next>…` at the first comma outside quotes: this link-value's
/// parameters, and the rest of the header.
fn split_link_value(text: &str) -> (&str, &str) {
    let mut quoted = false;
    for (at, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => return (&text[..at], &text[at + 1..]),
            _ => {}
        }
    }
    (text, "")
}

/// Whether one `name=value` parameter is `rel` with `next` among its relation types (RFC 8288
/// §3.3: a space-separated list, case-insensitive, quoted or not).
fn is_rel_next(param: &str) -> bool {
    let Some((name, value)) = param.split_once('=') else {
        return false;
    };
    name.trim().eq_ignore_ascii_case("rel")
        && value
            .trim()
            .trim_matches('"')
            .split_ascii_whitespace()
            .any(|relation| relation.eq_ignore_ascii_case("next"))
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn base() -> Url {
        Url::parse("https://registry.test/v2/team/app/referrers/sha256:ab?artifactType=x").unwrap()
    }

    fn links(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(LINK, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn next(values: &[&str]) -> Result<Option<String>, RegistryError> {
        next_page(&links(values), &base(), "page").map(|url| url.map(String::from))
    }

    #[test]
    fn finds_the_next_link_among_others() {
        let expected = Ok(Some(
            "https://registry.test/v2/team/app/referrers/sha256:ab?last=c".to_owned(),
        ));
        for header in [
            r#"</v2/team/app/referrers/sha256:ab?last=c>; rel="next""#,
            r#"</v2/team/app/referrers/sha256:ab?last=c>; rel=next"#,
            r#"</v2/team/app/referrers/sha256:ab?last=c>;rel="NEXT""#,
            r#"</first>; rel="first", </v2/team/app/referrers/sha256:ab?last=c>; rel="next""#,
            r#"</x>; title="a, b"; rel="prev", </v2/team/app/referrers/sha256:ab?last=c>; rel="prev next""#,
            r#"<https://registry.test/v2/team/app/referrers/sha256:ab?last=c>; rel="next""#,
            r#"<?last=c>; rel="next""#,
        ] {
            assert_eq!(next(&[header]), expected, "{header}");
        }
        // Two headers, one of them with the next link.
        assert_eq!(
            next(&[r#"</a>; rel="prev""#, r#"<?last=c>; rel="next""#]),
            expected
        );
    }

    #[test]
    fn no_next_link_is_the_last_page() {
        assert_eq!(next(&[]), Ok(None));
        assert_eq!(next(&[r#"</a>; rel="prev""#]), Ok(None));
        assert_eq!(next(&[r#"</a>; rel="nextish""#]), Ok(None));
    }

    #[test]
    fn refuses_links_it_cannot_read_or_must_not_follow() {
        for header in [
            "garbage",
            "</unterminated; rel=next",
            r#"</a>; rel="next", </b>; rel="next""#,
            r#"<http://registry.test/v2/x>; rel="next""#,
            r#"<https://registry.test:444/v2/x>; rel="next""#,
            r#"<https://elsewhere.test/v2/x>; rel="next""#,
            r#"<https://user:pass@registry.test/v2/x>; rel="next""#,
            r#"<//elsewhere.test/v2/x>; rel="next""#,
        ] {
            assert!(
                matches!(next(&[header]), Err(RegistryError::Invalid(_))),
                "{header}"
            );
        }
    }

    #[test]
    fn reads_the_filters_the_registry_applied() {
        let mut headers = HeaderMap::new();
        assert!(!filtered_by_artifact_type(&headers));
        headers.insert(
            FILTERS_APPLIED,
            HeaderValue::from_static("annotation, artifactType"),
        );
        assert!(filtered_by_artifact_type(&headers));
    }

    #[test]
    fn skips_only_entries_that_declare_another_artifact_type() {
        let entry = |artifact_type: Option<&str>| {
            let mut entry = manifest::describe(manifest::OCI_MANIFEST, b"m");
            if let Some(declared) = artifact_type {
                entry.extra.insert("artifactType".into(), declared.into());
            }
            entry
        };
        for kept in [
            None,
            Some("application/vnd.dev.sigstore.bundle.v0.3+json"),
            Some("application/vnd.dev.sigstore.bundle+json;version=0.1"),
            Some(EMPTY_CONFIG),
        ] {
            assert!(may_hold_a_bundle(&entry(kept)), "{kept:?}");
        }
        for skipped in ["application/spdx+json", "application/vnd.in-toto+json"] {
            assert!(!may_hold_a_bundle(&entry(Some(skipped))), "{skipped}");
        }
    }
}
