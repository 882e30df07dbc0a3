//! MS-TDS (SQL Server) around TLS. TDS 7.x does not start TLS on the socket: the client sends
//! a PRELOGIN message (packet type 0x12) whose ENCRYPTION option, with the server's answer
//! (type 0x04), decides whether TLS follows; the TLS handshake records then travel as the
//! payload of further PRELOGIN packets, and once the handshake is over TLS continues raw on the
//! socket. This module recognises a PRELOGIN by content (any port), decodes both sides'
//! options, and unwraps the handshake records so the TLS analyzer sees the byte stream a plain
//! TLS connection would carry. TDS 8.0 (strict) runs TLS first, with ALPN `tds/8.0`: that one
//! is recognised from the ClientHello.

use super::Side;
use serde::{Deserialize, Serialize};

/// TDS packet types (MS-TDS 2.2.3.1.1) seen around the handshake.
const PRELOGIN: u8 = 0x12;
const TABULAR_RESULT: u8 = 0x04;
/// Status bit: last packet of a message.
const END_OF_MESSAGE: u8 = 0x01;
const HEADER_LEN: usize = 8;
/// Packet sizes are negotiated up to 32,767 bytes; a PRELOGIN packet is far smaller, but the
/// packets that carry TLS use the client's packet size.
const MAX_PACKET: usize = 32_768;
/// A PRELOGIN option table is a few dozen bytes; more than this is not a PRELOGIN message.
const MAX_PRELOGIN_MESSAGE: usize = 4096;
/// TLS bytes of one TDS message held until its last packet. A handshake flight (certificate
/// chain included) is far smaller; past this the bytes are passed on before the message ends.
const MAX_TLS_MESSAGE: usize = 256 * 1024;
/// The ALPN protocol ID of TDS 8.0.
pub const ALPN_TDS8: &str = "tds/8.0";

/// How TDS wraps TLS on this connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TdsMode {
    /// TDS 7.x: PRELOGIN in the clear, TLS handshake inside PRELOGIN packets.
    Prelogin,
    /// TDS 8.0: TLS first (ALPN tds/8.0), PRELOGIN inside TLS.
    Strict,
}

/// The ENCRYPTION option values (MS-TDS 2.2.6.5), without the CLIENT_CERT bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encryption {
    #[serde(rename = "OFF")]
    Off,
    #[serde(rename = "ON")]
    On,
    #[serde(rename = "NOT_SUP")]
    NotSup,
    #[serde(rename = "REQ")]
    Req,
    /// A value the specification does not define.
    #[serde(rename = "unknown")]
    Unknown,
}

impl Encryption {
    fn from_byte(b: u8) -> Self {
        match b & 0x7f {
            0 => Encryption::Off,
            1 => Encryption::On,
            2 => Encryption::NotSup,
            3 => Encryption::Req,
            _ => Encryption::Unknown,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Encryption::Off => "OFF",
            Encryption::On => "ON",
            Encryption::NotSup => "NOT_SUP",
            Encryption::Req => "REQ",
            Encryption::Unknown => "unknown",
        }
    }
}

/// What the two PRELOGIN messages settle about encryption (the table of MS-TDS 2.2.6.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Negotiated {
    /// Everything encrypted.
    Full,
    /// Both sides said OFF: TLS protects the LOGIN7 packet only.
    LoginOnly,
    /// Neither side wants encryption: no TLS at all.
    None,
    /// The server requires encryption the client does not support: the server ends it.
    ServerRequiresClientCannot,
    /// The client requires encryption the server does not support: the client ends it.
    ClientRequiresServerCannot,
}

impl Negotiated {
    pub fn of(client: Encryption, server: Encryption) -> Negotiated {
        use Encryption::*;
        match (client, server) {
            (NotSup, On | Req) => Negotiated::ServerRequiresClientCannot,
            (On | Req, NotSup) => Negotiated::ClientRequiresServerCannot,
            (_, NotSup) | (NotSup, _) => Negotiated::None,
            (Off, Off) => Negotiated::LoginOnly,
            _ => Negotiated::Full,
        }
    }
    /// A TLS handshake is expected after the PRELOGIN exchange.
    pub fn expects_tls(self) -> bool {
        matches!(self, Negotiated::Full | Negotiated::LoginOnly)
    }
}

