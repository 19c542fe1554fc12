//! The rules of the module docs as one table (issue 8, item 3), checked against what
//! distribution/reference (containerd) and go-containerregistry do with the same input.

use super::*;

const DIGEST: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[test]
fn normalises_every_spelling_of_a_repository_to_one_name() {
    let hub_nginx = "index.docker.io/library/nginx";
    let rows: &[(&str, &str)] = &[
        // Rule 1: bare names are official Docker Hub images.
        ("nginx", hub_nginx),
        ("nginx:1.25", hub_nginx),
        (
            "nginx@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            hub_nginx,
        ),
        // Rule 5: every name of Docker Hub, with and without `library/`.
        ("docker.io/nginx", hub_nginx),
        ("docker.io/library/nginx", hub_nginx),
        ("index.docker.io/nginx", hub_nginx),
        ("index.docker.io/library/nginx:latest", hub_nginx),
        ("registry-1.docker.io/nginx", hub_nginx),
        ("registry-1.docker.io/library/nginx", hub_nginx),
        // Rule 6: host names in any case.
        ("Docker.IO/nginx", hub_nginx),
        ("INDEX.DOCKER.IO/library/nginx", hub_nginx),
        // Rule 4: multi-component paths on Docker Hub keep their namespace.
        ("bitnami/redis:7", "index.docker.io/bitnami/redis"),
        ("docker.io/bitnami/redis", "index.docker.io/bitnami/redis"),
        (
            "index.docker.io/bitnami/redis",
            "index.docker.io/bitnami/redis",
        ),
        ("a/b/c", "index.docker.io/a/b/c"),
        // Rule 2: registries by '.', ':' or `localhost`; their one-component paths stay.
        ("ghcr.io/o/a:v1", "ghcr.io/o/a"),
        ("ghcr.io/app", "ghcr.io/app"),
        ("GHCR.IO/o/a", "ghcr.io/o/a"),
        ("127.0.0.1:5000/team/app:v1", "127.0.0.1:5000/team/app"),
        ("127.0.0.1:5000/app", "127.0.0.1:5000/app"),
        ("registry:5000/app", "registry:5000/app"),
        ("localhost/app:1", "localhost/app"),
        ("localhost:5000/app", "localhost:5000/app"),
        ("[::1]:5000/demo", "[::1]:5000/demo"),
        ("[::1]/demo", "[::1]/demo"),
        ("my.registry:443/x/y-z:1.0_rc", "my.registry:443/x/y-z"),
        // A port makes another registry, even Docker Hub's host name.
        ("docker.io:443/nginx", "docker.io:443/nginx"),
        // A bare `localhost` is an image name (rule 1 comes first), as in both libraries.
        ("localhost", "index.docker.io/library/localhost"),
        ("localhost:5000", "index.docker.io/library/localhost"),
        // The path grammar's separators.
        ("a/b_c", "index.docker.io/a/b_c"),
        ("a/b__c", "index.docker.io/a/b__c"),
        ("a/b---c", "index.docker.io/a/b---c"),
        ("a/b.c", "index.docker.io/a/b.c"),
    ];
    for &(written, repository) in rows {
        let parsed = ImageReference::parse(written).unwrap_or_else(|e| panic!("{written}: {e}"));
        assert_eq!(parsed.repository(), repository, "{written}");
        assert_eq!(
            super::repository(written).as_deref(),
            Some(repository),
            "{written}"
        );
        assert_eq!(
            parsed.is_docker_hub(),
            repository.starts_with("index.docker.io/"),
            "{written}"
        );
    }
}

#[test]
fn keeps_tags_and_digests_apart_from_ports() {
    let parsed = ImageReference::parse(&format!("127.0.0.1:5000/team/app:v1@{DIGEST}")).unwrap();
    assert_eq!(parsed.registry(), "127.0.0.1:5000");
    assert_eq!(parsed.path(), "team/app");
    assert_eq!(parsed.tag(), Some("v1"));
    assert_eq!(parsed.digest(), Some(DIGEST));
    assert_eq!(
        parsed.qualified(),
        format!("127.0.0.1:5000/team/app@{DIGEST}")
    );
    let parsed = ImageReference::parse("registry:5000/app").unwrap();
    assert_eq!((parsed.tag(), parsed.digest()), (None, None));
    assert_eq!(parsed.qualified(), "registry:5000/app:latest");
    assert_eq!(
        ImageReference::parse("nginx:1").unwrap().qualified(),
        "index.docker.io/library/nginx:1"
    );
}

