//! Windows Event Trace Logs (`.etl`) written by `netsh trace start capture=yes` and by
//! `pktmon start --capture`: their packets, as `etl2pcapng` / `pktmon etl2pcap` would show
//! them, and once per packet.
//!
//! An ETL file is a sequence of WMI buffers, one CPU's events each (`wmi`), some compressed
//! with plain LZ77 (`lz77`). Buffers of different CPUs overlap in time, so the reader keeps a
//! bounded window of buffers and merges their events by timestamp, reading the file once, in
//! order (a pipe works). Packet events (`packets`) become frames.
//!
//! Frame numbers: every packet event the Microsoft converters turn into a pcapng block (each
//! pktmon appearance, drops included; each completed NDIS packet at each layer) takes the
//! number it has in their output, so an evidence frame is found under the same number in
//! Wireshark after conversion. A packet logged again at another component or layer is not
//! delivered a second time: its number is skipped, like the first copy of a packet in time is
//! the one delivered.

mod copies;
mod input;
mod lz77;
mod packets;
mod wmi;

use super::buffer::RecordBuffer;
use super::pcap::MAX_RECORD;
use super::{CaptureError, Frame, LinkType, Nanos, PacketSource};
use copies::{NdisCopies, SeenGroups};
use input::{Bytes, Input};
use packets::{inferred_orig_len, is_packet_event, packet_event, PacketEvent, NDIS_NAME, PKTMON_NAME};
use serde::Serialize;
use std::collections::{BTreeMap, BinaryHeap};
use std::io::Read;
use wmi::{BufferHeader, EventAt, LogfileHeader, BUFFER_HEADER};

pub(crate) use wmi::looks_like_etl;

/// Expands a plain-LZ77 (MS-XCA) buffer body to at most `limit` bytes: for tests that check
/// the structure of ETL files independently of this reader.
#[doc(hidden)]
pub fn expand_lz77(src: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    let mut out = vec![0; limit];
    let n = expand_lz77_into(src, &mut out)?;
    out.truncate(n);
    Ok(out)
}

/// Expands a plain-LZ77 buffer body into `out`, returning the bytes written: for the bench
/// that measures the decoder alone (the floor of reading a compressed trace).
#[doc(hidden)]
pub fn expand_lz77_into(src: &[u8], out: &mut [u8]) -> Result<usize, String> {
    lz77::decompress(src, out).map_err(|e| e.to_string())
}

/// Bytes of the input needed to recognise an ETL file.
pub(crate) const SNIFF_LEN: usize = BUFFER_HEADER + 0x20;

/// Buffers held at once for the time merge: enough for every CPU to have one or two in
/// flight; memory stays below `MAX_WINDOW_BYTES` whatever the file says.
const MIN_WINDOW: usize = 8;
const MAX_WINDOW: usize = 128;
const MAX_WINDOW_BYTES: usize = 64 * 1024 * 1024;
/// Frame numbers of drops kept for the summary.
const DROPS_LISTED: usize = 100;

/// What an ETL file tells beyond its packets, for the file summary.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct EtlSummary {
    /// Packet providers seen (Microsoft-Windows-PktMon, Microsoft-Windows-NDIS-PacketCapture).
    pub providers: Vec<&'static str>,
    /// `qpc`, `system_time` or `cpu_cycles`.
    pub clock: &'static str,
    /// Events and buffers the trace session lost (logfile header): capture loss on the
    /// Windows host, never packets lost by the network.
    pub events_lost: u64,
    pub buffers_lost: u64,
    /// Packet events that repeat a packet already delivered (pktmon's one event per
    /// component, NDIS's one event per layer): numbered, not analysed again.
    pub component_copies: u64,
    /// pktmon drop events (170): a Windows component dropped the packet.
    pub dropped: u64,
    /// Drop events per pktmon drop reason code.
    pub drop_reasons: BTreeMap<u32, u64>,
    /// Frame numbers of the first drop events (at most 100).
    pub drop_frames: Vec<u64>,
    /// Packets logged by the Hyper-V virtual switch (NDIS event 1003): numbered as
    /// `etl2pcapng` numbers them, not analysed (their layout is not published).
    pub vmswitch_packets: u64,
}

