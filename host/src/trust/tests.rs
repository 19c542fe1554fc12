use super::store::{State, TRUSTED_ROOT};
use super::*;

/// A trusted root whose only entry (a CT log, key irrelevant here) starts at `start`.
fn root_starting(start: &str) -> Vec<u8> {
    serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "ctlogs": [{
            "baseUrl": "https://ct.example",
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": "AAAA",
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": {"start": start},
            },
            "logId": {"keyId": "AAAA"},
        }],
    })
    .to_string()
    .into_bytes()
}

/// Commits a TUF cache generation for `name` holding `trusted_root`, whose timestamp expires
/// at `expires`.
fn cache(dir: &Path, name: &str, trusted_root: &[u8], expires: i64) {
    let generation = Store::new(dir, name).begin().unwrap();
    generation.write_target(TRUSTED_ROOT, trusted_root).unwrap();
    generation
        .commit(&State {
            mirror: "http://127.0.0.1:1/".into(),
            bootstrap_root_sha256: "00".into(),
            root_version: 1,
            refreshed: 1_700_000_000,
            timestamp_expires: expires,
            trusted_root_sha256: "00".into(),
        })
        .unwrap();
}

#[test]
fn embeds_both_roots_and_files_shadow_them() {
    let mut roots = TrustRoots::default();
    assert!(roots.get(PRODUCTION_NAME).unwrap().starts_with(b"{"));
    assert_ne!(
        roots.get(PRODUCTION_NAME).unwrap(),
        roots.get(STAGING_NAME).unwrap()
    );
    assert!(matches!(roots.get("nope"), Err(TrustError::Unknown(_))));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("root.json");
    std::fs::write(&file, b"{\"x\":1}").unwrap();
    roots.add_file(PRODUCTION_NAME, &file).unwrap();
    assert_eq!(&*roots.get(PRODUCTION_NAME).unwrap(), b"{\"x\":1}");
    assert!(roots.add_file("x", &dir.path().join("missing")).is_err());
}

#[test]
fn embeds_the_tuf_roots_of_both_repositories() {
    for name in [PRODUCTION_NAME, STAGING_NAME] {
        let (mirror, root) = embedded_repository(name).unwrap();
        assert!(mirror.starts_with("https://tuf-repo-cdn."));
        let root: serde_json::Value = serde_json::from_slice(root).unwrap();
        assert_eq!(root["signed"]["_type"], "root", "{name}");
    }
    assert!(embedded_repository("other").is_none());
}

#[test]
fn a_newer_cached_root_is_used_and_an_older_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let newer = root_starting("2099-01-01T00:00:00Z");
    let older = root_starting("2001-01-01T00:00:00Z");
    cache(dir.path(), PRODUCTION_NAME, &newer, i64::MAX);
    cache(dir.path(), STAGING_NAME, &older, i64::MAX);
    let roots = TrustRoots::from_dir(dir.path()).unwrap();
    assert_eq!(&*roots.get(PRODUCTION_NAME).unwrap(), &newer[..]);
    assert_eq!(&*roots.get(STAGING_NAME).unwrap(), STAGING);
    assert_eq!(roots.notes().len(), 1, "{:?}", roots.notes());
    assert!(roots.notes()[0].contains("older than the one embedded"));
}

#[test]
fn a_stale_cache_is_still_used_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let newer = root_starting("2099-01-01T00:00:00Z");
    cache(dir.path(), PRODUCTION_NAME, &newer, 1_700_000_100);
    let roots = TrustRoots::from_dir(dir.path()).unwrap();
    assert_eq!(&*roots.get(PRODUCTION_NAME).unwrap(), &newer[..]);
    let notes = roots.notes().join("\n");
    assert!(
        notes.contains("last refreshed from http://127.0.0.1:1/ at 2023-11-14T22:13:20Z")
            && notes.contains("days ago"),
        "{notes}"
    );
}

#[test]
fn a_broken_cache_falls_back_to_the_embedded_root() {
    let dir = tempfile::tempdir().unwrap();
    cache(dir.path(), PRODUCTION_NAME, b"{not json", i64::MAX);
    let roots = TrustRoots::from_dir(dir.path()).unwrap();
    assert_eq!(&*roots.get(PRODUCTION_NAME).unwrap(), PRODUCTION);
    assert!(roots.notes()[0].contains("is not a trusted root"));
}

#[test]
fn an_operator_file_shadows_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    cache(
        dir.path(),
        PRODUCTION_NAME,
        &root_starting("2099-01-01T00:00:00Z"),
        i64::MAX,
    );
    std::fs::write(dir.path().join("production.json"), b"{\"operator\":1}").unwrap();
    let roots = TrustRoots::from_dir(dir.path()).unwrap();
    assert_eq!(&*roots.get(PRODUCTION_NAME).unwrap(), b"{\"operator\":1}");
    assert!(roots.notes().is_empty());
}

#[test]
fn a_replaced_root_is_seen_by_the_next_get() {
    let roots = TrustRoots::default();
    let before = roots.get(PRODUCTION_NAME).unwrap();
    roots.replace(PRODUCTION_NAME, b"new".to_vec());
    assert_eq!(&*before, PRODUCTION);
    assert_eq!(&*roots.get(PRODUCTION_NAME).unwrap(), b"new");
}
