//! The `sigward:policy` component, wide-arithmetic build (`make components`,
//! `target/components/sigward-policy-wide.wasm`): the portable build's code, with this crate
//! compiled by `cargo rustc -- -C target-feature=+wide-arithmetic`. The link is one fat-LTO
//! module and LLVM's WebAssembly backend gives every function of a module the union of its
//! target features, so the dependencies, compiled without the flag and shared with the portable
//! build, get the proposal's `i64.add128`/`i64.mul_wide_*` too (`make test` checks that the
//! portable build has none and this one has them).
#[cfg(target_family = "wasm")]
extern crate sigward_policy;
