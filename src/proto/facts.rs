//! What the TLS analyzer learned about one connection: plain data, serialised as the `tls`
//! object of the JSON schema. Names are resolved here (IANA, RFC) so every consumer prints the
//! same thing.

use super::values::{AlertDescription, AlertLevel, CipherSuite, TlsVersion};
use crate::capture::Nanos;
use crate::names::Name;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Where and when something was seen: the frame Wireshark shows it in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Seen {
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub frame: u64,
    #[serde(serialize_with = "crate::time::ser_ts", deserialize_with = "crate::time::de_ts")]
    pub ts: Nanos,
}

/// Which end of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Client,
    Server,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientHello {
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub frame: u64,
    /// The version field of the ClientHello body (every parsed hello has one: 0 only in a
    /// hello built by hand, and then left out like the empty name it replaced).
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub legacy_version: TlsVersion,
    /// supported_versions (TLS 1.3 style), GREASE removed; empty when the extension is absent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub supported_versions: Vec<TlsVersion>,
    /// The highest version offered, taking supported_versions into account.
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub max_version: TlsVersion,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cipher_suites: Vec<CipherSuite>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alpn: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub supported_groups: Vec<Name>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signature_algorithms: Vec<Name>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub key_share_groups: Vec<Name>,
    /// Every extension in the order sent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<Name>,
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub extended_master_secret: bool,
    /// Hex of the legacy session id (empty when none).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub session_id: String,
    /// The client sent a non-empty session ticket (RFC 5077).
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub session_ticket: bool,
    /// Fingerprint of that ticket (see `tickets_issued`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<String>,
    /// The client offered a TLS 1.3 pre-shared key (resumption).
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub psk: bool,
    /// Fingerprint of the first PSK identity offered (the ticket of a TLS 1.3 NewSessionTicket).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psk_identity_id: Option<String>,
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub early_data: bool,
    /// Sent in the SSLv2-compatible record format.
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub sslv2_format: bool,
    /// JA3 fingerprint (MD5 hex), as tshark's tls.handshake.ja3; empty for SSLv2-format hellos.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ja3: String,
    /// JA4 fingerprint of the client (FoxIO's specification, TCP).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ja4: String,
    /// The key a key log is indexed by.
    #[serde(skip)]
    pub random: [u8; 32],
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerHello {
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub frame: u64,
    /// (As in [`ClientHello::legacy_version`], 0 only in a hello built by hand.)
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub legacy_version: TlsVersion,
    /// The negotiated version (supported_versions when present, else legacy_version).
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub version: TlsVersion,
    /// The chosen suite; None for an SSL 2.0 server, whose cipher kinds are not TLS suites
    /// (printed `SSL2`).
    #[serde(serialize_with = "ser_chosen_suite", deserialize_with = "de_chosen_suite")]
    pub cipher_suite: Option<CipherSuite>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<Name>,
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub extended_master_secret: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_share_group: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub session_id: String,
    /// The server accepted a TLS 1.3 pre-shared key.
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub psk_accepted: bool,
    /// JA3S fingerprint (MD5 hex), as tshark's tls.handshake.ja3s.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ja3s: String,
    /// Needed with the client's to derive TLS 1.2 record keys.
    #[serde(skip)]
    pub random: [u8; 32],
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HelloRetryRequest {
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub frame: u64,
    pub cipher_suite: CipherSuite,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selected_group: Option<String>,
}

/// One X.509 certificate of a chain.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Certificate {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subject: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub issuer: String,
    /// DNS names and IP addresses of subjectAltName.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub san: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub not_before: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub not_after: String,
    #[serde(skip)]
    pub not_before_unix: i64,
    #[serde(skip)]
    pub not_after_unix: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub signature_algorithm: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub key_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_bits: Option<u32>,
    /// Extended key usages by name (`serverAuth`, `clientAuth`, ...); empty when absent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extended_key_usage: Vec<String>,
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub self_signed: bool,
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub is_ca: bool,
    /// CRL distribution points and OCSP responders (URLs), where clients check revocation.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub revocation_urls: Vec<String>,
    /// Set when the DER could not be parsed; the other fields are then empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_error: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CertificateChain {
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub frame: u64,
    /// Shared with every other connection that sent the same DER (see `proto::cert_cache`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<Arc<Certificate>>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerKeyExchange {
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub frame: u64,
    /// Named group of an ECDHE exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Size of the DH prime of a DHE exchange, in bits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dh_prime_bits: Option<u32>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Alert {
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    pub frame: u64,
    #[serde(serialize_with = "crate::time::ser_ts", deserialize_with = "crate::time::de_ts")]
    pub ts: Nanos,
    pub sender: Role,
    /// `warning` / `fatal`; absent for an encrypted alert that could not be decrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<AlertLevel>,
    /// snake_case RFC name; absent for an encrypted alert that could not be decrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<AlertDescription>,
    /// Sent encrypted (after the sender's keys changed).
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    pub encrypted: bool,
    /// Encrypted on the wire and read with the key log's secrets.
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    pub decrypted: bool,
}

impl Alert {
    pub fn is_fatal(&self) -> bool {
        self.level == Some(AlertLevel::FATAL)
    }
    /// Encrypted and unread: only its sender, size and time are known.
    pub fn is_opaque(&self) -> bool {
        self.description.is_none()
    }
}

pub const MAX_TICKETS_KEPT: usize = 4;

/// A client's offer to resume an earlier session (accepted when `tls.resumed` is set).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Resumption {
    /// How it was offered: `session_id` (TLS 1.2 session cache), `ticket` (RFC 5077) or `psk`
    /// (TLS 1.3).
    #[serde(deserialize_with = "de_resumption_offer")]
    pub offered: crate::schema::StaticName,
    /// The connection whose handshake issued the offered session, when the capture holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<SessionOrigin>,
}