/// One side's PRELOGIN message. Options it did not send are absent.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Prelogin {
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub frame: u64,
    /// The TDS packet type it came in: 0x12 (PRELOGIN) from a client, 0x04 from a server.
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub packet_type: u8,
    /// UL_VERSION as major.minor.build (the product version of the sender).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_build: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
    /// The CLIENT_CERT bit of ENCRYPTION (certificate authentication requested).
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub client_cert: bool,
    /// INSTOPT: the instance name a client asks for; a server answers 0 when it matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mars: Option<bool>,
    /// TRACEID: connection id and activity id GUIDs with the activity sequence, as hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fed_auth_required: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// What the TDS layer learned about one connection (the `tds` object of the JSON schema).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TdsFacts {
    pub mode: TdsMode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<Prelogin>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<Prelogin>,
    /// Settled once both PRELOGIN messages are seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub negotiated: Option<Negotiated>,
    /// TDS packet type of the first server packet that carried TLS (SQL Server uses 0x12;
    /// some servers answer in 0x04).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_tls_packet_type: Option<u8>,
    /// Frame of the first TDS packet after PRELOGIN that was neither PRELOGIN nor TLS (a
    /// LOGIN7 in the clear, when no encryption was negotiated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plaintext_after_prelogin: Option<u64>,
    /// Problems decoding the TDS framing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl TdsFacts {
    fn new(mode: TdsMode) -> Self {
        TdsFacts {
            mode,
            client: None,
            server: None,
            negotiated: None,
            server_tls_packet_type: None,
            plaintext_after_prelogin: None,
            errors: Vec::new(),
        }
    }

    /// The facts of a TDS 8.0 connection, known only from its ClientHello.
    pub fn strict() -> Self {
        TdsFacts { negotiated: Some(Negotiated::Full), ..TdsFacts::new(TdsMode::Strict) }
    }
}

/// What the current packet of a side carries.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum Carries {
    #[default]
    PreloginOptions,
    Tls,
}

#[derive(Default)]
struct SideState {
    header: [u8; HEADER_LEN],
    header_len: usize,
    /// Payload bytes of the current packet still to come.
    remaining: usize,
    end_of_message: bool,
    carries: Carries,
    /// The PRELOGIN message being collected.
    message: Vec<u8>,
    /// TLS bytes of the current message: handed on when the message ends, so a record is
    /// dated to the frame that completes its TDS message, as Wireshark shows it.
    tls_message: Vec<u8>,
    message_frame: u64,
    message_type: u8,
    /// This side's PRELOGIN message has been read: further PRELOGIN packets carry TLS.
    prelogin_done: bool,
    /// TLS continues without TDS framing.
    raw: bool,
    /// Nothing more is read from this side.
    stopped: bool,
}

/// Unwraps the TLS handshake from a TDS 7.x connection's PRELOGIN packets.
pub struct TdsUnwrapper {
    sides: [SideState; 2],
    /// The side that sent the first PRELOGIN.
    client: Option<Side>,
    pub facts: TdsFacts,
}

/// Whether a side's first bytes are a TDS PRELOGIN message.
#[derive(Debug, PartialEq, Eq)]
pub enum Detection {
    Prelogin,
    /// The bytes so far begin like one; more are needed to tell.
    NeedMore,
    No,
}

/// Tells whether `bytes`, the first of a side's stream, hold a client's PRELOGIN: a TDS header
/// of type 0x12 with a plausible length, and a payload that is a valid option table.
pub fn detect(bytes: &[u8]) -> Detection {
    if bytes.first() != Some(&PRELOGIN) {
        return Detection::No;
    }
    if bytes.len() < HEADER_LEN {
        return Detection::NeedMore;
    }
    let len = u16::from_be_bytes([bytes[2], bytes[3]]) as usize;
    if !(HEADER_LEN + 1..=MAX_PRELOGIN_MESSAGE).contains(&len) || bytes[1] & 0xe0 != 0 {
        return Detection::No;
    }
    match bytes.get(HEADER_LEN..len) {
        Some(payload) if parse_options(payload).is_some() => Detection::Prelogin,
        Some(_) => Detection::No,
        None => Detection::NeedMore,
    }
}

