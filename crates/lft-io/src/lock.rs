//! One writer per file: an exclusive advisory lock on `FILE.lock`, held for a whole run.
//!
//! An ensemble is replaced by renames (canonical rewrites), so the lock cannot live on the
//! file itself: a second process would lock the new inode while the first still writes the
//! old one. The lock file holds the process id of its owner, so that a refused writer can
//! say who holds it. It is removed when the lock is released.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "{path} is being written by another process{} (lock {lock}); wait for it to finish, or choose another path",
        holder.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Held {
        path: PathBuf,
        lock: PathBuf,
        holder: Option<u32>,
    },
    #[error("{lock}: cannot lock: {source}")]
    Io {
        lock: PathBuf,
        source: std::io::Error,
    },
}

/// An exclusive lock on a file path, released on drop.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    lock: PathBuf,
}

/// `FILE.lock` beside `FILE`.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

impl FileLock {
    /// Takes the lock of `path` (creating its directory if needed), or fails at once if
    /// another process holds it.
    pub fn acquire(path: &Path) -> Result<Self, LockError> {
        let lock = lock_path(path);
        let io = |source| LockError::Io {
            lock: lock.clone(),
            source,
        };
        if let Some(dir) = lock.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&lock)
                .map_err(io)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let mut text = String::new();
                    let _ = file.read_to_string(&mut text);
                    return Err(LockError::Held {
                        path: path.to_path_buf(),
                        lock,
                        holder: text.trim().parse().ok(),
                    });
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
            // The previous owner may have removed the file between our open and our lock:
            // then we hold a lock on a name nobody sees, and must start again.
            if !same_file(&file, &lock) {
                continue;
            }
            file.set_len(0).map_err(io)?;
            file.seek(SeekFrom::Start(0)).map_err(io)?;
            write!(file, "{}", std::process::id()).map_err(io)?;
            file.flush().map_err(io)?;
            return Ok(Self { file, lock });
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.lock
    }
}

#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> bool {
    path.exists()
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Remove the name while still holding the lock, so nobody locks a stale file.
        let _ = std::fs::remove_file(&self.lock);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_with_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/ens.h5");
        let first = FileLock::acquire(&path).unwrap();
        let e = FileLock::acquire(&path).unwrap_err();
        match &e {
            LockError::Held { holder, .. } => assert_eq!(*holder, Some(std::process::id())),
            other => panic!("{other}"),
        }
        assert!(
            e.to_string()
                .contains("ens.h5 is being written by another process")
        );
        drop(first);
        assert!(!lock_path(&path).exists());
        let again = FileLock::acquire(&path).unwrap();
        drop(again);
    }
}
