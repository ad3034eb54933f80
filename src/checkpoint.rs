//! The checkpoint journal: which numbers a run has finished and what they
//! added up to, with the run's parameters, so a stopped run can be resumed
//! without losing or double-counting anything.
//!
//! The file is three lines: a header naming the format and its version, the
//! journal as one JSON line, and an FNV-1a 64 checksum of that line. It is
//! always replaced atomically: written to a temporary file in the same
//! folder, fsynced, renamed over the old one, and the folder fsynced. A
//! SIGKILL at any moment leaves the old journal or the new one, never a torn
//! one; a journal that is torn anyway (copied half, edited by hand) fails its
//! checksum and is refused.
//!
//! A checksum is no authentication (anyone can recompute it), so decoding
//! also checks that the content is possible ([`validate`]): ranges, counts,
//! each perfect number and Σσ against the identity. While a run uses a
//! journal it holds a [`JournalLock`] on it, so two runs never share one.

use crate::protocol::PROGRAM_VERSION;
use crate::sanitize;
use crate::sigma::{ChunkResult, MAX_SUPPORTED, sigma_sum_upto};
use crate::verify;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The first line of every journal; the number is the format version.
const HEADER: &str = "supervisor-journal 1";

/// A run's progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// The program that wrote it.
    pub program: String,
    pub min: u64,
    pub max: u64,
    pub chunk: u64,
    /// The numbers finished, as disjoint ranges.
    pub done: Vec<(u64, u64)>,
    /// What the finished numbers added up to.
    pub result: ChunkResult,
}

impl Journal {
    /// A journal of this program for the run `[min, max]` in chunks of `chunk`.
    pub fn new(min: u64, max: u64, chunk: u64, done: Vec<(u64, u64)>, result: ChunkResult) -> Self {
        Journal {
            program: PROGRAM_VERSION.to_string(),
            min,
            max,
            chunk,
            done,
            result,
        }
    }

    /// Whether this journal belongs to the run `[min, max]` in chunks of
    /// `chunk`; the error says what differs.
    pub fn check_matches(&self, min: u64, max: u64, chunk: u64) -> Result<(), String> {
        if self.program != PROGRAM_VERSION {
            return Err(format!(
                "it was written by supervisor {}, this is {PROGRAM_VERSION}",
                sanitize::text(&self.program)
            ));
        }
        let mut differs = Vec::new();
        if (self.min, self.max) != (min, max) {
            differs.push(format!(
                "it is for [{}, {}], this run is [{min}, {max}]",
                self.min, self.max
            ));
        }
        if self.chunk != chunk {
            differs.push(format!(
                "its chunk size is {}, this run's is {chunk} (pass --chunk {})",
                self.chunk, self.chunk
            ));
        }
        if differs.is_empty() {
            Ok(())
        } else {
            Err(differs.join("; "))
        }
    }

    /// How many numbers it holds as finished (for a journal that passed
    /// [`validate`]; saturates rather than wraps for one that did not).
    pub fn finished(&self) -> u64 {
        u64::try_from(finished_exactly(&self.done)).unwrap_or(u64::MAX)
    }
}

/// How many numbers the ranges hold, each range counted as if valid.
fn finished_exactly(done: &[(u64, u64)]) -> u128 {
    done.iter()
        .map(|&(lo, hi)| (hi as u128 + 1).saturating_sub(lo as u128))
        .sum()
}

/// The most finished ranges a journal may hold. An honest journal holds
/// about one per worker slot in flight when the run stopped plus one per
/// quarantined range (a resumed run fills the holes first); checking one
/// costs two evaluations of the Σσ identity (0.7 ms at 10^10, 20 to 50 ms at
/// 10^13), which [`MAX_IDENTITY_STEPS`] bounds further.
pub const MAX_RANGES: usize = 1 << 14;

/// The most work checking a journal's Σσ may take, in steps of the
/// identity's loop: S(x) takes ⌊√x⌋ of them, 3.5 to 8 ns each (11 to 25 ms
/// at 10^13). 6.5·10^9 steps is 23 to 52 s: about 1024 ranges up to 10^13
/// (a run stopped with a thousand slots in flight, which must still
/// resume), 3250 up to 10^12, and all [`MAX_RANGES`] below 3.9·10^10.
/// Without it a forged journal of [`MAX_RANGES`] ranges near 10^13 took
/// minutes to refuse.
pub const MAX_IDENTITY_STEPS: u64 = 6_500_000_000;

