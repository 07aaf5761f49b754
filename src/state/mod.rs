//! State: what pgstack knows it manages, persisted after every change.
//!
//! Invariants: a state file never holds an `Unknown` value or a write-only
//! attribute; `serial` grows by one per persisted write and is never above
//! [`MAX_SERIAL`] (loaders refuse a larger one, writes stop before it);
//! `lineage` is fixed when the state is first created and identifies it
//! across copies.

pub mod local;
pub mod lock;
pub mod s3;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::addr::ResourceAddr;
use crate::value::{Attrs, Value};
pub use lock::{Holder, LockGuard, LockInfo, Release, UnreadableLock};

/// Version of the state file format written by this build.
pub const STATE_VERSION: u32 = 1;

/// The largest serial a state may carry: 2^53 - 1, the largest integer every
/// JSON reader holds exactly (JavaScript, jq and others read numbers as IEEE
/// doubles), so a state means the same to every tool that reads it. A stack
/// writing once a millisecond would need 285,000 years to get there: a
/// larger serial was edited in or written by another tool.
pub const MAX_SERIAL: u64 = (1 << 53) - 1;

/// Serde for serials (state files, saved plans): a whole number from 0 to
/// [`MAX_SERIAL`]; anything else is refused with the value it was.
pub mod serial {
    use serde::de::{Deserialize, Deserializer, Error};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        match v.as_u64() {
            Some(n) if n <= super::MAX_SERIAL => Ok(n),
            _ => Err(D::Error::custom(format!(
                "a serial must be a whole number from 0 to {} (2^53 - 1), not {v}",
                super::MAX_SERIAL
            ))),
        }
    }

    /// The serial after `n`, while it stays within [`super::MAX_SERIAL`].
    pub fn after(n: u64, writes: u64) -> Option<u64> {
        n.checked_add(writes).filter(|m| *m <= super::MAX_SERIAL)
    }
}

/// The whole state of one stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateFile {
    pub version: u32,
    /// Counts the writes of this lineage; at most [`MAX_SERIAL`].
    #[serde(deserialize_with = "serial::deserialize")]
    pub serial: u64,
    pub lineage: String,
    pub stack: String,
    #[serde(with = "resources_as_list")]
    pub resources: BTreeMap<ResourceAddr, ResourceState>,
    /// Output values from the last apply; sensitive outputs are not stored.
    #[serde(default)]
    pub outputs: BTreeMap<String, Value>,
}

/// Whether a resource is known to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Exists with the recorded id.
    Ready,
    /// A create was started but its result never reached the state; the next
    /// run looks the resource up by its ownership tags and adopts it.
    CreatePending,
}

/// One managed resource instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    pub address: ResourceAddr,
    #[serde(rename = "type")]
    pub rtype: String,
    pub region: String,
    pub status: Status,
    /// AWS id; absent while `status` is `CreatePending`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub attributes: Attrs,
    /// Resources this one depended on when last applied (destroy order).
    #[serde(default)]
    pub dependencies: Vec<ResourceAddr>,
    /// Objects replaced create-before-destroy whose delete has not been
    /// recorded yet: still in AWS until apply deletes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deposed: Vec<Deposed>,
}

/// An object kept in state after its replacement was created, until deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deposed {
    pub id: String,
    pub attributes: Attrs,
}

impl StateFile {
    pub fn new(stack: &str) -> Self {
        StateFile {
            version: STATE_VERSION,
            serial: 0,
            lineage: uuid::Uuid::new_v4().to_string(),
            stack: stack.to_owned(),
            resources: BTreeMap::new(),
            outputs: BTreeMap::new(),
        }
    }

    /// Parses a state file read from `path` (named in errors), refusing
    /// versions this build does not know.
    pub fn from_json(text: &str, path: &str) -> Result<Self, StateError> {
        let corrupt = |e: serde_json::Error| StateError::Corrupt { path: path.to_owned(), detail: e.to_string() };
        let probe: serde_json::Value = serde_json::from_str(text).map_err(corrupt)?;
        let version = match probe.get("version") {
            None => return Err(StateError::Corrupt { path: path.to_owned(), detail: "no `version` field".into() }),
            Some(v) => v.as_u64().ok_or_else(|| StateError::Corrupt {
                path: path.to_owned(),
                detail: format!("`version` must be a whole number, not {v}"),
            })?,
        };
        if version != u64::from(STATE_VERSION) {
            return Err(StateError::UnsupportedVersion { path: path.to_owned(), version });
        }
        serde_json::from_value(probe).map_err(corrupt)
    }

