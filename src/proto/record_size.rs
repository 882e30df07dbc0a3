//! What the size of an encrypted record can and cannot be, from the protocol's own rules (RFC
//! 5246, 7366, 7905, 8446), not from one implementation's habits: the smallest encrypted
//! Finished of a suite, and the size of an unpadded alert. Without the keys, sizes are the only
//! evidence an encrypted handshake leaves; these bounds say which inferences they allow.
//!
//! A bound is a floor, never an identification: TLS 1.3 records may be padded (RFC 8446 5.4;
//! JSSE adds 16 bytes to every record) and may carry several messages, so a record at least as
//! large as a Finished may still be a padded alert. A record smaller than the floor is never a
//! Finished.

use tls_parser::{TlsCipherEnc, TlsCipherEncMode, TlsCipherMac, TlsCipherSuite, TlsPRF};

/// Handshake header (type and 24-bit length).
const HANDSHAKE_HEADER: usize = 4;
/// TLS 1.2 Finished verify_data (RFC 5246 7.4.9; every TLS 1.x suite uses 12 bytes).
const TLS12_VERIFY_DATA: usize = 12;
/// SSL 3.0 Finished: MD5 and SHA-1 hashes.
const SSL3_VERIFY_DATA: usize = 36;
/// The smallest hash of a TLS 1.3 suite (SHA-256): the floor for suites this tool cannot name.
const TLS13_SMALLEST_HASH: usize = 32;

/// AEAD tag length of a suite: 8 bytes for the CCM_8 suites, 16 for every other AEAD.
fn aead_tag(suite: &TlsCipherSuite) -> usize {
    if suite.name.contains("CCM_8") {
        8
    } else {
        16
    }
}

/// The smallest encrypted TLS 1.3 record that can hold a Finished, as the record header's
/// length field counts it: the hash-sized verify_data, the handshake header, the inner content
/// type byte and the AEAD tag (53 bytes for SHA-256 suites, 69 for SHA-384, 45 for CCM_8).
pub fn tls13_min_finished(suite_id: u16) -> usize {
    let Some(suite) = TlsCipherSuite::from_id(suite_id) else {
        // An unnamed suite: the floor of every suite (SHA-256 hash, 8-byte tag).
        return TLS13_SMALLEST_HASH + HANDSHAKE_HEADER + 1 + 8;
    };
    let hash = match suite.prf {
        TlsPRF::Sha384 => 48,
        TlsPRF::Sha512 => 64,
        _ => TLS13_SMALLEST_HASH,
    };
    hash + HANDSHAKE_HEADER + 1 + aead_tag(suite)
}

/// The size of an unpadded encrypted TLS 1.3 alert: level and description, the inner content
/// type and the AEAD tag (19 bytes, 11 with CCM_8).
pub fn tls13_unpadded_alert(suite_id: u16) -> usize {
    2 + 1 + TlsCipherSuite::from_id(suite_id).map_or(16, aead_tag)
}

/// The smallest encrypted Finished record of a TLS 1.0-1.2 (or SSL 3.0) suite after
/// ChangeCipherSpec, as the record header counts it; `None` for suites whose record protection
/// this table does not know (the caller then draws no conclusion from the size).
///
/// - AEAD (GCM, CCM): 8-byte explicit nonce + 16 + tag (40 bytes for GCM).
/// - ChaCha20-Poly1305 (RFC 7905): no explicit nonce, 16 + 16 = 32.
/// - CBC, MAC-then-encrypt: IV (TLS 1.1 and later) + 16 + MAC + at least one padding byte,
///   rounded up to the block (64 for AES with SHA-1, 80 with SHA-256, 96 with SHA-384).
/// - CBC, encrypt-then-MAC (RFC 7366): IV + (16 + 1 rounded up) + MAC.
/// - Stream and NULL ciphers: 16 + MAC.
pub fn tls12_min_finished(suite_id: u16, version_id: u16, encrypt_then_mac: bool) -> Option<usize> {
    let verify = if version_id == 0x0300 { SSL3_VERIFY_DATA } else { TLS12_VERIFY_DATA };
    tls12_min_record(suite_id, version_id, encrypt_then_mac, HANDSHAKE_HEADER + verify)
}

/// The size of an encrypted TLS 1.0-1.2 alert with the least padding; `None` as above.
pub fn tls12_min_alert(suite_id: u16, version_id: u16, encrypt_then_mac: bool) -> Option<usize> {
    tls12_min_record(suite_id, version_id, encrypt_then_mac, 2)
}

