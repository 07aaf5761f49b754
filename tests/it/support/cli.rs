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
}
