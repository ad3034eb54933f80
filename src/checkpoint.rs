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

use crate::protocol::PROGRAM_VERSION;
use crate::sigma::ChunkResult;
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::{self, Write};
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
                self.program
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

    /// How many numbers it holds as finished.
    pub fn finished(&self) -> u64 {
        self.done.iter().map(|&(lo, hi)| hi - lo + 1).sum()
    }
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
    serde_json::from_str(body).map_err(|e| format!("its content is damaged ({e})"))
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

    fn sample() -> Journal {
        Journal::new(
            1,
            1000,
            100,
            vec![(1, 300), (501, 600)],
            ChunkResult {
                perfect: vec![6, 28, 496],
                abundant: 90,
                deficient: 307,
                sigma_sum: 123_456_789_012_345_678_901_234_567_890,
            },
        )
    }

    #[test]
    fn round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.journal");
        save(&path, &sample()).unwrap();
        assert_eq!(load(&path).unwrap(), sample());
        let mut later = sample();
        later.done.push((601, 700));
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
