//! OpenVPN over TCP in front of TLS. OpenVPN does not start TLS on the socket: each side sends
//! packets of a 2-byte length, an opcode/key-id byte and, on the control channel, a session id,
//! an acknowledgement array and a message packet-id; the TLS handshake records travel, cut
//! wherever the control-channel packet size says, as the payload of P_CONTROL_V1 packets, each
//! with its own packet-id (acknowledged by P_ACK_V1 or piggy-backed acks). This module
//! recognises the first hard-reset packet by content (any port), works out how the control
//! channel is protected, and hands the TLS analyzer the byte stream a plain TLS connection
//! would carry, in packet-id order with repeats dropped.
//!
//! Protection of the control channel, told from the packets' sizes and contents (OpenVPN says
//! it nowhere on the wire):
//! - none: the acknowledgement array follows the session id;
//! - tls-auth: an HMAC (16 to 64 bytes, by `--auth` digest), a 4-byte replay packet-id and a
//!   4-byte timestamp come first; recognised by a small packet-id and a plausible time behind
//!   each HMAC size, then read as without protection;
//! - tls-crypt (and tls-crypt-v2): the packet-id and timestamp follow the session id in the
//!   clear, then a 32-byte tag and ciphertext. The TLS records inside cannot be read without
//!   the key: such a connection is recognised and counted, its handshake judged only from
//!   whether data-channel packets flowed.

use super::Side;
use serde::{Deserialize, Serialize};

/// Opcodes (high 5 bits of the first byte after the length).
const P_CONTROL_HARD_RESET_CLIENT_V1: u8 = 1;
const P_CONTROL_HARD_RESET_SERVER_V1: u8 = 2;
const P_CONTROL_SOFT_RESET_V1: u8 = 3;
const P_CONTROL_V1: u8 = 4;
const P_ACK_V1: u8 = 5;
const P_DATA_V1: u8 = 6;
const P_CONTROL_HARD_RESET_CLIENT_V2: u8 = 7;
const P_CONTROL_HARD_RESET_SERVER_V2: u8 = 8;
const P_DATA_V2: u8 = 9;
/// tls-crypt-v2: the client's hard reset carries its wrapped key.
const P_CONTROL_HARD_RESET_CLIENT_V3: u8 = 10;
const P_CONTROL_WKC_V1: u8 = 11;

/// Opcode byte and session id.
const HEADER: usize = 1 + 8;
/// A control packet is cut to the TLS MTU (about 1,250 bytes by default); a data packet may be
/// as large as the TCP length field allows and is skipped without being held.
const MAX_CONTROL_PACKET: usize = 4096;
/// An acknowledgement array holds at most this many packet-ids (OpenVPN's RELIABLE_ACK_SIZE).
const MAX_ACKS: usize = 8;
/// tls-auth HMAC sizes by digest: SHA-1 (the default), SHA-256, SHA-512, SHA-384, MD5.
const HMAC_SIZES: [usize; 5] = [20, 32, 64, 48, 16];
/// The tls-crypt authentication tag (HMAC-SHA256).
const TLS_CRYPT_TAG: usize = 32;
/// Control packets held while an earlier packet-id is missing.
const MAX_PENDING: usize = 16;
/// Replay packet-ids start at 1 and grow by one per control packet: far below this.
const MAX_PLAUSIBLE_PACKET_ID: u32 = 0x0010_0000;
/// Timestamps in tls-auth and tls-crypt headers are Unix seconds: after 2010-01-01.
const MIN_PLAUSIBLE_TIME: u32 = 1_262_304_000;

/// How the control channel is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlAuth {
    None,
    TlsAuth,
    TlsCrypt,
}

