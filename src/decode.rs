//! Frames to TCP segments: link layer, IPv4/IPv6 (with extension headers), TCP.
//!
//! Tolerant of frames cut by a snap length: the segment then says how many payload bytes the
//! wire carried and how many the capture kept, so reassembly can record the hole instead of
//! mistaking it for the end of the data. Everything that is not TCP is counted and dropped.

use crate::capture::{Frame, LinkType};
use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};
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
#[derive(Clone, Copy, Debug)]
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
    /// IP traffic that is not TCP, or TCP in an IP fragment.
    OtherIp,
    /// Not IP at all (ARP, unknown EtherType, a link type this tool does not read).
    NotIp,
    /// A frame too short or malformed to reach a TCP header.
    Malformed,
}

/// Decodes one frame. Never panics, never allocates.
pub fn decode<'a>(frame: &Frame<'a>) -> Decoded<'a> {
    let data = frame.data;
    let sliced = match frame.link_type {
        LinkType::ETHERNET => LaxSlicedPacket::from_ethernet(data).ok(),
        LinkType::RAW | LinkType::RAW_12 | LinkType::RAW_14 | LinkType::IPV4 | LinkType::IPV6 => {
            LaxSlicedPacket::from_ip(data).ok()
        }
        LinkType::NULL | LinkType::LOOP => {
            if data.len() < 4 {
                return Decoded::Malformed;
            }
            // The address family is in the writer's byte order (NULL) or big-endian (LOOP).
            let raw = [data[0], data[1], data[2], data[3]];
            let family = if frame.link_type == LinkType::LOOP {
                u32::from_be_bytes(raw)
            } else if u32::from_le_bytes(raw) < 0x100 {
                u32::from_le_bytes(raw)
            } else {
                u32::from_be_bytes(raw)
            };
            match family {
                2 => Some(LaxSlicedPacket::from_ether_type(EtherType::IPV4, &data[4..])),
                // AF_INET6 differs per BSD: 24 (NetBSD, OpenBSD), 28 (FreeBSD), 30 (macOS).
                24 | 28 | 30 => Some(LaxSlicedPacket::from_ether_type(EtherType::IPV6, &data[4..])),
                _ => return Decoded::NotIp,
            }
        }
        LinkType::LINUX_SLL => {
            if data.len() < 16 {
                return Decoded::Malformed;
            }
            Some(LaxSlicedPacket::from_ether_type(EtherType(u16::from_be_bytes([data[14], data[15]])), &data[16..]))
        }
        LinkType::LINUX_SLL2 => {
            if data.len() < 20 {
                return Decoded::Malformed;
            }
            Some(LaxSlicedPacket::from_ether_type(EtherType(u16::from_be_bytes([data[0], data[1]])), &data[20..]))
        }
        _ => return Decoded::NotIp,
    };
    let Some(packet) = sliced else {
        return Decoded::Malformed;
    };
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
        return Decoded::OtherIp;
    };
    let payload = tcp.payload();
    // With a cut frame the IP header still tells how long the segment was on the wire.
    let wire_len = if ip_payload.incomplete {
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
