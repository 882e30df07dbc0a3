//! Writes Windows ETL traces for tests, from the frames of real captures: what `netsh trace
//! start capture=yes` (Microsoft-Windows-NDIS-PacketCapture event 1001) and `pktmon start
//! --capture` (Microsoft-Windows-PktMon events 160/170) would have logged for them.
//!
//! No Windows machine is here and no public netsh trace has a converted twin, so these files
//! stand in; `check_structure` holds them to the field checks the real public samples pass.
//!
//! The writer also says which frame number each source frame gets in the trace, by the rule
//! of `etl2pcapng` / `pktmon etl2pcap`: one number per packet event in time order, copies
//! included, the first copy being the one delivered.
#![allow(dead_code)]

use std::path::Path;
use tlsdiag::capture::{open_path, LinkType};

/// One Ethernet frame of the source capture.
#[derive(Clone, Debug)]
pub struct SourceFrame {
    pub ts_ns: i64,
    pub orig_len: u32,
    pub data: Vec<u8>,
}

/// Every frame of a capture (Ethernet captures only: the fixtures and corpus files used).
pub fn read_capture(path: &Path) -> Vec<SourceFrame> {
    let mut opened = open_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    while let Some(f) = opened.source.next_frame().unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
        assert_eq!(f.link_type, LinkType::ETHERNET, "{}: only Ethernet sources are wrapped", path.display());
        out.push(SourceFrame { ts_ns: f.ts, orig_len: f.orig_len, data: f.data.to_vec() });
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// QueryPerformanceCounter at 10 MHz, as on current Windows.
    Qpc,
    SystemTime,
    /// CPU cycles at 2594 MHz (the real sample's CpuSpeedInMHz).
    CpuCycles,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Media {
    Ethernet,
    /// Native 802.11: the Ethernet header becomes an 802.11 data header and LLC/SNAP.
    Wifi,
    /// WirelessWAN: IP without link header.
    RawIp,
}

#[derive(Clone, Copy, Debug)]
pub enum Style {
    Netsh {
        media: Media,
        /// Split every packet into fragments of this many bytes (PacketStart/PacketEnd).
        fragment: Option<usize>,
        /// Layers of the same adapter each packet is logged at (1: no copies).
        layers: u32,
    },
    Pktmon {
        media: Media,
        /// Components each packet is logged at (1: no copies).
        components: u32,
        /// `--pkt-size`: payload bytes logged (pktmon's default is 128; `None` for 0, all).
        pkt_size: Option<usize>,
        /// Source frames (0-based) that a component drops after logging them (event 170).
        drop: &'static [usize],
        compress: bool,
    },
}

#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub style: Style,
    pub clock: Clock,
    pub cpus: u8,
    /// 32-bit logger: SYSTEM32 logfile header event, 32-bit TRACE_LOGFILE_HEADER,
    /// EVENT_HEADER32 events.
    pub bits32: bool,
    /// Bytes of one buffer (uncompressed).
    pub buffer_size: usize,
    /// Lost events and buffers the logfile header reports.
    pub events_lost: u32,
    pub buffers_lost: u32,
    /// netsh on a Hyper-V host: every packet is also logged by the virtual switch (NDIS
    /// event 1003, keyword VMSwitch) just after, which `etl2pcapng` numbers as a frame too.
    pub vmswitch: bool,
}

impl Options {
    pub fn new(style: Style) -> Self {
        Options {
            style,
            clock: Clock::Qpc,
            cpus: 1,
            bits32: false,
            buffer_size: 64 * 1024,
            events_lost: 0,
            buffers_lost: 0,
            vmswitch: false,
        }
    }
}

/// A written trace and where each source frame went.
pub struct Written {
    pub bytes: Vec<u8>,
    /// For each source frame, the trace's frame number of its delivered copy (`None` when the
    /// medium cannot carry it, e.g. ARP on raw IP).
    pub frame_of: Vec<Option<u64>>,
    /// Frame numbers (pcapng blocks `etl2pcapng` would write) in all.
    pub frames: u64,
    /// Frame numbers of the drop events.
    pub drop_frames: Vec<u64>,
}

const PKTMON: [u8; 16] =
    [0xd9, 0x80, 0x4f, 0x4d, 0xbd, 0xc8, 0x73, 0x4d, 0xbb, 0x5b, 0x19, 0xc9, 0x04, 0x02, 0xc5, 0xac];
