//! Protocol values as their wire numbers, printed through one name table (`names`): a value
//! this program has no name for is kept and printed as its number. Rules match on the
//! constants here, never on the printed names; records carry the names and read them back.

use crate::names;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

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
}
