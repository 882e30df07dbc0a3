//! What the fuzz targets share: the capture driver and the decoding of a fuzz input into the
//! chunks and segments a TCP connection delivers.

use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr};
use tlsdiag::analyze::analyze_reader;
use tlsdiag::decode::{TcpFlags, TcpSegment};
use tlsdiag::flow::{FlowTable, Limits};
use tlsdiag::proto::facts::Seen;
use tlsdiag::record::Connection;

/// Limits small enough that the fuzzer reaches them (table full, reordering limits).
pub fn fuzz_limits() -> Limits {
    Limits {
        max_flows: 64,
        max_out_of_order_segments: 8,
        max_out_of_order_bytes: 16 * 1024,
        max_handshake_message: 64 * 1024,
        ..Limits::default()
    }
}

/// Runs the whole pipeline over `magic` followed by `data`, as a capture file.
pub fn run_capture(magic: &[u8], data: &[u8]) {
    let mut bytes = magic.to_vec();
    bytes.extend_from_slice(data);
    let summary = analyze_reader("fuzz", Box::new(Cursor::new(bytes)), &fuzz_limits().into(), &mut |conn| {
        // Serialising walks every field a report prints.
        let _ = serde_json::to_vec(&conn);
    });
    assert!(summary.connections <= summary.frames, "more connections than frames");
}

/// What one step of a connection's byte stream is: bytes of a side, or a hole in them.
pub enum Step<'a> {
    Data(usize, &'a [u8]),
    Gap(usize),
}

/// Splits `data` into steps: a control byte (bit 0: side, bits 1-7: length; 0 means a gap)
/// followed by that many bytes.
pub fn steps(data: &[u8], mut each: impl FnMut(Step<'_>, u64)) {
    let (mut pos, mut frame) = (0, 1);
    while pos < data.len() {
        let control = data[pos];
        pos += 1;
        let side = (control & 1) as usize;
        let len = (control >> 1) as usize;
        if len == 0 {
            each(Step::Gap(side), frame);
        } else {
            let end = (pos + len).min(data.len());
            each(Step::Data(side, &data[pos..end]), frame);
            pos = end;
        }
        frame += 1;
    }
}

/// Feeds the flow table segments described by `data`: 5-byte headers (flags and side, a 16-bit
/// sequence offset, a length, a time step) whose payload is taken from the input itself, so
/// segments overlap, repeat, reorder and leave holes. Every connection is then classified.
pub fn run_segments(data: &[u8]) {
    let mut table = FlowTable::new(fuzz_limits());
    let client: IpAddr = Ipv4Addr::new(10, 0, 0, 1).into();
    let server: IpAddr = Ipv4Addr::new(10, 0, 0, 2).into();
    let isn = [0xffff_ff00u32, 7];
    let mut ts = 0i64;
    for (i, h) in data.chunks_exact(5).enumerate() {
        let side = (h[0] & 1) as usize;
        let flags = TcpFlags { syn: h[0] & 2 != 0, ack: h[0] & 4 != 0, fin: h[0] & 8 != 0, rst: h[0] & 16 != 0 };
        let offset = u16::from_be_bytes([h[1], h[2]]) as usize;
        let start = offset % data.len();
        let payload = &data[start..(start + h[3] as usize).min(data.len())];
        ts += h[4] as i64 * 1_000_000_000;
        let (src, dst, sport, dport) =
            if side == 0 { (client, server, 50000, 443) } else { (server, client, 443, 50000) };
        let seg = TcpSegment {
            src,
            dst,
            // A few connections: the port varies with the top bits of the control byte.
            sport: sport ^ ((h[0] >> 6) as u16 * (side == 0) as u16),
            dport: dport ^ ((h[0] >> 6) as u16 * (side == 1) as u16),
            seq: isn[side].wrapping_add(offset as u32),
            ack: 0,
            flags,
            payload,
            wire_len: payload.len() as u32,
        };
        table.on_segment(&seg, Seen { frame: i as u64 + 1, ts });
    }
    table.finish_all();
    for flow in table.take_finished() {
        let conn = Connection::new("fuzz", tlsdiag::facts::Facts::from_flow(flow));
        let _ = serde_json::to_vec(&conn);
    }
}