impl EtlSummary {
    /// The file summary's line about packets Windows components dropped, `None` when none
    /// were: "N packets dropped by Windows components (pktmon drop reason R xN, ...;
    /// frames F, ...)".
    pub fn drops_line(&self) -> Option<String> {
        if self.dropped == 0 {
            return None;
        }
        let reasons: Vec<String> = self.drop_reasons.iter().map(|(r, n)| format!("{r} x{n}")).collect();
        let shown = self.drop_frames.len().min(5);
        let mut frames: Vec<String> = self.drop_frames[..shown].iter().map(u64::to_string).collect();
        if self.dropped as usize > shown {
            frames.push("...".into());
        }
        Some(format!(
            "{} packet{} dropped by Windows components (pktmon drop reason {}; frame{} {})",
            self.dropped,
            if self.dropped == 1 { "" } else { "s" },
            reasons.join(", "),
            if self.dropped == 1 { "" } else { "s" },
            frames.join(", ")
        ))
    }
}

/// A packet a Windows component dropped (pktmon event 170), with the bytes it logged.
#[derive(Clone, Debug)]
pub struct HostDrop {
    /// Frame number of the drop event (`etl2pcapng` writes it as a frame too).
    pub frame: u64,
    pub ts: Nanos,
    /// pktmon drop reason code.
    pub reason: u32,
    pub link_type: LinkType,
    pub orig_len: u32,
    /// The start of the packet (headers are enough to find its connection).
    pub data: Vec<u8>,
}

/// Drops waiting to be taken, beyond which they are only counted; bytes kept per drop.
const DROPS_PENDING: usize = 4096;
const DROP_BYTES: usize = 256;

/// One buffer of the merge window, expanded, with the next packet event found.
struct Slot {
    bytes: Bytes,
    /// File offset of the buffer, for errors.
    offset: u64,
    compressed: bool,
    cpu: u8,
    /// Order in the file: ties in time go to the earlier buffer.
    seq: u64,
    /// Where to look for the event after `head`.
    cursor: usize,
    /// Next packet event: raw timestamp and place.
    head: Option<(i64, EventAt)>,
}

/// The next packet event of a window buffer, ordered for the merge: earliest time first,
/// then earliest buffer in the file (`BinaryHeap` is a max-heap, hence the reversed order).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Head {
    ts: i64,
    seq: u64,
    slot: usize,
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.ts, other.seq).cmp(&(self.ts, self.seq))
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

fn saw_provider(seen: &mut u8, providers: &mut Vec<&'static str>, bit: u8, name: &'static str) {
    if *seen & bit == 0 {
        *seen |= bit;
        providers.push(name);
    }
}

/// Bytes a buffer holds of its own (those lying in an input block are counted with it).
fn owned_bytes(bytes: &Bytes) -> usize {
    match bytes {
        Bytes::Owned(v) => v.capacity(),
        Bytes::InBlock { .. } => 0,
    }
}

/// Moves a slot's head to its next packet event; `Ok(false)` when it has none left, `Err`
/// with the place and reason of a malformed event.
fn advance(slot: &mut Slot) -> Result<bool, (usize, String)> {
    let bytes = slot.bytes.get();
    let mut at = slot.cursor;
    let found = loop {
        let event = match wmi::event_at(bytes, at) {
            Ok(Some(e)) => e,
            Ok(None) => break Ok(None),
            Err(reason) => break Err((at, reason)),
        };
        at = wmi::next_event(&event);
        if !matches!(event.kind, wmi::EVENT_HEADER32 | wmi::EVENT_HEADER64) {
            continue;
        }
        // An EVENT_HEADER is 0x50 bytes at least (`event_at` checked).
        let ev = &bytes[event.start..event.start + event.len];
        let id = u16::from_le_bytes([ev[0x28], ev[0x29]]);
        if is_packet_event(&ev[0x18..0x28], id) {
            let ts = i64::from_le_bytes(ev[0x10..0x18].try_into().unwrap_or_default());
            // Reads ahead, without using what it reads, the memory the next frame of this
            // buffer needs (the event's fields and packet headers, the event after it), so
            // that fetching it overlaps the frames taken from other buffers before.
            let last = bytes.len() - 1;
            for ahead in [event.start + 0x3f, event.start + 0x7f, event.start + 0xbf, at] {
                std::hint::black_box(bytes[ahead.min(last)]);
            }
            break Ok(Some((ts, event)));
        }
    };
    slot.cursor = at;
    match found {
        Ok(head) => {
            slot.head = head;
            Ok(head.is_some())
        }
        Err(e) => {
            slot.head = None;
            Err(e)
        }
    }
}

