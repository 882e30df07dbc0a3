//! Bad input: a clear error naming the file, frame and offset; everything before it kept;
//! other files go on; exit code 2.

mod common;

use common::*;
use serde_json::Value;

fn ndjson(stdout: &str) -> Vec<Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn truncated_capture_names_frame_and_offset_and_keeps_earlier_connections() {
    if !has_corpus() {
        return;
    }
    // tshark reads 9 whole frames of this file and stops in the 10th, which starts at
    // byte 5035 (24-byte header plus the first nine records).
    let path = corpus("zeek--tls--tls1.2.truncated-file.pcap");
    let run = tlsdiag(&["analyze", "--format", "ndjson", path.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("zeek--tls--tls1.2.truncated-file.pcap"), "{}", run.stderr);
    assert!(run.stderr.contains("frame 10") && run.stderr.contains("byte offset 5035"), "{}", run.stderr);
    let conns = ndjson(&run.stdout);
    assert_eq!(conns.len(), 1);
    // tshark shows the ClientHello in frame 4, the ServerHello in 5 and the Certificate in 8,
    // all before the cut.
    assert_eq!(conns[0]["tls"]["client_hello"]["frame"], 4);
    assert_eq!(conns[0]["tls"]["server_hello"]["frame"], 5);
    assert_eq!(conns[0]["tls"]["server_certificates"]["frame"], 8);
}

#[test]
fn one_bad_file_does_not_stop_the_others() {
    if !has_corpus() {
        return;
    }
    let good = corpus("flowtest--tls_cipher_error.pcap");
    let bad = corpus("libpcap--shb-option-too-long.pcapng");
    let missing = repo().join("tests/no-such-file.pcap");
    let run = tlsdiag(&[
        "analyze",
        "--format",
        "ndjson",
        bad.to_str().unwrap(),
        missing.to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("libpcap--shb-option-too-long.pcapng: corrupt capture"), "{}", run.stderr);
    assert!(run.stderr.contains("no-such-file.pcap"), "{}", run.stderr);
    let conns = ndjson(&run.stdout);
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0]["verdict"]["code"], "cipher_mismatch");
}

#[test]
fn not_a_capture_is_refused_by_content() {
    let run = tlsdiag(&["analyze", repo().join("Cargo.toml").to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("not a capture file"), "{}", run.stderr);
}

#[test]
fn invalid_pcap_version_is_corrupt_at_offset_4() {
    if !has_corpus() {
        return;
    }
    let run = tlsdiag(&["analyze", corpus("libpcap--pcap-invalid-version-1.pcap").to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("byte offset 4") && run.stderr.contains("major version 1"), "{}", run.stderr);
}

#[test]
fn stdin_gives_the_same_connections_as_the_file() {
    if !has_corpus() {
        return;
    }
    let path = corpus("ndpi--tls_ech.pcapng.gz");
    let from_file = tlsdiag(&["analyze", "--format", "ndjson", path.to_str().unwrap()]);
    let piped = tlsdiag_with_stdin(&["analyze", "--format", "ndjson", "-"], &std::fs::read(&path).unwrap());
    assert_eq!(piped.code, 0, "{}", piped.stderr);
    let a: Vec<Value> = ndjson(&from_file.stdout);
    let b: Vec<Value> = ndjson(&piped.stdout);
    assert_eq!(a.len(), 1);
    assert_eq!(b[0]["file"], "-");
    assert_eq!(a[0]["verdict"], b[0]["verdict"]);
    assert_eq!(a[0]["tls"], b[0]["tls"]);
}

#[test]
fn empty_pcap_has_no_connections_and_no_error() {
    if !has_corpus() {
        return;
    }
    let run = tlsdiag(&["analyze", "--format", "json", corpus("zeek--empty.pcap").to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["totals"]["connections"], 0);
    assert_eq!(doc["files"][0]["format"], "pcap");
}

/// Record boundaries of a classic pcap: the offset where each record starts, and the end.
fn record_starts(bytes: &[u8]) -> Vec<usize> {
    let mut starts = vec![];
    let mut pos = 24;
    while pos + 16 <= bytes.len() {
        starts.push(pos);
        let caplen = u32::from_le_bytes(bytes[pos + 8..pos + 12].try_into().unwrap()) as usize;
        pos += 16 + caplen;
    }
    starts.push(pos);
    starts
}

#[test]
fn a_capture_cut_at_every_byte_names_the_frame_and_offset_and_never_panics() {
    use std::io::Cursor;
    use tlsdiag::analyze::analyze_reader;
    use tlsdiag::analyze::Settings;
    let bytes = std::fs::read(repo().join("samples/handshakes.pcap")).unwrap();
    let starts = record_starts(&bytes);
    let limits = Settings::default();
    // Connections of the whole file that a FIN or RST closed: (first frame, last frame, verdict).
    let mut closed = Vec::new();
    analyze_reader("whole", Box::new(Cursor::new(bytes.clone())), &limits, &mut |c| {
        if c.facts.tcp.ended_by != tlsdiag::flow::EndReason::EndOfCapture {
            closed.push((c.facts.first_frame, c.facts.last_frame, c.verdict.code));
        }
    });
    assert!(closed.len() >= 4);
    for cut in 24..bytes.len() {
        let mut got = Vec::new();
        let summary = analyze_reader("cut", Box::new(Cursor::new(bytes[..cut].to_vec())), &limits, &mut |c| {
            got.push((c.facts.first_frame, c.verdict.code))
        });
        // The record the cut falls in: its 1-based number and where it starts.
        let record = starts.iter().rposition(|&s| s <= cut).unwrap();
        if starts.contains(&cut) {
            assert!(summary.error.is_none(), "cut at record boundary {cut}: {:?}", summary.error);
            assert_eq!(summary.frames as usize, record);
        } else {
            let error = summary.error.unwrap_or_else(|| panic!("no error for a cut at {cut}"));
            let expected = format!("cut short in frame {} at byte offset {}", record + 1, starts[record]);
            assert!(error.contains(&expected), "cut at {cut}: {error}");
            assert_eq!(summary.frames as usize, record, "frames before the cut at {cut}");
        }
        // Every connection closed before the record the cut falls in keeps its verdict.
        for (first, last, code) in closed.iter().filter(|(_, last, _)| (*last as usize) <= record) {
            assert!(
                got.iter().any(|(f, c)| f == first && c == code),
                "cut at {cut}: the connection of frames {first}-{last} lost its verdict {code}"
            );
        }
    }
}
