//! Windows ETL traces (`netsh trace`, `pktmon`): the public samples against their converted
//! twin, traces written from real captures by `common::etl_writer`, and damaged input.

mod common;

use std::path::{Path, PathBuf};
use tlsdiag::capture::{open_path, CaptureFormat, PacketSource};

/// The public ETL samples, or `None` (with the reason printed) when `../shared` is absent.
fn etl_samples() -> Option<PathBuf> {
    common::shared_dir("etl-samples")
}

struct Owned {
    index: u64,
    ts: i64,
    link: u32,
    caplen: u32,
    orig_len: u32,
    data: Vec<u8>,
}

fn read_all(source: &mut dyn PacketSource) -> (Vec<Owned>, Option<String>) {
    let mut frames = Vec::new();
    loop {
        match source.next_frame() {
            Ok(Some(f)) => frames.push(Owned {
                index: f.index,
                ts: f.ts,
                link: f.link_type.0,
                caplen: f.caplen,
                orig_len: f.orig_len,
                data: f.data.to_vec(),
            }),
            Ok(None) => return (frames, None),
            Err(e) => return (frames, Some(e.to_string())),
        }
    }
}

fn read_path(path: &Path) -> (Vec<Owned>, Option<String>, CaptureFormat) {
    let mut opened = open_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (frames, err) = read_all(opened.source.as_mut());
    (frames, err, opened.format)
}

#[test]
fn pktmon_sample_equals_its_etl2pcap_twin_once_per_packet() {
    let Some(dir) = etl_samples() else { return };
    let (etl, err, format) = read_path(&dir.join("demikernel--PktMon.etl"));
    assert_eq!(err, None);
    assert_eq!(format, CaptureFormat::Etl);
    let (twin, twin_err, _) = read_path(&dir.join("demikernel--PktMon.cap"));
    assert_eq!(twin_err, None);
    assert_eq!(twin.len(), 114, "the twin holds every component copy (capinfos: 114 packets)");
    // 38 distinct packets (19 echo requests, 19 replies), each delivered once.
    assert_eq!(etl.len(), 38);
    for f in &etl {
        // Frame numbers are those of the twin: the delivered copy is twin frame `index`,
        // byte for byte, at the same microsecond.
        let t = &twin[f.index as usize - 1];
        assert_eq!(t.index, f.index);
        assert_eq!(f.data, t.data, "frame {}", f.index);
        assert_eq!((f.link, f.caplen, f.orig_len), (t.link, t.caplen, t.orig_len), "frame {}", f.index);
        assert_eq!(f.ts.div_euclid(1000), t.ts / 1000, "frame {} time", f.index);
    }
    // Every twin frame not delivered repeats the bytes of a delivered one.
    let delivered: Vec<u64> = etl.iter().map(|f| f.index).collect();
    for t in &twin {
        if !delivered.contains(&t.index) {
            assert!(etl.iter().any(|f| f.index < t.index && f.data[14..] == t.data[14..]), "frame {}", t.index);
        }
    }
}

