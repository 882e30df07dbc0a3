//! The connection table: one entry per TCP connection, keyed by the canonical 5-tuple.
//!
//! Tracks each side's TCP facts (SYN, SYN-ACK, FIN, RST, who sent what and when) and
//! reassembles a side's bytes only while the stream analyzer still wants them. Memory is
//! bounded by [`Limits`]; every drop is counted in [`FlowStats`]. The clock is the packet
//! timestamp, so the same file always gives the same output.

mod sessions;
mod stream;

use crate::capture::Nanos;
use crate::decode::TcpSegment;
use crate::proto::facts::Seen;
use crate::proto::keylog::KeyLog;
use crate::proto::tls::{Status, TlsAnalyzer};
use crate::proto::transport::{StreamAnalyzer, StreamFacts};
use crate::proto::Side;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use sessions::SessionIndex;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use stream::Stream;

/// Every bound on memory and time, with its default. Change them with the command-line flags
/// the README lists.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Connections tracked at once; beyond this the oldest one that never completed its TCP
    /// handshake (else the oldest) is settled early, and counted as evicted.
    pub max_flows: usize,
    /// Out-of-order segments held per side while waiting for the missing bytes.
    pub max_out_of_order_segments: usize,
    /// Bytes held per side in out-of-order segments.
    pub max_out_of_order_bytes: usize,
    /// A connection silent for this long (packet time) is settled and reported.
    pub idle_timeout: Nanos,
    /// Largest handshake message reassembled (certificate chains are the big ones).
    pub max_handshake_message: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_flows: 200_000,
            max_out_of_order_segments: 64,
            max_out_of_order_bytes: 256 * 1024,
            idle_timeout: 300 * 1_000_000_000,
            max_handshake_message: 256 * 1024,
        }
    }
}

/// Canonical connection key: endpoint 0 is the lower (address, port) pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub addr: [IpAddr; 2],
    pub port: [u16; 2],
}

impl FlowKey {
    /// The key of a segment and the side that sent it.
    pub fn of(seg: &TcpSegment<'_>) -> (FlowKey, Side) {
        if (seg.src, seg.sport) <= (seg.dst, seg.dport) {
            (FlowKey { addr: [seg.src, seg.dst], port: [seg.sport, seg.dport] }, 0)
        } else {
            (FlowKey { addr: [seg.dst, seg.src], port: [seg.dport, seg.sport] }, 1)
        }
    }

    /// `ip:port`, with brackets for IPv6.
    pub fn endpoint(&self, side: Side) -> String {
        match self.addr[side] {
            IpAddr::V4(a) => {
                let mut out = String::with_capacity(21);
                crate::text::push_ipv4(&mut out, a);
                out.push(':');
                crate::text::push_decimal(&mut out, self.port[side].into());
                out
            }
            IpAddr::V6(a) => format!("[{a}]:{}", self.port[side]),
        }
    }
}

/// Why a connection's record was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    Reset,
    Closed,
    IdleTimeout,
    EndOfCapture,
    /// Reported as soon as the handshake outcome was known (live capture).
    OutcomeKnown,
    /// Settled early to make room: the table held `max_flows` connections (a SYN flood).
    Evicted,
}

/// TCP-level facts of one connection, per canonical side where it matters.
#[derive(Clone, Debug, Default)]
pub struct TcpFacts {
    /// The side that sent the first SYN.
    pub opener: Option<Side>,
    pub syn: Option<Seen>,
    pub last_syn: Option<Seen>,
    pub syn_count: u32,
    pub syn_ack: Option<Seen>,
    pub syn_ack_count: u32,
    /// The opener's first ACK after the SYN-ACK: the three-way handshake completed.
    pub established: Option<Seen>,
    pub fin: [Option<Seen>; 2],
    pub rst: [Option<Seen>; 2],
    pub retransmissions: u32,
    pub out_of_order: u32,
    pub overlaps: u32,
    /// Holes in the captured bytes (lost by the capture or beyond the reordering limits).
    pub gaps: u32,
    pub first_gap_frame: Option<u64>,
    /// Segments whose payload the snap length cut.
    pub truncated_segments: u32,
    /// Payload was seen without a SYN from that side: the capture began mid-connection.
    pub midstream: bool,
    /// Each side's sequence numbers and acknowledgements: what it sent that the capture holds,
    /// and how much of the other side's stream it acknowledged, which tells what the other
    /// side sent even when the capture does not hold it (a one-sided capture).
    pub extent: [Extent; 2],
}

