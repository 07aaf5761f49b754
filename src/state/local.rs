//! Local state files: `state/<stack>.json`, `<file>.backup`, `<file>.lock`.
//!
//! Writes go to a temp file in the same directory, are fsynced, then renamed
//! over the state file (atomic on POSIX), and the directory is fsynced. The
//! previous version is kept as `.backup`. State, backup and lock files are
//! created owner-only (0600): they describe infrastructure.
//!
//! A state path that is a symbolic link (a state shared from another
//! directory) is written through to the file it names: temp file, backup and
//! lock sit beside that file, and the link stays a link. A link that leads
//! nowhere is refused before anything is written.
//!
//! After `state push` moved the state elsewhere, the file is renamed to
//! `<file>.moved` and a note `<file>.moved-to` names the new location: every
//! use of the old path (a run without the backend flags, a saved plan bound
//! to it) is refused with the new location named, so the state never splits.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;

use super::{Advice, Holder, LockGuard, LockInfo, Release, StateBackend, StateError, StateFile, StateLocation};

pub struct LocalBackend {
    /// The path as given (shown in messages).
    path: PathBuf,
    /// The file really read and written: `path` with links followed.
    real: PathBuf,
    /// Why `path` cannot be written through (a link that leads nowhere).
    unresolved: Option<String>,
}

impl LocalBackend {
    pub fn new(path: PathBuf) -> Self {
        let absolute = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
        let is_link = fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
        let (real, unresolved) = match crate::files::real_path(&path) {
            Ok(real) => (real, None),
            // A fresh location whose directory does not exist yet: a write creates it.
            Err(_) if !is_link => (absolute, None),
            Err(e) => (absolute, Some(e.to_string())),
        };
        LocalBackend { path, real, unresolved }
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = self.real.file_name().unwrap_or_default().to_os_string();
        name.push(suffix);
        self.real.with_file_name(name)
    }

    /// Where the state went after `state push`, if it was moved away.
    pub fn moved_note_path(&self) -> PathBuf {
        self.sibling(".moved-to")
    }

    /// Moves the state file aside (`<file>.moved`) with a note naming
    /// `destination`, after its state was pushed there.
    pub fn move_aside(&self, destination: &str) -> Result<PathBuf, StateError> {
        let aside = self.sibling(".moved");
        let note = self.moved_note_path();
        crate::files::write_atomic(&note, format!("{destination}\n").as_bytes()).map_err(|e| self.io(&note, e))?;
        fs::rename(&self.real, &aside).map_err(|e| self.io(&self.real, e))?;
        Ok(aside)
    }

    /// Refuses the path when its state was pushed elsewhere.
    fn check_not_moved(&self) -> Result<(), StateError> {
        match fs::read_to_string(self.moved_note_path()) {
            Ok(note) => Err(StateError::Moved {
                path: crate::diag::display_path(&self.path),
                destination: note.lines().next().unwrap_or_default().trim().to_owned(),
            }),
            Err(_) => Ok(()),
        }
    }

    /// Refuses a link that leads nowhere: writing would replace the link.
    fn check_resolved(&self) -> Result<(), StateError> {
        match &self.unresolved {
            Some(why) => Err(StateError::NotWritable {
                path: crate::diag::display_path(&self.path),
                detail: format!("{why}; a write would replace the link with a file of its own"),
            }),
            None => Ok(()),
        }
    }

    pub fn backup_path(&self) -> PathBuf {
        self.sibling(".backup")
    }

    pub fn lock_path(&self) -> PathBuf {
        self.sibling(".lock")
    }

    fn io(&self, path: &Path, source: std::io::Error) -> StateError {
        StateError::Io { path: crate::diag::display_path(path), source }
    }

    fn dir(&self) -> &Path {
        self.real.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
    }

    fn tmp_path(&self) -> PathBuf {
        self.sibling(&format!(".tmp.{}", std::process::id()))
    }

