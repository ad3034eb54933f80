//! Writing to the standard streams without panicking (`println!` panics
//! when a write fails): stdout's text, whose loss is an error unless its
//! reader has left (`| head`), and stderr's lines, said best effort.

use std::io::{self, Write};

/// Writes `text` to stdout and flushes it. A reader that stopped early
/// (EPIPE) took what it wanted: that is no error. Any other failure (a full
/// disk, an I/O error) is, in the error's words.
pub fn print(text: &str) -> Result<(), String> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e.to_string()),
        Ok(()) => Ok(()),
    }
}

/// Writes one line to stderr, best effort: a closed or full stderr loses it.
pub fn say(line: &str) {
    let _ = writeln!(io::stderr(), "{line}");
}
