//! One side's byte stream: wrap-aware sequence tracking, bounded out-of-order storage, and
//! the delivery of in-order bytes to the analyzer. Holes are reported, never skipped silently.

use super::{Limits, TcpFacts};
use crate::decode::TcpSegment;
use crate::proto::facts::Seen;
use crate::proto::transport::StreamAnalyzer;
use crate::proto::Side;

/// Where a side's in-order bytes go: the stream analyzer (a recorder in the tests).
pub(super) trait ByteSink {
    fn on_data(&mut self, side: Side, data: &[u8], seen: Seen);
    fn on_gap(&mut self, side: Side, frame: u64);
}

impl ByteSink for StreamAnalyzer {
    fn on_data(&mut self, side: Side, data: &[u8], seen: Seen) {
        StreamAnalyzer::on_data(self, side, data, seen)
    }
    fn on_gap(&mut self, side: Side, frame: u64) {
        StreamAnalyzer::on_gap(self, side, frame)
    }
}

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
    /// The frame that carried it: where its bytes are when a hole before them is skipped.
    seen: Seen,
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
    pub(super) fn on_payload<S: ByteSink>(
        &mut self,
        side: Side,
        seq: u32,
        seg: &TcpSegment<'_>,
        seen: Seen,
        limits: &Limits,
        tcp: &mut TcpFacts,
        tls: &mut S,
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
            self.pending.push(Pending { seq, data: seg.payload.to_vec(), wire_len: seg.wire_len, seen });
            if full {
                // Waited long enough: the bytes before the earliest held segment are not in
                // the capture.
                self.skip_to_earliest(tcp, tls, side);
                self.drain(side, None, tcp, tls);
            }
            return;
        }
        self.deliver(side, seq, seg.payload, seg.wire_len, seen, tcp, tls);
        self.drain(side, Some(seen), tcp, tls);
    }

    /// The peer acknowledged up to `ack`: bytes before it that the capture lacks were received,
    /// so they will not come later (a retransmission is for bytes not acknowledged). The holes
    /// before `ack` are recorded and the held segments after them read on, at once: a handshake
    /// whose outcome lies after a hole (a capture that dropped a segment, the continuation
    /// segments `--handshakes-only` leaves in the kernel) is judged when it ends, not when the
    /// connection closes.
    pub(super) fn on_peer_ack<S: ByteSink>(&mut self, side: Side, ack: u32, tcp: &mut TcpFacts, tls: &mut S) {
        while self.has_pending() && self.next.is_some_and(|next| seq_diff(ack, next) > 0) {
            self.skip_to_earliest(tcp, tls, side);
            self.drain(side, None, tcp, tls);
        }
    }

    /// The connection is over: the bytes still awaited are missing, and every segment held
    /// after them is read, hole by hole.
    pub(super) fn skip_all_holes<S: ByteSink>(&mut self, side: Side, tcp: &mut TcpFacts, tls: &mut S) {
        while self.has_pending() {
            self.skip_to_earliest(tcp, tls, side);
            self.drain(side, None, tcp, tls);
        }
    }

    /// Records a hole from `next` up to the earliest byte held, at the frame that holds that
    /// byte (where Wireshark says the previous segment was not captured).
    fn skip_to_earliest<S: ByteSink>(&mut self, tcp: &mut TcpFacts, tls: &mut S, side: Side) {
        let (Some(next), Some(first)) = (self.next, self.pending.first()) else {
            return;
        };
        let earliest = self.pending.iter().fold(first, |a, p| if seq_diff(p.seq, a.seq) < 0 { p } else { a });
        let (seq, frame) = (earliest.seq, earliest.seen.frame);
        if seq_diff(seq, next) > 0 {
            tcp.gaps += 1;
            tcp.first_gap_frame.get_or_insert(frame);
            tls.on_gap(side, frame);
            self.next = Some(seq);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn deliver<S: ByteSink>(
        &mut self,
        side: Side,
        seq: u32,
        payload: &[u8],
        wire_len: u32,
        seen: Seen,
        tcp: &mut TcpFacts,
        tls: &mut S,
    ) {
        let Some(next) = self.next else { return };
        let behind = seq_diff(next, seq);
        if behind < 0 {
            // Exactly half the sequence space away (found by fuzzing): neither before nor
            // after the stream, so no byte of it can be placed.
            tcp.out_of_order += 1;
            return;
        }
        let skip = behind as u32;
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

    /// Delivers held segments that the stream has now reached. When `filled_by` a segment
    /// that closed the hole before them, their bytes are complete only from its frame on (as
    /// Wireshark shows a reassembled record in the frame that completed it); after a hole that
    /// was skipped, each is where it was captured.
    fn drain<S: ByteSink>(&mut self, side: Side, filled_by: Option<Seen>, tcp: &mut TcpFacts, tls: &mut S) {
        while let Some(next) = self.next {
            let Some(i) = self.pending.iter().position(|p| seq_diff(p.seq, next) <= 0) else {
                break;
            };
            let p = self.pending.swap_remove(i);
            self.pending_bytes -= p.data.len();
            let seen = match filled_by {
                Some(f) if f.frame > p.seen.frame => f,
                _ => p.seen,
            };
            self.deliver(side, p.seq, &p.data, p.wire_len, seen, tcp, tls);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::TcpFlags;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    #[test]
    fn sequence_distance_wraps() {
        assert_eq!(seq_diff(5, u32::MAX - 4), 10);
        assert_eq!(seq_diff(u32::MAX - 4, 5), -10);
    }

    /// The bytes and holes a stream delivered.
    #[derive(Default)]
    struct Recorder {
        bytes: Vec<u8>,
        gaps: usize,
        /// What came in order: the bytes of each delivery with its frame, and holes (empty, with
        /// the frame after them).
        events: Vec<(u64, Vec<u8>)>,
    }

    impl ByteSink for Recorder {
        fn on_data(&mut self, _side: Side, data: &[u8], seen: Seen) {
            self.bytes.extend_from_slice(data);
            self.events.push((seen.frame, data.to_vec()));
        }
        fn on_gap(&mut self, _side: Side, frame: u64) {
            self.gaps += 1;
            self.events.push((frame, Vec::new()));
        }
    }

    /// Feeds `pieces` (start, end) of `data` in the given order to a stream whose SYN had
    /// sequence number `isn`.
    fn reassemble(data: &[u8], pieces: &[(usize, usize)], isn: u32, limits: &Limits) -> (Recorder, TcpFacts) {
        let mut stream = Stream::default();
        stream.on_syn(isn);
        let (mut sink, mut tcp) = (Recorder::default(), TcpFacts::default());
        for (i, &(start, end)) in pieces.iter().enumerate() {
            let seg = TcpSegment {
                src: Ipv4Addr::LOCALHOST.into(),
                dst: Ipv4Addr::LOCALHOST.into(),
                sport: 1,
                dport: 2,
                seq: isn.wrapping_add(1).wrapping_add(start as u32),
                ack: 0,
                flags: TcpFlags::default(),
                payload: &data[start..end],
                wire_len: (end - start) as u32,
            };
            let seq = seg.seq;
            stream.on_payload(0, seq, &seg, Seen { frame: i as u64 + 1, ts: 0 }, limits, &mut tcp, &mut sink);
        }
        (sink, tcp)
    }

    /// A byte string, its cut into consecutive pieces, extra pieces that overlap anywhere
    /// (retransmissions with other boundaries), the order they arrive in, and the ISN.
    fn segmentations() -> impl Strategy<Value = (Vec<u8>, Vec<(usize, usize)>, u32)> {
        (prop::collection::vec(any::<u8>(), 1..2000), prop::collection::vec(1usize..300, 1..40), any::<u32>())
            .prop_flat_map(|(data, sizes, isn)| {
                let n = data.len();
                let mut cuts = Vec::new();
                let mut at = 0;
                for size in sizes.iter().cycle() {
                    if at >= n {
                        break;
                    }
                    cuts.push((at, (at + size).min(n)));
                    at += size;
                }
                let extra =
                    prop::collection::vec((0..n, 1usize..400).prop_map(move |(s, l)| (s, (s + l).min(n))), 0..10);
                (Just(data), Just(cuts), extra, Just(isn))
            })
            .prop_flat_map(|(data, mut pieces, extra, isn)| {
                pieces.extend(extra);
                (Just(data), Just(pieces).prop_shuffle(), Just(isn))
            })
    }

    proptest! {
        /// Whatever the segmentation, order, duplication and overlap (and wherever the sequence
        /// numbers wrap), the stream delivers exactly the original bytes, without a hole.
        #[test]
        fn reassembly_gives_the_same_bytes_whatever_the_segmentation((data, pieces, isn) in segmentations()) {
            let limits = Limits { max_out_of_order_segments: 1000, max_out_of_order_bytes: 1 << 20, ..Limits::default() };
            let (sink, tcp) = reassemble(&data, &pieces, isn, &limits);
            prop_assert_eq!(sink.gaps, 0);
            prop_assert_eq!(tcp.gaps, 0);
            prop_assert_eq!(sink.bytes, data);
        }

        /// With the reordering limits reached, what is delivered is still the original bytes
        /// in order, with each hole reported.
        #[test]
        fn bytes_around_holes_stay_in_place((data, pieces, isn) in segmentations()) {
            let limits = Limits { max_out_of_order_segments: 3, max_out_of_order_bytes: 512, ..Limits::default() };
            let (sink, tcp) = reassemble(&data, &pieces, isn, &limits);
            prop_assert_eq!(sink.gaps as u32, tcp.gaps);
            if sink.gaps == 0 {
                prop_assert_eq!(sink.bytes, data);
            } else {
                prop_assert!(sink.bytes.len() < data.len());
            }
        }
    }

    #[test]
    fn regression_fuzz_segment_half_the_sequence_space_away() {
        // Found by the pcap fuzz target: a segment exactly 2^31 from the next expected byte
        // is neither before nor after the stream.
        let mut stream = Stream::default();
        stream.on_syn(100);
        let (mut sink, mut tcp) = (Recorder::default(), TcpFacts::default());
        let segment = |seq: u32, payload: &'static [u8]| TcpSegment {
            src: Ipv4Addr::LOCALHOST.into(),
            dst: Ipv4Addr::LOCALHOST.into(),
            sport: 1,
            dport: 2,
            seq,
            ack: 0,
            flags: TcpFlags::default(),
            payload,
            wire_len: payload.len() as u32,
        };
        let limits = Limits::default();
        stream.on_payload(0, 101, &segment(101, b"abc"), Seen { frame: 1, ts: 0 }, &limits, &mut tcp, &mut sink);
        let far = 104u32.wrapping_add(1 << 31);
        stream.on_payload(0, far, &segment(far, b"zzz"), Seen { frame: 2, ts: 0 }, &limits, &mut tcp, &mut sink);
        stream.on_payload(0, 104, &segment(104, b"def"), Seen { frame: 3, ts: 0 }, &limits, &mut tcp, &mut sink);
        assert_eq!(sink.bytes, b"abcdef");
        assert_eq!(tcp.out_of_order, 1);
    }

    fn segment(seq: u32, payload: &[u8]) -> TcpSegment<'_> {
        TcpSegment {
            src: Ipv4Addr::LOCALHOST.into(),
            dst: Ipv4Addr::LOCALHOST.into(),
            sport: 1,
            dport: 2,
            seq,
            ack: 0,
            flags: TcpFlags::default(),
            payload,
            wire_len: payload.len() as u32,
        }
    }

    /// A stream (ISN 100) that got "abc" in frame 1, then "xyz" (frame 3) and "!" (frame 4)
    /// after a hole of 6 bytes: held, waiting.
    fn stream_with_a_hole() -> (Stream, Recorder, TcpFacts) {
        let mut stream = Stream::default();
        stream.on_syn(100);
        let (mut sink, mut tcp, limits) = (Recorder::default(), TcpFacts::default(), Limits::default());
        for (frame, seq, data) in [(1, 101, &b"abc"[..]), (3, 110, b"xyz"), (4, 113, b"!")] {
            let seen = Seen { frame, ts: 0 };
            stream.on_payload(0, seq, &segment(seq, data), seen, &limits, &mut tcp, &mut sink);
        }
        assert_eq!(sink.events, [(1, b"abc".to_vec())]);
        (stream, sink, tcp)
    }

    #[test]
    fn a_hole_the_peer_acknowledged_is_skipped_at_once_and_what_follows_keeps_its_frames() {
        let (mut stream, mut sink, mut tcp) = stream_with_a_hole();
        // An acknowledgement of what was delivered changes nothing.
        stream.on_peer_ack(0, 104, &mut tcp, &mut sink);
        assert_eq!(sink.events.len(), 1);
        // One past the hole's first byte: the peer received bytes the capture lacks.
        stream.on_peer_ack(0, 105, &mut tcp, &mut sink);
        assert_eq!(sink.events, [(1, b"abc".to_vec()), (3, vec![]), (3, b"xyz".to_vec()), (4, b"!".to_vec())]);
        assert_eq!((tcp.gaps, tcp.first_gap_frame), (1, Some(3)));
        assert!(!stream.has_pending());
    }

    #[test]
    fn at_the_end_every_hole_is_skipped_and_the_held_bytes_read() {
        let (mut stream, mut sink, mut tcp) = stream_with_a_hole();
        // A second hole: "." at 120 in frame 5.
        let seen = Seen { frame: 5, ts: 0 };
        stream.on_payload(0, 120, &segment(120, b"."), seen, &Limits::default(), &mut tcp, &mut sink);
        stream.skip_all_holes(0, &mut tcp, &mut sink);
        assert_eq!(
            sink.events,
            [
                (1, b"abc".to_vec()),
                (3, vec![]),
                (3, b"xyz".to_vec()),
                (4, b"!".to_vec()),
                (5, vec![]),
                (5, b".".to_vec())
            ]
        );
        assert_eq!(tcp.gaps, 2);
    }

    #[test]
    fn a_late_segment_that_fills_the_hole_completes_what_was_held_in_its_own_frame() {
        let (mut stream, mut sink, mut tcp) = stream_with_a_hole();
        let seen = Seen { frame: 6, ts: 0 };
        stream.on_payload(0, 104, &segment(104, b"defghi"), seen, &Limits::default(), &mut tcp, &mut sink);
        assert_eq!(sink.events[1..], [(6, b"defghi".to_vec()), (6, b"xyz".to_vec()), (6, b"!".to_vec())]);
        assert_eq!(tcp.gaps, 0);
    }
}
