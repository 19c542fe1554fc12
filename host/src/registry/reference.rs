//! Image references: `oci:DIR[:TAG]` / `oci:DIR@sha256:…` for an OCI image layout on disk, and
//! registry references (`host[:port]/repo[:tag][@digest]`) read by the verifier core's
//! normaliser (`sigward_policy::reference`: the distribution grammar, every name of Docker Hub
//! as `index.docker.io`, `nginx` → `index.docker.io/library/nginx`).

use std::net::IpAddr;
use std::path::PathBuf;

use oci_client::Reference;
use sigward_policy::reference::{ImageReference, is_tag};

use super::RegistryError;
use super::digest::Digest;

/// Where an image lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    /// A repository in an OCI distribution registry.
    Registry(Reference),
    /// An OCI image layout directory.
    Layout(LayoutRef),
}

/// An image in an OCI image layout directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LayoutRef {
    /// The layout directory (holds `index.json`, `oci-layout`, `blobs/`).
    pub(super) dir: PathBuf,
    /// Which image of the layout.
    pub(super) selector: Selector,
}

/// How an image is picked out of a layout's `index.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Selector {
    /// No tag or digest: the cosign-`save` image, or the layout's only image.
    Only,
    /// The entry annotated `org.opencontainers.image.ref.name: TAG`.
    Tag(String),
    /// The manifest with this digest.
    Digest(Digest),
}

/// Parses an image reference; `oci:` selects an image layout.
pub(super) fn parse(image: &str) -> Result<Target, RegistryError> {
    match image.strip_prefix("oci:") {
        Some(rest) => parse_layout(rest).map(Target::Layout),
        None => parse_registry(image).map(Target::Registry),
    }
}

/// The repository name as go-containerregistry prints it (`index.docker.io/library/nginx`,
/// `127.0.0.1:5000/demo`): the registry actually contacted, then the repository path.
pub(super) fn repository_name(reference: &Reference) -> String {
    format!(
        "{}/{}",
        reference.resolve_registry(),
        reference.repository()
    )
}

/// The same repository with another tag.
pub(super) fn with_tag(reference: &Reference, tag: String) -> Reference {
    Reference::with_tag(
        reference.registry().to_owned(),
        reference.repository().to_owned(),
        tag,
    )
}

/// The same repository addressed by digest.
pub(super) fn with_digest(reference: &Reference, digest: &Digest) -> Reference {
    Reference::with_digest(
        reference.registry().to_owned(),
        reference.repository().to_owned(),
        digest.to_string(),
    )
}

/// Whether `registry` (`host[:port]`) names this machine: `localhost`, 127.0.0.0/8 or `[::1]`.
pub(super) fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        // `[v6]` or `[v6]:port`.
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => registry.split(':').next().unwrap_or(registry),
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Parses `[host[:port]/]path[:tag][@digest]` with the verifier core's one normaliser
/// ([`ImageReference`]: the distribution grammar, Docker Hub under all its names as
/// `index.docker.io`, `library/` for its one-component paths), so that what the host fetches
/// is the repository the policies matched. Written out rather than through oci-client's
/// parser, whose Unicode regular expression takes ~30 ms to compile: a third of a whole
/// `sigward verify` run.
fn parse_registry(image: &str) -> Result<Reference, RegistryError> {
    let parsed = ImageReference::parse(image)
        .map_err(|e| RegistryError::Invalid(format!("image reference {image:?}: {e}")))?;
    let (registry, path) = (parsed.registry().to_owned(), parsed.path().to_owned());
    Ok(match (parsed.tag(), parsed.digest()) {
        (Some(tag), Some(digest)) => {
            Reference::with_tag_and_digest(registry, path, tag.into(), digest.into())
        }
        (None, Some(digest)) => Reference::with_digest(registry, path, digest.into()),
        (tag, None) => Reference::with_tag(registry, path, tag.unwrap_or("latest").to_owned()),
    })
}

