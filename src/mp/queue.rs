//! `Queue`: typed messages between processes over one pipe, each message a
//! frame of the codec in [`crate::protocol::frame`] (this file never sees
//! bincode). It owns the queue's two pipe ends, reading frames back with a
//! timeout, and noticing that every writer is gone.

use crate::protocol::frame::{self, FrameBuffer, FrameError, HEADER};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, poll};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::marker::PhantomData;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

/// The atomic write size of a Linux pipe: a whole frame of at most this many
/// bytes (header included) never interleaves with another writer's.
pub const PIPE_BUF: usize = libc::PIPE_BUF;

/// Bytes asked of `read` at most at once.
const CHUNK: usize = 64 * 1024;

/// A multi-producer queue of `T` over a pipe, shared by forking: a child
/// made with [`Process::fork`](crate::mp::Process::fork) after the queue was
/// created holds both ends too. (A child of `fork_piped` closes them, and a
/// spawned program never inherits them: they are `O_CLOEXEC`.)
///
/// A pipe reports its end only once *every* copy of its write end, in every
/// process, is closed. So each process says what it will not do: a consumer
/// calls [`Queue::close_put`] after forking its producers (else [`Queue::get`]
/// waits for itself forever), and a producer calls [`Queue::close_get`].
/// Then `get` returns [`QueueError::Disconnected`] once all producers have
/// exited, however they ended.
///
/// [`Queue::put`] writes a frame with one `write_all`: a frame of at most
/// [`PIPE_BUF`] (4096) bytes, header included, is written atomically, so
/// several producers need no lock for small messages. A larger frame may be
/// split and interleave with another producer's: producers of large messages
/// must hold one [`Lock`](crate::mp::Lock) around `put`. Likewise `get` reads
/// exactly one frame's bytes, never the next one's, but several consumer
/// processes must hold a `Lock` around `get` so their reads do not interleave.
///
/// A producer whose consumers have all gone gets
/// [`QueueError::Disconnected`] from `put`, if it ignores `SIGPIPE`; a forked
/// child has the default disposition and is killed by `SIGPIPE`.
///
/// ```standalone_crate
/// use supervisor::mp::Process;
/// use supervisor::mp::queue::{Queue, QueueError};
///
/// let mut q: Queue<String> = Queue::new().unwrap();
/// let mut producer = Process::fork(|| {
///     q.close_get();
///     for word in ["to", "be"] {
///         q.put(&word.to_string()).unwrap();
///     }
///     0
/// })
/// .unwrap();
/// q.close_put(); // the parent only consumes
/// assert_eq!(q.get().unwrap(), "to");
/// assert_eq!(q.get().unwrap(), "be");
/// assert!(matches!(q.get(), Err(QueueError::Disconnected)));
/// assert_eq!(producer.join().unwrap(), 0);
/// ```
pub struct Queue<T> {
    reader: Option<File>,
    writer: Option<File>,
    /// The part of the current frame read so far (never more than one frame).
    buf: FrameBuffer,
    /// The first bytes of the current frame, up to its whole header.
    header: Vec<u8>,
    _msg: PhantomData<fn(T) -> T>,
}

/// Why a message could not be put or got.
#[derive(Debug)]
pub enum QueueError {
    /// The other side is gone: on `get`, every write end is closed and no
    /// message is left; on `put`, every read end is closed.
    Disconnected,
    /// This handle gave up that end ([`Queue::close_put`] or
    /// [`Queue::close_get`]).
    Closed,
    /// The bytes on the pipe are not a frame of `T` (malformed, over
    /// [`frame::MAX_FRAME`], or cut short by the end of the pipe), or the
    /// message given to `put` cannot be encoded or is too large. After an
    /// error on `get` the stream cannot be trusted.
    Frame(FrameError),
    /// Reading, writing or polling failed.
    Io(io::Error),
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::Disconnected => write!(f, "queue disconnected: the other side is gone"),
            QueueError::Closed => write!(f, "this end of the queue was closed"),
            QueueError::Frame(e) => write!(f, "bad queue frame: {e}"),
            QueueError::Io(e) => write!(f, "queue I/O failed: {e}"),
        }
    }
}

