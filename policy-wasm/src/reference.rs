//! Repository names as they appear in `docker-reference`, compared the way registries name
//! them (go-containerregistry's defaults: Docker Hub is `index.docker.io`, single-component
//! Hub names live under `library/`). This module never performs I/O.

/// Docker Hub's canonical registry host.
const DOCKER_HUB: &str = "index.docker.io";

/// The reference without its tag and digest, as written (`host:5000/app:v1` → `host:5000/app`).
pub fn name(reference: &str) -> &str {
    let name = reference.split('@').next().unwrap_or(reference);
    // A ':' after the last '/' starts a tag; one before it is a registry port.
    match (name.rfind(':'), name.rfind('/')) {
        (Some(colon), Some(slash)) if colon > slash => name.get(..colon).unwrap_or(name),
        (Some(colon), None) => name.get(..colon).unwrap_or(name),
        _ => name,
    }
}

/// The repository part of a reference (`registry/path` without tag or digest), normalised.
pub fn repository(reference: &str) -> String {
    let name = name(reference);
    let (first, rest) = name.split_once('/').unwrap_or(("", name));
    let has_registry = first.contains('.') || first.contains(':') || first == "localhost";
    if !has_registry {
        let path = if name.contains('/') {
            name.to_owned()
        } else {
            format!("library/{name}")
        };
        return format!("{DOCKER_HUB}/{path}");
    }
    if first == "docker.io" || first == "registry-1.docker.io" {
        let path = if rest.contains('/') {
            rest.to_owned()
        } else {
            format!("library/{rest}")
        };
        return format!("{DOCKER_HUB}/{path}");
    }
    name.to_owned()
}

/// True when two references name the same repository, ignoring tags and digests.
pub fn same_repository(a: &str, b: &str) -> bool {
    repository(a) == repository(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_tags_and_digests_but_keeps_ports() {
        assert_eq!(
            repository("127.0.0.1:5000/team/app:v1"),
            "127.0.0.1:5000/team/app"
        );
        assert_eq!(
            repository("127.0.0.1:5000/team/app"),
            "127.0.0.1:5000/team/app"
        );
        assert_eq!(
            repository(
                "ghcr.io/o/a:v1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
            ),
            "ghcr.io/o/a"
        );
        assert_eq!(repository("localhost/app:1"), "localhost/app");
    }

    #[test]
    fn normalises_docker_hub_names() {
        for name in [
            "nginx",
            "nginx:1.25",
            "docker.io/nginx",
            "docker.io/library/nginx",
            "index.docker.io/library/nginx",
        ] {
            assert_eq!(repository(name), "index.docker.io/library/nginx", "{name}");
        }
        assert_eq!(
            repository("bitnami/redis:7"),
            "index.docker.io/bitnami/redis"
        );
    }

    #[test]
    fn different_repositories_differ() {
        assert!(same_repository(
            "127.0.0.1:5000/app:v1",
            "127.0.0.1:5000/app"
        ));
        assert!(!same_repository("127.0.0.1:5000/app", "127.0.0.1:5001/app"));
        assert!(!same_repository("ghcr.io/o/app", "ghcr.io/o/app2"));
    }
}
