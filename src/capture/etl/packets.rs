//! Which ETW events are packets, and what they say: `netsh trace` (Microsoft-Windows-NDIS-
//! PacketCapture, event 1001) and `pktmon` (Microsoft-Windows-PktMon, events 160 and 170).
//!
//! Meaning apart from grammar: `wmi` finds the events, this module reads their user data by
//! the providers' manifests.

use super::super::LinkType;
use super::wmi::EventHeader;

/// {2ED6006E-4729-4609-B423-3EE7BCD678EF} as stored (GUID fields little-endian).
pub(crate) const NDIS_PROVIDER: [u8; 16] =
    [0x6e, 0x00, 0xd6, 0x2e, 0x29, 0x47, 0x09, 0x46, 0xb4, 0x23, 0x3e, 0xe7, 0xbc, 0xd6, 0x78, 0xef];
/// {4D4F80D9-C8BD-4D73-BB5B-19C90402C5AC} as stored.
pub(crate) const PKTMON_PROVIDER: [u8; 16] =
    [0xd9, 0x80, 0x4f, 0x4d, 0xbd, 0xc8, 0x73, 0x4d, 0xbb, 0x5b, 0x19, 0xc9, 0x04, 0x02, 0xc5, 0xac];

/// Provider names, for the file summary.
pub(crate) const NDIS_NAME: &str = "Microsoft-Windows-NDIS-PacketCapture";
pub(crate) const PKTMON_NAME: &str = "Microsoft-Windows-PktMon";

pub(crate) const NDIS_PACKET_FRAGMENT: u16 = 1001;
/// A packet as the Hyper-V virtual switch saw it (netsh on a Hyper-V host).
pub(crate) const NDIS_VMSWITCH_FRAGMENT: u16 = 1003;
pub(crate) const PKTMON_PACKET: u16 = 160;
pub(crate) const PKTMON_DROP: u16 = 170;

// NDIS-PacketCapture keywords.
const KW_MEDIA_WIRELESS_WAN: u64 = 0x200;
const KW_MEDIA_NATIVE_802_11: u64 = 0x1_0000;
pub(crate) const KW_PACKET_START: u64 = 0x4000_0000;
pub(crate) const KW_PACKET_END: u64 = 0x8000_0000;
pub(crate) const KW_SEND: u64 = 0x1_0000_0000;

/// Link type for pktmon payloads that start above IP (its HTTP, TCP, ... payload types):
/// numbered as frames, decoded as not IP.
const UNDECODED: LinkType = LinkType(u32::MAX);

/// Fixed fields before a pktmon payload.
const PKTMON_FIXED: usize = 34;
/// Fixed fields before an NDIS fragment.
const NDIS_FIXED: usize = 12;