/// Another connection of the same input, named as the report names connections.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionOrigin {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub server: String,
    /// The frame of its message that matters here: the ServerHello or NewSessionTicket that
    /// issued the session, or an FTPS control connection's ServerHello.
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub frame: u64,
}

/// Size and frame of an encrypted record, kept for the first few records of each side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecordSeen {
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub frame: u64,
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub content_type: u8,
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub length: u16,
    /// When its frame was captured (for the HTML report's ladder).
    #[serde(skip)]
    pub ts: Nanos,
}

/// Per-side observations after the hellos.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SideFacts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_cipher_spec: Option<u64>,
    /// First encrypted handshake record (Finished in TLS 1.2) or first encrypted TLS 1.3 record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_data: Option<u64>,
    /// First encrypted records, in order (at most [`MAX_RECORDS_KEPT`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub encrypted_records: Vec<RecordSeen>,
    /// A gap in the captured bytes of this side before the handshake was over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gap: Option<u64>,
    /// After the gap, the frame where reading went on at the next record header found; what
    /// was learned from there on comes after bytes the capture lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resynced: Option<u64>,
    /// The first resync whose header was found past the first byte after its hole, by a search
    /// (a header that begins the first segment after a hole is where the sender's record began,
    /// as sure as one read in order; one found inside the bytes is a match that is confirmed by
    /// the next header only). Not in the JSON: `resynced` and the verdict's words say it.
    #[serde(skip)]
    pub resynced_by_search: Option<u64>,
    /// Plaintext handshake messages in order, each with the frame Wireshark shows it in.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<MessageSeen>,
}

/// A plaintext handshake message and its frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageSeen {
    #[serde(deserialize_with = "de_handshake_message")]
    pub message: crate::schema::StaticName,
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    pub frame: u64,
    /// When its frame was captured (for the HTML report's ladder; the frame is the schema's).
    #[serde(skip)]
    pub ts: Nanos,
}

pub const MAX_RECORDS_KEPT: usize = 8;

/// An encrypted TLS 1.3 record no longer than this has the size of an alert: 19 bytes (2 bytes,
/// the inner type and a 16-byte tag) with up to 16 bytes of padding, as JSSE pads every record.
/// It may also be a few bytes of data: the size alone never settles it (see
/// [`super::record_size`] for what a record can and cannot be).
pub const TLS13_ALERT_SIZED: u16 = 35;
/// A client's TLS 1.3 record this much larger than the smallest Finished of its suite carries
/// more than a padded Finished: a Certificate (the smallest real certificate is a few hundred
/// bytes).
pub const TLS13_CERTIFICATE_MARGIN: u16 = 128;

/// The first bytes of a side that does not speak TLS (an HTTP answer on a TLS port, say).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NonTls {
    pub sender: Role,
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    pub frame: u64,
    /// Up to 64 bytes, non-printable ones shown as `.`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub preview: String,
    /// The other side's first bytes after it, when there were any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<Answer>,
}

/// What the peer of a side that spoke something other than TLS sent back.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Answer {
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub frame: u64,
    /// The answer was a TLS record: a TLS service got the other protocol.
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub tls_record: bool,
    /// A plaintext alert's name, when the answer was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    /// Up to 64 bytes, non-printable ones shown as `.`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub preview: String,
}

