//! Reading a Windows ETL trace against reading the same packets as pcapng: the ETL reader's
//! budget is 2x the pcapng reader (issue 20). The traces are written by the tests' ETL writer
//! from a real capture's frames, repeated to 120,000 packets. Run with `cargo bench --bench etl`.

#[path = "../tests/common/etl_writer.rs"]
mod etl_writer;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use etl_writer::{Clock, Media, Options, SourceFrame, Style};
use std::io::Cursor;
use std::path::PathBuf;
use tlsdiag::analyze::analyze_reader;
use tlsdiag::capture::{open_reader, Frame, LinkType, PcapngWriter};
use tlsdiag::flow::Limits;

const PACKETS: usize = 120_000;

/// The frames of a real capture, repeated with times moving on, to `PACKETS` frames.
fn packets() -> Vec<SourceFrame> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let one = etl_writer::read_capture(&repo.join("tests/fixtures/tls-one-server-many-clients.pcap"));
    let span = one.last().unwrap().ts_ns - one[0].ts_ns + 1_000;
    (0..PACKETS)
        .map(|i| {
            let f = &one[i % one.len()];
            SourceFrame { ts_ns: f.ts_ns + (i / one.len()) as i64 * span, ..f.clone() }
        })
        .collect()
}

fn pcapng(frames: &[SourceFrame]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.pcapng");
    let mut w = PcapngWriter::create(&path, LinkType::ETHERNET, 262_144).unwrap();
    for (i, f) in frames.iter().enumerate() {
        let frame = Frame {
            ts: f.ts_ns,
            link_type: LinkType::ETHERNET,
            caplen: f.data.len() as u32,
            orig_len: f.orig_len,
            index: i as u64 + 1,
            data: &f.data,
        };
        w.write(&frame).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    std::fs::read(&path).unwrap()
}

/// The input shared between iterations, so that the time measured is the reader's and not
/// a fresh copy of the file (page faults) each time.
struct Shared(std::sync::Arc<Vec<u8>>, usize);

impl std::io::Read for Shared {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = &self.0[self.1..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.1 += n;
        Ok(n)
    }
}

fn count(bytes: &std::sync::Arc<Vec<u8>>) -> u64 {
    let mut opened = open_reader(Box::new(Shared(bytes.clone(), 0))).expect("capture");
    let mut n = 0;
    while let Some(f) = opened.source.next_frame().expect("frame") {
        n += f.data.len() as u64 & 1;
    }
    n
}

fn read(c: &mut Criterion) {
    let frames = packets();
    let inputs = [
        ("pcapng", pcapng(&frames)),
        (
            "etl-netsh",
            etl_writer::write(
                &frames,
                &Options {
                    cpus: 4,
                    ..Options::new(Style::Netsh { media: Media::Ethernet, fragment: None, layers: 1 })
                },
            )
            .bytes,
        ),
        (
            "etl-pktmon-compressed",
            etl_writer::write(
                &frames,
                &Options {
                    cpus: 4,
                    clock: Clock::Qpc,
                    ..Options::new(Style::Pktmon {
                        media: Media::Ethernet,
                        components: 1,
                        pkt_size: None,
                        drop: &[],
                        compress: true,
                    })
                },
            )
            .bytes,
        ),
    ];
    let mut group = c.benchmark_group("etl-vs-pcapng-read");
    group.throughput(Throughput::Elements(PACKETS as u64));
    group.sample_size(20);
    for (name, bytes) in &inputs {
        let shared = std::sync::Arc::new(bytes.clone());
        eprintln!("{name}: {} bytes", bytes.len());
        group.bench_function(*name, |b| b.iter(|| count(&shared)));
    }
    group.finish();
    let limits = Limits::default();
    let mut group = c.benchmark_group("etl-vs-pcapng-analyze");
    group.throughput(Throughput::Elements(PACKETS as u64));
    group.sample_size(10);
    for (name, bytes) in &inputs {
        group.bench_function(*name, |b| {
            b.iter(|| analyze_reader(name, Box::new(Cursor::new(bytes.clone())), &limits, &mut |_| {}).connections)
        });
    }
    group.finish();
}

criterion_group!(benches, read);
criterion_main!(benches);