/// What the OpenVPN layer of a connection showed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct OpenVpnFacts {
    /// How the control channel is protected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_auth: Option<ControlAuth>,
    /// The tls-auth HMAC size in bytes (20 for SHA-1, 32 for SHA-256, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hmac_size: Option<usize>,
    /// Frame of the client's hard reset (P_CONTROL_HARD_RESET_CLIENT_V2/V3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_reset: Option<u64>,
    /// Frame of the server's hard reset (P_CONTROL_HARD_RESET_SERVER_V2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_reset: Option<u64>,
    /// Control-channel packets (hard resets, P_CONTROL_V1, P_ACK_V1) from [client, server].
    pub control_packets: [u32; 2],
    /// Data-channel packets (P_DATA_V1/V2) from [client, server], counted while the control
    /// channel is still read: both non-zero means the TLS handshake that makes their keys
    /// completed.
    pub data_packets: [u32; 2],
    /// First data-channel packet from [client, server].
    pub first_data: [Option<u64>; 2],
    /// Control packets sent again with a packet-id already read.
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub repeated: u32,
    /// Problems reading the OpenVPN layer.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// How a control packet is laid out after the opcode and session id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    Plain,
    TlsAuth(usize),
    TlsCrypt,
}

/// A control packet's parts that matter here.
struct Control<'a> {
    /// The message packet-id (absent on P_ACK_V1).
    packet_id: Option<u32>,
    payload: &'a [u8],
}

fn opcode(first: u8) -> u8 {
    first >> 3
}

fn is_control(op: u8) -> bool {
    matches!(
        op,
        P_CONTROL_HARD_RESET_CLIENT_V1
            | P_CONTROL_HARD_RESET_SERVER_V1
            | P_CONTROL_SOFT_RESET_V1
            | P_CONTROL_V1
            | P_ACK_V1
            | P_CONTROL_HARD_RESET_CLIENT_V2
            | P_CONTROL_HARD_RESET_SERVER_V2
            | P_CONTROL_HARD_RESET_CLIENT_V3
            | P_CONTROL_WKC_V1
    )
}

fn is_hard_reset(op: u8) -> bool {
    matches!(
        op,
        P_CONTROL_HARD_RESET_CLIENT_V1
            | P_CONTROL_HARD_RESET_SERVER_V1
            | P_CONTROL_HARD_RESET_CLIENT_V2
            | P_CONTROL_HARD_RESET_SERVER_V2
            | P_CONTROL_HARD_RESET_CLIENT_V3
    )
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// A replay packet-id and a timestamp as tls-auth and tls-crypt write them at `at`.
fn replay_header_at(packet: &[u8], at: usize) -> bool {
    let (Some(id), Some(time)) = (u32_at(packet, at), u32_at(packet, at + 4)) else { return false };
    (1..MAX_PLAUSIBLE_PACKET_ID).contains(&id) && time >= MIN_PLAUSIBLE_TIME
}

/// Reads a control packet (opcode byte first, without the length) in `layout`.
fn parse(packet: &[u8], layout: Layout) -> Option<Control<'_>> {
    let op = opcode(*packet.first()?);
    let mut at = match layout {
        Layout::Plain => HEADER,
        Layout::TlsAuth(hmac) => HEADER + hmac + 8,
        Layout::TlsCrypt => {
            return (packet.len() > HEADER + 8 + TLS_CRYPT_TAG).then_some(Control { packet_id: None, payload: &[] })
        }
    };
    let acks = *packet.get(at)? as usize;
    if acks > MAX_ACKS {
        return None;
    }
    at += 1 + 4 * acks + if acks > 0 { 8 } else { 0 };
    let packet_id = if op == P_ACK_V1 {
        None
    } else {
        let id = u32_at(packet, at)?;
        at += 4;
        Some(id)
    };
    Some(Control { packet_id, payload: packet.get(at..)? })
}

