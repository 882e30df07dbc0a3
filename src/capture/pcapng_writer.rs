//! A minimal pcapng writer (one section, one interface, nanosecond times), so that what live
//! capture saw can be opened in Wireshark with the same frame numbers as in the verdicts.

use super::{Frame, LinkType};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

pub struct PcapngWriter {
    out: BufWriter<File>,
}

impl PcapngWriter {
    pub fn create(path: &Path, link_type: LinkType, snaplen: u32) -> io::Result<Self> {
        let mut out = BufWriter::with_capacity(256 * 1024, File::create(path)?);
        // Section Header Block: byte-order magic, version 1.0, section length unknown.
        let mut shb = Vec::with_capacity(28);
        shb.extend_from_slice(&0x0A0D_0D0Au32.to_le_bytes());
        shb.extend_from_slice(&28u32.to_le_bytes());
        shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        shb.extend_from_slice(&28u32.to_le_bytes());
        out.write_all(&shb)?;
        // Interface Description Block with if_tsresol = 9 (nanoseconds).
        let mut idb = Vec::with_capacity(32);
        idb.extend_from_slice(&1u32.to_le_bytes());
        idb.extend_from_slice(&32u32.to_le_bytes());
        idb.extend_from_slice(&(link_type.0 as u16).to_le_bytes());
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&snaplen.to_le_bytes());
        idb.extend_from_slice(&[9, 0, 1, 0, 9, 0, 0, 0]); // if_tsresol, padded
        idb.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
        idb.extend_from_slice(&32u32.to_le_bytes());
        out.write_all(&idb)?;
        Ok(PcapngWriter { out })
    }

    /// Appends one frame as an Enhanced Packet Block.
    pub fn write(&mut self, frame: &Frame<'_>) -> io::Result<()> {
        let padded = frame.data.len().div_ceil(4) * 4;
        let total = (32 + padded) as u32;
        let ts = frame.ts.max(0) as u64;
        let out = &mut self.out;
        out.write_all(&6u32.to_le_bytes())?;
        out.write_all(&total.to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        out.write_all(&((ts >> 32) as u32).to_le_bytes())?;
        out.write_all(&(ts as u32).to_le_bytes())?;
        out.write_all(&(frame.data.len() as u32).to_le_bytes())?;
        out.write_all(&frame.orig_len.to_le_bytes())?;
        out.write_all(frame.data)?;
        out.write_all(&[0u8; 3][..padded - frame.data.len()])?;
        out.write_all(&total.to_le_bytes())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::open_path;

    #[test]
    fn written_frames_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.pcapng");
        let data: Vec<Vec<u8>> = vec![vec![1, 2, 3], vec![4; 60], vec![]];
        {
            let mut w = PcapngWriter::create(&path, LinkType::ETHERNET, 65535).unwrap();
            for (i, d) in data.iter().enumerate() {
                let frame = Frame {
                    ts: 1_700_000_000_123_456_789 + i as i64,
                    link_type: LinkType::ETHERNET,
                    caplen: d.len() as u32,
                    orig_len: d.len() as u32 + 10,
                    index: i as u64 + 1,
                    data: d,
                };
                w.write(&frame).unwrap();
            }
            w.flush().unwrap();
        }
        let mut opened = open_path(&path).unwrap();
        for (i, d) in data.iter().enumerate() {
            let f = opened.source.next_frame().unwrap().unwrap();
            assert_eq!(f.data, &d[..]);
            assert_eq!(f.ts, 1_700_000_000_123_456_789 + i as i64);
            assert_eq!(f.orig_len, d.len() as u32 + 10);
            assert_eq!(f.link_type, LinkType::ETHERNET);
        }
        assert!(opened.source.next_frame().unwrap().is_none());
    }
}
