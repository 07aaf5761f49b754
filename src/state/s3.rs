//! State in S3, shared by a team: the state at `s3://BUCKET/KEY`, its lock at
//! `KEY.lock`, over a small [`ObjectStore`] (implemented for AWS beside the
//! AWS client factory; tests use `MemoryStore`).
//!
//! Consistency rests on conditional writes, not on the lock alone:
//! - the lock object is created with `If-None-Match: *`, so one run holds it;
//!   it names its holder (user@host, pid, command, time) and a lock id;
//! - every state write is `If-Match` the ETag of the version this backend
//!   last read or wrote (`If-None-Match: *` when there was none), so a writer
//!   whose lock was broken can never replace a state it has not seen. Every
//!   write carries a new serial, so a version's bytes never come back and an
//!   ETag names one version;
//! - a refused conditional write is read back: when the stored bytes are the
//!   ones sent, the write was this run's own (its reply was lost and the SDK
//!   sent it again) and is accepted;
//! - the lock is deleted `If-Match` its own ETag, so a run never removes a
//!   lock another run took after a force-unlock;
//! - a lock object that names no run by a usable id (empty, not a pgstack
//!   lock, an id that cannot be typed) blocks like any lock and is reported
//!   as that object with its ETag; `force-unlock` takes the ETag for it and
//!   deletes `If-Match` that ETag, so it removes only the object it named.
//!
//! - a conditional request S3 answers `409 ConditionalRequestConflict`
//!   (another conditional request on the same object was in progress; S3
//!   wrote or deleted nothing and documents that it can be retried) is sent
//!   again, with the same condition, for up to [`CONFLICT_WAIT`], with a
//!   progress line per retry: the state write, the lock, and the lock's
//!   release and force-unlock.
//!
//! Calls: `load` GetObject KEY; `write` PutObject KEY (GetObject KEY after a
//! refusal); `lock` PutObject KEY.lock (GetObject KEY.lock when refused);
//! `check_writable` HeadObject KEY.lock and KEY; release DeleteObject
//! KEY.lock; `lock_holder` GetObject KEY.lock; `force_unlock` GetObject and
//! DeleteObject KEY.lock; `advice` GetBucketVersioning.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use super::lock::is_plain_token;
use super::{
    Advice, Holder, LockGuard, LockInfo, Release, StateBackend, StateError, StateFile, StateLocation, UnreadableLock,
};
use crate::retry::{Backoff, Budget, Progress, retry};

/// Where an S3 state lives and how it is encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub key: String,
    pub region: String,
    /// SSE-KMS with this key for the state and its lock; the bucket's default encryption otherwise.
    pub kms_key_id: Option<String>,
}

impl S3Location {
    /// `s3://BUCKET/KEY`.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// The settings as `[backend] s3` names them (what a saved plan records).
    pub fn settings(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::from([
            ("bucket".to_owned(), self.bucket.clone()),
            ("key".to_owned(), self.key.clone()),
            ("region".to_owned(), self.region.clone()),
        ]);
        if let Some(k) = &self.kms_key_id {
            out.insert("kms_key_id".to_owned(), k.clone());
        }
        out
    }
}

/// The condition a put is made under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Put {
    /// `If-None-Match: *`: only when no object is there.
    IfAbsent,
    /// `If-Match: ETAG`: only over this version.
    IfMatch(String),
}

/// An object's bytes and ETag.
#[derive(Debug, Clone)]
pub struct Object {
    pub body: Vec<u8>,
    pub etag: String,
}

/// Why an object store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The condition of a put or delete did not hold (HTTP 412, and
    /// `If-Match` on a missing object).
    #[error("the object changed (precondition failed)")]
    PreconditionFailed,
    /// Another conditional request on the same object was in progress (S3's
    /// `409 ConditionalRequestConflict`): this one wrote or deleted nothing
    /// and may be sent again.
    #[error("S3 answered 409 ConditionalRequestConflict: another conditional write to the object was in progress")]
    Conflict,
    /// The bucket is in another region than the one the request went to
    /// (HTTP 301 `PermanentRedirect`); `region` is the bucket's, when S3
    /// named it (`x-amz-bucket-region`).
    #[error("the bucket is in another region (S3 answered 301 PermanentRedirect)")]
    WrongRegion { region: Option<String> },
    /// Access denied (HTTP 403); the text names the operation and AWS's message.
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    Other(String),
}

/// How long a conditional request answered `409 ConditionalRequestConflict`
/// is sent again: the conflict lasts as long as the other request on the
/// same object (a state or lock object of a few kilobytes to megabytes takes
/// well under a second to put), so 30 s covers a slow peer many times over.
pub const CONFLICT_WAIT: Duration = Duration::from_secs(30);

/// What a 409 retry waits for, for the progress line.
const CONFLICT_REASON: &str =
    "S3 answered 409 ConditionalRequestConflict (another conditional write to the object was in progress)";

