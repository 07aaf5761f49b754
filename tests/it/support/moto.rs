//! The moto harness: a pool of moto servers per test process, each lent to
//! one test at a time.
//!
//! Servers start lazily (`scripts/moto_server.py`, in the venv
//! `scripts/install-moto.sh` makes), up to [`pool_size`] of them, and live
//! exactly as long as the test process: each one's stdin is a pipe whose
//! write end is kept in a static, so the OS closes it at exit and the server
//! sees EOF and quits, even after a panic.
//!
//! [`moto`] lends a whole server: it takes an idle one (starting another
//! while the pool is not full, else waiting for one to come back), resets
//! its state, and the [`MotoGuard`] gives it back when dropped. Tests that
//! use moto therefore run in parallel, one per server, each on an empty
//! emulator. A server per test rather than an account per test: moto keeps
//! one S3 bucket namespace for all accounts (as AWS does), so tests that
//! name the same bucket would collide across accounts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock, mpsc};
use std::time::Duration;

use pgstack::provider::Ctx;
use pgstack::provider::aws::{AwsFactory, AwsOptions};

/// Default region for tests and subprocesses.
pub const REGION: &str = "us-east-1";

/// Pauses between retries and polls, in tests and their subprocesses, are
/// this share of the real ones (`PGSTACK_PAUSE_SCALE`): the behaviour is the
/// same, the waiting shorter. Limits are not scaled.
pub const PAUSE_SCALE: f64 = 0.1;

const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running server. Never dropped: the process exit closes `stdin`.
struct Server {
    port: u16,
    _child: Child,
    _stdin: ChildStdin,
}

/// The servers started so far (kept for the process's life) and the ports
/// of those no test holds.
#[derive(Default)]
struct Pool {
    started: Vec<Server>,
    idle: Vec<u16>,
    /// Servers being started by some test (counted against the size).
    starting: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool { started: Vec::new(), idle: Vec::new(), starting: 0 });
static RETURNED: Condvar = Condvar::new();

/// How many moto servers a test process runs at most:
/// `PGSTACK_MOTO_SERVERS`, else the number of test threads
/// (`RUST_TEST_THREADS`, else the machine's parallelism).
fn pool_size() -> usize {
    static SIZE: OnceLock<usize> = OnceLock::new();
    *SIZE.get_or_init(|| {
        let from_env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<usize>().ok()).filter(|n| *n > 0);
        from_env("PGSTACK_MOTO_SERVERS")
            .or_else(|| from_env("RUST_TEST_THREADS"))
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from))
    })
}

/// Exclusive use of one moto server, freshly reset; gives it back when dropped.
pub struct MotoGuard {
    port: u16,
    factory: Arc<AwsFactory>,
}

impl Drop for MotoGuard {
    fn drop(&mut self) {
        // A test that panicked poisons nothing that matters: the next user resets the server.
        let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
        pool.idle.push(self.port);
        RETURNED.notify_one();
    }
}

/// Takes an idle server (or starts one while the pool is not full, or waits
/// for one), resets it, and returns the guard.
///
/// Panics (failing the test) with instructions when moto cannot be started.
pub fn moto() -> MotoGuard {
    let port = take_server();
    if let Err(e) = reset(port) {
        POOL.lock().unwrap_or_else(|p| p.into_inner()).idle.push(port);
        RETURNED.notify_one();
        panic!("resetting moto on port {port}: {e}");
    }
    let factory = Arc::new(AwsFactory::new(AwsOptions {
        profile: None,
        endpoint_url: Some(format!("http://127.0.0.1:{port}")),
        static_credentials: Some(("testing".into(), "testing".into())),
        pause_scale: Some(PAUSE_SCALE),
    }));
    MotoGuard { port, factory }
}

/// The port of a server this caller now holds alone.
fn take_server() -> u16 {
    let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if let Some(port) = pool.idle.pop() {
            return port;
        }
        if pool.started.len() + pool.starting < pool_size() {
            pool.starting += 1;
            drop(pool);
            let started = start();
            pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
            pool.starting -= 1;
            match started {
                Ok(server) => {
                    let port = server.port;
                    pool.started.push(server);
                    return port;
                }
                Err(e) => {
                    RETURNED.notify_one();
                    panic!("moto server unavailable: {e}");
                }
            }
        }
        pool = RETURNED.wait(pool).unwrap_or_else(|p| p.into_inner());
    }
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
            ("PGSTACK_PAUSE_SCALE", "0.1"),
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
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let python = PYTHON.get_or_init(python).clone()?;
    static STARTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let log_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("moto-server-{n}.log"));
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
    match post(port, "/moto-api/reset", "", "")? {
        (200, _) => Ok(()),
        (status, body) => Err(format!("unexpected answer: {status} {body}")),
    }
}

