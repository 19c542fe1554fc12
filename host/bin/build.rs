//! Embeds the `sigward-policy` component built by `make components` in the `sigward`
//! executable, and its precompiled form when `make build` has made one for exactly that
//! component (`main.rs` hands them to the library, `sigward::runtime::Embedded`).
//!
//! The Makefile builds the component for wasm32-wasip2 twice (portable, and with the
//! wide-arithmetic proposal) into `target/components/`, then has the host precompile them
//! (`sigward precompile`), writing `<name>.cwasm` and `<name>.cwasm.sha256` (the hash of the
//! `.wasm` it was compiled from). A `.cwasm` is embedded only when that hash matches the
//! `.wasm` being embedded, so a stale one is never used. Missing files embed as empty: the
//! binary then compiles (and caches) at run time, or says it has no component.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let dir = std::env::var_os("SIGWARD_COMPONENT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../../target/components"));
    println!("cargo:rerun-if-env-changed=SIGWARD_COMPONENT_DIR");
    for (env, name) in [
        ("SIGWARD_EMBEDDED_PORTABLE", "sigward-policy"),
        ("SIGWARD_EMBEDDED_WIDE", "sigward-policy-wide"),
    ] {
        let wasm = dir.join(format!("{name}.wasm"));
        let cwasm = dir.join(format!("{name}.cwasm"));
        let stamp = dir.join(format!("{name}.cwasm.sha256"));
        for path in [&wasm, &cwasm, &stamp] {
            println!("cargo:rerun-if-changed={}", path.display());
        }
        let Ok(bytes) = std::fs::read(&wasm) else {
            println!(
                "cargo:warning={} is missing: run `make components`",
                wasm.display()
            );
            println!(
                "cargo:rustc-env={env}={}",
                empty(&out, &format!("{name}.wasm")).display()
            );
            println!(
                "cargo:rustc-env={env}_CWASM={}",
                empty(&out, &format!("{name}.cwasm")).display()
            );
            continue;
        };
        println!("cargo:rustc-env={env}={}", wasm.display());
        let hash = base16ct::lower::encode_string(&Sha256::digest(&bytes));
        let fresh =
            std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == hash) && cwasm.is_file();
        let precompiled = if fresh {
            cwasm
        } else {
            empty(&out, &format!("{name}.cwasm"))
        };
        println!("cargo:rustc-env={env}_CWASM={}", precompiled.display());
    }
}

fn empty(out: &Path, file: &str) -> PathBuf {
    let path = out.join(file);
    std::fs::write(&path, b"").unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    path
}