const NDIS: [u8; 16] = [0x6e, 0x00, 0xd6, 0x2e, 0x29, 0x47, 0x09, 0x46, 0xb4, 0x23, 0x3e, 0xe7, 0xbc, 0xd6, 0x78, 0xef];
/// A keyword bit standing for the manifest's "VMSwitch" (its value is not published; the
/// reader goes by the event id, 1003).
const VMSWITCH_KEYWORD: u64 = 0x400_0000_0000;
/// Some other TraceLogging provider, for events that are not packets.
const OTHER: [u8; 16] =
    [0x09, 0xc3, 0xd1, 0x0c, 0x78, 0x08, 0x15, 0x45, 0x83, 0xdb, 0x74, 0x98, 0x43, 0xb3, 0xf5, 0xc9];
const FILETIME_UNIX_EPOCH: i64 = 116_444_736_000_000_000;
/// pktmon components a packet passes, in the order of the real sample.
const COMPONENTS: [u16; 4] = [59, 61, 50, 48];
pub const DROP_REASON: u32 = 0x2b;

/// The trace's clock: frequency and the tick at its start.
struct Ticks {
    clock: Clock,
    freq: i128,
    start_ft: i64,
    start_tick: i64,
}

impl Ticks {
    fn filetime(ts_ns: i64) -> i64 {
        ts_ns.div_euclid(100) + FILETIME_UNIX_EPOCH
    }
    /// The tick of a time, rounded up so that the reader's rounding down gives it back.
    fn tick(&self, ts_ns: i64) -> i64 {
        let ft = Self::filetime(ts_ns);
        match self.clock {
            Clock::SystemTime => ft,
            _ => {
                let d = (ft - self.start_ft) as i128 * self.freq;
                self.start_tick + (d + 9_999_999).div_euclid(10_000_000) as i64
            }
        }
    }
}

/// One event to write: when, its bytes, and whether `etl2pcapng` makes a frame of it.
struct Ev {
    tick: i64,
    bytes: Vec<u8>,
    /// Source frame it carries, and whether it is the delivered (first) copy.
    frame: Option<(usize, bool)>,
    is_drop: bool,
}

fn event_header(bits32: bool, provider: [u8; 16], id: u16, keyword: u64, tick: i64, data: &[u8], ext: bool) -> Vec<u8> {
    let mut ext_items = Vec::new();
    if ext {
        // Two items like TraceLogging's: provider traits, then a schema, linked.
        for (i, (kind, body)) in [(0x0cu16, &b"\x0b\x00tlsdiag\0\0"[..]), (0x0b, &b"schema"[..])].iter().enumerate() {
            let size = (8 + body.len() + 7) & !7;
            ext_items.extend_from_slice(&(size as u16).to_le_bytes());
            ext_items.extend_from_slice(&kind.to_le_bytes());
            ext_items.extend_from_slice(&((i == 0) as u16).to_le_bytes());
            ext_items.extend_from_slice(&(body.len() as u16).to_le_bytes());
            ext_items.extend_from_slice(body);
            ext_items.resize(ext_items.len() + size - 8 - body.len(), 0);
        }
    }
    let size = 0x50 + ext_items.len() + data.len();
    assert!(size <= 0xffff, "event of {size} bytes");
    let mut e = Vec::with_capacity(size);
    e.extend_from_slice(&(size as u16).to_le_bytes());
    e.extend_from_slice(&(0xC000u16 | if bits32 { 0x12 } else { 0x13 }).to_le_bytes());
    let flags: u16 = (ext as u16) | if bits32 { 0x20 } else { 0x40 };
    e.extend_from_slice(&flags.to_le_bytes());
    e.extend_from_slice(&0u16.to_le_bytes()); // EventProperty
    e.extend_from_slice(&0x2624u32.to_le_bytes()); // ThreadId
    e.extend_from_slice(&0x0b74u32.to_le_bytes()); // ProcessId
    e.extend_from_slice(&tick.to_le_bytes());
    e.extend_from_slice(&provider);
    e.extend_from_slice(&id.to_le_bytes());
    e.extend_from_slice(&[0, 0, 4, 0]); // version, channel, level 4 (information), opcode
    e.extend_from_slice(&0u16.to_le_bytes()); // task
    e.extend_from_slice(&keyword.to_le_bytes());
    e.extend_from_slice(&0u64.to_le_bytes()); // processor time
    e.extend_from_slice(&[0; 16]); // activity id
    e.extend_from_slice(&ext_items);
    e.extend_from_slice(data);
    e
}

