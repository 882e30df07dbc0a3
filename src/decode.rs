//! Frames to TCP segments: link layer, IPv4/IPv6 (with extension headers), tunnels, TCP.
//!
//! Tunnels and mirrors are recognised by content and unwrapped down to the innermost TCP
//! segment: IP in IP, GRE (with checksum, key and sequence number), ERSPAN types I, II and III
//! (inside GRE), VXLAN, Geneve, GTP-U, CAPWAP data (802.3 or 802.11 payloads), and 802.11 data
//! frames (bare or behind radiotap or PPI). What a tunnel carries that cannot be read (an
//! encrypted 802.11 frame, a fragment, DTLS-protected CAPWAP, a GRE variant not read here) is
//! counted in [`TunnelCounts`], never guessed at.
//!
//! Tolerant of frames cut by a snap length: the segment then says how many payload bytes the
//! wire carried and how many the capture kept, so reassembly can record the hole instead of
//! mistaking it for the end of the data. DNS responses are handed on (they say where a client
//! went for a certificate's revocation URL); everything else that is not TCP is counted and
//! dropped.

use crate::capture::{Frame, LinkType};
use etherparse::{EtherType, IpNumber, LaxNetSlice, LaxSlicedPacket, TransportSlice};
use serde::Serialize;
use std::net::IpAddr;

/// TCP flags this tool looks at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
}

/// One TCP segment, borrowing the frame's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    /// The payload bytes the capture holds.
    pub payload: &'a [u8],
    /// Payload length on the wire (larger than `payload.len()` when the frame was cut short).
    pub wire_len: u32,
}

/// What a frame turned out to hold.
#[derive(Debug)]
pub enum Decoded<'a> {
    Tcp(TcpSegment<'a>),
    /// A UDP datagram from port 53 (a DNS response) to `client`; also counted as other IP.
    DnsResponse {
        client: IpAddr,
        payload: &'a [u8],
    },
    /// IP traffic that is not TCP, or TCP in an IP fragment.
    OtherIp,
    /// Not IP at all (ARP, unknown EtherType, a link type this tool does not read).
    NotIp,
    /// A frame too short or malformed to reach a TCP header.
    Malformed,
    /// A tunnel or 802.11 frame whose payload cannot be read (counted by kind in
    /// [`TunnelCounts`]).
    Skipped,
}

/// Frames that crossed each tunnel layer on the way to their payload (a frame inside two
/// tunnels counts in both), and frames whose tunnelled payload could not be read, by reason.
/// Only frames off the fast path are counted: plain Ethernet/IP frames never touch these.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TunnelCounts {
    pub ip_in_ip: u64,
    pub gre: u64,
    /// ERSPAN types I and II (GRE protocol 0x88BE).
    pub erspan_ii: u64,
    /// ERSPAN type III (GRE protocol 0x22EB).
    pub erspan_iii: u64,
    pub vxlan: u64,
    pub geneve: u64,
    pub gtp_u: u64,
    pub capwap: u64,
    /// 802.11 data frames (bare, radiotap, PPI or inside CAPWAP).
    pub wlan: u64,
    /// 802.11 data frames with the Protected bit (WEP/WPA): their payload is ciphertext.
    pub skipped_wlan_protected: u64,
    /// 802.11 fragments and A-MSDU aggregates (not reassembled here).
    pub skipped_wlan_fragment: u64,
    /// 802.11 frames whose radiotap header says the checksum failed.
    pub skipped_wlan_bad_fcs: u64,
    /// CAPWAP data that is DTLS-protected or fragmented.
    pub skipped_capwap: u64,
    /// GRE that is not read here (version 1 / PPTP, source routing, unknown protocol type,
    /// unknown ERSPAN frame type).
    pub skipped_gre: u64,
}

impl TunnelCounts {
    fn skip(&mut self, reason: Skip) {
        match reason {
            Skip::WlanProtected => self.skipped_wlan_protected += 1,
            Skip::WlanFragment => self.skipped_wlan_fragment += 1,
            Skip::WlanBadFcs => self.skipped_wlan_bad_fcs += 1,
            Skip::Capwap => self.skipped_capwap += 1,
            Skip::Gre => self.skipped_gre += 1,
        }
    }

    /// Adds another input's counts (totals over files).
    pub fn add(&mut self, o: &TunnelCounts) {
        self.ip_in_ip += o.ip_in_ip;
        self.gre += o.gre;
        self.erspan_ii += o.erspan_ii;
        self.erspan_iii += o.erspan_iii;
        self.vxlan += o.vxlan;
        self.geneve += o.geneve;
        self.gtp_u += o.gtp_u;
        self.capwap += o.capwap;
        self.wlan += o.wlan;
        self.skipped_wlan_protected += o.skipped_wlan_protected;
        self.skipped_wlan_fragment += o.skipped_wlan_fragment;
        self.skipped_wlan_bad_fcs += o.skipped_wlan_bad_fcs;
        self.skipped_capwap += o.skipped_capwap;
        self.skipped_gre += o.skipped_gre;
    }
}

