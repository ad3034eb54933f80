//! The frame codec: a u32 little-endian payload length, then the payload,
//! the bincode encoding of one message. This is the only file that knows
//! bincode (pinned to 2.0.x with serde; 3.x is an empty crate and the project
//! is unmaintained, RUSTSEC-2025-0141), so the codec can be swapped here alone.
//!
//! Bytes from the other end are untrusted: a length over [`MAX_FRAME`] is
//! rejected from the header alone, before anything is allocated, and a
//! payload that does not decode to exactly one message is an error.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::io::{self, Read, Write};

/// The largest payload a frame may carry: 1 MiB.
pub const MAX_FRAME: usize = 1 << 20;

/// Bytes in the length header.
pub const HEADER: usize = 4;

/// bincode's configuration: varint integers, and a decode limit equal to the
/// frame limit so a hostile length inside the payload (a Vec claiming 2^60
/// elements) cannot make the decoder allocate.
fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME>()
}

/// Why a frame could not be read.
#[derive(Debug)]
pub enum FrameError {
    /// The header claims more than [`MAX_FRAME`] bytes.
    TooLarge { claimed: u64 },
    /// The stream ended inside a frame.
    Truncated { have: usize, want: usize },
    /// The payload is not the encoding of one message.
    Malformed(String),
    /// Reading or writing failed.
    Io(io::Error),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge { claimed } => write!(
                f,
                "frame header claims {claimed} bytes, over the {MAX_FRAME}-byte limit"
            ),
            FrameError::Truncated { have, want } => {
                write!(f, "stream ended inside a frame ({have} of {want} bytes)")
            }
            FrameError::Malformed(why) => write!(f, "undecodable frame payload: {why}"),
            FrameError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        FrameError::Io(e)
    }
}

/// Encodes `msg` as one whole frame, header included.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let mut frame = vec![0u8; HEADER];
    bincode::serde::encode_into_std_write(msg, &mut frame, config())
        .map_err(|e| FrameError::Malformed(crate::sanitize::text(&e.to_string())))?;
    let len = frame.len() - HEADER;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge {
            claimed: len as u64,
        });
    }
    frame[..HEADER].copy_from_slice(&(len as u32).to_le_bytes());
    Ok(frame)
}

/// Decodes one payload (without its header) into exactly one message.
pub fn decode_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<T, FrameError> {
    let (msg, used) = bincode::serde::decode_from_slice(payload, config())
        .map_err(|e| FrameError::Malformed(crate::sanitize::text(&e.to_string())))?;
    if used != payload.len() {
        return Err(FrameError::Malformed(format!(
            "{} trailing bytes after the message",
            payload.len() - used
        )));
    }
    Ok(msg)
}

/// Reads the length header at the start of `bytes`, if it is all there.
fn payload_len(bytes: &[u8]) -> Result<Option<usize>, FrameError> {
    let Some(header) = bytes.get(..HEADER) else {
        return Ok(None);
    };
    let claimed = u32::from_le_bytes(header.try_into().expect("4 bytes")) as usize;
    if claimed > MAX_FRAME {
        return Err(FrameError::TooLarge {
            claimed: claimed as u64,
        });
    }
    Ok(Some(claimed))
}

/// Writes `msg` as one frame and flushes.
pub fn write_frame<T: Serialize>(w: &mut impl Write, msg: &T) -> Result<(), FrameError> {
    w.write_all(&encode(msg)?)?;
    w.flush()?;
    Ok(())
}

