//! Handshake messages to facts. tls-parser reads the message grammar; this module walks the
//! extension list itself (type, length) so that one malformed extension costs only itself.

use super::cert_cache::certificate;
use super::facts::{CertificateChain, ClientHello, HelloRetryRequest, ServerHello, ServerKeyExchange};
use super::fingerprint;
use super::values::{CipherSuite, TlsVersion};
use crate::names;
use tls_parser::{
    parse_tls_client_hello_extension, parse_tls_server_hello_extension, TlsCipherKx, TlsExtension, TlsMessageHandshake,
};

/// The ServerHello.random value that marks a HelloRetryRequest (RFC 8446, 4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91, 0xC2, 0xA2, 0x11,
    0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

/// Splits an extension block into (type, whole extension bytes including its header).
fn raw_extensions(mut data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 4 {
            return None;
        }
        let ty = u16::from_be_bytes([data[0], data[1]]);
        let len = u16::from_be_bytes([data[2], data[3]]) as usize;
        if data.len() < 4 + len {
            return None;
        }
        let (ext, rest) = data.split_at(4 + len);
        data = rest;
        Some((ty, ext))
    })
}

/// True when a hello's extensions block does not split exactly into extensions (a length
/// that overflows the block, or bytes left over): what was read is kept, the rest is lost.
pub fn extensions_malformed(msg: &TlsMessageHandshake<'_>) -> bool {
    let ext = match msg {
        TlsMessageHandshake::ClientHello(ch) => ch.ext,
        TlsMessageHandshake::ServerHello(sh) => sh.ext,
        _ => None,
    };
    let block = ext.unwrap_or_default();
    let read: usize = raw_extensions(block).map(|(_, raw)| raw.len()).sum();
    read != block.len()
}

/// Lower-case hex, written by hand: through `format!` each byte cost an allocation.
pub fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * b.len());
    for x in b {
        out.push(DIGITS[usize::from(x >> 4)] as char);
        out.push(DIGITS[usize::from(x & 15)] as char);
    }
    out
}

/// A short stable name for a session ticket or PSK identity (which can be kilobytes): the
/// first 8 bytes of its SHA-256, in hex. The same bytes give the same name in every run.
pub fn fingerprint(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes)[..8])
}

/// The ticket of a NewSessionTicket body: RFC 5077 (lifetime, ticket) or RFC 8446 4.6.1
/// (lifetime, age_add, nonce, ticket, extensions).
pub fn new_session_ticket(body: &[u8], tls13: bool) -> Option<&[u8]> {
    let mut pos = 4;
    if tls13 {
        pos += 4;
        pos += 1 + *body.get(pos)? as usize;
    }
    let len = u16::from_be_bytes([*body.get(pos)?, *body.get(pos + 1)?]) as usize;
    body.get(pos + 2..pos + 2 + len).filter(|t| !t.is_empty())
}

