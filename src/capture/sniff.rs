//! Recognises compression and capture format from the first bytes of the input.

use super::buffer::RecordBuffer;
use super::pcap::{hex4, PcapReader};
use super::pcapng::PcapNgReader;
use super::{CaptureError, PacketSource};
use serde::Serialize;
use std::io::{BufRead, BufReader, Read};

/// What the input turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptureFormat {
    Pcap,
    Pcapng,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compression {
    Gzip,
    Zstd,
}

fn compression_of(head: &[u8]) -> Option<Compression> {
    match head {
        [0x1f, 0x8b, ..] => Some(Compression::Gzip),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(Compression::Zstd),
        _ => None,
    }
}

type Source = Box<dyn PacketSource + Send>;

/// Opens a capture from any byte stream: unwraps compression (possibly nested), then picks
/// the reader by magic number.
pub fn open_reader(input: Box<dyn Read + Send>) -> Result<(Source, CaptureFormat, Option<&'static str>), CaptureError> {
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
        });
        input = match kind {
            Compression::Gzip => Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(input))),
            Compression::Zstd => Box::new(BufReader::new(
                zstd::stream::read::Decoder::with_buffer(input)
                    .map_err(|source| CaptureError::Io { offset: 0, source })?,
            )),
        };
    }
    let head = fill_head(&mut input)?;
    let buf = RecordBuffer::new(input);
    match head.as_slice() {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0xa1, 0xb2, 0xc3, 0xd4] | [0x4d, 0x3c, 0xb2, 0xa1] | [0xa1, 0xb2, 0x3c, 0x4d] => {
            Ok((Box::new(PcapReader::new(buf)?), CaptureFormat::Pcap, compression))
        }
        [0x0a, 0x0d, 0x0d, 0x0a] => Ok((Box::new(PcapNgReader::new(buf)?), CaptureFormat::Pcapng, compression)),
        [b'G', b'M', b'B', b'U'] | [b'R', b'T', b'S', b'S'] => {
            Err(CaptureError::Unsupported("Microsoft Network Monitor (.cap); convert it with `editcap -F pcapng`"))
        }
        [] => Err(CaptureError::Truncated { frame: 0, offset: 0, what: "empty input" }),
        other => Err(CaptureError::UnknownFormat { magic: hex4(other) }),
    }
}

/// The first four bytes of the stream, without consuming them.
fn fill_head(input: &mut Box<dyn BufRead + Send>) -> Result<Vec<u8>, CaptureError> {
    // One fill_buf is enough: the buffer holds 64 KiB and a decoder yields whole blocks.
    let mut head = Vec::with_capacity(4);
    let buf = input.fill_buf().map_err(|source| CaptureError::Io { offset: 0, source })?;
    head.extend_from_slice(&buf[..buf.len().min(4)]);
    Ok(head)
}