/// The few S3 operations the backend needs, in one bucket.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// The object, or `None` when there is none.
    async fn get(&self, key: &str) -> Result<Option<Object>, StoreError>;
    /// The object's ETag, or `None` when there is none.
    async fn head(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Writes the object under `condition`; returns its new ETag.
    async fn put(&self, key: &str, body: Vec<u8>, condition: Put) -> Result<String, StoreError>;
    /// Deletes the object if its ETag is `etag`.
    async fn delete(&self, key: &str, etag: &str) -> Result<(), StoreError>;
    /// True when the bucket keeps previous versions of objects.
    async fn versioning_enabled(&self) -> Result<bool, StoreError>;
}

/// What this backend knows of the stored state's version.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// Not read yet: a write may only create the state.
    Unread,
    /// Read, and there was none.
    Absent,
    /// The ETag of the version last read or written.
    Version(String),
}

/// The lock this backend holds: its object's ETag.
#[derive(Debug, Clone)]
struct Held {
    etag: String,
}

/// A stack's state in S3.
pub struct S3Backend {
    store: Arc<dyn ObjectStore>,
    location: S3Location,
    lock_key: String,
    seen: Mutex<Seen>,
    held: Arc<Mutex<Option<Held>>>,
    pacing: Pacing,
}

/// Where the backend reports its retries, and what its pauses are multiplied by.
#[derive(Clone)]
struct Pacing {
    progress: Progress,
    pace: f64,
}

impl Pacing {
    /// Runs `call` (one conditional request on `what`, e.g. "PutObject of
    /// s3://B/K") again while it fails with [`StoreError::Conflict`], for up
    /// to [`CONFLICT_WAIT`] from the first conflict, reporting each retry.
    async fn settled<T, F, Fut>(&self, what: &str, call: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let b = Backoff::RETRY;
        let backoff = Backoff { first: b.first.mul_f64(self.pace), cap: b.cap.mul_f64(self.pace), ..b };
        let budget = Budget { limit: CONFLICT_WAIT, backoff, progress: &self.progress };
        let reason = |e: &StoreError| matches!(e, StoreError::Conflict).then(|| CONFLICT_REASON.to_owned());
        retry(budget, what, reason, call).await
    }
}

/// Attempts at taking a lock that is released again and again meanwhile.
const LOCK_ATTEMPTS: usize = 5;

impl S3Backend {
    pub fn new(store: Arc<dyn ObjectStore>, location: S3Location) -> Self {
        let lock_key = format!("{}.lock", location.key);
        S3Backend {
            store,
            location,
            lock_key,
            seen: Mutex::new(Seen::Unread),
            held: Arc::new(Mutex::new(None)),
            pacing: Pacing { progress: Progress::default(), pace: 1.0 },
        }
    }

    /// Reports the backend's retries (409 conflicts) to `progress`, its
    /// pauses multiplied by `pace` (1 in real runs; limits are not scaled).
    pub fn with_progress(mut self, progress: Progress, pace: f64) -> Self {
        self.pacing = Pacing { progress, pace };
        self
    }

    fn url(&self) -> String {
        self.location.url()
    }

    fn lock_url(&self) -> String {
        format!("s3://{}/{}", self.location.bucket, self.lock_key)
    }

    fn seen(&self) -> Seen {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn set_seen(&self, seen: Seen) {
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = seen;
    }

    fn remote(&self, path: String, e: StoreError) -> StateError {
        remote(&self.location, path, e)
    }

    fn hold(&self, etag: String) -> LockGuard {
        *self.held.lock().unwrap_or_else(PoisonError::into_inner) = Some(Held { etag: etag.clone() });
        LockGuard::new(S3Lock {
            store: self.store.clone(),
            key: self.lock_key.clone(),
            url: self.lock_url(),
            etag,
            held: self.held.clone(),
            location: self.location.clone(),
            pacing: self.pacing.clone(),
        })
    }
}

/// A store failure as the state error for `path`: a bucket in another
/// region is named as such, a denied delete of the lock explains itself.
fn remote(location: &S3Location, path: String, e: StoreError) -> StateError {
    match e {
        StoreError::WrongRegion { region } => {
            StateError::WrongRegion { bucket: location.bucket.clone(), region, configured: location.region.clone() }
        }
        e => StateError::Remote { path, detail: e.to_string() },
    }
}

/// A failed DeleteObject of the lock object at `path`: a 403 is
/// [`StateError::LockDeleteDenied`] (S3 allows a delete `If-Match` an ETag
/// only with `s3:GetObject` besides `s3:DeleteObject`).
fn delete_failed(location: &S3Location, path: String, e: StoreError) -> StateError {
    match e {
        StoreError::Denied(detail) => StateError::LockDeleteDenied { path, detail },
        e => remote(location, path, e),
    }
}

/// What a lock object says: the run it names by a usable lock id, or why it
/// names none (its bytes are never trusted to be a lock pgstack wrote).
fn holder_of(obj: &Object, path: &str) -> Holder {
    let unreadable =
        |detail: String| Holder::Unreadable(UnreadableLock { path: path.to_owned(), etag: obj.etag.clone(), detail });
    if obj.body.iter().all(u8::is_ascii_whitespace) {
        return unreadable("it is empty".to_owned());
    }
    match serde_json::from_slice::<LockInfo>(&obj.body) {
        Err(e) => unreadable(format!("it is not a pgstack lock ({e})")),
        Ok(info) => match info.id.as_deref() {
            Some(id) if is_plain_token(id) => Holder::Run(info),
            Some(_) => unreadable(format!(
                "its lock id is not 1 to 200 letters, digits, `-`, `_`, `.` or `:`; it says it is held by {}",
                info.describe()
            )),
            None => unreadable(format!("it has no lock id; it says it is held by {}", info.describe())),
        },
    }
}

#[async_trait]
impl StateBackend for S3Backend {
    async fn load(&self) -> Result<Option<StateFile>, StateError> {
        let Some(obj) = self.store.get(&self.location.key).await.map_err(|e| self.remote(self.url(), e))? else {
            self.set_seen(Seen::Absent);
            return Ok(None);
        };
        let text =
            String::from_utf8(obj.body).map_err(|e| StateError::Corrupt { path: self.url(), detail: e.to_string() })?;
        let state = StateFile::from_json(&text, &self.url())?;
        self.set_seen(Seen::Version(obj.etag));
        Ok(Some(state))
    }

