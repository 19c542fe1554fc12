//! sigward's host: the wasmtime embedding that runs the `sigward-policy` component, the OCI
//! registry and image-layout client that feeds it, signing, and the command-line interface.
//!
//! The host fetches; the component decides. Nothing in this crate judges a signature: it
//! hands bytes to the component (`runtime`) and turns its verdicts into exit codes and output.
#![warn(missing_docs)]

pub mod cli;
pub mod fetcher;
pub mod pull_cache;
pub mod registry;
pub mod runtime;
pub mod server;
pub mod signing;
pub mod trust;
mod watch;