/// A frame to hand out: its bytes are a range of a window buffer, or the assembled copy.
struct Delivery {
    link_type: LinkType,
    orig_len: u32,
    range: Option<(usize, usize)>,
}

/// A packet made of several NDIS fragment events (before Windows 8.1).
#[derive(Default)]
struct Partial {
    bytes: Vec<u8>,
    active: bool,
}

/// Providers seen, as bits, so that the summary's list is kept without a string compare per
/// packet.
const PKTMON_SEEN: u8 = 1;
const NDIS_SEEN: u8 = 2;

pub(crate) struct EtlReader {
    input: Input,
    header: LogfileHeader,
    /// The merge window: buffers by place (a place is reused once its buffer is released,
    /// see `free`), and the heads of those with a packet event left.
    slots: Vec<Slot>,
    free: Vec<usize>,
    heap: BinaryHeap<Head>,
    /// A buffer with no event left that the last frame borrows: released on the next call.
    borrowed: Option<usize>,
    window_limit: usize,
    window_bytes: usize,
    spare: Vec<Vec<u8>>,
    next_seq: u64,
    /// Buffers read, the header buffer included.
    buffers_read: u64,
    input_done: bool,
    /// Why reading stopped, reported once the window is drained.
    pending_error: Option<CaptureError>,
    frames: u64,
    /// A frame assembled from fragments.
    assembled: Vec<u8>,
    partial: Vec<Partial>,
    groups: SeenGroups,
    ndis_copies: NdisCopies,
    providers_seen: u8,
    drops: Vec<HostDrop>,
    summary: EtlSummary,
}

