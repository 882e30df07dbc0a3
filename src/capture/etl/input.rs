//! The bytes of an ETL file as the reader takes them: read in large blocks straight from the
//! source, so that a buffer stored uncompressed (every buffer of a `netsh trace`) is used
//! where it lies in its block, shared, rather than copied out of a read buffer.
//!
//! A block stays alive while a buffer of the merge window points into it; the reader counts
//! the bytes of the blocks alive, so the window's memory stays bounded.

use super::super::CaptureError;
use std::io::Read;
use std::sync::Arc;

/// Bytes asked of the source at once, at least (a buffer larger than this gets a block of
/// its own size). Large enough that a buffer rarely straddles two blocks (a straddling
/// buffer's first part is copied into the next block).
const BLOCK: usize = 1 << 20;
/// The first block is smaller: a small trace (or a file that turns out not to need more)
/// costs no more than the other readers' 256 KiB.
const FIRST_BLOCK: usize = 256 << 10;

/// A window buffer's bytes: expanded into a vector of its own, or lying in a block.
pub(crate) enum Bytes {
    Owned(Vec<u8>),
    InBlock { block: Arc<Vec<u8>>, start: usize, len: usize },
}

impl Bytes {
    #[inline]
    pub(crate) fn get(&self) -> &[u8] {
        match self {
            Bytes::Owned(v) => v,
            Bytes::InBlock { block, start, len } => &block[*start..*start + *len],
        }
    }
}

pub(crate) struct Input {
    source: Box<dyn Read + Send>,
    block: Arc<Vec<u8>>,
    /// The unconsumed bytes of `block`.
    start: usize,
    end: usize,
    /// File offset of `block[start]`.
    offset: u64,
    eof: bool,
    /// A block no buffer points into any more, kept to be filled again without allocating.
    spare: Option<Vec<u8>>,
    /// Bytes of the blocks alive (the current one, those window buffers point into, the
    /// spare).
    pub(crate) block_bytes: usize,
}

impl Input {
    pub(crate) fn new(source: Box<dyn Read + Send>) -> Self {
        Input {
            source,
            block: Arc::new(Vec::new()),
            start: 0,
            end: 0,
            offset: 0,
            eof: false,
            spare: None,
            block_bytes: 0,
        }
    }

    /// File offset of the next unconsumed byte.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Makes at least `n` bytes available in the current block; returns how many are,
    /// fewer than `n` only at the end of the input. Callers bound `n`.
    pub(crate) fn fill(&mut self, n: usize) -> Result<usize, CaptureError> {
        if self.end - self.start >= n || self.eof {
            return Ok(self.end - self.start);
        }
        self.new_block(n);
        // A block is filled whole before any buffer points into it, and never written again.
        let block = Arc::get_mut(&mut self.block).expect("a new block has no sharer");
        while self.end < block.len() && !self.eof {
            let at = self.offset + (self.end - self.start) as u64;
            match crate::capture::buffer::read_some(&mut self.source, &mut block[self.end..], at)? {
                0 => self.eof = true,
                k => self.end += k,
            }
        }
        Ok(self.end - self.start)
    }

    /// Starts a block of room for at least `n` bytes, moving the unconsumed bytes into it.
    fn new_block(&mut self, n: usize) {
        let size = n.max(if self.block_bytes == 0 { FIRST_BLOCK } else { BLOCK });
        let (start, end) = (self.start, self.end);
        if let Some(block) = Arc::get_mut(&mut self.block) {
            if block.len() >= size {
                // No buffer points into it: reused in place.
                block.copy_within(start..end, 0);
                self.end -= start;
                self.start = 0;
                return;
            }
        }
        let mut fresh = match self.spare.take() {
            Some(v) if v.len() >= size => v,
            other => {
                if let Some(v) = other {
                    self.block_bytes -= v.len();
                }
                self.block_bytes += size;
                vec![0; size]
            }
        };
        fresh[..end - start].copy_from_slice(&self.block[start..end]);
        let old = std::mem::replace(&mut self.block, Arc::new(fresh));
        self.recycle(old);
        self.end -= start;
        self.start = 0;
    }

    /// The next `n` available bytes; `fill(n)` must have returned at least `n`.
    pub(crate) fn peek(&self, n: usize) -> &[u8] {
        &self.block[self.start..self.start + n]
    }

    /// The next `n` available bytes as shared bytes, `len` of them (the rest are not kept),
    /// and consumed.
    pub(crate) fn take_shared(&mut self, n: usize, len: usize) -> Bytes {
        let bytes = Bytes::InBlock { block: Arc::clone(&self.block), start: self.start, len };
        self.consume(n);
        bytes
    }

    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start += n;
        self.offset += n as u64;
    }

    /// Gives back the bytes of a buffer leaving the window: a block no one else points
    /// into is freed, or kept as the spare.
    pub(crate) fn release(&mut self, bytes: Bytes) -> Option<Vec<u8>> {
        match bytes {
            Bytes::Owned(v) => Some(v),
            Bytes::InBlock { block, .. } => {
                self.recycle(block);
                None
            }
        }
    }

    fn recycle(&mut self, block: Arc<Vec<u8>>) {
        if let Ok(v) = Arc::try_unwrap(block) {
            if self.spare.is_none() && !v.is_empty() {
                self.spare = Some(v);
            } else {
                self.block_bytes -= v.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that gives at most `step` bytes a read, like a pipe.
    struct Trickle(Vec<u8>, usize, usize);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.2).min(self.0.len() - self.1);
            buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
    }

    #[test]
    fn shared_buffers_keep_their_bytes_across_blocks_and_blocks_are_freed() {
        let data: Vec<u8> = (0..3 * BLOCK + 500).map(|i| (i * 7 % 251) as u8).collect();
        let mut input = Input::new(Box::new(Trickle(data.clone(), 0, 100_000)));
        let mut kept = Vec::new();
        let size = 300_000;
        let mut at = 0;
        while input.fill(size).unwrap() >= size {
            assert_eq!(input.offset(), at as u64);
            kept.push((at, input.take_shared(size, size - 7)));
            at += size;
            // Memory: the blocks the kept buffers point into, the current one, a spare.
            assert!(input.block_bytes <= (kept.len() + 2) * BLOCK, "{}", input.block_bytes);
        }
        assert_eq!(input.fill(size).unwrap(), data.len() - at);
        for (at, bytes) in &kept {
            assert_eq!(bytes.get(), &data[*at..*at + size - 7]);
        }
        for (_, bytes) in kept {
            assert!(input.release(bytes).is_none());
        }
        // Only the current block and the spare are left.
        assert!(input.block_bytes <= 2 * BLOCK, "{}", input.block_bytes);
    }
}
