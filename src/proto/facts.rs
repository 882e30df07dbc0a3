//! What the TLS analyzer learned about one connection: plain data, serialised as the `tls`
//! object of the JSON schema. Names are resolved here (IANA, RFC) so every consumer prints the
//! same thing.

use crate::capture::Nanos;
use crate::names::Name;
use serde::Serialize;
use std::sync::Arc;

/// Where and when something was seen: the frame Wireshark shows it in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Seen {
    pub frame: u64,
    #[serde(serialize_with = "crate::report::ser_ts")]
    pub ts: Nanos,
}

/// Which end of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Client,
    Server,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ClientHello {
    pub frame: u64,
    /// The version field of the ClientHello body.
    pub legacy_version: String,
    /// supported_versions (TLS 1.3 style), GREASE removed; empty when the extension is absent.
    pub supported_versions: Vec<String>,
    /// The highest version offered, taking supported_versions into account.
    pub max_version: String,
    pub cipher_suites: Vec<Name>,
    #[serde(skip)]
    pub cipher_suite_ids: Vec<u16>,
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    pub supported_groups: Vec<Name>,
    pub signature_algorithms: Vec<Name>,
    pub key_share_groups: Vec<Name>,
    /// Every extension in the order sent.
    pub extensions: Vec<Name>,
    pub extended_master_secret: bool,
    /// Hex of the legacy session id (empty when none).
    pub session_id: String,
    /// The client sent a non-empty session ticket (RFC 5077).
    pub session_ticket: bool,
    /// Fingerprint of that ticket (see `tickets_issued`).
    pub ticket_id: Option<String>,
    /// The client offered a TLS 1.3 pre-shared key (resumption).
    pub psk: bool,
    /// Fingerprint of the first PSK identity offered (the ticket of a TLS 1.3 NewSessionTicket).
    pub psk_identity_id: Option<String>,
    pub early_data: bool,
    /// Sent in the SSLv2-compatible record format.
    pub sslv2_format: bool,
    /// JA3 fingerprint (MD5 hex), as tshark's tls.handshake.ja3; empty for SSLv2-format hellos.
    pub ja3: String,
    /// JA4 fingerprint of the client (FoxIO's specification, TCP).
    pub ja4: String,
    /// The key a key log is indexed by.
    #[serde(skip)]
    pub random: [u8; 32],
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ServerHello {
    pub frame: u64,
    pub legacy_version: String,
    /// The negotiated version (supported_versions when present, else legacy_version).
    pub version: String,
    pub cipher_suite: String,
    #[serde(skip)]
    pub cipher_suite_id: u16,
    #[serde(skip)]
    pub version_id: u16,
    pub extensions: Vec<Name>,
    pub extended_master_secret: bool,
    pub alpn: Option<String>,
    pub key_share_group: Option<String>,
    pub session_id: String,
    /// The server accepted a TLS 1.3 pre-shared key.
    pub psk_accepted: bool,
    /// JA3S fingerprint (MD5 hex), as tshark's tls.handshake.ja3s.
    pub ja3s: String,
    /// Needed with the client's to derive TLS 1.2 record keys.
    #[serde(skip)]
    pub random: [u8; 32],
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct HelloRetryRequest {
    pub frame: u64,
    pub cipher_suite: String,
    pub selected_group: Option<String>,
}

/// One X.509 certificate of a chain.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Certificate {
    pub subject: String,
    pub issuer: String,
    /// DNS names and IP addresses of subjectAltName.
    pub san: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    #[serde(skip)]
    pub not_before_unix: i64,
    #[serde(skip)]
    pub not_after_unix: i64,
    pub signature_algorithm: String,
    pub key_type: String,
    pub key_bits: Option<u32>,
    /// Extended key usages by name (`serverAuth`, `clientAuth`, ...); empty when absent.
    pub extended_key_usage: Vec<String>,
    pub self_signed: bool,
    pub is_ca: bool,
    /// CRL distribution points and OCSP responders (URLs), where clients check revocation.
    pub revocation_urls: Vec<String>,
    /// Set when the DER could not be parsed; the other fields are then empty.
    pub parse_error: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct CertificateChain {
    pub frame: u64,
    /// Shared with every other connection that sent the same DER (see `proto::cert_cache`).
    pub certificates: Vec<Arc<Certificate>>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ServerKeyExchange {
    pub frame: u64,
    /// Named group of an ECDHE exchange.
    pub group: Option<String>,
    /// Size of the DH prime of a DHE exchange, in bits.
    pub dh_prime_bits: Option<u32>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Alert {
    pub frame: u64,
    #[serde(serialize_with = "crate::report::ser_ts")]
    pub ts: Nanos,
    pub sender: Role,
    /// `warning` / `fatal`; absent for an encrypted alert that could not be decrypted.
    pub level: Option<String>,
    /// snake_case RFC name; absent for an encrypted alert that could not be decrypted.
    pub description: Option<String>,
    #[serde(skip)]
    pub code: Option<u8>,
    /// Sent encrypted (after the sender's keys changed).
    pub encrypted: bool,
    /// Encrypted on the wire and read with the key log's secrets.
    pub decrypted: bool,
}

impl Alert {
    pub fn is_fatal(&self) -> bool {
        self.level.as_deref() == Some("fatal")
    }
    /// Encrypted and unread: only its sender, size and time are known.
    pub fn is_opaque(&self) -> bool {
        self.description.is_none()
    }
}

pub const MAX_TICKETS_KEPT: usize = 4;

/// A client's offer to resume an earlier session (accepted when `tls.resumed` is set).
#[derive(Clone, Debug, Serialize)]
pub struct Resumption {
    /// How it was offered: `session_id` (TLS 1.2 session cache), `ticket` (RFC 5077) or `psk`
    /// (TLS 1.3).
    pub offered: &'static str,
    /// The connection whose handshake issued the offered session, when the capture holds it.
    pub from: Option<SessionOrigin>,
}

/// Another connection of the same input, named as the report names connections.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionOrigin {
    pub client: String,
    pub server: String,
    /// The frame of its message that matters here: the ServerHello or NewSessionTicket that
    /// issued the session, or an FTPS control connection's ServerHello.
    pub frame: u64,
}

/// Size and frame of an encrypted record, kept for the first few records of each side.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct RecordSeen {
    pub frame: u64,
    pub content_type: u8,
    pub length: u16,
}

/// Per-side observations after the hellos.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SideFacts {
    pub change_cipher_spec: Option<u64>,
    /// First encrypted handshake record (Finished in TLS 1.2) or first encrypted TLS 1.3 record.
    pub finished: Option<u64>,
    pub application_data: Option<u64>,
    /// First encrypted records, in order (at most [`MAX_RECORDS_KEPT`]).
    pub encrypted_records: Vec<RecordSeen>,
    /// A gap in the captured bytes of this side before the handshake was over.
    pub gap: Option<u64>,
    /// After the gap, the frame where reading went on at the next record header found; what
    /// was learned from there on comes after bytes the capture lost.
    pub resynced: Option<u64>,
    /// Plaintext handshake messages in order, each with the frame Wireshark shows it in.
    pub messages: Vec<MessageSeen>,
}

/// A plaintext handshake message and its frame.
#[derive(Clone, Debug, Serialize)]
pub struct MessageSeen {
    pub message: &'static str,
    pub frame: u64,
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
#[derive(Clone, Debug, Serialize)]
pub struct NonTls {
    pub sender: Role,
    pub frame: u64,
    /// Up to 64 bytes, non-printable ones shown as `.`.
    pub preview: String,
    /// The other side's first bytes after it, when there were any.
    pub answer: Option<Answer>,
}

/// What the peer of a side that spoke something other than TLS sent back.
#[derive(Clone, Debug, Serialize)]
pub struct Answer {
    pub frame: u64,
    /// The answer was a TLS record: a TLS service got the other protocol.
    pub tls_record: bool,
    /// A plaintext alert's name, when the answer was one.
    pub alert: Option<String>,
    /// Up to 64 bytes, non-printable ones shown as `.`.
    pub preview: String,
}

/// Everything the TLS analyzer learned about one connection.
/// Bytes a client sent before its ClientHello that are not TLS.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Prologue {
    /// The frame the prologue began in.
    pub frame: u64,
    /// How many bytes came before the ClientHello's record.
    pub bytes: usize,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TlsFacts {
    pub client_hello: Option<ClientHello>,
    pub hello_retry_request: Option<HelloRetryRequest>,
    pub server_hello: Option<ServerHello>,
    pub server_certificates: Option<CertificateChain>,
    pub server_key_exchange: Option<ServerKeyExchange>,
    pub certificate_request: Option<u64>,
    pub client_certificates: Option<CertificateChain>,
    pub client_key_exchange: Option<u64>,
    pub new_session_ticket: Option<u64>,
    /// Fingerprints of the tickets the server issued (first 8 bytes of the ticket's SHA-256, in
    /// hex; at most [`MAX_TICKETS_KEPT`]): a later ClientHello offering one resumes this session.
    pub tickets_issued: Vec<String>,
    /// The client's offer to resume an earlier session, and where that session came from.
    pub resumption: Option<Resumption>,
    /// FTPS: the TLS control connection (port 21 or 990) between the same hosts that was open
    /// when this connection began; this one is then its data connection.
    pub ftps_control: Option<SessionOrigin>,
    pub alerts: Vec<Alert>,
    pub client: SideFacts,
    pub server: SideFacts,
    /// Frame where both Finished messages had been seen.
    pub handshake_complete: Option<u64>,
    /// When that frame was captured.
    #[serde(skip)]
    pub handshake_complete_ts: Option<Nanos>,
    /// TLS 1.3: the server's first record after the client's Finished (a NewSessionTicket or
    /// data when all went well; alert-sized when the server refused the client's flight).
    pub server_reply_to_finished: Option<RecordSeen>,
    /// How many records the server sent after the one [`Self::server_reply_to_finished`]
    /// names, counted up to one: after a fatal alert a sender sends nothing more.
    pub server_records_after_reply: u8,
    /// The client's first record after the handshake completed (application data or an
    /// alert). None when the client ended the connection without one: clients that check the
    /// certificate only after the handshake (Node.js, wget with GnuTLS) close like that.
    pub client_record_after_complete: Option<RecordSeen>,
    /// A second ClientHello on the same connection that no HelloRetryRequest asked for (a
    /// client restarting its handshake, or a device replaying it): servers abort on it.
    pub repeated_client_hello: Option<u64>,
    /// An abbreviated handshake (session id, ticket or PSK resumption).
    pub resumed: bool,
    /// The first bytes of a side that did not begin with TLS (plaintext before STARTTLS, or a
    /// service that does not speak TLS at all).
    pub non_tls: Option<NonTls>,
    /// TLS began after a plaintext exchange (STARTTLS and similar upgrades).
    pub starttls: bool,
    /// The client sent bytes that are not TLS before its ClientHello while the server had said
    /// nothing (a proxy header, a wrapper this tool does not know).
    pub client_prologue: Option<Prologue>,
    /// Encrypted handshake records or alerts were read with secrets from a key log.
    pub decrypted: bool,
    /// Problems decoding this connection (malformed records or messages, limits reached).
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