/// Everything the TLS analyzer learned about one connection.
/// Bytes a client sent before its ClientHello that are not TLS.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Prologue {
    /// The frame the prologue began in.
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub frame: u64,
    /// How many bytes came before the ClientHello's record.
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub bytes: usize,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsFacts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_hello: Option<ClientHello>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hello_retry_request: Option<HelloRetryRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_hello: Option<ServerHello>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_certificates: Option<CertificateChain>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_key_exchange: Option<ServerKeyExchange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_request: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_certificates: Option<CertificateChain>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key_exchange: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_session_ticket: Option<u64>,
    /// Fingerprints of the tickets the server issued (first 8 bytes of the ticket's SHA-256, in
    /// hex; at most [`MAX_TICKETS_KEPT`]): a later ClientHello offering one resumes this session.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tickets_issued: Vec<String>,
    /// The client's offer to resume an earlier session, and where that session came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumption: Option<Resumption>,
    /// FTPS: the TLS control connection (port 21 or 990) between the same hosts that was open
    /// when this connection began; this one is then its data connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ftps_control: Option<SessionOrigin>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<Alert>,
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub client: SideFacts,
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub server: SideFacts,
    /// Frame where both Finished messages had been seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handshake_complete: Option<u64>,
    /// When that frame was captured.
    #[serde(skip)]
    pub handshake_complete_ts: Option<Nanos>,
    /// TLS 1.3: the server's first record after the client's Finished (a NewSessionTicket or
    /// data when all went well; alert-sized when the server refused the client's flight).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_reply_to_finished: Option<RecordSeen>,
    /// How many records the server sent after the one [`Self::server_reply_to_finished`]
    /// names, counted up to one: after a fatal alert a sender sends nothing more.
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub server_records_after_reply: u8,
    /// The client's first record after the handshake completed (application data or an
    /// alert). None when the client ended the connection without one: clients that check the
    /// certificate only after the handshake (Node.js, wget with GnuTLS) close like that.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_record_after_complete: Option<RecordSeen>,
    /// A second ClientHello on the same connection that no HelloRetryRequest asked for (a
    /// client restarting its handshake, or a device replaying it): servers abort on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeated_client_hello: Option<u64>,
    /// An abbreviated handshake (session id, ticket or PSK resumption).
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub resumed: bool,
    /// The first bytes of a side that did not begin with TLS (plaintext before STARTTLS, or a
    /// service that does not speak TLS at all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub non_tls: Option<NonTls>,
    /// TLS began after a plaintext exchange (STARTTLS and similar upgrades).
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub starttls: bool,
    /// The client sent bytes that are not TLS before its ClientHello while the server had said
    /// nothing (a proxy header, a wrapper this tool does not know).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_prologue: Option<Prologue>,
    /// Encrypted handshake records or alerts were read with secrets from a key log.
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub decrypted: bool,
    /// Problems decoding this connection (malformed records or messages, limits reached): the
    /// sentences of the analyzer's typed problems (`proto::tls::TlsProblem`), written when it
    /// hands its facts over.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl TlsFacts {
    pub fn side(&self, role: Role) -> &SideFacts {
        match role {
            Role::Client => &self.client,
            Role::Server => &self.server,
        }
    }
    pub fn side_mut(&mut self, role: Role) -> &mut SideFacts {
        match role {
            Role::Client => &mut self.client,
            Role::Server => &mut self.server,
        }
    }
    /// The certificate chain a side sent.
    pub fn certificates_mut(&mut self, role: Role) -> &mut Option<CertificateChain> {
        match role {
            Role::Client => &mut self.client_certificates,
            Role::Server => &mut self.server_certificates,
        }
    }
    pub fn first_fatal_alert(&self) -> Option<&Alert> {
        self.alerts.iter().find(|a| a.is_fatal())
    }
}

impl ServerHello {
    /// The chosen suite's name, `SSL2` for an SSL 2.0 server.
    pub fn suite_name(&self) -> Name {
        self.cipher_suite.map_or("SSL2".into(), CipherSuite::name)
    }
}

fn ser_chosen_suite<S: serde::Serializer>(suite: &Option<CipherSuite>, s: S) -> Result<S::Ok, S::Error> {
    match suite {
        Some(suite) => suite.serialize(s),
        None => s.serialize_str("SSL2"),
    }
}

fn de_chosen_suite<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<CipherSuite>, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    match text.as_ref() {
        "SSL2" => Ok(None),
        _ => CipherSuite::from_name(&text)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown cipher suite {text:?}"))),
    }
}

fn de_resumption_offer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    crate::schema::known_name(d, "resumption offer", |t| ["session_id", "ticket", "psk"].into_iter().find(|c| *c == t))
}

fn de_handshake_message<'de, D: serde::Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    crate::schema::known_name(d, "handshake message", |t| {
        (0..=u8::MAX).map(super::messages::handshake_name).find(|name| *name == t)
    })
}