#[test]
fn non_packet_trace_gives_no_packets_and_no_error() {
    let Some(dir) = etl_samples() else { return };
    let path = dir.join("etl-parser--lxcore_kernel.etl");
    let (frames, err, format) = read_path(&path);
    assert_eq!((frames.len(), err, format), (0, None, CaptureFormat::Etl));
    let run = common::tlsdiag(&["analyze", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let file = &json["files"][0];
    assert_eq!(file["format"], "etl");
    assert_eq!(file["frames"], 0);
    assert_eq!(file["error"], serde_json::Value::Null);
    assert_eq!(file["etl"]["providers"], serde_json::json!([]));
    assert_eq!(file["etl"]["clock"], "qpc");
}

#[test]
fn pktmon_sample_summary_names_provider_clock_and_copies() {
    let Some(dir) = etl_samples() else { return };
    let path = dir.join("demikernel--PktMon.etl");
    let run = common::tlsdiag(&["analyze", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let file = &json["files"][0];
    assert_eq!(file["format"], "etl");
    // Numbered like the twin (114 blocks); 38 packets analysed (ICMP: other_ip).
    assert_eq!(file["frames"], 114);
    assert_eq!(file["other_ip"], 38);
    let etl = &file["etl"];
    assert_eq!(etl["providers"], serde_json::json!(["Microsoft-Windows-PktMon"]));
    assert_eq!(etl["clock"], "qpc");
    assert_eq!(etl["component_copies"], 76);
    assert_eq!((etl["events_lost"].as_u64(), etl["buffers_lost"].as_u64()), (Some(0), Some(0)));
    assert_eq!(etl["dropped"], 0);
}

#[test]
fn pktmon_sample_read_from_stdin_and_gzip_gives_the_same_packets() {
    let Some(dir) = etl_samples() else { return };
    let bytes = std::fs::read(dir.join("demikernel--PktMon.etl")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &bytes).unwrap();
    let gz = gz.finish().unwrap();
    for (input, compression) in [(bytes, serde_json::Value::Null), (gz, "gzip".into())] {
        let run = common::tlsdiag_with_stdin(&["analyze", "--format", "json", "-"], &input);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let file = &json["files"][0];
        assert_eq!((file["format"].as_str(), &file["compression"]), (Some("etl"), &compression));
        assert_eq!((file["frames"].as_u64(), file["other_ip"].as_u64()), (Some(114), Some(38)));
    }
}

// ---------------------------------------------------------------------------------------
// Traces written from real captures.

use common::etl_writer::{self, Clock, Media, Options, Style, Written};
use serde_json::Value;

/// Fields of the connection record that hold a frame number without saying so in their name
/// (src/proto/facts.rs, src/proto/tds.rs).
const FRAME_FIELDS: [&str; 9] = [
    "change_cipher_spec",
    "finished",
    "application_data",
    "gap",
    "certificate_request",
    "client_key_exchange",
    "new_session_ticket",
    "handshake_complete",
    "plaintext_after_prelogin",
];

/// Rewrites every frame number of a connection record through `map` (source frame number
/// to trace frame number) and drops the fields naming the file.
fn renumbered(mut v: Value, map: &dyn Fn(u64) -> u64) -> Value {
    fn walk(v: &mut Value, key: &str, map: &dyn Fn(u64) -> u64) {
        match v {
            Value::Object(o) => {
                o.remove("file");
                o.remove("format");
                for (k, x) in o.iter_mut() {
                    walk(x, k, map);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, key, map)),
            Value::Number(n) if key.ends_with("frame") || FRAME_FIELDS.contains(&key) => {
                *v = Value::from(map(n.as_u64().expect("frame number")));
            }
            Value::String(s) => *s = renumber_text(s, map),
            _ => {}
        }
    }
    walk(&mut v, "", map);
    v
}

/// "... in frame 12 ..." with the number mapped.
fn renumber_text(s: &str, map: &dyn Fn(u64) -> u64) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find("frame ") {
        let (head, tail) = rest.split_at(at + "frame ".len());
        out.push_str(head);
        let digits = tail.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 {
            out.push_str(&map(tail[..digits].parse().unwrap()).to_string());
        }
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

/// Writes `source` as `opts` says, runs the analysis on both, and asserts that they agree
/// once the trace's frame numbers are mapped back. Returns the written trace.
fn assert_same_analysis(source: &Path, opts: &Options, dir: &Path) -> Written {
    let frames = etl_writer::read_capture(source);
    let written = etl_writer::write(&frames, opts);
    let name = format!("{}.etl", source.file_name().unwrap().to_string_lossy());
    let path = dir.join(name);
    std::fs::write(&path, &written.bytes).unwrap();
    let expected: Vec<Value> = common::connections(source)
        .into_iter()
        .map(|c| {
            renumbered(c, &|n| {
                written.frame_of[n as usize - 1].unwrap_or_else(|| panic!("source frame {n} not in the trace"))
            })
        })
        .collect();
    let got: Vec<Value> = common::connections(&path).into_iter().map(|c| renumbered(c, &|n| n)).collect();
    assert_eq!(got.len(), expected.len(), "{} as {opts:?}", source.display());
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g, e, "{} as {opts:?}", source.display());
    }
    written
}

/// Fixtures from real peers, and public captures when `../shared` is there.
fn sources() -> Vec<PathBuf> {
    let mut list: Vec<PathBuf> = [
        "tls12-cert-expired.pcap",
        "tls13-ok-ipv6.pcap",
        "tds-tls12-ok.pcap",
        "tcp-syn-timeout.pcap",
        "tls12-reordered.pcap",
        "tls12-retransmitted-server-hello.pcap",
        "tls12-small-segments.pcap",
        "tls-one-server-many-clients.pcap",
        "tls12-server-reset-on-client-hello.pcap",
    ]
    .iter()
    .map(|n| common::fixture(n))
    .collect();
    if let Some(corpus) = common::shared_dir("corpus") {
        for name in ["zeek--tls--tls1.2.pcap", "arkime--curl-enabled-tls13.pcap", "flowtest--tls_cipher_error.pcap"] {
            list.push(corpus.join(name));
        }
    }
    list
}

fn cases() -> Vec<Options> {
    let netsh = |media, fragment, layers| Style::Netsh { media, fragment, layers };
    let pktmon = |media, components, compress| Style::Pktmon { media, components, pkt_size: None, drop: &[], compress };
    vec![
        // One copy per packet: frame numbers equal the source's.
        Options::new(netsh(Media::Ethernet, None, 1)),
        Options {
            cpus: 4,
            clock: Clock::CpuCycles,
            bits32: true,
            buffer_size: 4096,
            ..Options::new(netsh(Media::Ethernet, None, 2))
        },
        Options { clock: Clock::SystemTime, cpus: 2, ..Options::new(netsh(Media::Wifi, Some(100), 1)) },
        Options { cpus: 3, buffer_size: 8192, ..Options::new(netsh(Media::RawIp, Some(512), 3)) },
        Options { cpus: 2, buffer_size: 16384, ..Options::new(pktmon(Media::Ethernet, 3, true)) },
        Options { clock: Clock::SystemTime, bits32: true, cpus: 3, ..Options::new(pktmon(Media::RawIp, 1, false)) },
        Options { clock: Clock::CpuCycles, cpus: 2, buffer_size: 8192, ..Options::new(pktmon(Media::Wifi, 2, true)) },
    ]
}

#[test]
fn traces_written_from_real_captures_give_their_verdicts_frames_and_times() {
    let dir = tempfile::tempdir().unwrap();
    for source in sources() {
        for opts in cases() {
            assert_same_analysis(&source, &opts, dir.path());
        }
    }
}

#[test]
fn without_copies_frame_numbers_are_the_source_numbers() {
    let frames = etl_writer::read_capture(&common::fixture("tls12-cert-expired.pcap"));
    let written = etl_writer::write(
        &frames,
        &Options { cpus: 4, ..Options::new(Style::Netsh { media: Media::Ethernet, fragment: None, layers: 1 }) },
    );
    let expected: Vec<Option<u64>> = (1..=frames.len() as u64).map(Some).collect();
    assert_eq!(written.frame_of, expected);
    assert_eq!(written.frames, frames.len() as u64);
}
