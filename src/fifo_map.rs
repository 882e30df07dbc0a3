//! A map that forgets its oldest keys beyond a bound: what the cross-connection indexes of one
//! input (sessions issued, DNS answers) keep, so that memory stays bounded on any capture.

use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::hash::Hash;

pub struct FifoMap<K, V> {
    map: FxHashMap<K, V>,
    /// Keys in order of first insertion; the front is forgotten first.
    order: VecDeque<K>,
    bound: usize,
}

impl<K: Clone + Eq + Hash, V> FifoMap<K, V> {
    pub fn new(bound: usize) -> Self {
        FifoMap { map: FxHashMap::default(), order: VecDeque::new(), bound }
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Sets the value of `key`.
    pub fn insert(&mut self, key: K, value: V) {
        self.admit(&key);
        self.map.insert(key, value);
    }

    /// The value of `key`, made with `new` when the key is not there yet.
    pub fn get_or_insert_with(&mut self, key: K, new: impl FnOnce() -> V) -> &mut V {
        self.admit(&key);
        self.map.entry(key).or_insert_with(new)
    }

    /// Makes room for a key about to be set: a new key beyond the bound makes the oldest one
    /// forgotten; a key already there keeps its place.
    fn admit(&mut self, key: &K) {
        if self.map.contains_key(key) {
            return;
        }
        self.order.push_back(key.clone());
        if self.order.len() > self.bound {
            if let Some(oldest) = self.order.pop_front() {
                self.map.remove(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FifoMap;

    #[test]
    fn the_oldest_key_goes_first_and_updates_do_not_renew_it() {
        let mut m = FifoMap::new(2);
        *m.get_or_insert_with("a", || 0) += 1;
        m.get_or_insert_with("b", || 0);
        m.insert("a", 5);
        m.get_or_insert_with("c", || 0);
        assert_eq!((m.get(&"a"), m.get(&"b"), m.get(&"c")), (None, Some(&0), Some(&0)));
        assert_eq!(m.len(), 2);
    }
}
