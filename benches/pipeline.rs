//! Throughput of the whole offline pipeline (read, decode, flow table, TLS, verdicts) on real
//! captures held in memory, in bytes per second. Run with `cargo bench`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::io::Cursor;
use std::path::PathBuf;
use tlsdiag::analyze::analyze_reader;
use tlsdiag::analyze::Settings;
use tlsdiag::capture::open_reader;
use tlsdiag::decode::{decode, Decoded};

fn capture(relative: &str) -> Option<Vec<u8>> {
    std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)).ok()
}

fn pipeline(c: &mut Criterion) {
    let limits = Settings::default();
    let mut group = c.benchmark_group("analyze");
    for (name, path) in [
        ("sample", "samples/handshakes.pcap"),
        // 2.8 MB of real browsing: many TLS connections with bulk data after the handshake.
        ("pcapplusplus-tls2", "../shared/corpus/pcapplusplus--tls2.pcap"),
        ("mercury-capture2", "../shared/corpus/mercury--capture2.pcap"),
    ] {
        let Some(bytes) = capture(path) else {
            eprintln!("{path} not found: skipped");
            continue;
        };
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut connections = 0u64;
                let summary =
                    analyze_reader(name, Box::new(Cursor::new(bytes.clone())), &limits, &mut |_| connections += 1);
                assert!(summary.error.is_none());
                connections
            })
        });
    }
    group.finish();
}

/// Each stage on its own: reading records, then decoding them, then the whole pipeline, on one
/// capture of real browsing traffic, so a regression shows where it is.
fn stages(c: &mut Criterion) {
    let Some(bytes) = capture("../shared/corpus/pcapplusplus--tls2.pcap") else {
        return;
    };
    // Packets per second here (the analyze group reports bytes per second).
    let packets = {
        let mut opened = open_reader(Box::new(Cursor::new(bytes.clone()))).expect("capture");
        let mut n = 0u64;
        while let Ok(Some(_)) = opened.source.next_frame() {
            n += 1;
        }
        n
    };
    let mut group = c.benchmark_group("stages");
    group.throughput(Throughput::Elements(packets));
    group.bench_function("read", |b| {
        b.iter(|| {
            let mut opened = open_reader(Box::new(Cursor::new(bytes.clone()))).expect("capture");
            let mut frames = 0u64;
            while let Ok(Some(_)) = opened.source.next_frame() {
                frames += 1;
            }
            frames
        })
    });
    group.bench_function("read+decode", |b| {
        b.iter(|| {
            let mut opened = open_reader(Box::new(Cursor::new(bytes.clone()))).expect("capture");
            let mut tcp = 0u64;
            while let Ok(Some(frame)) = opened.source.next_frame() {
                tcp += matches!(decode(&frame), Decoded::Tcp(_)) as u64;
            }
            tcp
        })
    });
    let limits = Settings::default();
    group.bench_function("whole", |b| {
        b.iter(|| analyze_reader("tls2", Box::new(Cursor::new(bytes.clone())), &limits, &mut |_| {}).connections)
    });
    group.finish();
}

criterion_group!(benches, pipeline, stages);
criterion_main!(benches);
