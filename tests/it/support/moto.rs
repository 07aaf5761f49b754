//! The moto harness: one moto server per test process, shared by every test
//! that talks to AWS.
//!
//! The server starts lazily on first use (`scripts/moto_server.py`, in the venv
//! `scripts/install-moto.sh` makes) and lives exactly as long as the test
//! process: its stdin is a pipe whose write end is kept in a static, so the OS
//! closes it at exit and the server sees EOF and quits, even after a panic.
//!
//! Tests that use moto run one at a time: [`moto`] takes a global lock and
//! resets moto's state before handing out the [`MotoGuard`].

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, mpsc};
use std::time::Duration;

use pgstack::provider::Ctx;
use pgstack::provider::aws::{AwsFactory, AwsOptions};

/// Default region for tests and subprocesses.
pub const REGION: &str = "us-east-1";

const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The running server. Never dropped: the process exit closes `stdin`.
struct Server {
    port: u16,
    _child: Child,
    _stdin: ChildStdin,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static LOCK: Mutex<()> = Mutex::new(());

/// Exclusive use of the shared moto server, freshly reset.
pub struct MotoGuard {
    port: u16,
    factory: Arc<AwsFactory>,
    _lock: MutexGuard<'static, ()>,
}

/// Waits for exclusive use of moto, resets it, and returns the guard.
///
/// Panics (failing the test) with instructions when moto cannot be started.
pub fn moto() -> MotoGuard {
    // A test that panicked while holding the lock poisons it; the state it
    // left behind is wiped by the reset below, so the poison is harmless.
    let lock = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let port = match SERVER.get_or_init(start) {
        Ok(s) => s.port,
        Err(e) => panic!("moto server unavailable: {e}"),
    };
    if let Err(e) = reset(port) {
        panic!("resetting moto on port {port}: {e}");
    }
    let factory = Arc::new(AwsFactory::new(AwsOptions {
        profile: None,
        endpoint_url: Some(format!("http://127.0.0.1:{port}")),
        static_credentials: Some(("testing".into(), "testing".into())),
    }));
    MotoGuard { port, factory, _lock: lock }
}

impl MotoGuard {
    /// The moto server's loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The moto endpoint URL, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An AWS client factory pointed at moto with static test credentials.
    /// The same factory (and call counter) for the guard's whole life.
    pub fn factory(&self) -> Arc<AwsFactory> {
        self.factory.clone()
    }

    /// A provider context on this guard's factory.
    pub fn ctx(&self, region: &str, stack: &str) -> Ctx {
        Ctx::new(self.factory(), region, stack)
    }

    /// Environment for a `pgstack` subprocess: moto endpoint, test credentials,
    /// and blanked profile/config paths so a developer's own AWS config cannot leak in.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint().as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", REGION),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_MAX_ATTEMPTS", "2"),
            ("AWS_PROFILE", ""),
            ("AWS_CONFIG_FILE", "/dev/null"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `scripts/install-moto.sh` (a no-op when the pinned moto is already
/// installed) and returns the venv's python.
fn python() -> Result<PathBuf, String> {
    let script = repo_root().join("scripts/install-moto.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {}: {e}", script.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let venv = stdout.lines().last().unwrap_or_default().trim();
    let python = Path::new(venv).join("bin/python");
    if !out.status.success() || venv.is_empty() || !python.exists() {
        return Err(format!(
            "{} failed ({}); run it by hand to see why:\n{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(python)
}

/// Spawns the server on a port of its choosing and waits for its ready line.
fn start() -> Result<Server, String> {
    let python = python()?;
    let log_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("moto-server.log");
    let log = std::fs::File::create(&log_path).map_err(|e| format!("creating {}: {e}", log_path.display()))?;
    let mut child = Command::new(&python)
        .arg(repo_root().join("scripts/moto_server.py"))
        .arg("0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", python.display()))?;
    let (stdin, stdout) = match (child.stdin.take(), child.stdout.take()) {
        (Some(i), Some(o)) => (i, o),
        _ => return Err("moto server: no stdio pipes".into()),
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(read.map(|_| line));
    });
    let port = match rx.recv_timeout(READY_TIMEOUT) {
        Ok(Ok(line)) => line.trim().strip_prefix("ready ").and_then(|p| p.parse::<u16>().ok()),
        _ => None,
    };
    match port {
        Some(port) => Ok(Server { port, _child: child, _stdin: stdin }),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!("no ready line within {READY_TIMEOUT:?}; see {}", log_path.display()))
        }
    }
}

/// `POST /moto-api/reset`: wipes every backend's state.
fn reset(port: u16) -> Result<(), String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    write!(
        stream,
        "POST /moto-api/reset HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| e.to_string())?;
    match response.lines().next() {
        Some(status) if status.split_whitespace().nth(1) == Some("200") => Ok(()),
        other => Err(format!("unexpected answer: {other:?}")),
    }
}
