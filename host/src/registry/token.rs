//! The bearer-token exchange of the distribution token-authentication spec
//! (distribution `docs/spec/auth/token.md`): the registry's `WWW-Authenticate: Bearer
//! realm="…",service="…"` challenge names a token service, which is asked, with the user's basic
//! credentials if there are any, for a token scoped to one repository.
//!
//! Done here rather than by oci-client, because the registry chooses the realm URL and
//! oci-client follows it wherever it points and reads its answer whole (issue 8, item 10):
//! - the realm must not take the credentials anywhere the registry connection itself would not
//!   protect them: a registry reached over HTTPS gets an HTTPS realm only (the rule
//!   go-containerregistry applies); a plain-HTTP realm is accepted only for a registry that is
//!   itself reached over plain HTTP, and then only on the registry's own host (or, for a loopback
//!   registry, on loopback), since a realm elsewhere would carry them over a network the user
//!   never chose to trust. Realms on other hosts over HTTPS are normal (Docker Hub's registry
//!   is `registry-1.docker.io`, its token service `auth.docker.io`) and allowed. A realm that is
//!   refused is never contacted;
//! - the answer is read into a buffer of at most [`MAX_TOKEN_BYTES`], and drawn from the
//!   verification's budget;
//! - neither the token, the credentials nor the token service's answer ever reach an error
//!   message or a log line.
//!
//! This module does no I/O of its own beyond the requests it is given a client for.

use oci_client::RegistryOperation;
use reqwest::StatusCode;
use reqwest::Url;
use reqwest::header::WWW_AUTHENTICATE;
use serde::Deserialize;

use super::RegistryError;
use super::budget::Budget;
use super::limits::Capped;
use super::reference;
use super::remote::{Scheme, transport_error};

/// The largest token-service answer read, in bytes: 256 KiB.
///
/// A token is a JWT (a few hundred bytes to a few KiB: Docker Hub's are about 1–2 KiB, cloud
/// registries' up to about 8 KiB), and the answer holds it twice at most (`token` and
/// `access_token`) with a refresh token and two numbers. Tokens that list many repositories in
/// their access claims grow to tens of KiB. 256 KiB leaves an order of magnitude above the
/// largest of those, while a hostile token service can no longer make one exchange hold a GiB.
pub(super) const MAX_TOKEN_BYTES: u64 = 256 << 10;

/// What the registry asked for in its `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Challenge {
    /// No challenge (the registry is open), or one this client does not know.
    None,
    /// HTTP basic authentication against the registry itself.
    Basic,
    /// A bearer token from the token service at `realm`.
    Bearer {
        /// The token service's URL, as the registry gave it (not yet checked).
        realm: String,
        /// The `service` parameter to send back, if any.
        service: Option<String>,
    },
}

/// The challenge of `registry` reached over `scheme` with `client`: `GET /v2/` and its
/// `WWW-Authenticate` header (the body is never read).
pub(super) async fn challenge(
    client: &reqwest::Client,
    scheme: Scheme,
    registry: &str,
) -> Result<Challenge, RegistryError> {
    let url = format!("{}://{registry}/v2/", scheme.as_str());
    let what = format!("{registry}/v2/");
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| transport_error(&e, &what))?;
    let challenge = response
        .headers()
        .get(WWW_AUTHENTICATE)
        .and_then(|value| value.to_str().ok())
        .map_or(Challenge::None, parse_challenge);
    Ok(challenge)
}

/// The token scope for `op` on `repository` (distribution `docs/spec/auth/scope.md`).
pub(super) fn scope(repository: &str, op: RegistryOperation) -> String {
    match op {
        RegistryOperation::Pull => format!("repository:{repository}:pull"),
        RegistryOperation::Push => format!("repository:{repository}:pull,push"),
    }
}

/// Parses a `WWW-Authenticate` value (RFC 7235 §4.1: `scheme param=value, …`, values tokens or
/// quoted strings). Only the first challenge is read; anything malformed reads as
/// [`Challenge::None`], which leads to anonymous access, never to credentials sent elsewhere.
pub(super) fn parse_challenge(header: &str) -> Challenge {
    let header = header.trim_start();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Challenge::Basic;
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Challenge::None;
    }
    let mut realm = None;
    let mut service = None;
    for (name, value) in parameters(rest) {
        if name.eq_ignore_ascii_case("realm") {
            realm = Some(value);
        } else if name.eq_ignore_ascii_case("service") {
            service = Some(value);
        }
    }
    match realm {
        Some(realm) => Challenge::Bearer { realm, service },
        None => Challenge::None,
    }
}

