//! Image references (`[host[:port]/]path[:tag][@digest]`), read by the distribution reference
//! grammar and normalised once, here, for the verifier, the admission decisions, policy globs
//! and the host's registry client alike (issue 8, item 3). This module never performs I/O.
//!
//! Where the registry is (the rules of distribution/reference's `splitDockerDomain`, which
//! containerd and so the node that pulls the image follow, and of go-containerregistry's
//! `name.NewRepository`, which policy-controller's globs see):
//!
//! 1. A name without `/` is on Docker Hub, in `library/` (`nginx`, `nginx:1.25`).
//! 2. Otherwise the first component is the registry when it contains `.` or `:` (a domain,
//!    an IPv4 address, a port, an `[IPv6]` literal) or is `localhost` (distribution's reserved
//!    name; go-containerregistry would read `localhost/x` as a Hub repository, but the node
//!    pulls from `localhost`, and what runs decides).
//! 3. A first component with an upper-case letter and neither `.` nor `:` is refused:
//!    distribution takes it for a registry host, go-containerregistry for an invalid
//!    repository, and repository paths are lower case. Refusing it is the one reading that
//!    cannot be escaped.
//! 4. Anything else is a Docker Hub path (`bitnami/redis`).
//! 5. Docker Hub is written `index.docker.io` (go-containerregistry's canonical name, the one
//!    policy-controller's `*` globs are rewritten to), whether it was named `docker.io`,
//!    `index.docker.io` (distribution's legacy name) or `registry-1.docker.io` (the host
//!    Docker Hub's registry API is served from, so the same repositories). A one-component
//!    path on Docker Hub, under any of these names, is in `library/` (`index.docker.io/nginx`
//!    is `index.docker.io/library/nginx`).
//! 6. Host names are compared in lower case (DNS names are case-insensitive, RFC 4343), so
//!    `GHCR.IO/org/app` cannot escape a policy for `ghcr.io/org/*`. A port makes another
//!    registry (`docker.io:443` is not normalised), as in both libraries.
//!
//! `oci:DIR` (the CLI's image layouts) is not a registry reference: it is refused with
//! [`ReferenceError::Layout`], whose message does not repeat the path.

use core::net::Ipv6Addr;

/// Docker Hub's canonical registry name.
pub const DOCKER_HUB: &str = "index.docker.io";

/// The names Docker Hub is reached by (compared in lower case).
const DOCKER_HUB_ALIASES: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// The longest repository name (registry and path) distribution accepts.
const MAX_NAME_LENGTH: usize = 255;

/// An image reference, parsed and normalised (see the module docs for the rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReference {
    /// The name as written, without tag and digest (`host:5000/app`, `nginx`).
    written: String,
    registry: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// Why an image reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// Nothing to parse.
    #[error("the image reference is empty")]
    Empty,
    /// `oci:…`, the CLI's image layout syntax.
    #[error("image layouts (oci:…) are read by the sigward CLI only; name an image in a registry")]
    Layout,
    /// The digest after `@` is not `algorithm:hex` (32 or more hex digits).
    #[error("the digest is not algorithm:hex")]
    BadDigest,
    /// The tag is not `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    #[error("the tag is not valid (letters, digits, '_', '.', '-'; at most 128)")]
    BadTag,
    /// The registry host or port is not valid.
    #[error("the registry host {0:?} is not valid")]
    BadRegistry(String),
    /// A path component is not lower-case letters and digits with `.`, `_`, `__` or `-`
    /// between them.
    #[error("the repository path {0:?} is not valid (lower-case letters, digits, separators)")]
    BadPath(String),
    /// An upper-case first component without `.` or `:`: a host to some readers, an invalid
    /// repository to others.
    #[error(
        "the first component {0:?} has upper-case letters but no '.' or ':': it is neither a \
         registry host nor a repository (write the registry's domain, or the path in lower case)"
    )]
    AmbiguousRegistry(String),
    /// More than 255 characters of name.
    #[error("the repository name is longer than {MAX_NAME_LENGTH} characters")]
    TooLong,
}

impl ImageReference {
    /// Parses and normalises `reference`.
    ///
    /// # Errors
    ///
    /// A [`ReferenceError`] naming the part that breaks the grammar; [`ReferenceError::Layout`]
    /// for `oci:` references.
    pub fn parse(reference: &str) -> Result<Self, ReferenceError> {
        if reference.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if reference.starts_with("oci:") {
            return Err(ReferenceError::Layout);
        }
        let (name, digest) = match reference.split_once('@') {
            Some((name, digest)) => {
                if !is_digest(digest) {
                    return Err(ReferenceError::BadDigest);
                }
                (name, Some(digest.to_owned()))
            }
            None => (reference, None),
        };
        // A ':' after the last '/' starts a tag; one before it belongs to the registry.
        let (name, tag) = match name.rsplit_once(':') {
            Some((before, tag)) if !tag.contains(['/', ']']) => {
                if !is_tag(tag) {
                    return Err(ReferenceError::BadTag);
                }
                (before, Some(tag.to_owned()))
            }
            _ => (name, None),
        };
        if name.len() > MAX_NAME_LENGTH {
            return Err(ReferenceError::TooLong);
        }
        let (registry, path) = split_registry(name)?;
        if !path.split('/').all(is_path_component) {
            return Err(ReferenceError::BadPath(path));
        }
        Ok(Self {
            written: name.to_owned(),
            registry,
            path,
            tag,
            digest,
        })
    }