/// One side's TCP extent: its packets, its sequence space as far as the capture shows it, and
/// the highest acknowledgement it sent. Wrap-aware; a few integer operations per packet.
#[derive(Clone, Copy, Debug, Default)]
pub struct Extent {
    pub packets: u32,
    /// ISN + 1 once this side's SYN (or SYN-ACK) was seen.
    syn_base: Option<u32>,
    /// Sequence number of the first packet this side was seen sending (no SYN: midstream).
    first_seq: Option<u32>,
    /// Highest sequence number + payload length on the wire seen from this side.
    seq_end: Option<u32>,
    /// First and highest acknowledgement number this side sent.
    first_ack: Option<u32>,
    max_ack: Option<u32>,
    /// The packet that carried `max_ack`.
    pub max_ack_seen: Option<Seen>,
    /// The first and the last packet with payload from this side.
    pub first_data: Option<Seen>,
    pub last_data: Option<Seen>,
    /// The first packet whose acknowledgement took in more of the peer's bytes after this side
    /// had sent data: the peer answered (a server's view of the client's second flight).
    pub acked_after_data: Option<Seen>,
}

/// Wrap-aware "a is after b".
fn seq_after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

impl Extent {
    fn on_packet(&mut self, seg: &TcpSegment<'_>, seen: Seen) {
        self.packets = self.packets.saturating_add(1);
        if seg.flags.syn {
            self.syn_base.get_or_insert(seg.seq.wrapping_add(1));
        }
        self.first_seq.get_or_insert(seg.seq);
        if seg.flags.ack && self.max_ack.is_some_and(|m| seq_after(seg.ack, m)) && self.first_data.is_some() {
            self.acked_after_data.get_or_insert(seen);
        }
        if seg.wire_len > 0 {
            self.first_data.get_or_insert(seen);
            self.last_data = Some(seen);
        }
        let end = seg.seq.wrapping_add(seg.wire_len).wrapping_add(u32::from(seg.flags.syn) + u32::from(seg.flags.fin));
        if self.seq_end.map_or(true, |e| seq_after(end, e)) {
            self.seq_end = Some(end);
        }
        // A reset with the ACK flag and acknowledgement number 0 acknowledges nothing: it is
        // how a client aborts a connection still in SYN-SENT, and no proof the other side spoke.
        if seg.flags.ack && !(seg.flags.rst && seg.ack == 0) {
            self.first_ack.get_or_insert(seg.ack);
            if self.max_ack.map_or(true, |m| seq_after(seg.ack, m)) {
                self.max_ack = Some(seg.ack);
                self.max_ack_seen = Some(seen);
            }
        }
    }

    fn base(&self) -> Option<u32> {
        self.syn_base.or(self.first_seq)
    }

    /// Bytes of this side's stream (FIN included) that the capture saw it send.
    pub fn sent_seen(&self) -> u32 {
        match (self.base(), self.seq_end) {
            (Some(base), Some(end)) if seq_after(end, base) => end.wrapping_sub(base),
            _ => 0,
        }
    }

    /// Bytes of `peer`'s stream (its FIN counts one) that this side acknowledged, counted from
    /// the peer's SYN when the capture holds it, else from this side's first acknowledgement.
    pub fn acked_of(&self, peer: &Extent) -> u32 {
        let Some(max) = self.max_ack else { return 0 };
        let Some(base) = peer.syn_base.or(self.first_ack) else { return 0 };
        if seq_after(max, base) {
            max.wrapping_sub(base)
        } else {
            0
        }
    }
}

/// One TCP connection.
pub struct Flow {
    pub key: FlowKey,
    /// Order of creation in this run, for deterministic output.
    pub id: u64,
    pub first: Seen,
    pub last: Seen,
    pub packets: u64,
    pub tcp: TcpFacts,
    /// The stream analyzer, made at the first payload byte: a connection that never carried
    /// one (a SYN answered by a reset, a port scan) costs only its TCP facts.
    tls: Option<Box<StreamAnalyzer>>,
    /// The client as the TCP handshake tells it, for the analyzer once it is made.
    client_hint: Option<Side>,
    pub end: EndReason,
    streams: [Stream; 2],
    /// What the session index has taken from this flow's hellos and tickets.
    indexed: sessions::Indexed,
}

impl Flow {
    fn new(key: FlowKey, id: u64, seen: Seen) -> Self {
        Flow {
            key,
            id,
            first: seen,
            last: seen,
            packets: 0,
            tcp: TcpFacts::default(),
            tls: None,
            client_hint: None,
            end: EndReason::EndOfCapture,
            streams: Default::default(),
            indexed: Default::default(),
        }
    }

    /// The stream analyzer, if payload has arrived.
    pub fn tls(&self) -> Option<&TlsAnalyzer> {
        self.tls.as_deref().map(StreamAnalyzer::tls)
    }

    /// What the stream analyzer learned, taken out of the flow (status `Waiting` when no
    /// payload ever arrived): what the connection's record is made of.
    pub fn take_tls(&mut self) -> StreamFacts {
        self.tls.take().map_or_else(StreamFacts::no_payload, StreamAnalyzer::into_facts)
    }

    fn status(&self) -> Status {
        self.tls.as_ref().map_or(Status::Waiting, |tls| tls.status())
    }

    fn wants(&self, side: Side) -> bool {
        self.tls.as_ref().map_or(true, |tls| tls.wants(side))
    }

    fn set_client_hint(&mut self, side: Side) {
        self.client_hint.get_or_insert(side);
        if let Some(tls) = self.tls.as_mut() {
            tls.set_client_hint(side);
        }
    }