/// Why a tunnelled payload was not read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Skip {
    WlanProtected,
    WlanFragment,
    WlanBadFcs,
    Capwap,
    Gre,
}

/// What one layer of unwrapping gave. Large, but boxing it would allocate per frame.
#[allow(clippy::large_enum_variant)]
enum Layer<'a> {
    /// The next packet in, to slice further.
    Packet(LaxSlicedPacket<'a>),
    /// Readable framing around something that is not IP (an 802.11 management frame, EAPOL).
    NotIp,
    /// A payload that cannot be read.
    Skip(Skip),
}

/// How many tunnel layers are unwrapped before a frame is given up on.
const MAX_TUNNEL_DEPTH: usize = 4;

/// Decodes one frame. Never panics, never allocates.
pub fn decode<'a>(frame: &Frame<'a>) -> Decoded<'a> {
    decode_counted(frame, &mut TunnelCounts::default())
}

/// Decodes one frame, counting the tunnel layers it crossed and why a tunnelled payload was
/// skipped. Never panics, never allocates.
pub fn decode_counted<'a>(frame: &Frame<'a>, tunnels: &mut TunnelCounts) -> Decoded<'a> {
    match fast_path(frame) {
        Some(segment) => Decoded::Tcp(segment),
        None => decode_lax(frame, tunnels),
    }
}

/// Decodes any frame through etherparse's lax slicing, tunnels included.
fn decode_lax<'a>(frame: &Frame<'a>, tunnels: &mut TunnelCounts) -> Decoded<'a> {
    let mut packet = match slice_link(frame, tunnels) {
        Some(Layer::Packet(packet)) => packet,
        Some(Layer::NotIp) => return Decoded::NotIp,
        Some(Layer::Skip(reason)) => {
            tunnels.skip(reason);
            return Decoded::Skipped;
        }
        None => return Decoded::Malformed,
    };
    // Tunnels: the connection is the innermost one.
    for _ in 0..MAX_TUNNEL_DEPTH {
        match inner_packet(&packet, tunnels) {
            Some(Layer::Packet(inner)) => packet = inner,
            Some(Layer::NotIp) => return Decoded::NotIp,
            Some(Layer::Skip(reason)) => {
                tunnels.skip(reason);
                return Decoded::Skipped;
            }
            None => break,
        }
    }
    segment(&packet, frame.caplen < frame.orig_len)
}

/// The common case on its own: a whole Ethernet (optionally one VLAN tag) or raw-IP frame with
/// an IPv4 or IPv6 header (no extension headers), unfragmented TCP, lengths consistent. It
/// reads the headers through etherparse's header slices, which check only what is read here;
/// building the full lax-sliced packet costs several times more and is left for every other
/// frame (tunnels, extension headers, cut frames, anything odd), which gives the same result.
fn fast_path<'a>(frame: &Frame<'a>) -> Option<TcpSegment<'a>> {
    if frame.caplen < frame.orig_len {
        return None;
    }
    let data = frame.data;
    let ip = match frame.link_type {
        LinkType::ETHERNET => {
            let mut at = 12;
            let mut ether_type = u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]);
            if ether_type == 0x8100 {
                at += 4;
                ether_type = u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]);
            }
            if ether_type != 0x0800 && ether_type != 0x86dd {
                return None;
            }
            data.get(at + 2..)?
        }
        LinkType::RAW | LinkType::RAW_14 | LinkType::IPV4 | LinkType::IPV6 => data,
        _ => return None,
    };
    let (src, dst, transport) = match ip.first()? >> 4 {
        4 => {
            let h = etherparse::Ipv4HeaderSlice::from_slice(ip).ok()?;
            let total = h.total_len() as usize;
            let header = h.slice().len();
            if h.protocol() != etherparse::IpNumber::TCP || h.is_fragmenting_payload() || total < header {
                return None;
            }
            (IpAddr::from(h.source()), IpAddr::from(h.destination()), ip.get(header..total)?)
        }
        6 => {
            let h = etherparse::Ipv6HeaderSlice::from_slice(ip).ok()?;
            let len = h.payload_length() as usize;
            if h.next_header() != etherparse::IpNumber::TCP || len == 0 {
                return None;
            }
            (IpAddr::from(h.source()), IpAddr::from(h.destination()), ip.get(40..40 + len)?)
        }
        _ => return None,
    };
    let tcp = etherparse::TcpHeaderSlice::from_slice(transport).ok()?;
    let payload = &transport[tcp.slice().len()..];
    Some(TcpSegment {
        src,
        dst,
        sport: tcp.source_port(),
        dport: tcp.destination_port(),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags { syn: tcp.syn(), ack: tcp.ack(), fin: tcp.fin(), rst: tcp.rst() },
        payload,
        wire_len: payload.len() as u32,
    })
}

