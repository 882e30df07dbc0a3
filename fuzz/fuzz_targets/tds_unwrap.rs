//! The TDS unwrapper on arbitrary bytes from both sides, in arbitrary pieces: it never hands
//! on more TLS bytes than it was given.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tlsdiag::proto::tds::TdsUnwrapper;
use tlsdiag_fuzz_common::{steps, Step};

fuzz_target!(|data: &[u8]| {
    let mut tds = TdsUnwrapper::new();
    let (mut given, mut tls) = (0, Vec::new());
    steps(data, |step, frame| {
        if let Step::Data(side, bytes) = step {
            given += bytes.len();
            tds.unwrap(side, bytes, frame, &mut tls);
        }
    });
    assert!(tls.len() <= given);
});
