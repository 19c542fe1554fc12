//! sigward end to end: the real `sigward` binary against a real `docker-registry` on a free
//! loopback port, with signatures made by independent signers (cosign 2.5, cosign 3.1, skopeo
//! 1.18) and by sigward itself, and with cosign (and skopeo) as second opinions on every
//! rejection.
//!
//! `make test` installs the peers and builds the binary. `SIGWARD_BIN`, `SIGWARD_COSIGN`,
//! `SIGWARD_COSIGN3`, `SIGWARD_SKOPEO`, `SIGWARD_CONTAINERD`, `SIGWARD_CTR` and `SIGWARD_REGISTRY`
//! (default `/usr/bin/docker-registry`) point elsewhere;
//! `SIGWARD_SHARED_DIR` (default `../shared`) is where shared fixtures are read in place.
//! Nothing here reaches beyond 127.0.0.1.

mod admission;
mod annotations;
mod attest;
mod bad_input;
mod conformance;
mod containerd;
mod cosign3;
mod demo;
mod hostile;
mod keyed;
mod negative;
mod node;
mod support;
mod tuf;