    /// The side that acts as client: the ClientHello's sender, else the SYN's, else the
    /// SYN-ACK's receiver, else the side with the higher (ephemeral-looking) port.
    pub fn client_side(&self) -> Side {
        let tls_client = self.tls.as_ref().map_or(self.client_hint, |tls| tls.client_side());
        if let Some(side) = tls_client.or(self.tcp.opener) {
            return side;
        }
        if let Some(server) = self.streams.iter().position(|s| s.sent_syn_ack) {
            return 1 - server;
        }
        if self.key.port[0] >= self.key.port[1] {
            0
        } else {
            1
        }
    }

    fn on_segment(
        &mut self,
        side: Side,
        seg: &TcpSegment<'_>,
        seen: Seen,
        limits: &Limits,
        keylog: Option<&Arc<KeyLog>>,
    ) {
        self.last = seen;
        self.packets += 1;
        let flags = seg.flags;
        let tcp = &mut self.tcp;
        tcp.extent[side].on_packet(seg, seen);
        if flags.syn {
            if flags.ack {
                tcp.syn_ack.get_or_insert(seen);
                tcp.syn_ack_count += 1;
                self.streams[side].sent_syn_ack = true;
                // Without the SYN (a capture of the server's side only) the SYN-ACK names the
                // client, so the server's records are read as the server's.
                self.set_client_hint(1 - side);
            } else {
                tcp.syn.get_or_insert(seen);
                tcp.last_syn = Some(seen);
                tcp.syn_count += 1;
                tcp.opener.get_or_insert(side);
                self.set_client_hint(side);
            }
            self.streams[side].on_syn(seg.seq);
        } else if flags.ack && tcp.established.is_none() && tcp.syn_ack.is_some() && tcp.opener == Some(side) {
            tcp.established = Some(seen);
        }
        let tcp = &mut self.tcp;
        if flags.rst {
            tcp.rst[side].get_or_insert(seen);
        }
        if flags.fin {
            tcp.fin[side].get_or_insert(seen);
        }
        // An acknowledgement of bytes the capture lacks reads on past the hole in the other
        // side's stream.
        let peer = 1 - side;
        if let Some(tls) = self.tls.as_mut() {
            if flags.ack && self.streams[peer].has_pending() && tls.wants(peer) {
                self.streams[peer].on_peer_ack(peer, seg.ack, &mut self.tcp, &mut **tls);
                if !tls.wants(0) && !tls.wants(1) {
                    self.streams = Default::default();
                }
            }
        }
        if seg.wire_len > 0 && self.wants(side) {
            let hint = self.client_hint;
            let tls = self.tls.get_or_insert_with(|| {
                let mut tls = StreamAnalyzer::new(limits.max_handshake_message);
                tls.set_keylog(keylog.cloned());
                if let Some(side) = hint {
                    tls.set_client_hint(side);
                }
                Box::new(tls)
            });
            let data_seq = if flags.syn { seg.seq.wrapping_add(1) } else { seg.seq };
            self.streams[side].on_payload(side, data_seq, seg, seen, limits, &mut self.tcp, &mut **tls);
            if !tls.wants(0) && !tls.wants(1) {
                // Outcome known: from now on a packet costs a table lookup.
                self.streams = Default::default();
            }
        }
    }

    /// Declares the bytes still awaited as missing: the connection is over.
    fn close(&mut self, end: EndReason) {
        self.end = end;
        // What was held after a hole is still read: the records after it (a ChangeCipherSpec,
        // a Finished, an alert) tell how the handshake ended.
        if let Some(tls) = self.tls.as_mut() {
            for side in 0..2 {
                if tls.wants(side) {
                    self.streams[side].skip_all_holes(side, &mut self.tcp, &mut **tls);
                } else if self.streams[side].has_pending() {
                    self.tcp.gaps += 1;
                }
            }
            tls.finish();
        }
        self.streams = Default::default();
    }

    fn finished_by_tcp(&self) -> Option<EndReason> {
        if self.tcp.rst.iter().any(Option::is_some) {
            Some(EndReason::Reset)
        } else if self.tcp.fin.iter().all(Option::is_some) {
            Some(EndReason::Closed)
        } else {
            None
        }
    }
}

/// A connection that so far sent only SYNs, from one side, without payload: a half-open
/// connection, of which a SYN flood or a scan makes hundreds of thousands. It holds just what
/// those SYNs set, so that each costs a few dozen bytes; the first other packet (or its
/// settling) turns it into a [`Flow`] in the state the same SYNs would have left it in.
struct Opening {
    id: u64,
    /// The first and the last SYN.
    first: Seen,
    last: Seen,
    syns: u32,
    side: u8,
    first_seq: u32,
    last_seq: u32,
    /// The highest `seq + 1` of these SYNs (wrap-aware): the end of the opener's sequence space.
    seq_end: u32,
}

