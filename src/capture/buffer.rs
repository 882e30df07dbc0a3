//! A large read buffer that hands out records in place, so reading costs one `read` call per
//! 256 KiB and no copy per frame.

use super::CaptureError;
use std::io::{self, Read};

const CHUNK: usize = 256 * 1024;

pub(crate) struct RecordBuffer<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// File offset of `buf[start]`.
    offset: u64,
    eof: bool,
}

impl<R: Read> RecordBuffer<R> {
    pub(crate) fn new(inner: R) -> Self {
        RecordBuffer { inner, buf: vec![0; CHUNK], start: 0, end: 0, offset: 0, eof: false }
    }

    /// The stream from its first byte on, buffered bytes included.
    pub(crate) fn into_inner(self) -> impl Read {
        let RecordBuffer { inner, buf, start, end, .. } = self;
        io::Cursor::new(buf[start..end].to_vec()).chain(inner)
    }

    /// File offset of the next unconsumed byte.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Makes at least `n` bytes available, growing the buffer when one record is larger than
    /// it (callers bound `n`). Returns how many bytes are available, fewer than `n` only at the
    /// end of the input.
    pub(crate) fn fill(&mut self, n: usize) -> Result<usize, CaptureError> {
        while self.end - self.start < n && !self.eof {
            if self.buf.len() - self.start < n {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                if self.buf.len() < n {
                    self.buf.resize(n.next_power_of_two(), 0);
                }
            }
            let at = self.offset + (self.end - self.start) as u64;
            match read_some(&mut self.inner, &mut self.buf[self.end..], at)? {
                0 => self.eof = true,
                k => self.end += k,
            }
        }
        Ok(self.end - self.start)
    }

    /// The next `n` available bytes; `fill(n)` must have returned at least `n`.
    pub(crate) fn peek(&self, n: usize) -> &[u8] {
        &self.buf[self.start..self.start + n]
    }

    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start += n;
        self.offset += n as u64;
    }
}

/// One read into `buf`: the bytes read (0 at the end of the input), an interrupted read tried
/// again, an error named with the input `offset` it happened at.
pub(crate) fn read_some(source: &mut impl Read, buf: &mut [u8], offset: u64) -> Result<usize, CaptureError> {
    loop {
        match source.read(buf) {
            Ok(k) => return Ok(k),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => return Err(CaptureError::Io { offset, source }),
        }
    }
}