    async fn write(&self, state: &StateFile) -> Result<(), StateError> {
        let body = state.to_json()?.into_bytes();
        let condition = match self.seen() {
            Seen::Version(etag) => Put::IfMatch(etag),
            Seen::Unread | Seen::Absent => Put::IfAbsent,
        };
        let what = format!("PutObject of {}", self.url());
        let put = || self.store.put(&self.location.key, body.clone(), condition.clone());
        match self.pacing.settled(&what, put).await {
            Ok(etag) => {
                self.set_seen(Seen::Version(etag));
                Ok(())
            }
            Err(StoreError::PreconditionFailed) => {
                match self.store.get(&self.location.key).await.map_err(|e| self.remote(self.url(), e))? {
                    // This very write, sent again after its reply was lost.
                    Some(obj) if obj.body == body => {
                        self.set_seen(Seen::Version(obj.etag));
                        Ok(())
                    }
                    _ => Err(StateError::Changed { path: self.url() }),
                }
            }
            Err(e) => Err(self.remote(self.url(), e)),
        }
    }

    async fn lock(&self, info: LockInfo) -> Result<LockGuard, StateError> {
        let info = LockInfo { id: Some(uuid::Uuid::new_v4().to_string()), ..info };
        let body = serde_json::to_vec_pretty(&info).map_err(|e| StateError::Invalid(e.to_string()))?;
        let what = format!("PutObject of {}", self.lock_url());
        for _ in 0..LOCK_ATTEMPTS {
            let put = || self.store.put(&self.lock_key, body.clone(), Put::IfAbsent);
            match self.pacing.settled(&what, put).await {
                Ok(etag) => return Ok(self.hold(etag)),
                Err(StoreError::PreconditionFailed) => {}
                Err(e) => return Err(self.remote(self.lock_url(), e)),
            }
            match self.store.get(&self.lock_key).await.map_err(|e| self.remote(self.lock_url(), e))? {
                // This run's own lock, created by a put whose reply was lost.
                Some(obj) if obj.body == body => return Ok(self.hold(obj.etag)),
                Some(obj) => {
                    return Err(match holder_of(&obj, &self.lock_url()) {
                        Holder::Run(info) => StateError::Locked(info),
                        Holder::Unreadable(lock) => StateError::UnreadableLock(lock),
                    });
                }
                // Released in between: try again.
                None => {}
            }
        }
        Err(StateError::Remote {
            path: self.lock_url(),
            detail: format!("the lock was taken and released {LOCK_ATTEMPTS} times while this run tried to take it"),
        })
    }

    async fn check_writable(&self) -> Result<(), StateError> {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let lock_etag = self.store.head(&self.lock_key).await.map_err(|e| self.remote(self.lock_url(), e))?;
        if held.is_none() || lock_etag != held.map(|h| h.etag) {
            return Err(StateError::NotWritable {
                path: self.url(),
                detail: format!(
                    "this run does not hold the lock {} (was it broken with force-unlock?)",
                    self.lock_url()
                ),
            });
        }
        let stored = self.store.head(&self.location.key).await.map_err(|e| self.remote(self.url(), e))?;
        match (self.seen(), stored) {
            (Seen::Version(seen), Some(now)) if seen == now => Ok(()),
            (Seen::Unread | Seen::Absent, None) => Ok(()),
            _ => Err(StateError::Changed { path: self.url() }),
        }
    }

    async fn lock_holder(&self) -> Result<Option<Holder>, StateError> {
        let obj = self.store.get(&self.lock_key).await.map_err(|e| self.remote(self.lock_url(), e))?;
        Ok(obj.map(|o| holder_of(&o, &self.lock_url())))
    }