/// Reads one frame from a blocking stream. `Ok(None)` is a clean end of
/// stream between frames; an end inside a frame is [`FrameError::Truncated`].
pub fn read_frame<T: DeserializeOwned>(r: &mut impl Read) -> Result<Option<T>, FrameError> {
    let mut header = [0u8; HEADER];
    let got = read_full(r, &mut header)?;
    if got == 0 {
        return Ok(None);
    }
    if got < HEADER {
        return Err(FrameError::Truncated {
            have: got,
            want: HEADER,
        });
    }
    let len = payload_len(&header)?.expect("whole header");
    let mut payload = vec![0u8; len];
    let got = read_full(r, &mut payload)?;
    if got < len {
        return Err(FrameError::Truncated {
            have: HEADER + got,
            want: HEADER + len,
        });
    }
    decode_payload(&payload).map(Some)
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reassembles frames from bytes that arrive in arbitrary pieces, for a
/// reader that must not block (the supervisor's event loop).
#[derive(Debug, Default)]
pub struct FrameBuffer {
    bytes: Vec<u8>,
}

impl FrameBuffer {
    /// Appends bytes just read from the stream.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    /// Takes the next whole frame out of the buffer. `Ok(None)` means more
    /// bytes are needed; an error means the stream is corrupt for good.
    pub fn next_frame<T: DeserializeOwned>(&mut self) -> Result<Option<T>, FrameError> {
        let Some(len) = payload_len(&self.bytes)? else {
            return Ok(None);
        };
        if self.bytes.len() < HEADER + len {
            return Ok(None);
        }
        let msg = decode_payload(&self.bytes[HEADER..HEADER + len]);
        self.bytes.drain(..HEADER + len);
        msg.map(Some)
    }

    /// Bytes held that do not yet form a whole frame. At end of stream a
    /// non-zero count means the peer stopped inside a frame.
    pub fn pending(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Msg {
        Small(u64),
        List(Vec<u64>),
        Text(String),
    }

    use crate::rng::SplitMix64;

    #[test]
    fn round_trip_through_a_stream() {
        let msgs = vec![
            Msg::Small(7),
            Msg::List(vec![6, 28, 496, 8128]),
            Msg::Text("σ".into()),
        ];
        let mut wire = Vec::new();
        for m in &msgs {
            write_frame(&mut wire, m).unwrap();
        }
        let mut r = &wire[..];
        for m in &msgs {
            assert_eq!(read_frame::<Msg>(&mut r).unwrap().as_ref(), Some(m));
        }
        assert!(read_frame::<Msg>(&mut r).unwrap().is_none());
    }

    #[test]
    fn buffer_reassembles_byte_by_byte() {
        let wire = [
            encode(&Msg::Small(1)).unwrap(),
            encode(&Msg::List(vec![2; 100])).unwrap(),
        ]
        .concat();
        let mut buf = FrameBuffer::default();
        let mut got = Vec::new();
        for b in wire {
            buf.extend(&[b]);
            while let Some(m) = buf.next_frame::<Msg>().unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got, vec![Msg::Small(1), Msg::List(vec![2; 100])]);
        assert_eq!(buf.pending(), 0);
    }

    #[test]
    fn oversized_header_is_rejected_before_the_payload_arrives() {
        let mut buf = FrameBuffer::default();
        buf.extend(&u32::MAX.to_le_bytes());
        assert!(matches!(
            buf.next_frame::<Msg>(),
            Err(FrameError::TooLarge { claimed }) if claimed == u32::MAX as u64
        ));
        let mut r = &u32::MAX.to_le_bytes()[..];
        assert!(matches!(
            read_frame::<Msg>(&mut r),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_limit_sized_frame_passes_and_one_byte_more_does_not() {
        let mut header = (MAX_FRAME as u32).to_le_bytes().to_vec();
        let mut buf = FrameBuffer::default();
        buf.extend(&header);
        assert!(
            buf.next_frame::<Msg>().unwrap().is_none(),
            "waits for payload"
        );
        header = (MAX_FRAME as u32 + 1).to_le_bytes().to_vec();
        let mut buf = FrameBuffer::default();
        buf.extend(&header);
        assert!(buf.next_frame::<Msg>().is_err());
    }

    #[test]
    fn truncated_frames_are_errors_at_end_of_stream() {
        let wire = encode(&Msg::List(vec![1, 2, 3])).unwrap();
        for cut in 1..wire.len() {
            let mut r = &wire[..cut];
            assert!(
                matches!(read_frame::<Msg>(&mut r), Err(FrameError::Truncated { .. })),
                "cut at {cut}"
            );
            let mut buf = FrameBuffer::default();
            buf.extend(&wire[..cut]);
            assert!(buf.next_frame::<Msg>().unwrap().is_none());
            assert_eq!(buf.pending(), cut);
        }
    }

    #[test]
    fn a_hostile_inner_length_does_not_allocate() {
        // Variant 1 (List) followed by a varint length of u64::MAX.
        let mut payload = vec![1u8, 0xff];
        payload.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            decode_payload::<Msg>(&payload),
            Err(FrameError::Malformed(_))
        ));
    }

    #[test]
    fn trailing_bytes_are_malformed() {
        let mut frame = encode(&Msg::Small(5)).unwrap();
        frame.push(0);
        let len = (frame.len() - HEADER) as u32;
        frame[..HEADER].copy_from_slice(&len.to_le_bytes());
        let mut r = &frame[..];
        assert!(matches!(
            read_frame::<Msg>(&mut r),
            Err(FrameError::Malformed(_))
        ));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = SplitMix64(42);
        for round in 0..20_000 {
            let len = (rng.next_u64() % 64) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            if round % 2 == 0 && len >= HEADER {
                // A plausible header, so the payload decoder is exercised too.
                let claimed = (len - HEADER) as u32;
                bytes[..HEADER].copy_from_slice(&claimed.to_le_bytes());
            }
            let mut buf = FrameBuffer::default();
            buf.extend(&bytes);
            while let Ok(Some(_)) = buf.next_frame::<Msg>() {}
            let mut r = &bytes[..];
            while let Ok(Some(_)) = read_frame::<Msg>(&mut r) {}
        }
    }
}