/// Checks that credentials may be sent to `realm`, the token service named by the registry
/// `registry` (`host[:port]`) reached over `registry_scheme`; returns its URL.
///
/// # Errors
///
/// [`RegistryError::Invalid`] for a realm that is not an absolute `http`/`https` URL, or a plain
/// HTTP realm that the rules in the module docs refuse.
pub(super) fn check_realm(
    realm: &str,
    registry: &str,
    registry_scheme: Scheme,
) -> Result<Url, RegistryError> {
    // The realm is the registry's choice: it is named in errors by host only, since its query
    // could carry anything.
    let url = Url::parse(realm).map_err(|_| {
        RegistryError::Invalid(format!(
            "{registry} names a token service that is not a URL"
        ))
    })?;
    let host = url.host_str().unwrap_or_default().to_owned();
    match url.scheme() {
        "https" => Ok(url),
        "http" if registry_scheme == Scheme::Http && same_or_loopback(&url, registry) => Ok(url),
        "http" => Err(RegistryError::Invalid(format!(
            "{registry} names a plain-HTTP token service on {host}; refused, since the \
             credentials and token would travel in cleartext (the token service must use HTTPS)"
        ))),
        other => Err(RegistryError::Invalid(format!(
            "{registry} names a token service with the unsupported scheme {other:?}"
        ))),
    }
}

/// Asks the token service at `realm` for a token for `scope`, with `basic` credentials if any.
///
/// # Errors
///
/// [`RegistryError::Denied`] if the token service refuses (HTTP 401/403) or answers without a
/// token; [`RegistryError::TooLarge`] if its answer is over [`MAX_TOKEN_BYTES`];
/// [`RegistryError::Invalid`] if it is not the expected JSON or the token is not a valid header
/// value; [`RegistryError::Unavailable`] if it cannot be reached.
pub(super) async fn exchange(
    client: &reqwest::Client,
    mut realm: Url,
    service: Option<&str>,
    scope: &str,
    basic: Option<(&str, &str)>,
    budget: &Budget,
) -> Result<String, RegistryError> {
    let what = format!("token service {}", realm.host_str().unwrap_or("(no host)"));
    {
        let mut query = realm.query_pairs_mut();
        if let Some(service) = service {
            query.append_pair("service", service);
        }
        query.append_pair("scope", scope);
    }
    let mut request = client.get(realm);
    if let Some((user, password)) = basic {
        request = request.basic_auth(user, Some(password));
    }
    // reqwest's error would name the URL, query included; only the host is named.
    let unreachable = |e: &reqwest::Error| {
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_redirect() {
            "redirected too often or to plain HTTP"
        } else {
            "could not be reached"
        };
        RegistryError::Unavailable(format!("{what} {kind}"))
    };
    let mut response = request.send().await.map_err(|e| unreachable(&e))?;
    match response.status() {
        StatusCode::OK => {}
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            return Err(RegistryError::Denied(format!(
                "{what} refused the credentials (HTTP {})",
                response.status().as_u16()
            )));
        }
        status => {
            return Err(RegistryError::Unavailable(format!(
                "{what} answered HTTP {}",
                status.as_u16()
            )));
        }
    }
    if let Some(length) = response.content_length()
        && length > MAX_TOKEN_BYTES
    {
        return Err(too_large(&what, length));
    }
    let mut body = Capped::new(MAX_TOKEN_BYTES, budget);
    while let Some(chunk) = response.chunk().await.map_err(|e| unreachable(&e))? {
        body.push(&chunk, &what).map_err(|e| match e {
            RegistryError::TooLarge { size, .. } => too_large(&what, size),
            other => other,
        })?;
    }
    token_of(&body.into_bytes(), &what)
}

/// The token in a token-service answer: `token`, or `access_token` (OAuth 2 style; some
/// registries send only that one), which wins when both are there, as in go-containerregistry.
fn token_of(body: &[u8], what: &str) -> Result<String, RegistryError> {
    #[derive(Deserialize)]
    struct Answer {
        #[serde(default)]
        token: String,
        #[serde(default)]
        access_token: String,
    }
    // serde_json's message quotes no input beyond a position: safe to keep.
    let answer: Answer = serde_json::from_slice(body)
        .map_err(|e| RegistryError::Invalid(format!("{what}: answer is not token JSON: {e}")))?;
    let token = if answer.access_token.is_empty() {
        answer.token
    } else {
        answer.access_token
    };
    if token.is_empty() {
        return Err(RegistryError::Denied(format!(
            "{what} answered without a token"
        )));
    }
    // RFC 6750 §2.1 b64token: it goes into a header, so it must be visible ASCII.
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(RegistryError::Invalid(format!(
            "{what}: the token is not a valid header value"
        )));
    }
    Ok(token)
}

fn too_large(what: &str, size: u64) -> RegistryError {
    RegistryError::TooLarge {
        what: format!("{what} answer"),
        size,
        limit: MAX_TOKEN_BYTES,
    }
}

/// Whether the realm `url` is on the registry's own host, or both are on loopback.
fn same_or_loopback(url: &Url, registry: &str) -> bool {
    let Some(realm_host) = url.host_str() else {
        return false;
    };
    let registry_host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => registry.split(':').next().unwrap_or(registry),
    };
    let realm_host = realm_host.trim_start_matches('[').trim_end_matches(']');
    realm_host.eq_ignore_ascii_case(registry_host)
        || (reference::is_loopback(registry) && is_loopback_host(realm_host))
}