    /// Refuses a state recorded for another stack (read from `path`).
    pub fn check_stack(&self, expected: &str, path: &str) -> Result<(), StateError> {
        if self.stack == expected {
            return Ok(());
        }
        Err(StateError::WrongStack { path: path.to_owned(), found: self.stack.clone(), expected: expected.to_owned() })
    }

    /// The file's text; refuses a state no loader would read back (an
    /// unknown value, a serial above [`MAX_SERIAL`]).
    pub fn to_json(&self) -> Result<String, StateError> {
        if self.serial > MAX_SERIAL {
            return Err(StateError::Invalid(format!(
                "serial {} is above {MAX_SERIAL} (2^53 - 1), the largest serial pgstack writes",
                self.serial
            )));
        }
        for r in self.resources.values() {
            if r.attributes.values().any(Value::contains_unknown) {
                return Err(StateError::Invalid(format!("{} has an unknown value", r.address)));
            }
        }
        serde_json::to_string_pretty(self).map_err(|e| StateError::Invalid(e.to_string()))
    }
}

mod resources_as_list {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(m: &BTreeMap<ResourceAddr, ResourceState>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.values())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<ResourceAddr, ResourceState>, D::Error> {
        let list = Vec::<ResourceState>::deserialize(d)?;
        Ok(list.into_iter().map(|r| (r.address.clone(), r)).collect())
    }
}

/// Why state could not be read, written or locked.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state file {path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// A remote store (S3) failed or could not be reached.
    #[error("state in {path}: {detail}")]
    Remote { path: String, detail: String },
    /// Not a state file pgstack can read; `path` is filled in by the backend.
    #[error("state file {path} is not valid: {detail}")]
    Corrupt { path: String, detail: String },
    #[error(
        "state file {path} has version {version}, which this pgstack does not support (it writes version {STATE_VERSION})"
    )]
    UnsupportedVersion { path: String, version: u64 },
    /// The state belongs to another stack.
    #[error("state file {path} belongs to stack `{found}`, not `{expected}`")]
    WrongStack { path: String, found: String, expected: String },
    /// The backend cannot take writes; found before anything is changed.
    #[error("cannot write state to {path}: {detail}")]
    NotWritable { path: String, detail: String },
    /// A conditional write was refused: the stored state is no longer the
    /// version this run read (or last wrote). Nothing was overwritten.
    #[error(
        "the state in {path} changed since this run read it: another run wrote it (was this run's lock broken with force-unlock?); nothing was overwritten"
    )]
    Changed { path: String },
    #[error("refusing to write state: {0}")]
    Invalid(String),
    /// The local state was pushed to another backend (`state push`) and
    /// moved aside; using the old path would split the state in two.
    #[error("the state in {path} was moved to {destination} by `pgstack state push`; refusing to use the old file")]
    Moved { path: String, destination: String },
    #[error("state is locked by {}", .0.describe())]
    Locked(LockInfo),
    /// The lock object names no run pgstack can take back by its id
    /// (empty, not a lock, an id that cannot be typed).
    #[error("state is locked by {}", .0.describe())]
    UnreadableLock(UnreadableLock),
    /// `force-unlock` naming another ETag than the unreadable lock object's.
    #[error(
        "the lock object {} has ETag {}, not {}; it is not a lock pgstack can read ({}): nothing was removed",
        crate::ui::safe(&.lock.path), crate::ui::safe(.lock.etag_token()), crate::ui::safe(.given),
        crate::ui::safe(&.lock.detail)
    )]
    OtherLockObject { lock: Box<UnreadableLock>, given: String },
    /// No further write fits below [`MAX_SERIAL`] (a state whose serial was
    /// edited or written by another tool).
    #[error(
        "the state in {path} is at serial {serial}: {writes} more write(s) would take it past {MAX_SERIAL} (2^53 - 1), the largest serial pgstack writes"
    )]
    SerialLimit { path: String, serial: u64, writes: u64 },
    /// S3 refused to delete the lock object (403). pgstack deletes it
    /// `If-Match` its ETag, and S3 allows such a delete only to a caller
    /// with `s3:GetObject` as well as `s3:DeleteObject` on the object.
    #[error("cannot remove the lock {path}: {detail}")]
    LockDeleteDenied { path: String, detail: String },
    /// The state bucket is in another region than the backend's `region`
    /// (S3 answered 301 PermanentRedirect); `region` is the bucket's when S3
    /// named it.
    #[error(
        "the state bucket `{}` is {}, not in {} where the backend looks for it (S3 answered 301 PermanentRedirect)",
        crate::ui::safe(.bucket),
        .region.as_deref().map_or_else(|| "in another region".to_owned(), |r| format!("in {}", crate::ui::safe(r))),
        crate::ui::safe(.configured)
    )]
    WrongRegion { bucket: String, region: Option<String>, configured: String },
    /// `force-unlock` on a backend whose locks end with their process.
    #[error(
        "the lock on {path} is a file lock, released when the process holding it exits: there is nothing to force-unlock"
    )]
    NoForceUnlock { path: String },
    /// `force-unlock` when no lock is held.
    #[error("the state in {path} is not locked")]
    NotLocked { path: String },
    /// `force-unlock` naming another lock than the one held.
    #[error(
        "the lock on {path} has id {}, not {}: it is held by {}",
        crate::ui::safe(.holder.id.as_deref().unwrap_or("(none)")), crate::ui::safe(.given), .holder.describe()
    )]
    OtherLock { path: String, holder: Box<LockInfo>, given: String },
    /// Replacing a state by one of another lineage (another deployment's state).
    #[error(
        "{path} holds a state of lineage {stored}, and the new one has lineage {incoming}: they are the states of different deployments; refusing to overwrite"
    )]
    OtherLineage { path: String, stored: String, incoming: String },
    /// Replacing a state by an older (or diverged) one of the same lineage.
    #[error(
        "{path} holds serial {stored} of this state, and the new one is serial {incoming}{}; refusing to overwrite a newer state",
        if incoming == stored { " with other content" } else { "" }
    )]
    OlderSerial { path: String, stored: u64, incoming: u64 },
}