/// A non-packet event of one of the classic header kinds (SYSTEM, COMPACT, PERFINFO, full).
fn classic_event(kind: u8, tick: i64, payload: usize) -> Vec<u8> {
    let header = match kind {
        0x01 | 0x02 => 0x20,
        0x03 | 0x04 => 0x18,
        0x10 | 0x11 => 0x10,
        _ => 0x30,
    };
    let size = header + payload;
    let mut e = vec![0u8; size];
    match kind {
        0x0a | 0x14 | 0x0b | 0x15 => {
            e[0..2].copy_from_slice(&(size as u16).to_le_bytes());
            e[2] = kind;
            e[3] = 0xc0;
            e[0x10..0x18].copy_from_slice(&tick.to_le_bytes());
        }
        _ => {
            e[0..2].copy_from_slice(&2u16.to_le_bytes());
            e[2] = kind;
            e[3] = 0xc0;
            e[4..6].copy_from_slice(&(size as u16).to_le_bytes());
            e[6..8].copy_from_slice(&0x0524u16.to_le_bytes()); // a perfinfo hook
            let at = if header == 0x10 { 8 } else { 0x10 };
            e[at..at + 8].copy_from_slice(&tick.to_le_bytes());
        }
    }
    for (i, b) in e[header..].iter_mut().enumerate() {
        *b = i as u8;
    }
    e
}

/// The bytes of one Ethernet frame as `media` carries them.
fn on_medium(media: Media, eth: &[u8], protected: bool) -> Option<Vec<u8>> {
    match media {
        Media::Ethernet => Some(eth.to_vec()),
        Media::RawIp => {
            let ether_type = u16::from_be_bytes([*eth.get(12)?, *eth.get(13)?]);
            matches!(ether_type, 0x0800 | 0x86dd).then(|| eth[14..].to_vec())
        }
        Media::Wifi => {
            let mut w = Vec::with_capacity(eth.len() + 24 + 8 - 14);
            // Data frame from the distribution system: addr1 = destination, addr2 = BSSID,
            // addr3 = source. NDIS logs the frame decrypted with the Protected bit still on
            // (etl2pcapng clears it); pktmon's WiFi payloads are not known to carry it.
            w.extend_from_slice(&[0x08, if protected { 0x42 } else { 0x02 }, 0x00, 0x00]);
            w.extend_from_slice(eth.get(0..6)?);
            w.extend_from_slice(&[0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
            w.extend_from_slice(eth.get(6..12)?);
            w.extend_from_slice(&[0x10, 0x00]);
            w.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0]);
            w.extend_from_slice(eth.get(12..)?);
            Some(w)
        }
    }
}

/// The original length of a frame carried on `media`.
fn orig_on_medium(media: Media, orig_eth: u32) -> u32 {
    match media {
        Media::Ethernet => orig_eth,
        Media::RawIp => orig_eth - 14,
        Media::Wifi => orig_eth - 14 + 24 + 8,
    }
}