/// The steps of the identity's loop checking the Σσ of `done` takes: S is
/// evaluated at each range's end and before its start.
fn identity_steps(done: &[(u64, u64)]) -> u64 {
    done.iter()
        .map(|&(lo, hi)| hi.isqrt() + (lo - 1).isqrt())
        .sum()
}

/// Checks that a journal's content is possible, whatever its checksum:
/// its range within what the program supports and a positive chunk size;
/// its finished ranges non-empty, ascending, disjoint and inside
/// `[min, max]`; its counts adding up to the numbers finished; its perfect
/// numbers ascending, inside the finished ranges, each confirmed
/// ([`verify::is_perfect`]) and none of [`verify::PERFECT`] inside them left
/// out; its Σσ equal to the identity over the finished ranges, if that
/// takes at most [`MAX_IDENTITY_STEPS`] (the only check that is not cheap,
/// so the last). The error says the first thing wrong, in one line.
pub fn validate(j: &Journal) -> Result<(), String> {
    let (min, max) = (j.min, j.max);
    if !(1 <= min && min <= max && max <= MAX_SUPPORTED) {
        return Err(format!(
            "its range [{min}, {max}] is not within [1, {MAX_SUPPORTED}]"
        ));
    }
    if j.chunk == 0 {
        return Err("its chunk size is 0".into());
    }
    if j.done.len() > MAX_RANGES {
        return Err(format!(
            "it holds {} finished ranges, more than the {MAX_RANGES} a run leaves",
            j.done.len()
        ));
    }
    for (i, &(lo, hi)) in j.done.iter().enumerate() {
        if lo > hi {
            return Err(format!("its finished range [{lo}, {hi}] is empty"));
        }
        if lo < min || hi > max {
            return Err(format!(
                "its finished range [{lo}, {hi}] is outside the run's [{min}, {max}]"
            ));
        }
        if i > 0 && j.done[i - 1].1 >= lo {
            let (plo, phi) = j.done[i - 1];
            return Err(format!(
                "its finished ranges [{plo}, {phi}] and [{lo}, {hi}] overlap or are out of order"
            ));
        }
    }
    let r = &j.result;
    let finished = finished_exactly(&j.done);
    if r.count() != finished {
        return Err(format!(
            "its counts add up to {} ({} abundant, {} deficient, {} perfect), \
             its finished ranges hold {finished} numbers",
            r.count(),
            r.abundant,
            r.deficient,
            r.perfect.len()
        ));
    }
    if r.perfect.len() > verify::MAX_PERFECT {
        return Err(format!(
            "it claims {} perfect numbers; at most {} exist up to {MAX_SUPPORTED}",
            r.perfect.len(),
            verify::MAX_PERFECT
        ));
    }
    if let Some(w) = r.perfect.windows(2).find(|w| w[0] >= w[1]) {
        return Err(format!(
            "its perfect numbers are not strictly ascending ({} then {})",
            w[0], w[1]
        ));
    }
    let inside = |n: u64| j.done.iter().any(|&(lo, hi)| lo <= n && n <= hi);
    if let Some(n) = r.perfect.iter().find(|&&n| !inside(n)) {
        return Err(format!(
            "it claims {n} perfect, outside its finished ranges"
        ));
    }
    if let Some(n) = r.perfect.iter().find(|&&n| !verify::is_perfect(n)) {
        return Err(format!("it claims {n} perfect, which it is not"));
    }
    // A perfect number left out (counted deficient instead) changes neither
    // the count nor Σσ: the list must hold every one inside the ranges.
    if let Some(n) = verify::PERFECT
        .iter()
        .find(|&&n| inside(n) && !r.perfect.contains(&n))
    {
        return Err(format!(
            "it leaves out {n}, a perfect number inside its finished ranges"
        ));
    }
    // Refused before any evaluation. An honest journal has about one range
    // per worker in flight when its run stopped: 1024 of them fit at 10^13.
    if identity_steps(&j.done) > MAX_IDENTITY_STEPS {
        let top = j.done.last().expect("steps, so ranges").1;
        let fit = (MAX_IDENTITY_STEPS / (2 * top.isqrt())).min(MAX_RANGES as u64);
        return Err(format!(
            "its {} finished ranges up to {top} are too many to check against the \
             Σσ identity (about {fit} can be, at that size)",
            j.done.len()
        ));
    }
    // Σσ over the ranges: contiguous ones telescope, so S is evaluated at
    // each range's end and before each range's start.
    let expected: u128 = j
        .done
        .iter()
        .map(|&(lo, hi)| sigma_sum_upto(hi) - sigma_sum_upto(lo - 1))
        .sum();
    if r.sigma_sum != expected {
        return Err(format!(
            "its Σσ {} is not the identity's {expected} over its finished ranges",
            r.sigma_sum
        ));
    }
    Ok(())
}