    async fn force_unlock(&self, given: &str) -> Result<Holder, StateError> {
        let Some(obj) = self.store.get(&self.lock_key).await.map_err(|e| self.remote(self.lock_url(), e))? else {
            return Err(StateError::NotLocked { path: self.url() });
        };
        let holder = holder_of(&obj, &self.lock_url());
        if !holder.named_by(given) {
            return Err(match holder {
                Holder::Run(info) => {
                    StateError::OtherLock { path: self.lock_url(), holder: Box::new(info), given: given.to_owned() }
                }
                Holder::Unreadable(lock) => {
                    StateError::OtherLockObject { lock: Box::new(lock), given: given.to_owned() }
                }
            });
        }
        let what = format!("DeleteObject of {}", self.lock_url());
        match self.pacing.settled(&what, || self.store.delete(&self.lock_key, &obj.etag)).await {
            Ok(()) => Ok(holder),
            Err(StoreError::PreconditionFailed) => Err(StateError::Remote {
                path: self.lock_url(),
                detail: "the lock changed hands while it was being removed; nothing was removed".into(),
            }),
            Err(e) => Err(delete_failed(&self.location, self.lock_url(), e)),
        }
    }

    async fn advice(&self) -> Result<Vec<Advice>, StateError> {
        let bucket = &self.location.bucket;
        let versioned = self.store.versioning_enabled().await.map_err(|e| self.remote(format!("s3://{bucket}"), e))?;
        Ok(if versioned {
            Vec::new()
        } else {
            vec![Advice {
                message: format!(
                    "the state bucket `{bucket}` does not have versioning enabled: a state overwritten or deleted by mistake cannot be recovered"
                ),
                hints: vec![format!(
                    "enable it: aws s3api put-bucket-versioning --bucket {bucket} --versioning-configuration Status=Enabled"
                )],
            }]
        })
    }

    fn location(&self) -> StateLocation {
        StateLocation { backend: "s3".to_owned(), location: self.url(), settings: self.location.settings() }
    }

    fn describe(&self) -> String {
        self.url()
    }
}

/// A held S3 lock; releasing deletes the lock object if it is still this one.
struct S3Lock {
    store: Arc<dyn ObjectStore>,
    key: String,
    url: String,
    etag: String,
    held: Arc<Mutex<Option<Held>>>,
    location: S3Location,
    pacing: Pacing,
}

#[async_trait]
impl Release for S3Lock {
    async fn release(self: Box<Self>) -> Result<(), StateError> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner).take();
        let what = format!("DeleteObject of {}", self.url);
        match self.pacing.settled(&what, || self.store.delete(&self.key, &self.etag)).await {
            Ok(()) => Ok(()),
            Err(StoreError::PreconditionFailed) => Err(StateError::Remote {
                path: self.url.clone(),
                detail: "this run's lock was broken with force-unlock while it ran; the lock there now was left alone"
                    .into(),
            }),
            Err(e) => Err(delete_failed(&self.location, self.url.clone(), e)),
        }
    }
}

/// An in-memory object store with S3's conditional semantics, for tests.
#[cfg(test)]
pub struct MemoryStore {
    objects: Mutex<BTreeMap<String, Object>>,
    next_etag: std::sync::atomic::AtomicU64,
    pub versioning: bool,
    /// Makes the next put act as one whose reply was lost and that was sent
    /// again: carried out, then answered with a failed precondition.
    pub lose_next_put_reply: std::sync::atomic::AtomicBool,
    /// The next this many puts and deletes are answered as S3 answers a
    /// conditional request while another one on the object is in progress
    /// (409 ConditionalRequestConflict): nothing is written or deleted.
    pub conflicts: std::sync::atomic::AtomicUsize,
    /// Deletes are refused (403), as S3 refuses a delete `If-Match` an ETag
    /// to a caller without `s3:GetObject`.
    pub deny_deletes: std::sync::atomic::AtomicBool,
}

#[cfg(test)]
impl MemoryStore {
    pub fn new(versioning: bool) -> Self {
        MemoryStore {
            objects: Mutex::default(),
            next_etag: 1.into(),
            versioning,
            lose_next_put_reply: false.into(),
            conflicts: 0.into(),
            deny_deletes: false.into(),
        }
    }

    /// Takes one of the [`Self::conflicts`] left, if any.
    fn conflicted(&self) -> bool {
        use std::sync::atomic::Ordering;
        self.conflicts.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }

    pub fn body(&self, key: &str) -> Option<Vec<u8>> {
        self.objects.lock().unwrap().get(key).map(|o| o.body.clone())
    }
}

