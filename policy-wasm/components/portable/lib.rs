//! The `sigward:policy` component, portable build (`make components`,
//! `target/components/sigward-policy.wasm`): links crate sigward-policy, whose adapter exports
//! the WIT world `policy`, into a component that uses only standard wasm features.
#[cfg(target_family = "wasm")]
extern crate sigward_policy;