/// FNV-1a, 64 bits: enough to catch a torn or edited journal.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The journal's bytes.
fn encode(journal: &Journal) -> Vec<u8> {
    let body = serde_json::to_string(journal).expect("a journal always serializes");
    format!(
        "{HEADER}\n{body}\nfnv1a64 {:016x}\n",
        checksum(body.as_bytes())
    )
    .into_bytes()
}

/// Reads a journal back; the error is one line for the user.
pub fn decode(bytes: &[u8]) -> Result<Journal, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "it is not a journal (not text)")?;
    let mut lines = text.split('\n');
    match lines.next() {
        Some(HEADER) => {}
        Some(h) if h.starts_with("supervisor-journal ") => {
            return Err(format!(
                "it is in format '{h}', this program reads '{HEADER}'"
            ));
        }
        _ => return Err("it is not a supervisor journal".into()),
    }
    let body = lines.next().ok_or("it is truncated")?;
    let sum = lines.next().ok_or("it is truncated (no checksum)")?;
    if lines.next() != Some("") || lines.next().is_some() {
        return Err("it has unexpected content after the checksum".into());
    }
    if !sum.starts_with("fnv1a64 ") {
        return Err("its checksum line is damaged".into());
    }
    if sum != format!("fnv1a64 {:016x}", checksum(body.as_bytes())) {
        return Err("its checksum does not match: it is corrupted or truncated".into());
    }
    let journal: Journal = serde_json::from_str(body).map_err(|e| {
        format!(
            "its content is damaged ({})",
            sanitize::text(&e.to_string())
        )
    })?;
    validate(&journal).map_err(|why| format!("it is not a possible journal: {why}"))?;
    Ok(journal)
}

/// Loads the journal at `path`.
pub fn load(path: &Path) -> Result<Journal, String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    decode(&bytes)
}

/// Atomically replaces the journal at `path`.
pub fn save(path: &Path, journal: &Journal) -> io::Result<()> {
    let dir = folder_of(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(&temp_prefix(path))
        .tempfile_in(&dir)?;
    tmp.write_all(&encode(journal))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    File::open(&dir)?.sync_all()
}

/// Checks, before any work, that a journal can be written at `path`: not a
/// folder, and its folder writable. Removes the temporary files a killed run
/// may have left behind for this journal.
pub fn check_writable(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err("it is a folder, not a file".into());
    }
    let dir = folder_of(path);
    let prefix = temp_prefix(path);
    tempfile::Builder::new()
        .prefix(&prefix)
        .tempfile_in(&dir)
        .map(drop)
        .map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
    if let Ok(entries) = fs::read_dir(&dir) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    Ok(())
}

/// Journal writes failed since the last one that worked: a failing disk
/// is reported once, then counted, not once per attempt.
#[derive(Debug, Default)]
pub struct SaveFailures {
    count: u64,
}

impl SaveFailures {
    /// Counts a failed write; returns the count (1: the first, to report).
    pub fn failed(&mut self) -> u64 {
        self.count += 1;
        self.count
    }

    /// A write worked: the count starts over.
    pub fn succeeded(&mut self) {
        self.count = 0;
    }
}

/// An exclusive `flock` on a journal, held while a run uses it, so a second
/// run on the same journal is refused instead of both writing it.
///
/// The lock is on a file beside the journal, `JOURNAL.lock`, not on the
/// journal itself: the journal is replaced by renames, and a lock on it
/// would stay with the old file. The lock file holds the pid of the run
/// that holds it, for the refusal to name; it is removed when the lock is
/// dropped (a run that is killed leaves it behind, unlocked, and the next
/// run takes it over). A description opened before the file was removed
/// can still be locked: after locking, the file is checked to be the one at
/// the path still, and opened again if not.
#[derive(Debug)]
pub struct JournalLock {
    path: PathBuf,
    /// Held open: closing it releases the lock.
    _file: File,
}

