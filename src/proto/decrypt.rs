//! Opening TLS records with the secrets of a key log: the TLS 1.3 traffic keys (RFC 8446
//! section 7.3), the TLS 1.2 key block (RFC 5246 section 6.3) of AEAD suites, and the record
//! nonces and additional data of each (RFC 8446 5.2-5.3, RFC 5288, RFC 7905).
//!
//! The cryptography is RustCrypto's; this module only arranges the inputs. What a record holds
//! is the caller's business: the analyzer reads handshake messages and alerts and drops the
//! bytes of application data unread.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use chacha20poly1305::ChaCha20Poly1305;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384};
use tls_parser::{TlsCipherEnc, TlsCipherEncMode, TlsCipherSuite, TlsPRF};

/// The AEAD tag length of every supported cipher.
const TAG_LEN: usize = 16;
/// TLS 1.2 AES-GCM carries the last 8 bytes of the nonce in each record (RFC 5288).
const EXPLICIT_NONCE_LEN: usize = 8;

enum Cipher {
    Aes128Gcm(Box<Aes128Gcm>),
    Aes256Gcm(Box<Aes256Gcm>),
    ChaCha20Poly1305(Box<ChaCha20Poly1305>),
}

impl Cipher {
    fn new(kind: CipherKind, key: &[u8]) -> Option<Cipher> {
        Some(match kind {
            CipherKind::Aes128Gcm => Cipher::Aes128Gcm(Box::new(Aes128Gcm::new_from_slice(key).ok()?)),
            CipherKind::Aes256Gcm => Cipher::Aes256Gcm(Box::new(Aes256Gcm::new_from_slice(key).ok()?)),
            CipherKind::ChaCha20Poly1305 => {
                Cipher::ChaCha20Poly1305(Box::new(ChaCha20Poly1305::new_from_slice(key).ok()?))
            }
        })
    }

