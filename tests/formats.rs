//! Every capture format and link type of ../shared/corpus is read like tshark reads it: the
//! same number of frames, and each connection's first frame at the same time.

mod common;

use common::*;
use serde_json::Value;
use std::collections::HashMap;
use std::process::Command;

/// Readable captures of the corpus (the corrupt ones are tests/errors.rs's).
fn readable_corpus() -> Vec<String> {
    let manifest = std::fs::read_to_string(corpus("MANIFEST.tsv")).unwrap();
    manifest
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let ok = ["pcap", "netmon"].iter().any(|p| f[1].starts_with(p)) && !f[1].contains("lz4");
            ok.then(|| f[0].to_string())
        })
        .filter(|name| {
            !matches!(
                name.as_str(),
                "libpcap--pcap-invalid-version-1.pcap"
                    | "libpcap--shb-option-too-long.pcapng"
                    | "libpcap--pcapng-invalid-vers-1.pcapng"
                    | "zeek--tls--tls1.2.truncated-file.pcap"
                    | "pcap-parser--err-eof.bin"
                    | "pcap-parser--err-buffertoosmall.pcapng"
            )
        })
        .collect()
}

/// frame number -> epoch time in nanoseconds, as tshark reads the file (None where the frame
/// has no time, as in a Simple Packet Block).
fn tshark_times(path: &std::path::Path) -> HashMap<u64, Option<i64>> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(path)
        .args(["-T", "fields", "-e", "frame.number", "-e", "frame.time_epoch"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (n, t) = l.split_once('\t')?;
            let (secs, frac) = t.split_once('.').unwrap_or((t, "0"));
            let frac = format!("{frac:0<9}");
            let nanos = secs
                .parse::<i64>()
                .ok()
                .and_then(|s| s.checked_mul(1_000_000_000))
                .and_then(|s| s.checked_add(frac[..9].parse::<i64>().ok()?));
            Some((n.parse().ok()?, nanos))
        })
        .collect()
}

#[test]
fn frame_counts_and_times_agree_with_tshark() {
    if !has_corpus() {
        return;
    }
    if !has_tshark() {
        return;
    }
    let files = readable_corpus();
    assert!(files.len() > 150);
    let mut problems = Vec::new();
    for name in &files {
        let path = corpus(name);
        let run = tlsdiag(&["analyze", "--format", "json", "--all", path.to_str().unwrap()]);
        if run.code != 0 {
            problems.push(format!("{name}: exit {}: {}", run.code, run.stderr.trim()));
            continue;
        }
        let doc: Value = serde_json::from_str(&run.stdout).unwrap();
        let times = tshark_times(&path);
        let frames = doc["files"][0]["frames"].as_u64().unwrap();
        if frames != times.len() as u64 {
            problems.push(format!("{name}: {frames} frames, tshark {}", times.len()));
        }
        for c in doc["connections"].as_array().unwrap() {
            let frame = c["first_frame"].as_u64().unwrap();
            let Some(Some(t)) = times.get(&frame) else { continue };
            let expected = Some(tlsdiag::time::rfc3339_nanos(*t));
            if c["start"].as_str() != expected.as_deref() {
                problems.push(format!("{name}: frame {frame} at {}, tshark {expected:?}", c["start"]));
                break;
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn compressed_copies_read_like_their_originals() {
    if !has_corpus() {
        return;
    }
    for (plain, packed, format, compression) in [
        ("arkime--openssl-tls1_2.pcap", "arkime--openssl-tls1_2.pcap.zst", "pcap", "zstd"),
        ("ndpi--tls_ech.pcapng", "ndpi--tls_ech.pcapng.gz", "pcapng", "gzip"),
        ("retina--tls_ciphers.pcap", "retina--tls_ciphers.pcap.zst", "pcap", "zstd"),
    ] {
        let a = tlsdiag(&["analyze", "--format", "json", corpus(plain).to_str().unwrap()]);
        let b = tlsdiag(&["analyze", "--format", "json", corpus(packed).to_str().unwrap()]);
        let (a, b): (Value, Value) =
            (serde_json::from_str(&a.stdout).unwrap(), serde_json::from_str(&b.stdout).unwrap());
        assert_eq!(b["files"][0]["format"], format);
        assert_eq!(b["files"][0]["compression"], compression);
        assert_eq!(a["totals"], b["totals"], "{packed}");
        let verdicts =
            |d: &Value| d["connections"].as_array().unwrap().iter().map(|c| c["verdict"].clone()).collect::<Vec<_>>();
        assert_eq!(verdicts(&a), verdicts(&b), "{packed}");
    }
}
