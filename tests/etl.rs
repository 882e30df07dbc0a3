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
