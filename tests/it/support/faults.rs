//! A fault-injecting HTTP proxy in front of moto. Scripted faults hit named
//! operations: delay a request, answer 503 instead of forwarding, or forward
//! the request and then drop the connection without a reply (a create that
//! happened but whose answer was lost). Random faults ([`Rates`]) hit any
//! request, drawn from a seeded generator: throttle it (HTTP 400 with the
//! service's own throttling error, never forwarded), answer 500 InternalError
//! after forwarding (the work is done), or lose the reply. The sequence of
//! draws is fixed by the seed; which request gets which draw can vary with
//! thread scheduling when calls run in parallel. Loopback only; one thread per
//! connection.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What to do to a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward it, then close the connection without answering.
    DropReply,
    /// Answer 503 without forwarding.
    ServiceUnavailable,
    /// Forward it after a pause.
    Delay(Duration),
    /// Answer 400 with the service's throttling error without forwarding.
    Throttle,
    /// Forward it, then answer 500 with the service's internal error.
    InternalError,
    /// Answer with this error, in the service's own protocol, without
    /// forwarding: AWS refusing a request, which made nothing (an object
    /// not visible yet, a busy database, a conflicting conditional write).
    Refuse { status: u16, code: &'static str, message: &'static str },
    /// Answer with exactly this, without forwarding: `status`, extra header
    /// lines (`Name: value`, each ended by `\r\n`) and `body` (none for a
    /// HEAD's answer, whatever it is). An index that lags (an empty page of
    /// the tagging API), a bucket in another region (301 with
    /// `x-amz-bucket-region`).
    Answer { status: u16, headers: &'static str, body: &'static str },
}

/// Shares of requests that get each random fault (each in 0..1, summing to at most 1).
#[derive(Debug, Clone, Copy, Default)]
pub struct Rates {
    /// Answered 400 with the service's throttling error, not forwarded.
    pub throttle: f64,
    /// Forwarded, then answered 500 with the service's internal error.
    pub server_error: f64,
    /// Forwarded, then the connection is closed without an answer.
    pub lost_reply: f64,
}

/// A random fault drawn for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drawn {
    Throttle,
    ServerError,
    Lost,
}

/// How many random faults of each kind were injected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Injected {
    pub throttled: usize,
    pub server_errors: usize,
    pub lost_replies: usize,
}

#[derive(Default)]
struct Rules {
    pending: VecDeque<(String, Fault)>,
    /// Operations seen, in order.
    seen: Vec<String>,
    rates: Rates,
    /// splitmix64 state.
    seed: u64,
    injected: Injected,
}

impl Rules {
    /// The next number in 0..1 from the seeded generator (splitmix64).
    fn next_unit(&mut self) -> f64 {
        self.seed = self.seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as f64 / u64::MAX as f64
    }

    fn draw(&mut self) -> Option<Drawn> {
        let r = self.rates;
        if r.throttle + r.server_error + r.lost_reply <= 0.0 {
            return None;
        }
        let x = self.next_unit();
        let drawn = if x < r.throttle {
            Drawn::Throttle
        } else if x < r.throttle + r.server_error {
            Drawn::ServerError
        } else if x < r.throttle + r.server_error + r.lost_reply {
            Drawn::Lost
        } else {
            return None;
        };
        let i = &mut self.injected;
        *match drawn {
            Drawn::Throttle => &mut i.throttled,
            Drawn::ServerError => &mut i.server_errors,
            Drawn::Lost => &mut i.lost_replies,
        } += 1;
        Some(drawn)
    }
}

/// The proxy; lives until the test process exits.
pub struct FaultProxy {
    port: u16,
    rules: Arc<Mutex<Rules>>,
}

impl FaultProxy {
    /// Starts a proxy to moto on `upstream` (a port on 127.0.0.1).
    pub fn start(upstream: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let rules = Arc::new(Mutex::new(Rules::default()));
        let shared = rules.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let rules = shared.clone();
                std::thread::spawn(move || serve(client, upstream, &rules));
            }
        });
        FaultProxy { port, rules }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Applies `fault` to the next `times` requests for `operation`.
    pub fn inject(&self, operation: &str, fault: Fault, times: usize) {
        let mut r = self.rules.lock().unwrap();
        for _ in 0..times {
            r.pending.push_back((operation.to_owned(), fault));
        }
    }

    /// How many requests for `operation` went through the proxy.
    pub fn seen(&self, operation: &str) -> usize {
        self.rules.lock().unwrap().seen.iter().filter(|o| *o == operation).count()
    }

    /// From now on, gives every request a random fault at `rates`, drawn from
    /// a generator seeded with `seed`. Scripted faults ([`Self::inject`]) come first.
    pub fn randomize(&self, rates: Rates, seed: u64) {
        let mut r = self.rules.lock().unwrap();
        r.rates = rates;
        r.seed = seed;
    }

    /// Random faults injected so far.
    pub fn injected(&self) -> Injected {
        self.rules.lock().unwrap().injected
    }

    /// Injected faults not used yet.
    pub fn unused(&self) -> usize {
        self.rules.lock().unwrap().pending.len()
    }
}