fn is_loopback_host(host: &str) -> bool {
    if host.contains(':') {
        // An IPv6 address, which `is_loopback` expects in brackets.
        return reference::is_loopback(&format!("[{host}]"));
    }
    reference::is_loopback(host)
}

/// The `name=value` parameters of a challenge, values unquoted (RFC 7230 §3.2.6 quoted-string,
/// with `\` escapes).
fn parameters(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let Some((name, after)) = rest.split_once('=') else {
            return found;
        };
        let name = name.trim().to_owned();
        let after = after.trim_start();
        let (value, remaining) = match after.strip_prefix('"') {
            Some(quoted) => unquote(quoted),
            None => {
                let end = after.find(',').unwrap_or(after.len());
                let (value, remaining) = after.split_at(end);
                (value.trim().to_owned(), remaining)
            }
        };
        found.push((name, value));
        rest = remaining;
    }
}

/// Reads a quoted string whose opening quote is already consumed: the value and what follows
/// the closing quote (everything, if it is never closed).
fn unquote(text: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return (value, text.get(at + 1..).unwrap_or_default()),
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            }
            c => value.push(c),
        }
    }
    (value, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let cases = [
            (
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
                Challenge::Bearer {
                    realm: "https://auth.docker.io/token".into(),
                    service: Some("registry.docker.io".into()),
                },
            ),
            (
                r#"bearer service="s", realm="https://a.example/t?x=1""#,
                Challenge::Bearer {
                    realm: "https://a.example/t?x=1".into(),
                    service: Some("s".into()),
                },
            ),
            (
                r#"Bearer realm=https://unquoted.example/t"#,
                Challenge::Bearer {
                    realm: "https://unquoted.example/t".into(),
                    service: None,
                },
            ),
            (
                r#"Bearer realm="https://a.example/\"q\"""#,
                Challenge::Bearer {
                    realm: r#"https://a.example/"q""#.into(),
                    service: None,
                },
            ),
            (r#"Basic realm="registry""#, Challenge::Basic),
            (r#"Bearer service="no realm""#, Challenge::None),
            (
                r#"Bearer realm="unterminated"#,
                Challenge::Bearer {
                    realm: "unterminated".into(),
                    service: None,
                },
            ),
            ("Negotiate abc", Challenge::None),
            ("", Challenge::None),
            ("Bearer", Challenge::None),
            ("Bearer ,,,=,=\"", Challenge::None),
        ];
        for (header, expected) in cases {
            assert_eq!(parse_challenge(header), expected, "{header}");
        }
    }

    #[test]
    fn realm_rules() {
        use Scheme::{Http, Https};
        // (realm, registry, how the registry is reached, accepted)
        let cases = [
            (
                "https://auth.docker.io/token",
                "index.docker.io",
                Https,
                true,
            ),
            ("https://auth.example/token", "127.0.0.1:5000", Http, true),
            (
                "http://auth.example/token",
                "registry.example",
                Https,
                false,
            ),
            (
                "http://registry.example/token",
                "registry.example",
                Https,
                false,
            ),
            ("http://127.0.0.1:5001/token", "127.0.0.1:5000", Http, true),
            ("http://localhost:5001/token", "127.0.0.1:5000", Http, true),
            ("http://[::1]:5001/token", "localhost:5000", Http, true),
            (
                "http://127.0.0.1:5001/token",
                "registry.example:5000",
                Https,
                false,
            ),
            ("http://evil.example/token", "127.0.0.1:5000", Http, false),
            (
                "http://registry.internal:5001/t",
                "registry.internal:5000",
                Http,
                true,
            ),
            (
                "http://other.internal/t",
                "registry.internal:5000",
                Http,
                false,
            ),
            ("ftp://auth.example/token", "registry.example", Https, false),
            ("/token", "registry.example", Https, false),
            ("not a url", "registry.example", Https, false),
        ];
        for (realm, registry, scheme, accepted) in cases {
            let result = check_realm(realm, registry, scheme);
            assert_eq!(
                result.is_ok(),
                accepted,
                "{realm} for {registry}: {result:?}"
            );
            if let Err(error) = result {
                assert!(matches!(error, RegistryError::Invalid(_)));
            }
        }
    }

    #[test]
    fn reads_token_or_access_token() {
        let cases: [(&[u8], Option<&str>); 7] = [
            (br#"{"token":"abc"}"#, Some("abc")),
            (br#"{"access_token":"xyz"}"#, Some("xyz")),
            (
                br#"{"token":"abc","access_token":"xyz","expires_in":300}"#,
                Some("xyz"),
            ),
            (br#"{"token":""}"#, None),
            (br#"{}"#, None),
            (br#"{"token":"with space"}"#, None),
            (b"not json", None),
        ];
        for (body, expected) in cases {
            assert_eq!(token_of(body, "t").ok().as_deref(), expected, "{body:?}");
        }
    }

    #[test]
    fn errors_never_quote_the_token() {
        let error = token_of(br#"{"token":"s3cret\n"}"#, "t").unwrap_err();
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }
}
