//! What went wrong reading a connection's TLS, as data: the kind of problem, the frame it was
//! found in and the side that sent the bytes. Each kind's sentence is written once, here
//! (`Display`); the connection record keeps those sentences (`TlsFacts::errors`, the JSON
//! `errors` list), made when the analyzer hands its facts over (`TlsAnalyzer::write_errors`).

use crate::names::Name;
use crate::proto::facts::Role;
use crate::proto::messages::handshake_name;
use crate::proto::values::TlsVersion;
use std::fmt;

/// One problem the TLS analyzer met.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsProblem {
    pub kind: TlsProblemKind,
    /// The frame of the bytes at fault (for `NoOutcome`, the record that reached the limit).
    pub frame: u64,
    /// The side that sent them (for `SuiteNotDecrypted`, the server that chose the suite).
    pub sender: Role,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsProblemKind {
    /// Bytes that are no TLS record after this side's valid records: the side is given up.
    NotARecord,
    /// A handshake message longer than the limit (`Limits::max_handshake_message`).
    HandshakeTooLong { len: usize, limit: usize },
    /// A handshake message of this type that does not parse.
    MalformedMessage { handshake_type: u8 },
    /// A handshake message of this type whose extensions do not parse.
    MalformedExtensions { handshake_type: u8 },
    /// A Certificate message whose list is inconsistent (what is wrong with it).
    MalformedCertificate { fault: String },
    /// An encrypted handshake record shorter than any Finished of the suite.
    ShorterThanFinished { len: usize, min: usize },
    /// This many records without an outcome: the connection is given up.
    NoOutcome { records: u32 },
    /// The key log has this connection's secrets, but not for this version and suite.
    SuiteNotDecrypted { version: TlsVersion, cipher_suite: Name },
    /// The key log's keys do not open this side's record: its later records stay opaque.
    KeysDoNotDecrypt,
}

impl TlsProblem {
    pub fn new(kind: TlsProblemKind, frame: u64, sender: Role) -> Self {
        TlsProblem { kind, frame, sender }
    }
}

/// The sentence the JSON `errors` list has always carried for each kind.
impl fmt::Display for TlsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (frame, side) = (self.frame, role_name(self.sender));
        match &self.kind {
            TlsProblemKind::NotARecord => write!(f, "{side} sent bytes that are not a TLS record in frame {frame}"),
            TlsProblemKind::HandshakeTooLong { len, limit } => {
                write!(f, "{side} handshake message of {len} bytes in frame {frame} exceeds the {limit}-byte limit")
            }
            TlsProblemKind::MalformedMessage { handshake_type } => {
                write!(f, "malformed {} from the {side} in frame {frame}", handshake_name(*handshake_type))
            }
            TlsProblemKind::MalformedExtensions { handshake_type } => {
                write!(f, "malformed extensions in the {} from the {side} in frame {frame}", handshake_name(*handshake_type))
            }
            TlsProblemKind::MalformedCertificate { fault } => {
                write!(f, "malformed Certificate from the {side} in frame {frame}: {fault}")
            }
            TlsProblemKind::ShorterThanFinished { len, min } => write!(
                f,
                "{side}'s encrypted handshake record in frame {frame} ({len} bytes) is shorter than any Finished of the suite ({min} bytes)"
            ),
            TlsProblemKind::NoOutcome { records } => write!(f, "no handshake outcome after {records} records"),
            TlsProblemKind::SuiteNotDecrypted { version, cipher_suite } => write!(
                f,
                "the key log has this connection's secrets, but {} {} records are not decrypted (AES-GCM and ChaCha20-Poly1305 suites are, and AES-CBC in TLS 1.2)",
                version, cipher_suite
            ),
            TlsProblemKind::KeysDoNotDecrypt => {
                write!(f, "the key log's secrets do not decrypt the {side}'s record in frame {frame}")
            }
        }
    }
}

/// `Client` or `Server`, capitalised as these sentences always had it.
fn role_name(role: Role) -> &'static str {
    match role {
        Role::Client => "Client",
        Role::Server => "Server",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sentences are those the JSON `errors` list carried before the problems were typed
    /// (the golden files hold some of them; these are the rest, word for word).
    #[test]
    fn every_kind_reads_as_before() {
        let cases = [
            (TlsProblemKind::NotARecord, Role::Client, "Client sent bytes that are not a TLS record in frame 7"),
            (
                TlsProblemKind::HandshakeTooLong { len: 70000, limit: 65536 },
                Role::Server,
                "Server handshake message of 70000 bytes in frame 7 exceeds the 65536-byte limit",
            ),
            (
                TlsProblemKind::MalformedMessage { handshake_type: 2 },
                Role::Server,
                "malformed ServerHello from the Server in frame 7",
            ),
            (
                TlsProblemKind::MalformedExtensions { handshake_type: 1 },
                Role::Client,
                "malformed extensions in the ClientHello from the Client in frame 7",
            ),
            (
                TlsProblemKind::MalformedCertificate { fault: "a certificate of 9 bytes where 3 remain".into() },
                Role::Server,
                "malformed Certificate from the Server in frame 7: a certificate of 9 bytes where 3 remain",
            ),
            (
                TlsProblemKind::ShorterThanFinished { len: 20, min: 40 },
                Role::Client,
                "Client's encrypted handshake record in frame 7 (20 bytes) is shorter than any Finished of the suite (40 bytes)",
            ),
            (TlsProblemKind::NoOutcome { records: 64 }, Role::Client, "no handshake outcome after 64 records"),
            (
                TlsProblemKind::SuiteNotDecrypted { version: TlsVersion::TLS1_0, cipher_suite: "TLS_RSA_WITH_AES_128_CBC_SHA".into() },
                Role::Server,
                "the key log has this connection's secrets, but TLS1.0 TLS_RSA_WITH_AES_128_CBC_SHA records are not decrypted (AES-GCM and ChaCha20-Poly1305 suites are, and AES-CBC in TLS 1.2)",
            ),
            (
                TlsProblemKind::KeysDoNotDecrypt,
                Role::Server,
                "the key log's secrets do not decrypt the Server's record in frame 7",
            ),
        ];
        for (kind, sender, text) in cases {
            assert_eq!(TlsProblem::new(kind, 7, sender).to_string(), text);
        }
    }
}
