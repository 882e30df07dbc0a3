//! Windows ETL traces (`netsh trace`, `pktmon`): the public samples against their converted
//! twin, traces written from real captures by `common::etl_writer`, and damaged input.

mod common;

use std::path::{Path, PathBuf};
use tlsdiag::capture::{open_path, CaptureFormat, PacketSource};

/// The public ETL samples, or `None` (with the reason printed) when `../shared` is absent.
fn etl_samples() -> Option<PathBuf> {
    common::shared_dir("etl-samples")
}

#[derive(Debug)]
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

// ---------------------------------------------------------------------------------------
// The writer's files against the real samples: one structure check, written from the
// format's definition (WMI_BUFFER_HEADER, TRACE_LOGFILE_HEADER, EVENT_HEADER, the pktmon
// manifest), that the public samples pass and the written files must pass too.

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

const PKTMON_GUID: [u8; 16] =
    [0xd9, 0x80, 0x4f, 0x4d, 0xbd, 0xc8, 0x73, 0x4d, 0xbb, 0x5b, 0x19, 0xc9, 0x04, 0x02, 0xc5, 0xac];
const NDIS_GUID: [u8; 16] =
    [0x6e, 0x00, 0xd6, 0x2e, 0x29, 0x47, 0x09, 0x46, 0xb4, 0x23, 0x3e, 0xe7, 0xbc, 0xd6, 0x78, 0xef];

#[derive(Debug, Default)]
struct Structure {
    buffers: usize,
    compressed: usize,
    cpus: std::collections::BTreeSet<u8>,
    pktmon_packets: usize,
    ndis_packets: usize,
    pointer_size: u32,
    clock: u32,
    /// Buffers of different CPUs whose time ranges overlap.
    overlapping: bool,
}

