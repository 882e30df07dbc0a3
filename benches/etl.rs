//! Reading a Windows ETL trace against reading the same packets as pcapng: the ETL reader's
//! budget is 2x the pcapng reader (issue 20). The traces are written by the tests' ETL writer
//! from a real capture's frames, repeated to 120,000 packets. Run with `cargo bench --bench etl`.

#[path = "../tests/common/etl_writer.rs"]
mod etl_writer;

use criterion::{criterion_group, Criterion, Throughput};
use etl_writer::{Clock, Media, Options, SourceFrame, Style};
use std::io::Cursor;
use std::path::PathBuf;
use tlsdiag::analyze::analyze_reader;
use tlsdiag::analyze::Settings;
use tlsdiag::capture::{expand_lz77_into, open_reader, Frame, LinkType, PcapngWriter};

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

fn inputs() -> [(&'static str, Vec<u8>); 3] {
    let frames = packets();
    [
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
    ]
}

/// The compressed buffers of a trace: body and expanded size of each.
fn compressed_buffers(file: &[u8]) -> Vec<(&[u8], usize)> {
    let le32 = |at: usize| u32::from_le_bytes(file[at..at + 4].try_into().unwrap()) as usize;
    let mut at = 0;
    let mut out = Vec::new();
    while at < file.len() {
        let (size, filled, flags) = (le32(at), le32(at + 0x30), le32(at + 0x34) & 0xffff);
        if flags & 0x40 != 0 {
            out.push((&file[at + 0x48..at + size], filled - 0x48));
        }
        at += size;
    }
    out
}

fn read(c: &mut Criterion) {
    let inputs = inputs();
    let mut group = c.benchmark_group("etl-vs-pcapng-read");
    group.throughput(Throughput::Elements(PACKETS as u64));
    group.sample_size(20);
    for (name, bytes) in &inputs {
        let shared = std::sync::Arc::new(bytes.clone());
        eprintln!("{name}: {} bytes", bytes.len());
        group.bench_function(*name, |b| b.iter(|| count(&shared)));
    }
    group.finish();
    // The decoder alone on the compressed buffers of the pktmon trace: the floor under
    // reading a compressed trace, whatever the reader around it does.
    let compressed: Vec<(&[u8], usize)> = compressed_buffers(&inputs[2].1);
    let expanded: usize = compressed.iter().map(|(_, n)| n).sum();
    eprintln!("lz77: {} compressed buffers, {expanded} bytes expanded", compressed.len());
    let mut group = c.benchmark_group("etl-lz77");
    group.throughput(Throughput::Bytes(expanded as u64));
    group.sample_size(20);
    let mut out = vec![0u8; 1 << 20];
    group.bench_function("expand-pktmon-buffers", |b| {
        b.iter(|| {
            compressed.iter().map(|(src, n)| expand_lz77_into(src, &mut out[..*n]).expect("expands")).sum::<usize>()
        })
    });
    group.finish();
    let limits = Settings::default();
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

/// `ETL_BENCH_ONCE=NAME` (pcapng, etl-netsh, etl-pktmon-compressed): reads that input once
/// through `read_once` and exits, for instruction counts under valgrind
/// (`--toggle-collect='*read_once*'`) or `perf stat`, which a loaded machine does not skew;
/// `ETL_BENCH_DUMP=FILE` also writes that input to FILE.
///
/// `ETL_BENCH_ROUNDS=K` reads the three inputs in turn K times and prints the fastest read
/// of each and the ratios to pcapng: on a machine others load, the fastest of interleaved
/// rounds compares the readers under the same conditions.
fn main() {
    if let Some(rounds) = std::env::var("ETL_BENCH_ROUNDS").ok().and_then(|k| k.parse::<usize>().ok()) {
        let inputs: Vec<_> = inputs().into_iter().map(|(n, b)| (n, std::sync::Arc::new(b))).collect();
        let mut best = vec![f64::MAX; inputs.len()];
        for _ in 0..rounds {
            for (k, (_, bytes)) in inputs.iter().enumerate() {
                let t = std::time::Instant::now();
                std::hint::black_box(count(bytes));
                best[k] = best[k].min(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        // The floor under each reader: only the bytes of its file read (256 KiB reads, as the
        // readers make them), nothing parsed.
        let mut floor = vec![f64::MAX; inputs.len()];
        let mut chunk = vec![0u8; 256 * 1024];
        for _ in 0..rounds {
            for (k, (_, bytes)) in inputs.iter().enumerate() {
                let t = std::time::Instant::now();
                let mut input = Shared(bytes.clone(), 0);
                let mut sum = 0u64;
                while let Ok(n @ 1..) = std::io::Read::read(&mut input, &mut chunk) {
                    sum += chunk[..n].iter().step_by(4096).map(|&b| b as u64).sum::<u64>();
                }
                std::hint::black_box(sum);
                floor[k] = floor[k].min(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        for (k, (name, bytes)) in inputs.iter().enumerate() {
            println!(
                "{name:24} {:8.2} ms  {:5.2}x pcapng  ({} bytes; reading them alone {:.2} ms)",
                best[k],
                best[k] / best[0],
                bytes.len(),
                floor[k]
            );
        }
        // The decoder alone on the compressed buffers of the pktmon trace.
        let compressed = compressed_buffers(&inputs[2].1);
        let mut out = vec![0u8; 1 << 20];
        let mut expand = f64::MAX;
        for _ in 0..rounds {
            let t = std::time::Instant::now();
            for (src, n) in &compressed {
                std::hint::black_box(expand_lz77_into(src, &mut out[..*n]).expect("expands"));
            }
            expand = expand.min(t.elapsed().as_secs_f64() * 1e3);
        }
        let bytes: usize = compressed.iter().map(|(_, n)| n).sum();
        println!(
            "{:24} {expand:8.2} ms  {:5.2}x pcapng  ({bytes} bytes expanded, {:.2} GB/s)",
            "lz77 decoder alone",
            expand / best[0],
            bytes as f64 / expand / 1e6
        );
        return;
    }
    if let Ok(name) = std::env::var("ETL_BENCH_ONCE") {
        let inputs = inputs();
        let (_, bytes) = inputs.iter().find(|(n, _)| *n == name).expect("ETL_BENCH_ONCE names an input");
        if let Ok(path) = std::env::var("ETL_BENCH_DUMP") {
            std::fs::write(path, bytes).unwrap();
        }
        let shared = std::sync::Arc::new(bytes.clone());
        let n = std::hint::black_box(read_once(&shared));
        eprintln!("{name}: {} bytes read, {n}", bytes.len());
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

#[inline(never)]
fn read_once(bytes: &std::sync::Arc<Vec<u8>>) -> u64 {
    count(bytes)
}
