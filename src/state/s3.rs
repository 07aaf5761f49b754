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
//!   lock another run took after a force-unlock.
//!
//! Calls: `load` GetObject KEY; `write` PutObject KEY (GetObject KEY after a
//! refusal); `lock` PutObject KEY.lock (GetObject KEY.lock when refused);
//! `check_writable` HeadObject KEY.lock and KEY; release DeleteObject
//! KEY.lock; `lock_holder` GetObject KEY.lock; `force_unlock` GetObject and
//! DeleteObject KEY.lock; `advice` GetBucketVersioning.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use super::{Advice, LockGuard, LockInfo, Release, StateBackend, StateError, StateFile, StateLocation};

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
    /// The condition of a put or delete did not hold (HTTP 412; also a 409
    /// conditional-request conflict, and `If-Match` on a missing object).
    #[error("the object changed (precondition failed)")]
    PreconditionFailed,
    #[error("{0}")]
    Other(String),
}

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
}

/// Attempts at taking a lock that is released again and again meanwhile.
const LOCK_ATTEMPTS: usize = 5;

impl S3Backend {
    pub fn new(store: Arc<dyn ObjectStore>, location: S3Location) -> Self {
        let lock_key = format!("{}.lock", location.key);
        S3Backend { store, location, lock_key, seen: Mutex::new(Seen::Unread), held: Arc::new(Mutex::new(None)) }
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
        StateError::Remote { path, detail: e.to_string() }
    }

    fn hold(&self, etag: String) -> LockGuard {
        *self.held.lock().unwrap_or_else(PoisonError::into_inner) = Some(Held { etag: etag.clone() });
        LockGuard::new(S3Lock {
            store: self.store.clone(),
            key: self.lock_key.clone(),
            url: self.lock_url(),
            etag,
            held: self.held.clone(),
        })
    }
}

/// The holder a lock object names; an object pgstack did not write is
/// described as such (it has no id, so force-unlock cannot name it).
fn holder_of(body: &[u8]) -> LockInfo {
    serde_json::from_slice(body).unwrap_or_else(|_| LockInfo {
        id: None,
        who: "an object pgstack cannot read".into(),
        pid: 0,
        operation: "unknown".into(),
        since: "unknown".into(),
    })
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
        match self.store.put(&self.location.key, body.clone(), condition).await {
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
        for _ in 0..LOCK_ATTEMPTS {
            match self.store.put(&self.lock_key, body.clone(), Put::IfAbsent).await {
                Ok(etag) => return Ok(self.hold(etag)),
                Err(StoreError::PreconditionFailed) => {}
                Err(e) => return Err(self.remote(self.lock_url(), e)),
            }
            match self.store.get(&self.lock_key).await.map_err(|e| self.remote(self.lock_url(), e))? {
                // This run's own lock, created by a put whose reply was lost.
                Some(obj) if obj.body == body => return Ok(self.hold(obj.etag)),
                Some(obj) => return Err(StateError::Locked(holder_of(&obj.body))),
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

    async fn lock_holder(&self) -> Result<Option<LockInfo>, StateError> {
        let obj = self.store.get(&self.lock_key).await.map_err(|e| self.remote(self.lock_url(), e))?;
        Ok(obj.map(|o| holder_of(&o.body)))
    }

    async fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        let Some(obj) = self.store.get(&self.lock_key).await.map_err(|e| self.remote(self.lock_url(), e))? else {
            return Err(StateError::NotLocked { path: self.url() });
        };
        let holder = holder_of(&obj.body);
        if holder.id.as_deref() != Some(id) {
            return Err(StateError::OtherLock {
                path: self.lock_url(),
                holder: Box::new(holder),
                given: id.to_owned(),
            });
        }
        match self.store.delete(&self.lock_key, &obj.etag).await {
            Ok(()) => Ok(holder),
            Err(StoreError::PreconditionFailed) => Err(StateError::Remote {
                path: self.lock_url(),
                detail: "the lock changed hands while it was being removed; nothing was removed".into(),
            }),
            Err(e) => Err(self.remote(self.lock_url(), e)),
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
}

#[async_trait]
impl Release for S3Lock {
    async fn release(self: Box<Self>) -> Result<(), StateError> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner).take();
        match self.store.delete(&self.key, &self.etag).await {
            Ok(()) => Ok(()),
            Err(StoreError::PreconditionFailed) => Err(StateError::Remote {
                path: self.url.clone(),
                detail: "this run's lock was broken with force-unlock while it ran; the lock there now was left alone"
                    .into(),
            }),
            Err(e) => Err(StateError::Remote { path: self.url.clone(), detail: e.to_string() }),
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
}

#[cfg(test)]
impl MemoryStore {
    pub fn new(versioning: bool) -> Self {
        MemoryStore { objects: Mutex::default(), next_etag: 1.into(), versioning, lose_next_put_reply: false.into() }
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
        holder_of(&store.body("pgstack/shop.json.lock").expect("a lock object")).id.expect("an id")
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
        assert_eq!(broken.operation, "apply");
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
        assert_eq!(holder.id, Some(lock_id(&store)));
        b.force_unlock(&lock_id(&store)).await.unwrap();
        assert_eq!(b.lock_holder().await.unwrap(), None);
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
