//! Which packet events repeat a packet already delivered: pktmon logs a packet once per
//! network component it passes (same PktGroupId and PktNumber), netsh once per layer of an
//! adapter (same bytes, another LowerIfIndex, microseconds later).
//!
//! Both are asked once per packet event, so both are small fixed tables: no allocation, no
//! hashing of a large map per packet.

/// pktmon packets remembered: at least this many of the latest (PktGroupId, PktNumber) keys.
const SETS: usize = 16_384;
const WAYS: usize = 4;

/// The pktmon packets seen lately. PktGroupId is a counter (one per packet, its copies at
/// other components share it), so consecutive packets fall in consecutive sets of a
/// set-associative table and the table remembers the last `SETS * WAYS` packets, as a FIFO
/// of that size would, with one cache line touched per packet. Keys that collide in a set
/// (ids that are not a counter) push out only the oldest of that set's four.
pub(crate) struct SeenGroups {
    /// (group, number + 1) per way; number 0 marks an empty way.
    keys: Vec<[(u64, u32); WAYS]>,
    /// The way each set replaces next.
    next: Vec<u8>,
}

impl SeenGroups {
    pub(crate) fn new() -> Self {
        SeenGroups { keys: vec![[(0, 0); WAYS]; SETS], next: vec![0; SETS] }
    }

    /// Records the packet; true when it was seen already (a copy).
    pub(crate) fn seen(&mut self, group: u64, number: u16) -> bool {
        // The number spreads the fragments of one group (PktNumber 1, 2, ...) over sets too.
        let set = (group.wrapping_add((number as u64).wrapping_mul(0x9e37_79b9)) as usize) % SETS;
        let key = (group, number as u32 + 1);
        if self.keys[set].contains(&key) {
            return true;
        }
        let way = self.next[set] as usize;
        self.keys[set][way] = key;
        self.next[set] = ((way + 1) % WAYS) as u8;
        false
    }
}

/// NDIS packets remembered to recognise the same packet logged at another layer, and how
/// close in time such a copy is (copies are microseconds apart; a retransmission is at least
/// 200 ms later).
const NDIS_RECENT: usize = 64;
const NDIS_COPY_WINDOW_NS: i64 = 50_000_000;

/// An NDIS packet delivered lately, to recognise its copies at other layers.
#[derive(Clone, Copy, Default)]
struct RecentNdis {
    miniport: u32,
    send: bool,
    len: usize,
    digest: u64,
    ts: i64,
    /// Layers (LowerIfIndex) it was seen at; a fixed array keeps a packet allocation-free.
    lowers: [u32; 4],
    seen_at: u8,
}

/// NDIS packets lately delivered, and whether any adapter logs at more than one layer (only
/// then can a packet have copies, and only then is the list searched).
pub(crate) struct NdisCopies {
    /// A ring of the latest `NDIS_RECENT` packets; `next` is where the next one goes.
    recent: [RecentNdis; NDIS_RECENT],
    next: usize,
    /// The first LowerIfIndex of each MiniportIfIndex seen (a trace has few adapters; at most
    /// 64 are followed), and whether an adapter showed a second layer.
    first_layer: Vec<(u32, u32)>,
    layered: bool,
    /// The adapter and layer of the last packet: most packets follow one of the same.
    last_adapter: Option<(u32, u32)>,
}

/// Bytes of a packet the digest reads: its headers (Ethernet, IP, TCP with its sequence and
/// acknowledgement numbers and checksum). Copies are byte-identical; two different packets of
/// one length with the same headers at two layers of one adapter within 50 ms do not occur
/// (IPv4 identification and TCP sequence numbers move on; a resend comes 200 ms later at
/// least). Reading no further spares touching the rest of every packet.
const DIGESTED: usize = 64;

/// A digest of a packet's length and first `DIGESTED` bytes, 8 bytes at a time in two
/// independent lanes (a single chain of multiplications would wait on each one).
fn digest(data: &[u8]) -> u64 {
    const K: u64 = 0xf135_7aea_2e62_a9c5;
    let mix = |h: u64, w: u64| (h ^ w).wrapping_mul(K).rotate_left(26);
    let mut head = [0u8; DIGESTED];
    let n = data.len().min(DIGESTED);
    head[..n].copy_from_slice(&data[..n]);
    let word = |k: usize| u64::from_le_bytes(head[8 * k..8 * k + 8].try_into().unwrap_or_default());
    let (mut a, mut b) = (data.len() as u64, 1);
    for k in (0..DIGESTED / 8).step_by(2) {
        a = mix(a, word(k));
        b = mix(b, word(k + 1));
    }
    mix(a, b)
}