    /// Creates (truncating) an owner-only file.
    fn create_private(path: &Path) -> std::io::Result<File> {
        OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)
    }

    fn write_sync(&self, state: &StateFile) -> Result<(), StateError> {
        self.check_resolved()?;
        self.check_not_moved()?;
        let text = state.to_json()?;
        let dir = self.dir();
        fs::create_dir_all(dir).map_err(|e| self.io(dir, e))?;
        if self.real.exists() {
            let backup = self.backup_path();
            Self::create_private(&backup)
                .and_then(|mut b| {
                    b.write_all(&fs::read(&self.real)?)?;
                    b.sync_all()
                })
                .map_err(|e| self.io(&backup, e))?;
        }
        crate::files::write_atomic(&self.real, text.as_bytes()).map_err(|e| self.io(&self.real, e))
    }

    fn check_writable_sync(&self) -> Result<(), StateError> {
        self.check_resolved()?;
        self.check_not_moved()?;
        let dir = self.dir();
        fs::create_dir_all(dir).map_err(|e| not_writable(dir, e))?;
        // The same steps a write takes, on a probe file: create, fsync, rename, remove.
        let tmp = self.tmp_path();
        let probe = self.sibling(&format!(".probe.{}", std::process::id()));
        let result = Self::create_private(&tmp)
            .and_then(|f| f.sync_all())
            .and_then(|()| fs::rename(&tmp, &probe))
            .and_then(|()| File::open(dir)?.sync_all())
            .map_err(|e| not_writable(dir, e));
        let _ = fs::remove_file(&tmp);
        let _ = fs::remove_file(&probe);
        result?;
        if self.real.exists() {
            let backup = self.backup_path();
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&backup)
                .map_err(|e| not_writable(&backup, e))?;
            if self.real.is_dir() {
                return Err(not_writable(&self.path, std::io::Error::other("it is a directory")));
            }
        }
        Ok(())
    }

    /// Reads the holder from a lock file another process holds. The holder
    /// writes its info right after taking the lock, so an empty or partly
    /// written file is read again for a moment; `None` if the lock was
    /// released meanwhile. A file that does not say who holds it (complete
    /// but not a lock, or still partial after the wait) is reported as such,
    /// naming the file.
    fn read_holder(&self, file: &mut File) -> Result<Option<LockInfo>, StateError> {
        for _ in 0..100 {
            let mut bytes = Vec::new();
            let _ = file.seek(SeekFrom::Start(0)).and_then(|_| file.read_to_end(&mut bytes));
            match serde_json::from_slice::<LockInfo>(&bytes) {
                // A file lock ends with its process: it has no id to force-unlock.
                Ok(info) => return Ok(Some(LockInfo { id: None, ..info })),
                // Complete, but not a lock: reading it again changes nothing.
                Err(e) if !e.is_eof() => return Ok(Some(self.silent_holder())),
                // Empty or partly written: its holder is writing it.
                Err(_) => {}
            }
            match file.try_lock() {
                Ok(()) => {
                    let _ = file.unlock();
                    return Ok(None);
                }
                Err(std::fs::TryLockError::WouldBlock) => std::thread::sleep(Duration::from_millis(20)),
                Err(std::fs::TryLockError::Error(e)) => return Err(self.io(&self.lock_path(), e)),
            }
        }
        Ok(Some(self.silent_holder()))
    }

    /// The holder of a lock whose file does not say who holds it.
    fn silent_holder(&self) -> LockInfo {
        LockInfo {
            id: None,
            who: format!(
                "another process (its lock file {} does not say who)",
                crate::diag::display_path(&self.lock_path())
            ),
            pid: 0,
            operation: "unknown".into(),
            since: "unknown".into(),
        }
    }

    fn lock_sync(&self, info: &LockInfo) -> Result<LockGuard, StateError> {
        self.check_not_moved()?;
        let path = self.lock_path();
        fs::create_dir_all(self.dir()).map_err(|e| not_writable(self.dir(), e))?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| self.io(&path, e))?;
        loop {
            match file.try_lock() {
                Ok(()) => {
                    let text = serde_json::to_string(info).unwrap_or_default();
                    file.set_len(0)
                        .and_then(|()| file.seek(SeekFrom::Start(0)))
                        .and_then(|_| file.write_all(text.as_bytes()))
                        .and_then(|()| file.sync_all())
                        .map_err(|e| self.io(&path, e))?;
                    return Ok(LockGuard::new(HeldLock { file }));
                }
                Err(std::fs::TryLockError::WouldBlock) => match self.read_holder(&mut file)? {
                    Some(holder) => return Err(StateError::Locked(holder)),
                    None => continue,
                },
                Err(std::fs::TryLockError::Error(e)) => return Err(self.io(&path, e)),
            }
        }
    }
}

fn not_writable(path: &Path, e: std::io::Error) -> StateError {
    StateError::NotWritable { path: crate::diag::display_path(path), detail: e.to_string() }
}

