//! Protocol values as their wire numbers, printed through one name table (`names`): a value
//! this program has no name for is kept and printed as its number. Rules match on the
//! constants here, never on the printed names; records carry the names and read them back.

use crate::names::{self, Name};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;
use tls_parser::{TlsCipherKx, TlsCipherSuite};

/// A TLS alert description (RFC 8446 section 6, RFC 5246 section 7.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlertDescription(pub u8);

impl AlertDescription {
    pub const CLOSE_NOTIFY: Self = Self(0);
    pub const UNEXPECTED_MESSAGE: Self = Self(10);
    pub const BAD_RECORD_MAC: Self = Self(20);
    pub const DECRYPTION_FAILED: Self = Self(21);
    pub const HANDSHAKE_FAILURE: Self = Self(40);
    pub const BAD_CERTIFICATE: Self = Self(42);
    pub const UNSUPPORTED_CERTIFICATE: Self = Self(43);
    pub const CERTIFICATE_REVOKED: Self = Self(44);
    pub const CERTIFICATE_EXPIRED: Self = Self(45);
    pub const CERTIFICATE_UNKNOWN: Self = Self(46);
    pub const ILLEGAL_PARAMETER: Self = Self(47);
    pub const UNKNOWN_CA: Self = Self(48);
    pub const ACCESS_DENIED: Self = Self(49);
    pub const DECODE_ERROR: Self = Self(50);
    pub const DECRYPT_ERROR: Self = Self(51);
    pub const PROTOCOL_VERSION: Self = Self(70);
    pub const INSUFFICIENT_SECURITY: Self = Self(71);
    pub const CERTIFICATE_REQUIRED: Self = Self(116);

    /// The snake_case RFC name (`handshake_failure`), or `alert_N`.
    pub fn name(self) -> String {
        names::alert(self.0)
    }

    /// The description of that name (as [`AlertDescription::name`] prints it).
    pub fn from_name(text: &str) -> Option<Self> {
        (0..=u8::MAX).map(Self).find(|d| d.name() == text)
    }
}

/// A TLS alert level: warning (1) or fatal (2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AlertLevel(pub u8);

impl AlertLevel {
    pub const WARNING: Self = Self(1);
    pub const FATAL: Self = Self(2);

    /// `warning`, `fatal`, or `level_N`.
    pub fn name(self) -> String {
        names::alert_level(self.0)
    }

    pub fn from_name(text: &str) -> Option<Self> {
        (0..=u8::MAX).map(Self).find(|l| l.name() == text)
    }
}

/// A TLS version as its wire value (`0x0303` is TLS 1.2; `0x7f12` TLS 1.3 draft 18).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TlsVersion(pub u16);

impl TlsVersion {
    pub const SSL2: Self = Self(0x0002);
    pub const SSL3: Self = Self(0x0300);
    pub const TLS1_0: Self = Self(0x0301);
    pub const TLS1_1: Self = Self(0x0302);
    pub const TLS1_2: Self = Self(0x0303);
    pub const TLS1_3: Self = Self(0x0304);

    /// `TLS1.2`, `TLS1.3-draft18`, `GREASE`, or `0x....` for a value without a name.
    pub fn name(self) -> Name {
        names::version_name(self.0)
    }

    /// The version of that name (as [`TlsVersion::name`] prints it); GREASE reads back as
    /// 0x0a0a, which prints the same.
    pub fn from_name(text: &str) -> Option<Self> {
        let value = match text {
            "GREASE" => 0x0a0a,
            _ => names::version_id(text).or_else(|| hex_value(text))?,
        };
        Some(Self(value)).filter(|v| v.name() == text)
    }

    /// Orders versions so that TLS 1.3 drafts sort just below TLS 1.3 and above TLS 1.2.
    pub fn rank(self) -> u32 {
        super::messages::version_rank(self.0)
    }

    /// A version this program has a name for (SSL 2.0 to TLS 1.3 and the TLS 1.3 drafts), not
    /// GREASE or an unassigned value.
    pub fn is_named(self) -> bool {
        matches!(self.0, 0x0002 | 0x0300..=0x0304 | 0x7f00..=0x7fff)
    }

    /// TLS 1.3 or one of its drafts.
    pub fn is_tls13_or_draft(self) -> bool {
        matches!(self.0, 0x0304 | 0x7f00..=0x7fff)
    }

    /// Ranks at or above the first TLS 1.3 draft: TLS 1.3, its drafts, and the unassigned
    /// values above them that experimental TLS 1.3 variants used (Chrome's 0x7e01, Facebook's
    /// 0xfb1a), whose records after the hellos are encrypted as in TLS 1.3.
    pub fn is_tls13_like(self) -> bool {
        self.rank() >= Self(0x7f00).rank()
    }
}

/// A cipher suite as its wire value, printed as its IANA name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CipherSuite(pub u16);

