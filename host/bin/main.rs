//! The `sigward` executable: hand the library the components embedded at build time
//! (`build.rs`), parse arguments, run the subcommand, turn the result into an exit code.

use std::process::ExitCode;

use clap::Parser as _;
use sigward::runtime::Embedded;

fn main() -> ExitCode {
    Embedded {
        portable: include_bytes!(env!("SIGWARD_EMBEDDED_PORTABLE")),
        portable_precompiled: include_bytes!(env!("SIGWARD_EMBEDDED_PORTABLE_CWASM")),
        wide: include_bytes!(env!("SIGWARD_EMBEDDED_WIDE")),
        wide_precompiled: include_bytes!(env!("SIGWARD_EMBEDDED_WIDE_CWASM")),
    }
    .install();
    let cli = sigward::cli::Cli::parse_from(sigward::cli::args());
    match cli.run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(sigward::cli::EXIT_ERROR)
        }
    }
}