#[async_trait]
impl StateBackend for LocalBackend {
    async fn load(&self) -> Result<Option<StateFile>, StateError> {
        self.check_not_moved()?;
        match fs::read_to_string(&self.real) {
            Ok(text) => StateFile::from_json(&text, &self.describe()).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(&self.path, e)),
        }
    }

    async fn write(&self, state: &StateFile) -> Result<(), StateError> {
        // A blocking write on purpose: the walk awaits durability anyway, and a
        // write must not be abandoned halfway by a cancelled task.
        tokio::task::block_in_place(|| self.write_sync(state))
    }

    async fn lock(&self, info: LockInfo) -> Result<LockGuard, StateError> {
        tokio::task::block_in_place(|| self.lock_sync(&info))
    }

    async fn check_writable(&self) -> Result<(), StateError> {
        tokio::task::block_in_place(|| self.check_writable_sync())
    }

    /// Local locks end with their process: there is never one to break.
    async fn lock_holder(&self) -> Result<Option<Holder>, StateError> {
        Err(StateError::NoForceUnlock { path: crate::diag::display_path(&self.lock_path()) })
    }

    async fn force_unlock(&self, _given: &str) -> Result<Holder, StateError> {
        Err(StateError::NoForceUnlock { path: crate::diag::display_path(&self.lock_path()) })
    }

    async fn advice(&self) -> Result<Vec<Advice>, StateError> {
        Ok(Vec::new())
    }

    /// The file really written (links followed), so two paths to one file
    /// are one location.
    fn location(&self) -> StateLocation {
        StateLocation {
            backend: "local".to_owned(),
            location: self.real.display().to_string(),
            settings: Default::default(),
        }
    }

    fn describe(&self) -> String {
        crate::diag::display_path(&self.path)
    }
}

/// Empties the lock file on release so stale holder info is never shown.
struct HeldLock {
    file: File,
}