/// A packet event's user data, read.
#[derive(Clone, Copy, Debug)]
pub(crate) enum PacketEvent<'a> {
    /// `pktmon`: one appearance of a packet at one network component.
    PktMon {
        group: u64,
        number: u16,
        /// Drop reason and location of an event 170.
        drop: Option<(u32, u32)>,
        link_type: LinkType,
        orig_len: u32,
        data: &'a [u8],
    },
    /// `netsh trace`: one fragment of a packet at one layer of one adapter.
    Ndis { miniport: u32, lower: u32, start: bool, end: bool, send: bool, link_type: LinkType, data: &'a [u8] },
    /// `netsh trace` on a Hyper-V host: a packet through the virtual switch (event 1003).
    /// Its fields before the packet (port and NIC names, a list of destinations) have no
    /// published layout, so the packet is not read; `end` says whether the event ends one
    /// (`etl2pcapng` writes a frame for it then).
    VmSwitch { end: bool },
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// True for the events this module reads, from their header alone.
#[inline]
pub(crate) fn is_packet_event(provider: &[u8], id: u16) -> bool {
    // Compared as one 128-bit number: asked of every event of a trace.
    let provider = u128::from_le_bytes(provider.try_into().unwrap_or_default());
    (provider == u128::from_le_bytes(PKTMON_PROVIDER) && (id == PKTMON_PACKET || id == PKTMON_DROP))
        || (provider == u128::from_le_bytes(NDIS_PROVIDER)
            && (id == NDIS_PACKET_FRAGMENT || id == NDIS_VMSWITCH_FRAGMENT))
}

/// Reads a packet event; `Err` when its user data does not hold what its fields say.
#[inline]
pub(crate) fn packet_event<'a>(ev: &EventHeader<'a>) -> Result<PacketEvent<'a>, String> {
    let d = ev.data;
    if ev.provider == PKTMON_PROVIDER {
        if d.len() < PKTMON_FIXED {
            return Err(format!("pktmon event {} of {} bytes, shorter than its fields", ev.id, d.len()));
        }
        let logged = u16_at(d, 32) as usize;
        let data = d
            .get(PKTMON_FIXED..PKTMON_FIXED + logged)
            .ok_or_else(|| format!("pktmon payload of {logged} bytes does not fit its event"))?;
        let link_type = match u16_at(d, 14) {
            1 => LinkType::ETHERNET,
            2 => LinkType::IEEE802_11,
            3 => LinkType::RAW,
            _ => UNDECODED,
        };
        return Ok(PacketEvent::PktMon {
            group: u64::from_le_bytes(d[0..8].try_into().unwrap_or_default()),
            number: u16_at(d, 8),
            drop: (ev.id == PKTMON_DROP).then(|| (u32_at(d, 22), u32_at(d, 26))),
            link_type,
            orig_len: (u16_at(d, 30) as u32).max(logged as u32),
            data,
        });
    }
    if ev.id == NDIS_VMSWITCH_FRAGMENT {
        return Ok(PacketEvent::VmSwitch { end: ev.keyword & KW_PACKET_END != 0 });
    }
    if d.len() < NDIS_FIXED {
        return Err(format!("NDIS packet event of {} bytes, shorter than its fields", d.len()));
    }
    let size = u32_at(d, 8) as usize;
    let data = d
        .get(NDIS_FIXED..NDIS_FIXED.saturating_add(size))
        .ok_or_else(|| format!("NDIS fragment of {size} bytes does not fit its event"))?;
    let link_type = if ev.keyword & KW_MEDIA_NATIVE_802_11 != 0 {
        LinkType::IEEE802_11
    } else if ev.keyword & KW_MEDIA_WIRELESS_WAN != 0 {
        LinkType::RAW
    } else {
        LinkType::ETHERNET
    };
    Ok(PacketEvent::Ndis {
        miniport: u32_at(d, 0),
        lower: u32_at(d, 4),
        start: ev.keyword & KW_PACKET_START != 0,
        end: ev.keyword & KW_PACKET_END != 0,
        send: ev.keyword & KW_SEND != 0,
        link_type,
        data,
    })
}

/// Length on the wire of an NDIS packet, which the event does not carry: taken from the IP
/// header when the fragment was cut, as `etl2pcapng` does.
pub(crate) fn inferred_orig_len(link_type: LinkType, data: &[u8]) -> u32 {
    let ip_at = match link_type {
        LinkType::ETHERNET if data.len() >= 14 => match u16::from_be_bytes([data[12], data[13]]) {
            0x0800 | 0x86dd => 14,
            _ => return data.len() as u32,
        },
        LinkType::RAW => 0,
        _ => return data.len() as u32,
    };
    let ip = &data[ip_at.min(data.len())..];
    let from_ip = match ip.first().map(|b| b >> 4) {
        Some(4) if ip.len() >= 20 => u16::from_be_bytes([ip[2], ip[3]]) as usize,
        Some(6) if ip.len() >= 40 => u16::from_be_bytes([ip[4], ip[5]]) as usize + 40,
        _ => 0,
    };
    (ip_at + from_ip).max(data.len()) as u32
}