/// Works out the layout from one control packet, or None when no layout fits it.
fn layout_of(packet: &[u8]) -> Option<Layout> {
    let op = opcode(*packet.first()?);
    let fits = |layout| match parse(packet, layout) {
        // A hard reset is a session's first message (packet-id 0); a control message starts
        // a TLS record when it is the first one seen.
        Some(Control { packet_id: Some(id), payload }) => {
            if is_hard_reset(op) {
                id == 0
            } else {
                id < MAX_PLAUSIBLE_PACKET_ID && payload.first().is_some_and(|b| (20..=24).contains(b))
            }
        }
        Some(Control { packet_id: None, .. }) => op == P_ACK_V1,
        None => false,
    };
    if fits(Layout::Plain) {
        return Some(Layout::Plain);
    }
    if replay_header_at(packet, HEADER) && packet.len() > HEADER + 8 + TLS_CRYPT_TAG {
        return Some(Layout::TlsCrypt);
    }
    HMAC_SIZES.into_iter().map(Layout::TlsAuth).find(|&layout| {
        let Layout::TlsAuth(hmac) = layout else { return false };
        replay_header_at(packet, HEADER + hmac) && fits(layout)
    })
}

/// Whether a side's first bytes are OpenVPN over TCP.
#[derive(Debug, PartialEq, Eq)]
pub enum Detection {
    OpenVpn,
    /// The bytes so far begin like one; more are needed to tell.
    NeedMore,
    No,
}

/// Tells whether `bytes`, the first of a side's stream, hold an OpenVPN hard reset: a length
/// that fits a control packet, a hard-reset opcode with key-id 0, and a layout that reads.
pub fn detect(bytes: &[u8]) -> Detection {
    if bytes.len() < 3 {
        return Detection::NeedMore;
    }
    let len = u16::from_be_bytes([bytes[0], bytes[1]]) as usize;
    let first = bytes[2];
    if !(HEADER + 5..=MAX_CONTROL_PACKET).contains(&len) || !is_hard_reset(opcode(first)) || first & 0x07 != 0 {
        return Detection::No;
    }
    match bytes.get(2..2 + len) {
        Some(packet) if layout_of(packet).is_some() => Detection::OpenVpn,
        Some(_) => Detection::No,
        None => Detection::NeedMore,
    }
}

#[derive(Default)]
struct SideState {
    /// Bytes of a packet not yet complete.
    buf: Vec<u8>,
    /// Bytes of a data packet still to pass over.
    skip: usize,
    /// The next message packet-id whose payload continues the TLS stream.
    next_id: Option<u32>,
    /// Payloads that arrived ahead of a missing packet-id.
    pending: Vec<(u32, Vec<u8>)>,
    /// Nothing more is read from this side.
    stopped: bool,
}

/// Unwraps the TLS stream of an OpenVPN-over-TCP connection's control channel.
#[derive(Default)]
pub struct OpenVpnUnwrapper {
    sides: [SideState; 2],
    /// The side that sent the client's hard reset.
    client: Option<Side>,
    layout: Option<Layout>,
    /// The key-id of the first TLS session; renegotiations (other key-ids) are not followed.
    key_id: Option<u8>,
    pub facts: OpenVpnFacts,
}

impl OpenVpnUnwrapper {
    /// The side that sent the client's hard reset, once seen.
    pub fn client_side(&self) -> Option<Side> {
        self.client
    }

    /// Nothing more will come from this side (an error, or tls-crypt hides the records).
    pub fn stopped(&self, side: Side) -> bool {
        self.sides[side].stopped
    }

    /// Index into the facts' per-role arrays (client 0, server 1).
    fn role(&self, side: Side) -> usize {
        match self.client {
            Some(c) if c != side => 1,
            _ => 0,
        }
    }

