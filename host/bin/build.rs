//! Embeds the `sigward-policy` component built by `make components` in the `sigward`
//! executable, and its precompiled form when `make build` has made one for exactly that
//! component (`main.rs` hands them to the library, `sigward::runtime::Embedded`).
//!
//! The Makefile links the component for wasm32-wasip2 twice (portable, and with the
//! wide-arithmetic proposal; `policy-wasm/components/`) into `target/components/`, then has the
//! host precompile them (`sigward precompile`), writing `<name>.cwasm` and `<name>.cwasm.sha256`
//! (the hash of the `.wasm` it was compiled from). A `.cwasm` is embedded only when that hash
//! matches the `.wasm` being embedded, so a stale one is never used. Missing files embed as empty: the
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
        // What is embedded is a copy in OUT_DIR, made here from one read of each file: the
        // `.wasm` and `.cwasm` embedded together are the pair whose hash was checked, even if
        // `make components` replaces a file while this crate compiles (`make build` builds both
        // at once); cargo then builds this crate again.
        let bytes = std::fs::read(&wasm).unwrap_or_else(|_| {
            println!(
                "cargo:warning={} is missing, so this build embeds no component: `make build` \
                 builds and embeds it",
                wasm.display()
            );
            Vec::new()
        });
        let hash = base16ct::lower::encode_string(&Sha256::digest(&bytes));
        let precompiled = std::fs::read_to_string(&stamp)
            .ok()
            .filter(|s| !bytes.is_empty() && s.trim() == hash)
            .and_then(|_| std::fs::read(&cwasm).ok())
            .unwrap_or_default();
        println!(
            "cargo:rustc-env={env}={}",
            write(&out, &format!("{name}.wasm"), &bytes).display()
        );
        println!(
            "cargo:rustc-env={env}_CWASM={}",
            write(&out, &format!("{name}.cwasm"), &precompiled).display()
        );
    }
}

/// Writes `bytes` to `out/file`, unless it already holds them.
fn write(out: &Path, file: &str, bytes: &[u8]) -> PathBuf {
    let path = out.join(file);
    if std::fs::read(&path).is_ok_and(|old| old == bytes) {
        return path;
    }
    std::fs::write(&path, bytes).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    path
}