impl std::error::Error for QueueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            QueueError::Frame(e) => Some(e),
            QueueError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for QueueError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            QueueError::Disconnected
        } else {
            QueueError::Io(e)
        }
    }
}

impl From<FrameError> for QueueError {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::Io(e) => e.into(),
            other => QueueError::Frame(other),
        }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("reader", &self.reader)
            .field("writer", &self.writer)
            .field("pending", &self.buf.pending())
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// A new queue on a fresh `O_CLOEXEC` pipe.
    pub fn new() -> io::Result<Queue<T>> {
        let (read_end, write_end) = super::pipe()?;
        Ok(Self::from_fds(Some(read_end), Some(write_end)))
    }

    /// A queue over existing pipe ends, for example the pipes of
    /// [`Process::fork_piped`](crate::mp::Process::fork_piped); `None` for
    /// an end this process does not hold.
    pub fn from_fds(read_end: Option<OwnedFd>, write_end: Option<OwnedFd>) -> Queue<T> {
        Queue {
            reader: read_end.map(File::from),
            writer: write_end.map(File::from),
            buf: FrameBuffer::default(),
            header: Vec::with_capacity(HEADER),
            _msg: PhantomData,
        }
    }

    /// Sends `msg`: one frame, written with a single `write_all` (atomic
    /// between producers up to [`PIPE_BUF`] bytes). Blocks while the pipe is
    /// full.
    pub fn put(&self, msg: &T) -> Result<(), QueueError> {
        let mut writer = self.writer.as_ref().ok_or(QueueError::Closed)?;
        frame::write_frame(&mut writer, msg)?;
        Ok(())
    }

    /// Waits for the next message. Returns [`QueueError::Disconnected`] once
    /// every writer is gone and nothing is left (never waits forever on a
    /// dead producer — but see [`Queue::close_put`] for this process's own
    /// write end).
    pub fn get(&mut self) -> Result<T, QueueError> {
        Ok(self.next(None)?.expect("no deadline, no timeout"))
    }

    /// Like [`Queue::get`], but waits at most `timeout`: `Ok(None)` if no
    /// whole message came in time. Part of a message read before the
    /// timeout is kept for the next call.
    pub fn get_timeout(&mut self, timeout: Duration) -> Result<Option<T>, QueueError> {
        // A deadline beyond what Instant can hold is no deadline.
        self.next(Instant::now().checked_add(timeout))
    }

    /// Gives up this process's write end (Python's `Queue.close`): needed in
    /// every process that only consumes, so the end of the pipe can be seen.
    /// Later `put`s return [`QueueError::Closed`].
    pub fn close_put(&mut self) {
        self.writer = None;
    }

    /// Gives up this process's read end, in a process that only produces.
    /// Later `get`s return [`QueueError::Closed`].
    pub fn close_get(&mut self) {
        self.reader = None;
    }

    /// Reads until a whole frame is buffered, the pipe ends, or `deadline`.
    fn next(&mut self, deadline: Option<Instant>) -> Result<Option<T>, QueueError> {
        let mut reader: &File = self.reader.as_ref().ok_or(QueueError::Closed)?;
        loop {
            let msg = self.buf.next_frame::<T>();
            if self.buf.pending() == 0 {
                self.header.clear();
            }
            if let Some(msg) = msg? {
                return Ok(Some(msg));
            }
            // Read no further than this frame's end, so the next frame stays
            // in the pipe for whichever process gets next.
            let have = self.buf.pending();
            let want = if have < HEADER {
                HEADER - have
            } else {
                let len = u32::from_le_bytes(self.header[..HEADER].try_into().expect("4 bytes"));
                // next_frame has checked the length against MAX_FRAME.
                HEADER + len as usize - have
            };
            if let Some(deadline) = deadline
                && !wait_readable(reader, deadline)?
            {
                return Ok(None);
            }
            let mut bytes = vec![0u8; want.min(CHUNK)];
            let n = loop {
                match reader.read(&mut bytes) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other?,
                }
            };
            if n == 0 {
                if have == 0 {
                    return Err(QueueError::Disconnected);
                }
                // Forget the stump, so later calls report the end itself.
                self.buf = FrameBuffer::default();
                self.header.clear();
                return Err(QueueError::Frame(FrameError::Truncated {
                    have,
                    want: have + want,
                }));
            }
            if have < HEADER {
                self.header.extend_from_slice(&bytes[..n]);
            }
            self.buf.extend(&bytes[..n]);
        }
    }
}

