//! TLS client and server fingerprints from the hello messages' raw values: JA3 and JA3S
//! (MD5 of the decimal field lists, GREASE values left out, as tshark's `tls.handshake.ja3`)
//! and JA4 for the client (the openly licensed JA4 of FoxIO's specification: protocol,
//! version, SNI, counts and ALPN, then truncated SHA-256 of the sorted suites and of the
//! sorted extensions with the signature algorithms). A group of failures that shares one
//! client fingerprint comes from one TLS stack.

use super::memo::Memo;
use super::values::CipherSuite;
use crate::names::is_grease;
use crate::text::push_decimal;
use md5::{Digest as _, Md5};
use sha2::Sha256;

/// What a ClientHello's fingerprints are computed from, GREASE values included (they are
/// left out here).
#[derive(Default)]
pub struct HelloValues<'a> {
    /// The legacy version field.
    pub legacy_version: u16,
    /// The highest supported_versions entry, when the extension is there.
    pub max_supported_version: Option<u16>,
    pub cipher_suites: &'a [CipherSuite],
    /// Extension types in the order sent.
    pub extensions: Vec<u16>,
    pub groups: Vec<u16>,
    pub point_formats: Vec<u8>,
    pub signature_algorithms: Vec<u16>,
    pub sni: bool,
    pub first_alpn: Option<&'a [u8]>,
}

// Hex and decimal digits are pushed by hand: through `fmt` the fingerprints of one hello
// cost more than its parsing (a hundred thousand instructions).
const HEX: &[u8; 16] = b"0123456789abcdef";

fn decimal_list(values: impl Iterator<Item = u32>) -> String {
    let mut out = String::with_capacity(128);
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push('-');
        }
        push_decimal(&mut out, v);
    }
    out
}

fn md5_hex(text: &str) -> String {
    hex_of(&Md5::digest(text.as_bytes()))
}

fn hex_of(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
    out
}

fn not_grease(v: &u16) -> bool {
    !is_grease(*v)
}

/// JA3: MD5 of "version,suites,extensions,groups,point formats" (empty fields stay empty:
/// "768,4-5,,,").
pub fn ja3(h: &HelloValues<'_>) -> String {
    let mut full = String::with_capacity(256);
    push_decimal(&mut full, h.legacy_version.into());
    for list in [
        decimal_list(h.cipher_suites.iter().filter(|v| !v.is_grease()).map(|v| v.0.into())),
        decimal_list(h.extensions.iter().filter(|v| not_grease(v)).map(|&v| v.into())),
        decimal_list(h.groups.iter().filter(|v| not_grease(v)).map(|&v| v.into())),
        decimal_list(h.point_formats.iter().map(|&v| v.into())),
    ] {
        full.push(',');
        full.push_str(&list);
    }
    md5_hex(&full)
}

/// JA3S: MD5 of "version,suite,extensions" of a ServerHello.
pub fn ja3s(legacy_version: u16, cipher_suite: u16, extensions: &[u16]) -> String {
    let mut full = String::with_capacity(64);
    push_decimal(&mut full, legacy_version.into());
    full.push(',');
    push_decimal(&mut full, cipher_suite.into());
    full.push(',');
    full.push_str(&decimal_list(extensions.iter().map(|&v| v.into())));
    md5_hex(&full)
}

/// The first 12 hex digits of SHA-256 of a comma-separated list, or twelve zeros for none.
fn truncated_sha256(text: &str) -> String {
    if text.is_empty() {
        return "000000000000".into();
    }
    hex_of(&Sha256::digest(text.as_bytes()))[..12].to_string()
}

fn hex4_list(values: impl Iterator<Item = u16>) -> String {
    let mut out = String::with_capacity(128);
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        for shift in [12, 8, 4, 0] {
            out.push(HEX[((v >> shift) & 15) as usize] as char);
        }
    }
    out
}

/// JA4 of a ClientHello over TCP.
pub fn ja4(h: &HelloValues<'_>) -> String {
    let version = match h.max_supported_version.unwrap_or(h.legacy_version) {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        _ => "00",
    };
    let suites: Vec<u16> = h.cipher_suites.iter().filter(|v| !v.is_grease()).map(|v| v.0).collect();
    let extensions: Vec<u16> = h.extensions.iter().copied().filter(not_grease).collect();
    let alpn = match h.first_alpn {
        Some([first, .., last]) if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() => {
            format!("{}{}", *first as char, *last as char)
        }
        Some([only]) if only.is_ascii_alphanumeric() => format!("{}{}", *only as char, *only as char),
        // Not alphanumeric: the first and last hex digits of the value.
        Some(value @ [_, ..]) => {
            let hex = hex_of(value);
            format!("{}{}", &hex[..1], &hex[hex.len() - 1..])
        }
        _ => "00".into(),
    };
    let a = format!(
        "t{version}{}{:02}{:02}{alpn}",
        if h.sni { 'd' } else { 'i' },
        suites.len().min(99),
        extensions.len().min(99)
    );
    let mut sorted_suites = suites;
    sorted_suites.sort_unstable();
    // SNI and ALPN are counted above but left out of the hash, so that the same stack
    // fingerprints alike whatever host it connects to.
    let mut sorted_extensions: Vec<u16> = extensions.into_iter().filter(|e| *e != 0x0000 && *e != 0x0010).collect();
    sorted_extensions.sort_unstable();
    let mut c = hex4_list(sorted_extensions.into_iter());
    let algorithms: Vec<u16> = h.signature_algorithms.iter().copied().filter(not_grease).collect();
    if !algorithms.is_empty() {
        c.push('_');
        c.push_str(&hex4_list(algorithms.into_iter()));
    }
    format!("{a}_{}_{}", truncated_sha256(&hex4_list(sorted_suites.into_iter())), truncated_sha256(&c))
}

