//! A SYN flood around real handshakes: a million half-open connections (bare SYNs, the one
//! kind of packet no peer here can send a million of in a test's time) spliced into two real
//! captures. The table stays within `--max-flows` by evicting half-open connections, the
//! evictions are counted in the summary, and both real connections keep their verdicts and
//! frame numbers. Peak memory is measured by `benches/flood.sh`, not here.

mod common;

use common::*;
use std::io::Write;

const FLOOD: u64 = 1_000_000;

/// The records of a pcap file from tcpdump (microseconds, little-endian): (ts_sec, ts_usec, bytes).
fn records(name: &str) -> Vec<(u32, u32, Vec<u8>)> {
    let data = std::fs::read(fixture(name)).unwrap();
    assert_eq!(&data[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
    let mut out = Vec::new();
    let mut pos = 24;
    while pos + 16 <= data.len() {
        let word = |i: usize| u32::from_le_bytes(data[pos + i..pos + i + 4].try_into().unwrap());
        let (sec, usec, caplen) = (word(0), word(4), word(8) as usize);
        out.push((sec, usec, data[pos + 16..pos + 16 + caplen].to_vec()));
        pos += 16 + caplen;
    }
    out
}

/// An Ethernet + IPv4 + TCP SYN from 10.(n)/16 to 10.0.0.2:443.
fn syn(n: u64) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let src = [10, 1 + (n >> 16) as u8, (n >> 8) as u8, n as u8];
    let mut ip = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0];
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&[10, 0, 0, 2]);
    f.extend_from_slice(&ip);
    let sport = 1024 + (n % 60000) as u16;
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&443u16.to_be_bytes());
    f.extend_from_slice(&(n as u32).to_be_bytes()); // seq
    f.extend_from_slice(&[0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
    f
}

fn write_record(out: &mut impl Write, sec: u32, usec: u32, frame: &[u8]) {
    let len = (frame.len() as u32).to_le_bytes();
    out.write_all(&sec.to_le_bytes()).unwrap();
    out.write_all(&usec.to_le_bytes()).unwrap();
    out.write_all(&len).unwrap();
    out.write_all(&len).unwrap();
    out.write_all(frame).unwrap();
}

/// The line of `--format lines` for the connection of this client port.
fn line_of<'a>(out: &'a str, client_port: &str) -> &'a str {
    let needle = format!("127.0.0.1:{client_port} -> 127.0.0.1:4433 ");
    out.lines().find(|l| l.contains(&needle)).unwrap_or_else(|| panic!("no line for {client_port}"))
}

#[test]
fn a_million_half_open_connections_do_not_push_out_real_handshakes() {
    let ok = records("tls12-ok.pcap");
    let mismatch = records("tls12-cipher-mismatch.pcap");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flood.pcap");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    out.write_all(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0]).unwrap();
    // tls12-ok up to its ServerHello (frame 6), the flood (one SYN a microsecond), the rest of
    // tls12-ok one second later, then the whole cipher mismatch.
    let (base_sec, base_usec) = (ok[0].0, ok[0].1);
    for (sec, usec, frame) in &ok[..6] {
        write_record(&mut out, *sec, *usec, frame);
    }
    for n in 0..FLOOD {
        let t = base_usec as u64 + 10_000 + n;
        write_record(&mut out, base_sec + (t / 1_000_000) as u32, (t % 1_000_000) as u32, &syn(n));
    }
    for (sec, usec, frame) in &ok[6..] {
        write_record(&mut out, sec + 2, *usec, frame);
    }
    for (sec, usec, frame) in &mismatch {
        write_record(&mut out, sec - mismatch[0].0 + base_sec + 3, *usec, frame);
    }
    drop(out);

    let run = tlsdiag(&["analyze", "--format", "lines", path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // tls12-ok: ClientHello 4, ServerHello 6, both Finished in its frame 9 (README of the
    // fixtures), which the flood moved by a million.
    let good = line_of(&run.stdout, "49000");
    assert!(good.contains(" ok (certain"), "{good}");
    assert!(
        good.contains(&format!("[frames: 4 ClientHello; 6 ServerHello; {} both Finished seen]", 9 + FLOOD)),
        "{good}"
    );
    // tls12-cipher-mismatch: ClientHello 4, fatal alert 6, after the 15 frames of tls12-ok.
    let offset = FLOOD + 15;
    let refused = line_of(&run.stdout, "53442");
    assert!(refused.contains(" cipher_mismatch (likely"), "{refused}");
    assert!(refused.contains(&format!("[frames: {} ClientHello; {} fatal alert", offset + 4, offset + 6)), "{refused}");
    // 1,000,002 connections. During the flood the table (default --max-flows 200,000) holds
    // tls12-ok and 199,999 SYNs; every later SYN evicts one: 1,000,000 - 199,999 evictions.
    // tls12-ok then closes by itself, and the cipher mismatch finds a free slot.
    assert!(
        run.stdout.contains(&format!("{} connection(s), {} frame(s)", FLOOD + 2, FLOOD + 25)),
        "{}",
        tail(&run.stdout)
    );
    assert!(run.stdout.contains("800001 connection(s) settled early"), "{}", tail(&run.stdout));
    assert!(run.stdout.contains(&format!("syn_timeout                  {FLOOD}")), "{}", tail(&run.stdout));
}

fn tail(s: &str) -> String {
    s.lines().rev().take(12).collect::<Vec<_>>().join("\n")
}
