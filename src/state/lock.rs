//! Who holds a stack's lock, and the guard that releases it.
//!
//! Local locks are OS file locks (`flock`): a process that dies releases its
//! lock, so a crash never leaves a stack locked.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Written into the lock while it is held; shown to a second run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// `user@host`.
    pub who: String,
    pub pid: u32,
    /// The command holding the lock (`apply`, `destroy`, ...).
    pub operation: String,
    /// RFC 3339 time the lock was taken.
    pub since: String,
}

impl LockInfo {
    /// Info describing this process.
    pub fn current(operation: &str) -> Self {
        let user = std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_else(|_| "unknown".into());
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        LockInfo {
            who: format!("{user}@{host}"),
            pid: std::process::id(),
            operation: operation.to_owned(),
            since: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        }
    }

    pub fn describe(&self) -> String {
        format!("{} (pid {}, running `{}`) since {}", self.who, self.pid, self.operation, self.since)
    }
}

/// Holds a lock until dropped.
pub struct LockGuard {
    _held: Box<dyn Send + Sync>,
}

impl LockGuard {
    pub fn new(held: impl Send + Sync + 'static) -> Self {
        LockGuard { _held: Box::new(held) }
    }
}
