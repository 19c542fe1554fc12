//! Standard output for the subcommands. A closed stdout (`sigward verify … | head -1`) is not
//! an error: what is left to print is dropped quietly and the exit code still tells the
//! verdict. Any other write error is reported once on stderr.

use std::fmt;
use std::io::{self, Write as _};

/// Writes `args` and a newline to stdout (what `println!` does, without its panic).
pub(crate) fn line(args: fmt::Arguments<'_>) {
    let written = writeln!(io::stdout().lock(), "{args}");
    if let Err(err) = written
        && err.kind() != io::ErrorKind::BrokenPipe
    {
        eprintln!("error: writing to standard output: {err}");
    }
}

/// `println!` for the subcommands: see [`line`].
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::output::line(format_args!($($arg)*))
    };
}
pub(crate) use outln;