/// Slices the link layer by link type, down to whatever etherparse can read.
fn slice_link<'a>(frame: &Frame<'a>, tunnels: &mut TunnelCounts) -> Option<Layer<'a>> {
    let data = frame.data;
    match frame.link_type {
        LinkType::IEEE802_11 => wlan_payload(data, tunnels),
        LinkType::IEEE802_11_RADIOTAP => {
            let (len, bad_fcs) = radiotap(data)?;
            if bad_fcs {
                return Some(Layer::Skip(Skip::WlanBadFcs));
            }
            wlan_payload(data.get(len..)?, tunnels)
        }
        LinkType::PPI => {
            // PPI header: version, flags, length (LE), link type of what follows (LE).
            let len = u16::from_le_bytes([*data.get(2)?, *data.get(3)?]) as usize;
            let dlt = u32::from_le_bytes(data.get(4..8)?.try_into().ok()?);
            match dlt {
                105 => wlan_payload(data.get(len..)?, tunnels),
                1 => LaxSlicedPacket::from_ethernet(data.get(len..)?).ok().map(Layer::Packet),
                _ => Some(Layer::NotIp),
            }
        }
        _ => slice_wired(frame).map(Layer::Packet),
    }
}

/// The link types of wired captures.
fn slice_wired<'a>(frame: &Frame<'a>) -> Option<LaxSlicedPacket<'a>> {
    let data = frame.data;
    match frame.link_type {
        LinkType::ETHERNET => {
            let packet = LaxSlicedPacket::from_ethernet(data).ok()?;
            if packet.net.is_none() {
                if let Some(inner) = pppoe_payload(data) {
                    return Some(inner);
                }
            }
            Some(packet)
        }
        LinkType::RAW | LinkType::RAW_12 | LinkType::RAW_14 | LinkType::IPV4 | LinkType::IPV6 => {
            LaxSlicedPacket::from_ip(data).ok()
        }
        LinkType::NULL | LinkType::LOOP => {
            let raw: [u8; 4] = data.get(..4)?.try_into().ok()?;
            // The address family is in the writer's byte order (NULL) or big-endian (LOOP).
            let family = if frame.link_type == LinkType::LOOP {
                u32::from_be_bytes(raw)
            } else if u32::from_le_bytes(raw) < 0x100 {
                u32::from_le_bytes(raw)
            } else {
                u32::from_be_bytes(raw)
            };
            let ether_type = match family {
                2 => EtherType::IPV4,
                // AF_INET6 differs per BSD: 24 (NetBSD, OpenBSD), 28 (FreeBSD), 30 (macOS).
                24 | 28 | 30 => EtherType::IPV6,
                _ => EtherType(0),
            };
            Some(LaxSlicedPacket::from_ether_type(ether_type, &data[4..]))
        }
        LinkType::LINUX_SLL => {
            let ether_type = u16::from_be_bytes([*data.get(14)?, *data.get(15)?]);
            Some(LaxSlicedPacket::from_ether_type(EtherType(ether_type), &data[16..]))
        }
        LinkType::LINUX_SLL2 => {
            let ether_type = u16::from_be_bytes([*data.first()?, *data.get(1)?]);
            Some(LaxSlicedPacket::from_ether_type(EtherType(ether_type), data.get(20..)?))
        }
        _ => Some(LaxSlicedPacket::from_ether_type(EtherType(0), &[])),
    }
}

/// PPPoE session frames (behind any VLAN tags) carrying IPv4 or IPv6.
fn pppoe_payload(data: &[u8]) -> Option<LaxSlicedPacket<'_>> {
    let mut at = 12;
    loop {
        let ether_type = u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]);
        match ether_type {
            0x8100 | 0x88a8 | 0x9100 => at += 4,
            0x8864 => break,
            _ => return None,
        }
    }
    // Ethertype (2), PPPoE header (6), PPP protocol (2).
    let ip_type = match u16::from_be_bytes([*data.get(at + 8)?, *data.get(at + 9)?]) {
        0x0021 => EtherType::IPV4,
        0x0057 => EtherType::IPV6,
        _ => return None,
    };
    Some(LaxSlicedPacket::from_ether_type(ip_type, data.get(at + 10..)?))
}

