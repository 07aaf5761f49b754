//! Who holds a stack's lock, and the guard that releases it.
//!
//! Local locks are OS file locks (`flock`): a process that dies releases its
//! lock, so a crash never leaves a stack locked. S3 locks are objects: one
//! left by a killed run stays until `pgstack force-unlock` removes it, and is
//! reported with its age meanwhile.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StateError;

/// Written into the lock while it is held; shown to a second run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Names this lock for `pgstack force-unlock`; only locks that can
    /// outlive their process (S3) have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
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
            id: None,
            who: format!("{user}@{host}"),
            pid: std::process::id(),
            operation: operation.to_owned(),
            since: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        }
    }

    /// How long the lock has been held at `now`; `None` when `since` is not
    /// a time (or lies in the future).
    pub fn age(&self, now: SystemTime) -> Option<Duration> {
        now.duration_since(humantime::parse_rfc3339(&self.since).ok()?).ok()
    }

    pub fn describe(&self) -> String {
        let age = self.age(SystemTime::now()).map(|a| format!(" ({} ago)", short_duration(a))).unwrap_or_default();
        format!("{} (pid {}, running `{}`) since {}{age}", self.who, self.pid, self.operation, self.since)
    }
}

/// `42 s`, `17 min`, `5 h`, `3 days`: the largest unit that keeps a number of at least 2.
pub fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..120 => format!("{s} s"),
        120..7200 => format!("{} min", s / 60),
        7200..172_800 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

/// What a backend does to give a lock back.
#[async_trait]
pub trait Release: Send + Sync {
    async fn release(self: Box<Self>) -> Result<(), StateError>;
}

/// Holds a lock until [`LockGuard::release`]d or dropped.
///
/// Commands release explicitly, so a failure to give the lock back is
/// reported. Dropping a guard that was not released (an error returned
/// early) releases it too: inside a multi-thread tokio runtime it waits for
/// the release (an S3 DeleteObject) to finish; elsewhere it does what it can
/// without waiting.
pub struct LockGuard {
    held: Option<Box<dyn Release>>,
}

impl LockGuard {
    pub fn new(held: impl Release + 'static) -> Self {
        LockGuard { held: Some(Box::new(held)) }
    }

    /// Gives the lock back.
    pub async fn release(mut self) -> Result<(), StateError> {
        match self.held.take() {
            Some(held) => held.release().await,
            None => Ok(()),
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let Some(held) = self.held.take() else { return };
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current() {
            Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
                let _ = tokio::task::block_in_place(|| h.block_on(held.release()));
            }
            Ok(h) => {
                h.spawn(held.release());
            }
            // No runtime: dropping the box releases what needs no I/O (a file lock).
            Err(_) => drop(held),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_short_and_unparsable_times_have_none() {
        let mut info = LockInfo::current("apply");
        info.since = "2026-01-01T10:00:00Z".into();
        let at = |s: &str| humantime::parse_rfc3339(s).unwrap();
        assert_eq!(info.age(at("2026-01-01T10:17:30Z")), Some(Duration::from_secs(17 * 60 + 30)));
        assert_eq!(info.age(at("2026-01-01T09:00:00Z")), None, "in the future");
        info.since = "unknown".into();
        assert_eq!(info.age(at("2026-01-01T10:00:00Z")), None);
        assert_eq!(info.describe(), format!("{} (pid {}, running `apply`) since unknown", info.who, info.pid));
        let d = |s| short_duration(Duration::from_secs(s));
        assert_eq!(
            (d(5), d(119), d(120), d(7199), d(7200), d(200_000)),
            ("5 s".into(), "119 s".into(), "2 min".into(), "119 min".into(), "2 h".into(), "2 days".into())
        );
    }
}