/// Distinct client stacks whose fingerprints are kept per thread.
const MAX_MEMO_ENTRIES: usize = 4096;
const MAX_MEMO_BYTES: usize = 2 << 20;

/// JA3 and JA4 by the values they are computed from, and the buffer the keys are written in.
type FingerprintMemo = (Memo<(String, String)>, Vec<u8>);

thread_local! {
    static MEMO: std::cell::RefCell<FingerprintMemo> =
        std::cell::RefCell::new((Memo::new(MAX_MEMO_ENTRIES, MAX_MEMO_BYTES, 16 * 1024), Vec::new()));
}

/// Every value JA3 and JA4 are computed from, each list with its length before it, so that
/// two different hellos never write the same key.
fn memo_key(h: &HelloValues<'_>, out: &mut Vec<u8>) {
    fn list16(out: &mut Vec<u8>, values: &[u16]) {
        out.extend_from_slice(&(values.len() as u32).to_le_bytes());
        values.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
    }
    fn bytes(out: &mut Vec<u8>, values: &[u8]) {
        out.extend_from_slice(&(values.len() as u32).to_le_bytes());
        out.extend_from_slice(values);
    }
    out.clear();
    out.extend_from_slice(&h.legacy_version.to_le_bytes());
    match h.max_supported_version {
        Some(v) => out.extend_from_slice(&[1, v as u8, (v >> 8) as u8]),
        None => out.push(0),
    }
    out.extend_from_slice(&(h.cipher_suites.len() as u32).to_le_bytes());
    h.cipher_suites.iter().for_each(|v| out.extend_from_slice(&v.0.to_le_bytes()));
    list16(out, &h.extensions);
    list16(out, &h.groups);
    bytes(out, &h.point_formats);
    list16(out, &h.signature_algorithms);
    out.push(h.sni as u8);
    match h.first_alpn {
        Some(alpn) => {
            out.push(1);
            bytes(out, alpn);
        }
        None => out.push(0),
    }
}

/// JA3 and JA4 of a ClientHello, computed once per distinct set of values on this thread:
/// the clients of a busy server are a few stacks sending the same values again and again.
pub fn client_fingerprints(h: &HelloValues<'_>) -> (String, String) {
    MEMO.with(|memo| {
        let (memo, key) = &mut *memo.borrow_mut();
        memo_key(h, key);
        memo.get_or_compute(key, || (ja3(h), ja4(h)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of the JA4 specification (a Chrome ClientHello): 15 suites and 16
    /// extensions besides GREASE, SNI, ALPN h2, TLS 1.3.
    #[test]
    fn ja4_of_the_specification_example() {
        let suites = [
            0x0a0a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c,
            0x009d, 0x002f, 0x0035,
        ];
        let h = HelloValues {
            legacy_version: 0x0303,
            max_supported_version: Some(0x0304),
            cipher_suites: &suites.map(CipherSuite),
            extensions: vec![
                0x1a1a, 0x0000, 0x0017, 0xff01, 0x000a, 0x000b, 0x0023, 0x0010, 0x0005, 0x000d, 0x0012, 0x0033, 0x002d,
                0x002b, 0x001b, 0x4469, 0x0015,
            ],
            signature_algorithms: vec![0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601],
            sni: true,
            first_alpn: Some(b"h2"),
            ..Default::default()
        };
        assert_eq!(ja4(&h), "t13d1516h2_8daaf6152771_e5627efa2ab1");
    }

    #[test]
    fn memoised_fingerprints_are_the_computed_ones_and_tell_hellos_apart() {
        let suites = [0x1301, 0xc02f];
        let mut h = HelloValues {
            legacy_version: 0x0303,
            max_supported_version: Some(0x0304),
            cipher_suites: &suites.map(CipherSuite),
            extensions: vec![0, 16, 43],
            groups: vec![29],
            sni: true,
            first_alpn: Some(b"h2"),
            ..Default::default()
        };
        for _ in 0..2 {
            assert_eq!(client_fingerprints(&h), (ja3(&h), ja4(&h)));
        }
        // One value moved from one list to the next must not meet the same memo entry.
        h.groups = vec![];
        h.point_formats = vec![29];
        assert_eq!(client_fingerprints(&h), (ja3(&h), ja4(&h)));
        h.first_alpn = Some(b"h3");
        assert_eq!(client_fingerprints(&h), (ja3(&h), ja4(&h)));
        h.sni = false;
        assert_eq!(client_fingerprints(&h), (ja3(&h), ja4(&h)));
    }

    #[test]
    fn ja4_without_sni_alpn_or_suites() {
        let h = HelloValues { legacy_version: 0x0301, ..Default::default() };
        assert_eq!(ja4(&h), "t10i000000_000000000000_000000000000");
    }

    #[test]
    fn ja3_leaves_grease_out() {
        let with = HelloValues {
            legacy_version: 771,
            cipher_suites: &[CipherSuite(0x2a2a), CipherSuite(4865)],
            extensions: vec![0x3a3a, 0],
            groups: vec![0x4a4a, 29],
            point_formats: vec![0],
            ..Default::default()
        };
        // MD5 of "771,4865,0,29,0".
        assert_eq!(ja3(&with), md5_hex("771,4865,0,29,0"));
        assert_eq!(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
        // No extensions: tshark's "768,49172-...-255,,," (flowtest--tls_ssl30.pcap frame 4).
        let bare =
            HelloValues { legacy_version: 768, cipher_suites: &[CipherSuite(4), CipherSuite(5)], ..Default::default() };
        assert_eq!(ja3(&bare), md5_hex("768,4-5,,,"));
    }
}
