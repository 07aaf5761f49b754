//! Writing files safely: where a path really leads, and atomic replacement.
//!
//! Invariants: a file is only ever replaced whole (written to a temporary
//! file in the same directory, fsynced, renamed over it, the directory
//! fsynced), so a failed or interrupted write leaves the old content; a
//! path that is a symbolic link is written through to the file it names, in
//! that file's directory, and the link stays a link.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// How many symbolic links are followed before giving up (as the kernel does).
const MAX_LINKS: usize = 40;

/// Why a path cannot be resolved to a file to write.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(
        "{path} is a symbolic link that leads nowhere (to {target}, which does not exist in a directory that does)"
    )]
    Dangling { path: String, target: String },
    #[error("{path}: too many levels of symbolic links")]
    Loop { path: String },
    #[error("{path} is a directory, not a file")]
    Directory { path: String },
    #[error("{path} is not a regular file (a device, socket or pipe)")]
    NotRegular { path: String },
}

/// The file writing `path` would really change: an absolute path with every
/// symbolic link and `..` resolved, for a file that exists or not (its
/// directory must exist). A link to a missing file resolves to that file,
/// when its directory exists.
pub fn real_path(path: &Path) -> Result<PathBuf, ResolveError> {
    let shown = crate::diag::display_path(path);
    let io = |source| ResolveError::Io { path: shown.clone(), source };
    let mut current = std::path::absolute(path).map_err(io)?;
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = fs::read_link(&current).map_err(io)?;
                let base = current.parent().map(Path::to_owned).unwrap_or_default();
                current = base.join(target);
            }
            Ok(meta) => {
                let real = fs::canonicalize(&current).map_err(io)?;
                if meta.is_dir() {
                    return Err(ResolveError::Directory { path: shown });
                }
                if !meta.is_file() {
                    return Err(ResolveError::NotRegular { path: shown });
                }
                return Ok(real);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (Some(dir), Some(name)) = (current.parent(), current.file_name()) else {
                    return Err(io(e));
                };
                return match fs::canonicalize(dir) {
                    Ok(dir) => Ok(dir.join(name)),
                    Err(_) if current != std::path::absolute(path).unwrap_or_default() => {
                        Err(ResolveError::Dangling { path: shown, target: current.display().to_string() })
                    }
                    Err(e) => Err(io(e)),
                };
            }
            Err(e) => return Err(io(e)),
        }
    }
    Err(ResolveError::Loop { path: shown })
}

/// Replaces the file at `real` (a path from [`real_path`]) with `bytes`,
/// owner-only (0600): temporary file beside it, fsync, rename, directory
/// fsync. On any failure the old file is untouched and the temporary file
/// removed.
pub fn write_atomic(real: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = real.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut name = real.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp.{}", std::process::id()));
    let tmp = real.with_file_name(name);
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, real)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn dot_dot_and_links_resolve_to_the_file_they_reach() {
        let dir = tempfile::tempdir().unwrap();
        let real_dir = fs::canonicalize(dir.path()).unwrap();
        fs::create_dir(real_dir.join("state")).unwrap();
        fs::write(real_dir.join("state/prod.json"), "{}").unwrap();
        let via_dots = real_dir.join("state/../state/prod.json");
        assert_eq!(real_path(&via_dots).unwrap(), real_dir.join("state/prod.json"));
        symlink(real_dir.join("state/prod.json"), real_dir.join("link")).unwrap();
        assert_eq!(real_path(&real_dir.join("link")).unwrap(), real_dir.join("state/prod.json"));
        // A chain of relative links, one to a file not there yet.
        symlink("state/new.json", real_dir.join("to-new")).unwrap();
        symlink("to-new", real_dir.join("to-to-new")).unwrap();
        assert_eq!(real_path(&real_dir.join("to-to-new")).unwrap(), real_dir.join("state/new.json"));
    }

    #[test]
    fn loops_dangling_links_directories_and_devices_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        symlink("b", d.join("a")).unwrap();
        symlink("a", d.join("b")).unwrap();
        assert!(matches!(real_path(&d.join("a")), Err(ResolveError::Loop { .. })));
        symlink("missing-dir/x", d.join("dangling")).unwrap();
        assert!(matches!(real_path(&d.join("dangling")), Err(ResolveError::Dangling { .. })));
        assert!(matches!(real_path(d), Err(ResolveError::Directory { .. })));
        assert!(matches!(real_path(Path::new("/dev/null")), Err(ResolveError::NotRegular { .. })));
        assert!(matches!(real_path(&d.join("no-dir/x")), Err(ResolveError::Io { .. })));
    }

    #[test]
    fn atomic_writes_replace_through_links_and_leave_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = fs::canonicalize(dir.path()).unwrap();
        fs::create_dir(d.join("shared")).unwrap();
        fs::write(d.join("shared/s.json"), "old").unwrap();
        symlink(d.join("shared/s.json"), d.join("link.json")).unwrap();
        let real = real_path(&d.join("link.json")).unwrap();
        write_atomic(&real, b"new").unwrap();
        assert!(fs::symlink_metadata(d.join("link.json")).unwrap().file_type().is_symlink(), "still a link");
        assert_eq!(fs::read_to_string(d.join("shared/s.json")).unwrap(), "new");
        let names: Vec<_> = fs::read_dir(d.join("shared")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["s.json"]);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&real).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_failed_write_leaves_the_old_content() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x");
        fs::write(&target, "old").unwrap();
        // The temporary file's name is taken by a directory: the write fails.
        fs::create_dir(dir.path().join(format!("x.tmp.{}", std::process::id()))).unwrap();
        assert!(write_atomic(&target, b"new").is_err());
        assert_eq!(fs::read_to_string(&target).unwrap(), "old");
    }
}