    /// Reads this side's next in-order bytes and appends the TLS bytes they complete to `out`.
    pub fn unwrap(&mut self, side: Side, mut data: &[u8], frame: u64, out: &mut Vec<u8>) {
        while !data.is_empty() && !self.sides[side].stopped {
            let st = &mut self.sides[side];
            if st.skip > 0 {
                let n = st.skip.min(data.len());
                st.skip -= n;
                data = &data[n..];
                continue;
            }
            if st.buf.len() < 2 {
                let take = (2 - st.buf.len()).min(data.len());
                st.buf.extend_from_slice(&data[..take]);
                data = &data[take..];
                if st.buf.len() == 2 && st.buf == [0, 0] {
                    st.buf.clear();
                }
                continue;
            }
            let len = u16::from_be_bytes([st.buf[0], st.buf[1]]) as usize;
            if st.buf.len() == 2 {
                // The opcode decides: data packets are passed over, never held.
                if matches!(opcode(data[0]), P_DATA_V1 | P_DATA_V2) {
                    st.skip = len;
                    st.buf.clear();
                    self.on_data_packet(side, frame);
                    continue;
                }
                if len > MAX_CONTROL_PACKET {
                    return self.stop(side, format!("OpenVPN control packet of {len} bytes in frame {frame}"));
                }
            }
            let take = (2 + len - st.buf.len()).min(data.len());
            st.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if st.buf.len() < 2 + len {
                break;
            }
            let mut packet = std::mem::take(&mut st.buf);
            self.on_packet(side, &packet[2..], frame, out);
            // The buffer's allocation is kept for the next packet.
            packet.clear();
            let st = &mut self.sides[side];
            if !st.stopped {
                st.buf = packet;
            }
        }
    }

    fn on_data_packet(&mut self, side: Side, frame: u64) {
        let role = self.role(side);
        self.facts.data_packets[role] += 1;
        self.facts.first_data[role].get_or_insert(frame);
        // Behind tls-crypt, data packets both ways are all there is to learn: stop reading.
        if self.layout == Some(Layout::TlsCrypt) && self.facts.data_packets.iter().all(|&n| n > 0) {
            for st in &mut self.sides {
                st.stopped = true;
                st.buf = Vec::new();
            }
        }
    }

    fn stop(&mut self, side: Side, why: String) {
        self.facts.errors.push(why);
        let st = &mut self.sides[side];
        st.stopped = true;
        st.buf = Vec::new();
        st.pending = Vec::new();
    }

