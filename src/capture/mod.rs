//! Capture files in, frames out.
//!
//! Owns everything between the bytes of a capture file and a [`Frame`]: recognising the
//! compression and the format from the first bytes (never from the file name), and one
//! streaming reader per format. A reader never panics and never allocates more than one
//! bounded record buffer; a truncated or corrupt file gives a [`CaptureError`] that names the
//! frame and the byte offset, after every frame before it has been delivered.

mod buffer;
mod etl;
mod loss;
mod merge;
mod netmon;
mod pcap;
mod pcapng;
mod pcapng_writer;
mod rotate;
mod sniff;

pub use etl::{expand_lz77, expand_lz77_into, EtlSummary, HostDrop};
pub use loss::CaptureLoss;
pub use merge::MergedSource;
pub use pcapng_writer::PcapngWriter;
pub use rotate::{RotatingWriter, Rotation};
pub use sniff::{open_path, open_reader, CaptureFormat, Opened};

use std::io;
use thiserror::Error;

/// Link-layer header type, as numbered by tcpdump.org's LINKTYPE_ registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    /// DLT_RAW as OpenBSD numbers it (12) and as most others do (14).
    pub const RAW_12: LinkType = LinkType(12);
    pub const RAW_14: LinkType = LinkType(14);
    pub const LOOP: LinkType = LinkType(108);
    pub const RAW: LinkType = LinkType(101);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);
    /// 802.11 frames without a radio header, behind radiotap, and behind PPI.
    pub const IEEE802_11: LinkType = LinkType(105);
    pub const IEEE802_11_RADIOTAP: LinkType = LinkType(127);
    pub const PPI: LinkType = LinkType(192);
}

pub use crate::time::Nanos;

/// One captured frame, borrowed from the reader's buffer until the next call.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Capture time in nanoseconds since the Unix epoch.
    pub ts: Nanos,
    pub link_type: LinkType,
    /// Bytes present in the capture (may be less than `orig_len` when a snap length cut the frame).
    pub caplen: u32,
    /// Length of the frame on the wire.
    pub orig_len: u32,
    /// 1-based frame number, as Wireshark shows it.
    pub index: u64,
    pub data: &'a [u8],
}

/// Something that yields frames: a capture file reader or a live interface.
pub trait PacketSource {
    /// The next frame, `Ok(None)` at a clean end of input.
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError>;
    /// Frames numbered so far, including records Wireshark numbers without a packet in them.
    fn frames_read(&self) -> u64;
    /// TLS key log text the capture carried since the last call (pcapng Decryption Secrets
    /// Blocks); formats without such blocks have none.
    fn take_secrets(&mut self) -> Option<String> {
        None
    }
    /// What a Windows ETL trace says beyond its packets (providers, lost events, drops);
    /// other formats have nothing of the kind.
    fn etl_summary(&self) -> Option<EtlSummary> {
        None
    }
    /// Packets a component of the capturing host dropped (pktmon event 170) since the last
    /// call; they are not frames of the capture.
    fn take_host_drops(&mut self) -> Vec<HostDrop> {
        Vec::new()
    }
}

/// Why a capture could not be read any further.
#[derive(Debug, Error)]
pub enum CaptureError {
    #[error("read error at byte offset {offset}: {source}")]
    Io {
        offset: u64,
        #[source]
        source: io::Error,
    },
    #[error("file is cut short in frame {frame} at byte offset {offset}: {what}")]
    Truncated { frame: u64, offset: u64, what: &'static str },
    #[error("corrupt capture in frame {frame} at byte offset {offset}: {reason}")]
    Corrupt { frame: u64, offset: u64, reason: String },
    #[error("{part}: {source}")]
    InPart {
        part: String,
        #[source]
        source: Box<CaptureError>,
    },
    #[error("not a capture file this tool reads (first bytes {magic})")]
    UnknownFormat { magic: String },
}

impl CaptureError {
    /// True when the input is not a capture at all (as opposed to a damaged one).
    pub fn is_not_a_capture(&self) -> bool {
        matches!(self, CaptureError::UnknownFormat { .. } | CaptureError::Truncated { what: "empty input", .. })
    }
}