impl Opening {
    /// True for a segment that keeps a connection half-open: a bare SYN.
    fn takes(seg: &TcpSegment<'_>) -> bool {
        let f = seg.flags;
        f.syn && !f.ack && !f.rst && !f.fin && seg.wire_len == 0
    }

    fn new(id: u64, side: Side, seg: &TcpSegment<'_>, seen: Seen) -> Self {
        let end = seg.seq.wrapping_add(1);
        Opening {
            id,
            first: seen,
            last: seen,
            syns: 1,
            side: side as u8,
            first_seq: seg.seq,
            last_seq: seg.seq,
            seq_end: end,
        }
    }

    fn on_syn(&mut self, seg: &TcpSegment<'_>, seen: Seen) {
        self.last = seen;
        self.syns = self.syns.saturating_add(1);
        self.last_seq = seg.seq;
        let end = seg.seq.wrapping_add(1);
        if seq_after(end, self.seq_end) {
            self.seq_end = end;
        }
    }

    /// The flow these SYNs make (what [`Flow::on_segment`] would have made of them).
    fn into_flow(self, key: FlowKey) -> Box<Flow> {
        let side = usize::from(self.side);
        let mut flow = Box::new(Flow::new(key, self.id, self.first));
        flow.last = self.last;
        flow.packets = u64::from(self.syns);
        flow.client_hint = Some(side);
        let tcp = &mut flow.tcp;
        tcp.opener = Some(side);
        tcp.syn = Some(self.first);
        tcp.last_syn = Some(self.last);
        tcp.syn_count = self.syns;
        let extent = &mut tcp.extent[side];
        extent.packets = self.syns;
        extent.syn_base = Some(self.first_seq.wrapping_add(1));
        extent.first_seq = Some(self.first_seq);
        extent.seq_end = Some(self.seq_end);
        flow.streams[side].on_syn(self.last_seq);
        flow
    }
}

/// The id of the connection open under this key and whether it is half-open (never completed
/// its TCP handshake and carried no payload), if it is still the one created with `id`.
fn live_id(map: &FxHashMap<FlowKey, Entry>, key: &FlowKey, id: u64) -> Option<bool> {
    match map.get(key) {
        Some(Entry::Live(flow)) if flow.id == id => {
            Some(flow.tcp.established.is_none() && flow.status() == Status::Waiting)
        }
        Some(Entry::Opening(opening)) if opening.id == id => Some(true),
        _ => None,
    }
}

/// Counters of what the table did besides following connections.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FlowStats {
    pub connections: u64,
    /// Connections settled early to stay within `max_flows` (their records say `evicted`).
    pub connections_evicted: u64,
    /// Connections settled by the idle timeout.
    pub idle_timeouts: u64,
    /// Segments of a connection already reported (other than a new SYN).
    pub late_segments: u64,
}

enum Entry {
    Live(Box<Flow>),
    /// Only SYNs so far: kept small.
    Opening(Box<Opening>),
    /// Reported; kept briefly so stray segments do not open a phantom connection.
    Closed {
        last: Nanos,
    },
}

/// The connection table. Finished connections are handed out through [`FlowTable::take_finished`].
pub struct FlowTable {
    map: FxHashMap<FlowKey, Entry>,
    limits: Limits,
    live: usize,
    /// Live connections in order of creation, for eviction; entries of connections already
    /// retired are dropped when met, and all at once when they outnumber the live ones.
    creation_order: VecDeque<(FlowKey, u64)>,
    next_id: u64,
    last_sweep: Nanos,
    /// Packet time between sweeps: a quarter of the idle timeout, at least a second.
    sweep_interval: Nanos,
    previous_ts: Nanos,
    // Boxed so a flow moves from the table to this list without copying its facts.
    #[allow(clippy::vec_box)]
    finished: Vec<Box<Flow>>,
    /// Connections still open at the end of the input, newest first, settled as they are taken.
    at_end: Vec<(u64, FlowKey, Entry)>,
    /// Report a connection as soon as its handshake outcome is known (live capture) rather
    /// than when it closes.
    report_on_outcome: bool,
    sessions: SessionIndex,
    /// The TLS secrets to decrypt handshakes with (`--keylog`, and the secrets blocks of a
    /// pcapng file), given to every connection's analyzer.
    keylog: Option<Arc<KeyLog>>,
    pub stats: FlowStats,
}

impl FlowTable {
    pub fn new(limits: Limits) -> Self {
        let sweep_interval = (limits.idle_timeout / 4).max(1_000_000_000);
        FlowTable {
            map: FxHashMap::default(),
            limits,
            live: 0,
            creation_order: VecDeque::new(),
            next_id: 0,
            last_sweep: Nanos::MIN,
            sweep_interval,
            previous_ts: Nanos::MIN,
            finished: Vec::new(),
            at_end: Vec::new(),
            report_on_outcome: false,
            sessions: SessionIndex::default(),
            keylog: None,
            stats: FlowStats::default(),
        }
    }

    /// Decrypts handshakes with these secrets.
    pub fn with_keylog(mut self, keylog: Option<Arc<KeyLog>>) -> Self {
        self.keylog = keylog;
        self
    }