/// The packet carried inside a tunnel, if this one is a tunnel this tool unwraps.
fn inner_packet<'a>(packet: &LaxSlicedPacket<'a>, tunnels: &mut TunnelCounts) -> Option<Layer<'a>> {
    let ip_payload = packet.net.as_ref()?.ip_payload_ref()?;
    if ip_payload.fragmented {
        return None;
    }
    match ip_payload.ip_number {
        IpNumber::IPV4 | IpNumber::IPV6 => {
            tunnels.ip_in_ip += 1;
            LaxSlicedPacket::from_ip(ip_payload.payload).ok().map(Layer::Packet)
        }
        IpNumber::GRE => gre_payload(ip_payload.payload, tunnels),
        IpNumber::UDP => {
            let Some(TransportSlice::Udp(udp)) = &packet.transport else { return None };
            let body = udp.payload();
            match (udp.source_port(), udp.destination_port()) {
                // VXLAN: 8-byte header, then Ethernet.
                (_, 4789) | (4789, _) => {
                    tunnels.vxlan += 1;
                    LaxSlicedPacket::from_ethernet(body.get(8..)?).ok().map(Layer::Packet)
                }
                // Geneve: 8-byte header plus options, protocol type names the payload.
                (_, 6081) | (6081, _) => {
                    let options = (*body.first()? as usize & 0x3f) * 4;
                    let protocol = u16::from_be_bytes([*body.get(2)?, *body.get(3)?]);
                    let inner = body.get(8 + options..)?;
                    tunnels.geneve += 1;
                    Some(Layer::Packet(if protocol == 0x6558 {
                        LaxSlicedPacket::from_ethernet(inner).ok()?
                    } else {
                        LaxSlicedPacket::from_ether_type(EtherType(protocol), inner)
                    }))
                }
                // GTP-U: 8-byte header, 4 more when any of E, S, PN is set, then extension headers.
                (_, 2152) | (2152, _) => {
                    let flags = *body.first()?;
                    if *body.get(1)? != 0xff {
                        return None; // not a T-PDU
                    }
                    let mut at = 8;
                    if flags & 0x07 != 0 {
                        at = 12;
                        let mut next_ext = *body.get(11)?;
                        while flags & 0x04 != 0 && next_ext != 0 {
                            let len = *body.get(at)? as usize * 4;
                            if len == 0 {
                                return None;
                            }
                            next_ext = *body.get(at + len - 1)?;
                            at += len;
                        }
                    }
                    tunnels.gtp_u += 1;
                    LaxSlicedPacket::from_ip(body.get(at..)?).ok().map(Layer::Packet)
                }
                // CAPWAP data channel (RFC 5415); 5246 is the control channel, not followed.
                (_, 5247) | (5247, _) => capwap_payload(body, tunnels),
                _ => None,
            }
        }
        _ => None,
    }
}

/// GRE (RFC 2784 with the key and sequence number of RFC 2890) and what it carries: IP,
/// Ethernet (transparent bridging) and ERSPAN mirrors.
fn gre_payload<'a>(gre: &'a [u8], tunnels: &mut TunnelCounts) -> Option<Layer<'a>> {
    let (flags, version) = (*gre.first()?, *gre.get(1)? & 0x07);
    let protocol = u16::from_be_bytes([*gre.get(2)?, *gre.get(3)?]);
    tunnels.gre += 1;
    // Version 1 is PPTP's enhanced GRE (PPP, usually MPPE-encrypted); source routing (R) is
    // obsolete and variable-length.
    if version != 0 || flags & 0x40 != 0 {
        return Some(Layer::Skip(Skip::Gre));
    }
    let (checksum, key, sequence) = (flags & 0x80 != 0, flags & 0x20 != 0, flags & 0x10 != 0);
    let at = 4 + 4 * (checksum as usize + key as usize + sequence as usize);
    let body = gre.get(at..)?;
    match protocol {
        0x0800 | 0x86dd => Some(Layer::Packet(LaxSlicedPacket::from_ether_type(EtherType(protocol), body))),
        0x6558 => LaxSlicedPacket::from_ethernet(body).ok().map(Layer::Packet),
        // ERSPAN type I has no header of its own (and no sequence number); type II has an
        // 8-byte header starting with version 1.
        0x88be => {
            tunnels.erspan_ii += 1;
            let mirrored = if sequence { body.get(8..)? } else { body };
            LaxSlicedPacket::from_ethernet(mirrored).ok().map(Layer::Packet)
        }
        // ERSPAN type III: 12-byte header, 8 more with the O bit (platform-specific
        // subheader); the frame type says Ethernet (0) or IP (2).
        0x22eb => {
            tunnels.erspan_iii += 1;
            let last = *body.get(11)?;
            let frame_type = (*body.get(10)? >> 2) & 0x1f;
            let mirrored = body.get(if last & 0x01 != 0 { 20 } else { 12 }..)?;
            match frame_type {
                0 => LaxSlicedPacket::from_ethernet(mirrored).ok().map(Layer::Packet),
                2 => LaxSlicedPacket::from_ip(mirrored).ok().map(Layer::Packet),
                _ => Some(Layer::Skip(Skip::Gre)),
            }
        }
        _ => Some(Layer::Skip(Skip::Gre)),
    }
}

