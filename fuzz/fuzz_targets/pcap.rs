//! The whole pipeline on a pcap file: reader, decoding, flows, TLS/TDS, verdicts.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Classic pcap, microsecond, little-endian: the fuzzer spends its time past the magic.
    tlsdiag_fuzz_common::run_capture(&[0xd4, 0xc3, 0xb2, 0xa1], data);
});
