//! Local state files: `state/<stack>.json`, `<file>.backup`, `<file>.lock`.
//!
//! Writes go to a temp file in the same directory, are fsynced, then renamed
//! over the state file (atomic on POSIX), and the directory is fsynced. The
//! previous version is kept as `.backup`.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::{LockGuard, LockInfo, StateBackend, StateError, StateFile};

pub struct LocalBackend {
    path: PathBuf,
}

impl LocalBackend {
    pub fn new(path: PathBuf) -> Self {
        LocalBackend { path }
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(suffix);
        self.path.with_file_name(name)
    }

    pub fn backup_path(&self) -> PathBuf {
        self.sibling(".backup")
    }

    pub fn lock_path(&self) -> PathBuf {
        self.sibling(".lock")
    }

    fn io(&self, path: &Path, source: std::io::Error) -> StateError {
        StateError::Io { path: path.display().to_string(), source }
    }

    fn write_sync(&self, state: &StateFile) -> Result<(), StateError> {
        let text = state.to_json()?;
        let dir = self.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| self.io(dir, e))?;
        if self.path.exists() {
            fs::copy(&self.path, self.backup_path()).map_err(|e| self.io(&self.backup_path(), e))?;
        }
        let tmp = self.sibling(&format!(".tmp.{}", std::process::id()));
        let mut f = File::create(&tmp).map_err(|e| self.io(&tmp, e))?;
        f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).map_err(|e| self.io(&tmp, e))?;
        fs::rename(&tmp, &self.path).map_err(|e| self.io(&self.path, e))?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| self.io(dir, e))?;
        Ok(())
    }
}

#[async_trait]
impl StateBackend for LocalBackend {
    async fn load(&self) -> Result<Option<StateFile>, StateError> {
        match fs::read_to_string(&self.path) {
            Ok(text) => StateFile::from_json(&text).map(Some),
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
        let path = self.lock_path();
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| self.io(dir, e))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| self.io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {
                let text = serde_json::to_string(&info).unwrap_or_default();
                file.set_len(0)
                    .and_then(|()| file.seek(SeekFrom::Start(0)))
                    .and_then(|_| file.write_all(text.as_bytes()))
                    .and_then(|()| file.sync_all())
                    .map_err(|e| self.io(&path, e))?;
                Ok(LockGuard::new(HeldLock { file }))
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder = serde_json::from_str(&text).unwrap_or(LockInfo {
                    who: "another pgstack process".into(),
                    pid: 0,
                    operation: "unknown".into(),
                    since: "unknown".into(),
                });
                Err(StateError::Locked(holder))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(self.io(&path, e)),
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

impl Drop for HeldLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
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
        let backup = StateFile::from_json(&fs::read_to_string(b.backup_path()).unwrap()).unwrap();
        assert_eq!(backup.serial, 0);
        let leftovers: Vec<_> =
            fs::read_dir(dir.path()).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
        assert_eq!(leftovers.len(), 2, "only the state and its backup remain: {leftovers:?}");
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
