//! Microsoft Network Monitor captures give the same connections, facts and verdicts as the
//! pcap they were converted from (with `editcap -F netmon1` / `-F netmon2`), also compressed
//! or piped; corrupt frame tables are reported with the frame number.

mod common;

use common::*;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

fn has_editcap() -> bool {
    have_tool("editcap", &["-v"])
}

fn convert(original: &Path, format: &str, dir: &Path) -> PathBuf {
    let out = dir.join(format!("{}.{format}.cap", original.file_name().unwrap().to_string_lossy()));
    let status = Command::new("editcap").args(["-F", format]).arg(original).arg(&out).status().unwrap();
    assert!(status.success(), "editcap -F {format} {}", original.display());
    out
}

/// Removes what legitimately differs between a capture and its conversion: the file name, and
/// for NetMon 1.x (millisecond clock) every time stamp.
fn comparable(mut v: Value, drop_times: bool) -> Value {
    fn strip(v: &mut Value, drop_times: bool) {
        match v {
            Value::Object(map) => {
                map.remove("file");
                if drop_times {
                    for key in ["ts", "start", "end"] {
                        map.remove(key);
                    }
                }
                for (_, child) in map.iter_mut() {
                    strip(child, drop_times);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| strip(i, drop_times)),
            _ => {}
        }
    }
    strip(&mut v, drop_times);
    v
}

const ORIGINALS: &[&str] = &[
    "samples/handshakes.pcap",
    "../shared/corpus/zeek--tls--tls1.2.pcap",
    "../shared/corpus/ndpi--tls_verylong_certificate.pcap",
    "../shared/corpus/ndpi--tls_2_reasms.pcapng",
    "../shared/corpus/arkime--tls-split-client-hello.pcap",
    "../shared/corpus/ndpi--http_ipv6.pcap",
    "../shared/corpus/flowtest--tls_version_error.pcap",
];

#[test]
fn conversions_give_the_same_connections_facts_and_verdicts() {
    if !has_corpus() {
        return;
    }
    if !has_editcap() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for original in ORIGINALS {
        let original = repo().join(original);
        let expected = connections(&original);
        assert!(!expected.is_empty(), "{}", original.display());
        for (format, drop_times) in [("netmon2", false), ("netmon1", true)] {
            let converted = convert(&original, format, dir.path());
            let got = connections(&converted);
            assert_eq!(got.len(), expected.len(), "{format} {}", original.display());
            for (a, b) in expected.iter().zip(&got) {
                assert_eq!(
                    comparable(a.clone(), drop_times),
                    comparable(b.clone(), drop_times),
                    "{format} {}",
                    original.display()
                );
            }
        }
    }
}

#[test]
fn compressed_and_piped_netmon_read_like_the_file() {
    if !has_editcap() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let converted = convert(&repo().join("samples/handshakes.pcap"), "netmon2", dir.path());
    let expected: Vec<Value> = connections(&converted).into_iter().map(|c| comparable(c, false)).collect();
    // gzip through flate2, then read from a file and from standard input.
    let gz = dir.path().join("handshakes.cap.gz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    enc.write_all(&std::fs::read(&converted).unwrap()).unwrap();
    enc.finish().unwrap();
    let from_gz: Vec<Value> = connections(&gz).into_iter().map(|c| comparable(c, false)).collect();
    assert_eq!(from_gz, expected);
    let run = tlsdiag_with_stdin(&["analyze", "--format", "ndjson", "--all", "-"], &std::fs::read(&converted).unwrap());
    let piped: Vec<Value> = run.stdout.lines().map(|l| comparable(serde_json::from_str(l).unwrap(), false)).collect();
    assert_eq!(piped, expected);
}

/// The converted sample with some bytes overwritten.
fn corrupted(dir: &Path, edit: impl Fn(&mut Vec<u8>)) -> PathBuf {
    let converted = convert(&repo().join("samples/handshakes.pcap"), "netmon2", dir);
    let mut bytes = std::fs::read(&converted).unwrap();
    edit(&mut bytes);
    let out = dir.join("corrupt.cap");
    std::fs::write(&out, bytes).unwrap();
    out
}

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
}

#[test]
fn frame_table_past_the_end_is_corrupt_at_its_header_field() {
    if !has_editcap() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = corrupted(dir.path(), |b| {
        let len = b.len() as u32;
        b[24..28].copy_from_slice(&len.to_le_bytes());
    });
    let run = tlsdiag(&["analyze", path.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("corrupt capture in frame 0 at byte offset 24"), "{}", run.stderr);
}

#[test]
fn a_frame_offset_past_the_end_keeps_the_frames_before_it() {
    if !has_editcap() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Frame 31 (0-based entry 30) is the SYN of the third connection in the sample.
    let path = corrupted(dir.path(), |b| {
        let table = u32_at(b, 24);
        b[table + 30 * 4..table + 31 * 4].copy_from_slice(&u32::MAX.to_le_bytes());
    });
    let run = tlsdiag(&["analyze", "--format", "ndjson", path.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("frame 31") && run.stderr.contains("past the end"), "{}", run.stderr);
    // The first two connections (frames 1-30) were settled before the error.
    let codes: Vec<String> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["verdict"]["code"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes[..2], ["ok".to_string(), "ok".to_string()]);
}

#[test]
fn a_record_longer_than_the_file_is_cut_short_with_its_frame() {
    if !has_editcap() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The last frame's captured length (offset 12 in its 16-byte header) made huge but legal.
    let path = corrupted(dir.path(), |b| {
        let table = u32_at(b, 24);
        let entries = u32_at(b, 28) / 4;
        let last = u32_at(b, table + (entries - 1) * 4);
        b[last + 12..last + 16].copy_from_slice(&60_000u32.to_le_bytes());
    });
    let run = tlsdiag(&["analyze", path.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("cut short in frame 52"), "{}", run.stderr);
}
