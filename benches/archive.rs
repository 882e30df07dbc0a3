//! A many-file archive on one thread and on all threads: the parallel speed-up of
//! `tlsdiag analyze DIR`. Run with `cargo bench --bench archive`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::io;
use std::path::PathBuf;
use tlsdiag::across::Conclusions;
use tlsdiag::analyze::Session;
use tlsdiag::analyze::Settings;
use tlsdiag::batch;
use tlsdiag::record::Connection;
use tlsdiag::report::Reporter;
use tlsdiag::summary::FileSummary;

/// Counts connections and writes nothing, so the benchmark measures the analysis.
struct Discard(u64);

impl Reporter for Discard {
    fn connection(&mut self, _conn: Connection) -> io::Result<()> {
        self.0 += 1;
        Ok(())
    }
    fn finish(&mut self, _files: &[FileSummary], _profiles: &Conclusions) -> io::Result<()> {
        Ok(())
    }
}

fn archive(c: &mut Criterion) {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/pcapplusplus--tls2.pcap");
    let Ok(bytes) = std::fs::read(&source) else {
        eprintln!("{} not found: skipped", source.display());
        return;
    };
    // Sixteen files of 2.8 MB of real browsing traffic.
    let dir = tempfile::tempdir().expect("temp dir");
    for i in 0..16 {
        std::fs::write(dir.path().join(format!("part{i:02}.pcap")), &bytes).expect("write");
    }
    let inputs = batch::expand(&[dir.path().to_string_lossy().into_owned()], None).expect("inputs");
    let limits = Settings::default();
    let mut group = c.benchmark_group("archive");
    group.throughput(Throughput::Bytes(16 * bytes.len() as u64));
    group.sample_size(10);
    for threads in [1, 2] {
        group.bench_function(format!("{threads}-thread"), |b| {
            b.iter(|| {
                let mut sink = Discard(0);
                let mut session = Session::new(&mut sink);
                let mut result = batch::run(&inputs, &limits, Some(threads), &mut session, &mut |_| {});
                session.finish(&mut result.files).expect("finish");
                sink.0
            })
        });
    }
    group.finish();
}

criterion_group!(benches, archive);
criterion_main!(benches);