    /// Adds the text of a key log found in the capture itself (a pcapng Decryption Secrets
    /// Block). Connections already open may still need it: their handshakes may come later.
    pub fn add_secrets(&mut self, text: &str) -> usize {
        let keylog = match &self.keylog {
            Some(keylog) => Arc::clone(keylog),
            None => {
                let keylog = Arc::new(KeyLog::default());
                self.keylog = Some(Arc::clone(&keylog));
                for entry in self.map.values_mut() {
                    if let Entry::Live(flow) = entry {
                        if let Some(tls) = flow.tls.as_mut() {
                            tls.set_keylog(Some(Arc::clone(&keylog)));
                        }
                    }
                }
                keylog
            }
        };
        keylog.add(text)
    }

    /// Reports each connection once its handshake outcome is known, not when it closes.
    pub fn reporting_on_outcome(mut self) -> Self {
        self.report_on_outcome = true;
        self
    }

    pub fn on_segment(&mut self, seg: &TcpSegment<'_>, seen: Seen) {
        self.maybe_sweep(seen.ts);
        let (key, side) = FlowKey::of(seg);
        let entry = match self.map.get_mut(&key) {
            Some(Entry::Live(flow)) => flow,
            Some(Entry::Opening(opening)) if usize::from(opening.side) == side && Opening::takes(seg) => {
                opening.on_syn(seg, seen);
                return;
            }
            Some(entry @ Entry::Opening(_)) => {
                // Anything but one more SYN: the connection becomes a full flow.
                let Entry::Opening(opening) = std::mem::replace(entry, Entry::Closed { last: 0 }) else {
                    unreachable!("matched as an opening")
                };
                *entry = Entry::Live(opening.into_flow(key));
                match entry {
                    Entry::Live(flow) => flow,
                    _ => unreachable!("just set"),
                }
            }
            Some(Entry::Closed { last }) if !seg.flags.syn || seg.flags.ack => {
                *last = seen.ts;
                self.stats.late_segments += 1;
                return;
            }
            _ => {
                if self.live >= self.limits.max_flows {
                    self.evict_one(seen.ts);
                }
                self.live += 1;
                self.stats.connections += 1;
                self.next_id += 1;
                self.creation_order.push_back((key, self.next_id));
                if self.creation_order.len() > 2 * self.live + 1024 {
                    let map = &self.map;
                    self.creation_order.retain(|(key, id)| live_id(map, key, *id).is_some());
                }
                if Opening::takes(seg) {
                    self.map.insert(key, Entry::Opening(Box::new(Opening::new(self.next_id, side, seg, seen))));
                    return;
                }
                let flow = Box::new(Flow::new(key, self.next_id, seen));
                self.map.insert(key, Entry::Live(flow));
                match self.map.get_mut(&key) {
                    Some(Entry::Live(flow)) => flow,
                    _ => unreachable!("just inserted"),
                }
            }
        };
        entry.on_segment(side, seg, seen, &self.limits, self.keylog.as_ref());
        if entry.tls.as_mut().is_some_and(|tls| tls.take_session_news()) {
            self.sessions.update(entry);
        }
        if let Some(end) = entry.finished_by_tcp() {
            self.retire(key, end, seen.ts);
        } else if self.report_on_outcome && matches!(entry.status(), Status::Done | Status::NotTls) {
            self.retire(key, EndReason::OutcomeKnown, seen.ts);
        }
    }

    /// Makes room for one connection: settles the oldest of the first few in creation order
    /// that never completed its TCP handshake (the half-open connections of a SYN flood),
    /// else the oldest of them all.
    fn evict_one(&mut self, now: Nanos) {
        /// Connections looked at for a half-open one before taking the oldest.
        const SCAN: usize = 64;
        let mut looked = Vec::new();
        let mut found_half_open = false;
        while looked.len() < SCAN && !found_half_open {
            let Some((key, id)) = self.creation_order.pop_front() else { break };
            let Some(half_open) = live_id(&self.map, &key, id) else { continue };
            found_half_open = half_open;
            looked.push((key, id));
        }
        if looked.is_empty() {
            return;
        }
        // The half-open one found last, else the oldest.
        let (key, _) = looked.remove(if found_half_open { looked.len() - 1 } else { 0 });
        // The connections passed over keep their place at the front.
        for entry in looked.into_iter().rev() {
            self.creation_order.push_front(entry);
        }
        self.stats.connections_evicted += 1;
        self.retire(key, EndReason::Evicted, now);
    }

    fn retire(&mut self, key: FlowKey, end: EndReason, now: Nanos) {
        // A closed connection leaves a tombstone so that its late segments are not taken for
        // a new one; an evicted one does not, or a flood would fill the table with tombstones.
        let entry = match end {
            EndReason::Evicted => self.map.remove(&key),
            _ => self.map.insert(key, Entry::Closed { last: now }),
        };
        let flow = match entry {
            Some(Entry::Live(flow)) => Some(flow),
            Some(Entry::Opening(opening)) => Some(opening.into_flow(key)),
            _ => None,
        };
        if let Some(mut flow) = flow {
            flow.close(end);
            self.sessions.closed(&flow);
            self.live -= 1;
            self.finished.push(flow);
        }
    }

