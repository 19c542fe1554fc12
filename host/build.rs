//! Embeds the `sigward-policy` component built by `make components`.
//!
//! The Makefile builds the component for wasm32-wasip2 twice (portable, and with the
//! wide-arithmetic proposal) into `target/components/`. When the files are missing (a plain
//! `cargo build`), the binary is built without them and says so when it needs one; pass
//! `--component FILE` to load a `.wasm` at run time instead.

use std::path::PathBuf;

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dir = std::env::var_os("SIGWARD_COMPONENT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../target/components"));
    println!("cargo:rerun-if-env-changed=SIGWARD_COMPONENT_DIR");
    for (env, file) in [
        ("SIGWARD_EMBEDDED_PORTABLE", "sigward-policy.wasm"),
        ("SIGWARD_EMBEDDED_WIDE", "sigward-policy-wide.wasm"),
    ] {
        let path = dir.join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        let embedded = if path.is_file() {
            path
        } else {
            println!(
                "cargo:warning={} is missing: run `make components`",
                path.display()
            );
            let empty = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join(file);
            std::fs::write(&empty, b"").unwrap_or_else(|err| panic!("{}: {err}", empty.display()));
            empty
        };
        println!("cargo:rustc-env={env}={}", embedded.display());
    }
}