/// Writes the trace for `frames`.
pub fn write(frames: &[SourceFrame], opts: &Options) -> Written {
    let first_ts = frames.first().map(|f| f.ts_ns).unwrap_or(1_700_000_000_000_000_000);
    // The trace starts a little before the first packet, at a tick nowhere near zero.
    let start_ft = Ticks::filetime(first_ts) - 12_345_670;
    let ticks = match opts.clock {
        Clock::Qpc => Ticks { clock: opts.clock, freq: 10_000_000, start_ft, start_tick: 2_499_815_729_351 },
        Clock::CpuCycles => Ticks { clock: opts.clock, freq: 2_594_000_000, start_ft, start_tick: 7_777_777_777_777 },
        Clock::SystemTime => Ticks { clock: opts.clock, freq: 10_000_000, start_ft, start_tick: start_ft },
    };
    let mut events: Vec<Ev> = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let tick = ticks.tick(f.ts_ns);
        match opts.style {
            Style::Netsh { media, fragment, layers } => {
                let Some(bytes) = on_medium(media, &f.data, true) else { continue };
                let media_kw = match media {
                    Media::Ethernet => 0x1,
                    Media::Wifi => 0x1_0000,
                    Media::RawIp => 0x200,
                };
                for layer in 0..layers {
                    let pieces: Vec<&[u8]> = match fragment {
                        Some(n) => bytes.chunks(n).collect(),
                        None => vec![&bytes[..]],
                    };
                    let last = pieces.len() - 1;
                    for (k, piece) in pieces.iter().enumerate() {
                        let mut kw = media_kw | 0x2_0000_0000; // receive
                        if k == 0 {
                            kw |= 0x4000_0000;
                        }
                        if k == last {
                            kw |= 0x8000_0000;
                        }
                        let mut data = Vec::with_capacity(12 + piece.len());
                        data.extend_from_slice(&7u32.to_le_bytes()); // MiniportIfIndex
                        data.extend_from_slice(&(10 + layer).to_le_bytes()); // LowerIfIndex
                        data.extend_from_slice(&(piece.len() as u32).to_le_bytes());
                        data.extend_from_slice(piece);
                        // Copies at other layers come a few ticks later; fragments of one
                        // packet share its tick.
                        let t = tick + layer as i64;
                        events.push(Ev {
                            tick: t,
                            bytes: event_header(opts.bits32, NDIS, 1001, kw, t, &data, false),
                            frame: (k == last).then_some((i, layer == 0)),
                            is_drop: false,
                        });
                    }
                }
                if opts.vmswitch {
                    // MiniportIfIndex, LowerIfIndex, SourcePortId, SourcePortName,
                    // SourceNicName, SourceNicType, DestinationCount (none), FragmentSize,
                    // Fragment, OOBDataSize (none).
                    let mut data = Vec::new();
                    for v in [7u32, 7, 3] {
                        data.extend_from_slice(&v.to_le_bytes());
                    }
                    for name in ["Port 3", "vm-sql01", "Synthetic"] {
                        for u in name.encode_utf16().chain([0]) {
                            data.extend_from_slice(&u.to_le_bytes());
                        }
                    }
                    data.extend_from_slice(&0u32.to_le_bytes());
                    data.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                    data.extend_from_slice(&bytes);
                    data.extend_from_slice(&0u32.to_le_bytes());
                    let t = tick + layers as i64;
                    let kw = media_kw | 0x2_0000_0000 | 0x4000_0000 | 0x8000_0000 | VMSWITCH_KEYWORD;
                    events.push(Ev {
                        tick: t,
                        bytes: event_header(opts.bits32, NDIS, 1003, kw, t, &data, false),
                        frame: Some((i, false)),
                        is_drop: false,
                    });
                }
            }
            Style::Pktmon { media, components, pkt_size, drop, .. } => {
                let Some(bytes) = on_medium(media, &f.data, false) else { continue };
                let orig = orig_on_medium(media, f.orig_len).min(0xffff);
                let logged = pkt_size.map_or(bytes.len(), |n| n.min(bytes.len()));
                let packet_type: u16 = match media {
                    Media::Ethernet => 1,
                    Media::Wifi => 2,
                    Media::RawIp => 3,
                };
                let dropped = drop.contains(&i);
                let appearances = components + dropped as u32;
                for k in 0..appearances {
                    let is_drop = dropped && k == components;
                    let mut data = Vec::with_capacity(34 + logged);
                    data.extend_from_slice(&(0x10_0000u64 + i as u64).to_le_bytes()); // PktGroupId
                    data.extend_from_slice(&1u16.to_le_bytes()); // PktNumber
                    data.extend_from_slice(&(k as u16 + 1).to_le_bytes()); // AppearanceCount
                    data.extend_from_slice(&3u16.to_le_bytes()); // DirTag
                    data.extend_from_slice(&packet_type.to_le_bytes());
                    data.extend_from_slice(&COMPONENTS[k as usize % 4].to_le_bytes());
                    data.extend_from_slice(&1u16.to_le_bytes()); // EdgeId
                    data.extend_from_slice(&1u16.to_le_bytes()); // FilterId
                    data.extend_from_slice(&(if is_drop { DROP_REASON } else { 0 }).to_le_bytes());
                    data.extend_from_slice(&(if is_drop { 0x0e00_0011u32 } else { 0 }).to_le_bytes());
                    data.extend_from_slice(&(orig as u16).to_le_bytes());
                    data.extend_from_slice(&(logged as u16).to_le_bytes());
                    data.extend_from_slice(&bytes[..logged]);
                    let t = tick + k as i64;
                    let id = if is_drop { 170 } else { 160 };
                    events.push(Ev {
                        tick: t,
                        bytes: event_header(opts.bits32, PKTMON, id, 0x10, t, &data, false),
                        frame: Some((i, k == 0)),
                        is_drop,
                    });
                }
            }
        }
        // Events that are not packets between the packets: every header kind the reader
        // must skip by its size, and a TraceLogging event with extended data items.
        let kinds: [u8; 5] = if opts.bits32 { [0x01, 0x03, 0x10, 0x0a, 0x12] } else { [0x02, 0x04, 0x11, 0x14, 0x13] };
        let kind = kinds[i % kinds.len()];
        let bytes = if kind & 0xfe == 0x12 {
            event_header(opts.bits32, OTHER, 7, 0x4000_0000_0000, tick, b"not a packet", true)
        } else {
            classic_event(kind, tick, 5 + i % 13)
        };
        events.push(Ev { tick, bytes, frame: None, is_drop: false });
    }
    // Time order, as ProcessTrace delivers the events (stable: ties keep the writing order).
    events.sort_by_key(|e| e.tick);
    let mut frame_of = vec![None; frames.len()];
    let mut drop_frames = Vec::new();
    let mut number = 0;
    for e in &events {
        if let Some((i, delivered)) = e.frame {
            number += 1;
            if delivered {
                frame_of[i] = Some(number);
            }
            if e.is_drop {
                drop_frames.push(number);
            }
        }
    }
    // CPUs: events rotate over them, but events of equal ticks stay on one CPU so that the
    // order within a tick is the order within a buffer.
    let cpus = opts.cpus.max(1) as usize;
    let mut per_cpu: Vec<Vec<&Ev>> = vec![Vec::new(); cpus];
    let mut cpu = 0;
    for (n, e) in events.iter().enumerate() {
        if n > 0 && e.tick != events[n - 1].tick {
            cpu = (cpu + 1 + n / 7) % cpus;
        }
        per_cpu[cpu].push(e);
    }
    let compress = matches!(opts.style, Style::Pktmon { compress: true, .. });
    // Each CPU's events fill its buffers; buffers go to the file in the order they would be
    // flushed (when full, so by their last event), which makes buffers of different CPUs
    // overlap in time.
    let mut buffers: Vec<(i64, u8, Vec<u8>)> = Vec::new();
    for (cpu, evs) in per_cpu.iter().enumerate() {
        let mut body: Vec<u8> = Vec::new();
        let mut last_tick = 0;
        for e in evs {
            let len = (e.bytes.len() + 7) & !7;
            if 0x48 + body.len() + len > opts.buffer_size && !body.is_empty() {
                buffers.push((last_tick, cpu as u8, std::mem::take(&mut body)));
            }
            assert!(0x48 + len <= opts.buffer_size, "event of {len} bytes does not fit a buffer");
            body.extend_from_slice(&e.bytes);
            body.resize(body.len() + len - e.bytes.len(), 0);
            last_tick = e.tick;
        }
        if !body.is_empty() {
            buffers.push((last_tick, cpu as u8, body));
        }
    }
    buffers.sort_by_key(|b| b.0);
    let mut out = header_buffer(opts, &ticks, frames, cpus, buffers.len() as u32 + 1);
    for (seq, (last_tick, cpu, body)) in buffers.into_iter().enumerate() {
        // Alternate compressed and stored buffers when compressing, as a relogger may.
        let compressed = compress && seq % 3 != 2;
        let flush_ft = ticks.start_ft + 100 + ((last_tick - ticks.start_tick) as i128 * 10_000_000 / ticks.freq) as i64;
        out.extend_from_slice(&data_buffer(opts, cpu, seq as u64 + 1, flush_ft, &body, compressed));
    }
    Written { bytes: out, frame_of, frames: number, drop_frames }
}