fn check_structure(file: &[u8]) -> Result<Structure, String> {
    let mut s = Structure::default();
    // Logfile header buffer.
    let size = le32(file, 0) as usize;
    if le16(file, 0x36) != 4 || le16(file, 0x34) & 0x40 != 0 || size < 0x48 || size > file.len() {
        return Err("first buffer is not a stored header buffer".into());
    }
    let ev = &file[0x48..];
    let kind = ev[2];
    if !(kind == 1 || kind == 2) || ev[3] != 0xc0 || le16(ev, 6) != 0 {
        return Err(format!("logfile header event kind {kind:#x} flags {:#x} hook {:#x}", ev[3], le16(ev, 6)));
    }
    let lh = &ev[0x20..];
    s.pointer_size = le32(lh, 0x2c);
    if (kind == 1) != (s.pointer_size == 4) || !(s.pointer_size == 4 || s.pointer_size == 8) {
        return Err(format!("pointer size {} in a header event of kind {kind}", s.pointer_size));
    }
    let processors = le32(lh, 0x0c);
    let times = (if s.pointer_size == 8 { 0x48 } else { 0x40 } + 172 + 7) & !7;
    let (boot, freq, start) = (le64(lh, times), le64(lh, times + 8), le64(lh, times + 16));
    s.clock = le32(lh, times + 24);
    if !(1..=3).contains(&s.clock) || (s.clock == 1 && freq == 0) || start <= boot || processors == 0 {
        return Err(format!("clock {} freq {freq} start {start} boot {boot} cpus {processors}", s.clock));
    }
    // Logger and file names: UTF-16, NUL-terminated, right after the fixed part.
    let names = &lh[times + 32..];
    let name: Vec<u16> = names.chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).take_while(|&u| u != 0).collect();
    if name.is_empty() || String::from_utf16(&name).is_err() {
        return Err("no logger name".into());
    }
    // Data buffers.
    let mut at = size;
    let mut ranges: Vec<(u8, u64, u64)> = Vec::new();
    while at < file.len() {
        let h = &file[at..];
        let size = le32(h, 0) as usize;
        let filled = le32(h, 0x30) as usize;
        let (cpu, state, flag) = (h[0x28], le32(h, 0x2c), le16(h, 0x34));
        if size < 0x48 || at + size > file.len() || filled < 0x48 || state != 3 || le32(h, 4) as usize != filled {
            return Err(format!("buffer at {at}: size {size} filled {filled} state {state}"));
        }
        if cpu as u32 >= processors {
            return Err(format!("buffer at {at} on CPU {cpu} of {processors}"));
        }
        let body = if flag & 0x40 != 0 {
            s.compressed += 1;
            let body = tlsdiag::capture::expand_lz77(&h[0x48..size], filled - 0x48)?;
            if body.len() != filled - 0x48 {
                return Err(format!("buffer at {at} expands to {} bytes of {}", body.len(), filled - 0x48));
            }
            body
        } else {
            if filled > size {
                return Err(format!("stored buffer at {at} filled past its size"));
            }
            h[0x48..filled].to_vec()
        };
        s.buffers += 1;
        s.cpus.insert(cpu);
        let (mut first, mut last) = (u64::MAX, 0);
        let mut p = 0;
        while p + 4 <= body.len() && le32(&body, p) != u32::MAX {
            let (kind, flags) = (body[p + 2], body[p + 3]);
            if flags & 0x80 == 0 {
                return Err(format!("event at {p} of buffer {at}: no header flag"));
            }
            let len = match kind {
                1..=4 | 0x10 | 0x11 => le16(&body, p + 4),
                _ => le16(&body, p),
            } as usize;
            if len < 8 || p + len > body.len() {
                return Err(format!("event at {p} of buffer {at}: {len} bytes"));
            }
            let e = &body[p..p + len];
            if kind == 0x12 || kind == 0x13 {
                if le16(e, 2) != 0xc000 | kind as u16 {
                    return Err(format!("EVENT_HEADER type {:#x}", le16(e, 2)));
                }
                let ts = le64(e, 0x10);
                if ts < last {
                    return Err(format!("event at {p} of buffer {at} goes back in time"));
                }
                first = first.min(ts);
                last = ts;
                let (provider, id) = (&e[0x18..0x28], le16(e, 0x28));
                let user = &e[0x50..];
                if provider == PKTMON_GUID && (id == 160 || id == 170) {
                    let (ptype, orig, logged) = (le16(user, 14), le16(user, 30), le16(user, 32) as usize);
                    if !(1..=3).contains(&ptype)
                        || logged > orig as usize
                        || 34 + logged > user.len()
                        || le16(user, 10) == 0
                    {
                        return Err(format!("pktmon event at {p}: type {ptype} orig {orig} logged {logged}"));
                    }
                    s.pktmon_packets += 1;
                }
                if provider == NDIS_GUID && id == 1001 {
                    if 12 + le32(user, 8) as usize != user.len() {
                        return Err(format!(
                            "NDIS event at {p}: fragment size {} in {} bytes",
                            le32(user, 8),
                            user.len()
                        ));
                    }
                    s.ndis_packets += 1;
                }
            }
            p = (p + len + 7) & !7;
        }
        if first != u64::MAX {
            ranges.push((cpu, first, last));
        }
        at += size;
    }
    s.overlapping = ranges.iter().any(|a| ranges.iter().any(|b| a.0 != b.0 && a.1 < b.2 && b.1 < a.2));
    Ok(s)
}

#[test]
fn the_real_samples_pass_the_structure_check() {
    let Some(dir) = etl_samples() else { return };
    let s = check_structure(&std::fs::read(dir.join("demikernel--PktMon.etl")).unwrap()).unwrap();
    // SOURCES.md: a header buffer plus two compressed buffers, 114 packet events, QPC.
    assert_eq!((s.buffers, s.compressed, s.pktmon_packets, s.pointer_size, s.clock), (2, 2, 114, 8, 1));
    // Its packets are all in the CPU 0 buffer; the CPU 2 buffer holds later component events.
    assert_eq!(s.cpus.iter().copied().collect::<Vec<_>>(), [0, 2]);
    assert!(!s.overlapping);
    let s = check_structure(&std::fs::read(dir.join("etl-parser--lxcore_kernel.etl")).unwrap()).unwrap();
    assert_eq!((s.buffers, s.compressed, s.pktmon_packets, s.ndis_packets), (2, 0, 0, 0));
}