/// The first identity of a pre_shared_key extension's body (RFC 8446 4.2.11).
fn first_psk_identity(body: &[u8]) -> Option<&[u8]> {
    let len = u16::from_be_bytes([*body.get(2)?, *body.get(3)?]) as usize;
    body.get(4..4 + len).filter(|i| !i.is_empty())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Parses the key_share extension's list of groups (client form: a vector of entries).
fn key_share_groups(body: &[u8]) -> Vec<names::Name> {
    let mut out = Vec::new();
    if body.len() < 2 {
        return out;
    }
    let mut rest = &body[2..];
    while rest.len() >= 4 {
        let group = u16::from_be_bytes([rest[0], rest[1]]);
        let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
        if !names::is_grease(group) {
            out.push(names::group(group));
        }
        if rest.len() < 4 + len {
            break;
        }
        rest = &rest[4 + len..];
    }
    out
}

/// `body` is the message after its 4-byte header: tls-parser leaves the extensions of an
/// SSL 3.0 ClientHello out, so they are read from the bytes when it gives none.
pub fn client_hello(msg: &TlsMessageHandshake<'_>, body: &[u8], frame: u64) -> Option<ClientHello> {
    let TlsMessageHandshake::ClientHello(ch) = msg else {
        return None;
    };
    let ext = ch.ext.or_else(|| client_hello_extension_block(body));
    let mut out = ClientHello {
        frame,
        legacy_version: TlsVersion(ch.version.0),
        cipher_suites: ch.ciphers.iter().map(|c| CipherSuite(c.0)).collect(),
        session_id: ch.session_id.map(hex).unwrap_or_default(),
        random: ch.random.try_into().unwrap_or_default(),
        ..Default::default()
    };
    let mut max_version = ch.version.0;
    let mut values = fingerprint::HelloValues {
        legacy_version: ch.version.0,
        cipher_suites: &out.cipher_suites,
        ..Default::default()
    };
    for (ty, raw) in raw_extensions(ext.unwrap_or_default()) {
        out.extensions.push(names::extension(ty));
        values.extensions.push(ty);
        let body = &raw[4..];
        match ty {
            11 => values.point_formats = body.get(1..).unwrap_or_default().to_vec(),
            23 => out.extended_master_secret = true,
            35 if !body.is_empty() => {
                out.session_ticket = true;
                out.ticket_id = Some(fingerprint(body));
            }
            41 => {
                out.psk = true;
                out.psk_identity_id = first_psk_identity(body).map(fingerprint);
            }
            42 => out.early_data = true,
            51 => out.key_share_groups = key_share_groups(body),
            _ => {}
        }
        let Ok((_, ext)) = parse_tls_client_hello_extension(raw) else {
            continue;
        };
        match ext {
            TlsExtension::SNI(list) => {
                values.sni = true;
                out.sni = list.first().map(|(_, name)| text(name))
            }
            TlsExtension::ALPN(list) => {
                values.first_alpn = list.first().copied();
                out.alpn = list.iter().map(|p| text(p)).collect()
            }
            TlsExtension::EllipticCurves(groups) => {
                values.groups = groups.iter().map(|g| g.0).collect();
                out.supported_groups = groups.iter().map(|g| names::group(g.0)).collect()
            }
            TlsExtension::SignatureAlgorithms(algs) => {
                values.signature_algorithms = algs.clone();
                out.signature_algorithms = algs.iter().map(|a| names::signature_scheme(*a)).collect()
            }
            TlsExtension::SupportedVersions(versions) => {
                let real: Vec<u16> = versions.iter().map(|v| v.0).filter(|v| !names::is_grease(*v)).collect();
                if let Some(&top) = real.iter().max_by_key(|v| version_rank(**v)) {
                    max_version = top;
                    values.max_supported_version = Some(top);
                }
                out.supported_versions = real.into_iter().map(TlsVersion).collect();
            }
            _ => {}
        }
    }
    out.max_version = TlsVersion(max_version);
    (out.ja3, out.ja4) = fingerprint::client_fingerprints(&values);
    Some(out)
}

/// Orders versions so that TLS 1.3 drafts sort just below TLS 1.3 and above TLS 1.2.
pub fn version_rank(v: u16) -> u32 {
    match v {
        0x7f00..=0x7fff => 0x0003_0380 + (v & 0xff) as u32,
        0x0304 => 0x0003_0400,
        _ => (v as u32) << 8,
    }
}

/// A ServerHello, or a HelloRetryRequest (a ServerHello with the special random).
pub enum ServerHelloKind {
    Hello(ServerHello),
    Retry(HelloRetryRequest),
}

/// `body` is the message after its 4-byte header: tls-parser leaves the extensions of an
/// SSL 3.0 ServerHello out, so they are read from the bytes when it gives none.
pub fn server_hello(msg: &TlsMessageHandshake<'_>, body: &[u8], frame: u64) -> Option<ServerHelloKind> {
    let (legacy, random, session_id, cipher, ext) = match msg {
        TlsMessageHandshake::ServerHello(sh) => (sh.version.0, sh.random, sh.session_id, sh.cipher.0, sh.ext),
        TlsMessageHandshake::ServerHelloV13Draft18(sh) => (sh.version.0, &[][..], None, sh.cipher.0, sh.ext),
        _ => return None,
    };
    let ext = ext.or_else(|| server_hello_extension_block(body));
    let mut out = ServerHello {
        frame,
        legacy_version: TlsVersion(legacy),
        cipher_suite: Some(CipherSuite(cipher)),
        session_id: session_id.map(hex).unwrap_or_default(),
        random: random.try_into().unwrap_or_default(),
        ..Default::default()
    };
    let mut version = legacy;
    let mut selected_group = None;
    let mut types = Vec::new();
    for (ty, raw) in raw_extensions(ext.unwrap_or_default()) {
        out.extensions.push(names::extension(ty));
        types.push(ty);
        let body = &raw[4..];
        match ty {
            23 => out.extended_master_secret = true,
            41 => out.psk_accepted = true,
            43 if body.len() == 2 => version = u16::from_be_bytes([body[0], body[1]]),
            // ServerHello key_share holds one entry; a HelloRetryRequest only the group.
            51 if body.len() >= 2 => {
                selected_group = Some(names::group(u16::from_be_bytes([body[0], body[1]])).into_owned())
            }
            _ => {}
        }
        if let Ok((_, TlsExtension::ALPN(list))) = parse_tls_server_hello_extension(raw) {
            out.alpn = list.first().map(|p| text(p));
        }
    }
    if random == HRR_RANDOM {
        return Some(ServerHelloKind::Retry(HelloRetryRequest {
            frame,
            cipher_suite: CipherSuite(cipher),
            selected_group,
        }));
    }
    out.key_share_group = selected_group;
    out.ja3s = fingerprint::ja3s(legacy, cipher, &types);
    out.version = TlsVersion(version);
    Some(ServerHelloKind::Hello(out))
}

/// The extension block of a ClientHello body (version, random, session id, suites,
/// compression methods, extensions), when one is there.
fn client_hello_extension_block(body: &[u8]) -> Option<&[u8]> {
    let mut at = 35 + *body.get(34)? as usize;
    at += 2 + u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]) as usize;
    at += 1 + *body.get(at)? as usize;
    let len = u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]) as usize;
    body.get(at + 2..at + 2 + len)
}