impl NdisCopies {
    pub(crate) fn new() -> Self {
        NdisCopies {
            recent: [RecentNdis::default(); NDIS_RECENT],
            next: 0,
            first_layer: Vec::new(),
            layered: false,
            last_adapter: None,
        }
    }

    /// An NDIS packet complete at `ts` (nanoseconds): true when it repeats, at another
    /// layer of the same adapter, a packet delivered just before.
    pub(crate) fn is_copy(&mut self, (miniport, lower, send): (u32, u32, bool), data: &[u8], ts: i64) -> bool {
        if !self.layered && self.last_adapter != Some((miniport, lower)) {
            self.last_adapter = Some((miniport, lower));
            match self.first_layer.iter().find(|(m, _)| *m == miniport) {
                Some(&(_, first)) => self.layered = first != lower,
                // Beyond 64 adapters every packet is searched.
                None if self.first_layer.len() == 64 => self.layered = true,
                None => self.first_layer.push((miniport, lower)),
            }
        }
        let d = digest(data);
        if self.layered {
            // Newest first; empty entries (len 0, ts 0) end the search by their time.
            for k in 1..=NDIS_RECENT {
                let r = &mut self.recent[(self.next + NDIS_RECENT - k) % NDIS_RECENT];
                if r.seen_at == 0 || ts.saturating_sub(r.ts) > NDIS_COPY_WINDOW_NS {
                    break;
                }
                if r.miniport == miniport && r.send == send && r.len == data.len() && r.digest == d {
                    let seen = &r.lowers[..r.seen_at as usize];
                    if seen.contains(&lower) {
                        // Seen at this layer already: a new packet with the same bytes.
                        break;
                    }
                    if (r.seen_at as usize) < r.lowers.len() {
                        r.lowers[r.seen_at as usize] = lower;
                        r.seen_at += 1;
                    }
                    return true;
                }
            }
        }
        self.recent[self.next] =
            RecentNdis { miniport, send, len: data.len(), digest: d, ts, lowers: [lower, 0, 0, 0], seen_at: 1 };
        self.next = (self.next + 1) % NDIS_RECENT;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pktmon_packet_is_new_once_then_a_copy() {
        let mut seen = SeenGroups::new();
        assert!(!seen.seen(0x105a26, 1));
        assert!(seen.seen(0x105a26, 1));
        assert!(!seen.seen(0x105a26, 2), "another PktNumber of the group is another packet");
        assert!(!seen.seen(0x105a27, 1));
        assert!(seen.seen(0x105a26, 2));
    }

    #[test]
    fn the_last_sixty_five_thousand_counted_packets_are_remembered() {
        let mut seen = SeenGroups::new();
        let first = 0x1000_0000u64;
        let n = (SETS * WAYS) as u64;
        for g in first..first + n {
            assert!(!seen.seen(g, 1));
        }
        // All still known; one more pushes out the oldest only.
        assert!((first..first + n).all(|g| seen.seen(g, 1)));
        assert!(!seen.seen(first + n, 1));
        assert!(!seen.seen(first, 1));
        assert!(seen.seen(first + 1, 1));
    }

    #[test]
    fn an_ndis_packet_at_a_second_layer_is_a_copy_and_a_resend_is_not() {
        let mut copies = NdisCopies::new();
        let packet: Vec<u8> = (0..200u8).collect();
        assert!(!copies.is_copy((7, 10, false), &packet, 1_000));
        assert!(copies.is_copy((7, 11, false), &packet, 2_000));
        // The same bytes at the first layer again: a new packet.
        assert!(!copies.is_copy((7, 10, false), &packet, 3_000));
        // The same bytes at another layer, but long after: a new packet too.
        assert!(!copies.is_copy((7, 11, false), &packet, 3_000 + NDIS_COPY_WINDOW_NS + 1));
        // One bit changed in the headers: another packet.
        let mut other = packet.clone();
        other[50] ^= 1;
        assert!(!copies.is_copy((7, 12, false), &other, 4_000 + NDIS_COPY_WINDOW_NS));
    }
}
