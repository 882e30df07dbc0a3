//! TCP reassembly and the flow table on segments that overlap, repeat, reorder and leave holes,
//! then classification of every connection.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tlsdiag_fuzz_common::run_segments(data);
});