    /// Settles idle connections and forgets old tombstones, a few times per idle period.
    fn maybe_sweep(&mut self, now: Nanos) {
        let interval = self.sweep_interval;
        let previous = std::mem::replace(&mut self.previous_ts, now);
        // A jump of the packet clock (interfaces of a pcapng with different time bases, a
        // capture resumed later) says nothing about idleness: expire nothing across it.
        let clock_jumped = now < previous || now.saturating_sub(previous) > self.limits.idle_timeout;
        if self.last_sweep == Nanos::MIN || clock_jumped {
            self.last_sweep = now;
            return;
        }
        if now.saturating_sub(self.last_sweep) < interval {
            return;
        }
        self.last_sweep = now;
        let timeout = self.limits.idle_timeout;
        let mut expired = Vec::new();
        self.map.retain(|key, entry| match entry {
            Entry::Closed { last } => now.saturating_sub(*last) < timeout,
            Entry::Live(flow) => {
                if now.saturating_sub(flow.last.ts) >= timeout {
                    expired.push((flow.id, *key));
                }
                true
            }
            Entry::Opening(opening) => {
                if now.saturating_sub(opening.last.ts) >= timeout {
                    expired.push((opening.id, *key));
                }
                true
            }
        });
        expired.sort_unstable_by_key(|(id, _)| *id);
        for (_, key) in expired {
            self.stats.idle_timeouts += 1;
            self.retire(key, EndReason::IdleTimeout, now);
        }
    }