/// CAPWAP data (RFC 5415 section 4.3): a preamble, a header of HLEN 4-byte words, then an
/// 802.3 frame, or (T bit, wireless binding 1) an 802.11 frame.
fn capwap_payload<'a>(body: &'a [u8], tunnels: &mut TunnelCounts) -> Option<Layer<'a>> {
    let preamble = *body.first()?;
    if preamble >> 4 != 0 {
        return None; // not CAPWAP version 0
    }
    tunnels.capwap += 1;
    if preamble & 0x0f == 1 {
        return Some(Layer::Skip(Skip::Capwap)); // DTLS-protected data channel
    }
    let (b1, b2, b3) = (*body.get(1)?, *body.get(2)?, *body.get(3)?);
    let header_len = (b1 >> 3) as usize * 4;
    let binding = (b2 >> 1) & 0x1f;
    let native = b2 & 0x01 != 0;
    let (fragment, keep_alive) = (b3 & 0x80 != 0, b3 & 0x08 != 0);
    if keep_alive {
        return Some(Layer::NotIp);
    }
    if fragment {
        return Some(Layer::Skip(Skip::Capwap));
    }
    let frame = body.get(header_len..)?;
    match (native, binding) {
        (false, _) => LaxSlicedPacket::from_ethernet(frame).ok().map(Layer::Packet),
        (true, 1) => wlan_payload(frame, tunnels),
        _ => Some(Layer::NotIp),
    }
}

/// The radiotap header's length, and whether its Flags field says the frame failed its
/// checksum.
fn radiotap(data: &[u8]) -> Option<(usize, bool)> {
    if *data.first()? != 0 {
        return None;
    }
    let len = u16::from_le_bytes([*data.get(2)?, *data.get(3)?]) as usize;
    let present = u32::from_le_bytes(data.get(4..8)?.try_into().ok()?);
    // Extended presence bitmaps follow while bit 31 is set.
    let mut at = 8;
    let mut word = present;
    while word & 0x8000_0000 != 0 {
        word = u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?);
        at += 4;
        if at > len {
            return None;
        }
    }
    let mut bad_fcs = false;
    if present & 0x02 != 0 {
        // Flags (field 1) follows TSFT (field 0, 8 bytes aligned to 8) when present.
        if present & 0x01 != 0 {
            at = at.next_multiple_of(8) + 8;
        }
        bad_fcs = data.get(at).is_some_and(|f| f & 0x40 != 0) && at < len;
    }
    (len >= 8).then_some((len, bad_fcs))
}

/// An 802.11 data frame's payload behind its LLC/SNAP header. Management and control frames
/// and null data frames carry no IP; protected frames, fragments and A-MSDUs are skipped.
fn wlan_payload<'a>(data: &'a [u8], tunnels: &mut TunnelCounts) -> Option<Layer<'a>> {
    let (fc0, fc1) = (*data.first()?, *data.get(1)?);
    let (kind, subtype) = ((fc0 >> 2) & 0x03, fc0 >> 4);
    if fc0 & 0x03 != 0 || kind != 2 || subtype & 0x04 != 0 {
        return Some(Layer::NotIp);
    }
    tunnels.wlan += 1;
    if fc1 & 0x40 != 0 {
        return Some(Layer::Skip(Skip::WlanProtected));
    }
    let four_address = fc1 & 0x03 == 0x03;
    let qos = subtype & 0x08 != 0;
    let mut at = 24 + if four_address { 6 } else { 0 };
    let fragment_number = *data.get(22)? & 0x0f;
    if fc1 & 0x04 != 0 || fragment_number != 0 {
        return Some(Layer::Skip(Skip::WlanFragment));
    }
    if qos {
        if *data.get(at)? & 0x80 != 0 {
            return Some(Layer::Skip(Skip::WlanFragment)); // A-MSDU
        }
        at += 2;
        if fc1 & 0x80 != 0 {
            at += 4; // HT Control
        }
    }
    // LLC/SNAP: AA AA 03, an OUI of RFC 1042 (00 00 00) or 802.1H (00 00 F8), the EtherType.
    match data.get(at..at + 8)? {
        [0xaa, 0xaa, 0x03, 0, 0, 0 | 0xf8, t0, t1] => {
            let ether_type = u16::from_be_bytes([*t0, *t1]);
            match ether_type {
                0x0800 | 0x86dd => {
                    Some(Layer::Packet(LaxSlicedPacket::from_ether_type(EtherType(ether_type), &data[at + 8..])))
                }
                _ => Some(Layer::NotIp),
            }
        }
        _ => Some(Layer::NotIp),
    }
}