fn buffer_header(size: usize, filled: usize, flush_ft: i64, seq: u64, cpu: u8, flag: u16, kind: u16) -> Vec<u8> {
    let mut h = vec![0u8; 0x48];
    h[0..4].copy_from_slice(&(size as u32).to_le_bytes());
    h[4..8].copy_from_slice(&(filled as u32).to_le_bytes()); // SavedOffset
    h[8..12].copy_from_slice(&(filled as u32).to_le_bytes()); // CurrentOffset
    h[0x10..0x18].copy_from_slice(&flush_ft.to_le_bytes());
    h[0x18..0x20].copy_from_slice(&seq.to_le_bytes());
    h[0x28] = cpu;
    h[0x2c..0x30].copy_from_slice(&3u32.to_le_bytes()); // State: flushed
    h[0x30..0x34].copy_from_slice(&(filled as u32).to_le_bytes()); // Offset
    h[0x34..0x36].copy_from_slice(&flag.to_le_bytes());
    h[0x36..0x38].copy_from_slice(&kind.to_le_bytes());
    h
}

fn data_buffer(opts: &Options, cpu: u8, seq: u64, flush_ft: i64, body: &[u8], compressed: bool) -> Vec<u8> {
    let filled = 0x48 + body.len();
    if compressed {
        let packed = lz77_compress(body);
        let mut b = buffer_header(0x48 + packed.len(), filled, flush_ft, seq, cpu, 0x60, 0);
        b.extend_from_slice(&packed);
        return b;
    }
    let mut b = buffer_header(opts.buffer_size, filled, flush_ft, seq, cpu, 0x20, 0);
    b.extend_from_slice(body);
    // Unused space: the reader must stop at Offset, whatever follows.
    b.resize(opts.buffer_size, 0xff);
    b
}

