//! The `sigward` binary: parse arguments, run the subcommand, turn the result into an exit code.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = sigward::cli::Cli::parse();
    match cli.run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(sigward::cli::EXIT_ERROR)
        }
    }
}