    fn on_packet(&mut self, side: Side, packet: &[u8], frame: u64, out: &mut Vec<u8>) {
        let Some(&first) = packet.first() else { return };
        let (op, key_id) = (opcode(first), first & 0x07);
        if matches!(
            op,
            P_CONTROL_HARD_RESET_CLIENT_V1 | P_CONTROL_HARD_RESET_CLIENT_V2 | P_CONTROL_HARD_RESET_CLIENT_V3
        ) {
            self.client.get_or_insert(side);
            self.facts.client_reset.get_or_insert(frame);
        }
        if matches!(op, P_CONTROL_HARD_RESET_SERVER_V1 | P_CONTROL_HARD_RESET_SERVER_V2) {
            self.client.get_or_insert(1 - side);
            self.facts.server_reset.get_or_insert(frame);
        }
        let role = self.role(side);
        if !is_control(op) {
            return self.stop(side, format!("OpenVPN packet with unknown opcode {op} in frame {frame}"));
        }
        self.facts.control_packets[role] += 1;
        let layout = match self.layout {
            Some(layout) => layout,
            None => match layout_of(packet) {
                Some(layout) => {
                    self.layout = Some(layout);
                    let (auth, hmac) = match layout {
                        Layout::Plain => (ControlAuth::None, None),
                        Layout::TlsAuth(n) => (ControlAuth::TlsAuth, Some(n)),
                        Layout::TlsCrypt => (ControlAuth::TlsCrypt, None),
                    };
                    self.facts.control_auth = Some(auth);
                    self.facts.hmac_size = hmac;
                    layout
                }
                None => {
                    return self.stop(side, format!("OpenVPN control packet in frame {frame} reads in no known layout"))
                }
            },
        };
        if layout == Layout::TlsCrypt {
            // The control channel is encrypted: nothing for the TLS analyzer. Data packets
            // still tell whether the handshake completed, so the side is read on.
            return;
        }
        let Some(control) = parse(packet, layout) else {
            return self.stop(side, format!("malformed OpenVPN control packet in frame {frame}"));
        };
        let Some(id) = control.packet_id else { return }; // an ACK
        if self.key_id.is_none() && (op == P_CONTROL_V1 || is_hard_reset(op)) {
            self.key_id = Some(key_id);
        }
        if self.key_id != Some(key_id) {
            return; // a renegotiation: a new TLS session, not followed
        }
        let st = &mut self.sides[side];
        let next = *st.next_id.get_or_insert(id);
        if id < next {
            self.facts.repeated += 1;
            return;
        }
        // Only P_CONTROL_V1 carries TLS; a hard reset's payload (early negotiation) is not.
        let payload = if op == P_CONTROL_V1 { control.payload } else { &[] };
        if id > next {
            if st.pending.iter().any(|(p, _)| *p == id) {
                self.facts.repeated += 1;
                return;
            }
            if st.pending.len() >= MAX_PENDING {
                return self.stop(side, format!("OpenVPN control packet-id {next} never arrived (frame {frame})"));
            }
            st.pending.push((id, payload.to_vec()));
            return;
        }
        out.extend_from_slice(payload);
        let mut next = id + 1;
        while let Some(i) = st.pending.iter().position(|(p, _)| *p == next) {
            let (_, bytes) = st.pending.swap_remove(i);
            out.extend_from_slice(&bytes);
            next += 1;
        }
        st.next_id = Some(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TCP-framed control packet: length, opcode/key-id, session id, the layout's prefix,
    /// an acknowledgement array, the packet-id (not for ACKs) and the payload.
    fn packet(op: u8, prefix: &[u8], acks: &[u32], id: Option<u32>, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![op << 3];
        p.extend_from_slice(&[0x11; 8]);
        p.extend_from_slice(prefix);
        p.push(acks.len() as u8);
        for a in acks {
            p.extend_from_slice(&a.to_be_bytes());
        }
        if !acks.is_empty() {
            p.extend_from_slice(&[0x22; 8]);
        }
        if let Some(id) = id {
            p.extend_from_slice(&id.to_be_bytes());
        }
        p.extend_from_slice(payload);
        let mut framed = (p.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&p);
        framed
    }

    /// A tls-auth prefix: an HMAC of `size` bytes, a replay packet-id and a timestamp.
    fn tls_auth(size: usize, replay_id: u32) -> Vec<u8> {
        let mut p: Vec<u8> = (0..size).map(|i| (i as u8).wrapping_mul(37).wrapping_add(101)).collect();
        p.extend_from_slice(&replay_id.to_be_bytes());
        p.extend_from_slice(&1_764_000_000u32.to_be_bytes());
        p
    }

    fn run(unwrapper: &mut OpenVpnUnwrapper, side: Side, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        unwrapper.unwrap(side, bytes, 1, &mut out);
        out
    }

    #[test]
    fn detects_plain_and_tls_auth_hard_resets() {
        let plain = packet(P_CONTROL_HARD_RESET_CLIENT_V2, &[], &[], Some(0), &[]);
        assert_eq!(detect(&plain), Detection::OpenVpn);
        assert_eq!(detect(&plain[..10]), Detection::NeedMore);
        for size in HMAC_SIZES {
            let auth = packet(P_CONTROL_HARD_RESET_CLIENT_V2, &tls_auth(size, 1), &[], Some(0), &[]);
            assert_eq!(detect(&auth), Detection::OpenVpn, "HMAC of {size} bytes");
            assert_eq!(layout_of(&auth[2..]), Some(Layout::TlsAuth(size)));
        }
        // Not OpenVPN: a TLS record, HTTP, a length too short for a hard reset.
        assert_eq!(detect(&[22, 3, 1, 0, 100, 1]), Detection::No);
        assert_eq!(detect(b"GET / HTTP/1.1\r\n"), Detection::No);
        assert_eq!(detect(&[0, 4, 0x38, 0, 0, 0]), Detection::No);
    }

    #[test]
    fn unwraps_tls_in_packet_id_order_and_drops_repeats() {
        let mut u = OpenVpnUnwrapper::default();
        assert!(run(&mut u, 0, &packet(P_CONTROL_HARD_RESET_CLIENT_V2, &[], &[], Some(0), &[])).is_empty());
        assert_eq!(u.client_side(), Some(0));
        let mut stream = packet(P_CONTROL_V1, &[], &[], Some(2), b"\x16 second");
        stream.extend(packet(P_CONTROL_V1, &[], &[], Some(1), b"\x16first"));
        stream.extend(packet(P_CONTROL_V1, &[], &[], Some(1), b"\x16first"));
        stream.extend(packet(P_ACK_V1, &[], &[7], None, &[]));
        // Fed one byte at a time: packets cut anywhere by TCP.
        let mut out = Vec::new();
        for b in &stream {
            u.unwrap(0, std::slice::from_ref(b), 3, &mut out);
        }
        assert_eq!(out, b"\x16first\x16 second");
        assert_eq!(u.facts.repeated, 1);
        assert_eq!(u.facts.control_packets, [5, 0]);
    }

    #[test]
    fn tls_auth_packets_are_read_behind_their_hmac() {
        let mut u = OpenVpnUnwrapper::default();
        run(&mut u, 1, &packet(P_CONTROL_HARD_RESET_CLIENT_V2, &tls_auth(32, 1), &[], Some(0), &[]));
        let out = run(&mut u, 1, &packet(P_CONTROL_V1, &tls_auth(32, 2), &[0], Some(1), b"\x16hello"));
        assert_eq!(out, b"\x16hello");
        assert_eq!((u.facts.control_auth, u.facts.hmac_size), (Some(ControlAuth::TlsAuth), Some(32)));
    }

    #[test]
    fn tls_crypt_is_recognised_and_data_packets_counted() {
        let mut reset = vec![P_CONTROL_HARD_RESET_CLIENT_V2 << 3];
        reset.extend_from_slice(&[0x11; 8]);
        reset.extend_from_slice(&1u32.to_be_bytes());
        reset.extend_from_slice(&1_764_000_000u32.to_be_bytes());
        reset.extend_from_slice(&[0xa5; TLS_CRYPT_TAG + 5]);
        let mut framed = (reset.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&reset);
        assert_eq!(detect(&framed), Detection::OpenVpn);
        let mut u = OpenVpnUnwrapper::default();
        assert!(run(&mut u, 0, &framed).is_empty());
        assert_eq!(u.facts.control_auth, Some(ControlAuth::TlsCrypt));
        let data = [0, 5, P_DATA_V2 << 3, 0, 0, 0, 0xff];
        run(&mut u, 0, &data);
        run(&mut u, 1, &data);
        assert_eq!(u.facts.data_packets, [1, 1]);
    }

    #[test]
    fn garbage_stops_the_side_without_panicking() {
        let mut u = OpenVpnUnwrapper::default();
        run(&mut u, 0, &packet(P_CONTROL_HARD_RESET_CLIENT_V2, &[], &[], Some(0), &[]));
        run(&mut u, 0, &[0, 3, 0xf8, 1, 2]);
        assert!(u.stopped(0));
        assert_eq!(u.facts.errors.len(), 1);
        // Truncated and odd packets in every layout.
        for bytes in [&[0u8, 1, 0x20][..], &[0, 2, 0x28, 9], &[0, 0], &[0xff, 0xff, 0x38]] {
            let mut u = OpenVpnUnwrapper::default();
            run(&mut u, 0, bytes);
        }
    }
}
