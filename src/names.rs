//! Names for protocol numbers: IANA names for suites, groups, signature schemes and
//! extensions, RFC names in snake_case for alerts, `TLS1.2`-style names for versions.
//! Unknown values still get a printable name (their hex code), so nothing is lost.

use std::borrow::Cow;
use tls_parser::TlsCipherSuite;

/// A protocol number's name: the IANA or RFC name borrowed from the binary, or the hex code of
/// an unknown value. A hello lists dozens of names; borrowing them costs no allocation each.
pub type Name = Cow<'static, str>;

/// True for the GREASE values of RFC 8701 (0x0a0a, 0x1a1a, ... 0xfafa).
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// `TLS1.2`, `SSL3.0`, `TLS1.3-draft18`, ... for a wire version.
pub fn version(v: u16) -> String {
    version_name(v).into_owned()
}

/// [`version`], borrowed for the named versions (no allocation when printing them).
pub fn version_name(v: u16) -> Name {
    match v {
        0x0002 => "SSL2.0".into(),
        0x0300 => "SSL3.0".into(),
        0x0301 => "TLS1.0".into(),
        0x0302 => "TLS1.1".into(),
        0x0303 => "TLS1.2".into(),
        0x0304 => "TLS1.3".into(),
        0x7f00..=0x7fff => format!("TLS1.3-draft{}", v & 0xff).into(),
        _ if is_grease(v) => "GREASE".into(),
        _ => format!("0x{v:04x}").into(),
    }
}

/// The wire value of a version name this crate printed.
pub fn version_id(name: &str) -> Option<u16> {
    Some(match name {
        "SSL2.0" => 0x0002,
        "SSL3.0" => 0x0300,
        "TLS1.0" => 0x0301,
        "TLS1.1" => 0x0302,
        "TLS1.2" => 0x0303,
        "TLS1.3" => 0x0304,
        _ => {
            let draft = name.strip_prefix("TLS1.3-draft")?;
            0x7f00 | draft.parse::<u16>().ok()?
        }
    })
}

/// IANA name of a cipher suite, e.g. `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`.
pub fn cipher_suite(id: u16) -> Name {
    match id {
        0x00ff => "TLS_EMPTY_RENEGOTIATION_INFO_SCSV".into(),
        0x5600 => "TLS_FALLBACK_SCSV".into(),
        _ if is_grease(id) => "GREASE".into(),
        _ => TlsCipherSuite::from_id(id).map_or_else(|| format!("0x{id:04x}").into(), |s| s.name.into()),
    }
}

/// IANA name of a supported group (named curve or finite-field group).
pub fn group(id: u16) -> Name {
    let name = match id {
        1..=22 => {
            const OLD: [&str; 22] = [
                "sect163k1",
                "sect163r1",
                "sect163r2",
                "sect193r1",
                "sect193r2",
                "sect233k1",
                "sect233r1",
                "sect239k1",
                "sect283k1",
                "sect283r1",
                "sect409k1",
                "sect409r1",
                "sect571k1",
                "sect571r1",
                "secp160k1",
                "secp160r1",
                "secp160r2",
                "secp192k1",
                "secp192r1",
                "secp224k1",
                "secp224r1",
                "secp256k1",
            ];
            OLD[id as usize - 1]
        }
        23 => "secp256r1",
        24 => "secp384r1",
        25 => "secp521r1",
        26 => "brainpoolP256r1",
        27 => "brainpoolP384r1",
        28 => "brainpoolP512r1",
        29 => "x25519",
        30 => "x448",
        256 => "ffdhe2048",
        257 => "ffdhe3072",
        258 => "ffdhe4096",
        259 => "ffdhe6144",
        260 => "ffdhe8192",
        0x11eb => "SecP256r1MLKEM768",
        0x11ec => "X25519MLKEM768",
        0x11ed => "SecP384r1MLKEM1024",
        0x6399 => "X25519Kyber768Draft00",
        _ if is_grease(id) => "GREASE",
        _ => return format!("0x{id:04x}").into(),
    };
    name.into()
}

