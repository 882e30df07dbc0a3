//! The whole pipeline on a pcapng file: reader, decoding, flows, TLS/TDS, verdicts.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A pcapng Section Header Block: the fuzzer spends its time past the magic.
    tlsdiag_fuzz_common::run_capture(&[0x0a, 0x0d, 0x0d, 0x0a], data);
});