/// The smallest protected record carrying `plain` bytes under a TLS 1.0-1.2 suite.
fn tls12_min_record(suite_id: u16, version_id: u16, encrypt_then_mac: bool, plain: usize) -> Option<usize> {
    let suite = TlsCipherSuite::from_id(suite_id)?;
    let mac = match suite.mac {
        TlsCipherMac::Null | TlsCipherMac::Aead => 0,
        TlsCipherMac::HmacMd5 => 16,
        TlsCipherMac::HmacSha1 => 20,
        TlsCipherMac::HmacSha256 => 32,
        TlsCipherMac::HmacSha384 => 48,
        TlsCipherMac::HmacSha512 => 64,
    };
    let block = match suite.enc {
        TlsCipherEnc::Des | TlsCipherEnc::TripleDes | TlsCipherEnc::Idea | TlsCipherEnc::Rc2 => 8,
        _ => 16,
    };
    Some(match (suite.enc, suite.enc_mode) {
        (TlsCipherEnc::Chacha20_Poly1305, _) => plain + 16,
        (_, TlsCipherEncMode::Gcm | TlsCipherEncMode::Ccm) => 8 + plain + aead_tag(suite),
        (TlsCipherEnc::Null | TlsCipherEnc::Rc4, _) | (_, TlsCipherEncMode::Null) => plain + mac,
        (_, TlsCipherEncMode::Cbc) => {
            // TLS 1.0 and SSL 3.0 chain the IV from the previous record.
            let iv = if version_id >= 0x0302 { block } else { 0 };
            let round_up = |n: usize| n.div_ceil(block) * block;
            if encrypt_then_mac {
                iv + round_up(plain + 1) + mac
            } else {
                iv + round_up(plain + mac + 1)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every suite id tlsdiag can name (tls-parser's IANA table).
    fn named_suites() -> impl Iterator<Item = &'static TlsCipherSuite> {
        (0..=u16::MAX).filter_map(TlsCipherSuite::from_id)
    }

    #[test]
    fn tls13_bounds_match_the_captures() {
        // tshark's tls.record.length of the client Finished: 53 with TLS_AES_128_GCM_SHA256
        // and TLS_CHACHA20_POLY1305_SHA256 (tls13-go-server-ok, tls13-chacha-python), 69 with
        // TLS_AES_256_GCM_SHA384 (tls13-ok-ipv6); 19-byte alerts in tls13-gnutls-cert-unknown-ca.
        assert_eq!(tls13_min_finished(0x1301), 53);
        assert_eq!(tls13_min_finished(0x1303), 53);
        assert_eq!(tls13_min_finished(0x1302), 69);
        assert_eq!(tls13_min_finished(0x1304), 53);
        assert_eq!(tls13_min_finished(0x1305), 45);
        assert_eq!(tls13_unpadded_alert(0x1301), 19);
        assert_eq!(tls13_unpadded_alert(0x1305), 11);
        // Java's padded alert (35 bytes, tls13-java-client-cert-unknown-ca) is no Finished.
        assert!(35 < tls13_min_finished(0x1302) && 35 < tls13_min_finished(0x1301));
    }

    #[test]
    fn tls12_bounds_match_the_captures() {
        // tshark's tls.record.length of the encrypted Finished in the key log fixtures.
        let ecdhe_rsa_aes256_gcm_sha384 = 0xc030;
        assert_eq!(tls12_min_finished(ecdhe_rsa_aes256_gcm_sha384, 0x0303, false), Some(40));
        let ecdhe_rsa_aes256_sha384_cbc = 0xc028; // tls12-cbc-keylog: encrypt-then-MAC
        assert_eq!(tls12_min_finished(ecdhe_rsa_aes256_sha384_cbc, 0x0303, true), Some(96));
        let ecdhe_rsa_aes128_sha = 0xc013; // tls12-cbc-no-etm-keylog
        assert_eq!(tls12_min_finished(ecdhe_rsa_aes128_sha, 0x0303, false), Some(64));
        let ecdhe_rsa_chacha = 0xcca8;
        assert_eq!(tls12_min_finished(ecdhe_rsa_chacha, 0x0303, false), Some(32));
        // The closing alerts of the same captures: 26, 80 and 48 bytes.
        assert_eq!(tls12_min_alert(ecdhe_rsa_aes256_gcm_sha384, 0x0303, false), Some(26));
        assert_eq!(tls12_min_alert(ecdhe_rsa_aes256_sha384_cbc, 0x0303, true), Some(80));
        assert_eq!(tls12_min_alert(ecdhe_rsa_aes128_sha, 0x0303, false), Some(48));
        // TLS 1.0 CBC has no explicit IV: 16 + 20 + 1 rounded up to 48.
        assert_eq!(tls12_min_finished(0x002f, 0x0301, false), Some(48));
        // 3DES: 8-byte blocks and IV.
        assert_eq!(tls12_min_finished(0x000a, 0x0303, false), Some(8 + 40));
        // RC4-SHA: a stream cipher, 16 + 20.
        assert_eq!(tls12_min_finished(0x0005, 0x0303, false), Some(36));
        // SSL 3.0's Finished carries 36 bytes of hashes.
        assert_eq!(tls12_min_finished(0x0005, 0x0300, false), Some(40 + 20));
    }

    #[test]
    fn every_named_suite_has_a_finished_floor_above_its_smallest_alert() {
        let mut tls12 = 0;
        for suite in named_suites() {
            let id = suite.id.0;
            let min13 = tls13_min_finished(id);
            assert!((45..=85).contains(&min13), "{}: {min13}", suite.name);
            assert!(min13 > tls13_unpadded_alert(id), "{}", suite.name);
            for version in [0x0300, 0x0301, 0x0302, 0x0303] {
                for etm in [false, true] {
                    let Some(finished) = tls12_min_finished(id, version, etm) else { continue };
                    let alert = tls12_min_alert(id, version, etm).expect("same table");
                    assert!(finished >= 16, "{}: {finished}", suite.name);
                    assert!(finished >= alert, "{} {version:x} etm={etm}: {finished} < {alert}", suite.name);
                    tls12 += 1;
                }
            }
        }
        // Every named suite has a TLS 1.2 floor (the table covers every cipher kind).
        assert_eq!(tls12, named_suites().count() * 8);
    }
}
