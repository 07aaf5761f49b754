//! A fault-injecting HTTP proxy in front of moto: per AWS operation it can
//! delay a request, answer 503 instead of forwarding, or forward the request
//! and then drop the connection without a reply (a create that happened but
//! whose answer was lost). Loopback only; one thread per connection.

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
}

#[derive(Default)]
struct Rules {
    pending: VecDeque<(String, Fault)>,
    /// Operations seen, in order.
    seen: Vec<String>,
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

fn read_message(reader: &mut BufReader<TcpStream>) -> Option<Message> {
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
    if let Some(len) = header("content-length").and_then(|l| l.parse::<usize>().ok()) {
        body.resize(len, 0);
        reader.read_exact(&mut body).ok()?;
    } else if header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
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

/// `X-Amz-Target` suffix (JSON protocols) or `Action=` (Query protocols).
fn operation(m: &Message) -> String {
    let target = m.head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case("x-amz-target").then(|| v.trim().rsplit('.').next().unwrap_or("").to_owned())
    });
    target.unwrap_or_else(|| {
        String::from_utf8_lossy(&m.body).split('&').find_map(|kv| kv.strip_prefix("Action=")).unwrap_or("").to_owned()
    })
}

fn serve(client: TcpStream, upstream: u16, rules: &Mutex<Rules>) {
    let Ok(writer) = client.try_clone() else { return };
    let mut writer = writer;
    let mut reader = BufReader::new(client);
    while let Some(request) = read_message(&mut reader) {
        let op = operation(&request);
        let fault = {
            let mut r = rules.lock().unwrap();
            r.seen.push(op.clone());
            let hit = r.pending.iter().position(|(o, _)| *o == op);
            hit.and_then(|i| r.pending.remove(i)).map(|(_, f)| f)
        };
        match fault {
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
        if fault == Some(Fault::DropReply) {
            return; // the request happened; the answer never arrives
        }
        if writer.write_all(response.head.as_bytes()).and_then(|()| writer.write_all(&response.body)).is_err() {
            return;
        }
    }
}

fn forward(request: &Message, upstream: u16) -> Option<Message> {
    let mut up = TcpStream::connect(("127.0.0.1", upstream)).ok()?;
    up.write_all(request.head.as_bytes()).ok()?;
    up.write_all(&request.body).ok()?;
    read_message(&mut BufReader::new(up))
}