    fn open(&self, nonce: &[u8; 12], msg: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        let payload = Payload { msg, aad };
        match self {
            Cipher::Aes128Gcm(c) => c.decrypt(nonce.into(), payload).ok(),
            Cipher::Aes256Gcm(c) => c.decrypt(nonce.into(), payload).ok(),
            Cipher::ChaCha20Poly1305(c) => c.decrypt(nonce.into(), payload).ok(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CipherKind {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20Poly1305,
}

impl CipherKind {
    fn key_len(self) -> usize {
        match self {
            CipherKind::Aes128Gcm => 16,
            CipherKind::Aes256Gcm | CipherKind::ChaCha20Poly1305 => 32,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
}

/// The AEAD and hash of a suite this module can open, or `None`.
fn suite_parts(suite: u16) -> Option<(CipherKind, Hash)> {
    let s = TlsCipherSuite::from_id(suite)?;
    let hash = match s.prf {
        TlsPRF::Sha384 => Hash::Sha384,
        TlsPRF::Default | TlsPRF::Sha256 => Hash::Sha256,
        _ => return None,
    };
    let cipher = match (s.enc, s.enc_mode, s.enc_size) {
        (TlsCipherEnc::Aes, TlsCipherEncMode::Gcm, 128) => CipherKind::Aes128Gcm,
        (TlsCipherEnc::Aes, TlsCipherEncMode::Gcm, 256) => CipherKind::Aes256Gcm,
        (TlsCipherEnc::Chacha20_Poly1305, _, _) => CipherKind::ChaCha20Poly1305,
        _ => return None,
    };
    Some((cipher, hash))
}

/// True when records of this suite can be opened (AES-GCM and ChaCha20-Poly1305 suites).
pub fn supported(suite: u16) -> bool {
    suite_parts(suite).is_some()
}

/// HKDF-Expand-Label (RFC 8446 section 7.1) with an empty context.
fn expand_label(hash: Hash, secret: &[u8], label: &str, len: usize) -> Option<Vec<u8>> {
    let full = format!("tls13 {label}");
    let mut info = Vec::with_capacity(4 + full.len());
    info.extend_from_slice(&(len as u16).to_be_bytes());
    info.push(full.len() as u8);
    info.extend_from_slice(full.as_bytes());
    info.push(0);
    let mut out = vec![0; len];
    match hash {
        Hash::Sha256 => Hkdf::<Sha256>::from_prk(secret).ok()?.expand(&info, &mut out).ok()?,
        Hash::Sha384 => Hkdf::<Sha384>::from_prk(secret).ok()?.expand(&info, &mut out).ok()?,
    }
    Some(out)
}

/// The TLS 1.2 PRF (RFC 5246 section 5): P_hash over label and seed.
fn prf(hash: Hash, secret: &[u8], label: &[u8], seed: &[u8], len: usize) -> Option<Vec<u8>> {
    fn p_hash<M: Mac + KeyInit + Clone>(secret: &[u8], seed: &[u8], len: usize) -> Option<Vec<u8>> {
        let key = <M as KeyInit>::new_from_slice(secret).ok()?;
        let mut out = Vec::with_capacity(len);
        let mut a = {
            let mut m = key.clone();
            m.update(seed);
            m.finalize().into_bytes().to_vec()
        };
        while out.len() < len {
            let mut m = key.clone();
            m.update(&a);
            m.update(seed);
            out.extend_from_slice(&m.finalize().into_bytes());
            let mut next = key.clone();
            next.update(&a);
            a = next.finalize().into_bytes().to_vec();
        }
        out.truncate(len);
        Some(out)
    }
    let full_seed = [label, seed].concat();
    match hash {
        Hash::Sha256 => p_hash::<Hmac<Sha256>>(secret, &full_seed, len),
        Hash::Sha384 => p_hash::<Hmac<Sha384>>(secret, &full_seed, len),
    }
}

/// A record's content type and its plaintext.
pub struct Opened {
    pub content_type: u8,
    pub plaintext: Vec<u8>,
}

/// The read state of one direction: keys, IV and the record sequence number.
pub struct RecordKeys {
    cipher: Cipher,
    /// TLS 1.3 and ChaCha20: the per-connection IV XORed with the sequence number. TLS 1.2
    /// AES-GCM: the 4-byte salt in front of each record's explicit nonce.
    iv: [u8; 12],
    version: Version,
    seq: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Version {
    Tls13,
    /// TLS 1.2 AES-GCM (explicit nonce).
    Tls12Gcm,
    /// TLS 1.2 ChaCha20-Poly1305 (RFC 7905: nonce as in TLS 1.3).
    Tls12ChaCha,
}

impl RecordKeys {
    /// Keys of a TLS 1.3 traffic secret (handshake or application) for this suite.
    pub fn tls13(suite: u16, secret: &[u8]) -> Option<RecordKeys> {
        let (kind, hash) = suite_parts(suite)?;
        let key = expand_label(hash, secret, "key", kind.key_len())?;
        let iv = expand_label(hash, secret, "iv", 12)?;
        Some(RecordKeys { cipher: Cipher::new(kind, &key)?, iv: iv.try_into().ok()?, version: Version::Tls13, seq: 0 })
    }

    /// Keys of the given side's writes in TLS 1.2, from the master secret and both randoms.
    pub fn tls12(
        suite: u16,
        master_secret: &[u8],
        client_random: &[u8],
        server_random: &[u8],
        writer_is_client: bool,
    ) -> Option<RecordKeys> {
        let (kind, hash) = suite_parts(suite)?;
        let (version, iv_len) = match kind {
            CipherKind::ChaCha20Poly1305 => (Version::Tls12ChaCha, 12),
            _ => (Version::Tls12Gcm, 4),
        };
        let key_len = kind.key_len();
        // AEAD suites have no MAC keys: client key, server key, client IV, server IV.
        let seed = [server_random, client_random].concat();
        let block = prf(hash, master_secret, b"key expansion", &seed, 2 * key_len + 2 * iv_len)?;
        let (key, iv) = if writer_is_client {
            (&block[..key_len], &block[2 * key_len..2 * key_len + iv_len])
        } else {
            (&block[key_len..2 * key_len], &block[2 * key_len + iv_len..2 * key_len + 2 * iv_len])
        };
        let mut fixed = [0u8; 12];
        fixed[..iv_len].copy_from_slice(iv);
        Some(RecordKeys { cipher: Cipher::new(kind, key)?, iv: fixed, version, seq: 0 })
    }

    fn sequence_nonce(&self) -> [u8; 12] {
        let mut nonce = self.iv;
        for (n, s) in nonce[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *n ^= s;
        }
        nonce
    }

    /// Opens the next record of this direction (`header` is its 5-byte record header). The
    /// sequence number advances only when the record opens, so a record that is not under
    /// these keys leaves the state as it was.
    pub fn open(&mut self, header: [u8; 5], body: &[u8]) -> Option<Opened> {
        let opened = match self.version {
            Version::Tls13 => {
                let mut inner = self.cipher.open(&self.sequence_nonce(), body, &header)?;
                // TLSInnerPlaintext: content, the real type, then zero padding.
                let end = inner.iter().rposition(|&b| b != 0)?;
                let content_type = inner[end];
                inner.truncate(end);
                Opened { content_type, plaintext: inner }
            }
            Version::Tls12Gcm | Version::Tls12ChaCha => {
                let (nonce, ciphertext) = if self.version == Version::Tls12Gcm {
                    if body.len() < EXPLICIT_NONCE_LEN + TAG_LEN {
                        return None;
                    }
                    let mut nonce = self.iv;
                    nonce[4..].copy_from_slice(&body[..EXPLICIT_NONCE_LEN]);
                    (nonce, &body[EXPLICIT_NONCE_LEN..])
                } else {
                    (self.sequence_nonce(), body)
                };
                let plain_len = ciphertext.len().checked_sub(TAG_LEN)? as u16;
                let mut aad = [0u8; 13];
                aad[..8].copy_from_slice(&self.seq.to_be_bytes());
                aad[8..11].copy_from_slice(&header[..3]);
                aad[11..].copy_from_slice(&plain_len.to_be_bytes());
                let plaintext = self.cipher.open(&nonce, ciphertext, &aad)?;
                Opened { content_type: header[0], plaintext }
            }
        };
        self.seq += 1;
        Some(opened)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn tls13_traffic_keys_match_rfc8448() {
        // RFC 8448 section 3 (simple 1-RTT handshake): the server handshake traffic secret
        // and the key and IV derived from it.
        let secret =
            hex("b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38");
        assert_eq!(
            expand_label(Hash::Sha256, &secret, "key", 16).unwrap(),
            hex("3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc")
        );
        assert_eq!(expand_label(Hash::Sha256, &secret, "iv", 12).unwrap(), hex("5d 31 3e b2 67 12 76 ee 13 00 0b 30"));
    }

    #[test]
    fn tls13_record_strips_padding_and_reveals_its_inner_type() {
        // Sealed here with the RFC 8448 key and IV for sequence number 0: an alert (type 21)
        // followed by five bytes of zero padding, as TLSInnerPlaintext allows.
        let secret =
            hex("b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38");
        let key = expand_label(Hash::Sha256, &secret, "key", 16).unwrap();
        let iv: [u8; 12] = expand_label(Hash::Sha256, &secret, "iv", 12).unwrap().try_into().unwrap();
        let inner = [2, 42, 21, 0, 0, 0, 0, 0];
        let header = [23, 3, 3, 0, (inner.len() + TAG_LEN) as u8];
        let sealed = Aes128Gcm::new_from_slice(&key)
            .unwrap()
            .encrypt((&iv).into(), Payload { msg: &inner, aad: &header })
            .unwrap();
        let mut keys = RecordKeys::tls13(0x1301, &secret).unwrap();
        let opened = keys.open(header, &sealed).expect("opens");
        assert_eq!((opened.content_type, opened.plaintext), (21, vec![2, 42]));
        // The same record again is out of sequence and does not open.
        assert!(keys.open(header, &sealed).is_none());
    }

    #[test]
    fn tls12_prf_matches_a_known_vector() {
        // The TLS 1.2 PRF-SHA256 vector circulated on the IETF TLS list, checked against Python's hmac.
        let secret = hex("9b be 43 6b a9 40 f0 17 b1 76 52 84 9a 71 db 35");
        let seed = hex("a0 ba 9f 93 6c da 31 18 27 a6 f7 96 ff d5 19 8c");
        let out = prf(Hash::Sha256, &secret, b"test label", &seed, 100).unwrap();
        assert_eq!(&out[..16], &hex("e3 f2 29 ba 72 7b e1 7b 8d 12 26 20 55 7c d4 53")[..]);
    }
}
