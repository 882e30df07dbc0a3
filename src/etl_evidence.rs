//! What a Windows ETL trace tells beyond its packets: the packets a Windows component
//! dropped (pktmon event 170), remembered per connection until it settles and handed to its
//! facts (`classify` words them).

use crate::capture::{Frame, HostDrop};
use crate::decode::{decode, Decoded};
use crate::facts::{Facts, WindowsTrace};
use crate::fifo_map::FifoMap;
use std::net::SocketAddr;

/// Connections with drops remembered until they settle.
const DROPS_REMEMBERED: usize = 4096;
/// Drops listed per connection.
const DROPS_PER_CONNECTION: usize = 8;

/// Frame number and drop reason of each drop, by connection (endpoints in either order).
type DropsByConnection = FifoMap<(String, String), Vec<(u64, u32)>>;

/// Drops seen so far.
#[derive(Default)]
pub struct EtlEvidence {
    drops: Option<DropsByConnection>,
}

fn key(a: String, b: String) -> (String, String) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

impl EtlEvidence {
    /// A packet a Windows component dropped: remembered for its TCP connection.
    pub fn note_drop(&mut self, drop: &HostDrop) {
        let frame = Frame {
            ts: drop.ts,
            link_type: drop.link_type,
            caplen: drop.data.len() as u32,
            orig_len: drop.orig_len,
            index: drop.frame,
            data: &drop.data,
        };
        let Decoded::Tcp(seg) = decode(&frame) else {
            return;
        };
        let k = key(SocketAddr::new(seg.src, seg.sport).to_string(), SocketAddr::new(seg.dst, seg.dport).to_string());
        let drops = self.drops.get_or_insert_with(|| FifoMap::new(DROPS_REMEMBERED));
        let list = drops.get_or_insert_with(k, Vec::new);
        if list.len() < DROPS_PER_CONNECTION {
            list.push((drop.frame, drop.reason));
        }
    }

    /// What the trace adds to a connection's facts: the drops of its packets.
    pub fn trace_of(&self, facts: &Facts) -> WindowsTrace {
        let drops = self.drops.as_ref().and_then(|d| d.get(&key(facts.client.clone(), facts.server.clone())));
        WindowsTrace { drops: drops.cloned().unwrap_or_default() }
    }
}