#[test]
fn refuses_what_the_grammar_does_not_allow_or_readers_disagree_on() {
    let long = format!("a/{}", "b".repeat(300));
    let rows: &[(&str, ReferenceError)] = &[
        ("", ReferenceError::Empty),
        ("oci:/var/lib/secret", ReferenceError::Layout),
        ("oci:./img:v1", ReferenceError::Layout),
        ("repo@sha256:abc", ReferenceError::BadDigest),
        ("repo@md5", ReferenceError::BadDigest),
        ("repo:", ReferenceError::BadTag),
        ("ghcr.io/o/r:bad tag", ReferenceError::BadTag),
        ("repo:-x", ReferenceError::BadTag),
        // Rule 3: upper case in a first component that is not a host.
        (
            "Team/app",
            ReferenceError::AmbiguousRegistry("Team".to_owned()),
        ),
        (
            "LOCALHOST/app",
            ReferenceError::AmbiguousRegistry("LOCALHOST".to_owned()),
        ),
        // Upper case in the path.
        ("Repo", ReferenceError::BadPath("library/Repo".to_owned())),
        (
            "ghcr.io/Org/app",
            ReferenceError::BadPath("Org/app".to_owned()),
        ),
        (
            "docker.io/Nginx",
            ReferenceError::BadPath("library/Nginx".to_owned()),
        ),
        ("a b", ReferenceError::BadPath("library/a b".to_owned())),
        ("repo/-x", ReferenceError::BadPath("repo/-x".to_owned())),
        ("repo/a..b", ReferenceError::BadPath("repo/a..b".to_owned())),
        ("ghcr.io/", ReferenceError::BadPath(String::new())),
        (
            "host-.com/repo",
            ReferenceError::BadRegistry("host-.com".to_owned()),
        ),
        (
            "127.0.0.1:99999/repo",
            ReferenceError::BadRegistry("127.0.0.1:99999".to_owned()),
        ),
        (
            "host:+1/repo",
            ReferenceError::BadRegistry("host:+1".to_owned()),
        ),
        (
            "[nonsense]:5000/demo",
            ReferenceError::BadRegistry("[nonsense]:5000".to_owned()),
        ),
        ("[::1/demo", ReferenceError::BadRegistry("[::1".to_owned())),
        (&long, ReferenceError::TooLong),
    ];
    for (written, error) in rows {
        assert_eq!(
            ImageReference::parse(written).as_ref(),
            Err(error),
            "{written:?}"
        );
        assert_eq!(repository(written), None, "{written:?}");
    }
    // The layout error does not repeat the path.
    assert!(!ReferenceError::Layout.to_string().contains("/var"));
}

#[test]
fn same_repository_compares_normalised_names_and_fails_closed() {
    assert!(same_repository(
        "127.0.0.1:5000/app:v1",
        "127.0.0.1:5000/app"
    ));
    assert!(same_repository(
        "index.docker.io/nginx",
        "docker.io/library/nginx:1"
    ));
    assert!(!same_repository("127.0.0.1:5000/app", "127.0.0.1:5001/app"));
    assert!(!same_repository("ghcr.io/o/app", "ghcr.io/o/app2"));
    assert!(
        !same_repository("Team/app", "Team/app"),
        "invalid names never match"
    );
}

#[test]
fn strips_tag_and_digest_as_written() {
    let written = |reference: &str| {
        ImageReference::parse(reference)
            .unwrap()
            .written_name()
            .to_owned()
    };
    assert_eq!(written("host:5000/team/app:v1"), "host:5000/team/app");
    assert_eq!(written("nginx"), "nginx");
    assert_eq!(written("Docker.IO/nginx:1"), "Docker.IO/nginx");
    assert_eq!(written("[::1]:5000/app"), "[::1]:5000/app");
    assert_eq!(written(&format!("a/b:v1@{DIGEST}")), "a/b");
}
