//! `sigward precompile` (hidden, for `make build`): compiles the components `make components`
//! left in a directory ahead of time, and writes each beside its `.wasm` with the hash of the
//! `.wasm` it came from, for the next build to embed. It reads the files, not its own embedded
//! copies, so the binary that runs it can be built while the components are.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use sha2::{Digest as _, Sha256};

use super::EXIT_OK;
use crate::runtime::{Precompiled, Runtime};

/// Precompile the components in DIR (`<name>.wasm`) into `<name>.cwasm` and
/// `<name>.cwasm.sha256` there.
#[derive(Debug, clap::Args)]
pub(crate) struct PrecompileCommand {
    /// Where they are (the Makefile uses target/components).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

impl PrecompileCommand {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        for Precompiled {
            name,
            wasm,
            native: precompiled,
        } in Runtime::precompile(&self.out)?
        {
            let cwasm = self.out.join(format!("{name}.cwasm"));
            let hash = base16ct::lower::encode_string(&Sha256::digest(&wasm));
            let stamp = self.out.join(format!("{name}.cwasm.sha256"));
            // Unchanged files keep their times, so the next build does not relink for nothing.
            if std::fs::read(&cwasm).is_ok_and(|old| old == precompiled)
                && std::fs::read_to_string(&stamp).is_ok_and(|old| old == hash)
            {
                continue;
            }
            std::fs::write(&cwasm, precompiled)
                .with_context(|| format!("writing {}", cwasm.display()))?;
            std::fs::write(&stamp, hash).with_context(|| format!("writing {}", stamp.display()))?;
        }
        Ok(ExitCode::from(EXIT_OK))
    }
}
