//! A bounded memo for pure functions of bytes: the certificate facts of a DER, the fingerprints
//! of a ClientHello's values. A busy server's capture repeats the same certificate chain and the
//! same few client stacks thousands of times; computing each answer once per distinct input
//! removes most of the per-connection work there. The answer is a pure function of the key, so
//! output does not depend on what the memo holds.
//!
//! Bounded by entries and by key bytes held, forgetting the oldest first. The key bytes are
//! kept beside the answer and compared on a hash match, so a hash collision can never hand out
//! another input's answer.

use rustc_hash::{FxHashMap, FxHasher};
use std::collections::VecDeque;
use std::hash::Hasher;

struct Entry<V> {
    key: Box<[u8]>,
    value: V,
}

pub struct Memo<V> {
    map: FxHashMap<u64, Entry<V>>,
    /// Hashes in order of insertion: the front is forgotten first.
    order: VecDeque<u64>,
    key_bytes: usize,
    max_entries: usize,
    max_key_bytes: usize,
    /// Keys longer than this are computed every time rather than crowd out the usual ones.
    max_key_len: usize,
    /// Lookups answered from the memo, and answers computed.
    pub hits: u64,
    pub misses: u64,
}

fn hash(key: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(key);
    h.write_usize(key.len());
    h.finish()
}

impl<V: Clone> Memo<V> {
    pub fn new(max_entries: usize, max_key_bytes: usize, max_key_len: usize) -> Self {
        Memo {
            map: FxHashMap::default(),
            order: VecDeque::new(),
            key_bytes: 0,
            max_entries,
            max_key_bytes,
            max_key_len: max_key_len.min(max_key_bytes),
            hits: 0,
            misses: 0,
        }
    }

    /// The answer for `key`, computed by `compute` at most once while it stays in the memo.
    pub fn get_or_compute(&mut self, key: &[u8], compute: impl FnOnce() -> V) -> V {
        let h = hash(key);
        if let Some(entry) = self.map.get(&h) {
            if *entry.key == *key {
                self.hits += 1;
                return entry.value.clone();
            }
            // A collision: answer from the key itself and leave the kept one in place.
            self.misses += 1;
            return compute();
        }
        self.misses += 1;
        let value = compute();
        if key.len() <= self.max_key_len && self.max_entries > 0 {
            while self.map.len() >= self.max_entries || self.key_bytes + key.len() > self.max_key_bytes {
                let Some(oldest) = self.order.pop_front() else { break };
                if let Some(gone) = self.map.remove(&oldest) {
                    self.key_bytes -= gone.key.len();
                }
            }
            self.key_bytes += key.len();
            self.order.push_back(h);
            self.map.insert(h, Entry { key: key.into(), value: value.clone() });
        }
        value
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Key bytes held.
    pub fn key_bytes(&self) -> usize {
        self.key_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A memo of the byte sum, counting the computations.
    fn sum(memo: &mut Memo<u64>, key: &[u8], computed: &mut u32) -> u64 {
        memo.get_or_compute(key, || {
            *computed += 1;
            key.iter().map(|&b| u64::from(b)).sum()
        })
    }

    #[test]
    fn the_same_key_is_computed_once() {
        let mut memo = Memo::new(16, 1 << 20, 1024);
        let mut computed = 0;
        assert_eq!(sum(&mut memo, &[1, 2, 3], &mut computed), 6);
        assert_eq!(sum(&mut memo, &[1, 2, 3], &mut computed), 6);
        assert_eq!(sum(&mut memo, &[3, 2, 1, 0], &mut computed), 6);
        assert_eq!((computed, memo.hits, memo.misses, memo.len()), (2, 1, 2, 2));
    }

    #[test]
    fn bounds_by_entries_and_bytes_forget_the_oldest() {
        let mut memo = Memo::new(2, 1000, 1000);
        let mut computed = 0;
        for n in 0..3u8 {
            sum(&mut memo, &[n; 100], &mut computed);
        }
        assert_eq!(memo.len(), 2);
        sum(&mut memo, &[0; 100], &mut computed);
        assert_eq!(computed, 4, "the oldest was forgotten and computed again");
        sum(&mut memo, &[2; 100], &mut computed);
        assert_eq!(memo.hits, 1, "the newest stayed");

        let mut memo = Memo::new(100, 250, 1000);
        for n in 0..3u8 {
            sum(&mut memo, &[n; 100], &mut computed);
        }
        assert_eq!((memo.len(), memo.key_bytes()), (2, 200));
        // Longer than the whole budget: computed, never kept.
        sum(&mut memo, &[9; 300], &mut computed);
        assert_eq!((memo.len(), memo.key_bytes()), (2, 200));
    }
}