/// The (token, value) pairs of a PRELOGIN option table, or None when it is not one: the table
/// ends with 0xFF and every option's value lies in the payload after the table.
fn parse_options(payload: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut entries = Vec::new();
    let mut pos = 0;
    while *payload.get(pos)? != 0xff {
        let entry = payload.get(pos..pos + 5)?;
        let offset = u16::from_be_bytes([entry[1], entry[2]]) as usize;
        let len = u16::from_be_bytes([entry[3], entry[4]]) as usize;
        entries.push((entry[0], offset, len));
        pos += 5;
        if entries.len() > 32 {
            return None;
        }
    }
    let table_end = pos + 1;
    if entries.is_empty() {
        return None;
    }
    entries
        .into_iter()
        .map(|(token, offset, len)| {
            let value = payload.get(offset..offset + len)?;
            (len == 0 || offset >= table_end).then_some((token, value))
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    super::messages::hex(bytes)
}

fn decode_prelogin(payload: &[u8], packet_type: u8, frame: u64) -> Option<Prelogin> {
    let mut p = Prelogin { frame, packet_type, ..Default::default() };
    for (token, value) in parse_options(payload)? {
        match (token, value) {
            (0, [major, minor, b0, b1, s0, s1, ..]) => {
                p.version = Some(format!("{major}.{minor}.{}", u16::from_be_bytes([*b0, *b1])));
                p.sub_build = Some(u16::from_be_bytes([*s0, *s1]));
            }
            (1, [e, ..]) => {
                p.encryption = Some(Encryption::from_byte(*e));
                p.client_cert = e & 0x80 != 0;
            }
            (2, v) if !v.is_empty() => {
                let name = v.split(|&b| b == 0).next().unwrap_or_default();
                p.instance = Some(String::from_utf8_lossy(name).into_owned());
            }
            (3, [a, b, c, d, ..]) => p.thread_id = Some(u32::from_be_bytes([*a, *b, *c, *d])),
            (4, [m, ..]) => p.mars = Some(*m != 0),
            (5, v) if !v.is_empty() => p.trace_id = Some(hex(v)),
            (6, [f, ..]) => p.fed_auth_required = Some(*f != 0),
            (7, v) if !v.is_empty() => p.nonce = Some(hex(v)),
            _ => {}
        }
    }
    Some(p)
}

impl TdsUnwrapper {
    pub fn new() -> Self {
        TdsUnwrapper { sides: Default::default(), client: None, facts: TdsFacts::new(TdsMode::Prelogin) }
    }

    /// The side that sent the client's PRELOGIN.
    pub fn client_side(&self) -> Option<Side> {
        self.client
    }

    /// True once a side left the framing the handshake needs (plain TDS after PRELOGIN, or
    /// bytes that are not TDS): nothing more is read from it.
    pub fn stopped(&self, side: Side) -> bool {
        self.sides[side].stopped
    }

    /// Takes the next in-order bytes of a side and appends the TLS bytes they carry to `tls`.
    pub fn unwrap(&mut self, side: Side, mut data: &[u8], frame: u64, tls: &mut Vec<u8>) {
        while !data.is_empty() && !self.sides[side].stopped {
            let st = &mut self.sides[side];
            if st.raw {
                tls.append(&mut st.tls_message);
                tls.extend_from_slice(data);
                break;
            }
            if st.remaining > 0 {
                let n = st.remaining.min(data.len());
                match st.carries {
                    Carries::Tls => st.tls_message.extend_from_slice(&data[..n]),
                    Carries::PreloginOptions => st.message.extend_from_slice(&data[..n]),
                }
                st.remaining -= n;
                data = &data[n..];
                if st.remaining == 0 {
                    self.end_of_packet(side, tls);
                }
                continue;
            }
            // A packet boundary. After PRELOGIN, a record header (content types 20 to 23, no
            // TDS packet type) means the side has switched to raw TLS.
            if st.header_len == 0 && st.prelogin_done && (20..=23).contains(&data[0]) {
                st.raw = true;
                continue;
            }
            let n = (HEADER_LEN - st.header_len).min(data.len());
            st.header[st.header_len..st.header_len + n].copy_from_slice(&data[..n]);
            st.header_len += n;
            data = &data[n..];
            if st.header_len == HEADER_LEN {
                st.header_len = 0;
                self.start_packet(side, frame, tls);
            }
        }
    }

    fn start_packet(&mut self, side: Side, frame: u64, tls: &mut Vec<u8>) {
        let st = &mut self.sides[side];
        let [ptype, status, l0, l1, ..] = st.header;
        let len = u16::from_be_bytes([l0, l1]) as usize;
        if !(HEADER_LEN..=MAX_PACKET).contains(&len) {
            self.facts.errors.push(format!("bytes that are not a TDS packet header in frame {frame}"));
            st.stopped = true;
            return;
        }
        st.remaining = len - HEADER_LEN;
        st.end_of_message = status & END_OF_MESSAGE != 0;
        match (ptype, st.prelogin_done) {
            (PRELOGIN | TABULAR_RESULT, false) => {
                st.carries = Carries::PreloginOptions;
                if st.message.is_empty() {
                    st.message_frame = frame;
                    st.message_type = ptype;
                }
            }
            (PRELOGIN | TABULAR_RESULT, true) => {
                st.carries = Carries::Tls;
                if self.client != Some(side) {
                    self.facts.server_tls_packet_type.get_or_insert(ptype);
                }
            }
            _ => {
                // Plain TDS (LOGIN7, a batch): the connection goes on without TLS.
                self.facts.plaintext_after_prelogin.get_or_insert(frame);
                self.sides[side].stopped = true;
                return;
            }
        }
        if self.sides[side].remaining == 0 {
            self.end_of_packet(side, tls);
        }
    }

    fn end_of_packet(&mut self, side: Side, tls: &mut Vec<u8>) {
        let st = &mut self.sides[side];
        if st.carries == Carries::Tls {
            if st.end_of_message || st.tls_message.len() > MAX_TLS_MESSAGE {
                tls.append(&mut st.tls_message);
            }
            return;
        }
        if st.message.len() > MAX_PRELOGIN_MESSAGE {
            self.facts.errors.push(format!("PRELOGIN message from frame {} too long", st.message_frame));
            st.stopped = true;
            return;
        }
        if !st.end_of_message {
            return;
        }
        st.prelogin_done = true;
        let message = std::mem::take(&mut st.message);
        let (frame, ptype) = (st.message_frame, st.message_type);
        let Some(prelogin) = decode_prelogin(&message, ptype, frame) else {
            self.facts.errors.push(format!("malformed PRELOGIN option table in frame {frame}"));
            self.sides[side].stopped = true;
            return;
        };
        if self.client.is_none() && ptype == PRELOGIN {
            self.client = Some(side);
        }
        if self.client == Some(side) {
            self.facts.client = Some(prelogin);
        } else {
            self.facts.server = Some(prelogin);
        }
        let encryption = |p: &Option<Prelogin>| p.as_ref().map(|p| p.encryption.unwrap_or(Encryption::NotSup));
        if let (Some(c), Some(s)) = (encryption(&self.facts.client), encryption(&self.facts.server)) {
            self.facts.negotiated = Some(Negotiated::of(c, s));
        }
    }
}

impl Default for TdsUnwrapper {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TDS packet around `payload`.
    fn packet(ptype: u8, status: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![ptype, status];
        p.extend_from_slice(&((payload.len() + HEADER_LEN) as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0, 1, 0]);
        p.extend_from_slice(payload);
        p
    }

    /// The client PRELOGIN of MS-TDS section 4.1 (the specification's example), options only.
    fn spec_client_prelogin() -> Vec<u8> {
        vec![
            0x00, 0x00, 0x1A, 0x00, 0x06, 0x01, 0x00, 0x20, 0x00, 0x01, 0x02, 0x00, 0x21, 0x00, 0x01, 0x03, 0x00, 0x22,
            0x00, 0x04, 0x04, 0x00, 0x26, 0x00, 0x01, 0xFF, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0xB8, 0x0D,
            0x00, 0x00, 0x01,
        ]
    }

    #[test]
    fn decodes_the_specification_example() {
        let p = decode_prelogin(&spec_client_prelogin(), PRELOGIN, 4).expect("valid table");
        assert_eq!(p.version.as_deref(), Some("9.0.0"));
        assert_eq!(p.sub_build, Some(0));
        assert_eq!(p.encryption, Some(Encryption::On));
        assert_eq!(p.instance.as_deref(), Some(""));
        // Big-endian, as tshark reads THREADID (checked on FreeTDS captures).
        assert_eq!(p.thread_id, Some(0xB80D_0000));
        assert_eq!(p.mars, Some(true));
    }

    #[test]
    fn detects_prelogin_by_content_only() {
        let msg = packet(PRELOGIN, 1, &spec_client_prelogin());
        assert_eq!(detect(&msg), Detection::Prelogin);
        assert_eq!(detect(&msg[..10]), Detection::NeedMore);
        assert_eq!(detect(b"\x12GET / HTTP/1.1\r\n"), Detection::No);
        // Type 0x12 but an option pointing outside the payload.
        let mut bad = spec_client_prelogin();
        bad[1] = 0x40;
        assert_eq!(detect(&packet(PRELOGIN, 1, &bad)), Detection::No);
    }

    #[test]
    fn negotiation_follows_the_specification_table() {
        use Encryption::*;
        assert_eq!(Negotiated::of(NotSup, Req), Negotiated::ServerRequiresClientCannot);
        assert_eq!(Negotiated::of(On, NotSup), Negotiated::ClientRequiresServerCannot);
        assert_eq!(Negotiated::of(Off, NotSup), Negotiated::None);
        assert_eq!(Negotiated::of(NotSup, Off), Negotiated::None);
        assert_eq!(Negotiated::of(Off, Off), Negotiated::LoginOnly);
        assert_eq!(Negotiated::of(Off, Req), Negotiated::Full);
        assert_eq!(Negotiated::of(On, On), Negotiated::Full);
    }

    #[test]
    fn unwraps_a_record_split_over_packets_and_segments() {
        let record: Vec<u8> = [22, 3, 3, 0, 6, 1, 0, 0, 2, 3, 3].to_vec();
        let mut client = packet(PRELOGIN, 1, &spec_client_prelogin());
        client.extend(packet(PRELOGIN, 0, &record[..3]));
        client.extend(packet(PRELOGIN, 1, &record[3..]));
        // Raw TLS after the handshake.
        client.extend_from_slice(&[23, 3, 3, 0, 1, 0xaa]);
        let mut tds = TdsUnwrapper::new();
        let mut tls = Vec::new();
        // One byte at a time: every header and record boundary falls inside a segment.
        for b in &client {
            tds.unwrap(0, std::slice::from_ref(b), 7, &mut tls);
        }
        assert_eq!(tds.client_side(), Some(0));
        assert_eq!(tds.facts.client.as_ref().and_then(|p| p.encryption), Some(Encryption::On));
        assert!(!tds.stopped(0));
        let mut expected = record.clone();
        expected.extend_from_slice(&[23, 3, 3, 0, 1, 0xaa]);
        assert_eq!(tls, expected);
    }

    #[test]
    fn impossible_packet_lengths_stop_the_side_with_an_error() {
        for length in [0u16, 7, 0xffff] {
            let mut client = packet(PRELOGIN, 1, &spec_client_prelogin());
            client.extend_from_slice(&[PRELOGIN, 1]);
            client.extend_from_slice(&length.to_be_bytes());
            client.extend_from_slice(&[0, 0, 1, 0, 22, 3, 3]);
            let mut tds = TdsUnwrapper::new();
            let mut tls = Vec::new();
            tds.unwrap(0, &client, 5, &mut tls);
            assert!(tds.stopped(0), "length {length}");
            assert_eq!(tds.facts.errors, vec!["bytes that are not a TDS packet header in frame 5".to_string()]);
            assert!(tls.is_empty());
        }
    }

    #[test]
    fn a_prelogin_message_that_never_ends_is_cut_at_its_limit() {
        // PRELOGIN packets without the end-of-message bit, beyond any real option table.
        let mut tds = TdsUnwrapper::new();
        let mut tls = Vec::new();
        for _ in 0..10 {
            tds.unwrap(0, &packet(PRELOGIN, 0, &[0u8; 1000]), 2, &mut tls);
        }
        assert!(tds.stopped(0));
        assert_eq!(tds.facts.errors, vec!["PRELOGIN message from frame 2 too long".to_string()]);
    }

    #[test]
    fn plain_tds_after_prelogin_stops_the_side() {
        let mut client = packet(PRELOGIN, 1, &spec_client_prelogin());
        client.extend(packet(0x10, 1, b"login7"));
        let mut tds = TdsUnwrapper::new();
        let mut tls = Vec::new();
        tds.unwrap(0, &client, 9, &mut tls);
        assert!(tds.stopped(0));
        assert_eq!(tds.facts.plaintext_after_prelogin, Some(9));
        assert!(tls.is_empty());
    }
}
