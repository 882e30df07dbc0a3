//! The stream analyzer (TLS with the TDS and OpenVPN framings in front) on arbitrary bytes from
//! both sides, in arbitrary pieces, with holes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tlsdiag::proto::facts::Seen;
use tlsdiag::proto::transport::StreamAnalyzer;
use tlsdiag_fuzz_common::{steps, Step};

fuzz_target!(|data: &[u8]| {
    let mut stream = Box::new(StreamAnalyzer::new(64 * 1024));
    steps(data, |step, frame| match step {
        Step::Data(side, bytes) => stream.on_data(side, bytes, Seen { frame, ts: 0 }),
        Step::Gap(side) => stream.on_gap(side, frame),
    });
    stream.finish();
    let _ = stream.into_facts().take_tds();
});