    /// The name as written, without its tag and digest (`host:5000/app:v1` → `host:5000/app`,
    /// `nginx:1` → `nginx`): what a digest is appended to when a tag is pinned.
    pub fn written_name(&self) -> &str {
        &self.written
    }

    /// The registry, normalised (`index.docker.io`, `ghcr.io`, `127.0.0.1:5000`, `[::1]:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path within the registry (`library/nginx`, `team/app`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, if one was written (no `latest` is assumed here).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if one was written.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// True for Docker Hub, however it was named.
    pub fn is_docker_hub(&self) -> bool {
        self.registry == DOCKER_HUB
    }

    /// `registry/path`, the repository's normalised name (`index.docker.io/library/nginx`).
    pub fn repository(&self) -> String {
        format!("{}/{}", self.registry, self.path)
    }

    /// The name go-containerregistry's `ref.Name()` prints, which policy globs match: the
    /// repository, then `@digest` (a tag next to a digest is dropped), else `:tag`, else
    /// `:latest`.
    pub fn qualified(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => format!("{}@{digest}", self.repository()),
            (None, Some(tag)) => format!("{}:{tag}", self.repository()),
            (None, None) => format!("{}:latest", self.repository()),
        }
    }
}

/// True when `registry` (a host name, any case) is one of Docker Hub's names.
pub fn is_docker_hub_host(registry: &str) -> bool {
    DOCKER_HUB_ALIASES
        .iter()
        .any(|alias| alias.eq_ignore_ascii_case(registry))
}

/// The normalised repository of a reference (`nginx:1` → `index.docker.io/library/nginx`), or
/// `None` when it is not a valid registry reference.
pub fn repository(reference: &str) -> Option<String> {
    ImageReference::parse(reference)
        .ok()
        .map(|parsed| parsed.repository())
}

/// True when two references name the same repository, ignoring tags and digests; false when
/// either is not a valid reference.
pub fn same_repository(a: &str, b: &str) -> bool {
    match (repository(a), repository(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The OCI tag grammar: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn is_tag(text: &str) -> bool {
    let mut bytes = text.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    first_ok
        && text.len() <= 128
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Rules 1 to 6 of the module docs: the normalised registry and the path.
fn split_registry(name: &str) -> Result<(String, String), ReferenceError> {
    let Some((first, rest)) = name.split_once('/') else {
        return Ok((DOCKER_HUB.to_owned(), format!("library/{name}")));
    };
    let is_registry = first.contains(['.', ':']) || first == "localhost";
    if !is_registry {
        if first.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceError::AmbiguousRegistry(first.to_owned()));
        }
        return Ok((DOCKER_HUB.to_owned(), name.to_owned()));
    }
    if !is_host(first) {
        return Err(ReferenceError::BadRegistry(first.to_owned()));
    }
    let registry = first.to_ascii_lowercase();
    if DOCKER_HUB_ALIASES.contains(&registry.as_str()) {
        let path = if rest.contains('/') {
            rest.to_owned()
        } else {
            format!("library/{rest}")
        };
        return Ok((DOCKER_HUB.to_owned(), path));
    }
    Ok((registry, rest.to_owned()))
}

/// `host[:port]`: dot-separated labels of letters, digits and inner hyphens, or `[IPv6]`; a
/// port is decimal and fits 16 bits.
fn is_host(registry: &str) -> bool {
    let (host_ok, port) = match registry.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((address, port)) => (address.parse::<Ipv6Addr>().is_ok(), port),
            None => return false,
        },
        None => {
            let (host, port) = match registry.find(':') {
                Some(colon) => registry.split_at(colon),
                None => (registry, ""),
            };
            let label_ok = |label: &str| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            };
            (host.split('.').all(label_ok), port)
        }
    };
    let port_ok = port.is_empty()
        || port.strip_prefix(':').is_some_and(|p| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
        });
    host_ok && port_ok
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn is_path_component(component: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    if !bytes.first().copied().is_some_and(alnum) || !bytes.last().copied().is_some_and(alnum) {
        return false;
    }
    let mut rest = bytes;
    while let Some((&b, tail)) = rest.split_first() {
        if alnum(b) {
            rest = tail;
            continue;
        }
        // A separator run: '.', '_', '__' or one or more '-'.
        let run = rest.iter().take_while(|&&c| !alnum(c)).count();
        let separator = rest.get(..run).unwrap_or_default();
        let ok = matches!(separator, b"." | b"_" | b"__")
            || (!separator.is_empty() && separator.iter().all(|&c| c == b'-'));
        if !ok {
            return false;
        }
        rest = rest.get(run..).unwrap_or_default();
    }
    true
}

/// `algorithm:hex`: algorithm components of letters and digits starting with a letter,
/// joined by `+`, `.`, `_` or `-`; 32 or more hex digits.
fn is_digest(digest: &str) -> bool {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return false;
    };
    let algorithm_ok = algorithm.starts_with(|c: char| c.is_ascii_alphabetic())
        && algorithm
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_+.".contains(c));
    algorithm_ok && hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests;
