//! What the fuzz targets share: the production trust root and the example policies, read once
//! from where the tests read them (`SIGWARD_CONFORMANCE_DIR`, default `../../shared/conformance`;
//! `policies/` of the repository).

use std::path::PathBuf;
use std::sync::OnceLock;

use sigward_policy::policy::ClusterImagePolicy;
use sigward_policy::trust_root::TrustedRoot;

/// The production `trusted_root.json`, parsed.
pub fn production_root() -> &'static TrustedRoot {
    static ROOT: OnceLock<TrustedRoot> = OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = std::env::var_os("SIGWARD_CONFORMANCE_DIR").map_or_else(
            || {
                PathBuf::from(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../../shared/conformance"
                ))
            },
            PathBuf::from,
        );
        let path = dir.join("trust/production/trusted_root.json");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        TrustedRoot::parse(&bytes).expect("the production trust root parses")
    })
}

/// Every example policy in `policies/`, parsed.
pub fn example_policies() -> &'static [ClusterImagePolicy] {
    static POLICIES: OnceLock<Vec<ClusterImagePolicy>> = OnceLock::new();
    POLICIES.get_or_init(|| {
        let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../policies"));
        let mut policies = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("policies/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).expect("a policy file");
                policies
                    .extend(ClusterImagePolicy::parse_all(&text).expect("example policies load"));
            }
        }
        policies
    })
}