impl CipherSuite {
    /// The IANA name, `GREASE`, or `0x....` for a value without a name.
    pub fn name(self) -> Name {
        names::cipher_suite(self.0)
    }

    /// The suite of that name (as [`CipherSuite::name`] prints it); GREASE reads back as the
    /// first GREASE value, which prints the same.
    pub fn from_name(text: &str) -> Option<Self> {
        static BY_NAME: OnceLock<HashMap<Name, u16>> = OnceLock::new();
        // Lower values win: every GREASE value prints as "GREASE".
        let by_name = BY_NAME.get_or_init(|| (0..=u16::MAX).rev().map(|id| (names::cipher_suite(id), id)).collect());
        by_name.get(text).map(|&id| Self(id))
    }

    pub fn is_grease(self) -> bool {
        names::is_grease(self.0)
    }

    /// A TLS 1.3 suite (RFC 8446 section B.4): it names no key exchange.
    pub fn is_tls13(self) -> bool {
        matches!(self.0, 0x1301..=0x1305)
    }

    /// A finite-field Diffie-Hellman (DHE) key exchange.
    pub fn is_dhe(self) -> bool {
        matches!(TlsCipherSuite::from_id(self.0).map(|s| s.kx), Some(TlsCipherKx::Dhe))
    }

    /// tls-parser's description of the suite (cipher, MAC, key exchange), when it knows it.
    pub fn info(self) -> Option<&'static TlsCipherSuite> {
        TlsCipherSuite::from_id(self.0)
    }
}

/// The values' names separated by `, ` (as the lists of names the records carry were joined).
pub fn joined<T: fmt::Display>(values: &[T]) -> String {
    let mut out = String::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&v.to_string());
    }
    out
}

/// `0x....` as printed for a value without a name.
fn hex_value(text: &str) -> Option<u16> {
    let digits = text.strip_prefix("0x").filter(|d| d.len() == 4)?;
    u16::from_str_radix(digits, 16).ok()
}

macro_rules! named {
    ($type:ident, $what:literal) => {
        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(&self.name())
            }
        }

        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.name())
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $type::from_name(&text).ok_or_else(|| serde::de::Error::custom(format!("unknown {} {:?}", $what, text)))
            }
        }
    };
}

named!(AlertDescription, "alert description");
named!(AlertLevel, "alert level");
named!(TlsVersion, "TLS version");
named!(CipherSuite, "cipher suite");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alert_value_prints_and_reads_back_named_or_not() {
        for d in 0..=u8::MAX {
            let json = serde_json::to_string(&AlertDescription(d)).unwrap();
            assert_eq!(serde_json::from_str::<AlertDescription>(&json).unwrap(), AlertDescription(d), "{json}");
        }
        assert_eq!(AlertDescription::UNKNOWN_CA.to_string(), "unknown_ca");
        assert_eq!(AlertDescription(200).to_string(), "alert_200");
        assert_eq!(AlertLevel::FATAL.to_string(), "fatal");
        assert!(serde_json::from_str::<AlertDescription>("\"no_such_alert\"").is_err());
    }

    /// Every value, named, GREASE or unnamed, reads back as a value that prints the same.
    #[test]
    fn every_version_and_suite_prints_and_reads_back() {
        for v in 0..=u16::MAX {
            let version = TlsVersion(v);
            assert_eq!(
                serde_json::from_str::<TlsVersion>(&serde_json::to_string(&version).unwrap()).unwrap().name(),
                version.name()
            );
            let suite = CipherSuite(v);
            assert_eq!(
                serde_json::from_str::<CipherSuite>(&serde_json::to_string(&suite).unwrap()).unwrap().name(),
                suite.name()
            );
        }
        assert_eq!(TlsVersion::TLS1_2.to_string(), "TLS1.2");
        assert_eq!(TlsVersion(0x7f12).to_string(), "TLS1.3-draft18");
        assert_eq!(serde_json::from_str::<TlsVersion>("\"TLS1.3-draft18\"").unwrap(), TlsVersion(0x7f12));
        assert_eq!(serde_json::from_str::<TlsVersion>("\"0x0a1a\"").unwrap(), TlsVersion(0x0a1a));
        assert_eq!(serde_json::from_str::<CipherSuite>("\"TLS_AES_128_GCM_SHA256\"").unwrap(), CipherSuite(0x1301));
        assert_eq!(serde_json::from_str::<CipherSuite>("\"0x1234\"").unwrap(), CipherSuite(0x1234));
        assert!(serde_json::from_str::<CipherSuite>("\"GREASE\"").unwrap().is_grease());
        assert!(serde_json::from_str::<CipherSuite>("\"TLS_NO_SUCH_SUITE\"").is_err());
        assert!(serde_json::from_str::<TlsVersion>("\"0x0303\"").is_err(), "TLS 1.2 prints by its name");
    }
}