/// Whether `incoming` may replace `stored` (the state at `path`, if any):
/// `Ok(true)` when it must be written, `Ok(false)` when it is already there.
/// Refused: another lineage, an older serial, or the same serial with other
/// content (two histories that diverged).
pub fn check_replace(stored: Option<&StateFile>, incoming: &StateFile, path: &str) -> Result<bool, StateError> {
    let Some(stored) = stored else { return Ok(true) };
    if stored.lineage != incoming.lineage {
        return Err(StateError::OtherLineage {
            path: path.to_owned(),
            stored: stored.lineage.clone(),
            incoming: incoming.lineage.clone(),
        });
    }
    if incoming.serial > stored.serial {
        return Ok(true);
    }
    if incoming == stored {
        return Ok(false);
    }
    Err(StateError::OlderSerial { path: path.to_owned(), stored: stored.serial, incoming: incoming.serial })
}

/// Where a stack's state lives, as recorded in saved plans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateLocation {
    /// `local` or `s3`.
    pub backend: String,
    /// An absolute file path, or `s3://BUCKET/KEY`.
    pub location: String,
    /// The backend's other settings (s3: `bucket`, `key`, `region`, `kms_key_id`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, String>,
}

/// Advice about how state is kept (an S3 bucket without versioning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advice {
    pub message: String,
    pub hints: Vec<String>,
}

/// Where state lives: a local file ([`local`]) or an S3 object ([`s3`]).
#[async_trait]
pub trait StateBackend: Send + Sync {
    /// The stored state, or `None` when the stack has none yet.
    async fn load(&self) -> Result<Option<StateFile>, StateError>;
    /// Replaces the stored state atomically. Local files keep the previous
    /// version as a backup; S3 refuses the write unless the stored state is
    /// still the version this backend last read or wrote.
    async fn write(&self, state: &StateFile) -> Result<(), StateError>;
    /// Takes the stack's lock, or reports who holds it.
    async fn lock(&self, info: LockInfo) -> Result<LockGuard, StateError>;
    /// Proves, without changing the stored state, that `write` can succeed
    /// now: called before the first change to AWS.
    async fn check_writable(&self) -> Result<(), StateError>;
    /// Who holds a lock that can outlive its process, if anyone.
    async fn lock_holder(&self) -> Result<Option<Holder>, StateError>;
    /// Removes the lock `given` names ([`Holder::named_by`]: a run's lock id,
    /// or an unreadable lock object's ETag), left by a run that is gone, and
    /// only while it is still that very object; returns what held it.
    async fn force_unlock(&self, given: &str) -> Result<Holder, StateError>;
    /// Advice about the backend's setup, checked before taking the lock.
    async fn advice(&self) -> Result<Vec<Advice>, StateError>;
    /// Where the state is, as recorded in saved plans.
    fn location(&self) -> StateLocation;
    /// Where the state is, for messages.
    fn describe(&self) -> String;
}