/// The first buffer: a SYSTEM header event of hook 0 carrying the TRACE_LOGFILE_HEADER.
fn header_buffer(opts: &Options, ticks: &Ticks, frames: &[SourceFrame], cpus: usize, buffers: u32) -> Vec<u8> {
    let mut lh = Vec::new();
    let push32 = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_le_bytes());
    let end_ft = Ticks::filetime(frames.last().map(|f| f.ts_ns).unwrap_or(0)) + 10_000_000;
    push32(&mut lh, opts.buffer_size as u32); // BufferSize
    lh.extend_from_slice(&[10, 0, 2, 0]); // Version 10.0.2.0
    push32(&mut lh, 20348); // ProviderVersion (build)
    push32(&mut lh, cpus as u32); // NumberOfProcessors
    lh.extend_from_slice(&end_ft.to_le_bytes()); // EndTime
    push32(&mut lh, 156_250); // TimerResolution
    push32(&mut lh, 512); // MaximumFileSize
    push32(&mut lh, 0x0400_0001); // LogFileMode: sequential, compressed
    push32(&mut lh, buffers); // BuffersWritten, the header buffer included
    push32(&mut lh, 1); // StartBuffers
    push32(&mut lh, if opts.bits32 { 4 } else { 8 }); // PointerSize
    push32(&mut lh, opts.events_lost);
    push32(&mut lh, 2594); // CpuSpeedInMHz
    let pointers = if opts.bits32 { 8 } else { 16 };
    lh.resize(lh.len() + pointers, 0); // LoggerName, LogFileName (pointers)
    let tz_at = lh.len();
    lh.resize(tz_at + 172, 0); // TIME_ZONE_INFORMATION
    lh[tz_at + 4..tz_at + 4 + 8].copy_from_slice(&[b'U', 0, b'T', 0, b'C', 0, 0, 0]);
    lh.resize((lh.len() + 7) & !7, 0);
    lh.extend_from_slice(&(ticks.start_ft - 864_000_000_000).to_le_bytes()); // BootTime
    let perf_freq: i64 = if ticks.clock == Clock::Qpc { ticks.freq as i64 } else { 10_000_000 };
    lh.extend_from_slice(&perf_freq.to_le_bytes());
    lh.extend_from_slice(&ticks.start_ft.to_le_bytes()); // StartTime
    let clock_type: u32 = match ticks.clock {
        Clock::Qpc => 1,
        Clock::SystemTime => 2,
        Clock::CpuCycles => 3,
    };
    push32(&mut lh, clock_type); // ReservedFlags
    push32(&mut lh, opts.buffers_lost);
    for name in ["tlsdiag-test", "C:\\t.etl"] {
        for u in name.encode_utf16().chain([0]) {
            lh.extend_from_slice(&u.to_le_bytes());
        }
    }
    let size = 0x20 + lh.len();
    let mut ev = vec![0u8; 0x20];
    ev[0..2].copy_from_slice(&2u16.to_le_bytes());
    ev[2] = if opts.bits32 { 0x01 } else { 0x02 };
    ev[3] = 0xc0;
    ev[4..6].copy_from_slice(&(size as u16).to_le_bytes());
    ev[8..12].copy_from_slice(&0x2624u32.to_le_bytes());
    ev[0x10..0x18].copy_from_slice(&ticks.start_tick.to_le_bytes());
    ev.extend_from_slice(&lh);
    ev.resize((ev.len() + 7) & !7, 0);
    let size_on_disk = opts.buffer_size.min(4096).max(0x48 + ev.len());
    let mut b = buffer_header(size_on_disk, 0x48 + ev.len(), 0, 0, 0, 0x1, 4);
    b.extend_from_slice(&ev);
    b.resize(size_on_disk, 0xff);
    b
}

