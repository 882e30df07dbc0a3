//! What a Windows ETL trace tells beyond its packets, applied to the connection records:
//! packets a Windows component dropped (pktmon event 170) become evidence on their
//! connection, and packets cut by pktmon's default 128-byte limit are said to be so.
//!
//! Records only gain evidence and words here; verdict codes stay classify's.

use crate::capture::{Frame, HostDrop};
use crate::classify::Evidence;
use crate::decode::{decode, Decoded};
use crate::fifo_map::FifoMap;
use crate::record::Connection;
use crate::verdict::Code;
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

    /// Adds the drops of a connection to its verdict.
    pub fn annotate(&self, conn: &mut Connection) {
        let Some(drops) = &self.drops else {
            return;
        };
        let Some(list) = drops.get(&key(conn.client.clone(), conn.server.clone())) else {
            return;
        };
        let frames: Vec<String> = list.iter().map(|(f, r)| format!("frame {f} (drop reason {r})")).collect();
        for &(frame, reason) in list {
            conn.verdict.evidence.push(Evidence {
                frame,
                what: format!("dropped by a Windows component (pktmon drop reason {reason})"),
            });
        }
        let note = format!(
            "a Windows component on the traced host dropped {}: those packets went no further than that host",
            frames.join(", ")
        );
        conn.verdict.explanation =
            if conn.verdict.explanation.is_empty() { note } else { format!("{}; {note}", conn.verdict.explanation) };
        let hint = "Look at the traced host's firewall and filter drivers first (`pktmon drop` counters, \
                    `pktmon comp list`), before the network.";
        conn.verdict.hint =
            if conn.verdict.hint.is_empty() { hint.into() } else { format!("{hint} {}", conn.verdict.hint) };
    }
}

/// A Windows trace whose packets were cut short: `pktmon` logs only the first 128 bytes of
/// each packet unless told otherwise, which cuts every ClientHello. Said so, with the option
/// that avoids it, rather than guessed at.
pub fn explain_cut_packets(conn: &mut Connection) {
    if conn.verdict.code != Code::IncompleteCapture || conn.tcp.truncated_segments == 0 {
        return;
    }
    conn.verdict.explanation = format!(
        "the trace holds only the first bytes of {} packets of this connection, so the handshake cannot be read \
         (pktmon logs 128 bytes of each packet unless started with --pkt-size 0)",
        conn.tcp.truncated_segments
    );
    conn.verdict.hint = "Capture again with whole packets: `pktmon start --capture --pkt-size 0` \
                         (or `netsh trace start capture=yes` without packettruncatebytes)."
        .into();
}