/// The in-memory state of a running apply, persisted with group commit: every
/// change is durable before `commit` returns, and changes that arrive while a
/// write is in flight share the next write.
///
/// Invariants: the serial written is the stored one plus the writes made,
/// never above [`MAX_SERIAL`] (a commit that would pass it fails, writing
/// nothing); once a write failed, [`LiveState::write_failed`] stays true.
pub struct LiveState {
    current: std::sync::Mutex<Current>,
    backend: Arc<dyn StateBackend>,
    /// The generation of the last change a durable write covers.
    persisted: tokio::sync::Mutex<u64>,
    write_failed: std::sync::atomic::AtomicBool,
}

/// The state in memory and how many changes it has seen.
struct Current {
    state: StateFile,
    generation: u64,
}

impl LiveState {
    pub fn new(state: StateFile, backend: Arc<dyn StateBackend>) -> Self {
        LiveState {
            current: std::sync::Mutex::new(Current { state, generation: 0 }),
            backend,
            persisted: tokio::sync::Mutex::new(0),
            write_failed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// True once a write to the backend failed: what happened since is in
    /// AWS (tagged, so a later run finds it) but not in the stored state.
    pub fn write_failed(&self) -> bool {
        self.write_failed.load(Ordering::SeqCst)
    }

    /// A copy of the current in-memory state.
    pub fn snapshot(&self) -> StateFile {
        self.lock_current().state.clone()
    }

    /// Reads the current state without copying it.
    pub fn with<R>(&self, f: impl FnOnce(&StateFile) -> R) -> R {
        f(&self.lock_current().state)
    }

    fn lock_current(&self) -> std::sync::MutexGuard<'_, Current> {
        self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Refuses, before anything is changed, when `writes` more writes would
    /// take the serial past [`MAX_SERIAL`].
    pub fn check_room(&self, writes: u64) -> Result<(), StateError> {
        let serial = self.with(|s| s.serial);
        match serial::after(serial, writes) {
            Some(_) => Ok(()),
            None => Err(StateError::SerialLimit { path: self.backend.describe(), serial, writes }),
        }
    }

    /// Applies `change` and returns once a write containing it is durable.
    pub async fn commit(&self, change: impl FnOnce(&mut StateFile)) -> Result<(), StateError> {
        let generation = {
            let mut cur = self.lock_current();
            // One per call: a u64 counted in one process never reaches its end.
            let next = cur
                .generation
                .checked_add(1)
                .ok_or_else(|| StateError::Invalid("more changes in one run than pgstack can count".to_owned()))?;
            change(&mut cur.state);
            cur.generation = next;
            next
        };
        let mut persisted = self.persisted.lock().await;
        if *persisted >= generation {
            return Ok(());
        }
        let (snapshot, covered) = {
            let mut cur = self.lock_current();
            let serial = cur.state.serial;
            let Some(next) = serial::after(serial, 1) else {
                self.write_failed.store(true, Ordering::SeqCst);
                return Err(StateError::SerialLimit { path: self.backend.describe(), serial, writes: 1 });
            };
            cur.state.serial = next;
            (cur.state.clone(), cur.generation)
        };
        if let Err(e) = self.backend.write(&snapshot).await {
            self.write_failed.store(true, Ordering::SeqCst);
            return Err(e);
        }
        *persisted = covered;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::strategy::Strategy as _;

    use super::*;

    #[test]
    fn state_round_trips_and_refuses_unknown() {
        let mut s = StateFile::new("demo");
        let addr: ResourceAddr = "vpc.main".parse().unwrap();
        let mut attrs = Attrs::new();
        attrs.insert("cidr_block".into(), Value::str("10.0.0.0/16"));
        s.resources.insert(
            addr.clone(),
            ResourceState {
                address: addr.clone(),
                rtype: "vpc".into(),
                region: "us-east-1".into(),
                status: Status::Ready,
                id: Some("vpc-1".into()),
                attributes: attrs,
                dependencies: vec![],
                deposed: vec![],
            },
        );
        let text = s.to_json().unwrap();
        assert_eq!(StateFile::from_json(&text, "s.json").unwrap(), s);
        s.resources.get_mut(&addr).unwrap().attributes.insert("x".into(), Value::Unknown);
        assert!(matches!(s.to_json(), Err(StateError::Invalid(_))));
    }

    #[test]
    fn unknown_versions_are_refused() {
        let err = StateFile::from_json(r#"{"version": 99}"#, "s.json").unwrap_err();
        assert!(matches!(err, StateError::UnsupportedVersion { version: 99, .. }));
        assert!(err.to_string().contains("s.json"), "{err}");
    }

    #[test]
    fn state_of_another_stack_is_refused_naming_both() {
        let s = StateFile::new("billing");
        assert!(s.check_stack("billing", "x.json").is_ok());
        let e = s.check_stack("shop", "state/x.json").unwrap_err().to_string();
        assert!(e.contains("`billing`") && e.contains("`shop`") && e.contains("state/x.json"), "{e}");
    }

    #[test]
    fn a_state_replaces_only_an_older_one_of_its_own_lineage() {
        let mut stored = StateFile::new("shop");
        stored.serial = 5;
        assert!(check_replace(None, &stored, "p").unwrap(), "nothing stored: written");
        assert!(!check_replace(Some(&stored), &stored, "p").unwrap(), "the same: nothing to write");
        let mut newer = stored.clone();
        newer.serial = 6;
        assert!(check_replace(Some(&stored), &newer, "p").unwrap());
        let e = check_replace(Some(&newer), &stored, "s3://b/k").unwrap_err();
        assert!(matches!(e, StateError::OlderSerial { stored: 6, incoming: 5, .. }), "{e}");
        assert!(e.to_string().contains("s3://b/k") && !e.to_string().contains("other content"), "{e}");
        let mut diverged = stored.clone();
        diverged.outputs.insert("x".into(), Value::str("y"));
        let e = check_replace(Some(&stored), &diverged, "p").unwrap_err();
        assert!(e.to_string().contains("serial 5 with other content"), "{e}");
        let other = StateFile::new("shop");
        let e = check_replace(Some(&stored), &other, "p").unwrap_err();
        assert!(matches!(e, StateError::OtherLineage { .. }), "{e}");
        assert!(e.to_string().contains(&stored.lineage) && e.to_string().contains(&other.lineage), "{e}");
    }

    /// A state file of serial `n` (any JSON number text).
    fn with_serial(n: &str) -> String {
        format!(r#"{{"version":1,"serial":{n},"lineage":"l","stack":"s","resources":[]}}"#)
    }

    #[test]
    fn serials_beyond_the_maximum_negative_or_fractional_are_refused_naming_the_file() {
        assert_eq!(MAX_SERIAL, 9_007_199_254_740_991);
        let max = MAX_SERIAL.to_string();
        assert_eq!(StateFile::from_json(&with_serial(&max), "state/p.json").unwrap().serial, MAX_SERIAL);
        let refused = [
            "18446744073709551615",
            "9007199254740992",
            "-1",
            "-9223372036854775808",
            "1e308",
            "0.5",
            "1.0",
            "\"7\"",
            "null",
        ];
        for n in refused {
            let e = StateFile::from_json(&with_serial(n), "state/p.json").unwrap_err();
            assert!(matches!(e, StateError::Corrupt { .. }), "{n}: {e}");
            let text = e.to_string();
            assert!(text.contains("state file state/p.json is not valid"), "{n}: {text}");
            assert!(text.contains("a serial must be a whole number from 0 to 9007199254740991"), "{n}: {text}");
        }
        let e = StateFile::from_json(r#"{"version": 1e308}"#, "s.json").unwrap_err();
        assert!(e.to_string().contains("`version` must be a whole number, not 1e+308"), "{e}");
        let mut s = StateFile::new("s");
        s.serial = MAX_SERIAL + 1;
        assert!(matches!(s.to_json(), Err(StateError::Invalid(_))), "never written either");
    }

    /// A backend that keeps the last state written, in memory.
    #[derive(Default)]
    struct Kept(std::sync::Mutex<Option<StateFile>>);

    #[async_trait]
    impl StateBackend for Kept {
        async fn load(&self) -> Result<Option<StateFile>, StateError> {
            Ok(self.0.lock().unwrap().clone())
        }
        async fn write(&self, state: &StateFile) -> Result<(), StateError> {
            state.to_json()?;
            *self.0.lock().unwrap() = Some(state.clone());
            Ok(())
        }
        async fn lock(&self, _info: LockInfo) -> Result<LockGuard, StateError> {
            unimplemented!("not locked in these tests")
        }
        async fn check_writable(&self) -> Result<(), StateError> {
            Ok(())
        }
        async fn lock_holder(&self) -> Result<Option<Holder>, StateError> {
            Ok(None)
        }
        async fn force_unlock(&self, _given: &str) -> Result<Holder, StateError> {
            unimplemented!("not locked in these tests")
        }
        async fn advice(&self) -> Result<Vec<Advice>, StateError> {
            Ok(Vec::new())
        }
        fn location(&self) -> StateLocation {
            StateLocation { backend: "memory".into(), location: "memory".into(), settings: BTreeMap::new() }
        }
        fn describe(&self) -> String {
            "kept.json".into()
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn commits_stop_at_the_largest_serial_without_panicking_or_writing() {
        let backend = Arc::new(Kept::default());
        let mut s = StateFile::new("s");
        s.serial = MAX_SERIAL - 1;
        let live = LiveState::new(s, backend.clone());
        live.check_room(1).unwrap();
        let e = live.check_room(2).unwrap_err();
        assert!(matches!(e, StateError::SerialLimit { serial, writes: 2, .. } if serial == MAX_SERIAL - 1), "{e}");
        assert!(e.to_string().contains("kept.json") && e.to_string().contains("2 more write(s)"), "{e}");
        live.commit(|s| drop(s.outputs.insert("a".into(), Value::str("1")))).await.unwrap();
        assert_eq!(backend.0.lock().unwrap().as_ref().unwrap().serial, MAX_SERIAL);
        assert!(!live.write_failed());
        let e = live.commit(|s| drop(s.outputs.insert("b".into(), Value::str("2")))).await.unwrap_err();
        assert!(matches!(e, StateError::SerialLimit { writes: 1, .. }), "{e}");
        assert!(live.write_failed(), "the failed write is reported");
        let stored = backend.0.lock().unwrap().clone().unwrap();
        assert_eq!((stored.serial, stored.outputs.len()), (MAX_SERIAL, 1), "nothing past the limit was written");
        assert!(live.check_room(1).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Arbitrary bytes never panic the loader, and every error names the file.
        #[test]
        fn arbitrary_bytes_never_panic_and_errors_name_the_file(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let text = String::from_utf8_lossy(&bytes);
            if let Err(e) = StateFile::from_json(&text, "state/p.json") {
                proptest::prop_assert!(e.to_string().contains("state/p.json"));
            }
        }

        /// Extreme and malformed serials never panic the loader: a serial is
        /// read only from 0 to MAX_SERIAL, and a refusal names the file.
        #[test]
        fn extreme_serials_are_read_in_range_or_refused_naming_the_file(
            n in proptest::prop_oneof![
                proptest::prelude::any::<u64>().prop_map(|n| n.to_string()),
                proptest::prelude::any::<i64>().prop_map(|n| n.to_string()),
                proptest::prelude::any::<f64>().prop_map(|x| serde_json::json!(x).to_string()),
                proptest::sample::select(vec!["18446744073709551616", "-0", "1e308", "-1e308", "4.5", "\"1\"", "[]", "{}", "true"])
                    .prop_map(str::to_owned),
                (0u64..=3).prop_map(|d| (MAX_SERIAL - 1 + d).to_string()),
            ]
        ) {
            match StateFile::from_json(&with_serial(&n), "state/p.json") {
                Ok(s) => proptest::prop_assert!(s.serial <= MAX_SERIAL && s.serial.to_string() == n.trim_start_matches('-'), "{n} read as {}", s.serial),
                Err(e) => proptest::prop_assert!(e.to_string().contains("state/p.json"), "{e}"),
            }
        }

        /// JSON that is almost a state file (fields of the wrong shape) is refused cleanly.
        #[test]
        fn wrong_shapes_are_refused_cleanly(serial in proptest::prelude::any::<i64>(), key in "[a-z_]{1,12}", n in proptest::prelude::any::<i32>()) {
            let text = format!(r#"{{"version":1,"serial":{serial},"lineage":"l","stack":"s","resources":[{{"address":"vpc.a","type":"vpc","region":"r","status":"ready","{key}":{n}}}]}}"#);
            if let Err(e) = StateFile::from_json(&text, "state/p.json") {
                proptest::prop_assert!(e.to_string().contains("state/p.json"));
            }
        }
    }
}