#[test]
fn written_traces_pass_the_structure_check_of_the_real_samples() {
    let frames = etl_writer::read_capture(&common::fixture("tls-one-server-many-clients.pcap"));
    for opts in cases() {
        let written = etl_writer::write(&frames, &opts);
        let s = check_structure(&written.bytes).unwrap_or_else(|e| panic!("{opts:?}: {e}"));
        assert_eq!(s.pointer_size, if opts.bits32 { 4 } else { 8 });
        let clock = match opts.clock {
            Clock::Qpc => 1,
            Clock::SystemTime => 2,
            Clock::CpuCycles => 3,
        };
        assert_eq!(s.clock, clock);
        assert_eq!(s.cpus.len(), opts.cpus as usize, "{opts:?}");
        if let Style::Pktmon { compress, components, .. } = opts.style {
            assert_eq!(s.compressed > 0, compress);
            assert_eq!(s.pktmon_packets, frames.len() * components as usize);
        }
        if opts.cpus > 1 {
            assert!(s.overlapping, "{opts:?}: buffers of different CPUs overlap in time");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Damaged input: clear errors naming frame and offset, packets before the damage kept.

fn read_bytes(bytes: &[u8]) -> Result<(Vec<Owned>, Option<String>), String> {
    let mut opened =
        tlsdiag::capture::open_reader(Box::new(std::io::Cursor::new(bytes.to_vec()))).map_err(|e| e.to_string())?;
    Ok(read_all(opened.source.as_mut()))
}

/// The byte offset an error message names.
fn offset_in(message: &str) -> u64 {
    let at = message.find("byte offset ").unwrap_or_else(|| panic!("no offset in {message:?}")) + "byte offset ".len();
    message[at..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

#[test]
fn sample_truncated_at_every_byte_gives_a_clear_error_and_the_packets_before_the_cut() {
    let Some(dir) = etl_samples() else { return };
    let file = std::fs::read(dir.join("demikernel--PktMon.etl")).unwrap();
    let (full, _) = read_bytes(&file).unwrap();
    // Buffers start at 0, 0x400 (CPU 0, every packet) and 0x3296 (CPU 2, no packet).
    let (packets_buffer, last_buffer) = (0x400usize, 0x3296usize);
    for cut in 0..file.len() {
        let result = read_bytes(&file[..cut]);
        match cut {
            0 => {
                assert_eq!(result.err().as_deref(), Some("file is cut short in frame 0 at byte offset 0: empty input"))
            }
            // Too short to be recognised as ETL: not a capture.
            _ if cut < 0x68 => assert!(result.unwrap_err().starts_with("not a capture file"), "cut {cut}"),
            _ if cut < packets_buffer => {
                let e = result.unwrap_err();
                assert!(e.contains("cut short in frame 1 at byte offset 0"), "cut {cut}: {e}");
            }
            _ => {
                let (frames, err) = result.unwrap();
                let err = err.unwrap_or_else(|| panic!("cut {cut}: no error"));
                assert!(err.contains("cut short in frame"), "cut {cut}: {err}");
                let expected_offset = if cut < last_buffer { packets_buffer } else { last_buffer };
                assert_eq!(offset_in(&err), expected_offset as u64, "cut {cut}: {err}");
                // Every packet of a whole buffer is delivered, as without the cut.
                let expected = if cut < last_buffer { 0 } else { full.len() };
                assert_eq!(frames.len(), expected, "cut {cut}");
                for (f, g) in frames.iter().zip(&full) {
                    assert_eq!((f.index, &f.data), (g.index, &g.data));
                }
            }
        }
    }
}

#[test]
fn corrupt_buffer_sizes_are_named_with_their_offset() {
    let Some(dir) = etl_samples() else { return };
    let file = std::fs::read(dir.join("demikernel--PktMon.etl")).unwrap();
    for (size, what) in [(0x10u32, "buffer size 16 outside"), (u32::MAX, "buffer size 4294967295 outside")] {
        let mut bad = file.clone();
        bad[0x3296..0x329a].copy_from_slice(&size.to_le_bytes());
        let (frames, err) = read_bytes(&bad).unwrap();
        let err = err.unwrap();
        assert!(err.contains(what) && offset_in(&err) == 0x3296, "{err}");
        // The packets of the buffer before it are all there.
        assert_eq!(frames.len(), 38);
    }
    // A size that runs past the end of the file: cut short.
    let mut bad = file.clone();
    bad[0x3296..0x329a].copy_from_slice(&0x8000u32.to_le_bytes());
    let err = read_bytes(&bad).unwrap().1.unwrap();
    assert!(err.contains("cut short") && offset_in(&err) == 0x3296, "{err}");
}

#[test]
fn compressed_buffer_expanding_past_its_stated_size_is_an_error() {
    let Some(dir) = etl_samples() else { return };
    let mut bad = std::fs::read(dir.join("demikernel--PktMon.etl")).unwrap();
    // The packets' buffer says it holds 0x1000 bytes; its LZ77 stream makes 0xc3f0.
    bad[0x430..0x434].copy_from_slice(&0x1000u32.to_le_bytes());
    let (frames, err) = read_bytes(&bad).unwrap();
    let err = err.unwrap();
    assert!(err.contains("expands past its stated size") && offset_in(&err) == 0x400, "{err}");
    assert!(frames.is_empty());
    // And one that expands to less than it says.
    let mut bad = std::fs::read(dir.join("demikernel--PktMon.etl")).unwrap();
    bad[0x430..0x434].copy_from_slice(&0xd000u32.to_le_bytes());
    let err = read_bytes(&bad).unwrap().1.unwrap();
    assert!(err.contains("expands to 50160 bytes, its header says 53248"), "{err}");
}

/// A small stored pktmon trace and the file offset of its first packet event.
fn small_pktmon_trace() -> (Vec<u8>, usize) {
    let frames = etl_writer::read_capture(&common::fixture("tcp-syn-timeout.pcap"));
    let opts = Options::new(Style::Pktmon {
        media: Media::Ethernet,
        components: 1,
        pkt_size: None,
        drop: &[],
        compress: false,
    });
    let bytes = etl_writer::write(&frames, &opts).bytes;
    let guid_at = bytes.windows(16).position(|w| w == PKTMON_GUID).unwrap();
    (bytes, guid_at - 0x18)
}

#[test]
fn an_endless_chain_of_extended_data_items_is_an_error() {
    let (mut bytes, ev) = small_pktmon_trace();
    let len = le16(&bytes, ev) as usize;
    bytes[ev + 4] |= 1; // EVENT_HEADER_FLAG_EXTENDED_INFO
                        // Items of 8 bytes, each saying another follows, to the end of the event and beyond.
    for item in (ev + 0x50..ev + len - 7).step_by(8) {
        bytes[item..item + 8].copy_from_slice(&[8, 0, 1, 0, 1, 0, 0, 0]);
    }
    let (frames, err) = read_bytes(&bytes).unwrap();
    let err = err.unwrap();
    assert!(err.contains("extended data items run past the end of their event"), "{err}");
    assert_eq!(offset_in(&err), ev as u64, "{err}");
    assert!(err.contains("in frame 1 "), "{err}");
    assert!(frames.is_empty());
}

#[test]
fn an_event_of_size_zero_is_an_error_not_a_loop() {
    let (mut bytes, ev) = small_pktmon_trace();
    bytes[ev..ev + 2].copy_from_slice(&0u16.to_le_bytes());
    let err = read_bytes(&bytes).unwrap().1.unwrap();
    assert!(err.contains("claims 0 bytes") && offset_in(&err) == ev as u64, "{err}");
}

// ---------------------------------------------------------------------------------------
// What ETL tells beyond packets.

fn analyze(path: &Path) -> Value {
    let run = common::tlsdiag(&["analyze", "--format", "json", "--all", path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

#[test]
fn pktmon_default_128_byte_payloads_are_an_incomplete_capture_naming_pkt_size_0() {
    let dir = tempfile::tempdir().unwrap();
    // Each fixture's ClientHello (tshark: frame 4) is longer than 128 bytes with its headers.
    for name in ["tls12-cert-expired.pcap", "tls13-ok-ipv6.pcap", "tls12-no-server-hello.pcap"] {
        let source = common::fixture(name);
        let frames = etl_writer::read_capture(&source);
        assert!(frames[3].data.len() > 128, "{name}: frame 4 fits in 128 bytes");
        let opts = Options::new(Style::Pktmon {
            media: Media::Ethernet,
            components: 3,
            pkt_size: Some(128),
            drop: &[],
            compress: true,
        });
        let written = etl_writer::write(&frames, &opts);
        let path = dir.path().join(format!("{name}.etl"));
        std::fs::write(&path, &written.bytes).unwrap();
        let before = common::only_tls_connection(&source);
        assert_ne!(before["verdict"]["code"], "incomplete_capture", "{name}");
        let after = common::only_tls_connection(&path);
        assert_eq!(common::verdict(&after).0, "incomplete_capture", "{name}");
        let hint = after["verdict"]["hint"].as_str().unwrap();
        assert!(hint.contains("pktmon start --capture --pkt-size 0"), "{name}: {hint}");
        assert!(after["tcp"]["truncated_segments"].as_u64().unwrap() > 0);
    }
}

#[test]
fn a_syn_dropped_by_a_windows_component_is_evidence_not_a_retransmission() {
    let dir = tempfile::tempdir().unwrap();
    let source = common::fixture("tcp-syn-timeout.pcap");
    let frames = etl_writer::read_capture(&source);
    // tshark: frames 1-4 are the SYN and its three retransmissions; a component drops each
    // after two components logged it.
    let opts = Options::new(Style::Pktmon {
        media: Media::Ethernet,
        components: 2,
        pkt_size: None,
        drop: &[0, 1, 2, 3],
        compress: false,
    });
    let written = etl_writer::write(&frames, &opts);
    assert_eq!(written.drop_frames.len(), 4);
    let path = dir.path().join("syn-dropped.etl");
    std::fs::write(&path, &written.bytes).unwrap();
    let json = analyze(&path);
    let etl = &json["files"][0]["etl"];
    assert_eq!(etl["dropped"], 4);
    assert_eq!(etl["drop_reasons"], serde_json::json!({ etl_writer::DROP_REASON.to_string(): 4 }));
    assert_eq!(etl["drop_frames"], serde_json::json!(written.drop_frames));
    // Frames: 4 packets x (2 components + 1 drop event).
    assert_eq!(json["files"][0]["frames"], 12);
    let conn = &json["connections"][0];
    // The drop events are not more SYNs: four SYNs, as in the source capture.
    assert_eq!(conn["tcp"]["syn_count"], 4);
    let evidence = common::evidence_frames(conn);
    for f in &written.drop_frames {
        assert!(evidence.contains(f), "drop frame {f} in {evidence:?}");
    }
    let explanation = conn["verdict"]["explanation"].as_str().unwrap();
    assert!(explanation.contains("a Windows component on the traced host dropped frame"), "{explanation}");
    // The line a file summary can print for them.
    let mut opened = tlsdiag::capture::open_path(&path).unwrap();
    while opened.source.next_frame().unwrap().is_some() {}
    let frames: Vec<String> = written.drop_frames.iter().map(u64::to_string).collect();
    assert_eq!(
        opened.source.etl_summary().unwrap().drops_line().unwrap(),
        format!(
            "4 packets dropped by Windows components (pktmon drop reason {} x4; frames {})",
            etl_writer::DROP_REASON,
            frames.join(", ")
        )
    );
    // The table report prints it under the totals, naming the file.
    let table = common::tlsdiag(&["analyze", path.to_str().unwrap()]);
    let expected = format!("{}: 4 packets dropped by Windows components", path.display());
    assert!(table.stdout.contains(&expected), "{}", table.stdout);
}

#[test]
fn lost_events_and_buffers_are_reported_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let frames = etl_writer::read_capture(&common::fixture("tls12-cert-expired.pcap"));
    let opts = Options {
        events_lost: 17,
        buffers_lost: 2,
        ..Options::new(Style::Netsh { media: Media::Ethernet, fragment: None, layers: 1 })
    };
    let path = dir.path().join("lossy.etl");
    std::fs::write(&path, etl_writer::write(&frames, &opts).bytes).unwrap();
    let json = analyze(&path);
    let etl = &json["files"][0]["etl"];
    assert_eq!((etl["events_lost"].as_u64(), etl["buffers_lost"].as_u64()), (Some(17), Some(2)));
    assert_eq!(etl["providers"], serde_json::json!(["Microsoft-Windows-NDIS-PacketCapture"]));
    let table = common::tlsdiag(&["analyze", path.to_str().unwrap()]);
    let expected =
        format!("{}: the trace session lost 17 event(s) and 2 buffer(s) on the Windows host", path.display());
    assert!(table.stdout.contains(&expected), "{}", table.stdout);
    // Capture loss on the host is not network loss: the verdict is the source's.
    let source = common::only_tls_connection(&common::fixture("tls12-cert-expired.pcap"));
    assert_eq!(common::verdict(&json["connections"][0]), common::verdict(&source));
}

/// Writes the committed seeds of the `etl` fuzz target (a dev tool, not a check):
/// `cargo test --test etl -- --ignored write_fuzz_seeds`.
#[test]
#[ignore]
fn write_fuzz_seeds() {
    let frames = etl_writer::read_capture(&common::fixture("tls12-no-server-hello.pcap"));
    let dir = common::repo().join("fuzz/corpus/etl");
    std::fs::create_dir_all(&dir).unwrap();
    let pktmon = Options {
        cpus: 2,
        buffer_size: 2048,
        ..Options::new(Style::Pktmon {
            media: Media::Ethernet,
            components: 2,
            pkt_size: Some(128),
            drop: &[3],
            compress: true,
        })
    };
    let netsh = Options {
        cpus: 2,
        bits32: true,
        clock: Clock::SystemTime,
        buffer_size: 2048,
        ..Options::new(Style::Netsh { media: Media::Wifi, fragment: Some(200), layers: 2 })
    };
    for (name, opts) in [("pktmon-compressed", pktmon), ("netsh-wifi-fragments", netsh)] {
        std::fs::write(dir.join(name), etl_writer::write(&frames, &opts).bytes).unwrap();
    }
    // The lz77 target: the compressed buffers of a pktmon trace of whole packets, each as
    // its expanded size (2 bytes) and its body.
    let dir = common::repo().join("fuzz/corpus/lz77");
    std::fs::create_dir_all(&dir).unwrap();
    let whole = Options {
        buffer_size: 8192,
        ..Options::new(Style::Pktmon {
            media: Media::Ethernet,
            components: 1,
            pkt_size: None,
            drop: &[],
            compress: true,
        })
    };
    let frames = etl_writer::read_capture(&common::fixture("tls-one-server-many-clients.pcap"));
    let file = etl_writer::write(&frames[..60], &whole).bytes;
    let mut at = 0;
    while at < file.len() {
        let (size, filled) = (le32(&file, at) as usize, le32(&file, at + 0x30) as usize);
        if le16(&file, at + 0x34) & 0x40 != 0 {
            let mut seed = ((filled - 0x48) as u16).to_le_bytes().to_vec();
            seed.extend_from_slice(&file[at + 0x48..at + size]);
            std::fs::write(dir.join(format!("pktmon-buffer-{at}")), seed).unwrap();
        }
        at += size;
    }
}

#[test]
fn traces_in_a_directory_are_found_by_content_whatever_their_names() {
    let dir = tempfile::tempdir().unwrap();
    let frames = etl_writer::read_capture(&common::fixture("tls12-cert-expired.pcap"));
    let opts = Options::new(Style::Pktmon {
        media: Media::Ethernet,
        components: 2,
        pkt_size: None,
        drop: &[],
        compress: true,
    });
    // No .etl extension: recognised by the first buffer and its logfile header event.
    std::fs::write(dir.path().join("capture.bin"), etl_writer::write(&frames, &opts).bytes).unwrap();
    std::fs::copy(common::fixture("tls12-cert-expired.pcap"), dir.path().join("same.pcap")).unwrap();
    let json = analyze(dir.path());
    let files = json["files"].as_array().unwrap();
    let formats: Vec<&str> = files.iter().map(|f| f["format"].as_str().unwrap()).collect();
    assert_eq!(formats.len(), 2);
    assert!(formats.contains(&"etl") && formats.contains(&"pcap"), "{formats:?}");
    let verdicts: Vec<&Value> = files.iter().map(|f| &f["verdicts"]).collect();
    assert_eq!(verdicts[0], verdicts[1]);
}

#[test]
fn hyper_v_switch_packets_are_numbered_like_etl2pcapng_and_counted_not_misread() {
    // On a Hyper-V host netsh also logs each packet as the virtual switch saw it (event
    // 1003), which etl2pcapng writes as a frame of its own: the packets analysed keep the
    // numbers they have there, and the switch's copies are counted, not read as packets.
    let dir = tempfile::tempdir().unwrap();
    let source = common::fixture("tls12-cert-expired.pcap");
    let opts = Options {
        cpus: 2,
        vmswitch: true,
        ..Options::new(Style::Netsh { media: Media::Ethernet, fragment: None, layers: 1 })
    };
    let written = assert_same_analysis(&source, &opts, dir.path());
    let packets = etl_writer::read_capture(&source).len() as u64;
    // Each packet takes two numbers: its own event, then the switch's.
    assert_eq!(written.frames, 2 * packets);
    assert_eq!(written.frame_of[1], Some(3));
    let json = analyze(&dir.path().join("tls12-cert-expired.pcap.etl"));
    let file = &json["files"][0];
    assert_eq!(file["frames"].as_u64(), Some(2 * packets));
    assert_eq!(file["etl"]["vmswitch_packets"].as_u64(), Some(packets));
    assert_eq!(file["tcp_segments"].as_u64(), Some(packets), "the switch's copies are not analysed");
}