/// The extension block of a TLS 1.2-layout ServerHello body (version, random, session id,
/// suite, compression, extensions), when one is there.
fn server_hello_extension_block(body: &[u8]) -> Option<&[u8]> {
    let sid_len = *body.get(34)? as usize;
    let at = 35 + sid_len + 3;
    let len = u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]) as usize;
    body.get(at + 2..at + 2 + len)
}

/// A ServerHello of TLS 1.3 drafts 14 to 21 (version, random, suite, extensions), which
/// tls-parser does not read.
pub fn draft_server_hello(body: &[u8], frame: u64) -> Option<ServerHello> {
    let version = u16::from_be_bytes([*body.first()?, *body.get(1)?]);
    if !(0x7f0e..=0x7f15).contains(&version) {
        return None;
    }
    let cipher = u16::from_be_bytes([*body.get(34)?, *body.get(35)?]);
    let ext_len = u16::from_be_bytes([*body.get(36)?, *body.get(37)?]) as usize;
    let ext = body.get(38..38 + ext_len)?;
    let types: Vec<u16> = raw_extensions(ext).map(|(ty, _)| ty).collect();
    Some(ServerHello {
        frame,
        legacy_version: TlsVersion(version),
        version: TlsVersion(version),
        cipher_suite: Some(CipherSuite(cipher)),
        extensions: types.iter().map(|ty| names::extension(*ty)).collect(),
        ja3s: fingerprint::ja3s(version, cipher, &types),
        ..Default::default()
    })
}

pub fn certificate_chain(msg: &TlsMessageHandshake<'_>, frame: u64) -> Option<CertificateChain> {
    let TlsMessageHandshake::Certificate(c) = msg else {
        return None;
    };
    Some(CertificateChain { frame, certificates: c.cert_chain.iter().map(|raw| certificate(raw.data)).collect() })
}

/// Where a TLS 1.2 Certificate message body (RFC 5246 7.4.2) does not add up: the list length
/// against the message, or a certificate's length against what is left of the list. tls-parser
/// reads such a list as empty; the peer that receives it answers with decode_error.
pub fn certificate_list_fault(body: &[u8]) -> Option<String> {
    let list_len = u32::from_be_bytes([0, *body.first()?, *body.get(1)?, *body.get(2)?]) as usize;
    if list_len != body.len() - 3 {
        return Some(format!("certificate list of {list_len} bytes in a message of {}", body.len()));
    }
    let mut rest = &body[3..];
    while !rest.is_empty() {
        let Some(len) = rest.get(..3).map(|l| u32::from_be_bytes([0, l[0], l[1], l[2]]) as usize) else {
            return Some("a certificate length cut short".into());
        };
        if len > rest.len() - 3 {
            return Some(format!("a certificate of {len} bytes where {} remain", rest.len() - 3));
        }
        rest = &rest[3 + len..];
    }
    None
}