impl JournalLock {
    /// Locks the journal at `journal`, or says which run holds it.
    pub fn acquire(journal: &Path) -> Result<JournalLock, String> {
        let path = lock_path(journal);
        let shown = path.display();
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| format!("cannot write its lock file {shown}: {e}"))?;
            // SAFETY: flock on a descriptor this function owns.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::WouldBlock {
                    return Err(format!("cannot lock {shown}: {e}"));
                }
                let mut text = String::new();
                let _ = file.take(32).read_to_string(&mut text);
                let holder = match text.trim().parse::<u32>() {
                    Ok(pid) => format!("another run (pid {pid})"),
                    Err(_) => "another run".to_string(),
                };
                return Err(format!(
                    "it is in use by {holder}; wait for that run to end, or stop it"
                ));
            }
            let held = file.metadata().map_err(|e| e.to_string())?;
            match fs::metadata(&path) {
                Ok(now) if (now.dev(), now.ino()) == (held.dev(), held.ino()) => {}
                _ => continue, // removed by the run that held it: again
            }
            file.set_len(0)
                .and_then(|()| writeln!(file, "{}", std::process::id()))
                .map_err(|e| format!("cannot write its lock file {shown}: {e}"))?;
            return Ok(JournalLock { path, _file: file });
        }
    }
}

impl Drop for JournalLock {
    /// Removes the lock file while still holding the lock, then releases it.
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
        // `file` is closed next, which releases the lock.
    }
}

/// The lock file of the journal at `journal`.
pub fn lock_path(journal: &Path) -> PathBuf {
    let mut name = journal.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// The journal's own path, for `path` as the user wrote it: a symlink is
/// followed to its file (which is locked, written and replaced there, and
/// the link left alone), even to a file not written yet, and that file is
/// named by its canonical folder. So two spellings of one journal, or two
/// links to it, are one journal with one lock. `path` itself where it does
/// not resolve.
pub fn resolve(path: &Path) -> PathBuf {
    let mut path = path.to_path_buf();
    // As many links as the kernel follows before ELOOP.
    for _ in 0..40 {
        if let Ok(file) = fs::canonicalize(&path) {
            return file;
        }
        match fs::read_link(&path) {
            // A link to a journal not written yet: follow it by hand.
            Ok(to) => path = folder_of(&path).join(to),
            Err(_) => break,
        }
    }
    match (fs::canonicalize(folder_of(&path)), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path,
    }
}

/// Whether two paths name the same file: the same device and inode when
/// both exist, else the same [`resolve`]d path.
pub fn same_file(a: &Path, b: &Path) -> bool {
    if let (Ok(x), Ok(y)) = (fs::metadata(a), fs::metadata(b)) {
        return (x.dev(), x.ino()) == (y.dev(), y.ino());
    }
    resolve(a) == resolve(b)
}

/// The name temporary files of the journal at `path` start with.
fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map_or("journal".into(), |n| n.to_string_lossy());
    format!(".{name}.tmp-")
}

