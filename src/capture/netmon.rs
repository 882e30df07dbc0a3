//! Microsoft Network Monitor captures: 1.x (`RTSS`) and 2.x (`GMBU`).
//!
//! Records are found through the frame table, which usually sits at the end of the file, so
//! the reader needs a seekable file: it keeps two buffered handles on it, one walking the frame
//! table and one reading the records it names. Metadata records NetMon adds about the capture
//! (process, network and DNS information) are skipped; those Wireshark numbers as frames are
//! counted as frames so that frame numbers match.

use super::pcap::MAX_RECORD;
use super::{CaptureError, Frame, LinkType, PacketSource};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

const HEADER_LEN: usize = 128;
/// 100-ns intervals between 1601-01-01 (FILETIME epoch) and 1970-01-01.
const FILETIME_UNIX_EPOCH: i64 = 116_444_736_000_000_000;

/// What a record's network type says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RecordKind {
    Packet(LinkType),
    /// Capture metadata Wireshark shows as a frame (events, adapter list, filter).
    NumberedMetadata,
    /// Capture metadata Wireshark does not number (payload headers, network info, DNS cache).
    HiddenMetadata,
}

/// Link type for network types this tool cannot decode; decode counts them as not IP.
const UNDECODED: LinkType = LinkType(u32::MAX);

fn kind_of(network: u16) -> RecordKind {
    match network {
        0 | 1 => RecordKind::Packet(LinkType::ETHERNET),
        // "Tunneling interfaces", "Wireless WAN", "Raw IP frames": IP without a link header.
        7..=9 => RecordKind::Packet(LinkType::RAW),
        // Message Analyzer's own media types (WiFi messages, WFP captures).
        0xE080..=0xE08A => RecordKind::Packet(UNDECODED),
        // A converted pcap: the LINKTYPE_ value under 0xE000.
        n if n & 0xF000 == 0xE000 => RecordKind::Packet(LinkType((n & 0x0FFF) as u32)),
        0xFFE0 | 0xFFFB | 0xFFFF => RecordKind::NumberedMetadata,
        0xFFFC..=0xFFFE => RecordKind::HiddenMetadata,
        _ => RecordKind::Packet(UNDECODED),
    }
}

pub(crate) struct NetmonReader {
    table: BufReader<File>,
    data: BufReader<File>,
    data_pos: u64,
    file_len: u64,
    major: u8,
    minor: u8,
    file_kind: RecordKind,
    start_ns: i64,
    entries_left: u32,
    frames: u64,
    record: Vec<u8>,
    /// Keeps a spooled copy of a compressed or piped capture alive while it is read.
    _spool: Option<tempfile::TempPath>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Seconds since the epoch of a civil date and time (proleptic Gregorian, UTC).
fn civil_to_unix(year: i64, month: i64, day: i64, hour: i64, min: i64, sec: i64) -> i64 {
    let (y, m) = if month <= 2 { (year - 1, month + 9) } else { (year, month - 3) };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hour * 3600 + min * 60 + sec
}

impl NetmonReader {
    /// Opens a NetMon file by path. `spool` owns the file when it is a temporary copy.
    pub(crate) fn open(path: &Path, spool: Option<tempfile::TempPath>) -> Result<Self, CaptureError> {
        let io = |offset| move |source| CaptureError::Io { offset, source };
        let mut file = File::open(path).map_err(io(0))?;
        let file_len = file.metadata().map_err(io(0))?.len();
        let mut header = [0u8; HEADER_LEN];
        file.read_exact(&mut header).map_err(|_| CaptureError::Truncated {
            frame: 0,
            offset: 0,
            what: "Network Monitor file header",
        })?;
        let (minor, major) = (header[4], header[5]);
        if !(1..=2).contains(&major) {
            return Err(CaptureError::Corrupt {
                frame: 0,
                offset: 5,
                reason: format!("Network Monitor major version {major}"),
            });
        }
        let network = u16_at(&header, 6);
        // SYSTEMTIME of the capture start. It carries no time zone; like Wireshark on a UTC
        // machine, it is read as UTC. NetMon 2.3 files carry a UTC time per packet instead.
        let [year, month, _, day, hour, minute, second, millis] =
            std::array::from_fn(|i| u16_at(&header, 8 + 2 * i) as i64);
        // Saturating: a year past 2262 does not fit in nanoseconds (found by fuzzing); the
        // frames are still read, with times pinned at the limit.
        let start_ns = civil_to_unix(year, month, day, hour, minute, second)
            .saturating_mul(1_000_000_000)
            .saturating_add(millis * 1_000_000);
        let table_offset = u32_at(&header, 24) as u64;
        let table_len = u32_at(&header, 28) as u64;
        if table_len % 4 != 0 || table_len == 0 || table_offset + table_len > file_len {
            return Err(CaptureError::Corrupt {
                frame: 0,
                offset: 24,
                reason: format!(
                    "frame table of {table_len} bytes at offset {table_offset} does not fit in the {file_len}-byte file"
                ),
            });
        }
        let mut table = BufReader::with_capacity(64 * 1024, File::open(path).map_err(io(0))?);
        table.seek(SeekFrom::Start(table_offset)).map_err(io(table_offset))?;
        Ok(NetmonReader {
            table,
            data: BufReader::with_capacity(256 * 1024, file),
            data_pos: HEADER_LEN as u64,
            file_len,
            major,
            minor,
            file_kind: kind_of(network),
            start_ns,
            entries_left: (table_len / 4) as u32,
            frames: 0,
            record: Vec::new(),
            _spool: spool,
        })
    }