/// A TLS 1.3 Certificate message body (RFC 8446 4.4.2): a request context, then each
/// certificate followed by its own extensions, which tls-parser's TLS 1.2 reader does not know.
pub fn tls13_certificate_chain(body: &[u8], frame: u64) -> Option<CertificateChain> {
    let context_len = *body.first()? as usize;
    let list = body.get(1 + context_len..)?;
    let list_len = u32::from_be_bytes([0, *list.first()?, *list.get(1)?, *list.get(2)?]) as usize;
    let mut rest = list.get(3..3 + list_len)?;
    let mut certificates = Vec::new();
    while rest.len() >= 3 {
        let len = u32::from_be_bytes([0, rest[0], rest[1], rest[2]]) as usize;
        let der = rest.get(3..3 + len)?;
        certificates.push(certificate(der));
        let after = rest.get(3 + len..)?;
        let ext_len = u16::from_be_bytes([*after.first()?, *after.get(1)?]) as usize;
        rest = after.get(2 + ext_len..)?;
    }
    Some(CertificateChain { frame, certificates })
}

/// Reads the group (ECDHE) or the prime size (DHE) from ServerKeyExchange parameters; which
/// one depends on the suite the ServerHello chose.
pub fn server_key_exchange(params: &[u8], suite: Option<CipherSuite>, frame: u64) -> ServerKeyExchange {
    let mut out = ServerKeyExchange { frame, ..Default::default() };
    match suite.and_then(CipherSuite::info).map(|s| s.kx) {
        // ECParameters: curve_type 3 (named_curve), then the group.
        Some(TlsCipherKx::Ecdhe) | Some(TlsCipherKx::Aecdh) if params.len() >= 3 && params[0] == 3 => {
            out.group = Some(names::group(u16::from_be_bytes([params[1], params[2]])).into_owned());
        }
        // ServerDHParams: dh_p as a 2-byte length and the prime.
        Some(TlsCipherKx::Dhe) | Some(TlsCipherKx::Dh) if params.len() >= 2 => {
            let len = u16::from_be_bytes([params[0], params[1]]) as usize;
            if let Some(p) = params.get(2..2 + len) {
                let significant = p.iter().position(|b| *b != 0).map(|i| &p[i..]).unwrap_or(&[]);
                let bits = significant.first().map(|b| 8 - b.leading_zeros()).unwrap_or(0);
                out.dh_prime_bits = Some((significant.len().saturating_sub(1) * 8) as u32 + bits);
            }
        }
        _ => {}
    }
    out
}

/// The name Wireshark uses for a handshake message type, for evidence lists.
pub fn handshake_name(ty: u8) -> &'static str {
    match ty {
        0 => "HelloRequest",
        1 => "ClientHello",
        2 => "ServerHello",
        4 => "NewSessionTicket",
        5 => "EndOfEarlyData",
        8 => "EncryptedExtensions",
        11 => "Certificate",
        12 => "ServerKeyExchange",
        13 => "CertificateRequest",
        14 => "ServerHelloDone",
        15 => "CertificateVerify",
        16 => "ClientKeyExchange",
        20 => "Finished",
        22 => "CertificateStatus",
        24 => "KeyUpdate",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_two_lower_case_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0xab, 0x0f, 0xf0]), "00ab0ff0");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn dh_prime_size_ignores_leading_zero_bytes() {
        // DHE suite TLS_DHE_RSA_WITH_AES_128_GCM_SHA256; a 2-byte prime 0x00 0x01 0xff has 9 bits.
        let params = [0x00, 0x03, 0x00, 0x01, 0xff];
        assert_eq!(server_key_exchange(&params, Some(CipherSuite(0x009e)), 1).dh_prime_bits, Some(9));
    }

    #[test]
    fn ecdhe_group_is_named() {
        let params = [0x03, 0x00, 0x1d, 0x20];
        assert_eq!(server_key_exchange(&params, Some(CipherSuite(0xc02f)), 1).group.as_deref(), Some("x25519"));
    }

    #[test]
    fn truncated_extension_list_stops_without_panic() {
        let exts: Vec<_> = raw_extensions(&[0x00, 0x00, 0x00, 0x05, 0x01]).collect();
        assert!(exts.is_empty());
    }
}
