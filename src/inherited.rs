//! What the supervisor inherits from whoever started it, normalised before
//! any work begins: signal dispositions (an ignored SIGCHLD makes the
//! kernel reap children itself, so their exit status is lost and `waitpid`
//! fails; an ignored stop signal, as under `nohup`, is left ignored), the
//! open-file limit (a low soft limit when the hard one allows
//! far more), and closed standard descriptors (a pipe opened onto
//! descriptor 1 would receive the summary).

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{SigHandler, Signal, signal};

/// Descriptors the supervisor keeps besides its workers' (stdio, the
/// signalfd, the events file, the journal and its lock, a `/proc` read), with
/// room for one worker being started (a spawn briefly holds four pipes).
const BASE_DESCRIPTORS: u64 = 32;

/// Descriptors one worker holds in the supervisor: its two pipes' ends, and
/// for a remote worker its stderr. A worker thread's pipes have both ends
/// in the supervisor's process, so it holds all four.
pub const LOCAL_WORKER_DESCRIPTORS: u64 = 2;
pub const REMOTE_WORKER_DESCRIPTORS: u64 = 3;
pub const THREAD_WORKER_DESCRIPTORS: u64 = 4;

/// Resets SIGCHLD to its default action, so exited workers stay zombies
/// until the supervisor reaps them and reads how they ended.
pub fn reset_signals() -> Result<(), String> {
    // SAFETY: installing SIG_DFL runs no handler code.
    unsafe { signal(Signal::SIGCHLD, SigHandler::SigDfl) }
        .map(drop)
        .map_err(|e| format!("cannot reset SIGCHLD: {e}"))
}

/// Whether `sig` was left ignored by whoever started the supervisor:
/// `nohup` ignores SIGHUP, and a shell without job control ignores SIGINT
/// in the jobs it starts with `&`. Such a signal is left ignored, as Unix
/// programs do (a blocked signal would still be queued to the signalfd,
/// ignored or not, so the caller leaves it out of the mask).
pub fn is_ignored(sig: Signal) -> bool {
    let mut old = std::mem::MaybeUninit::<libc::sigaction>::uninit();
    // SAFETY: with a null new action, sigaction only writes the current one
    // into `old`, a buffer of the right type; it changes nothing.
    let read = unsafe { libc::sigaction(sig as libc::c_int, std::ptr::null(), old.as_mut_ptr()) };
    // SAFETY: sigaction filled `old` when it returned 0.
    read == 0 && unsafe { old.assume_init() }.sa_sigaction == libc::SIG_IGN
}

/// Makes sure descriptors 0, 1 and 2 are open (on /dev/null if they were
/// closed), so no pipe or file the run opens lands on them.
pub fn fill_standard_descriptors() {
    for fd in 0..3 {
        // SAFETY: F_GETFD only asks whether the descriptor is open.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            // SAFETY: open returns the lowest free descriptor, which is `fd`
            // itself since every lower one is open; it is kept open for the
            // life of the process on purpose.
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        }
    }
}

/// Raises the soft open-file limit to the hard one, and checks that the
/// workers' descriptors fit under it: `local_workers` holding `per_local`
/// each ([`LOCAL_WORKER_DESCRIPTORS`] for processes,
/// [`THREAD_WORKER_DESCRIPTORS`] for threads) and `remote_workers`. `Err`
/// names the limit and the largest `--procs` that fits.
pub fn fit_descriptors(
    local_workers: u64,
    per_local: u64,
    remote_workers: u64,
) -> Result<(), String> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)
        .map_err(|e| format!("cannot read RLIMIT_NOFILE: {e}"))?;
    let limit = if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        hard
    } else {
        soft
    };
    let needed = BASE_DESCRIPTORS
        .saturating_add(local_workers.saturating_mul(per_local))
        .saturating_add(remote_workers.saturating_mul(REMOTE_WORKER_DESCRIPTORS));
    if needed <= limit {
        return Ok(());
    }
    let per_worker = if remote_workers > 0 {
        REMOTE_WORKER_DESCRIPTORS.max(per_local)
    } else {
        per_local
    };
    let fits = limit.saturating_sub(BASE_DESCRIPTORS) / per_worker;
    Err(format!(
        "{} workers need about {needed} open files, but the limit (RLIMIT_NOFILE, \
         hard {hard}) allows {limit}: use --procs {fits} or fewer, or raise the limit \
         (ulimit -n)",
        local_workers + remote_workers
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_many_workers_are_refused_with_the_largest_that_fits() {
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert!(fit_descriptors(1, LOCAL_WORKER_DESCRIPTORS, 0).is_ok());
        // The soft limit was raised to the hard one.
        assert_eq!(
            getrlimit(Resource::RLIMIT_NOFILE).unwrap().0,
            hard.max(soft)
        );
        let limit = hard.max(soft);
        for per_worker in [LOCAL_WORKER_DESCRIPTORS, THREAD_WORKER_DESCRIPTORS] {
            let too_many = limit / per_worker + 1;
            let err = fit_descriptors(too_many, per_worker, 0).unwrap_err();
            let fits = (limit - BASE_DESCRIPTORS) / per_worker;
            assert!(err.contains(&format!("--procs {fits} or fewer")), "{err}");
        }
    }
}