/// One HTTP/1.1 message: head (with the blank line) and body.
struct Message {
    head: String,
    body: Vec<u8>,
}

/// Reads one message; `no_body` for the answer to a HEAD request, which
/// announces a length but carries no body.
fn read_message(reader: &mut BufReader<TcpStream>, no_body: bool) -> Option<Message> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    let mut body = Vec::new();
    let length = header("content-length").and_then(|l| l.parse::<usize>().ok()).filter(|_| !no_body);
    let chunked = header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) && !no_body;
    if let Some(len) = length {
        body.resize(len, 0);
        reader.read_exact(&mut body).ok()?;
    } else if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            body.extend_from_slice(size.as_bytes());
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).ok()?;
            body.extend_from_slice(&chunk);
            if n == 0 {
                break;
            }
        }
    }
    Some(Message { head, body })
}

/// A header's value.
fn header<'a>(m: &'a Message, name: &str) -> Option<&'a str> {
    m.head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The signing name of the service (`ec2`, `rds`, `kms`, `tagging`, ...), from
/// the credential scope of the SigV4 `Authorization` header.
fn service(m: &Message) -> String {
    header(m, "authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("")
        .to_owned()
}

/// A complete HTTP answer with `status` and `body`.
fn answer(status: &str, content_type: &str, body: &str) -> String {
    format!("HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}", body.len())
}

/// The error `service` answers in its own protocol: `code` with `message`.
fn service_error(m: &Message, status: &str, code: &str, message: &str) -> String {
    if header(m, "x-amz-target").is_some() {
        // awsJson 1.0/1.1 (KMS, Resource Groups Tagging).
        let body = format!(r#"{{"__type":"{code}","message":"{message}"}}"#);
        return answer(status, "application/x-amz-json-1.1", &body);
    }
    let body = if service(m) == "s3" {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message>\
             <RequestId>fault-proxy</RequestId></Error>"
        )
    } else if service(m) == "ec2" {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{code}</Code>\
             <Message>{message}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>"
        )
    } else {
        // awsQuery (RDS, STS, IAM, SNS).
        format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
             <RequestId>fault-proxy</RequestId></ErrorResponse>"
        )
    };
    answer(status, "text/xml", &body)
}

/// The service's throttling error, HTTP 400.
fn throttling(m: &Message) -> String {
    let code = match (service(m).as_str(), header(m, "x-amz-target").is_some()) {
        ("ec2", _) => "RequestLimitExceeded",
        (_, true) => "ThrottlingException",
        _ => "Throttling",
    };
    service_error(m, "400 Bad Request", code, "Rate exceeded")
}

/// The service's internal error, HTTP 500.
fn internal_error(m: &Message) -> String {
    let code = match (service(m).as_str(), header(m, "x-amz-target").is_some()) {
        ("ec2", _) => "InternalError",
        ("kms", _) => "KMSInternalException",
        (_, true) => "InternalServiceException",
        _ => "InternalFailure",
    };
    service_error(m, "500 Internal Server Error", code, "An internal error has occurred")
}

/// S3 calls on a bucket's settings, which carry no `x-id`: (method, query
/// key, operation), e.g. `PUT /BUCKET?versioning` is PutBucketVersioning.
const S3_SETTINGS: &[(&str, &str, &str)] = &[
    ("PUT", "tagging", "PutBucketTagging"),
    ("GET", "tagging", "GetBucketTagging"),
    ("DELETE", "tagging", "DeleteBucketTagging"),
    ("PUT", "versioning", "PutBucketVersioning"),
    ("GET", "versioning", "GetBucketVersioning"),
    ("PUT", "encryption", "PutBucketEncryption"),
    ("GET", "encryption", "GetBucketEncryption"),
    ("PUT", "publicAccessBlock", "PutPublicAccessBlock"),
    ("GET", "publicAccessBlock", "GetPublicAccessBlock"),
    ("PUT", "policy", "PutBucketPolicy"),
    ("GET", "policy", "GetBucketPolicy"),
    ("DELETE", "policy", "DeleteBucketPolicy"),
    ("PUT", "lifecycle", "PutBucketLifecycleConfiguration"),
    ("GET", "lifecycle", "GetBucketLifecycleConfiguration"),
    ("DELETE", "lifecycle", "DeleteBucketLifecycle"),
    ("PUT", "replication", "PutBucketReplication"),
    ("GET", "replication", "GetBucketReplication"),
    ("DELETE", "replication", "DeleteBucketReplication"),
];

