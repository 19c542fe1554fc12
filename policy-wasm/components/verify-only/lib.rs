//! The `sigward:policy` component without the `admission` export, WIT world `verifier-only`
//! (`make component-verify-only`, `target/components/sigward-policy-verify-only.wasm`): crate
//! sigward-policy without its default `admission` feature, for engines that only verify.
#[cfg(target_family = "wasm")]
extern crate sigward_policy;
