//! `--timeout` (cosign's flag, default 3 minutes): one deadline for a whole command.
//!
//! Two things enforce it (issue 8, item 11). Every registry call of the command draws on a
//! [`Budget`] that ends at the deadline, so fetches stop there and the verifier gets an error it
//! can report. And a watchdog thread ends the process shortly after the deadline, with exit code
//! 2 and the reason, whatever is still running (loading the component, the verifier itself): the
//! command never outlives its deadline by more than [`GRACE`].

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::EXIT_ERROR;
use crate::registry::Budget;
#[cfg(test)]
use crate::registry::DEFAULT_COMMAND_TIMEOUT;

/// How long after the deadline the watchdog waits for the command to report the timeout
/// itself (fetches end at the deadline, so the verifier answers within milliseconds).
const GRACE: Duration = Duration::from_millis(500);

/// The `--timeout` flag.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TimeoutArgs {
    /// Give up after this long, registry fetches and verification included, with exit code 2
    /// (cosign's flag): `30s`, `3m`, `1m30s`, `500ms`; a bare number is seconds.
    #[arg(long, default_value = "3m", value_parser = parse_duration, value_name = "DURATION")]
    timeout: Duration,
}

impl TimeoutArgs {
    /// A timeout set by the command itself rather than by `--timeout`'s default.
    pub(crate) fn new(timeout: Duration) -> Self {
        Self { timeout }
    }

    /// Starts the clock: the deadline is `--timeout` from now. `on_expiry` prints the reason
    /// (the watchdog then exits with code 2); it is not called once [`Deadline::finish`] was.
    pub(crate) fn start(&self, on_expiry: impl FnOnce(&str) + Send + 'static) -> Deadline {
        let deadline = Deadline {
            at: Instant::now() + self.timeout,
            timeout: self.timeout,
            finished: Arc::new(Mutex::new(false)),
        };
        let finished = Arc::clone(&deadline.finished);
        let message = deadline.message();
        let wait = self.timeout.saturating_add(GRACE);
        // A detached thread: it dies with the process when the command ends first.
        std::thread::spawn(move || {
            std::thread::sleep(wait);
            let finished = finished.lock().unwrap_or_else(PoisonError::into_inner);
            if !*finished {
                on_expiry(&message);
                // The lock is held until the process ends, so nothing else is printed after
                // the reason.
                std::process::exit(i32::from(EXIT_ERROR));
            }
        });
        deadline
    }
}

/// The deadline of one command.
#[derive(Debug)]
pub(crate) struct Deadline {
    at: Instant,
    timeout: Duration,
    finished: Arc<Mutex<bool>>,
}

impl Deadline {
    /// A budget of `bytes` for one verification of this command, ending at the deadline.
    pub(crate) fn budget(&self, bytes: u64) -> Arc<Budget> {
        Arc::new(Budget::new(self.at, bytes))
    }

    /// The time left (zero once passed).
    pub(crate) fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// Whether the deadline has passed.
    pub(crate) fn is_expired(&self) -> bool {
        Instant::now() >= self.at
    }

    /// The reason given when the deadline passes.
    pub(crate) fn message(&self) -> String {
        format!(
            "the command did not finish within --timeout {}",
            format_duration(self.timeout)
        )
    }

    /// Stops the watchdog: the command reports its own outcome from here on. Blocks only if
    /// the watchdog is already reporting the timeout (the process is then exiting).
    pub(crate) fn finish(&self) {
        *self.finished.lock().unwrap_or_else(PoisonError::into_inner) = true;
    }
}

/// Parses a Go-style duration (`1h`, `3m`, `30s`, `500ms`, `1m30s`) or a number of seconds.
pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("{text:?} is not a duration such as 30s, 3m or 1m30s");
    if let Ok(seconds) = text.parse::<u64>() {
        return positive(Duration::from_secs(seconds), text);
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (number, after) = rest.split_at(digits);
        let number: u64 = number.parse().map_err(|_| invalid())?;
        let unit_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, after) = after.split_at(unit_len);
        let part = match unit {
            "h" => Duration::from_secs(number.saturating_mul(3600)),
            "m" => Duration::from_secs(number.saturating_mul(60)),
            "s" => Duration::from_secs(number),
            "ms" => Duration::from_millis(number),
            _ => return Err(invalid()),
        };
        total = total.saturating_add(part);
        rest = after;
    }
    positive(total, text)
}

fn positive(duration: Duration, text: &str) -> Result<Duration, String> {
    if duration.is_zero() {
        return Err(format!("--timeout {text:?} must be more than zero"));
    }
    Ok(duration)
}

/// `3m`, `30s`, `1m30s`, `1500ms`: how the timeout is named in messages.
fn format_duration(duration: Duration) -> String {
    if duration.subsec_millis() != 0 {
        return format!("{}ms", duration.as_millis());
    }
    let seconds = duration.as_secs();
    match (seconds / 60, seconds % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cosign_style_durations() {
        let cases: [(&str, Option<u64>); 13] = [
            ("30s", Some(30_000)),
            ("3m", Some(180_000)),
            ("1m30s", Some(90_000)),
            ("1h", Some(3_600_000)),
            ("500ms", Some(500)),
            ("45", Some(45_000)),
            ("0", None),
            ("0s", None),
            ("", None),
            ("3x", None),
            ("m", None),
            ("-1s", None),
            ("1.5s", None),
        ];
        for (text, millis) in cases {
            let parsed = parse_duration(text).ok().map(|d| d.as_millis());
            assert_eq!(parsed, millis.map(u128::from), "{text:?}");
        }
    }

    #[test]
    fn names_durations_as_they_are_written() {
        assert_eq!(format_duration(Duration::from_secs(180)), "3m");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_secs(5)), "5s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn the_default_is_cosigns() {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Command {
            #[command(flatten)]
            timeout: TimeoutArgs,
        }
        let parsed = Command::try_parse_from(["sigward"]).unwrap();
        assert_eq!(parsed.timeout.timeout, DEFAULT_COMMAND_TIMEOUT);
        assert_eq!(DEFAULT_COMMAND_TIMEOUT, Duration::from_secs(180));
    }
}
