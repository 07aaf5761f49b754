//! Running the real `pgstack` binary in a scratch directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch working directory with copies of fixtures; `state/` lands in it.
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

/// Result of one `pgstack` run.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output) -> Run {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics with both streams unless the exit code is `code`.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(self.code, Some(code), "exit code\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }
}

pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

impl Workdir {
    pub fn new() -> Workdir {
        Workdir { dir: tempfile::tempdir().expect("tempdir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Copies a repository file (e.g. `examples/quickstart.toml`) to `name` in the workdir.
    pub fn copy(&self, from_repo: &str, name: &str) -> PathBuf {
        let to = self.path().join(name);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::copy(repo_root().join(from_repo), &to).expect("copy fixture");
        to
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let to = self.path().join(name);
        std::fs::write(&to, text).expect("write");
        to
    }

    /// `pgstack ARGS` to run here with `env` added (later entries win) and colours off.
    pub fn command(&self, args: &[&str], env: &[(String, String)]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgstack"));
        cmd.args(args).current_dir(self.path()).env("NO_COLOR", "1").env_remove("PGSTACK_FAILPOINT");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `pgstack ARGS` to completion.
    pub fn run(&self, args: &[&str], env: &[(String, String)]) -> Run {
        Run::from(self.command(args, env).output().expect("run pgstack"))
    }

    /// Starts `pgstack ARGS` in the background and reads its stderr until a
    /// line contains `marker` (panics if the run ends first).
    pub fn start_until(&self, args: &[&str], env: &[(String, String)], marker: &str) -> Started {
        use std::io::BufRead;
        let mut child = self
            .command(args, env)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn pgstack");
        let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
        let mut seen = String::new();
        while !seen.contains(marker) {
            let mut line = String::new();
            assert!(stderr.read_line(&mut line).expect("read") > 0, "the run ended before `{marker}`:\n{seen}");
            seen.push_str(&line);
        }
        Started { child, stderr, seen }
    }

    /// Starts `apply quickstart.toml` (its subnet creates made slow by the
    /// caller), waits until a subnet create runs, and sends `signals` ("INT",
    /// "TERM") with a short pause between them. Returns the finished run.
    pub fn apply_interrupted(&self, env: &[(String, String)], signals: &[&str]) -> Run {
        let started =
            self.start_until(&["apply", "quickstart.toml", "--auto-approve", "--parallelism", "2"], env, "subnet.db");
        for sig in signals {
            started.signal(sig);
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        started.finish()
    }
}

/// A `pgstack` run going on in the background.
pub struct Started {
    pub child: std::process::Child,
    stderr: std::io::BufReader<std::process::ChildStderr>,
    /// Its stderr so far.
    pub seen: String,
}

impl Started {
    /// Sends `sig` ("INT", "TERM", "KILL") to the run.
    pub fn signal(&self, sig: &str) {
        let sent =
            Command::new("kill").args([&format!("-{sig}"), &self.child.id().to_string()]).status().expect("kill");
        assert!(sent.success());
    }

    /// Waits for the run to end; its stderr in full.
    pub fn finish(mut self) -> Run {
        use std::io::Read;
        let mut rest = String::new();
        self.stderr.read_to_string(&mut rest).expect("read");
        let out = self.child.wait_with_output().expect("wait");
        Run { code: out.status.code(), stdout: String::from_utf8_lossy(&out.stdout).into(), stderr: self.seen + &rest }
    }
}

/// Rewrites a saved plan's body and seals it again, as a careful attacker
/// would (the digest is a plain SHA-256 anyone can recompute).
pub fn reseal(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut file["body"]);
    let body: pgstack::plan::saved::SavedPlanBody = serde_json::from_value(file["body"].clone()).unwrap();
    std::fs::write(path, pgstack::plan::saved::encode(&body).unwrap()).unwrap();
}

/// The object id the state file at `path` records for `addr`.
pub fn state_id(path: &Path, addr: &str) -> String {
    let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    state["resources"].as_array().unwrap().iter().find(|r| r["address"] == addr).expect(addr)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}
