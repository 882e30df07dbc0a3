//! pcapng: sections of either byte order, several interfaces with their own link types and
//! timestamp resolutions, Enhanced, Simple and obsolete Packet blocks; every other block is
//! skipped by its length.

use super::buffer::RecordBuffer;
use super::pcap::read_u32;
use super::{CaptureError, Frame, LinkType, PacketSource};
use std::io::Read;

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const OPB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;
/// Decryption Secrets Block, and its secrets type for a TLS key log ("TLSK").
const DSB: u32 = 0x0000_000A;
const SECRETS_TLS_KEY_LOG: u32 = 0x544c_534b;
/// Blocks that Wireshark numbers as frames although they carry no packet: Custom Blocks
/// (copyable and not) and systemd Journal Export blocks. Counting them keeps frame numbers equal
/// to Wireshark's.
const NUMBERED_NON_PACKETS: [u32; 3] = [0x0000_0BAD, 0x4000_0BAD, 0x0000_0009];
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// A block longer than this is taken as corruption: packets are bounded by the pcap limit
/// and no other block a capture needs comes near it.
const MAX_BLOCK: u32 = 16 * 1024 * 1024;
/// Interfaces per section beyond which a file is taken as corrupt (bounds memory).
const MAX_INTERFACES: usize = 65_536;

#[derive(Clone, Copy)]
struct Interface {
    link_type: LinkType,
    /// Timestamp units per second expressed as a conversion to nanoseconds.
    resolution: Resolution,
    /// `if_tsoffset`, seconds added to every timestamp.
    offset_secs: i64,
}

#[derive(Clone, Copy)]
enum Resolution {
    Pow10(u8),
    Pow2(u8),
}

impl Resolution {
    fn to_nanos(self, units: u64) -> i64 {
        let n = match self {
            Resolution::Pow10(e) if e <= 9 => units as u128 * 10u128.pow(9 - e as u32),
            Resolution::Pow10(e) => units as u128 / 10u128.pow((e as u32 - 9).min(38)),
            Resolution::Pow2(e) => (units as u128 * 1_000_000_000) >> e.min(127),
        };
        n.min(i64::MAX as u128) as i64
    }
}

pub(crate) struct PcapNgReader<R> {
    buf: RecordBuffer<R>,
    big_endian: bool,
    interfaces: Vec<Interface>,
    frames: u64,
    pending: usize,
    /// Key log text of the Decryption Secrets Blocks read since the last `take_secrets`.
    secrets: Option<String>,
}

impl<R: Read> PcapNgReader<R> {
    pub(crate) fn new(buf: RecordBuffer<R>) -> Result<Self, CaptureError> {
        let mut reader =
            PcapNgReader { buf, big_endian: false, interfaces: Vec::new(), frames: 0, pending: 0, secrets: None };
        // The first block must be a Section Header; reading it sets the byte order.
        let (block_type, len) = reader.block_header()?.ok_or(CaptureError::Truncated {
            frame: 0,
            offset: 0,
            what: "pcapng section header",
        })?;
        if block_type != SHB {
            return Err(CaptureError::UnknownFormat { magic: format!("{block_type:08x}") });
        }
        reader.buf.consume(len);
        Ok(reader)
    }

    fn corrupt(&self, reason: String) -> CaptureError {
        CaptureError::Corrupt { frame: self.frames + 1, offset: self.buf.offset(), reason }
    }

    /// Reads the next block header and makes the whole block available. Returns its type and
    /// total length, `None` at a clean end. A Section Header also switches the byte order and
    /// starts a new interface list.
    fn block_header(&mut self) -> Result<Option<(u32, usize)>, CaptureError> {
        let available = self.buf.fill(12)?;
        if available == 0 {
            return Ok(None);
        }
        let frame = self.frames + 1;
        let offset = self.buf.offset();
        if available < 12 {
            return Err(CaptureError::Truncated { frame, offset, what: "pcapng block header" });
        }
        let head = self.buf.peek(12);
        let raw_type = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        if raw_type == SHB {
            self.big_endian = match read_u32(&head[8..12], false) {
                BYTE_ORDER_MAGIC => false,
                m if m.swap_bytes() == BYTE_ORDER_MAGIC => true,
                m => return Err(self.corrupt(format!("section header byte-order magic {m:08x}"))),
            };
            self.interfaces.clear();
        }
        let block_type = read_u32(&head[0..4], self.big_endian);
        let len = read_u32(&head[4..8], self.big_endian);
        if len < 12 || len % 4 != 0 || len > MAX_BLOCK {
            return Err(self.corrupt(format!("block length {len}")));
        }
        let len = len as usize;
        if self.buf.fill(len)? < len {
            return Err(CaptureError::Truncated { frame, offset, what: "pcapng block" });
        }
        let trailer = read_u32(&self.buf.peek(len)[len - 4..], self.big_endian) as usize;
        if trailer != len {
            return Err(self.corrupt(format!("block length {len} and trailing length {trailer} differ")));
        }
        Ok(Some((block_type, len)))
    }

