//! `Lock`: mutual exclusion between processes (and between threads), by
//! `flock(2)` on an unlinked temporary file. It owns that file and the
//! per-acquire open file descriptions that make flock mean what a lock should.
//!
//! flock locks belong to an *open file description*, and fork shares
//! descriptions between parent and child: locking the descriptor that was
//! inherited would let parent and child hold "the" lock at once. So every
//! acquire opens the file anew, through `/proc/self/fd/N` (which works though
//! the file has no name), and locks that fresh description; the guard closes
//! it. A holder that dies has its descriptions closed by the kernel, which
//! releases the lock.

use nix::errno::Errno;
use std::fmt;
use std::fs::{File, Permissions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::{Duration, Instant};

/// A lock shared by forking: create it, then [`Process::fork`] children
/// that use it (a child of `fork_piped` closes its descriptor and cannot).
/// Not reentrant, like Python's `multiprocessing.Lock`: a second `acquire`
/// in the same process waits for the first guard to drop.
///
/// [`Process::fork`]: crate::mp::Process::fork
///
/// ```standalone_crate
/// use supervisor::mp::{Lock, Process};
///
/// let lock = Lock::new().unwrap();
/// let guard = lock.acquire();
/// // The child shares the parent's descriptors, yet does not share its lock.
/// let mut child = Process::fork(|| lock.try_acquire().is_none() as i32).unwrap();
/// assert_eq!(child.join().unwrap(), 1);
/// drop(guard); // released
/// let mut child = Process::fork(|| lock.try_acquire().is_some() as i32).unwrap();
/// assert_eq!(child.join().unwrap(), 1);
/// ```
pub struct Lock {
    /// The description made at creation; never locked, only re-opened.
    file: File,
    /// The file's identity, to check a re-opened descriptor against.
    dev: u64,
    ino: u64,
}

/// Holds a [`Lock`] until dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard {
    file: File,
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("fd", &self.file.as_raw_fd())
            .field("ino", &self.ino)
            .finish()
    }
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("fd", &self.file.as_raw_fd())
            .finish()
    }
}

impl Lock {
    /// A new, unlocked lock: a mode 0600 temporary file, unlinked at once so
    /// nothing is left behind however its users end.
    pub fn new() -> std::io::Result<Lock> {
        let file = tempfile::Builder::new()
            .prefix(".supervisor-lock-")
            .permissions(Permissions::from_mode(0o600))
            .tempfile()?
            .into_file();
        let meta = file.metadata()?;
        Ok(Lock {
            dev: meta.dev(),
            ino: meta.ino(),
            file,
        })
    }

    /// Waits until the lock is free and takes it.
    ///
    /// # Panics
    ///
    /// If the lock's file cannot be re-opened in this process: its
    /// descriptor was closed (as in a child of `fork_piped`), or the process
    /// is out of descriptors. Likewise `try_acquire` and `acquire_timeout`.
    pub fn acquire(&self) -> LockGuard {
        let file = self.open();
        loop {
            match flock(&file, libc::LOCK_EX) {
                Ok(()) => return LockGuard { file },
                Err(Errno::EINTR) => continue,
                Err(e) => panic!("flock(LOCK_EX) failed: {e}"),
            }
        }
    }

    /// Takes the lock if it is free now.
    pub fn try_acquire(&self) -> Option<LockGuard> {
        let file = self.open();
        self.try_lock(&file).then_some(LockGuard { file })
    }

    /// Waits at most `timeout` for the lock; `None` if it stayed taken.
    /// Tries at least once, so a zero timeout is `try_acquire`.
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<LockGuard> {
        let deadline = Instant::now().checked_add(timeout);
        let file = self.open();
        let mut nap = Duration::from_micros(50);
        loop {
            if self.try_lock(&file) {
                return Some(LockGuard { file });
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => nap,
            };
            if left.is_zero() {
                return None;
            }
            std::thread::sleep(nap.min(left));
            nap = (nap * 2).min(Duration::from_millis(5));
        }
    }

    fn try_lock(&self, file: &File) -> bool {
        loop {
            match flock(file, libc::LOCK_EX | libc::LOCK_NB) {
                Ok(()) => return true,
                Err(Errno::EWOULDBLOCK) => return false,
                Err(Errno::EINTR) => continue,
                Err(e) => panic!("flock(LOCK_EX | LOCK_NB) failed: {e}"),
            }
        }
    }

    /// A new open file description of the lock's file, this acquirer's own.
    fn open(&self) -> File {
        let path = format!("/proc/self/fd/{}", self.file.as_raw_fd());
        let file = File::open(&path)
            .unwrap_or_else(|e| panic!("cannot re-open the lock file {path}: {e}"));
        let meta = file
            .metadata()
            .unwrap_or_else(|e| panic!("cannot stat the lock file {path}: {e}"));
        assert!(
            meta.dev() == self.dev && meta.ino() == self.ino,
            "the lock's descriptor {} was closed in this process and reused",
            self.file.as_raw_fd()
        );
        file
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Unlock explicitly: a child forked while the guard was held shares
        // this description, and closing our copy alone would not release it.
        let _ = flock(&self.file, libc::LOCK_UN);
    }
}

fn flock(file: &File, op: libc::c_int) -> Result<(), Errno> {
    // SAFETY: flock takes a descriptor, valid while `file` lives, and flags.
    Errno::result(unsafe { libc::flock(file.as_raw_fd(), op) }).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_reentrant_and_released_on_drop() {
        let lock = Lock::new().unwrap();
        let guard = lock.acquire();
        assert!(lock.try_acquire().is_none());
        assert!(lock.acquire_timeout(Duration::from_millis(20)).is_none());
        drop(guard);
        let again = lock.acquire_timeout(Duration::ZERO);
        assert!(again.is_some());
    }

    #[test]
    fn the_file_is_private() {
        let lock = Lock::new().unwrap();
        let meta = lock.file.metadata().unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        assert_eq!(meta.nlink(), 0, "unlinked");
    }

    #[test]
    fn threads_exclude_each_other() {
        let lock = Lock::new().unwrap();
        let inside = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..200 {
                        let _g = lock.acquire();
                        let before = inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        assert_eq!(before, 0, "two holders at once");
                        std::thread::yield_now();
                        inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        });
    }
}
