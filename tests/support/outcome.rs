//! Running a program under test with a time limit, and judging what it printed: sigward's exit
//! code and `--output json` report, or a peer's (cosign's, skopeo's) exit code.

use std::fmt;
use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// No command in these tests should come near this; a hang fails the test instead of the run.
const TIME_LIMIT: Duration = Duration::from_secs(120);

/// How one process ended and what it printed.
#[derive(Debug)]
pub(crate) struct Outcome {
    command: String,
    /// The exit code, `None` if it was killed by a signal.
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Outcome {
    /// Runs `command` to completion (killing it after two minutes) and collects its output.
    pub(crate) fn run(command: &mut Command) -> Outcome {
        Self::run_fed(command, Stdio::null())
    }

    /// [`Outcome::run`] with `stdin` as the program's standard input.
    pub(crate) fn run_fed(command: &mut Command, stdin: Stdio) -> Outcome {
        let description = format!("{command:?}");
        let mut stdout = tempfile::tempfile().expect("temp file");
        let mut stderr = tempfile::tempfile().expect("temp file");
        let mut child = command
            .stdin(stdin)
            .stdout(stdout.try_clone().expect("temp file"))
            .stderr(stderr.try_clone().expect("temp file"))
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {description}: {e}"));
        let deadline = Instant::now() + TIME_LIMIT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for child") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{description} did not finish within {TIME_LIMIT:?}");
            }
            thread::sleep(Duration::from_millis(10));
        };
        Outcome {
            command: description,
            code: status.code(),
            stdout: read_all(&mut stdout),
            stderr: read_all(&mut stderr),
        }
    }

    /// Asserts the process exited 0.
    pub(crate) fn assert_success(&self) -> &Self {
        assert_eq!(self.code, Some(0), "expected success\n{self}");
        self
    }

    /// Asserts the process exited with a non-zero code (not killed by a signal).
    pub(crate) fn assert_failure(&self) -> &Self {
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "expected a non-zero exit code\n{self}"
        );
        self
    }

    /// stdout parsed as one JSON value.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e})\n{self}"))
    }

    /// sigward verified the image: exit 0, `verified: true`, at least one verified signature
    /// (from a `.sig` layer) and no failed check in it. Returns the report.
    pub(crate) fn assert_verified(&self) -> Value {
        self.assert_verified_from("sig-layer")
    }

    /// Like `assert_verified`, for signatures found in `source`: `sig-layer`, `att-layer` or
    /// `referrer-bundle`.
    pub(crate) fn assert_verified_from(&self, source: &str) -> Value {
        assert_eq!(self.code, Some(0), "expected exit 0 (verified)\n{self}");
        let report = self.json();
        assert_eq!(report["verified"], true, "report says not verified\n{self}");
        assert!(report["reason"].is_null(), "verified with a reason\n{self}");
        let verified: Vec<&Value> = signatures(&report)
            .iter()
            .filter(|s| s["verified"] == true)
            .collect();
        assert!(
            !verified.is_empty(),
            "no signature is marked verified\n{self}"
        );
        for signature in verified {
            assert_eq!(signature["source"], source, "{self}");
            assert!(
                checks(signature).iter().all(|c| c["outcome"] != "fail"),
                "a verified signature has a failed check\n{self}"
            );
        }
        report
    }

    /// sigward rejected the image: exit 1, `verified: false`, the report's reason is `reason`,
    /// and so is every signature's (a test cannot pass by rejecting for the wrong reason).
    pub(crate) fn assert_rejected(&self, reason: &str) -> Value {
        assert_eq!(self.code, Some(1), "expected exit 1 (not verified)\n{self}");
        let report = self.json();
        assert_eq!(report["verified"], false, "{self}");
        assert_eq!(report["reason"], reason, "report reason\n{self}");
        for signature in signatures(&report) {
            assert_eq!(signature["verified"], false, "{self}");
            assert_eq!(signature["reason"], reason, "signature reason\n{self}");
        }
        report
    }

    /// sigward could not decide: exit 2 and `{"error": {"reason": reason, "message": …}}`.
    pub(crate) fn assert_error(&self, reason: &str) -> Value {
        assert_eq!(self.code, Some(2), "expected exit 2 (error)\n{self}");
        let report = self.json();
        assert_eq!(report["error"]["reason"], reason, "error reason\n{self}");
        let message = report["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.trim().is_empty(),
            "error without a message\n{self}"
        );
        report
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "command: {}", self.command)?;
        writeln!(f, "exit: {:?}", self.code)?;
        writeln!(f, "--- stdout\n{}", self.stdout)?;
        write!(f, "--- stderr\n{}", self.stderr)
    }
}

/// The report's `signatures` array (empty if absent).
pub(crate) fn signatures(report: &Value) -> &[Value] {
    report["signatures"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// A signature's `checks` array (empty if absent).
pub(crate) fn checks(signature: &Value) -> &[Value] {
    signature["checks"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn read_all(file: &mut File) -> String {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).expect("seek");
    file.read_to_string(&mut text).expect("read output");
    text
}