/// A raw `POST path` to moto with extra header lines; the status and body.
fn post(port: u16, path: &str, headers: &str, body: &str) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| e.to_string())?;
    let status = response.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok());
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    status.map(|s| (s, body)).ok_or_else(|| format!("no HTTP status in {response:?}"))
}

impl MotoGuard {
    /// The VPCs in [`REGION`] tagged `pgstack:stack = stack`: id → tags.
    pub async fn stack_vpcs(
        &self,
        stack: &str,
    ) -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>> {
        let ec2 = self.factory().ec2(REGION).await;
        let out = ec2
            .describe_vpcs()
            .filters(aws_sdk_ec2::types::Filter::builder().name("tag:pgstack:stack").values(stack).build())
            .send()
            .await
            .expect("DescribeVpcs");
        out.vpcs()
            .iter()
            .map(|v| {
                let tags =
                    v.tags().iter().map(|t| (t.key().unwrap_or_default().into(), t.value().unwrap_or_default().into()));
                (v.vpc_id().unwrap_or_default().to_owned(), tags.collect())
            })
            .collect()
    }

    /// The ARN of a Lambda function to name as a secret's rotation function,
    /// whose policy lets Secrets Manager invoke it (as plan checks).
    /// moto never runs it: with `use_docker = false` its Lambda backend
    /// answers each invoke with the payload, so Secrets Manager's rotation
    /// steps succeed without writing a value (a rotation leaves a new,
    /// empty AWSCURRENT version behind).
    pub async fn rotation_function(&self) -> String {
        self.lambda_function("pg-rotation", None, true).await
    }

    /// The ARN of a Lambda function `name` (see [`Self::rotation_function`]),
    /// attached to `vpc` (subnet ids, security group ids) when given, with a
    /// statement letting `secretsmanager.amazonaws.com` invoke it when
    /// `invokable` (AddPermission).
    pub async fn lambda_function(&self, name: &str, vpc: Option<(&[&str], &[&str])>, invokable: bool) -> String {
        let (status, body) = post(self.port, "/moto-api/config", "", r#"{"lambda": {"use_docker": false}}"#)
            .expect("configuring moto's Lambda");
        assert!(status < 300, "moto config: {status} {body}");
        let iam = self.factory().iam(REGION).await;
        let role = iam
            .create_role()
            .role_name(format!("{name}-role"))
            .assume_role_policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
            )
            .send()
            .await
            .expect("CreateRole");
        let role_arn = role.role().map(|r| r.arn().to_owned()).expect("role ARN");
        // An empty zip archive: the code is never run.
        let mut function = serde_json::json!({
            "FunctionName": name, "Runtime": "python3.12", "Handler": "index.handler", "Role": role_arn,
            "Code": { "ZipFile": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==" },
        });
        if let Some((subnets, groups)) = vpc {
            function["VpcConfig"] = serde_json::json!({ "SubnetIds": subnets, "SecurityGroupIds": groups });
        }
        let auth = "Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Type: application/json\r\n";
        let (status, body) =
            post(self.port, "/2015-03-31/functions", auth, &function.to_string()).expect("CreateFunction");
        assert!(status < 300, "CreateFunction: {status} {body}");
        let doc: serde_json::Value = serde_json::from_str(&body).expect("CreateFunction answer");
        if invokable {
            let permission = r#"{"StatementId":"SecretsManagerAccess","Action":"lambda:InvokeFunction","Principal":"secretsmanager.amazonaws.com"}"#;
            let path = format!("/2015-03-31/functions/{name}/policy");
            let (status, body) = post(self.port, &path, auth, permission).expect("AddPermission");
            assert!(status < 300, "AddPermission: {status} {body}");
        }
        doc["FunctionArn"].as_str().expect("FunctionArn").to_owned()
    }
}
