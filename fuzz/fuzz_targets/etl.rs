//! The whole pipeline on a Windows ETL trace: buffers, LZ77, event headers, the per-CPU time
//! merge, pktmon and NDIS packets, then decoding, flows, TLS/TDS and verdicts. ETL has no
//! magic number: the input is the file from its first byte.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tlsdiag_fuzz_common::run_capture(&[], data);
});