/// `X-Amz-Target` suffix (JSON protocols) or `Action=` (Query protocols);
/// for S3 (REST), the SDK's `x-id` query parameter, a bucket setting's
/// call ([`S3_SETTINGS`]), `CreateBucket` for the PUT of a bucket without a
/// query, `HeadBucket` and `HeadObject` for a HEAD of a bucket or an object.
fn operation(m: &Message) -> String {
    if service(m) == "s3" {
        let mut request = m.head.split_whitespace();
        let (method, path) = (request.next().unwrap_or(""), request.next().unwrap_or(""));
        let query: Vec<&str> = path.split_once('?').map(|(_, q)| q.split('&').collect()).unwrap_or_default();
        let x_id = query.iter().find_map(|kv| kv.strip_prefix("x-id="));
        let setting = S3_SETTINGS
            .iter()
            .find(|(verb, key, _)| *verb == method && query.iter().any(|kv| kv.split('=').next() == Some(*key)));
        let bucket_only = !path.contains('?') && !path.trim_matches('/').contains('/');
        return match (x_id, setting) {
            (Some(id), _) => id.to_owned(),
            (None, Some((_, _, name))) => (*name).to_owned(),
            (None, None) if method == "PUT" && bucket_only => "CreateBucket".to_owned(),
            (None, None) if method == "HEAD" && bucket_only => "HeadBucket".to_owned(),
            (None, None) if method == "HEAD" => "HeadObject".to_owned(),
            (None, None) => String::new(),
        };
    }
    let target = header(m, "x-amz-target").map(|t| t.rsplit('.').next().unwrap_or("").to_owned());
    target.unwrap_or_else(|| {
        String::from_utf8_lossy(&m.body).split('&').find_map(|kv| kv.strip_prefix("Action=")).unwrap_or("").to_owned()
    })
}

fn serve(client: TcpStream, upstream: u16, rules: &Mutex<Rules>) {
    let Ok(writer) = client.try_clone() else { return };
    let mut writer = writer;
    let mut reader = BufReader::new(client);
    while let Some(request) = read_message(&mut reader, false) {
        let op = operation(&request);
        let (fault, drawn) = {
            let mut r = rules.lock().unwrap();
            r.seen.push(op.clone());
            let hit = r.pending.iter().position(|(o, _)| *o == op);
            match hit.and_then(|i| r.pending.remove(i)).map(|(_, f)| f) {
                Some(Fault::Throttle) => (None, Some(Drawn::Throttle)),
                Some(Fault::InternalError) => (None, Some(Drawn::ServerError)),
                Some(f) => (Some(f), None),
                None => (None, r.draw()),
            }
        };
        if drawn == Some(Drawn::Throttle) {
            if writer.write_all(throttling(&request).as_bytes()).is_err() {
                return;
            }
            continue;
        }
        match fault {
            Some(Fault::Refuse { status, code, message }) => {
                let status = format!("{status} {}", if status < 500 { "Refused" } else { "Error" });
                if writer.write_all(service_error(&request, &status, code, message).as_bytes()).is_err() {
                    return;
                }
                continue;
            }
            Some(Fault::Answer { status, headers, body }) => {
                let body = if request.head.starts_with("HEAD ") { "" } else { body };
                let answer =
                    format!("HTTP/1.1 {status} Answer\r\n{headers}Content-Length: {}\r\n\r\n{body}", body.len());
                if writer.write_all(answer.as_bytes()).is_err() {
                    return;
                }
                continue;
            }
            Some(Fault::ServiceUnavailable) => {
                let answer = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
                if writer.write_all(answer.as_bytes()).is_err() {
                    return;
                }
                continue;
            }
            Some(Fault::Delay(d)) => std::thread::sleep(d),
            _ => {}
        }
        let Some(response) = forward(&request, upstream) else { return };
        if fault == Some(Fault::DropReply) || drawn == Some(Drawn::Lost) {
            return; // the request happened; the answer never arrives
        }
        let sent = if drawn == Some(Drawn::ServerError) {
            writer.write_all(internal_error(&request).as_bytes())
        } else {
            writer.write_all(response.head.as_bytes()).and_then(|()| writer.write_all(&response.body))
        };
        if sent.is_err() {
            return;
        }
    }
}

fn forward(request: &Message, upstream: u16) -> Option<Message> {
    let mut up = TcpStream::connect(("127.0.0.1", upstream)).ok()?;
    up.write_all(request.head.as_bytes()).ok()?;
    up.write_all(&request.body).ok()?;
    read_message(&mut BufReader::new(up), request.head.starts_with("HEAD "))
}