#[async_trait]
impl Release for HeldLock {
    async fn release(self: Box<Self>) -> Result<(), StateError> {
        drop(self);
        Ok(())
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use proptest::strategy::Strategy as _;

    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn writes_atomically_with_backup() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path().join("s.json"));
        assert!(b.load().await.unwrap().is_none());
        let mut s = StateFile::new("x");
        b.write(&s).await.unwrap();
        s.serial = 7;
        b.write(&s).await.unwrap();
        assert_eq!(b.load().await.unwrap().unwrap().serial, 7);
        let backup = StateFile::from_json(&fs::read_to_string(b.backup_path()).unwrap(), "b").unwrap();
        assert_eq!(backup.serial, 0);
        let leftovers: Vec<_> =
            fs::read_dir(dir.path()).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
        assert_eq!(leftovers.len(), 2, "only the state and its backup remain: {leftovers:?}");
        for p in [b.path.clone(), b.backup_path()] {
            let mode = std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&p).unwrap().permissions());
            assert_eq!(mode & 0o777, 0o600, "{} is owner-only", p.display());
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_holder_that_has_not_written_its_details_yet_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path().join("s.json"));
        // Another process has just taken the lock and not yet written who it is.
        let mut held =
            OpenOptions::new().read(true).write(true).create(true).truncate(true).open(b.lock_path()).unwrap();
        held.try_lock().unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            let mut holder = LockInfo::current("destroy");
            holder.pid = 4242;
            held.write_all(serde_json::to_string(&holder).unwrap().as_bytes()).unwrap();
            held
        });
        let e = b.lock(LockInfo::current("plan")).await.err().expect("locked");
        let _held = writer.join().unwrap();
        match e {
            StateError::Locked(info) => assert_eq!((info.pid, info.operation.as_str()), (4242, "destroy")),
            other => panic!("expected Locked, got {other}"),
        }
    }

    /// Another process holds the lock and its file says `text`.
    fn held_with(b: &LocalBackend, text: &str) -> File {
        let mut held =
            OpenOptions::new().read(true).write(true).create(true).truncate(true).open(b.lock_path()).unwrap();
        held.try_lock().unwrap();
        held.write_all(text.as_bytes()).unwrap();
        held
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_lock_files_fields_are_shown_escaped_and_an_unreadable_one_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path().join("s.json"));
        let hostile = LockInfo {
            id: Some("x; rm -rf /".into()),
            who: "mallory\u{1b}]0;x\u{7}\u{202e}".into(),
            pid: u32::MAX,
            operation: "apply\n  hint: run rm -rf /".into(),
            since: "now".into(),
        };
        let held = held_with(&b, &serde_json::to_string(&hostile).unwrap());
        let e = b.lock(LockInfo::current("plan")).await.err().expect("locked");
        assert!(matches!(&e, StateError::Locked(info) if info.id.is_none()), "a file lock has no id to force-unlock");
        let e = e.to_string();
        assert!(!e.chars().any(|c| c.is_control() || c == '\u{202e}'), "{e:?}");
        assert!(e.contains("running `apply\\n  hint: run rm -rf /`") && e.contains("pid 4294967295"), "{e}");
        drop(held);
        // Extreme numbers are not a lock file: after a moment it is named, not trusted.
        let held = held_with(&b, r#"{"who":"x","pid":18446744073709551615,"operation":"apply","since":"now"}"#);
        let e = b.lock(LockInfo::current("plan")).await.err().expect("locked").to_string();
        assert!(e.contains("its lock file") && e.contains("s.json.lock does not say who"), "{e}");
        drop(held);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        /// Any bytes in a state file never panic `load`: a state comes back
        /// with its serial in range, or the error names the file.
        #[test]
        fn file_bytes_load_in_range_or_fail_naming_the_file(
            body in proptest::prop_oneof![
                proptest::collection::vec(proptest::num::u8::ANY, 0..200),
                proptest::sample::select(vec!["18446744073709551615", "-1", "1e308", "0.5", "9007199254740991"])
                    .prop_map(|n| format!(r#"{{"version":1,"serial":{n},"lineage":"l","stack":"s","resources":[]}}"#).into_bytes()),
            ]
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s.json");
            fs::write(&path, body).unwrap();
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            match rt.block_on(LocalBackend::new(path.clone()).load()) {
                Ok(state) => proptest::prop_assert!(state.is_some_and(|s| s.serial <= crate::state::MAX_SERIAL)),
                Err(e) => proptest::prop_assert!(e.to_string().contains(&crate::diag::display_path(&path)), "{e}"),
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// A held lock file with extreme numbers or hostile text never
        /// panics: it is shown escaped, or named as a file that does not say
        /// who holds it.
        #[test]
        fn lock_files_with_extreme_values_are_shown_escaped_or_named(
            pid in proptest::prop_oneof![
                proptest::prelude::any::<u64>().prop_map(|n| n.to_string()),
                proptest::prelude::any::<i64>().prop_map(|n| n.to_string()),
                proptest::sample::select(vec!["1e308", "-1", "0.5", "null", "4294967295"]).prop_map(str::to_owned),
            ],
            text in "\\PC{0,20}",
            garbage in proptest::prelude::any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let b = LocalBackend::new(dir.path().join("s.json"));
            let w = serde_json::json!(format!("{text}\u{1b}\n\u{202e}"));
            let body = if garbage {
                format!("\u{1b}[2J{text}")
            } else {
                format!(r#"{{"who":{w},"pid":{pid},"operation":{w},"since":{w}}}"#)
            };
            let held = held_with(&b, &body);
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
            let e = rt.block_on(b.lock(LockInfo::current("plan"))).err().expect("locked").to_string();
            drop(held);
            proptest::prop_assert!(!e.chars().any(|c| c.is_control() || c == '\u{202e}'), "{e:?}");
            let named = e.contains("s.json.lock does not say who");
            proptest::prop_assert!(named || (!garbage && e.contains(&format!("(pid {pid}, "))), "{e}");
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn unwritable_locations_are_found_before_any_write() {
        let dir = tempfile::tempdir().unwrap();
        // The state directory is a file: nothing can be created in it.
        fs::write(dir.path().join("file"), "x").unwrap();
        let b = LocalBackend::new(dir.path().join("file").join("s.json"));
        assert!(matches!(b.check_writable().await, Err(StateError::NotWritable { .. })));
        // The backup cannot be written (it is a directory).
        let b = LocalBackend::new(dir.path().join("s.json"));
        b.write(&StateFile::new("x")).await.unwrap();
        fs::create_dir(b.backup_path()).unwrap();
        let e = b.check_writable().await.unwrap_err();
        assert!(e.to_string().contains(".backup"), "{e}");
        fs::remove_dir(b.backup_path()).unwrap();
        b.check_writable().await.unwrap();
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
        assert!(names.iter().all(|n| !n.to_string_lossy().contains(".probe")), "{names:?}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_corrupt_state_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path().join("s.json"));
        fs::write(dir.path().join("s.json"), "{ not json").unwrap();
        let e = b.load().await.unwrap_err();
        assert!(matches!(e, StateError::Corrupt { .. }));
        assert!(e.to_string().contains("s.json"), "{e}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn second_lock_reports_the_holder_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path().join("s.json"));
        let guard = b.lock(LockInfo::current("apply")).await.unwrap();
        match b.lock(LockInfo::current("plan")).await {
            Err(StateError::Locked(info)) => {
                assert_eq!(info.operation, "apply");
                assert_eq!(info.pid, std::process::id());
            }
            other => panic!("expected Locked, got {:?}", other.map(|_| ())),
        }
        drop(guard);
        assert!(b.lock(LockInfo::current("plan")).await.is_ok());
    }
}