    fn read_at(&mut self, offset: u64, len: usize, frame: u64, what: &'static str) -> Result<(), CaptureError> {
        if offset != self.data_pos {
            let delta = offset as i64 - self.data_pos as i64;
            self.data.seek_relative(delta).map_err(|source| CaptureError::Io { offset, source })?;
        }
        if offset + len as u64 > self.file_len {
            return Err(CaptureError::Truncated { frame, offset, what });
        }
        self.record.resize(len, 0);
        self.data.read_exact(&mut self.record).map_err(|source| CaptureError::Io { offset, source })?;
        self.data_pos = offset + len as u64;
        Ok(())
    }
}

impl PacketSource for NetmonReader {
    fn frames_read(&self) -> u64 {
        self.frames
    }

    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        loop {
            if self.entries_left == 0 {
                return Ok(None);
            }
            self.entries_left -= 1;
            let frame = self.frames + 1;
            let mut entry = [0u8; 4];
            self.table.read_exact(&mut entry).map_err(|source| CaptureError::Io { offset: 0, source })?;
            let offset = u32::from_le_bytes(entry) as u64;
            let header_len = if self.major == 1 { 8 } else { 16 };
            if offset < HEADER_LEN as u64 || offset >= self.file_len {
                return Err(CaptureError::Corrupt {
                    frame,
                    offset,
                    reason: format!("frame table points past the end of the {}-byte file", self.file_len),
                });
            }
            self.read_at(offset, header_len, frame, "Network Monitor record header")?;
            let h = &self.record;
            let (delta_ns, orig_len, caplen) = if self.major == 1 {
                (u32_at(h, 0) as i64 * 1_000_000, u16_at(h, 4) as u32, u16_at(h, 6) as u32)
            } else {
                // Microseconds as an unsigned 64-bit number which, times ten, is a signed count
                // of 100 ns (the NetMon 3 help on the 2.x format).
                let raw = u64::from_le_bytes(h[0..8].try_into().unwrap_or_default());
                ((raw.wrapping_mul(10) as i64).saturating_mul(100), u32_at(h, 8), u32_at(h, 12))
            };
            if caplen > MAX_RECORD {
                return Err(CaptureError::Corrupt {
                    frame,
                    offset,
                    reason: format!("record length {caplen} exceeds the {MAX_RECORD}-byte limit"),
                });
            }
            let trailer_len = match (self.major, self.minor) {
                (2, 1) => 2,
                (2, 2) => 6,
                (2, m) if m >= 3 => 15,
                _ => 0,
            };
            self.read_at(
                offset + header_len as u64,
                caplen as usize + trailer_len,
                frame,
                "Network Monitor record data",
            )?;
            let trailer = &self.record[caplen as usize..];
            let mut ts = self.start_ns.saturating_add(delta_ns);
            let kind = if trailer_len >= 2 { kind_of(u16_at(trailer, 0)) } else { self.file_kind };
            if trailer_len == 15 {
                let filetime = i64::from_le_bytes(trailer[6..14].try_into().unwrap_or_default());
                ts = filetime.saturating_sub(FILETIME_UNIX_EPOCH).saturating_mul(100);
            }
            match kind {
                RecordKind::HiddenMetadata => continue,
                RecordKind::NumberedMetadata => {
                    self.frames = frame;
                    continue;
                }
                RecordKind::Packet(link_type) => {
                    self.frames = frame;
                    return Ok(Some(Frame {
                        ts,
                        link_type,
                        caplen,
                        orig_len: orig_len.max(caplen),
                        index: frame,
                        data: &self.record[..caplen as usize],
                    }));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_convert_like_the_calendar() {
        assert_eq!(civil_to_unix(1970, 1, 1, 0, 0, 0), 0);
        assert_eq!(civil_to_unix(2000, 2, 29, 12, 34, 56), 951_827_696);
    }

    #[test]
    fn regression_fuzz_start_time_beyond_nanoseconds() {
        // Found by the netmon fuzz target: SYSTEMTIME year 65535 overflowed the start time.
        let mut file = vec![0u8; HEADER_LEN];
        file[..4].copy_from_slice(b"GMBU");
        file[5] = 2; // major version
        file[6] = 1; // Ethernet
        file[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
        file[24..28].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes()); // frame table
        file[28..32].copy_from_slice(&4u32.to_le_bytes());
        file.extend_from_slice(&(HEADER_LEN as u32 + 4).to_le_bytes());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("far-future.cap");
        std::fs::write(&path, &file).unwrap();
        let mut reader = NetmonReader::open(&path, None).expect("header accepted");
        // The one frame the table names lies past the end of the file: an error, not a panic.
        assert!(reader.next_frame().is_err());
    }

    #[test]
    fn network_types_map_to_link_types() {
        assert_eq!(kind_of(1), RecordKind::Packet(LinkType::ETHERNET));
        assert_eq!(kind_of(0xE001), RecordKind::Packet(LinkType::ETHERNET));
        assert_eq!(kind_of(0xE000 | 101), RecordKind::Packet(LinkType::RAW));
        assert_eq!(kind_of(0xFFE0), RecordKind::NumberedMetadata);
        assert_eq!(kind_of(0xFFFD), RecordKind::HiddenMetadata);
    }
}
