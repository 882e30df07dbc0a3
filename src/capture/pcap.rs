//! The classic libpcap format: microsecond and nanosecond, both byte orders.

use super::buffer::RecordBuffer;
use super::{CaptureError, Frame, LinkType, PacketSource};
use std::io::Read;

const HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;
/// Larger than any link layer's frame (and than libpcap's own 256 KiB cap): a bigger record
/// length means the file is corrupt, and reading it would only waste memory.
pub(crate) const MAX_RECORD: u32 = 256 * 1024;

pub(crate) struct PcapReader<R> {
    buf: RecordBuffer<R>,
    big_endian: bool,
    nanos: bool,
    link_type: LinkType,
    frames: u64,
    pending: usize,
}

impl<R: Read> PcapReader<R> {
    pub(crate) fn new(mut buf: RecordBuffer<R>) -> Result<Self, CaptureError> {
        if buf.fill(HEADER_LEN)? < HEADER_LEN {
            return Err(CaptureError::Truncated { frame: 0, offset: 0, what: "pcap file header" });
        }
        let h = buf.peek(HEADER_LEN);
        let magic = [h[0], h[1], h[2], h[3]];
        let (big_endian, nanos) = match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
            [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
            [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
            [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
            _ => return Err(CaptureError::UnknownFormat { magic: hex4(&magic) }),
        };
        let rd = |b: &[u8]| read_u32(b, big_endian);
        let major = if big_endian { u16::from_be_bytes([h[4], h[5]]) } else { u16::from_le_bytes([h[4], h[5]]) };
        if major != 2 {
            return Err(CaptureError::Corrupt {
                frame: 0,
                offset: 4,
                reason: format!("pcap major version {major}, expected 2"),
            });
        }
        // The upper bits of the link-type field carry the FCS length (LINKTYPE registry).
        let link_type = LinkType(rd(&h[20..24]) & 0x0fff_ffff);
        buf.consume(HEADER_LEN);
        Ok(PcapReader { buf, big_endian, nanos, link_type, frames: 0, pending: 0 })
    }
}

impl<R: Read> PacketSource for PcapReader<R> {
    fn frames_read(&self) -> u64 {
        self.frames
    }

    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        self.buf.consume(std::mem::take(&mut self.pending));
        let available = self.buf.fill(RECORD_HEADER_LEN)?;
        if available == 0 {
            return Ok(None);
        }
        let frame = self.frames + 1;
        let offset = self.buf.offset();
        if available < RECORD_HEADER_LEN {
            return Err(CaptureError::Truncated { frame, offset, what: "pcap record header" });
        }
        let h = self.buf.peek(RECORD_HEADER_LEN);
        let be = self.big_endian;
        let secs = read_u32(&h[0..4], be) as i64;
        let frac = read_u32(&h[4..8], be) as i64;
        let caplen = read_u32(&h[8..12], be);
        let orig_len = read_u32(&h[12..16], be);
        if caplen > MAX_RECORD {
            return Err(CaptureError::Corrupt {
                frame,
                offset,
                reason: format!("record length {caplen} exceeds the {MAX_RECORD}-byte limit"),
            });
        }
        let total = RECORD_HEADER_LEN + caplen as usize;
        if self.buf.fill(total)? < total {
            return Err(CaptureError::Truncated { frame, offset, what: "pcap record data" });
        }
        self.frames = frame;
        self.pending = total;
        let ts = secs * 1_000_000_000 + if self.nanos { frac } else { frac * 1000 };
        Ok(Some(Frame {
            ts,
            link_type: self.link_type,
            caplen,
            orig_len: orig_len.max(caplen),
            index: frame,
            data: &self.buf.peek(total)[RECORD_HEADER_LEN..],
        }))
    }
}

pub(crate) fn read_u32(b: &[u8], big_endian: bool) -> u32 {
    let a = [b[0], b[1], b[2], b[3]];
    if big_endian {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

pub(crate) fn hex4(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ")
}