/// The folder a path's file lives in.
fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sigma::Kernel;

    /// The honest result over `done`, from the sieve.
    fn result_over(max: u64, done: &[(u64, u64)]) -> ChunkResult {
        let mut kernel = Kernel::new(max);
        let mut r = ChunkResult::default();
        for &(lo, hi) in done {
            r.merge(&kernel.run(lo, hi, |_| {})).unwrap();
        }
        r
    }

    fn sample() -> Journal {
        let done = vec![(1, 300), (501, 600)];
        let result = result_over(1000, &done);
        assert_eq!(result.perfect, vec![6, 28]);
        Journal::new(1, 1000, 100, done, result)
    }

    /// A journal's bytes with a valid checksum, as anyone can make them.
    fn forged(edit: impl FnOnce(&mut Journal)) -> Result<Journal, String> {
        let mut j = sample();
        edit(&mut j);
        decode(&encode(&j))
    }

    #[test]
    fn forged_journals_with_valid_checksums_are_refused() {
        assert_eq!(forged(|_| {}), Ok(sample()));
        let refused = |edit: &dyn Fn(&mut Journal), want: &str| {
            let e = forged(edit).unwrap_err();
            assert!(e.starts_with("it is not a possible journal: "), "{e}");
            assert!(e.contains(want), "{e:?} should say {want:?}");
        };
        // The forgeries: an empty range and chunk 0 (which
        // panicked), a range outside [min, max] (resumed: 1000001), a
        // perfect list of 1..199999, Σσ of 2^128 − 1.
        refused(&|j| j.done = vec![(5, 4)], "[5, 4] is empty");
        refused(&|j| j.chunk = 0, "chunk size is 0");
        refused(
            &|j| {
                j.done.push((1001, 2_000_000));
                j.result.deficient += 1_999_000;
            },
            "outside the run's [1, 1000]",
        );
        refused(
            &|j| {
                j.result.perfect = (1..200_000).collect();
            },
            "199999 perfect",
        );
        refused(&|j| j.result.sigma_sum = u128::MAX, "identity");
        // And the rest of what must hold.
        refused(&|j| j.done = vec![(501, 600), (1, 300)], "out of order");
        refused(&|j| j.done = vec![(1, 300), (300, 600)], "overlap");
        refused(&|j| j.result.abundant += 1, "add up to 401");
        refused(
            &|j| {
                j.result.abundant = u64::MAX;
                j.result.deficient += 1;
            },
            "add up to",
        );
        refused(&|j| j.result.perfect = vec![28, 6], "ascending");
        refused(
            &|j| {
                j.result.perfect = vec![6, 28, 496];
                j.result.deficient -= 1;
            },
            "496 perfect, outside",
        );
        refused(
            &|j| {
                j.result.perfect = vec![6, 28, 30];
                j.result.abundant -= 1;
            },
            "30 perfect, which it is not",
        );
        // A perfect number left out, counted deficient: the counts and Σσ
        // still agree, only the list of perfect numbers gives it away.
        refused(
            &|j| {
                j.result.perfect = vec![6];
                j.result.deficient += 1;
            },
            "leaves out 28",
        );
        refused(
            &|j| {
                j.result.perfect.clear();
                j.result.deficient += 2;
            },
            "leaves out 6",
        );
        refused(&|j| (j.min, j.max) = (10, 9), "[10, 9]");
        refused(&|j| j.max = MAX_SUPPORTED + 1, "not within");
        refused(&|j| j.min = 0, "not within");
        refused(
            &|j| {
                j.done = (0..=MAX_RANGES as u64)
                    .map(|i| (2 * i + 1, 2 * i + 1))
                    .collect()
            },
            "finished ranges",
        );
        // Σσ moved from one place to another without changing the total
        // is invisible to the total, but the counts are checked: moving
        // numbers between abundant and deficient is not (no identity
        // covers it; the journal is only as good as the run that wrote it).
        assert!(
            forged(|j| {
                j.result.abundant += 10;
                j.result.deficient -= 10;
            })
            .is_ok()
        );
    }

    /// `n` ranges of 1000 numbers, 10^6 apart, ending at 10^13.
    fn ranges_near_10_13(n: u64) -> Vec<(u64, u64)> {
        (0..n)
            .rev()
            .map(|i| {
                let hi = 10_000_000_000_000 - i * 1_000_000;
                (hi - 999, hi)
            })
            .collect()
    }

    /// A journal fragmented into as many ranges near 10^13 as the identity
    /// can check in under a minute is within the bound (one of 8 is checked
    /// here; 1027 would take that minute); one more is refused before any
    /// evaluation (a forged one of MAX_RANGES took minutes to refuse).
    #[test]
    fn a_journal_too_costly_to_check_is_refused_at_once() {
        const MAX: u64 = 10_000_000_000_000;
        let fit = MAX_IDENTITY_STEPS / (2 * MAX.isqrt());
        assert_eq!(fit, 1027);
        assert!(identity_steps(&ranges_near_10_13(fit)) <= MAX_IDENTITY_STEPS);
        let done = ranges_near_10_13(8);
        let honest = Journal::new(1, MAX, 1 << 22, done.clone(), result_over(MAX, &done));
        assert_eq!(validate(&honest), Ok(()));

        for n in [fit + 1, MAX_RANGES as u64] {
            let done = ranges_near_10_13(n);
            let mut forged = Journal::new(1, MAX, 1 << 22, done, ChunkResult::default());
            forged.result.deficient = forged.finished();
            let began = std::time::Instant::now();
            let e = decode(&encode(&forged)).unwrap_err();
            assert!(
                e.contains(&format!("its {n} finished ranges up to {MAX} are too many"))
                    && e.contains("about 1027 can be"),
                "{e}"
            );
            // Not after 2 evaluations a range at 10^13, 11 ms or more each.
            assert!(began.elapsed().as_secs_f64() < 1.0, "{:?}", began.elapsed());
        }
    }

    #[test]
    fn a_journal_of_escape_codes_is_shown_clean() {
        let mut j = sample();
        j.program = "\x1b[2J\x1b]0;pwned\x07".into();
        let e = j.check_matches(1, 1000, 100).unwrap_err();
        assert!(!e.chars().any(|c| c.is_control()), "{e:?}");
        let body = String::from_utf8(encode(&sample())).unwrap();
        let bad = body.replacen("\"min\":1", "\"min\":\"\\u001b[2J\"", 1);
        let line = bad.lines().nth(1).unwrap();
        let bytes = format!(
            "{HEADER}\n{line}\nfnv1a64 {:016x}\n",
            checksum(line.as_bytes())
        );
        let e = decode(bytes.as_bytes()).unwrap_err();
        assert!(
            e.contains("damaged") && !e.chars().any(|c| c.is_control()),
            "{e:?}"
        );
    }

    #[test]
    fn a_second_lock_names_the_first_holder_and_outlives_saves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.journal");
        let lock = JournalLock::acquire(&path).unwrap();
        assert!(lock_path(&path).exists());
        // Saves replace the journal by renames; the lock is beside it.
        save(&path, &sample()).unwrap();
        save(&path, &sample()).unwrap();
        let e = JournalLock::acquire(&path).unwrap_err();
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        drop(lock);
        assert!(!lock_path(&path).exists(), "removed with the lock");
        let again = JournalLock::acquire(&path).unwrap();
        drop(again);
        // A lock file a killed run left behind (no lock held) is taken over.
        fs::write(lock_path(&path), "999999\n").unwrap();
        let taken = JournalLock::acquire(&path).unwrap();
        drop(taken);
    }

    #[test]
    fn save_failures_are_counted_from_the_last_success() {
        let mut f = SaveFailures::default();
        assert_eq!((f.failed(), f.failed(), f.failed()), (1, 2, 3));
        f.succeeded();
        assert_eq!(f.failed(), 1, "a new failing spell is reported again");
    }

    #[test]
    fn same_file_sees_through_other_spellings() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("j");
        let dotted = dir.path().join(".").join("j");
        assert!(same_file(&a, &dotted), "neither exists yet");
        fs::write(&a, "x").unwrap();
        assert!(same_file(&a, &dotted));
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&a, &link).unwrap();
        assert!(same_file(&a, &link));
        assert!(!same_file(&a, &dir.path().join("k")));
    }

    #[test]
    fn round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.journal");
        save(&path, &sample()).unwrap();
        assert_eq!(load(&path).unwrap(), sample());
        let mut later = sample();
        later.done = vec![(1, 300), (501, 700)];
        later.result = result_over(1000, &later.done);
        save(&path, &later).unwrap();
        assert_eq!(load(&path).unwrap(), later);
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_refused() {
        let bytes = encode(&sample());
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x20;
            assert!(decode(&bad).is_err(), "byte {i} flipped");
        }
        assert_eq!(decode(&bytes).unwrap(), sample());
    }

    #[test]
    fn a_journal_for_another_run_says_what_differs() {
        let j = sample();
        assert!(j.check_matches(1, 1000, 100).is_ok());
        let e = j.check_matches(1, 2000, 100).unwrap_err();
        assert!(e.contains("[1, 1000]") && e.contains("[1, 2000]"), "{e}");
        let e = j.check_matches(1, 1000, 50).unwrap_err();
        assert!(e.contains("--chunk 100"), "{e}");
        let mut old = sample();
        old.program = "0.0.1".into();
        assert!(
            old.check_matches(1, 1000, 100)
                .unwrap_err()
                .contains("0.0.1")
        );
        let other_format =
            String::from_utf8(encode(&j))
                .unwrap()
                .replacen("journal 1", "journal 9", 1);
        assert!(
            decode(other_format.as_bytes())
                .unwrap_err()
                .contains("format")
        );
    }

    #[test]
    fn unwritable_places_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_writable(dir.path()).unwrap_err().contains("folder"));
        assert!(check_writable(&dir.path().join("no/such/dir/j")).is_err());
        assert!(check_writable(&dir.path().join("j")).is_ok());
    }
}
