//! A real TUF repository for the trust-root tests: `tests/tools/tuf-repo.py` (python-tuf's
//! metadata API, in the venv `make tools` makes) writes one complete mirror per scenario
//! state, once per test run, and each test serves the state it wants from 127.0.0.1 with
//! Python's `http.server`, through a symbolic link it repoints between steps.

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use tempfile::TempDir;

use super::{program, shared_dir};

/// The generated scenario states (see the README the script writes beside them).
pub(crate) struct Scenarios {
    dir: TempDir,
}

impl Scenarios {
    /// The states, generated on first use and shared by every test of this run. Target A is
    /// the production trusted root, target B the staging one.
    pub(crate) fn get() -> &'static Scenarios {
        static SCENARIOS: OnceLock<Scenarios> = OnceLock::new();
        SCENARIOS.get_or_init(|| {
            let python = program("SIGWARD_TUF_PYTHON", "target/tools/tuf-venv/bin/python");
            let dir = tempfile::Builder::new()
                .prefix("sigward-tuf-")
                .tempdir()
                .expect("temp dir");
            let trust = shared_dir().join("conformance/trust");
            let script = super::repo_root().join("tests/tools/tuf-repo.py");
            let out = Command::new(python)
                .arg(script)
                .arg(dir.path().join("repo"))
                .arg("--target-a")
                .arg(trust.join("production/trusted_root.json"))
                .arg("--target-b")
                .arg(trust.join("staging/trusted_root.json"))
                .output()
                .expect("run tuf-repo.py");
            assert!(
                out.status.success(),
                "tuf-repo.py failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Scenarios { dir }
        })
    }

    /// The directory of state `name`.
    fn state(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join("repo").join(name);
        assert!(path.is_dir(), "no TUF scenario state {name}");
        path
    }

    /// The version 1 root a client starts from.
    pub(crate) fn root(&self) -> PathBuf {
        self.dir.path().join("repo/root.json")
    }
}

/// One test's mirror: `http.server` on a free loopback port serving whichever state
/// [`Mirror::serve`] last chose.
pub(crate) struct Mirror {
    child: Child,
    dir: TempDir,
    /// `http://127.0.0.1:PORT/mirror/`.
    pub(crate) url: String,
}

impl Mirror {
    /// Starts the server, serving `state`.
    pub(crate) fn start(state: &str) -> Mirror {
        let dir = tempfile::Builder::new()
            .prefix("sigward-mirror-")
            .tempdir()
            .expect("temp dir");
        let mut child = Command::new("python3")
            .args(["-u", "-m", "http.server", "0", "--bind", "127.0.0.1"])
            .arg("--directory")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 -m http.server");
        // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("http.server's first line");
        let port = line
            .split_whitespace()
            .skip_while(|word| *word != "port")
            .nth(1)
            .unwrap_or_else(|| panic!("no port in {line:?}"))
            .to_owned();
        let mirror = Mirror {
            child,
            dir,
            url: format!("http://127.0.0.1:{port}/mirror/"),
        };
        mirror.serve(state);
        mirror
    }

    /// Serves scenario state `state` from now on (the link is replaced in one rename).
    pub(crate) fn serve(&self, state: &str) {
        let target = Scenarios::get().state(state);
        let link = self.dir.path().join("mirror.new");
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        fs::rename(&link, self.dir.path().join("mirror")).expect("repoint mirror");
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `state.json` of the TUF cache of `name` in `trust_dir`, if one is in force.
pub(crate) fn cache_state(trust_dir: &Path, name: &str) -> Option<serde_json::Value> {
    let current = trust_dir.join("tuf").join(name).join("current");
    let state = fs::read(current.join("state.json")).ok()?;
    Some(serde_json::from_slice(&state).expect("state.json is JSON"))
}