#[cfg(test)]
#[async_trait]
impl ObjectStore for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<Object>, StoreError> {
        Ok(self.objects.lock().unwrap().get(key).cloned())
    }

    async fn head(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.objects.lock().unwrap().get(key).map(|o| o.etag.clone()))
    }

    async fn put(&self, key: &str, body: Vec<u8>, condition: Put) -> Result<String, StoreError> {
        use std::sync::atomic::Ordering;
        if self.conflicted() {
            return Err(StoreError::Conflict);
        }
        let mut objects = self.objects.lock().unwrap();
        let current = objects.get(key).map(|o| o.etag.clone());
        let holds = match &condition {
            Put::IfAbsent => current.is_none(),
            Put::IfMatch(etag) => current.as_ref() == Some(etag),
        };
        if !holds {
            return Err(StoreError::PreconditionFailed);
        }
        let etag = format!("\"{}\"", self.next_etag.fetch_add(1, Ordering::SeqCst));
        objects.insert(key.to_owned(), Object { body, etag: etag.clone() });
        if self.lose_next_put_reply.swap(false, Ordering::SeqCst) {
            return Err(StoreError::PreconditionFailed);
        }
        Ok(etag)
    }

    async fn delete(&self, key: &str, etag: &str) -> Result<(), StoreError> {
        if self.conflicted() {
            return Err(StoreError::Conflict);
        }
        if self.deny_deletes.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Denied("DeleteObject: AccessDenied: Access Denied".into()));
        }
        let mut objects = self.objects.lock().unwrap();
        if objects.get(key).map(|o| o.etag.as_str()) != Some(etag) {
            return Err(StoreError::PreconditionFailed);
        }
        objects.remove(key);
        Ok(())
    }

    async fn versioning_enabled(&self) -> Result<bool, StoreError> {
        Ok(self.versioning)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use proptest::strategy::Strategy as _;

    use super::*;

    fn location() -> S3Location {
        S3Location {
            bucket: "team-state".into(),
            key: "pgstack/shop.json".into(),
            region: "eu-west-1".into(),
            kms_key_id: None,
        }
    }

    fn backends(store: &Arc<MemoryStore>) -> (S3Backend, S3Backend) {
        (S3Backend::new(store.clone(), location()), S3Backend::new(store.clone(), location()))
    }

    fn lock_id(store: &MemoryStore) -> String {
        let body = store.body("pgstack/shop.json.lock").expect("a lock object");
        serde_json::from_slice::<LockInfo>(&body).unwrap().id.expect("an id")
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_second_run_is_refused_naming_the_holder_until_the_first_releases() {
        let store = Arc::new(MemoryStore::new(true));
        let (a, b) = backends(&store);
        let guard = a.lock(LockInfo::current("apply")).await.unwrap();
        match b.lock(LockInfo::current("plan")).await {
            Err(StateError::Locked(holder)) => {
                assert_eq!((holder.operation.as_str(), holder.pid), ("apply", std::process::id()));
                assert_eq!(holder.id, Some(lock_id(&store)));
            }
            other => panic!("expected Locked, got {:?}", other.map(|_| ())),
        }
        guard.release().await.unwrap();
        assert!(store.body("pgstack/shop.json.lock").is_none(), "released: the lock object is gone");
        let guard = b.lock(LockInfo::current("plan")).await.unwrap();
        drop(guard);
        assert!(store.body("pgstack/shop.json.lock").is_none(), "a dropped guard deletes its lock too");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_writer_whose_lock_was_broken_cannot_overwrite_the_newer_state() {
        let store = Arc::new(MemoryStore::new(true));
        let (a, b) = backends(&store);
        let guard_a = a.lock(LockInfo::current("apply")).await.unwrap();
        assert!(a.load().await.unwrap().is_none());
        let mut first = StateFile::new("shop");
        first.serial = 1;
        a.write(&first).await.unwrap();
        a.check_writable().await.unwrap();

        // A's run looks dead; B breaks its lock and writes a newer state.
        let broken = b.force_unlock(&lock_id(&store)).await.unwrap();
        assert!(matches!(broken, Holder::Run(info) if info.operation == "apply"));
        let guard_b = b.lock(LockInfo::current("apply")).await.unwrap();
        let mut newer = b.load().await.unwrap().unwrap();
        newer.serial = 2;
        b.write(&newer).await.unwrap();

        let e = a.check_writable().await.unwrap_err();
        assert!(matches!(e, StateError::NotWritable { .. }), "{e}");
        assert!(e.to_string().contains("force-unlock"), "{e}");
        let mut stale = first.clone();
        stale.serial = 2;
        stale.outputs.insert("from_a".into(), crate::value::Value::str("x"));
        let e = a.write(&stale).await.unwrap_err();
        assert!(matches!(e, StateError::Changed { .. }), "{e}");
        assert!(e.to_string().contains("s3://team-state/pgstack/shop.json"), "{e}");
        let stored =
            StateFile::from_json(std::str::from_utf8(&store.body("pgstack/shop.json").unwrap()).unwrap(), "s").unwrap();
        assert_eq!(stored, newer, "nothing was overwritten");

        // A's late release leaves B's lock alone.
        let e = guard_a.release().await.unwrap_err();
        assert!(e.to_string().contains("broken with force-unlock"), "{e}");
        assert!(matches!(a.lock(LockInfo::current("plan")).await, Err(StateError::Locked(_))));
        guard_b.release().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_state_created_by_someone_else_meanwhile_is_not_overwritten() {
        let store = Arc::new(MemoryStore::new(true));
        let (a, b) = backends(&store);
        assert!(a.load().await.unwrap().is_none());
        assert!(b.load().await.unwrap().is_none());
        b.write(&StateFile::new("shop")).await.unwrap();
        assert!(matches!(a.check_writable().await, Err(StateError::NotWritable { .. })), "a holds no lock");
        let _guard = a.lock(LockInfo::current("apply")).await.unwrap();
        assert!(matches!(a.check_writable().await, Err(StateError::Changed { .. })));
        assert!(matches!(a.write(&StateFile::new("shop")).await, Err(StateError::Changed { .. })));
        // A backend that never read the state may only create it.
        let c = S3Backend::new(store.clone(), location());
        assert!(matches!(c.write(&StateFile::new("shop")).await, Err(StateError::Changed { .. })));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn writes_and_locks_resent_after_a_lost_reply_are_recognised_as_our_own() {
        let store = Arc::new(MemoryStore::new(true));
        let (a, b) = backends(&store);
        store.lose_next_put_reply.store(true, Ordering::SeqCst);
        let _guard = a.lock(LockInfo::current("apply")).await.unwrap();
        a.check_writable().await.unwrap();
        assert!(a.load().await.unwrap().is_none());
        let mut s = StateFile::new("shop");
        store.lose_next_put_reply.store(true, Ordering::SeqCst);
        a.write(&s).await.unwrap();
        s.serial += 1;
        store.lose_next_put_reply.store(true, Ordering::SeqCst);
        a.write(&s).await.unwrap();
        a.check_writable().await.unwrap();
        assert_eq!(b.load().await.unwrap(), Some(s));
    }

    /// A backend on `store` whose pauses are a thousandth of the real ones,
    /// and the progress lines it reports.
    fn reporting(store: &Arc<MemoryStore>) -> (S3Backend, Arc<Mutex<Vec<String>>>) {
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = lines.clone();
        let progress = Progress::new(move |what, _| sink.lock().unwrap().push(what.to_owned()));
        (S3Backend::new(store.clone(), location()).with_progress(progress, 0.001), lines)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn conditional_requests_answered_409_are_sent_again_with_a_progress_line() {
        let store = Arc::new(MemoryStore::new(true));
        let (a, lines) = reporting(&store);
        store.conflicts.store(2, Ordering::SeqCst);
        let guard = a.lock(LockInfo::current("apply")).await.unwrap();
        assert!(store.body("pgstack/shop.json.lock").is_some(), "the lock was taken after two conflicts");
        assert!(a.load().await.unwrap().is_none());
        store.conflicts.store(1, Ordering::SeqCst);
        a.write(&StateFile::new("shop")).await.unwrap();
        a.check_writable().await.unwrap();
        store.conflicts.store(1, Ordering::SeqCst);
        guard.release().await.unwrap();
        assert!(store.body("pgstack/shop.json.lock").is_none(), "released after a conflict");
        let reason =
            "S3 answered 409 ConditionalRequestConflict (another conditional write to the object was in progress)";
        let lock = "s3://team-state/pgstack/shop.json.lock";
        let expected = [
            format!("retrying PutObject of {lock} after {reason}"),
            format!("retrying PutObject of {lock} after {reason}"),
            format!("retrying PutObject of s3://team-state/pgstack/shop.json after {reason}"),
            format!("retrying DeleteObject of {lock} after {reason}"),
        ];
        assert_eq!(*lines.lock().unwrap(), expected);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_write_sent_again_after_a_409_still_meets_its_condition() {
        let store = Arc::new(MemoryStore::new(true));
        let (a, _) = reporting(&store);
        let b = S3Backend::new(store.clone(), location());
        assert!(a.load().await.unwrap().is_none());
        let mut theirs = StateFile::new("shop");
        theirs.serial = 5;
        b.write(&theirs).await.unwrap();
        // The conflicting write was b's, and it won: a's retry is refused.
        store.conflicts.store(1, Ordering::SeqCst);
        let e = a.write(&StateFile::new("shop")).await.unwrap_err();
        assert!(matches!(e, StateError::Changed { .. }), "{e}");
        assert_eq!(b.load().await.unwrap(), Some(theirs), "nothing was overwritten");
        assert_eq!(store.conflicts.load(Ordering::SeqCst), 0, "the conflict was answered");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_denied_delete_of_the_lock_names_the_missing_permission() {
        let store = Arc::new(MemoryStore::new(true));
        let (a, b) = backends(&store);
        let guard = a.lock(LockInfo::current("apply")).await.unwrap();
        store.deny_deletes.store(true, Ordering::SeqCst);
        let e = guard.release().await.unwrap_err();
        let StateError::LockDeleteDenied { path, detail } = &e else { panic!("expected LockDeleteDenied, got {e}") };
        assert_eq!((path.as_str(), detail.as_str()), (LOCK_URL, "DeleteObject: AccessDenied: Access Denied"));
        assert_eq!(
            e.to_string(),
            format!("cannot remove the lock {LOCK_URL}: DeleteObject: AccessDenied: Access Denied")
        );
        assert!(store.body("pgstack/shop.json.lock").is_some(), "the lock stays");
        let e = b.force_unlock(&lock_id(&store)).await.unwrap_err();
        assert!(matches!(e, StateError::LockDeleteDenied { .. }), "{e}");
        store.deny_deletes.store(false, Ordering::SeqCst);
        b.force_unlock(&lock_id(&store)).await.unwrap();
    }

    #[test]
    fn a_bucket_in_another_region_is_named_with_its_region() {
        let e = remote(&location(), "s3://x".into(), StoreError::WrongRegion { region: Some("eu-central-1".into()) });
        assert_eq!(
            e.to_string(),
            "the state bucket `team-state` is in eu-central-1, not in eu-west-1 where the backend looks for it (S3 answered 301 PermanentRedirect)"
        );
        let e = remote(&location(), "s3://x".into(), StoreError::WrongRegion { region: None });
        assert!(
            e.to_string().starts_with("the state bucket `team-state` is in another region, not in eu-west-1"),
            "{e}"
        );
        let e = remote(&location(), "s3://x".into(), StoreError::WrongRegion { region: Some("a\u{1b}[2Jb".into()) });
        assert!(!e.to_string().chars().any(char::is_control), "{e:?}");
        let other = remote(&location(), "s3://x".into(), StoreError::Other("boom".into()));
        assert!(matches!(other, StateError::Remote { .. }));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn force_unlock_removes_only_the_named_lock() {
        let store = Arc::new(MemoryStore::new(true));
        let (a, b) = backends(&store);
        assert!(matches!(b.force_unlock("x").await, Err(StateError::NotLocked { .. })));
        assert_eq!(b.lock_holder().await.unwrap(), None);
        let _guard = a.lock(LockInfo::current("destroy")).await.unwrap();
        let e = b.force_unlock("not-the-id").await.unwrap_err();
        assert!(matches!(e, StateError::OtherLock { .. }), "{e}");
        assert!(e.to_string().contains("running `destroy`"), "{e}");
        let holder = b.lock_holder().await.unwrap().unwrap();
        assert!(matches!(holder, Holder::Run(info) if info.id == Some(lock_id(&store))));
        b.force_unlock(&lock_id(&store)).await.unwrap();
        assert_eq!(b.lock_holder().await.unwrap(), None);
    }

    const LOCK_URL: &str = "s3://team-state/pgstack/shop.json.lock";

    /// A store holding a lock object with `body`, and its ETag.
    async fn locked_by(body: &[u8]) -> (Arc<MemoryStore>, String) {
        let store = Arc::new(MemoryStore::new(true));
        let etag = store.put("pgstack/shop.json.lock", body.to_vec(), Put::IfAbsent).await.unwrap();
        (store, etag)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_unreadable_lock_object_blocks_and_is_removed_only_by_its_etag() {
        let no_id = br#"{"who":"x@y","pid":1,"operation":"apply","since":"now"}"#.as_slice();
        let odd_id = br#"{"id":"a b\nhint: run rm -rf /","who":"x@y","pid":1,"operation":"apply","since":"now"}"#;
        let cases: [(&[u8], &str); 5] = [
            (b"", "it is empty"),
            (b" \n", "it is empty"),
            (b"\x00\xffgarbage", "it is not a pgstack lock"),
            (no_id, "it has no lock id"),
            (odd_id, "its lock id is not 1 to 200 letters"),
        ];
        for (body, detail) in cases {
            let (store, etag) = locked_by(body).await;
            let b = S3Backend::new(store.clone(), location());
            let token = etag.trim_matches('"').to_owned();
            let e = b.lock(LockInfo::current("apply")).await.err().expect("blocked");
            let StateError::UnreadableLock(lock) = &e else { panic!("{detail}: expected UnreadableLock, got {e}") };
            assert_eq!((lock.path.as_str(), lock.etag.as_str()), (LOCK_URL, etag.as_str()));
            let text = e.to_string();
            assert!(
                text.contains(&format!("the S3 object {LOCK_URL} (ETag {token})")) && text.contains(detail),
                "{text}"
            );
            assert!(!text.chars().any(char::is_control), "{text:?}");
            assert!(matches!(b.lock_holder().await.unwrap(), Some(Holder::Unreadable(_))));

            let e = b.force_unlock("0123abcd").await.unwrap_err();
            assert!(matches!(e, StateError::OtherLockObject { .. }), "{e}");
            assert!(
                e.to_string().contains(&format!("{LOCK_URL} has ETag {token}, not 0123abcd; it is not a lock")),
                "{e}"
            );
            assert!(store.body("pgstack/shop.json.lock").is_some(), "another ETag removes nothing");
            let removed = b.force_unlock(&format!("\"{token}\"")).await.unwrap();
            assert!(matches!(removed, Holder::Unreadable(l) if l.etag == etag), "quoted as S3 gives it");
            assert!(store.body("pgstack/shop.json.lock").is_none());
            b.lock(LockInfo::current("apply")).await.unwrap().release().await.unwrap();
        }
        // A run's readable lock is removed by its id only, not by its object's ETag.
        let store = Arc::new(MemoryStore::new(true));
        let (a, b) = backends(&store);
        let _guard = a.lock(LockInfo::current("apply")).await.unwrap();
        let etag = store.head("pgstack/shop.json.lock").await.unwrap().unwrap();
        assert!(matches!(b.force_unlock(etag.trim_matches('"')).await, Err(StateError::OtherLock { .. })));
    }

    /// A state file of serial `n`, or arbitrary bytes.
    fn state_bytes() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        proptest::prop_oneof![
            proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            proptest::sample::select(vec!["18446744073709551615", "-1", "1e308", "0.5", "9007199254740991", "3"])
                .prop_map(|n| format!(r#"{{"version":1,"serial":{n},"lineage":"l","stack":"shop","resources":[]}}"#)
                    .into_bytes()),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        /// Any bytes stored as the state never panic `load`: a state comes
        /// back with its serial in range, or the error names the object.
        #[test]
        fn stored_bytes_load_in_range_or_fail_naming_the_object(body in state_bytes()) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let loaded = rt.block_on(async {
                let store = Arc::new(MemoryStore::new(true));
                store.put("pgstack/shop.json", body, Put::IfAbsent).await.unwrap();
                S3Backend::new(store, location()).load().await
            });
            match loaded {
                Ok(state) => proptest::prop_assert!(state.is_some_and(|s| s.serial <= crate::state::MAX_SERIAL)),
                Err(e) => proptest::prop_assert!(e.to_string().contains("s3://team-state/pgstack/shop.json"), "{e}"),
            }
        }

        /// Lock objects with extreme numbers or malformed fields never panic:
        /// they block as a run's lock (every field escaped) or as an
        /// unreadable object named by its URL.
        #[test]
        fn lock_objects_with_extreme_values_block_cleanly(
            pid in proptest::prop_oneof![
                proptest::prelude::any::<u64>().prop_map(|n| n.to_string()),
                proptest::prelude::any::<i64>().prop_map(|n| n.to_string()),
                proptest::sample::select(vec!["1e308", "-1", "0.5", "null", "\"7\"", "4294967295", "4294967296"]).prop_map(str::to_owned),
            ],
            id in proptest::prop_oneof![
                proptest::sample::select(vec!["\"abc\"", "\"\"", "null", "7", "\"a\\u001b[2J\"", "\"\\u202e\""]).prop_map(str::to_owned),
                "[ -~]{0,30}".prop_map(|s| serde_json::json!(s).to_string()),
            ],
            text in "\\PC{0,20}",
        ) {
            let body = format!(
                r#"{{"id":{id},"who":{w},"pid":{pid},"operation":{w},"since":{w}}}"#,
                w = serde_json::json!(format!("{text}\u{1b}\n\u{202e}"))
            );
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
            let e = rt.block_on(async {
                let (store, _) = locked_by(body.as_bytes()).await;
                S3Backend::new(store, location()).lock(LockInfo::current("apply")).await.err().expect("blocked")
            });
            let shown = e.to_string();
            proptest::prop_assert!(!shown.chars().any(|c| c.is_control() || c == '\u{202e}'), "{shown:?}");
            match e {
                StateError::Locked(info) => proptest::prop_assert!(info.id.as_deref().is_some_and(is_plain_token)),
                StateError::UnreadableLock(_) => proptest::prop_assert!(shown.contains(LOCK_URL), "{shown}"),
                other => proptest::prop_assert!(false, "unexpected {other}"),
            }
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_unversioned_bucket_gets_advice_and_a_corrupt_state_names_its_url() {
        let store = Arc::new(MemoryStore::new(false));
        let b = S3Backend::new(store.clone(), location());
        let advice = b.advice().await.unwrap();
        assert_eq!(advice.len(), 1);
        assert!(advice[0].hints[0].contains("put-bucket-versioning --bucket team-state"), "{advice:?}");
        assert!(S3Backend::new(Arc::new(MemoryStore::new(true)), location()).advice().await.unwrap().is_empty());
        store.put("pgstack/shop.json", b"{ nope".to_vec(), Put::IfAbsent).await.unwrap();
        let e = b.load().await.unwrap_err();
        assert!(matches!(e, StateError::Corrupt { .. }) && e.to_string().contains("s3://team-state/pgstack/shop.json"));
        let loc = b.location();
        assert_eq!((loc.backend.as_str(), loc.location.as_str()), ("s3", "s3://team-state/pgstack/shop.json"));
        assert_eq!(loc.settings.get("region").map(String::as_str), Some("eu-west-1"));
        assert!(!loc.settings.contains_key("kms_key_id"));
    }
}
