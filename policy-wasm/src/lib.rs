//! sigward's verifier core: decides whether an image's cosign/Sigstore signatures satisfy a
//! set of authorities.
//!
//! It is sans-IO, like rustls and webpki: it never touches files, sockets, the environment, a
//! clock or randomness. What it needs comes in as arguments or through [`fetch::Fetch`], and
//! every digest of what comes back is checked again here. The same code builds natively (tests,
//! benches, the host's in-process comparisons) and as the `sigward:policy` WebAssembly
//! component, whose only import is the `fetcher` interface (`component.rs`, wasm only; the
//! crates in `policy-wasm/components/` link it into the portable, wide-arithmetic and
//! verify-only components).
//!
//! Modules: [`digest`] (sha256 digests), [`keys`] (public keys and signature checks),
//! [`simple_signing`] (cosign payloads), [`manifest`] (which manifest a reference names), [`reference`](mod@reference) (repository names), [`fetch`] (what the
//! host provides), [`authority`] (who may sign), [`image`] (image verification), [`verdict`]
//! (reports), [`error`] (errors and reason codes); for Sigstore: [`trust_root`], [`bundle`],
//! [`dsse`], [`cert`] (X.509 paths and Fulcio identities), [`sct`], [`tlog`] (Rekor entries,
//! inclusion proofs, checkpoints), [`tsa`] (RFC 3161), [`time`]; for admission: [`policy`]
//! (policy-controller's ClusterImagePolicy) and [`admission`] (AdmissionReview, Gatekeeper).
#![warn(missing_docs)]
#![warn(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::as_conversions
)]

pub mod admission;
pub mod authority;
pub mod bundle;
pub mod cert;
pub mod digest;
pub mod dsse;
pub mod error;
pub mod fetch;
#[doc(hidden)]
pub mod fuzz;
pub mod image;
pub mod keys;
pub mod manifest;
pub mod policy;
pub mod reference;
pub mod sct;
pub mod simple_signing;
pub mod time;
pub mod tlog;
pub mod trust_root;
pub mod tsa;
pub mod verdict;

#[cfg(test)]
mod testdata;

#[cfg(target_family = "wasm")]
#[allow(unsafe_code, reason = "wit-bindgen output")]
mod component;

pub use error::{Error, Reason};
pub use image::{VerifyRequest, verify_image};