/// Plain LZ77 of [MS-XCA] 2.3: greedy matching over a hash of three bytes.
pub fn lz77_compress(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 2 + 8);
    let mut flags: u32 = 0;
    let mut flag_count = 0;
    let mut flag_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let mut half_byte: Option<usize> = None;
    let mut table = vec![usize::MAX; 1 << 14];
    let hash = |b: &[u8]| ((b[0] as usize) << 6 ^ (b[1] as usize) << 3 ^ b[2] as usize) & ((1 << 14) - 1);
    let mut at = 0;
    let push_flag = |out: &mut Vec<u8>, bit: u32, flags: &mut u32, count: &mut u32, flag_at: &mut usize| {
        *flags = (*flags << 1) | bit;
        *count += 1;
        if *count == 32 {
            out[*flag_at..*flag_at + 4].copy_from_slice(&flags.to_le_bytes());
            *flag_at = out.len();
            out.extend_from_slice(&[0; 4]);
            *flags = 0;
            *count = 0;
        }
    };
    while at < input.len() {
        let mut best = (0, 0);
        if at + 3 <= input.len() {
            let h = hash(&input[at..]);
            let cand = table[h];
            table[h] = at;
            if cand != usize::MAX && at - cand <= 8192 {
                let max = input.len() - at;
                let mut len = 0;
                while len < max && input[cand + len] == input[at + len] {
                    len += 1;
                }
                if len >= 3 {
                    best = (at - cand, len);
                }
            }
        }
        let (offset, length) = best;
        if length < 3 {
            out.push(input[at]);
            push_flag(&mut out, 0, &mut flags, &mut flag_count, &mut flag_at);
            at += 1;
            continue;
        }
        let l = length - 3;
        let token = (((offset - 1) << 3) | l.min(7)) as u16;
        out.extend_from_slice(&token.to_le_bytes());
        if l >= 7 {
            let l = l - 7;
            let nibble = l.min(15) as u8;
            match half_byte.take() {
                None => {
                    half_byte = Some(out.len());
                    out.push(nibble);
                }
                Some(h) => out[h] |= nibble << 4,
            }
            if l >= 15 {
                let l = l - 15;
                if l < 255 {
                    out.push(l as u8);
                } else {
                    out.push(255);
                    let full = length - 3;
                    if full <= 0xffff {
                        out.extend_from_slice(&(full as u16).to_le_bytes());
                    } else {
                        out.extend_from_slice(&0u16.to_le_bytes());
                        out.extend_from_slice(&(full as u32).to_le_bytes());
                    }
                }
            }
        }
        push_flag(&mut out, 1, &mut flags, &mut flag_count, &mut flag_at);
        at += length;
    }
    // The remaining flag bits are ones: the decoder meets a match flag at the end of input.
    let rest = 32 - flag_count;
    let word = if rest == 32 { u32::MAX } else { (flags << rest) | ((1u32 << rest) - 1) };
    out[flag_at..flag_at + 4].copy_from_slice(&word.to_le_bytes());
    out
}
