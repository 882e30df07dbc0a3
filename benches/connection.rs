//! The per-connection path: one real handshake (ClientHello, ServerHello, certificate chain,
//! through to its settled record) repeated as many distinct connections, the way a busy
//! server's capture repeats it. Reports connections per second. Run with
//! `cargo bench --bench connection`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::io::Cursor;
use std::path::PathBuf;
use tlsdiag::analyze::analyze_reader;
use tlsdiag::analyze::Settings;

/// Connections per iteration.
const COPIES: usize = 1000;

/// A little-endian Ethernet pcap of one IPv4 connection repeated `copies` times: copy k moves
/// the client (the side not on the first packet's destination port) to 10.k/256.k%256.x and
/// starts a second after the previous copy ended, so each copy is a connection of its own.
fn replicate(pcap: &[u8], copies: usize) -> Vec<u8> {
    let mut records = Vec::new();
    let mut pos = 24;
    while pos + 16 <= pcap.len() {
        let field = |at: usize| u32::from_le_bytes(pcap[pos + at..pos + at + 4].try_into().expect("4 bytes"));
        let (sec, caplen) = (field(0), field(8) as usize);
        records.push((sec, pos, caplen));
        pos += 16 + caplen;
    }
    let span = records.last().map_or(0, |r| r.0) - records.first().map_or(0, |r| r.0) + 1;
    let server_port = {
        let (_, at, _) = records[0];
        let tcp = at + 16 + 14 + 20;
        [pcap[tcp + 2], pcap[tcp + 3]]
    };
    let mut out = pcap[..24].to_vec();
    for k in 0..copies {
        for &(sec, at, caplen) in &records {
            let mut header = pcap[at..at + 16].to_vec();
            header[..4].copy_from_slice(&(sec + k as u32 * span).to_le_bytes());
            let mut frame = pcap[at + 16..at + 16 + caplen].to_vec();
            let ip = 14;
            if k > 0 && frame.len() >= ip + 20 && frame[ip] >> 4 == 4 {
                let ihl = usize::from(frame[ip] & 15) * 4;
                let dport = [frame[ip + ihl + 2], frame[ip + ihl + 3]];
                let client = if dport == server_port { ip + 12 } else { ip + 16 };
                frame[client..client + 3].copy_from_slice(&[10, (k / 256 % 256) as u8, (k % 256) as u8]);
                frame[ip + 10..ip + 12].copy_from_slice(&[0, 0]);
                let sum = checksum(&frame[ip..ip + ihl]);
                frame[ip + 10..ip + 12].copy_from_slice(&sum.to_be_bytes());
            }
            out.extend_from_slice(&header);
            out.extend_from_slice(&frame);
        }
    }
    out
}

fn checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header.chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))).sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn per_connection(c: &mut Criterion) {
    let limits = Settings::default();
    let mut group = c.benchmark_group("connection");
    group.sample_size(20);
    for (name, path) in [
        // OpenSSL TLS 1.2, a leaf and its CA in the Certificate message.
        ("tls12-ok", "tests/fixtures/tls12-ok.pcap"),
        // A public TLS 1.2 capture with a real CA-issued chain (zeek's test suite).
        ("zeek-tls12", "../shared/corpus/zeek--tls--tls1.2.pcap"),
    ] {
        let Ok(one) = std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)) else {
            eprintln!("{path} not found: skipped");
            continue;
        };
        let bytes = replicate(&one, COPIES);
        // The copies really are distinct connections with a certificate chain each.
        let mut chains = 0;
        analyze_reader(name, Box::new(Cursor::new(bytes.clone())), &limits, &mut |conn| {
            chains += conn.facts.tls.as_ref().and_then(|t| t.server_certificates.as_ref()).is_some() as usize
        });
        assert_eq!(chains, COPIES, "{name}");
        group.throughput(Throughput::Elements(COPIES as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut connections = 0u64;
                analyze_reader(name, Box::new(Cursor::new(bytes.clone())), &limits, &mut |_| connections += 1);
                connections
            })
        });
    }
    group.finish();
}

criterion_group!(benches, per_connection);
criterion_main!(benches);