    /// Connections finished since the last call, in the order they finished; after
    /// [`FlowTable::finish_all`], then every connection still open, in order of creation.
    pub fn take_finished(&mut self) -> impl Iterator<Item = Box<Flow>> + '_ {
        let at_end = &mut self.at_end;
        self.finished.drain(..).chain(std::iter::from_fn(move || loop {
            let (_, key, entry) = at_end.pop()?;
            let mut flow = match entry {
                Entry::Live(flow) => flow,
                Entry::Opening(opening) => opening.into_flow(key),
                Entry::Closed { .. } => continue,
            };
            flow.close(EndReason::EndOfCapture);
            return Some(flow);
        }))
    }

    /// End of input: every connection still open is settled, in order of creation. They are
    /// made into flows one at a time as [`FlowTable::take_finished`] hands them out, so the
    /// half-open ones of a flood do not all grow into full flows at once.
    pub fn finish_all(&mut self) {
        let mut rest: Vec<(u64, FlowKey, Entry)> = self
            .map
            .drain()
            .filter_map(|(key, e)| match &e {
                Entry::Live(f) => Some((f.id, key, e)),
                Entry::Opening(o) => Some((o.id, key, e)),
                Entry::Closed { .. } => None,
            })
            .collect();
        // Popped from the back: the oldest last in the vector.
        rest.sort_unstable_by_key(|(id, _, _)| std::cmp::Reverse(*id));
        self.at_end = rest;
        self.live = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::TcpFlags;
    use std::net::Ipv4Addr;

    /// A minimal TLS 1.2 ClientHello record with SNI `a.example` and one suite.
    fn client_hello_record() -> Vec<u8> {
        let name = b"a.example";
        let mut sni = vec![0x00, 0x00];
        let list_len = 3 + name.len();
        sni.extend_from_slice(&((list_len + 2) as u16).to_be_bytes());
        sni.extend_from_slice(&(list_len as u16).to_be_bytes());
        sni.push(0);
        sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
        sni.extend_from_slice(name);
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[7; 32]);
        body.push(0); // session id
        body.extend_from_slice(&[0x00, 0x02, 0xc0, 0x2f]); // one suite
        body.extend_from_slice(&[0x01, 0x00]); // null compression
        body.extend_from_slice(&(sni.len() as u16).to_be_bytes());
        body.extend_from_slice(&sni);
        let mut hs = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
        hs.extend_from_slice(&body);
        let mut record = vec![22, 3, 1, (hs.len() >> 8) as u8, hs.len() as u8];
        record.extend_from_slice(&hs);
        record
    }

    fn segment(seq: u32, payload: &[u8], flags: TcpFlags) -> TcpSegment<'_> {
        TcpSegment {
            src: Ipv4Addr::new(10, 0, 0, 1).into(),
            dst: Ipv4Addr::new(10, 0, 0, 2).into(),
            sport: 50000,
            dport: 443,
            seq,
            ack: 0,
            flags,
            payload,
            wire_len: payload.len() as u32,
        }
    }

    /// Feeds the ClientHello cut into `pieces` (start, end) in the given order after a SYN,
    /// and returns the SNI the analyzer read.
    fn sni_after(pieces: &[(usize, usize)], limits: Limits) -> (Option<String>, TcpFacts) {
        let record = client_hello_record();
        let isn = u32::MAX - 20; // crosses the sequence wrap on the way
        let mut table = FlowTable::new(limits);
        let syn = TcpFlags { syn: true, ..Default::default() };
        table.on_segment(&segment(isn, &[], syn), Seen { frame: 1, ts: 0 });
        for (i, &(start, end)) in pieces.iter().enumerate() {
            let seq = isn.wrapping_add(1).wrapping_add(start as u32);
            let ack = TcpFlags { ack: true, ..Default::default() };
            table.on_segment(&segment(seq, &record[start..end], ack), Seen { frame: 2 + i as u64, ts: 1 });
        }
        table.finish_all();
        let flow = table.take_finished().next().expect("one flow");
        (flow.tls().and_then(|t| t.facts.client_hello.as_ref()).and_then(|ch| ch.sni.clone()), flow.tcp.clone())
    }

    /// SYNs, then the client's reset with the ACK flag: its facts, seen from the client's
    /// side alone.
    fn aborted_connect(reset_ack: u32) -> crate::facts::Facts {
        let mut table = FlowTable::new(Limits::default());
        let syn = TcpFlags { syn: true, ..Default::default() };
        table.on_segment(&segment(100, &[], syn), Seen { frame: 1, ts: 0 });
        table.on_segment(&segment(100, &[], syn), Seen { frame: 2, ts: 1_000_000_000 });
        let reset = TcpFlags { rst: true, ack: true, ..Default::default() };
        table.on_segment(
            &TcpSegment { ack: reset_ack, ..segment(100, &[], reset) },
            Seen { frame: 3, ts: 9_000_000_000 },
        );
        table.finish_all();
        let flow = table.take_finished().next().expect("one connection");
        crate::facts::Facts::from_flow(flow)
    }

    #[test]
    fn a_reset_acknowledging_nothing_is_no_proof_of_the_other_side() {
        // Linux aborts a connect() still in SYN-SENT with RST/ACK and acknowledgement 0
        // (ndpi--alexa-app.pcapng, frames 214 and 2573): nothing came back from the server.
        let facts = aborted_connect(0);
        assert_eq!((facts.tcp.one_sided, facts.tcp.client_last_ack), (None, None));
        // One that acknowledges a sequence number answers something the capture lacks.
        let facts = aborted_connect(12345);
        assert_eq!(facts.tcp.one_sided, Some(crate::facts::OneSided::ClientOnly));
    }

    #[test]
    fn reassembly_is_independent_of_order_duplicates_and_overlaps() {
        let n = client_hello_record().len();
        let cuts: Vec<(usize, usize)> = (0..n).step_by(7).map(|s| (s, (s + 7).min(n))).collect();
        let expected = Some("a.example".to_string());
        // In order.
        assert_eq!(sni_after(&cuts, Limits::default()).0, expected);
        // Reversed: everything but the first piece arrives early.
        let reversed: Vec<_> = cuts.iter().rev().copied().collect();
        let (sni, tcp) = sni_after(&reversed, Limits::default());
        assert_eq!(sni, expected);
        assert_eq!(tcp.out_of_order as usize, cuts.len() - 1);
        // Every piece twice, and overlapping pieces of 11 bytes every 7.
        let doubled: Vec<_> = cuts.iter().flat_map(|c| [*c, *c]).collect();
        let (sni, tcp) = sni_after(&doubled, Limits::default());
        assert_eq!(sni, expected);
        assert_eq!(tcp.retransmissions as usize, cuts.len());
        let overlapping: Vec<_> = (0..n).step_by(7).map(|s| (s, (s + 11).min(n))).collect();
        let (sni, tcp) = sni_after(&overlapping, Limits::default());
        assert_eq!(sni, expected);
        assert!(tcp.overlaps > 0);
    }

    #[test]
    fn a_missing_piece_is_a_gap_once_the_out_of_order_limit_is_reached() {
        let n = client_hello_record().len();
        let cuts: Vec<(usize, usize)> = (0..n).step_by(7).map(|s| (s, (s + 7).min(n))).skip(1).collect();
        let limits = Limits { max_out_of_order_segments: 4, ..Limits::default() };
        let (sni, tcp) = sni_after(&cuts, limits);
        assert_eq!(sni, None);
        assert_eq!(tcp.gaps, 1);
        assert!(tcp.first_gap_frame.is_some());
    }

    #[test]
    fn half_open_connections_are_evicted_first_beyond_max_flows() {
        let mut table = FlowTable::new(Limits { max_flows: 3, ..Limits::default() });
        let syn = TcpFlags { syn: true, ..Default::default() };
        let ack = TcpFlags { ack: true, ..Default::default() };
        // An established connection carrying a ClientHello, then a flood of bare SYNs.
        table.on_segment(&segment(1, &[], syn), Seen { frame: 1, ts: 0 });
        let mut syn_ack = segment(9, &[], TcpFlags { syn: true, ack: true, ..Default::default() });
        (syn_ack.src, syn_ack.dst, syn_ack.sport, syn_ack.dport) = (syn_ack.dst, syn_ack.src, 443, 50000);
        table.on_segment(&syn_ack, Seen { frame: 2, ts: 0 });
        table.on_segment(&segment(2, &[], ack), Seen { frame: 3, ts: 0 });
        let record = client_hello_record();
        table.on_segment(&segment(2, &record, ack), Seen { frame: 4, ts: 0 });
        for port in 0..10u16 {
            let mut seg = segment(1, &[], syn);
            seg.sport = 40000 + port;
            table.on_segment(&seg, Seen { frame: 5 + port as u64, ts: 0 });
        }
        assert_eq!(table.stats.connections, 11);
        assert_eq!(table.stats.connections_evicted, 8);
        let evicted: Vec<u16> = table.take_finished().map(|f| f.key.port[0]).collect();
        assert_eq!(evicted, (40000..40008).collect::<Vec<u16>>(), "oldest half-open first");
        table.finish_all();
        let rest: Vec<Option<String>> =
            table.take_finished().map(|f| f.tls().and_then(|t| t.facts.client_hello.as_ref()?.sni.clone())).collect();
        assert_eq!(rest, vec![Some("a.example".to_string()), None, None], "the real connection survives");
    }

    #[test]
    fn a_half_open_connection_costs_only_its_syns() {
        use std::mem::size_of;
        // Per connection that sent only SYNs: its box, its slot in the table and its place in
        // the creation order (the table's spare capacity comes on top).
        assert!(size_of::<Opening>() <= 64, "Opening is {} bytes", size_of::<Opening>());
        let slot = size_of::<(FlowKey, Entry)>() + size_of::<(FlowKey, u64)>();
        assert!(size_of::<Opening>() + slot <= 256, "{} bytes", size_of::<Opening>() + slot);
        // Once past its SYNs a connection holds its TCP facts; the TLS analyzer (about 1.8 KB)
        // comes with the first payload byte.
        assert!(size_of::<Flow>() <= 800, "Flow is {} bytes", size_of::<Flow>());
    }

    #[test]
    fn syns_kept_small_make_the_flow_the_full_path_makes() {
        let syn = TcpFlags { syn: true, ..Default::default() };
        let limits = Limits::default();
        // Two SYNs, the second retried with another ISN (as after a reboot), the first's
        // sequence number just below the wrap.
        let first = segment(u32::MAX - 5, &[], syn);
        let second = segment(40, &[], syn);
        let (key, side) = FlowKey::of(&first);
        let seen = [Seen { frame: 1, ts: 10 }, Seen { frame: 3, ts: 20 }];
        let mut direct = Flow::new(key, 1, seen[0]);
        direct.on_segment(side, &first, seen[0], &limits, None);
        direct.on_segment(side, &second, seen[1], &limits, None);
        let mut opening = Opening::new(1, side, &first, seen[0]);
        assert!(Opening::takes(&second));
        opening.on_syn(&second, seen[1]);
        let kept = opening.into_flow(key);
        assert_eq!(format!("{:?}", kept.tcp), format!("{:?}", direct.tcp));
        assert_eq!((kept.first, kept.last, kept.packets), (direct.first, direct.last, direct.packets));
        assert_eq!(kept.client_side(), direct.client_side());
        assert!(kept.tls().is_none() && direct.tls().is_none(), "no payload, no analyzer");
        // A SYN-ACK, a SYN with data (TCP Fast Open) or a reset is not a bare SYN.
        assert!(!Opening::takes(&segment(1, &[], TcpFlags { syn: true, ack: true, ..Default::default() })));
        assert!(!Opening::takes(&segment(1, b"x", syn)));
        assert!(!Opening::takes(&segment(1, &[], TcpFlags { rst: true, ..Default::default() })));
    }

    #[test]
    fn a_connection_past_its_syns_reads_its_handshake_from_the_last_isn() {
        // SYN, the SYN retried with a new ISN, then the ClientHello after the second ISN: the
        // data must be read from where the last SYN put the stream.
        let mut table = FlowTable::new(Limits::default());
        let syn = TcpFlags { syn: true, ..Default::default() };
        let ack = TcpFlags { ack: true, ..Default::default() };
        table.on_segment(&segment(100_000, &[], syn), Seen { frame: 1, ts: 0 });
        table.on_segment(&segment(100, &[], syn), Seen { frame: 2, ts: 1 });
        assert!(matches!(table.map.values().next(), Some(Entry::Opening(_))));
        table.on_segment(&segment(101, &client_hello_record(), ack), Seen { frame: 3, ts: 2 });
        assert!(matches!(table.map.values().next(), Some(Entry::Live(_))));
        table.finish_all();
        let flows: Vec<Box<Flow>> = table.take_finished().collect();
        assert_eq!(flows.len(), 1);
        let flow = &flows[0];
        assert_eq!((flow.tcp.syn_count, flow.packets, flow.tcp.gaps), (2, 3, 0));
        let sni = flow.tls().and_then(|t| t.facts.client_hello.as_ref()).and_then(|ch| ch.sni.clone());
        assert_eq!(sni.as_deref(), Some("a.example"));
    }
}
