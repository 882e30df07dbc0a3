//! How records are written and read back (schema 2): a field holding its default is left
//! out, and a name the program keeps as its own static spelling (a resumption offer, a
//! handshake message) is mapped back to that spelling when read, an unknown one being an
//! error that names it. Timestamps are `time`'s.

use serde::{Deserialize, Deserializer};

/// A name kept as the program's own static spelling. A type alias, because serde's derive
/// borrows any field it sees spelled `&str` from the input, which would tie every record to
/// the lifetime of the text it was read from.
pub type StaticName = &'static str;

/// A field left out of the record when it holds its type's default (`false`, `0`).
pub fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// Reads a name back as the program's own spelling of it, found by `lookup`.
pub fn known_name<'de, D: Deserializer<'de>>(
    d: D,
    what: &str,
    lookup: impl Fn(&str) -> Option<&'static str>,
) -> Result<&'static str, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    lookup(&text).ok_or_else(|| serde::de::Error::custom(format!("unknown {what} {text:?}")))
}
