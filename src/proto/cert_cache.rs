//! Certificates parsed once per distinct DER. A busy server sends the same chain on every
//! connection; parsing it (x509-parser, names, extensions, display strings) was about half of
//! the work on a handshake-dense capture. The facts are shared (`Arc`) by every connection that
//! sent the same DER. One memo per thread (each worker of a many-file run has its own), so no
//! lock is taken.

use super::facts::Certificate;
use super::memo::Memo;
use super::x509::certificate_facts;
use std::cell::RefCell;
use std::sync::Arc;

/// Distinct certificates kept per thread.
const MAX_ENTRIES: usize = 4096;
/// DER bytes kept per thread (a typical certificate is 1 to 2 KB).
const MAX_DER_BYTES: usize = 4 << 20;
/// Larger DERs are parsed every time.
const MAX_CACHED_DER: usize = 16 * 1024;

thread_local! {
    static CACHE: RefCell<Memo<Arc<Certificate>>> = RefCell::new(Memo::new(MAX_ENTRIES, MAX_DER_BYTES, MAX_CACHED_DER));
}

/// The facts of one DER certificate, from this thread's memo.
pub fn certificate(der: &[u8]) -> Arc<Certificate> {
    CACHE.with(|cache| cache.borrow_mut().get_or_compute(der, || Arc::new(certificate_facts(der))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_der_is_shared_and_equals_a_fresh_parse() {
        // Broken DER (a parse error is facts too); real certificates: tests/cert_cache.rs.
        let der = [0x30, 0x82, 0xff, 0x01, 7, 7, 7];
        let a = certificate(&der);
        let b = certificate(&der);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(format!("{b:?}"), format!("{:?}", certificate_facts(&der)));
        assert!(b.parse_error.is_some());
        assert!(!Arc::ptr_eq(&a, &certificate(&[0x30, 0x82, 0xff, 0x02, 7, 7, 7])));
    }
}