    fn add_interface(&mut self, body: &[u8]) -> Result<(), CaptureError> {
        if body.len() < 8 {
            return Err(self.corrupt("interface description block too short".into()));
        }
        if self.interfaces.len() >= MAX_INTERFACES {
            return Err(self.corrupt("too many interfaces".into()));
        }
        let be = self.big_endian;
        let link = if be { u16::from_be_bytes([body[0], body[1]]) } else { u16::from_le_bytes([body[0], body[1]]) };
        let mut iface =
            Interface { link_type: LinkType(link as u32), resolution: Resolution::Pow10(6), offset_secs: 0 };
        for (code, value) in options(&body[8..], be) {
            match code {
                9 if !value.is_empty() => {
                    let v = value[0];
                    iface.resolution = if v & 0x80 != 0 { Resolution::Pow2(v & 0x7f) } else { Resolution::Pow10(v) };
                }
                14 if value.len() >= 8 => {
                    let raw: [u8; 8] = value[..8].try_into().unwrap_or_default();
                    iface.offset_secs = if be { i64::from_be_bytes(raw) } else { i64::from_le_bytes(raw) };
                }
                _ => {}
            }
        }
        self.interfaces.push(iface);
        Ok(())
    }

    fn interface(&self, id: u32) -> Result<Interface, CaptureError> {
        self.interfaces
            .get(id as usize)
            .copied()
            .ok_or_else(|| self.corrupt(format!("packet names interface {id}, which was never described")))
    }
}

/// Iterates pcapng options (code, value), stopping at opt_endofopt or at the first malformed one.
fn options(mut data: &[u8], be: bool) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 4 {
            return None;
        }
        let rd = |b: [u8; 2]| {
            if be {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            }
        };
        let code = rd([data[0], data[1]]);
        let len = rd([data[2], data[3]]) as usize;
        let padded = (len + 3) & !3;
        if code == 0 || data.len() < 4 + padded {
            return None;
        }
        let value = &data[4..4 + len];
        data = &data[4 + padded..];
        Some((code, value))
    })
}

impl<R: Read> PacketSource for PcapNgReader<R> {
    fn frames_read(&self) -> u64 {
        self.frames
    }

    fn take_secrets(&mut self) -> Option<String> {
        self.secrets.take()
    }

    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        self.buf.consume(std::mem::take(&mut self.pending));
        loop {
            let Some((block_type, len)) = self.block_header()? else {
                return Ok(None);
            };
            let be = self.big_endian;
            // Body: the block without its 8-byte header and 4-byte trailer.
            let body_range = 8..len - 4;
            let packet = match block_type {
                IDB => {
                    let body = self.buf.peek(len)[body_range].to_vec();
                    self.add_interface(&body)?;
                    None
                }
                EPB | OPB => {
                    let body = &self.buf.peek(len)[body_range.clone()];
                    if body.len() < 20 {
                        return Err(self.corrupt("packet block too short".into()));
                    }
                    let id = if block_type == EPB {
                        read_u32(&body[0..4], be)
                    } else if be {
                        u16::from_be_bytes([body[0], body[1]]) as u32
                    } else {
                        u16::from_le_bytes([body[0], body[1]]) as u32
                    };
                    let ts_units = ((read_u32(&body[4..8], be) as u64) << 32) | read_u32(&body[8..12], be) as u64;
                    let caplen = read_u32(&body[12..16], be);
                    let orig_len = read_u32(&body[16..20], be);
                    if caplen as usize > body.len() - 20 {
                        return Err(self.corrupt(format!("captured length {caplen} exceeds its block")));
                    }
                    Some((id, ts_units, caplen, orig_len, 8 + 20))
                }
                SPB => {
                    let body = &self.buf.peek(len)[body_range.clone()];
                    if body.len() < 4 {
                        return Err(self.corrupt("simple packet block too short".into()));
                    }
                    let orig_len = read_u32(&body[0..4], be);
                    let caplen = orig_len.min((body.len() - 4) as u32);
                    Some((0, 0, caplen, orig_len, 8 + 4))
                }
                DSB => {
                    let body = &self.buf.peek(len)[body_range];
                    if body.len() >= 8 && read_u32(&body[0..4], be) == SECRETS_TLS_KEY_LOG {
                        let secrets_len = (read_u32(&body[4..8], be) as usize).min(body.len() - 8);
                        let text = String::from_utf8_lossy(&body[8..8 + secrets_len]);
                        let secrets = self.secrets.get_or_insert_with(String::new);
                        secrets.push_str(&text);
                        secrets.push('\n');
                    }
                    None
                }
                t if NUMBERED_NON_PACKETS.contains(&t) => {
                    self.frames += 1;
                    None
                }
                _ => None,
            };
            match packet {
                None => self.buf.consume(len),
                Some((id, ts_units, caplen, orig_len, data_start)) => {
                    let iface = self.interface(id)?;
                    let ts = if block_type == SPB {
                        0
                    } else {
                        iface
                            .resolution
                            .to_nanos(ts_units)
                            .saturating_add(iface.offset_secs.saturating_mul(1_000_000_000))
                    };
                    self.frames += 1;
                    self.pending = len;
                    let block = self.buf.peek(len);
                    return Ok(Some(Frame {
                        ts,
                        link_type: iface.link_type,
                        caplen,
                        orig_len: orig_len.max(caplen),
                        index: self.frames,
                        data: &block[data_start..data_start + caplen as usize],
                    }));
                }
            }
        }
    }
}