/// Waits until `fd` is readable (data, or the end of the pipe) or
/// `deadline` passes; whether it is readable.
fn wait_readable(fd: &impl AsFd, deadline: Instant) -> Result<bool, QueueError> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = super::poll_timeout(Some(left));
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) if Instant::now() >= deadline => return Ok(false),
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => return Ok(true),
            Err(e) => return Err(QueueError::Io(e.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn raw_queue() -> (Queue<Vec<u32>>, File) {
        let (r, w) = super::super::pipe().unwrap();
        let raw = File::from(w.try_clone().unwrap());
        let mut q = Queue::from_fds(Some(r), Some(w));
        q.close_put();
        (q, raw)
    }

    #[test]
    fn a_partial_frame_is_kept_across_timeouts() {
        let (mut q, mut raw) = raw_queue();
        let wire = frame::encode(&vec![1u32, 2, 3]).unwrap();
        for cut in [2, 5] {
            let (a, b) = wire.split_at(cut);
            raw.write_all(a).unwrap();
            assert!(q.get_timeout(Duration::ZERO).unwrap().is_none());
            assert!(q.buf.pending() == cut, "the stump was read");
            raw.write_all(b).unwrap();
            assert_eq!(q.get_timeout(Duration::ZERO).unwrap(), Some(vec![1, 2, 3]));
        }
    }

    #[test]
    fn get_reads_one_frame_and_no_more() {
        let (mut q, mut raw) = raw_queue();
        let wire = [frame::encode(&vec![7u32]).unwrap(), vec![9; 3]].concat();
        raw.write_all(&wire).unwrap();
        assert_eq!(q.get().unwrap(), vec![7]);
        assert_eq!(q.buf.pending(), 0);
        let mut rest = [0u8; 3];
        let mut r = q.reader.as_ref().unwrap();
        r.read_exact(&mut rest).unwrap();
        assert_eq!(rest, [9; 3]);
    }

    #[test]
    fn errors_are_typed() {
        let (mut q, mut raw) = raw_queue();
        raw.write_all(&[2, 0, 0, 0, 0xff, 0xff]).unwrap();
        assert!(matches!(
            q.get(),
            Err(QueueError::Frame(FrameError::Malformed(_)))
        ));
        raw.write_all(&u32::MAX.to_le_bytes()).unwrap();
        let e = q.get().unwrap_err();
        assert!(matches!(e, QueueError::Frame(FrameError::TooLarge { .. })));
        assert!(e.to_string().contains("limit"), "{e}");

        let (mut q, mut raw) = raw_queue();
        raw.write_all(&[8, 0, 0, 0, 1]).unwrap();
        drop(raw);
        assert!(matches!(
            q.get(),
            Err(QueueError::Frame(FrameError::Truncated {
                have: 5,
                want: 12
            }))
        ));
        assert!(matches!(q.get(), Err(QueueError::Disconnected)));
        q.close_get();
        assert!(matches!(q.get(), Err(QueueError::Closed)));
        assert!(matches!(q.put(&vec![]), Err(QueueError::Closed)));
    }
}
