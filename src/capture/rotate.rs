//! Saving a long live capture as parts, as tcpdump and dumpcap do: a new part when the current
//! one reaches a size or has covered a span of packet time, the oldest deleted beyond a ring
//! of N, and a new part on request (SIGHUP, for log rotation). Each part is a whole pcapng file;
//! `tlsdiag analyze --merge` over all of them numbers frames as the live capture did.

use super::{Frame, LinkType, Nanos, PcapngWriter};
use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};

/// Section and interface blocks at the head of every part.
const HEADER_BYTES: u64 = 28 + 32;

/// When to start a new part; all `None`: one file, the path given.
#[derive(Clone, Debug, Default)]
pub struct Rotation {
    /// Bytes per part (tcpdump -C).
    pub max_bytes: Option<u64>,
    /// Packet time per part (tcpdump -G).
    pub every: Option<Nanos>,
    /// Parts kept; older ones are deleted (tcpdump -W).
    pub ring: Option<usize>,
}

impl Rotation {
    fn rotates(&self) -> bool {
        self.max_bytes.is_some() || self.every.is_some()
    }
}

pub struct RotatingWriter {
    base: PathBuf,
    rotation: Rotation,
    link_type: LinkType,
    snaplen: u32,
    current: PcapngWriter,
    /// Number of the current part (1-based).
    part: u64,
    /// Bytes in the current part.
    bytes: u64,
    /// Packet time of the current part's first frame.
    opened_at: Option<Nanos>,
    parts: VecDeque<PathBuf>,
}

impl RotatingWriter {
    pub fn create(base: &Path, rotation: Rotation, link_type: LinkType, snaplen: u32) -> io::Result<Self> {
        let path = part_path(base, &rotation, 1);
        let current = PcapngWriter::create(&path, link_type, snaplen)?;
        Ok(RotatingWriter {
            base: base.to_path_buf(),
            rotation,
            link_type,
            snaplen,
            current,
            part: 1,
            bytes: HEADER_BYTES,
            opened_at: None,
            parts: VecDeque::from([path]),
        })
    }

    /// The file being written.
    pub fn current_path(&self) -> &Path {
        self.parts.back().expect("a part is always open")
    }

    pub fn write(&mut self, frame: &Frame<'_>) -> io::Result<()> {
        let size = 32 + frame.data.len().div_ceil(4) as u64 * 4;
        let full = self.rotation.max_bytes.is_some_and(|max| self.bytes > HEADER_BYTES && self.bytes + size > max);
        let old = self.rotation.every.is_some_and(|every| self.opened_at.is_some_and(|t| frame.ts >= t + every));
        if full || old {
            self.reopen()?;
        }
        self.opened_at.get_or_insert(frame.ts);
        self.bytes += size;
        self.current.write(frame)
    }

    /// Closes the current part and starts the next one (the same path again when not rotating:
    /// after a log rotation moved the old file away).
    pub fn reopen(&mut self) -> io::Result<()> {
        self.current.flush()?;
        if self.rotation.rotates() {
            self.part += 1;
        }
        let path = part_path(&self.base, &self.rotation, self.part);
        self.current = PcapngWriter::create(&path, self.link_type, self.snaplen)?;
        self.bytes = HEADER_BYTES;
        self.opened_at = None;
        if self.parts.back() != Some(&path) {
            self.parts.push_back(path);
        }
        while self.rotation.ring.is_some_and(|n| self.parts.len() > n.max(1)) {
            if let Some(oldest) = self.parts.pop_front() {
                std::fs::remove_file(&oldest)?;
            }
        }
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.current.flush()
    }
}

/// `capture.pcapng` itself without rotation; `capture_00001.pcapng`, `capture_00002.pcapng`...
/// with it, which sort in capture order.
fn part_path(base: &Path, rotation: &Rotation, part: u64) -> PathBuf {
    if !rotation.rotates() {
        return base.to_path_buf();
    }
    let stem = base.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = base.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
    base.with_file_name(format!("{stem}_{part:05}{ext}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::open_path;

    fn frame(ts: Nanos, data: &[u8]) -> Frame<'_> {
        Frame {
            ts,
            link_type: LinkType::ETHERNET,
            caplen: data.len() as u32,
            orig_len: data.len() as u32,
            index: 0,
            data,
        }
    }

    fn frames_in(path: &Path) -> Vec<Nanos> {
        let mut opened = open_path(path).unwrap();
        let mut out = Vec::new();
        while let Some(f) = opened.source.next_frame().unwrap() {
            out.push(f.ts);
        }
        out
    }

    #[test]
    fn parts_by_size_hold_whole_frames_and_the_ring_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("cap.pcapng");
        // Each frame is a 32-byte block header plus 100 bytes: two fit in 60 + 2 * 132 bytes.
        let rotation = Rotation { max_bytes: Some(60 + 2 * 132), every: None, ring: Some(2) };
        let mut w = RotatingWriter::create(&base, rotation, LinkType::ETHERNET, 65535).unwrap();
        let data = [7u8; 100];
        for ts in 1..=5 {
            w.write(&frame(ts, &data)).unwrap();
        }
        w.flush().unwrap();
        // Parts 1 (frames 1, 2), 2 (3, 4), 3 (5); the ring of 2 deleted part 1.
        assert!(!dir.path().join("cap_00001.pcapng").exists());
        assert_eq!(frames_in(&dir.path().join("cap_00002.pcapng")), [3, 4]);
        assert_eq!(frames_in(&dir.path().join("cap_00003.pcapng")), [5]);
        assert_eq!(w.current_path(), dir.path().join("cap_00003.pcapng"));
    }

    #[test]
    fn parts_by_time_start_at_the_first_frame_past_the_span() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("cap.pcapng");
        let rotation = Rotation { max_bytes: None, every: Some(10), ring: None };
        let mut w = RotatingWriter::create(&base, rotation, LinkType::ETHERNET, 65535).unwrap();
        for ts in [100, 105, 109, 110, 125] {
            w.write(&frame(ts, &[1, 2, 3])).unwrap();
        }
        w.flush().unwrap();
        assert_eq!(frames_in(&dir.path().join("cap_00001.pcapng")), [100, 105, 109]);
        assert_eq!(frames_in(&dir.path().join("cap_00002.pcapng")), [110]);
        assert_eq!(frames_in(&dir.path().join("cap_00003.pcapng")), [125]);
    }

    #[test]
    fn without_rotation_a_reopen_starts_the_same_path_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("cap.pcapng");
        let mut w = RotatingWriter::create(&base, Rotation::default(), LinkType::ETHERNET, 65535).unwrap();
        w.write(&frame(1, &[1])).unwrap();
        w.flush().unwrap();
        // What log rotation does: move the file away, then ask for a reopen.
        let moved = dir.path().join("cap.pcapng.1");
        std::fs::rename(&base, &moved).unwrap();
        w.reopen().unwrap();
        w.write(&frame(2, &[2])).unwrap();
        w.flush().unwrap();
        assert_eq!(frames_in(&moved), [1]);
        assert_eq!(frames_in(&base), [2]);
    }
}
