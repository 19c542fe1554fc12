//! A private containerd 2.1 daemon (Debian sid's, fetched by `tests/tools/fetch-signers.sh`;
//! `SIGWARD_CONTAINERD`, `SIGWARD_CTR`) whose image verifier `bin_dir` holds sigward installed
//! the way a node installs it (docs/containerd.md): a one-line script that runs
//! `sigward containerd-verifier` with the node's flags, then containerd's. Its root, state and
//! socket live in the test's scratch directory; it runs as the tests do (root), and stops when
//! dropped.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::lab::Lab;
use super::outcome::Outcome;
use super::program;

/// The verifier's file name in `bin_dir`, which containerd names in its errors.
pub(crate) const VERIFIER: &str = "sigward";

/// A running containerd with sigward as its image verifier.
pub(crate) struct Containerd {
    daemon: Child,
    ctr: PathBuf,
    dir: PathBuf,
}

impl Containerd {
    /// Starts containerd in `lab`'s scratch directory, its verifier running
    /// `sigward containerd-verifier <flags> "$@"`.
    pub(crate) fn start(lab: &Lab, flags: &[&str]) -> Containerd {
        let containerd = program("SIGWARD_CONTAINERD", "target/tools/containerd");
        let ctr = program("SIGWARD_CTR", "target/tools/ctr");
        let sigward = program("SIGWARD_BIN", "target/release/sigward");
        let dir = lab.path("containerd");
        let verifiers = dir.join("verifiers");
        fs::create_dir_all(&verifiers).expect("verifier dir");
        let quoted: Vec<String> = flags.iter().map(|flag| shell_quote(flag)).collect();
        let script = format!(
            "#!/bin/sh\n# As a node installs sigward (docs/containerd.md).\n\
             echo \"$@\" >> {calls}\n\
             exec {sigward} containerd-verifier {flags} \"$@\"\n",
            calls = shell_quote(&dir.join("calls.log").to_string_lossy()),
            sigward = shell_quote(&sigward.to_string_lossy()),
            flags = quoted.join(" "),
        );
        let script_path = verifiers.join(VERIFIER);
        fs::write(&script_path, script).expect("verifier script");
        fs::set_permissions(&script_path, fs::Permissions::from_mode(0o755)).expect("chmod");
        let config = format!(
            "version = 3\nroot = \"{root}\"\nstate = \"{state}\"\n\
             [grpc]\n  address = \"{socket}\"\n\
             [plugins]\n  [plugins.\"io.containerd.image-verifier.v1.bindir\"]\n    \
             bin_dir = \"{verifiers}\"\n    max_verifiers = 10\n    per_verifier_timeout = \"10s\"\n",
            root = dir.join("root").display(),
            state = dir.join("state").display(),
            socket = dir.join("containerd.sock").display(),
            verifiers = verifiers.display(),
        );
        fs::write(dir.join("config.toml"), config).expect("containerd config");
        let log = fs::File::create(dir.join("containerd.log")).expect("containerd log");
        let daemon = lab
            .command(&containerd)
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let containerd = Containerd { daemon, ctr, dir };
        let started = Instant::now();
        while !containerd.ctr_command(&["version"]).status.success() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "containerd did not start: {}",
                fs::read_to_string(containerd.dir.join("containerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        containerd
    }

    /// `ctr images pull --plain-http REFERENCE` through this containerd.
    pub(crate) fn pull(&self, lab: &Lab, reference: &str) -> Outcome {
        Outcome::run(
            lab.command(&self.ctr)
                .arg("--address")
                .arg(self.socket())
                .args(["images", "pull", "--plain-http", reference]),
        )
    }

    /// The arguments containerd gave the verifier, one line per call.
    pub(crate) fn calls(&self) -> Vec<String> {
        fs::read_to_string(self.dir.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }

    fn ctr_command(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(&self.ctr)
            .arg("--address")
            .arg(self.socket())
            .args(args)
            .output()
            .expect("run ctr")
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// `text` in single quotes for sh.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
