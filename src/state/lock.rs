//! Who holds a stack's lock, and the guard that releases it.
//!
//! Local locks are OS file locks (`flock`): a process that dies releases its
//! lock, so a crash never leaves a stack locked. S3 locks are objects: one
//! left by a killed run stays until `pgstack force-unlock` removes it, and is
//! reported with its age meanwhile.
//!
//! Every field of a lock comes from outside this process (another run's
//! file, an object in a shared bucket) and is escaped wherever it is shown
//! ([`crate::ui::safe`]): a lock cannot move the cursor, recolour the
//! terminal or print a fake line.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StateError;
use crate::ui::safe;

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

    /// `who (pid N, running `op`) since TIME (AGE ago)`, every field escaped.
    pub fn describe(&self) -> String {
        let age = self.age(SystemTime::now()).map(|a| format!(" ({} ago)", short_duration(a))).unwrap_or_default();
        format!(
            "{} (pid {}, running `{}`) since {}{age}",
            safe(&self.who),
            self.pid,
            safe(&self.operation),
            safe(&self.since)
        )
    }
}

/// Whether `s` can name a lock on a command line as printed: 1 to 200
/// ASCII letters, digits, `-`, `_`, `.` or `:` (a lock id pgstack writes is a
/// UUID, an S3 ETag is hex). A lock whose id is not one is removed by its
/// object's ETag instead.
pub fn is_plain_token(s: &str) -> bool {
    (1..=200).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

/// A lock object that names no run pgstack can take back by its id: empty,
/// not a pgstack lock, or an id that cannot be typed ([`is_plain_token`]).
/// `force-unlock` removes it by its ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableLock {
    /// The object, `s3://BUCKET/KEY.lock`.
    pub path: String,
    /// Its ETag as S3 gives it (quoted).
    pub etag: String,
    /// Why it names no run.
    pub detail: String,
}

impl UnreadableLock {
    /// The ETag without S3's quotes: what `force-unlock` takes.
    pub fn etag_token(&self) -> &str {
        self.etag.trim_matches('"')
    }

    /// Whether `given` (quoted or not) is this object's ETag.
    pub fn named_by(&self, given: &str) -> bool {
        given.trim_matches('"') == self.etag_token()
    }

    /// `the S3 object PATH (ETag E), which is not a lock pgstack can read: DETAIL`, escaped.
    pub fn describe(&self) -> String {
        format!(
            "the S3 object {} (ETag {}), which is not a lock pgstack can read: {}",
            safe(&self.path),
            safe(self.etag_token()),
            safe(&self.detail)
        )
    }
}

/// Who holds a lock that can outlive its run (an S3 lock object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// A pgstack run, named by its lock id (always a plain token).
    Run(LockInfo),
    /// An object that names no such run: removable by its ETag.
    Unreadable(UnreadableLock),
}

impl Holder {
    /// Whether `force-unlock STACK given` names this lock: the run's lock
    /// id, or an unreadable object's ETag.
    pub fn named_by(&self, given: &str) -> bool {
        match self {
            Holder::Run(info) => info.id.as_deref() == Some(given),
            Holder::Unreadable(u) => u.named_by(given),
        }
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
        assert_eq!(info.describe(), format!("{} (pid {}, running `apply`) since unknown", safe(&info.who), info.pid));
        let d = |s| short_duration(Duration::from_secs(s));
        assert_eq!(
            (d(5), d(119), d(120), d(7199), d(7200), d(200_000)),
            ("5 s".into(), "119 s".into(), "2 min".into(), "119 min".into(), "2 h".into(), "2 days".into())
        );
    }

    #[test]
    fn every_field_of_a_lock_is_described_escaped() {
        let info = LockInfo {
            id: Some("x".into()),
            who: "mallory\u{1b}]0;pwned\u{7}@host\u{202e}".into(),
            pid: 7,
            operation: "apply\n  hint: run rm -rf /".into(),
            since: "\r2026".into(),
        };
        let d = info.describe();
        assert!(!d.chars().any(|c| c.is_control() || c == '\u{202e}'), "{d:?}");
        assert!(d.contains("mallory\\u{1b}]0;pwned\\u{7}@host\\u{202e}"), "{d}");
        assert!(d.contains("running `apply\\n  hint: run rm -rf /`") && d.contains("since \\r2026"), "{d}");
        let u = UnreadableLock { path: "s3://b/k.lock".into(), etag: "\"e\u{1b}\"".into(), detail: "a\nb".into() };
        assert_eq!(
            u.describe(),
            "the S3 object s3://b/k.lock (ETag e\\u{1b}), which is not a lock pgstack can read: a\\nb"
        );
    }

    #[test]
    fn locks_are_named_by_their_id_or_an_unreadable_objects_etag() {
        assert!(is_plain_token("5b0c1d2e-0000-4000-8000-000000000000") && is_plain_token("9b2cf535f277-2"));
        for bad in ["", "a b", "a;b", "a\nb", "$(x)", "é", "a".repeat(201).as_str()] {
            assert!(!is_plain_token(bad), "{bad:?}");
        }
        let run = Holder::Run(LockInfo { id: Some("abc".into()), ..LockInfo::current("apply") });
        assert!(run.named_by("abc") && !run.named_by("\"abc\"") && !run.named_by("abd"));
        let u = UnreadableLock { path: "s3://b/k.lock".into(), etag: "\"9b2c\"".into(), detail: "it is empty".into() };
        assert_eq!(u.etag_token(), "9b2c");
        let obj = Holder::Unreadable(u);
        assert!(obj.named_by("9b2c") && obj.named_by("\"9b2c\"") && !obj.named_by("9b2d") && !obj.named_by(""));
    }
}