/// IANA name of a signature scheme (TLS 1.3 names, which cover the TLS 1.2 hash/signature pairs).
pub fn signature_scheme(id: u16) -> Name {
    let name = match id {
        0x0201 => "rsa_pkcs1_sha1",
        0x0203 => "ecdsa_sha1",
        0x0202 => "dsa_sha1",
        0x0102 => "dsa_md5",
        0x0302 => "dsa_sha224",
        0x0502 => "dsa_sha384",
        0x0602 => "dsa_sha512",
        0x0101 => "rsa_pkcs1_md5",
        0x0301 => "rsa_pkcs1_sha224",
        0x0303 => "ecdsa_sha224",
        0x0401 => "rsa_pkcs1_sha256",
        0x0402 => "dsa_sha256",
        0x0403 => "ecdsa_secp256r1_sha256",
        0x0501 => "rsa_pkcs1_sha384",
        0x0503 => "ecdsa_secp384r1_sha384",
        0x0601 => "rsa_pkcs1_sha512",
        0x0603 => "ecdsa_secp521r1_sha512",
        0x0804 => "rsa_pss_rsae_sha256",
        0x0805 => "rsa_pss_rsae_sha384",
        0x0806 => "rsa_pss_rsae_sha512",
        0x0807 => "ed25519",
        0x0808 => "ed448",
        0x0809 => "rsa_pss_pss_sha256",
        0x080a => "rsa_pss_pss_sha384",
        0x080b => "rsa_pss_pss_sha512",
        0x081a => "ecdsa_brainpoolP256r1tls13_sha256",
        0x081b => "ecdsa_brainpoolP384r1tls13_sha384",
        0x081c => "ecdsa_brainpoolP512r1tls13_sha512",
        _ if is_grease(id) => "GREASE",
        _ => return format!("0x{id:04x}").into(),
    };
    name.into()
}

/// IANA name of a TLS extension type.
pub fn extension(id: u16) -> Name {
    let name = match id {
        0 => "server_name",
        1 => "max_fragment_length",
        5 => "status_request",
        10 => "supported_groups",
        11 => "ec_point_formats",
        13 => "signature_algorithms",
        14 => "use_srtp",
        15 => "heartbeat",
        16 => "application_layer_protocol_negotiation",
        17 => "status_request_v2",
        18 => "signed_certificate_timestamp",
        19 => "client_certificate_type",
        20 => "server_certificate_type",
        21 => "padding",
        22 => "encrypt_then_mac",
        23 => "extended_master_secret",
        27 => "compress_certificate",
        28 => "record_size_limit",
        34 => "delegated_credential",
        35 => "session_ticket",
        41 => "pre_shared_key",
        42 => "early_data",
        43 => "supported_versions",
        44 => "cookie",
        45 => "psk_key_exchange_modes",
        47 => "certificate_authorities",
        48 => "oid_filters",
        49 => "post_handshake_auth",
        50 => "signature_algorithms_cert",
        51 => "key_share",
        57 => "quic_transport_parameters",
        13172 => "next_protocol_negotiation",
        17513 | 17613 => "application_settings",
        0xfe0d => "encrypted_client_hello",
        0xff01 => "renegotiation_info",
        _ if is_grease(id) => "GREASE",
        _ => return format!("0x{id:04x}").into(),
    };
    name.into()
}

/// RFC 8446 / RFC 5246 alert description in snake_case, e.g. `handshake_failure`.
pub fn alert(desc: u8) -> String {
    let name = match desc {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        121 => "ech_required",
        _ => return format!("alert_{desc}"),
    };
    name.into()
}

/// `warning`, `fatal`, or the number.
pub fn alert_level(level: u8) -> String {
    match level {
        1 => "warning".into(),
        2 => "fatal".into(),
        _ => format!("level_{level}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_round_trip() {
        for v in [0x0002, 0x0300, 0x0301, 0x0302, 0x0303, 0x0304, 0x7f12] {
            assert_eq!(version_id(&version(v)), Some(v));
        }
    }

    #[test]
    fn names_follow_the_registries() {
        assert_eq!(version(0x0303), "TLS1.2");
        assert_eq!(version(0x7f12), "TLS1.3-draft18");
        assert_eq!(cipher_suite(0xc02f), "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert_eq!(cipher_suite(0x1301), "TLS_AES_128_GCM_SHA256");
        assert_eq!(cipher_suite(0xeaea), "GREASE");
        assert_eq!(group(29), "x25519");
        assert_eq!(group(0x11ec), "X25519MLKEM768");
        assert_eq!(alert(40), "handshake_failure");
        assert_eq!(alert(70), "protocol_version");
        assert_eq!(alert(200), "alert_200");
        assert_eq!(extension(23), "extended_master_secret");
        assert_eq!(signature_scheme(0x0804), "rsa_pss_rsae_sha256");
    }

    #[test]
    fn grease_is_only_the_rfc8701_pattern() {
        assert!(is_grease(0x0a0a) && is_grease(0xfafa));
        assert!(!is_grease(0x0a1a) && !is_grease(0x0303));
    }
}
