//! The whole pipeline on a Network Monitor file: reader, decoding, flows, TLS/TDS, verdicts.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Network Monitor 2.x (GMBU): the fuzzer spends its time past the magic.
    tlsdiag_fuzz_common::run_capture(&*b"GMBU", data);
});
