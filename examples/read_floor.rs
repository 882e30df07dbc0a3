//! The raw read floor of benches/compare.sh: the least work any tool must do on a pcap file,
//! walking its records with 256 KiB `read` calls and touching nothing but the record headers.
//!
//!     cargo run --release --example read_floor -- FILE.pcap

use std::fs::File;
use std::io::Read;

fn main() -> std::io::Result<()> {
    let path = std::env::args().nth(1).expect("usage: read_floor FILE.pcap");
    let mut file = File::open(path)?;
    let mut buf = vec![0u8; 256 * 1024];
    let (mut filled, mut pos) = (0usize, 0usize);
    // The 24-byte file header is skipped like the data of a record.
    let (mut records, mut bytes, mut skip) = (0u64, 0u64, 24usize);
    loop {
        // Keep the unconsumed tail, refill behind it.
        buf.copy_within(pos.min(filled)..filled, 0);
        filled -= pos.min(filled);
        pos = 0;
        let n = file.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
        if skip > 0 {
            let s = skip.min(filled);
            pos += s;
            skip -= s;
        }
        while skip == 0 && filled - pos >= 16 {
            let caplen = u32::from_le_bytes([buf[pos + 8], buf[pos + 9], buf[pos + 10], buf[pos + 11]]) as usize;
            records += 1;
            bytes += caplen as u64;
            let end = pos + 16 + caplen;
            if end <= filled {
                pos = end;
            } else {
                skip = end - filled;
                pos = filled;
            }
        }
    }
    println!("{records} records, {bytes} bytes of frames");
    Ok(())
}