impl EtlReader {
    /// Reads the logfile header buffer; the stream is read on from where sniffing left it.
    pub(crate) fn new<R: Read + Send + 'static>(input: RecordBuffer<R>) -> Result<Self, CaptureError> {
        let mut reader = EtlReader {
            input: Input::new(Box::new(input.into_inner())),
            header: LogfileHeader {
                clock: wmi::Clock::Qpc,
                frequency: 1,
                start_filetime: 0,
                start_ticks: 0,
                processors: 1,
                buffers_written: None,
                events_lost: 0,
                buffers_lost: 0,
            },
            slots: Vec::new(),
            free: Vec::new(),
            heap: BinaryHeap::new(),
            borrowed: None,
            window_limit: MIN_WINDOW,
            window_bytes: 0,
            spare: Vec::new(),
            next_seq: 0,
            buffers_read: 0,
            input_done: false,
            pending_error: None,
            frames: 0,
            assembled: Vec::new(),
            partial: Vec::new(),
            groups: SeenGroups::new(),
            ndis_copies: NdisCopies::new(),
            providers_seen: 0,
            drops: Vec::new(),
            summary: EtlSummary::default(),
        };
        let first = reader.read_buffer()?.ok_or(CaptureError::Truncated {
            frame: 0,
            offset: 0,
            what: "ETL logfile header buffer",
        })?;
        let event = wmi::event_at(first.bytes.get(), BUFFER_HEADER)
            .ok()
            .flatten()
            .ok_or_else(|| reader.corrupt(BUFFER_HEADER as u64, "no logfile header event".into()))?;
        let header = wmi::logfile_header(&first.bytes.get()[event.start..event.start + event.len])
            .map_err(|reason| reader.corrupt(event.start as u64, reason))?;
        reader.header = header;
        reader.window_limit = (header.processors as usize * 2).clamp(MIN_WINDOW, MAX_WINDOW);
        reader.summary.clock = header.clock.name();
        reader.summary.events_lost = header.events_lost as u64;
        reader.summary.buffers_lost = header.buffers_lost as u64;
        reader.admit(first);
        Ok(reader)
    }

    fn corrupt(&self, offset: u64, reason: String) -> CaptureError {
        CaptureError::Corrupt { frame: self.frames + 1, offset, reason }
    }

    /// Reads and expands the next buffer; `None` at a clean end of the input.
    fn read_buffer(&mut self) -> Result<Option<Slot>, CaptureError> {
        let offset = self.input.offset();
        let frame = self.frames + 1;
        let available = self.input.fill(BUFFER_HEADER)?;
        if available == 0 {
            return Ok(None);
        }
        if available < BUFFER_HEADER {
            return Err(CaptureError::Truncated { frame, offset, what: "ETL buffer header" });
        }
        let header = BufferHeader::parse(self.input.peek(BUFFER_HEADER)).map_err(|reason| CaptureError::Corrupt {
            frame,
            offset,
            reason,
        })?;
        if self.input.fill(header.size)? < header.size {
            return Err(CaptureError::Truncated { frame, offset, what: "ETL buffer" });
        }
        let bytes = if header.compressed() {
            let raw = self.input.peek(header.size);
            let mut bytes = self.spare.pop().unwrap_or_default();
            // A recycled buffer is not zeroed first: the expansion must write every byte
            // up to `filled`, or the buffer is refused.
            if bytes.len() < header.filled {
                bytes.resize(header.filled, 0);
            }
            bytes.truncate(header.filled);
            bytes[..BUFFER_HEADER].copy_from_slice(&raw[..BUFFER_HEADER]);
            let expanded = lz77::decompress(&raw[BUFFER_HEADER..], &mut bytes[BUFFER_HEADER..])
                .map_err(|e| CaptureError::Corrupt { frame, offset, reason: e.to_string() })?;
            if BUFFER_HEADER + expanded != header.filled {
                return Err(CaptureError::Corrupt {
                    frame,
                    offset,
                    reason: format!(
                        "compressed buffer expands to {} bytes, its header says {}",
                        BUFFER_HEADER + expanded,
                        header.filled
                    ),
                });
            }
            self.input.consume(header.size);
            Bytes::Owned(bytes)
        } else {
            // Used where it lies in the input block: no copy.
            self.input.take_shared(header.size, header.filled)
        };
        self.buffers_read += 1;
        let seq = self.next_seq;
        self.next_seq += 1;
        Ok(Some(Slot {
            bytes,
            offset,
            compressed: header.compressed(),
            cpu: header.cpu,
            seq,
            cursor: BUFFER_HEADER,
            head: None,
        }))
    }

    /// Where an error inside a buffer's events is: the file offset when the buffer is stored
    /// as is, else the buffer's offset and the place in its expanded bytes.
    fn event_error(&self, slot: &Slot, at: usize, reason: String) -> CaptureError {
        if slot.compressed {
            self.corrupt(slot.offset, format!("{reason} (byte {at} of the expanded compressed buffer)"))
        } else {
            self.corrupt(slot.offset + at as u64, reason)
        }
    }

    /// Puts a buffer in the window when it has a packet event; recycles it otherwise.
    fn admit(&mut self, mut slot: Slot) {
        match advance(&mut slot) {
            Ok(true) => {
                self.window_bytes += owned_bytes(&slot.bytes);
                let (ts, _) = slot.head.expect("advance found a head");
                let seq = slot.seq;
                let place = match self.free.pop() {
                    Some(place) => {
                        self.slots[place] = slot;
                        place
                    }
                    None => {
                        self.slots.push(slot);
                        self.slots.len() - 1
                    }
                };
                self.heap.push(Head { ts, seq, slot: place });
            }
            Ok(false) => self.give_back(slot.bytes),
            Err((at, reason)) => {
                let e = self.event_error(&slot, at, reason);
                self.pending_error.get_or_insert(e);
                self.input_done = true;
            }
        }
    }

    /// Reads buffers until the window is full or the input ends.
    fn fill_window(&mut self) {
        while !self.input_done
            && self.slots.len() - self.free.len() < self.window_limit
            && self.window_bytes + self.input.block_bytes < MAX_WINDOW_BYTES
        {
            match self.read_buffer() {
                Ok(Some(slot)) => self.admit(slot),
                Ok(None) => {
                    self.input_done = true;
                    // A file cut at a buffer boundary ends cleanly: the header's count of
                    // buffers tells it was cut.
                    if let Some(announced) = self.header.buffers_written {
                        if self.buffers_read < announced as u64 {
                            self.pending_error.get_or_insert(CaptureError::Truncated {
                                frame: self.frames + 1,
                                offset: self.input.offset(),
                                what: "ETL file: fewer buffers than its logfile header announces",
                            });
                        }
                    }
                }
                Err(e) => {
                    self.pending_error.get_or_insert(e);
                    self.input_done = true;
                }
            }
        }
    }

    /// Takes a buffer out of the window (its head must be out of the heap already).
    fn release(&mut self, i: usize) {
        let bytes = std::mem::replace(&mut self.slots[i].bytes, Bytes::Owned(Vec::new()));
        self.slots[i].head = None;
        self.window_bytes -= owned_bytes(&bytes);
        self.give_back(bytes);
        self.free.push(i);
    }

    /// Recycles a buffer's bytes: an expanded vector for the next compressed buffer, a
    /// block to the input.
    fn give_back(&mut self, bytes: Bytes) {
        if let Some(v) = self.input.release(bytes) {
            self.spare.push(v);
        }
    }
}

