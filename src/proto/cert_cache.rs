//! Certificates parsed once per distinct DER. A busy server sends the same chain on every
//! connection; parsing it (x509-parser, names, extensions, display strings) was about half of
//! the work on a handshake-dense capture. The facts are a pure function of the DER bytes, so a
//! cached copy is the same answer: output does not depend on what the cache holds.
//!
//! Bounded by entries and by DER bytes held, forgetting the oldest first; a DER is kept beside
//! its facts and compared on a hash match, so a hash collision can never hand out another
//! certificate's facts. One cache per thread (each worker of a many-file run has its own), so
//! no lock is taken.

use super::facts::Certificate;
use super::x509::certificate_facts;
use rustc_hash::{FxHashMap, FxHasher};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::hash::Hasher;
use std::sync::Arc;

/// Distinct certificates kept per thread.
const MAX_ENTRIES: usize = 4096;
/// DER bytes kept per thread (a typical certificate is 1 to 2 KB).
const MAX_DER_BYTES: usize = 4 << 20;
/// Larger DERs are parsed every time rather than crowd out the usual ones.
const MAX_CACHED_DER: usize = 16 * 1024;

struct Entry {
    der: Box<[u8]>,
    facts: Arc<Certificate>,
}

/// The cache itself; [`certificate`] uses one per thread.
pub struct CertCache {
    map: FxHashMap<u64, Entry>,
    /// Hashes in order of insertion: the front is forgotten first.
    order: VecDeque<u64>,
    der_bytes: usize,
    max_entries: usize,
    max_der_bytes: usize,
    /// Lookups answered from the cache and parses done, for tests and profiles.
    pub hits: u64,
    pub misses: u64,
}

impl Default for CertCache {
    fn default() -> Self {
        CertCache::with_bounds(MAX_ENTRIES, MAX_DER_BYTES)
    }
}

fn hash(der: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(der);
    h.write_usize(der.len());
    h.finish()
}

impl CertCache {
    pub fn with_bounds(max_entries: usize, max_der_bytes: usize) -> Self {
        CertCache {
            map: FxHashMap::default(),
            order: VecDeque::new(),
            der_bytes: 0,
            max_entries,
            max_der_bytes,
            hits: 0,
            misses: 0,
        }
    }

    /// The facts of one DER certificate, parsed at most once while it stays in the cache.
    pub fn get(&mut self, der: &[u8]) -> Arc<Certificate> {
        let key = hash(der);
        if let Some(entry) = self.map.get(&key) {
            if *entry.der == *der {
                self.hits += 1;
                return Arc::clone(&entry.facts);
            }
            // A collision: answer from the DER itself and leave the cached one in place.
            self.misses += 1;
            return Arc::new(certificate_facts(der));
        }
        self.misses += 1;
        let facts = Arc::new(certificate_facts(der));
        if der.len() <= MAX_CACHED_DER.min(self.max_der_bytes) && self.max_entries > 0 {
            while self.map.len() >= self.max_entries || self.der_bytes + der.len() > self.max_der_bytes {
                let Some(oldest) = self.order.pop_front() else { break };
                if let Some(gone) = self.map.remove(&oldest) {
                    self.der_bytes -= gone.der.len();
                }
            }
            self.der_bytes += der.len();
            self.order.push_back(key);
            self.map.insert(key, Entry { der: der.into(), facts: Arc::clone(&facts) });
        }
        facts
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// DER bytes held.
    pub fn der_bytes(&self) -> usize {
        self.der_bytes
    }
}

thread_local! {
    static CACHE: RefCell<CertCache> = RefCell::new(CertCache::default());
}

/// The facts of one DER certificate, from this thread's cache.
pub fn certificate(der: &[u8]) -> Arc<Certificate> {
    CACHE.with(|cache| cache.borrow_mut().get(der))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Not a certificate, but distinct DERs give distinct parse errors and that is all the
    /// cache looks at; real certificates are checked against tshark in tests/golden.rs.
    fn der(n: u8, len: usize) -> Vec<u8> {
        let mut d = vec![0x30, 0x82, 0xff, n];
        d.resize(len, n);
        d
    }

    #[test]
    fn the_same_der_is_parsed_once_and_shared() {
        let mut cache = CertCache::default();
        let a = cache.get(&der(1, 100));
        let b = cache.get(&der(1, 100));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!((cache.hits, cache.misses), (1, 1));
        let c = cache.get(&der(2, 100));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!((cache.hits, cache.misses, cache.len()), (1, 2, 2));
    }

    #[test]
    fn cached_facts_equal_a_fresh_parse() {
        let mut cache = CertCache::default();
        let d = der(3, 64);
        cache.get(&d);
        let cached = cache.get(&d);
        let fresh = certificate_facts(&d);
        assert_eq!(format!("{cached:?}"), format!("{fresh:?}"));
        assert!(cached.parse_error.is_some());
    }

    #[test]
    fn bounds_by_entries_and_bytes_forget_the_oldest() {
        let mut cache = CertCache::with_bounds(2, 1000);
        for n in 0..3 {
            cache.get(&der(n, 100));
        }
        assert_eq!(cache.len(), 2);
        cache.get(&der(0, 100));
        assert_eq!(cache.misses, 4, "the oldest was forgotten and parsed again");
        cache.get(&der(2, 100));
        assert_eq!(cache.hits, 1, "the newest stayed");

        let mut cache = CertCache::with_bounds(100, 250);
        for n in 0..3 {
            cache.get(&der(n, 100));
        }
        assert_eq!((cache.len(), cache.der_bytes()), (2, 200));
        // Larger than the whole budget: parsed, never kept.
        cache.get(&der(9, 300));
        assert_eq!((cache.len(), cache.der_bytes()), (2, 200));
    }
}
