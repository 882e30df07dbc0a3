//! The TLS stream analyzer (with TDS detection) on arbitrary bytes from both sides, in
//! arbitrary pieces, with holes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tlsdiag::proto::facts::Seen;
use tlsdiag::proto::tls::TlsAnalyzer;
use tlsdiag_fuzz_common::{steps, Step};

fuzz_target!(|data: &[u8]| {
    let mut tls = TlsAnalyzer::new(64 * 1024);
    steps(data, |step, frame| match step {
        Step::Data(side, bytes) => tls.on_data(side, bytes, Seen { frame, ts: 0 }),
        Step::Gap(side) => tls.on_gap(side, frame),
    });
    tls.finish();
    let _ = tls.take_tds();
});