fn parse_layout(rest: &str) -> Result<LayoutRef, RegistryError> {
    let (dir, selector) = if let Some((dir, digest)) = rest.rsplit_once('@') {
        (dir, Selector::Digest(Digest::parse(digest)?))
    } else {
        match rest.rsplit_once(':') {
            Some((dir, tag)) if is_tag(tag) => (dir, Selector::Tag(tag.to_owned())),
            _ => (rest, Selector::Only),
        }
    };
    if dir.is_empty() {
        return Err(RegistryError::Invalid(format!(
            "image layout reference oci:{rest}: empty directory"
        )));
    }
    Ok(LayoutRef {
        dir: PathBuf::from(dir),
        selector,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn registry(image: &str) -> Reference {
        match parse(image).unwrap() {
            Target::Registry(reference) => reference,
            other => panic!("{image} parsed as {other:?}"),
        }
    }

    fn layout(image: &str) -> LayoutRef {
        match parse(image).unwrap() {
            Target::Layout(layout) => layout,
            other => panic!("{image} parsed as {other:?}"),
        }
    }

    #[test]
    fn normalises_docker_hub_short_names_like_go_containerregistry() {
        let nginx = registry("nginx");
        assert_eq!(repository_name(&nginx), "index.docker.io/library/nginx");
        assert_eq!(nginx.tag(), Some("latest"));
        let org = registry("bitnami/redis:7");
        assert_eq!(repository_name(&org), "index.docker.io/bitnami/redis");
        assert_eq!(org.tag(), Some("7"));
        // Issue 8, item 3: the host fetches the repository the policies matched.
        for hub in [
            "docker.io/nginx",
            "index.docker.io/nginx",
            "registry-1.docker.io/library/nginx",
        ] {
            assert_eq!(
                repository_name(&registry(hub)),
                "index.docker.io/library/nginx",
                "{hub}"
            );
        }
    }

    #[test]
    fn keeps_registry_port_tag_and_digest() {
        let reference = registry(&format!("127.0.0.1:5000/team/app:v1@{DIGEST}"));
        assert_eq!(repository_name(&reference), "127.0.0.1:5000/team/app");
        assert_eq!(reference.tag(), Some("v1"));
        assert_eq!(reference.digest(), Some(DIGEST));
    }

    #[test]
    fn accepts_the_separators_of_the_grammar() {
        for good in [
            "a/b_c",
            "a/b__c",
            "a/b---c",
            "a/b.c",
            "my.registry:443/x/y-z:1.0_rc",
        ] {
            assert!(parse(good).is_ok(), "{good}");
        }
        assert_eq!(repository_name(&registry("localhost/app")), "localhost/app");
    }

    #[test]
    fn accepts_ipv6_loopback_registries() {
        let reference = registry(&format!("[::1]:5000/demo@{DIGEST}"));
        assert_eq!(reference.registry(), "[::1]:5000");
        assert_eq!(reference.repository(), "demo");
        assert_eq!(reference.digest(), Some(DIGEST));
        assert_eq!(registry("[::1]/demo").tag(), Some("latest"));
        assert!(parse("[nonsense]:x/demo").is_err());
    }

    #[test]
    fn rejects_malformed_references() {
        for bad in [
            "",
            "Repo",
            "repo@sha256:abc",
            "a b",
            "repo:",
            "repo/-x",
            "repo/a..b",
            "host-.com/repo",
            "127.0.0.1:99999/repo",
            "ghcr.io/o/r:bad tag",
        ] {
            assert!(
                matches!(parse(bad), Err(RegistryError::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn parses_layout_references() {
        assert_eq!(
            layout("oci:/tmp/img"),
            LayoutRef {
                dir: "/tmp/img".into(),
                selector: Selector::Only
            }
        );
        assert_eq!(
            layout("oci:./img:v1").selector,
            Selector::Tag("v1".to_owned())
        );
        assert_eq!(layout("oci:./img:v1").dir, PathBuf::from("./img"));
        assert_eq!(
            layout(&format!("oci:img@{DIGEST}")).selector,
            Selector::Digest(Digest::parse(DIGEST).unwrap())
        );
        // A colon followed by a path is part of the directory name.
        assert_eq!(layout("oci:a:b/c").dir, PathBuf::from("a:b/c"));
        assert!(parse("oci:").is_err());
        assert!(parse("oci:img@sha256:../../x").is_err());
    }

    #[test]
    fn recognises_loopback_registries_only() {
        for local in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
            "[::1]",
        ] {
            assert!(is_loopback(local), "{local}");
        }
        for remote in [
            "index.docker.io",
            "ghcr.io",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[::2]:5000",
            "127.0.0.1.nip.io",
        ] {
            assert!(!is_loopback(remote), "{remote}");
        }
    }
}
