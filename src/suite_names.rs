//! The spellings of a cipher suite and a TLS version in the places an administrator changes
//! them: the IANA name (Schannel's `Enable-TlsCipherSuite -Name` takes it as is), OpenSSL's
//! name (`ssl_ciphers`, `-cipher`), and for versions the Schannel registry key and OpenSSL's
//! `MinProtocol`.

/// OpenSSL's name of a TLS 1.2-or-older suite, derived from its IANA name by OpenSSL's naming
/// rules; TLS 1.3 suites keep their IANA names. None for families without a rule here.
pub fn openssl_name(iana: &str) -> Option<String> {
    if is_tls13_suite(iana) {
        return Some(iana.to_string());
    }
    let rest = iana.strip_prefix("TLS_")?;
    let (kx, cipher_mac) = rest.split_once("_WITH_")?;
    let prefix = match kx {
        "RSA" => "",
        "ECDHE_RSA" => "ECDHE-RSA-",
        "ECDHE_ECDSA" => "ECDHE-ECDSA-",
        "DHE_RSA" => "DHE-RSA-",
        "DHE_DSS" => "DHE-DSS-",
        _ => return None,
    };
    let (cipher, mac) = cipher_mac.rsplit_once('_')?;
    let aead = |name: &str| Some(format!("{prefix}{name}-{mac}"));
    match cipher {
        "AES_128_GCM" => aead("AES128-GCM"),
        "AES_256_GCM" => aead("AES256-GCM"),
        "AES_128_CBC" => Some(format!("{prefix}AES128-{mac}")),
        "AES_256_CBC" => Some(format!("{prefix}AES256-{mac}")),
        "CHACHA20_POLY1305" => Some(format!("{prefix}CHACHA20-POLY1305")),
        "3DES_EDE_CBC" if kx == "RSA" => Some(format!("DES-CBC3-{mac}")),
        "3DES_EDE_CBC" if kx.starts_with("ECDHE") => Some(format!("{prefix}DES-CBC3-{mac}")),
        "3DES_EDE_CBC" => Some(format!("EDH-{}-DES-CBC3-{mac}", &kx[4..])),
        "RC4_128" if kx == "RSA" => Some(format!("RC4-{mac}")),
        _ => None,
    }
}

/// A TLS 1.3 suite (no key exchange in its name).
pub fn is_tls13_suite(iana: &str) -> bool {
    matches!(
        iana,
        "TLS_AES_128_GCM_SHA256"
            | "TLS_AES_256_GCM_SHA384"
            | "TLS_CHACHA20_POLY1305_SHA256"
            | "TLS_AES_128_CCM_SHA256"
            | "TLS_AES_128_CCM_8_SHA256"
    )
}

/// "TLS_X (OpenSSL: X-Y; Windows: Enable-TlsCipherSuite -Name TLS_X)".
pub fn suite_spellings(iana: &str) -> String {
    let openssl = openssl_name(iana).map(|n| format!("OpenSSL: {n}; ")).unwrap_or_default();
    format!("{iana} ({openssl}Windows: Enable-TlsCipherSuite -Name {iana})")
}

/// Where a TLS version (its wire value, as `names::version` takes it) is turned on: the
/// Schannel registry key and OpenSSL's setting.
pub fn version_settings(version: u16) -> Option<String> {
    let (schannel, openssl) = match version {
        0x0304 => ("TLS 1.3", "TLSv1.3"),
        0x0303 => ("TLS 1.2", "TLSv1.2"),
        0x0302 => ("TLS 1.1", "TLSv1.1"),
        0x0301 => ("TLS 1.0", "TLSv1"),
        _ => return None,
    };
    Some(format!(
        "Windows: HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\Protocols\\{schannel}\\Client (and \\Server) Enabled=1, DisabledByDefault=0, and for .NET SchUseStrongCrypto=1; OpenSSL: MinProtocol = {openssl} (or -{})",
        openssl.to_lowercase().replace("tlsv1.", "tls1_").replace("tlsv1", "tls1")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names as `openssl ciphers -V` prints them for these IANA suites (OpenSSL 3.0).
    #[test]
    fn openssl_names_follow_openssl() {
        for (iana, openssl) in [
            ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"),
            ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"),
            ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"),
            ("TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"),
            ("TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"),
            ("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "DHE-RSA-AES128-GCM-SHA256"),
            ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"),
            ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA"),
            ("TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", "EDH-RSA-DES-CBC3-SHA"),
            ("TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"),
        ] {
            assert_eq!(openssl_name(iana).as_deref(), Some(openssl), "{iana}");
        }
        assert_eq!(openssl_name("TLS_PSK_WITH_AES_128_CBC_SHA"), None);
    }
}