impl PacketSource for EtlReader {
    fn frames_read(&self) -> u64 {
        self.frames
    }

    fn etl_summary(&self) -> Option<EtlSummary> {
        Some(self.summary.clone())
    }

    fn take_host_drops(&mut self) -> Vec<HostDrop> {
        std::mem::take(&mut self.drops)
    }

    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        if let Some(i) = self.borrowed.take() {
            self.release(i);
        }
        loop {
            self.fill_window();
            let Some(&Head { ts: raw_ts, slot: i, .. }) = self.heap.peek() else {
                return match self.pending_error.take() {
                    // The error was found while buffers before it were still being merged:
                    // it names the frame that would have come next.
                    Some(CaptureError::Truncated { offset, what, .. }) => {
                        Err(CaptureError::Truncated { frame: self.frames + 1, offset, what })
                    }
                    Some(CaptureError::Corrupt { offset, reason, .. }) => {
                        Err(CaptureError::Corrupt { frame: self.frames + 1, offset, reason })
                    }
                    Some(e) => Err(e),
                    None => Ok(None),
                };
            };
            let slot = &self.slots[i];
            let (_, event) = slot.head.expect("a buffer in the heap has a head");
            let ev = &slot.bytes.get()[event.start..event.start + event.len];
            let packet = match wmi::event_header(ev).and_then(|h| packet_event(&h)) {
                Ok(p) => p,
                Err(reason) => {
                    let e = self.event_error(slot, event.start, reason);
                    self.pending_error.get_or_insert(e);
                    self.input_done = true;
                    self.heap.pop();
                    self.release(i);
                    continue;
                }
            };
            let ts = self.header.unix_nanos(raw_ts);
            let cpu = slot.cpu as usize;
            let mut deliver: Option<Delivery> = None;
            match packet {
                PacketEvent::PktMon { group, number, drop, link_type, orig_len, data, .. } => {
                    saw_provider(&mut self.providers_seen, &mut self.summary.providers, PKTMON_SEEN, PKTMON_NAME);
                    self.frames += 1;
                    let first_copy = !self.groups.seen(group, number);
                    if !first_copy {
                        self.summary.component_copies += 1;
                    }
                    if let Some((reason, _location)) = drop {
                        // A Windows component dropped it: evidence about the host, never a
                        // packet the network carried further.
                        self.summary.dropped += 1;
                        *self.summary.drop_reasons.entry(reason).or_default() += 1;
                        if self.summary.drop_frames.len() < DROPS_LISTED {
                            self.summary.drop_frames.push(self.frames);
                        }
                        if self.drops.len() < DROPS_PENDING {
                            self.drops.push(HostDrop {
                                frame: self.frames,
                                ts,
                                reason,
                                link_type,
                                orig_len,
                                data: data[..data.len().min(DROP_BYTES)].to_vec(),
                            });
                        }
                    } else if first_copy {
                        let start = data.as_ptr() as usize - slot.bytes.get().as_ptr() as usize;
                        deliver = Some(Delivery { link_type, orig_len, range: Some((start, start + data.len())) });
                    }
                }
                PacketEvent::VmSwitch { end } => {
                    saw_provider(&mut self.providers_seen, &mut self.summary.providers, NDIS_SEEN, NDIS_NAME);
                    if end {
                        self.frames += 1;
                        self.summary.vmswitch_packets += 1;
                    }
                }
                PacketEvent::Ndis { miniport, lower, start, end, send, link_type, data } => {
                    saw_provider(&mut self.providers_seen, &mut self.summary.providers, NDIS_SEEN, NDIS_NAME);
                    if self.partial.len() <= cpu {
                        self.partial.resize_with(cpu + 1, Partial::default);
                    }
                    let partial = &mut self.partial[cpu];
                    if start {
                        partial.bytes.clear();
                        partial.active = false;
                    }
                    if end && !partial.active {
                        // The common case since Windows 8.1: one event, one packet.
                        self.frames += 1;
                        let begin = data.as_ptr() as usize - slot.bytes.get().as_ptr() as usize;
                        let mut range = Some((begin, begin + data.len()));
                        if self.ndis_copies.is_copy((miniport, lower, send), data, ts) {
                            self.summary.component_copies += 1;
                        } else {
                            if link_type == LinkType::IEEE802_11 && data.len() > 1 {
                                // Logged decrypted with the Protected bit still set; cleared
                                // as etl2pcapng does, so the frame reads as what it is (in
                                // a copy: the buffer may lie in a shared input block).
                                self.assembled.clear();
                                self.assembled.extend_from_slice(data);
                                self.assembled[1] &= !0x40;
                                range = None;
                            }
                            deliver = Some(Delivery { link_type, orig_len: inferred_orig_len(link_type, data), range });
                        }
                    } else if partial.bytes.len() + data.len() > MAX_RECORD as usize {
                        let e = self.event_error(
                            &self.slots[i],
                            event.start,
                            format!("NDIS packet fragments exceed the {MAX_RECORD}-byte record limit"),
                        );
                        self.pending_error.get_or_insert(e);
                        self.input_done = true;
                        self.heap.pop();
                        self.release(i);
                        continue;
                    } else {
                        partial.bytes.extend_from_slice(data);
                        partial.active = !end;
                        if end {
                            self.frames += 1;
                            let mut whole = std::mem::take(&mut self.partial[cpu].bytes);
                            if self.ndis_copies.is_copy((miniport, lower, send), &whole, ts) {
                                self.summary.component_copies += 1;
                            } else {
                                std::mem::swap(&mut self.assembled, &mut whole);
                                if link_type == LinkType::IEEE802_11 && self.assembled.len() > 1 {
                                    self.assembled[1] &= !0x40;
                                }
                                let orig = inferred_orig_len(link_type, &self.assembled);
                                deliver = Some(Delivery { link_type, orig_len: orig, range: None });
                            }
                            whole.clear();
                            self.partial[cpu].bytes = whole;
                        }
                    }
                }
            }
            // Move this buffer's head on before handing out a frame that borrows it.
            let slot = &mut self.slots[i];
            let exhausted = match advance(slot) {
                Ok(true) => {
                    let (ts, _) = slot.head.expect("advance found a head");
                    // The buffer's head is the top of the heap: replaced in place, one sift.
                    if let Some(mut top) = self.heap.peek_mut() {
                        top.ts = ts;
                    }
                    false
                }
                Ok(false) => true,
                Err((at, reason)) => {
                    let e = self.event_error(&self.slots[i], at, reason);
                    self.pending_error.get_or_insert(e);
                    self.input_done = true;
                    true
                }
            };
            if exhausted {
                self.heap.pop();
            }
            let Some(Delivery { link_type, orig_len, range }) = deliver else {
                if exhausted {
                    self.release(i);
                }
                continue;
            };
            if exhausted {
                // The frame borrows the buffer: it leaves the window on the next call.
                self.borrowed = Some(i);
            }
            let data: &[u8] = match range {
                Some((a, b)) => &self.slots[i].bytes.get()[a..b],
                None => &self.assembled,
            };
            return Ok(Some(Frame {
                ts,
                link_type,
                caplen: data.len() as u32,
                orig_len: orig_len.max(data.len() as u32),
                index: self.frames,
                data,
            }));
        }
    }
}