/// The TCP segment of a sliced packet. `frame_cut` says the snap length cut the frame: only
/// then is the IP length trusted over the captured bytes (senders with segmentation offload
/// write lengths that the frame does not have).
fn segment<'a>(packet: &LaxSlicedPacket<'a>, frame_cut: bool) -> Decoded<'a> {
    let (src, dst, ip_payload) = match &packet.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            (IpAddr::from(h.source()), IpAddr::from(h.destination()), v4.payload())
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            (IpAddr::from(h.source()), IpAddr::from(h.destination()), v6.payload())
        }
        Some(LaxNetSlice::Arp(_)) | None => {
            return if packet.stop_err.is_some() && packet.net.is_none() { Decoded::Malformed } else { Decoded::NotIp };
        }
    };
    let Some(TransportSlice::Tcp(tcp)) = &packet.transport else {
        if ip_payload.ip_number == etherparse::IpNumber::TCP && !ip_payload.fragmented {
            return Decoded::Malformed;
        }
        if let Some(TransportSlice::Udp(udp)) = &packet.transport {
            if udp.source_port() == 53 && !ip_payload.fragmented {
                return Decoded::DnsResponse { client: dst, payload: udp.payload() };
            }
        }
        return Decoded::OtherIp;
    };
    let payload = tcp.payload();
    // With a cut frame the IP header still tells how long the segment was on the wire.
    let wire_len = if frame_cut && ip_payload.incomplete {
        match &packet.net {
            Some(LaxNetSlice::Ipv4(v4)) => {
                let h = v4.header();
                (h.total_len() as usize).saturating_sub(h.slice().len() + tcp.header_slice().len())
            }
            Some(LaxNetSlice::Ipv6(v6)) => (v6.header().payload_length() as usize)
                .saturating_sub(v6.extensions().slice().len() + tcp.header_slice().len()),
            _ => payload.len(),
        }
        .max(payload.len())
    } else {
        payload.len()
    };
    Decoded::Tcp(TcpSegment {
        src,
        dst,
        sport: tcp.source_port(),
        dport: tcp.destination_port(),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags { syn: tcp.syn(), ack: tcp.ack(), fin: tcp.fin(), rst: tcp.rst() },
        payload,
        wire_len: wire_len as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::open_path;

    /// The fast path gives exactly what the lax slicing gives, on every frame it takes, in
    /// public captures of many link types and quirks.
    #[test]
    fn fast_path_agrees_with_lax_slicing() {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
        // The public-capture tier: skipped without ../shared, except where CI requires it.
        if !corpus.is_dir() {
            assert!(std::env::var_os("CI").is_none(), "../shared/corpus is missing under CI");
            eprintln!("skipped: ../shared/corpus is not beside the repository");
            return;
        }
        let mut compared = 0;
        for name in [
            "pcapplusplus--tls2.pcap",
            "ndpi--http_ipv6.pcap",
            "ndpi--tls_invalid_reads.pcap",
            "suricata-verify--linktype-228--flow-test-01.pcap",
            "zeek--http-vlan-0.pcap",
            "arkime--openssl-tls1_2.snaplen128.pcap",
            "tcpdump--bigtcp-ipv6-hbh.pcap",
        ] {
            let Ok(mut opened) = open_path(&corpus.join(name)) else { continue };
            while let Ok(Some(frame)) = opened.source.next_frame() {
                if let Some(fast) = fast_path(&frame) {
                    compared += 1;
                    match decode_lax(&frame, &mut TunnelCounts::default()) {
                        Decoded::Tcp(lax) => assert_eq!(fast, lax, "{name} frame {}", frame.index),
                        other => panic!("{name} frame {}: fast path TCP, lax {other:?}", frame.index),
                    }
                }
            }
        }
        assert!(compared > 1000, "{compared} frames compared");
    }

    /// An IPv4 TCP segment 10.0.0.1:1234 -> 10.0.0.2:443 carrying `payload`.
    fn ipv4_tcp(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        etherparse::PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(1234, 443, 1000, 512)
            .write(&mut out, payload)
            .unwrap();
        out
    }

    fn ethernet(ip: &[u8]) -> Vec<u8> {
        let mut out = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        out.extend_from_slice(ip);
        out
    }

    /// `inner` in an outer IPv4 packet of protocol `protocol` (GRE 47, UDP 17 with a header
    /// already in `inner`).
    fn outer_ipv4(protocol: u8, inner: &[u8]) -> Vec<u8> {
        let total = (20 + inner.len()) as u16;
        let mut out = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, protocol, 0, 0, 10, 9, 0, 1, 10, 9, 0, 2];
        out[2..4].copy_from_slice(&total.to_be_bytes());
        out.extend_from_slice(inner);
        out
    }

    fn udp(sport: u16, dport: u16, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&sport.to_be_bytes());
        out.extend_from_slice(&dport.to_be_bytes());
        out.extend_from_slice(&((8 + body.len()) as u16).to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(body);
        out
    }

    fn run(link_type: LinkType, data: &[u8]) -> (Option<(u16, Vec<u8>)>, TunnelCounts) {
        let frame = Frame { ts: 0, link_type, caplen: data.len() as u32, orig_len: data.len() as u32, index: 1, data };
        let mut counts = TunnelCounts::default();
        let got = match decode_counted(&frame, &mut counts) {
            Decoded::Tcp(seg) => Some((seg.dport, seg.payload.to_vec())),
            _ => None,
        };
        (got, counts)
    }

    /// An 802.11 data frame header: frame control, duration, three addresses, sequence control.
    fn wlan_header(subtype: u8, flags: u8) -> Vec<u8> {
        let mut out = vec![0x08 | subtype << 4, flags, 0, 0];
        out.extend_from_slice(&[0x11; 18]);
        out.extend_from_slice(&[0x10, 0]); // sequence 1, fragment 0
        out
    }

    const SNAP_IPV4: [u8; 8] = [0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00];

    #[test]
    fn gre_with_checksum_key_and_sequence() {
        let mut gre = vec![0xb0, 0, 0x08, 0x00, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 7];
        gre.extend_from_slice(&ipv4_tcp(b"hello"));
        let (got, counts) = run(LinkType::ETHERNET, &ethernet(&outer_ipv4(47, &gre)));
        assert_eq!(got, Some((443, b"hello".to_vec())));
        assert_eq!(counts.gre, 1);
    }

    #[test]
    fn pptp_gre_is_counted_not_read() {
        let mut gre = vec![0x30, 0x81, 0x88, 0x0b, 0, 5, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        gre.extend_from_slice(&[0xff, 0x03, 0x00, 0x21]);
        gre.extend_from_slice(&ipv4_tcp(b"x"));
        let (got, counts) = run(LinkType::ETHERNET, &ethernet(&outer_ipv4(47, &gre)));
        assert_eq!(got, None);
        assert_eq!(counts.skipped_gre, 1);
    }

    #[test]
    fn erspan_type_i_ii_and_iii() {
        let mirrored = ethernet(&ipv4_tcp(b"mirror"));
        // Type II: GRE with a sequence number, 8-byte ERSPAN header.
        let mut gre = vec![0x10, 0, 0x88, 0xbe, 0, 0, 0, 1, 0x10, 0, 0, 1, 0, 0, 0, 0];
        gre.extend_from_slice(&mirrored);
        let (got, counts) = run(LinkType::ETHERNET, &ethernet(&outer_ipv4(47, &gre)));
        assert_eq!(got, Some((443, b"mirror".to_vec())));
        assert_eq!(counts.erspan_ii, 1);
        // Type I: no sequence number, no ERSPAN header.
        let mut gre = vec![0, 0, 0x88, 0xbe];
        gre.extend_from_slice(&mirrored);
        assert_eq!(run(LinkType::ETHERNET, &ethernet(&outer_ipv4(47, &gre))).0, Some((443, b"mirror".to_vec())));
        // Type III with the optional 8-byte subheader (O bit) and an IP frame type (FT 2).
        let mut gre = vec![0x10, 0, 0x22, 0xeb, 0, 0, 0, 1];
        gre.extend_from_slice(&[0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2 << 2, 0x01]);
        gre.extend_from_slice(&[0xee; 8]);
        gre.extend_from_slice(&ipv4_tcp(b"ip"));
        let (got, counts) = run(LinkType::ETHERNET, &ethernet(&outer_ipv4(47, &gre)));
        assert_eq!(got, Some((443, b"ip".to_vec())));
        assert_eq!(counts.erspan_iii, 1);
    }

    #[test]
    fn capwap_data_with_8023_and_80211_payloads() {
        // HLEN 2 words, WBID 1, T 0: an Ethernet frame.
        let mut capwap = vec![0x00, 2 << 3, 1 << 1, 0, 0, 0, 0, 0];
        capwap.extend_from_slice(&ethernet(&ipv4_tcp(b"wired")));
        let (got, counts) = run(LinkType::ETHERNET, &ethernet(&outer_ipv4(17, &udp(5247, 32768, &capwap))));
        assert_eq!(got, Some((443, b"wired".to_vec())));
        assert_eq!(counts.capwap, 1);
        // T 1: a native 802.11 data frame (FromDS) behind LLC/SNAP.
        let mut capwap = vec![0x00, 2 << 3, 1 << 1 | 1, 0, 0, 0, 0, 0];
        capwap.extend_from_slice(&wlan_header(0, 0x02));
        capwap.extend_from_slice(&SNAP_IPV4);
        capwap.extend_from_slice(&ipv4_tcp(b"radio"));
        let (got, counts) = run(LinkType::ETHERNET, &ethernet(&outer_ipv4(17, &udp(32768, 5247, &capwap))));
        assert_eq!(got, Some((443, b"radio".to_vec())));
        assert_eq!((counts.capwap, counts.wlan), (1, 1));
        // DTLS-protected data and fragments are counted, not read.
        let dtls = [0x01, 0, 0, 0, 0x17, 0xfe, 0xfd];
        let (got, counts) = run(LinkType::ETHERNET, &ethernet(&outer_ipv4(17, &udp(5247, 5247, &dtls))));
        assert_eq!((got, counts.skipped_capwap), (None, 1));
        let mut fragment = vec![0x00, 2 << 3, 1 << 1, 0x80, 0, 1, 0, 0];
        fragment.extend_from_slice(&ethernet(&ipv4_tcp(b"part")));
        let (got, counts) = run(LinkType::ETHERNET, &ethernet(&outer_ipv4(17, &udp(5247, 5247, &fragment))));
        assert_eq!((got, counts.skipped_capwap), (None, 1));
    }

    #[test]
    fn wlan_data_frames_bare_and_behind_radiotap() {
        // QoS data (subtype 8), ToDS: 2 bytes of QoS control after the header.
        let mut frame = wlan_header(8, 0x01);
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(&SNAP_IPV4);
        frame.extend_from_slice(&ipv4_tcp(b"qos"));
        let (got, counts) = run(LinkType::IEEE802_11, &frame);
        assert_eq!(got, Some((443, b"qos".to_vec())));
        assert_eq!(counts.wlan, 1);
        // Radiotap: TSFT and Flags present; Flags without "bad FCS".
        let mut radio = vec![0, 0, 17, 0, 0x03, 0, 0, 0];
        radio.extend_from_slice(&[0; 8]); // TSFT
        radio.push(0x00); // Flags
        radio.extend_from_slice(&frame);
        assert_eq!(run(LinkType::IEEE802_11_RADIOTAP, &radio).0, Some((443, b"qos".to_vec())));
        // The same with "bad FCS" is counted and skipped.
        radio[16] = 0x40;
        let (got, counts) = run(LinkType::IEEE802_11_RADIOTAP, &radio);
        assert_eq!((got, counts.skipped_wlan_bad_fcs), (None, 1));
    }

    #[test]
    fn protected_and_fragmented_wlan_frames_are_counted() {
        let mut protected = wlan_header(0, 0x41);
        protected.extend_from_slice(&[0x5a; 40]);
        let (got, counts) = run(LinkType::IEEE802_11, &protected);
        assert_eq!((got, counts.skipped_wlan_protected, counts.wlan), (None, 1, 1));
        let mut fragment = wlan_header(0, 0x04);
        fragment.extend_from_slice(&SNAP_IPV4);
        fragment.extend_from_slice(&ipv4_tcp(b"frag"));
        let (got, counts) = run(LinkType::IEEE802_11, &fragment);
        assert_eq!((got, counts.skipped_wlan_fragment), (None, 1));
        // A beacon (management) is not IP, and not counted as 802.11 data.
        let beacon = [0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 0, 0];
        let frame = Frame { ts: 0, link_type: LinkType::IEEE802_11, caplen: 24, orig_len: 24, index: 1, data: &beacon };
        let mut counts = TunnelCounts::default();
        assert!(matches!(decode_counted(&frame, &mut counts), Decoded::NotIp));
        assert_eq!(counts.wlan, 0);
    }

    #[test]
    fn truncated_tunnel_headers_never_panic() {
        let mut gre = vec![0xb0, 0, 0x22, 0xeb, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 7];
        gre.extend_from_slice(&[0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x01]);
        gre.extend_from_slice(&ethernet(&ipv4_tcp(b"abc")));
        let capwap = {
            let mut c = vec![0x00, 2 << 3, 1 << 1 | 1, 0, 0, 0, 0, 0];
            c.extend_from_slice(&wlan_header(8, 0x83));
            c
        };
        for packet in [outer_ipv4(47, &gre), outer_ipv4(17, &udp(5247, 5247, &capwap))] {
            let full = ethernet(&packet);
            for cut in 0..full.len() {
                let _ = run(LinkType::ETHERNET, &full[..cut]);
            }
        }
        let mut radio = vec![0, 0, 12, 0, 0x02, 0, 0, 0x80, 0, 0, 0, 0];
        radio.extend_from_slice(&wlan_header(8, 0x83));
        for cut in 0..radio.len() {
            let _ = run(LinkType::IEEE802_11_RADIOTAP, &radio[..cut]);
            let _ = run(LinkType::IEEE802_11, &radio[12..cut.max(12)]);
            let _ = run(LinkType::PPI, &radio[..cut]);
        }
    }
}
