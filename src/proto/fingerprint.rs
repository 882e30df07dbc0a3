//! TLS client and server fingerprints from the hello messages' raw values: JA3 and JA3S
//! (MD5 of the decimal field lists, GREASE values left out, as tshark's `tls.handshake.ja3`)
//! and JA4 for the client (the openly licensed JA4 of FoxIO's specification: protocol,
//! version, SNI, counts and ALPN, then truncated SHA-256 of the sorted suites and of the
//! sorted extensions with the signature algorithms). A group of failures that shares one
//! client fingerprint comes from one TLS stack.

use crate::names::is_grease;
use md5::{Digest as _, Md5};
use sha2::Sha256;
use std::fmt::Write;

/// What a ClientHello's fingerprints are computed from, GREASE values included (they are
/// left out here).
#[derive(Default)]
pub struct HelloValues<'a> {
    /// The legacy version field.
    pub legacy_version: u16,
    /// The highest supported_versions entry, when the extension is there.
    pub max_supported_version: Option<u16>,
    pub cipher_suites: &'a [u16],
    /// Extension types in the order sent.
    pub extensions: Vec<u16>,
    pub groups: Vec<u16>,
    pub point_formats: Vec<u8>,
    pub signature_algorithms: Vec<u16>,
    pub sni: bool,
    pub first_alpn: Option<&'a [u8]>,
}

fn decimal_list<T: std::fmt::Display>(values: impl Iterator<Item = T>) -> String {
    let mut out = String::new();
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push('-');
        }
        let _ = write!(out, "{v}");
    }
    out
}

fn md5_hex(text: &str) -> String {
    hex_of(&Md5::digest(text.as_bytes()))
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn not_grease(v: &u16) -> bool {
    !is_grease(*v)
}

/// JA3: MD5 of "version,suites,extensions,groups,point formats" (empty fields stay empty:
/// "768,4-5,,,").
pub fn ja3(h: &HelloValues<'_>) -> String {
    let full = format!(
        "{},{},{},{},{}",
        h.legacy_version,
        decimal_list(h.cipher_suites.iter().filter(|v| not_grease(v))),
        decimal_list(h.extensions.iter().filter(|v| not_grease(v))),
        decimal_list(h.groups.iter().filter(|v| not_grease(v))),
        decimal_list(h.point_formats.iter()),
    );
    md5_hex(&full)
}

/// JA3S: MD5 of "version,suite,extensions" of a ServerHello.
pub fn ja3s(legacy_version: u16, cipher_suite: u16, extensions: &[u16]) -> String {
    md5_hex(&format!("{legacy_version},{cipher_suite},{}", decimal_list(extensions.iter())))
}

/// The first 12 hex digits of SHA-256 of a comma-separated list, or twelve zeros for none.
fn truncated_sha256(text: &str) -> String {
    if text.is_empty() {
        return "000000000000".into();
    }
    hex_of(&Sha256::digest(text.as_bytes()))[..12].to_string()
}

fn hex4_list(values: impl Iterator<Item = u16>) -> String {
    let mut out = String::new();
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{v:04x}");
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
    let suites: Vec<u16> = h.cipher_suites.iter().copied().filter(not_grease).collect();
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
            cipher_suites: &suites,
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
    fn ja4_without_sni_alpn_or_suites() {
        let h = HelloValues { legacy_version: 0x0301, ..Default::default() };
        assert_eq!(ja4(&h), "t10i000000_000000000000_000000000000");
    }

    #[test]
    fn ja3_leaves_grease_out() {
        let with = HelloValues {
            legacy_version: 771,
            cipher_suites: &[0x2a2a, 4865],
            extensions: vec![0x3a3a, 0],
            groups: vec![0x4a4a, 29],
            point_formats: vec![0],
            ..Default::default()
        };
        // MD5 of "771,4865,0,29,0".
        assert_eq!(ja3(&with), md5_hex("771,4865,0,29,0"));
        assert_eq!(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
        // No extensions: tshark's "768,49172-...-255,,," (flowtest--tls_ssl30.pcap frame 4).
        let bare = HelloValues { legacy_version: 768, cipher_suites: &[4, 5], ..Default::default() };
        assert_eq!(ja3(&bare), md5_hex("768,4-5,,,"));
    }
}
