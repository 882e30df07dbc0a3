//! Recognises compression and capture format from the first bytes of the input.

use super::buffer::RecordBuffer;
use super::etl::{looks_like_etl, EtlReader, SNIFF_LEN};
use super::netmon::NetmonReader;
use super::pcap::{hex4, PcapReader};
use super::pcapng::PcapNgReader;
use super::{CaptureError, PacketSource};
use serde::Serialize;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// What the input turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptureFormat {
    Pcap,
    Pcapng,
    /// Microsoft Network Monitor 1.x or 2.x.
    Netmon,
    /// Windows Event Trace Log of `netsh trace` or `pktmon`.
    Etl,
}

/// An input whose format was recognised, ready to yield frames.
pub struct Opened {
    pub source: Box<dyn PacketSource + Send>,
    pub format: CaptureFormat,
    /// `gzip`, `zstd`, `xz` or `bzip2` when the capture was compressed.
    pub compression: Option<&'static str>,
}

fn is_netmon(head: &[u8]) -> bool {
    head == b"GMBU" || head == b"RTSS"
}

/// Opens a capture file. A plain Network Monitor file is read in place (its frame table sits
/// at the end and needs seeking); everything else streams.
pub fn open_path(path: &Path) -> Result<Opened, CaptureError> {
    let io_err = |source| CaptureError::Io { offset: 0, source };
    let mut file = BufReader::with_capacity(64 * 1024, File::open(path).map_err(io_err)?);
    let head = file.fill_buf().map_err(io_err)?;
    if is_netmon(&head[..head.len().min(4)]) {
        let source = NetmonReader::open(path, None)?;
        return Ok(Opened { source: Box::new(source), format: CaptureFormat::Netmon, compression: None });
    }
    open_reader(Box::new(file))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compression {
    Gzip,
    Zstd,
    Xz,
    Bzip2,
}

fn compression_of(head: &[u8]) -> Option<Compression> {
    match head {
        [0x1f, 0x8b, ..] => Some(Compression::Gzip),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(Compression::Zstd),
        [0xfd, b'7', b'z', b'X', ..] => Some(Compression::Xz),
        [b'B', b'Z', b'h', b'1'..=b'9', ..] => Some(Compression::Bzip2),
        _ => None,
    }
}

/// Opens a capture from any byte stream: unwraps compression (possibly nested), then picks
/// the reader by magic number.
pub fn open_reader(input: Box<dyn Read + Send>) -> Result<Opened, CaptureError> {
    let mut input: Box<dyn BufRead + Send> = Box::new(BufReader::with_capacity(64 * 1024, input));
    let mut compression = None;
    // Two levels at most: a compressed file inside a compressed file is plausible, more is not.
    for _ in 0..2 {
        let head = fill_head(&mut input)?;
        let Some(kind) = compression_of(&head) else {
            break;
        };
        compression.get_or_insert(match kind {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
            Compression::Bzip2 => "bzip2",
        });
        input = match kind {
            Compression::Gzip => Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(input))),
            Compression::Zstd => Box::new(BufReader::new(
                zstd::stream::read::Decoder::with_buffer(input)
                    .map_err(|source| CaptureError::Io { offset: 0, source })?,
            )),
            // Multi-stream decoders: `xz` and `bzip2` may write several streams into one file.
            Compression::Xz => Box::new(BufReader::new(liblzma::bufread::XzDecoder::new_multi_decoder(input))),
            Compression::Bzip2 => Box::new(BufReader::new(bzip2::bufread::MultiBzDecoder::new(input))),
        };
    }
    let head = fill_head(&mut input)?;
    // ETL has no magic number: its first buffer and logfile header event are checked whole.
    let etl = looks_like_etl(&head);
    let buf = RecordBuffer::new(input);
    match &head[..head.len().min(4)] {
        _ if etl => Ok(Opened { source: Box::new(EtlReader::new(buf)?), format: CaptureFormat::Etl, compression }),
        [0xd4, 0xc3, 0xb2, 0xa1] | [0xa1, 0xb2, 0xc3, 0xd4] | [0x4d, 0x3c, 0xb2, 0xa1] | [0xa1, 0xb2, 0x3c, 0x4d] => {
            Ok(Opened { source: Box::new(PcapReader::new(buf)?), format: CaptureFormat::Pcap, compression })
        }
        [0x0a, 0x0d, 0x0d, 0x0a] => {
            Ok(Opened { source: Box::new(PcapNgReader::new(buf)?), format: CaptureFormat::Pcapng, compression })
        }
        m if is_netmon(m) => {
            // A stream cannot seek to the frame table at its end: spool it to a temporary file.
            let mut spool = tempfile::NamedTempFile::new().map_err(|source| CaptureError::Io { offset: 0, source })?;
            io::copy(&mut buf.into_inner(), &mut spool).map_err(|source| CaptureError::Io { offset: 0, source })?;
            let path = spool.into_temp_path();
            let location = path.to_path_buf();
            let source = NetmonReader::open(&location, Some(path))?;
            Ok(Opened { source: Box::new(source), format: CaptureFormat::Netmon, compression })
        }
        [] => Err(CaptureError::Truncated { frame: 0, offset: 0, what: "empty input" }),
        other => Err(CaptureError::UnknownFormat { magic: hex4(other) }),
    }
}

/// The first bytes of the stream (enough to recognise every format), without consuming them.
fn fill_head(input: &mut Box<dyn BufRead + Send>) -> Result<Vec<u8>, CaptureError> {
    // One fill_buf is enough: the buffer holds 64 KiB and a decoder yields whole blocks.
    let mut head = Vec::with_capacity(SNIFF_LEN);
    let buf = input.fill_buf().map_err(|source| CaptureError::Io { offset: 0, source })?;
    head.extend_from_slice(&buf[..buf.len().min(SNIFF_LEN)]);
    Ok(head)
}
