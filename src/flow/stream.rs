//! One side's byte stream: wrap-aware sequence tracking, bounded out-of-order storage, and
//! the delivery of in-order bytes to the analyzer. Holes are reported, never skipped silently.

use super::{Limits, TcpFacts};
use crate::decode::TcpSegment;
use crate::proto::facts::Seen;
use crate::proto::tls::TlsAnalyzer;
use crate::proto::Side;

/// Farther than the first data segment can be from the SYN (1 MiB: initial windows are 64 KiB
/// at most); two random ISNs are this close only once in 2000 pairs.
const RESYNC_DISTANCE: u32 = 1 << 20;

/// Wrap-aware distance from `b` to `a` (positive when `a` is after `b`).
fn seq_diff(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

struct Pending {
    seq: u32,
    data: Vec<u8>,
    wire_len: u32,
}

#[derive(Default)]
pub(super) struct Stream {
    /// Sequence number of the next byte to deliver.
    next: Option<u32>,
    pending: Vec<Pending>,
    pending_bytes: usize,
    pub(super) sent_syn_ack: bool,
    delivered_any: bool,
}

impl Stream {
    pub(super) fn on_syn(&mut self, seq: u32) {
        // A retransmitted SYN may carry a new ISN only before any data flowed.
        if !self.delivered_any {
            self.next = Some(seq.wrapping_add(1));
        }
    }

    pub(super) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_payload(
        &mut self,
        side: Side,
        seq: u32,
        seg: &TcpSegment<'_>,
        seen: Seen,
        limits: &Limits,
        tcp: &mut TcpFacts,
        tls: &mut TlsAnalyzer,
    ) {
        let next = match self.next {
            // The first data far from where the SYN put it: the capture holds SYNs of several
            // sequence spaces (retried SYN-ACKs with new ISNs, a middlebox rewriting them). The
            // data decides which one is real.
            Some(n) if !self.delivered_any && seq_diff(seq, n).unsigned_abs() > RESYNC_DISTANCE => {
                self.next = Some(seq);
                seq
            }
            Some(n) => n,
            None => {
                tcp.midstream = true;
                self.next = Some(seq);
                seq
            }
        };
        if seq_diff(seq, next) > 0 {
            tcp.out_of_order += 1;
            let full = self.pending.len() >= limits.max_out_of_order_segments
                || self.pending_bytes + seg.payload.len() > limits.max_out_of_order_bytes;
            self.pending_bytes += seg.payload.len();
            self.pending.push(Pending { seq, data: seg.payload.to_vec(), wire_len: seg.wire_len });
            if full {
                // Waited long enough: the bytes before the earliest held segment are not in
                // the capture.
                self.skip_to_earliest(seen, tcp, tls, side);
                self.drain(side, seen, tcp, tls);
            }
            return;
        }
        self.deliver(side, seq, seg.payload, seg.wire_len, seen, tcp, tls);
        self.drain(side, seen, tcp, tls);
    }

    /// Records a hole from `next` up to the earliest byte held.
    fn skip_to_earliest(&mut self, seen: Seen, tcp: &mut TcpFacts, tls: &mut TlsAnalyzer, side: Side) {
        let (Some(next), Some(first)) = (self.next, self.pending.first()) else {
            return;
        };
        let earliest =
            self.pending.iter().map(|p| p.seq).fold(first.seq, |a, s| if seq_diff(s, a) < 0 { s } else { a });
        if seq_diff(earliest, next) > 0 {
            tcp.gaps += 1;
            tcp.first_gap_frame.get_or_insert(seen.frame);
            tls.on_gap(side, seen.frame);
            self.next = Some(earliest);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &mut self,
        side: Side,
        seq: u32,
        payload: &[u8],
        wire_len: u32,
        seen: Seen,
        tcp: &mut TcpFacts,
        tls: &mut TlsAnalyzer,
    ) {
        let Some(next) = self.next else { return };
        let behind = seq_diff(next, seq);
        debug_assert!(behind >= 0);
        let skip = behind.max(0) as u32;
        if skip >= wire_len {
            tcp.retransmissions += 1;
            return;
        }
        if skip > 0 {
            tcp.overlaps += 1;
        }
        if (skip as usize) < payload.len() {
            tls.on_data(side, &payload[skip as usize..], seen);
            self.delivered_any = true;
        }
        self.next = Some(seq.wrapping_add(wire_len));
        if (payload.len() as u32) < wire_len {
            tcp.truncated_segments += 1;
            tls.on_gap(side, seen.frame);
        }
    }

    /// Delivers held segments that the stream has now reached.
    fn drain(&mut self, side: Side, seen: Seen, tcp: &mut TcpFacts, tls: &mut TlsAnalyzer) {
        while let Some(next) = self.next {
            let Some(i) = self.pending.iter().position(|p| seq_diff(p.seq, next) <= 0) else {
                break;
            };
            let p = self.pending.swap_remove(i);
            self.pending_bytes -= p.data.len();
            self.deliver(side, p.seq, &p.data, p.wire_len, seen, tcp, tls);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::seq_diff;

    #[test]
    fn sequence_distance_wraps() {
        assert_eq!(seq_diff(5, u32::MAX - 4), 10);
        assert_eq!(seq_diff(u32::MAX - 4, 5), -10);
    }
}
