//! The TLS stream analyzer: record reassembly with a size cap, handshake message reassembly,
//! and a handshake state machine of our own (tls-parser's rejects the TLS 1.3 compatibility
//! ChangeCipherSpec). It decides once per side whether the bytes are TLS at all.

use super::decrypt::{self, Opened, RecordKeys};
use super::facts::{
    Alert, MessageSeen, NonTls, Prologue, RecordSeen, Role, Seen, TlsFacts, MAX_RECORDS_KEPT, MAX_TICKETS_KEPT,
    TLS13_ALERT_SIZED,
};
use super::keylog::{KeyLog, Secrets};
use super::messages::{self, handshake_name, ServerHelloKind};
use super::openvpn::{self, OpenVpnUnwrapper};
use super::record_size;
use super::tds::{self, TdsUnwrapper};
use super::Side;
use crate::names;
use std::sync::Arc;
use tls_parser::{parse_tls_message_handshake, TlsMessage};

/// Plaintext read from a side before giving up on finding a TLS hello in it.
const MAX_PLAINTEXT_PREFIX: usize = 16 * 1024;
/// Largest TLSCiphertext fragment allowed by RFC 5246 (2^14 + 2048).
const MAX_RECORD_BODY: usize = 16384 + 2048;
/// Plaintext handshake messages kept in the evidence list per side.
const MAX_MESSAGES_KEPT: usize = 24;
/// A handshake takes a dozen records at most; past this many without an outcome (a capture that
/// starts after the handshake, a peer looping) nothing more will be learned.
const MAX_RECORDS_BEFORE_OUTCOME: u32 = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// No byte seen yet.
    Waiting,
    /// TLS records are flowing and the outcome is still open.
    Active,
    /// Outcome known (completed and confirmed, fatal alert, or nothing more to learn).
    Done,
    /// The connection does not carry TLS.
    NotTls,
}

#[derive(Default)]
struct Direction {
    /// Bytes of a record not yet complete.
    record: Vec<u8>,
    /// Bytes of a handshake message spread over several records.
    handshake: Vec<u8>,
    /// After ChangeCipherSpec (TLS 1.2) or ServerHello (TLS 1.3 server): records are opaque.
    encrypted: bool,
    /// At least one valid record was seen from this side.
    valid: bool,
    /// Nothing more is read from this side (garbage or limit).
    stopped: bool,
    /// Bytes of this side were lost: the next record header is searched for before reading on.
    resync: bool,
    /// No byte after the hole has been passed over yet: a header found now begins the first
    /// segment after it.
    resync_at_start: bool,
    /// Read keys from a key log: this side's encrypted records are opened with them.
    keys: Option<Box<RecordKeys>>,
}

pub struct TlsAnalyzer {
    dirs: [Direction; 2],
    client: Option<Side>,
    tls13: bool,
    status: Status,
    max_handshake_message: usize,
    /// Records seen on both sides, to give up on a connection whose handshake never ends.
    records: u32,
    /// Set when the connection turned out to be SQL Server's TDS, which carries the handshake
    /// inside PRELOGIN packets.
    tds: Option<Box<TdsUnwrapper>>,
    /// Set when the connection turned out to be OpenVPN over TCP, which carries the handshake
    /// inside its control channel.
    openvpn: Option<Box<OpenVpnUnwrapper>>,
    /// The TLS bytes unwrapped from TDS or OpenVPN, reused from call to call.
    unwrapped: Vec<u8>,
    /// Where this connection's secrets may be found (`--keylog`, pcapng secrets blocks).
    keylog: Option<Arc<KeyLog>>,
    /// This connection's secrets, once the ServerHello named the suite.
    secrets: Option<Box<Secrets>>,
    /// The frame of each side's first byte (a client prologue is one the server did not answer).
    first_byte: [Option<u64>; 2],
    /// A hello or ticket arrived since the flow table last looked (see `take_session_news`).
    session_news: bool,
    pub facts: TlsFacts,
}

impl TlsAnalyzer {
    pub fn new(max_handshake_message: usize) -> Self {
        TlsAnalyzer {
            dirs: Default::default(),
            client: None,
            tls13: false,
            status: Status::Waiting,
            max_handshake_message,
            records: 0,
            tds: None,
            openvpn: None,
            unwrapped: Vec::new(),
            keylog: None,
            secrets: None,
            session_news: false,
            first_byte: [None; 2],
            facts: TlsFacts::default(),
        }
    }

    /// The key log to look this connection's secrets up in when its ServerHello arrives.
    pub fn set_keylog(&mut self, keylog: Option<Arc<KeyLog>>) {
        self.keylog = keylog;
    }

    pub fn status(&self) -> Status {
        self.status
    }

    /// The side that sent the ClientHello, if known.
    pub fn client_side(&self) -> Option<Side> {
        self.client
    }

    /// Tells which side opened the TCP connection; a ClientHello overrides it.
    pub fn set_client_hint(&mut self, side: Side) {
        self.client.get_or_insert(side);
    }

    /// True while this side's bytes may still change the outcome; after the other side spoke
    /// something other than TLS, this side's first bytes still tell what listens there.
    pub fn wants(&self, side: Side) -> bool {
        match self.status {
            Status::Waiting | Status::Active => !self.dirs[side].stopped,
            Status::NotTls => self.awaiting_answer(side),
            Status::Done => false,
        }
    }

    fn awaiting_answer(&self, side: Side) -> bool {
        self.facts.non_tls.as_ref().is_some_and(|n| n.answer.is_none() && n.sender != self.role(side))
    }

    /// The first bytes answering a side that did not speak TLS.
    fn on_answer(&mut self, data: &[u8], seen: Seen) {
        let tls_record = data.len() >= 5 && (20..=24).contains(&data[0]) && data[1] == 3;
        let alert = match data {
            [21, 3, _, 0, 2, level, description, ..] if *level <= 2 => Some(names::alert(*description)),
            _ => None,
        };
        if let Some(non_tls) = self.facts.non_tls.as_mut() {
            non_tls.answer =
                Some(super::facts::Answer { frame: seen.frame, tls_record, alert, preview: preview(data) });
        }
    }

    fn role(&self, side: Side) -> Role {
        match self.client {
            Some(c) if c != side => Role::Server,
            _ => Role::Client,
        }
    }

    /// Bytes of this side's stream are missing from the capture. Reading goes on at the next
    /// record header found after the hole: the records after a lost or cut segment (a
    /// ChangeCipherSpec, a Finished, application data) still tell how the handshake ended.
    pub fn on_gap(&mut self, side: Side, frame: u64) {
        if !self.wants(side) {
            return;
        }
        let role = self.role(side);
        self.facts.side_mut(role).gap.get_or_insert(frame);
        let dir = &mut self.dirs[side];
        dir.resync = true;
        dir.resync_at_start = true;
        dir.record.clear();
        dir.handshake.clear();
    }

    /// After a gap: the offset in `buf` of the first record header that is confirmed by what
    /// follows it (the record ends exactly where the bytes end, or another header follows),
    /// `Err(keep)` when none is yet, with the offset from which bytes must be kept.
    fn find_record_after_gap(buf: &[u8]) -> Result<usize, usize> {
        let header_at = |at: usize| -> Option<usize> {
            let h = buf.get(at..at + 5)?;
            let len = u16::from_be_bytes([h[3], h[4]]) as usize;
            ((20..=23).contains(&h[0]) && h[1] == 3 && h[2] <= 4 && len > 0 && len <= MAX_RECORD_BODY).then_some(len)
        };
        for at in 0..buf.len().saturating_sub(4) {
            let Some(len) = header_at(at) else { continue };
            let end = at + 5 + len;
            if end == buf.len() || (end < buf.len() && header_at(end).is_some()) {
                return Ok(at);
            }
            if end > buf.len() {
                // It may be confirmed by bytes still to come.
                return Err(at);
            }
        }
        // A header may begin in the last four bytes.
        Err(buf.len().saturating_sub(4))
    }

    /// At least one TLS record was seen (a TDS connection may settle without any).
    pub fn saw_records(&self) -> bool {
        self.dirs.iter().any(|d| d.valid)
    }

    /// The TDS facts of a SQL Server connection, taken out of the analyzer.
    pub fn take_tds(&mut self) -> Option<tds::TdsFacts> {
        self.tds.take().map(|t| t.facts)
    }

    /// The OpenVPN facts of an OpenVPN-over-TCP connection, taken out of the analyzer.
    pub fn take_openvpn(&mut self) -> Option<openvpn::OpenVpnFacts> {
        self.openvpn.take().map(|o| o.facts)
    }

    /// The next in-order bytes of this side's stream.
    pub fn on_data(&mut self, side: Side, data: &[u8], seen: Seen) {
        if !self.wants(side) || data.is_empty() {
            return;
        }
        self.first_byte[side].get_or_insert(seen.frame);
        if self.status == Status::NotTls {
            return self.on_answer(data, seen);
        }
        if self.openvpn.is_some() {
            return self.on_openvpn_data(side, data, seen);
        }
        let Some(tds) = self.tds.as_mut() else {
            return self.on_tls_bytes(side, data, seen);
        };
        let mut unwrapped = std::mem::take(&mut self.unwrapped);
        tds.unwrap(side, data, seen.frame, &mut unwrapped);
        let (client, stopped, negotiated) = (tds.client_side(), tds.stopped(side), tds.facts.negotiated);
        if let Some(client) = client {
            // The PRELOGIN's sender is the client, whatever the TCP handshake said.
            if self.facts.client_hello.is_none() {
                self.client = Some(client);
            }
        }
        if !unwrapped.is_empty() {
            self.on_tls_bytes(side, &unwrapped, seen);
            unwrapped.clear();
        }
        self.unwrapped = unwrapped;
        // Without encryption nothing more comes from the server that matters; the client's next
        // packet (its LOGIN7 in the clear) is the evidence still to read. After a mismatch both
        // sides are still read: some clients try TLS anyway.
        if negotiated == Some(tds::Negotiated::None) && client.is_some_and(|c| c != side) {
            self.dirs[side].stopped = true;
            self.settle_if_both_stopped();
        }
        if stopped && !self.dirs[side].stopped {
            self.dirs[side].stopped = true;
            self.settle_if_both_stopped();
        }
    }

    /// OpenVPN's control channel carries the handshake: its TLS bytes go on as a plain TLS
    /// connection's would.
    fn on_openvpn_data(&mut self, side: Side, data: &[u8], seen: Seen) {
        let Some(vpn) = self.openvpn.as_mut() else { return };
        let mut unwrapped = std::mem::take(&mut self.unwrapped);
        vpn.unwrap(side, data, seen.frame, &mut unwrapped);
        let (client, stopped) = (vpn.client_side(), [vpn.stopped(0), vpn.stopped(1)]);
        if let Some(client) = client.filter(|_| self.facts.client_hello.is_none()) {
            self.client = Some(client);
        }
        if !unwrapped.is_empty() {
            self.on_tls_bytes(side, &unwrapped, seen);
            unwrapped.clear();
        }
        self.unwrapped = unwrapped;
        // Sides the OpenVPN layer is done with (an error; tls-crypt once data flowed both ways).
        for (dir, stop) in self.dirs.iter_mut().zip(stopped) {
            dir.stopped |= stop;
        }
        self.settle_if_both_stopped();
    }

    fn on_tls_bytes(&mut self, side: Side, data: &[u8], seen: Seen) {
        if !self.wants(side) {
            return;
        }
        let mut buf = std::mem::take(&mut self.dirs[side].record);
        buf.extend_from_slice(data);
        let mut pos = 0;
        if self.dirs[side].resync {
            match Self::find_record_after_gap(&buf) {
                Ok(at) => {
                    pos = at;
                    self.dirs[side].resync = false;
                    let searched = at > 0 || !self.dirs[side].resync_at_start;
                    let role = self.role(side);
                    let facts = self.facts.side_mut(role);
                    facts.resynced.get_or_insert(seen.frame);
                    if searched {
                        facts.resynced_by_search.get_or_insert(seen.frame);
                    }
                }
                Err(keep) => {
                    // Bounded: a candidate header waits for at most one record's bytes.
                    let keep = keep.max(buf.len().saturating_sub(MAX_RECORD_BODY + 5));
                    if keep > 0 {
                        self.dirs[side].resync_at_start = false;
                    }
                    buf.drain(..keep);
                    self.dirs[side].record = buf;
                    return;
                }
            }
        }
        while self.wants(side) {
            let rest = &buf[pos..];
            if rest.len() < 5 {
                break;
            }
            if !self.dirs[side].valid && rest[0] & 0x80 != 0 && plausible_sslv2(rest) {
                // SSLv2-format record: 2-byte length with the high bit set.
                let len = (((rest[0] & 0x7f) as usize) << 8) | rest[1] as usize;
                if rest.len() < 2 + len {
                    break;
                }
                self.on_sslv2(side, &rest[2..2 + len], seen);
                pos += 2 + len;
                continue;
            }
            let (ctype, major, len) = (rest[0], rest[1], u16::from_be_bytes([rest[3], rest[4]]) as usize);
            if !(20..=24).contains(&ctype) || major != 3 || len > MAX_RECORD_BODY {
                if self.dirs[side].valid {
                    self.on_garbage(side, rest, seen);
                    break;
                }
                // SQL Server's TDS carries the handshake inside its PRELOGIN packets.
                if pos == 0 && self.tds.is_none() && self.facts.non_tls.is_none() {
                    match tds::detect(rest) {
                        tds::Detection::Prelogin => {
                            self.tds = Some(Box::default());
                            return self.on_data(side, &buf, seen);
                        }
                        tds::Detection::NeedMore => break,
                        tds::Detection::No => {}
                    }
                }
                // OpenVPN over TCP carries the handshake inside its control channel.
                if pos == 0 && self.tds.is_none() && self.openvpn.is_none() && self.facts.non_tls.is_none() {
                    match openvpn::detect(rest) {
                        openvpn::Detection::OpenVpn => {
                            self.openvpn = Some(Box::default());
                            self.dirs[side].record = Vec::new();
                            return self.on_openvpn_data(side, &buf, seen);
                        }
                        openvpn::Detection::NeedMore => break,
                        openvpn::Detection::No => {}
                    }
                }
                // Not TLS (yet): a protocol that upgrades to TLS (STARTTLS, MySQL, PostgreSQL,
                // an HTTP CONNECT) sends plaintext first. Look for where a hello starts.
                self.note_plaintext(side, rest, seen);
                match find_hello(rest) {
                    Some(offset) => {
                        // Bytes the server never answered are a prologue, not an upgrade.
                        let first = self.first_byte[side].unwrap_or(seen.frame);
                        if self.role(side) == Role::Client
                            && self.first_byte[1 - side].is_none()
                            && !self.facts.starttls
                        {
                            self.facts.client_prologue = Some(Prologue { frame: first, bytes: pos + offset });
                        } else {
                            self.facts.starttls = true;
                        }
                        pos += offset;
                        continue;
                    }
                    None if buf.len() - 5 > MAX_PLAINTEXT_PREFIX => {
                        self.on_garbage(side, rest, seen);
                        break;
                    }
                    // Keep the tail: a hello may start in the bytes still to come.
                    None => break,
                }
            }
            if rest.len() < 5 + len {
                break;
            }
            if !self.dirs[side].valid && self.facts.client_hello.is_none() {
                // A TLS record (a plaintext alert, often) answering a side that spoke something
                // else: a TLS service refusing a client that does not speak TLS.
                let role = self.role(side);
                if self.facts.non_tls.as_ref().is_some_and(|n| n.sender != role && n.answer.is_none()) {
                    self.on_answer(rest, seen);
                }
            }
            self.dirs[side].valid = true;
            if self.status == Status::Waiting {
                self.status = Status::Active;
            }
            let header = [rest[0], rest[1], rest[2], rest[3], rest[4]];
            self.on_record(side, header, &rest[5..5 + len], seen);
            pos += 5 + len;
        }
        if self.wants(side) {
            buf.drain(..pos);
            self.dirs[side].record = buf;
        }
    }

    /// Keeps the first bytes of a side that did not start with TLS, as evidence.
    fn note_plaintext(&mut self, side: Side, bytes: &[u8], seen: Seen) {
        if self.facts.non_tls.is_some() {
            return;
        }
        self.facts.non_tls =
            Some(NonTls { sender: self.role(side), frame: seen.frame, preview: preview(bytes), answer: None });
    }

    /// Bytes that are not TLS where TLS was expected: the side is given up.
    fn on_garbage(&mut self, side: Side, bytes: &[u8], seen: Seen) {
        if self.dirs[side].valid {
            let role = self.role(side);
            self.facts.errors.push(format!("{role:?} sent bytes that are not a TLS record in frame {}", seen.frame));
        } else {
            self.note_plaintext(side, bytes, seen);
            if self.status == Status::Waiting {
                self.status = Status::NotTls;
                return;
            }
        }
        self.dirs[side].stopped = true;
        self.settle_if_both_stopped();
    }

    /// The connection is over: a side that only ever sent plaintext makes it not TLS.
    pub fn finish(&mut self) {
        if self.status == Status::Waiting && self.facts.non_tls.is_some() {
            self.status = Status::NotTls;
        }
    }

    fn settle_if_both_stopped(&mut self) {
        if self.dirs.iter().all(|d| d.stopped) {
            self.status = Status::Done;
        }
    }

    fn on_sslv2(&mut self, side: Side, body: &[u8], seen: Seen) {
        self.dirs[side].valid = true;
        self.status = Status::Active;
        match body.first() {
            // CLIENT-HELLO: version, cipher-specs length, session-id length, challenge length.
            Some(1) if body.len() >= 9 => {
                self.client = Some(side);
                let version = u16::from_be_bytes([body[1], body[2]]);
                let specs_len = u16::from_be_bytes([body[3], body[4]]) as usize;
                let specs = body.get(9..9 + specs_len).unwrap_or(&[]);
                // Three-byte specs with a zero first byte are TLS suites; the rest are SSLv2 kinds.
                let ids: Vec<u16> =
                    specs.chunks_exact(3).filter(|c| c[0] == 0).map(|c| u16::from_be_bytes([c[1], c[2]])).collect();
                self.facts.client_hello = Some(super::facts::ClientHello {
                    frame: seen.frame,
                    legacy_version: names::version(version),
                    max_version: names::version(version),
                    cipher_suites: ids.iter().map(|&i| names::cipher_suite(i)).collect(),
                    cipher_suite_ids: ids,
                    sslv2_format: true,
                    ..Default::default()
                });
                self.push_message(Role::Client, "ClientHello", seen);
            }
            // SERVER-HELLO: the server speaks SSL 2.0 itself.
            Some(4) => {
                self.facts.server_hello = Some(super::facts::ServerHello {
                    frame: seen.frame,
                    legacy_version: names::version(2),
                    version: names::version(2),
                    version_id: 2,
                    cipher_suite: "SSL2".into(),
                    ..Default::default()
                });
                self.push_message(Role::Server, "ServerHello", seen);
                self.status = Status::Done;
            }
            _ => self.on_garbage(side, body, seen),
        }
    }

    fn push_message(&mut self, role: Role, message: &'static str, seen: Seen) {
        let list = &mut self.facts.side_mut(role).messages;
        if list.len() < MAX_MESSAGES_KEPT {
            list.push(MessageSeen { message, frame: seen.frame, ts: seen.ts });
        }
    }

    fn on_record(&mut self, side: Side, header: [u8; 5], body: &[u8], seen: Seen) {
        let role = self.role(side);
        let completed_before = self.facts.handshake_complete.is_some();
        if completed_before {
            let record =
                RecordSeen { frame: seen.frame, content_type: header[0], length: body.len() as u16, ts: seen.ts };
            match role {
                Role::Server if self.tls13 && self.facts.server_reply_to_finished.is_none() => {
                    self.facts.server_reply_to_finished = Some(record)
                }
                Role::Server if self.tls13 => self.facts.server_records_after_reply = 1,
                Role::Server => {}
                Role::Client => {
                    self.facts.client_record_after_complete.get_or_insert(record);
                }
            }
        }
        let decrypted_handshake = match self.open(side, header, body, seen) {
            Some(opened) => {
                let handshake = opened.content_type == 22;
                self.on_opened(side, opened, body.len(), seen);
                handshake
            }
            None => {
                self.on_sealed_or_plain_record(side, header[0], body, seen);
                false
            }
        };
        self.records += 1;
        if self.records > MAX_RECORDS_BEFORE_OUTCOME && self.status == Status::Active {
            self.facts.errors.push(format!("no handshake outcome after {MAX_RECORDS_BEFORE_OUTCOME} records"));
            self.status = Status::Done;
        }
        // Records after both Finished messages confirm (or refute) the outcome: the client's
        // first one (a client that closes without one may have rejected the certificate after
        // the handshake) and, in TLS 1.3, the server's answer to the client's Finished (a
        // server that rejects the client's certificate says so only then; an alert-sized answer
        // is a refusal only when nothing follows it). Decrypted TLS 1.3 tickets are all read: a
        // later connection may offer any of them.
        let more_tickets = decrypted_handshake && self.facts.tickets_issued.len() < MAX_TICKETS_KEPT;
        if completed_before && self.outcome_confirmed() && !more_tickets {
            self.status = Status::Done;
        }
    }

    /// After the handshake completed: nothing more that follows can change the verdict.
    fn outcome_confirmed(&self) -> bool {
        let f = &self.facts;
        if f.client_record_after_complete.is_none() {
            return false;
        }
        if !self.tls13 {
            return true;
        }
        match f.server_reply_to_finished {
            Some(reply) => reply.length > TLS13_ALERT_SIZED || f.server_records_after_reply > 0 || f.decrypted,
            None => false,
        }
    }

    /// The smallest record that can hold this connection's encrypted Finished (see
    /// [`record_size`]); 0 when the suite gives no bound.
    fn min_finished(&self, side: Side) -> usize {
        let Some(sh) = self.facts.server_hello.as_ref() else {
            return 0;
        };
        if self.tls13 {
            return record_size::tls13_min_finished(sh.cipher_suite_id);
        }
        let etm = sh.extensions.iter().any(|e| e == "encrypt_then_mac");
        // A record protected under keys the key log opened was read, not inferred.
        if self.dirs[side].keys.is_some() {
            return 0;
        }
        record_size::tls12_min_finished(sh.cipher_suite_id, sh.version_id, etm).unwrap_or(0)
    }

    /// Opens an encrypted record with the key log's keys for this side, if there are any.
    fn open(&mut self, side: Side, header: [u8; 5], body: &[u8], seen: Seen) -> Option<Opened> {
        let ctype = header[0];
        let sealed = ctype == 23 || (self.dirs[side].encrypted && ctype != 20);
        let keys = self.dirs[side].keys.as_mut().filter(|_| sealed)?;
        let opened = keys.open(header, body);
        if opened.is_none() {
            // Wrong secrets, or records under keys this tool does not follow (0-RTT data, a
            // KeyUpdate): the rest of this side is read as opaque records.
            self.dirs[side].keys = None;
            let role = self.role(side);
            self.facts
                .errors
                .push(format!("the key log's secrets do not decrypt the {role:?}'s record in frame {}", seen.frame));
        }
        opened
    }

    /// A record decrypted with the key log: handshake messages and alerts are read as if sent
    /// in the clear; application data is dropped unread.
    fn on_opened(&mut self, side: Side, opened: Opened, wire_len: usize, seen: Seen) {
        self.facts.decrypted = true;
        let role = self.role(side);
        self.note_encrypted_record(side, 23, wire_len, seen);
        match (opened.content_type, opened.plaintext.as_slice()) {
            (22, fragment) => self.on_handshake_fragment(side, fragment, seen),
            (21, &[level, description]) => self.push_alert(role, seen, Some((level, description)), true),
            (21, _) => self.push_alert(role, seen, None, true),
            (23, _) => {
                self.facts.side_mut(role).application_data.get_or_insert(seen.frame);
            }
            _ => {}
        }
    }

    fn push_alert(&mut self, role: Role, seen: Seen, plain: Option<(u8, u8)>, encrypted: bool) {
        self.facts.alerts.push(Alert {
            frame: seen.frame,
            ts: seen.ts,
            sender: role,
            level: plain.map(|(level, _)| names::alert_level(level)),
            description: plain.map(|(_, description)| names::alert(description)),
            code: plain.map(|(_, description)| description),
            encrypted,
            decrypted: encrypted && plain.is_some(),
        });
        if plain.is_some_and(|(level, _)| level == 2) {
            self.status = Status::Done;
        }
    }

    /// A record read as it is on the wire: plaintext, or opaque when encrypted.
    fn on_sealed_or_plain_record(&mut self, side: Side, ctype: u8, body: &[u8], seen: Seen) {
        let role = self.role(side);
        match ctype {
            20 => {
                self.facts.side_mut(role).change_cipher_spec.get_or_insert(seen.frame);
                // In TLS 1.3 this is the compatibility CCS and changes nothing.
                if !self.tls13 {
                    self.dirs[side].encrypted = true;
                    self.dirs[side].keys = self.tls12_keys(role);
                    // A server CCS before any Certificate, and before the client's key exchange,
                    // means the session was resumed (unless the capture lost the Certificate).
                    if role == Role::Server
                        && self.facts.server_certificates.is_none()
                        && self.facts.server_key_exchange.is_none()
                        && self.facts.server_hello.is_some()
                        && self.facts.client_key_exchange.is_none()
                        && self.facts.server.gap.is_none()
                    {
                        self.facts.resumed = true;
                    }
                }
            }
            21 => {
                // A plaintext alert is exactly level and description; anything else (an
                // encrypted one, or an empty record) is opaque.
                let plain = match body {
                    [level, description] if !self.dirs[side].encrypted => Some((*level, *description)),
                    _ => None,
                };
                self.note_encrypted_record(side, ctype, body.len(), seen);
                self.push_alert(role, seen, plain, plain.is_none());
            }
            22 if self.dirs[side].encrypted => {
                self.note_encrypted_record(side, ctype, body.len(), seen);
                // A handshake record shorter than any Finished of the suite is something else
                // (a HelloRequest, or damage), never the Finished.
                let min = self.min_finished(side);
                if body.len() < min {
                    self.facts.errors.push(format!(
                        "{role:?}'s encrypted handshake record in frame {} ({} bytes) is shorter than any Finished of the suite ({min} bytes)",
                        seen.frame,
                        body.len()
                    ));
                } else {
                    self.facts.side_mut(role).finished.get_or_insert(seen.frame);
                    self.check_completion(seen);
                }
            }
            22 => self.on_handshake_fragment(side, body, seen),
            23 => {
                self.note_encrypted_record(side, ctype, body.len(), seen);
                if self.tls13 && self.facts.handshake_complete.is_none() {
                    // The server's encrypted flight starts right after its ServerHello (a client
                    // that answers with a Finished proves the rest of it was sent, even when the
                    // capture lost it). The client's first record that can hold a Finished of
                    // the suite is taken for it; smaller ones are alerts or an empty
                    // Certificate, never the Finished. Padding means a larger one may still be
                    // an alert: the classifier says so.
                    if role == Role::Server || body.len() >= self.min_finished(side) {
                        self.facts.side_mut(role).finished.get_or_insert(seen.frame);
                    }
                    self.check_completion(seen);
                } else {
                    self.facts.side_mut(role).application_data.get_or_insert(seen.frame);
                    if self.facts.client_hello.is_none() && self.facts.server_hello.is_none() {
                        // Application data before any hello: the capture began after the handshake.
                        self.status = Status::Done;
                    }
                }
            }
            _ => {}
        }
    }

    /// Looks this connection's secrets up once the ServerHello is in (one lookup per
    /// connection), and sets the TLS 1.3 handshake keys of both sides.
    fn look_up_secrets(&mut self, server: Side) {
        let (Some(keylog), Some(ch), Some(sh)) =
            (self.keylog.as_ref(), self.facts.client_hello.as_ref(), self.facts.server_hello.as_ref())
        else {
            return;
        };
        let Some(secrets) = keylog.lookup(&ch.random) else {
            return;
        };
        // TLS 1.0 and 1.1 derive their keys with another PRF and chain CBC IVs across records.
        let old_version = !self.tls13 && sh.version_id != 0x0303;
        if !decrypt::supported(sh.cipher_suite_id) || old_version {
            self.facts.errors.push(format!(
                "the key log has this connection's secrets, but {} {} records are not decrypted (AES-GCM and ChaCha20-Poly1305 suites are, and AES-CBC in TLS 1.2)",
                sh.version, sh.cipher_suite
            ));
            return;
        }
        if self.tls13 {
            let suite = sh.cipher_suite_id;
            let keys =
                |secret: &Option<Vec<u8>>| secret.as_ref().and_then(|s| RecordKeys::tls13(suite, s)).map(Box::new);
            self.dirs[server].keys = keys(&secrets.server_handshake);
            self.dirs[1 - server].keys = keys(&secrets.client_handshake);
        }
        self.secrets = Some(Box::new(secrets));
    }

    /// TLS 1.2 read keys of one side, from the master secret, when its ChangeCipherSpec comes.
    fn tls12_keys(&self, writer: Role) -> Option<Box<RecordKeys>> {
        let (secrets, ch, sh) =
            (self.secrets.as_ref()?, self.facts.client_hello.as_ref()?, self.facts.server_hello.as_ref()?);
        let master = secrets.master_secret.as_ref()?;
        let encrypt_then_mac = sh.extensions.iter().any(|e| e == "encrypt_then_mac");
        RecordKeys::tls12(sh.cipher_suite_id, master, &ch.random, &sh.random, writer == Role::Client, encrypt_then_mac)
            .map(Box::new)
    }

    /// TLS 1.3: after a side's Finished its records are under its application traffic secret.
    fn switch_to_application_keys(&mut self, side: Side, role: Role) {
        let (Some(secrets), Some(sh)) = (self.secrets.as_ref(), self.facts.server_hello.as_ref()) else {
            return;
        };
        let secret = match role {
            Role::Client => &secrets.client_traffic,
            Role::Server => &secrets.server_traffic,
        };
        self.dirs[side].keys = secret.as_ref().and_then(|s| RecordKeys::tls13(sh.cipher_suite_id, s)).map(Box::new);
    }

    /// A handshake message that arrived encrypted and was decrypted with the key log.
    fn on_decrypted_message(&mut self, side: Side, role: Role, raw: &[u8], seen: Seen) {
        match raw[0] {
            11 if self.tls13 => {
                *self.facts.certificates_mut(role) = messages::tls13_certificate_chain(&raw[4..], seen.frame)
            }
            13 => self.facts.certificate_request = Some(seen.frame),
            4 => self.on_new_session_ticket(raw, seen),
            20 => {
                self.facts.side_mut(role).finished.get_or_insert(seen.frame);
                self.check_completion(seen);
                if self.tls13 {
                    self.switch_to_application_keys(side, role);
                }
            }
            _ => {}
        }
    }

    /// Keeps the size of an opaque record (application data type, or any type after this side's
    /// keys changed): record sizes are the only evidence an encrypted handshake leaves.
    fn note_encrypted_record(&mut self, side: Side, content_type: u8, len: usize, seen: Seen) {
        if !self.dirs[side].encrypted && content_type != 23 {
            return;
        }
        let role = self.role(side);
        let list = &mut self.facts.side_mut(role).encrypted_records;
        if list.len() < MAX_RECORDS_KEPT {
            list.push(RecordSeen { frame: seen.frame, content_type, length: len as u16, ts: seen.ts });
        }
    }

    fn check_completion(&mut self, seen: Seen) {
        if self.facts.handshake_complete.is_none()
            && self.facts.server_hello.is_some()
            && self.facts.client.finished.is_some()
            && self.facts.server.finished.is_some()
        {
            self.facts.handshake_complete = Some(seen.frame);
            self.facts.handshake_complete_ts = Some(seen.ts);
        }
    }

    fn on_handshake_fragment(&mut self, side: Side, body: &[u8], seen: Seen) {
        let mut hs = std::mem::take(&mut self.dirs[side].handshake);
        hs.extend_from_slice(body);
        let mut pos = 0;
        while hs.len() - pos >= 4 && !self.dirs[side].stopped {
            let len = u32::from_be_bytes([0, hs[pos + 1], hs[pos + 2], hs[pos + 3]]) as usize;
            if len > self.max_handshake_message {
                let role = self.role(side);
                self.facts.errors.push(format!(
                    "{role:?} handshake message of {len} bytes in frame {} exceeds the {}-byte limit",
                    seen.frame, self.max_handshake_message
                ));
                self.dirs[side].stopped = true;
                self.settle_if_both_stopped();
                return;
            }
            if hs.len() - pos < 4 + len {
                break;
            }
            self.on_handshake_message(side, &hs[pos..pos + 4 + len], seen);
            pos += 4 + len;
        }
        if self.wants(side) {
            hs.drain(..pos);
            self.dirs[side].handshake = hs;
        }
    }

    fn on_handshake_message(&mut self, side: Side, raw: &[u8], seen: Seen) {
        let ty = raw[0];
        if ty == 1 && self.facts.client_hello.is_none() {
            self.client = Some(side);
        } else if ty == 2 && self.client.is_none() {
            self.client = Some(1 - side);
        }
        let role = self.role(side);
        self.push_message(role, handshake_name(ty), seen);
        if self.dirs[side].keys.is_some() && (self.dirs[side].encrypted || self.tls13) {
            return self.on_decrypted_message(side, role, raw, seen);
        }
        let msg = match parse_tls_message_handshake(raw) {
            Ok((_, TlsMessage::Handshake(msg))) => msg,
            // tls-parser reads only draft 18 of the TLS 1.3 drafts' ServerHello layout.
            _ if ty == 2 && messages::draft_server_hello(&raw[4..], seen.frame).is_some() => {
                let sh = messages::draft_server_hello(&raw[4..], seen.frame).expect("checked");
                self.tls13 = true;
                self.dirs[side].encrypted = true;
                self.facts.server_hello = Some(sh);
                return;
            }
            _ => {
                self.facts.errors.push(format!(
                    "malformed {} from the {role:?} in frame {}",
                    handshake_name(ty),
                    seen.frame
                ));
                return;
            }
        };
        let malformed_extensions = messages::extensions_malformed(&msg);
        if malformed_extensions {
            self.facts.errors.push(format!(
                "malformed extensions in the {} from the {role:?} in frame {}",
                handshake_name(ty),
                seen.frame
            ));
        }
        match ty {
            1 if self.facts.client_hello.is_none() => {
                let mut hello = messages::client_hello(&msg, &raw[4..], seen.frame);
                // A fingerprint of the part that parsed would name no real stack (tshark
                // gives none either).
                if let Some(h) = hello.as_mut().filter(|_| malformed_extensions) {
                    (h.ja3, h.ja4) = (String::new(), String::new());
                }
                self.facts.client_hello = hello
            }
            // The answer to a HelloRetryRequest is expected; any other second ClientHello is not.
            1 if role == Role::Client && !self.retry_answered(seen.frame) => {
                self.facts.repeated_client_hello.get_or_insert(seen.frame);
            }
            2 => match messages::server_hello(&msg, &raw[4..], seen.frame) {
                Some(ServerHelloKind::Retry(hrr)) => {
                    // Only TLS 1.3 retries; the server's CCS that may follow is the compatibility one.
                    self.tls13 = true;
                    self.facts.hello_retry_request = Some(hrr);
                }
                Some(ServerHelloKind::Hello(sh)) => {
                    self.tls13 = messages::version_rank(sh.version_id) >= messages::version_rank(0x7f00);
                    if self.tls13 {
                        self.dirs[side].encrypted = true;
                        self.facts.resumed = sh.psk_accepted;
                    } else if !sh.session_id.is_empty()
                        && self.facts.client_hello.as_ref().is_some_and(|ch| ch.session_id == sh.session_id)
                    {
                        self.facts.resumed = true;
                    }
                    self.facts.server_hello = Some(sh);
                    self.look_up_secrets(side);
                }
                None => {}
            },
            11 => {
                if let Some(fault) = messages::certificate_list_fault(&raw[4..]) {
                    self.facts
                        .errors
                        .push(format!("malformed Certificate from the {role:?} in frame {}: {fault}", seen.frame));
                }
                *self.facts.certificates_mut(role) = messages::certificate_chain(&msg, seen.frame)
            }
            12 => {
                if let (tls_parser::TlsMessageHandshake::ServerKeyExchange(ske), Some(sh)) =
                    (&msg, &self.facts.server_hello)
                {
                    self.facts.server_key_exchange =
                        Some(messages::server_key_exchange(ske.parameters, sh.cipher_suite_id, seen.frame));
                }
            }
            13 => self.facts.certificate_request = Some(seen.frame),
            16 => self.facts.client_key_exchange = Some(seen.frame),
            4 => self.on_new_session_ticket(raw, seen),
            _ => {}
        }
        if matches!(ty, 1 | 2) {
            self.session_news = true;
        }
    }

    /// True for the first ClientHello after a HelloRetryRequest (which asks for it); records
    /// that one was seen.
    fn retry_answered(&mut self, frame: u64) -> bool {
        let asked = self.facts.hello_retry_request.as_ref().is_some_and(|hrr| hrr.frame < frame);
        let first_answer = self.facts.client.messages.iter().filter(|m| m.message == "ClientHello").nth(2).is_none();
        asked && first_answer
    }

    /// A NewSessionTicket (plaintext in TLS 1.2, decrypted in TLS 1.3): its ticket is what a
    /// later connection offers to resume this session.
    fn on_new_session_ticket(&mut self, raw: &[u8], seen: Seen) {
        self.facts.new_session_ticket.get_or_insert(seen.frame);
        if let Some(ticket) = messages::new_session_ticket(&raw[4..], self.tls13) {
            if self.facts.tickets_issued.len() < MAX_TICKETS_KEPT {
                self.facts.tickets_issued.push(messages::fingerprint(ticket));
                self.session_news = true;
            }
        }
    }

    /// True once after a hello or ticket arrived: the flow table's session index then looks at
    /// the facts (see `flow::sessions`).
    pub fn take_session_news(&mut self) -> bool {
        std::mem::take(&mut self.session_news)
    }
}

/// Up to 64 bytes as text, non-printable ones shown as `.`.
fn preview(bytes: &[u8]) -> String {
    bytes.iter().take(64).map(|&b| if b.is_ascii_graphic() || b == b' ' { b as char } else { '.' }).collect()
}

/// Offset of the first plausible TLS handshake record holding a ClientHello or ServerHello.
/// An SSLv2-format CLIENT-HELLO (type 1, version 0x0002 or 0x03xx) or SERVER-HELLO (type 4,
/// session-id-hit 0 or 1): other bytes with the high bit set are a prologue, not SSLv2.
fn plausible_sslv2(rest: &[u8]) -> bool {
    let len = (((rest[0] & 0x7f) as usize) << 8) | rest[1] as usize;
    match (rest.get(2), rest.get(3)) {
        (Some(1), Some(0 | 3)) => len >= 9,
        (Some(4), Some(0 | 1)) => len >= 11,
        _ => false,
    }
}

fn find_hello(bytes: &[u8]) -> Option<usize> {
    bytes.windows(6).position(|w| {
        let len = u16::from_be_bytes([w[3], w[4]]) as usize;
        w[0] == 22 && w[1] == 3 && w[2] <= 4 && (4..=MAX_RECORD_BODY).contains(&len) && (w[5] == 1 || w[5] == 2)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_hello_after_a_plaintext_prologue() {
        let mut data = b"220 ready for TLS\r\n".to_vec();
        let at = data.len();
        data.extend_from_slice(&[22, 3, 1, 0, 50, 1, 0, 0, 46]);
        assert_eq!(find_hello(&data), Some(at));
        assert_eq!(find_hello(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"), None);
    }

    /// A client that sends bytes of its own before the ClientHello (a proxy header, binary
    /// framing with the high bit set) unanswered: the hello is found behind them.
    #[test]
    fn client_hello_after_an_unanswered_client_prologue() {
        let hello = record(22, &client_hello(&[]));
        for prologue in [&b"PROXY TCP4 192.0.2.1 192.0.2.2 5000 443\r\n"[..], &[0x9c, 0x41, 0x07, 0x00]] {
            let mut tls = TlsAnalyzer::new(1 << 16);
            tls.set_client_hint(0);
            tls.on_data(0, prologue, seen(4));
            tls.on_data(0, &hello, seen(5));
            assert!(tls.facts.client_hello.is_some(), "{prologue:?}");
            assert_eq!(tls.facts.client_hello.as_ref().unwrap().frame, 5);
            let p = tls.facts.client_prologue.as_ref().expect("prologue");
            assert_eq!((p.frame, p.bytes), (4, prologue.len()));
            assert!(!tls.facts.starttls);
        }
        // The server spoke first: a STARTTLS upgrade, not a prologue.
        let mut tls = TlsAnalyzer::new(1 << 16);
        tls.set_client_hint(0);
        tls.on_data(1, b"220 mail ESMTP\r\n", seen(4));
        tls.on_data(0, b"STARTTLS\r\n", seen(5));
        tls.on_data(1, b"220 go ahead\r\n", seen(6));
        tls.on_data(0, &hello, seen(7));
        assert!(tls.facts.starttls && tls.facts.client_prologue.is_none());
    }

    // Adversarial input (issue: hostile captures). Each case must end in a recorded error or
    // an opaque record, never a panic.

    fn seen(frame: u64) -> Seen {
        Seen { frame, ts: 0 }
    }

    fn record(ctype: u8, body: &[u8]) -> Vec<u8> {
        let mut r = vec![ctype, 3, 3];
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    /// A ClientHello handshake message (TLS 1.2, one suite, the given extensions block).
    fn client_hello(extensions: &[u8]) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend_from_slice(&[0; 32]);
        body.extend_from_slice(&[0, 0, 2, 0xc0, 0x2f, 1, 0]);
        body.extend_from_slice(extensions);
        let mut msg = vec![1, 0, 0, 0];
        msg[1..4].copy_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        msg.extend_from_slice(&body);
        msg
    }

    #[test]
    fn regression_fuzz_empty_alert_record() {
        // Found by the tls_stream fuzz target: an alert record shorter than two bytes.
        for body in [&[][..], &[2][..], &[2, 40, 0][..]] {
            let mut tls = TlsAnalyzer::new(1 << 16);
            tls.on_data(0, &record(22, &client_hello(&[])), seen(1));
            tls.on_data(1, &record(21, body), seen(2));
            let alert = &tls.facts.alerts[0];
            assert!(alert.encrypted && alert.description.is_none(), "{body:?} is not a readable alert");
        }
    }

    #[test]
    fn record_longer_than_tls_allows_is_an_error_not_a_wait() {
        let mut tls = TlsAnalyzer::new(1 << 16);
        tls.on_data(0, &record(22, &client_hello(&[])), seen(1));
        tls.on_data(0, &[23, 3, 3, 0xff, 0xff, 1, 2, 3], seen(2));
        assert_eq!(tls.facts.errors, vec!["Client sent bytes that are not a TLS record in frame 2".to_string()]);
        assert!(!tls.wants(0));
    }

    #[test]
    fn handshake_length_beyond_the_limit_is_an_error() {
        let mut tls = TlsAnalyzer::new(1 << 16);
        tls.on_data(0, &record(22, &[1, 0xff, 0xff, 0xff, 3, 3]), seen(1));
        assert_eq!(tls.facts.errors.len(), 1, "{:?}", tls.facts.errors);
        assert!(tls.facts.errors[0].contains("exceeds the 65536-byte limit"));
    }

    #[test]
    fn zero_length_and_thousands_of_tiny_records_end_in_a_counted_error() {
        let mut tls = TlsAnalyzer::new(1 << 16);
        let mut stream = Vec::new();
        for _ in 0..1000 {
            stream.extend(record(22, &[]));
        }
        // The ClientHello one byte per record: legal, and the way to exhaust a parser.
        for b in client_hello(&[]) {
            stream.extend(record(22, &[b]));
        }
        tls.on_data(0, &stream, seen(1));
        assert!(tls.facts.client_hello.is_none());
        assert_eq!(tls.facts.errors, vec![format!("no handshake outcome after {MAX_RECORDS_BEFORE_OUTCOME} records")]);
        assert_eq!(tls.status(), Status::Done);
    }

    #[test]
    fn extension_length_overflowing_its_block_is_a_recorded_error() {
        // Extensions block of 8 bytes holding one extension that claims 0xffff bytes.
        let mut tls = TlsAnalyzer::new(1 << 16);
        let extensions = [0, 8, 0, 0, 0xff, 0xff, 0, 0, 0, 0];
        tls.on_data(0, &record(22, &client_hello(&extensions)), seen(3));
        // What precedes the bad extension (the suites) is kept; the error is recorded.
        let hello = tls.facts.client_hello.as_ref().expect("hello kept");
        assert_eq!(hello.cipher_suites, vec!["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_string()]);
        assert!(hello.extensions.is_empty());
        assert_eq!(
            tls.facts.errors,
            vec!["malformed extensions in the ClientHello from the Client in frame 3".to_string()]
        );
    }

    /// A ServerHello handshake message choosing `suite`, TLS 1.3 (supported_versions) or 1.2.
    fn server_hello(suite: u16, tls13: bool) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7; 32]);
        body.push(0);
        body.extend_from_slice(&suite.to_be_bytes());
        body.push(0);
        if tls13 {
            body.extend_from_slice(&[0, 6, 0, 0x2b, 0, 2, 3, 4]);
        } else {
            body.extend_from_slice(&[0, 0]);
        }
        let mut msg = vec![2, 0, 0, 0];
        msg[1..4].copy_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        msg.extend_from_slice(&body);
        msg
    }

    /// Client on side 0, server on side 1, up to the server's first encrypted record (TLS 1.3)
    /// or its ServerHello (TLS 1.2).
    fn after_hellos(suite: u16, tls13: bool) -> TlsAnalyzer {
        let mut tls = TlsAnalyzer::new(1 << 16);
        tls.on_data(0, &record(22, &client_hello(&[])), seen(1));
        tls.on_data(1, &record(22, &server_hello(suite, tls13)), seen(2));
        if tls13 {
            tls.on_data(1, &record(23, &[0; 800]), seen(2));
        }
        assert!(tls.facts.server_hello.is_some());
        tls
    }

    #[test]
    fn java_padded_tls13_alert_is_not_a_finished() {
        // tls13-java-client-cert-unknown-ca: TLS_AES_256_GCM_SHA384, the client's only
        // encrypted record is 35 bytes (an alert padded by 16); a Finished needs 69.
        let mut tls = after_hellos(0x1302, true);
        tls.on_data(0, &record(20, &[1]), seen(3));
        tls.on_data(0, &record(23, &[0; 35]), seen(4));
        assert_eq!(tls.facts.client.finished, None);
        assert_eq!(tls.facts.handshake_complete, None);
        tls.on_data(0, &record(23, &[0; 69]), seen(5));
        assert_eq!(tls.facts.client.finished, Some(5));
    }

    #[test]
    fn second_client_hello_is_a_fact_unless_a_retry_asked_for_it() {
        let mut tls = TlsAnalyzer::new(1 << 16);
        tls.on_data(0, &record(22, &client_hello(&[])), seen(1));
        tls.on_data(1, &record(22, &server_hello(0x1301, true)), seen(2));
        tls.on_data(0, &record(22, &client_hello(&[])), seen(3));
        assert_eq!(tls.facts.repeated_client_hello, Some(3));
        assert_eq!(tls.facts.client_hello.as_ref().map(|ch| ch.frame), Some(1));
    }

    #[test]
    fn plaintext_alert_answering_plaintext_is_the_answer() {
        // http-client-to-java-server: a GET, answered by JSSE's 7-byte unexpected_message alert.
        let mut tls = TlsAnalyzer::new(1 << 16);
        tls.set_client_hint(0);
        tls.on_data(0, b"GET / HTTP/1.1\r\nHost: www.example.test\r\n\r\n", seen(4));
        tls.on_data(1, &[21, 3, 3, 0, 2, 2, 10], seen(6));
        let answer = tls.facts.non_tls.as_ref().and_then(|n| n.answer.as_ref()).expect("answer kept");
        assert!(answer.tls_record);
        assert_eq!((answer.frame, answer.alert.as_deref()), (6, Some("unexpected_message")));
    }

    proptest::proptest! {
        /// No record shorter than the smallest Finished of its suite is ever counted as one,
        /// whatever the suite (TLS 1.3 and 1.2), the record sizes and their number.
        #[test]
        fn no_record_below_the_floor_is_a_finished(
            suite in proptest::sample::select((0..=u16::MAX).filter(|&id| tls_parser::TlsCipherSuite::from_id(id).is_some()).collect::<Vec<u16>>()),
            tls13 in proptest::bool::ANY,
            sizes in proptest::collection::vec(0usize..200, 1..6),
        ) {
            let mut tls = after_hellos(suite, tls13);
            let floor = if tls13 {
                record_size::tls13_min_finished(suite)
            } else {
                record_size::tls12_min_finished(suite, 0x0303, false).unwrap_or(0)
            };
            tls.on_data(0, &record(20, &[1]), seen(3));
            for (i, &size) in sizes.iter().enumerate() {
                let size = size.min(floor.saturating_sub(1));
                tls.on_data(0, &record(if tls13 { 23 } else { 22 }, &vec![0; size]), seen(4 + i as u64));
            }
            proptest::prop_assert_eq!(tls.facts.client.finished, None, "floor {}", floor);
            proptest::prop_assert_eq!(tls.facts.handshake_complete, None);
            // A record at the floor is taken (records carry no other evidence without keys).
            tls.on_data(0, &record(if tls13 { 23 } else { 22 }, &vec![0; floor]), seen(20));
            proptest::prop_assert_eq!(tls.facts.client.finished, Some(20));
        }
    }

    #[test]
    fn certificate_with_broken_der_is_kept_with_its_parse_error() {
        let mut tls = TlsAnalyzer::new(1 << 16);
        tls.on_data(0, &record(22, &client_hello(&[])), seen(1));
        let mut server_hello = vec![2, 0, 0, 38, 3, 3];
        server_hello.extend_from_slice(&[0; 32]);
        server_hello.extend_from_slice(&[0, 0xc0, 0x2f, 0]);
        // Certificate: list of one 5-byte "certificate" that is not DER.
        let certificate = [11, 0, 0, 11, 0, 0, 8, 0, 0, 5, 0x30, 0x82, 0xff, 0xff, 0x01];
        let mut flight = server_hello;
        flight.extend_from_slice(&certificate);
        tls.on_data(1, &record(22, &flight), seen(2));
        let chain = tls.facts.server_certificates.as_ref().expect("the chain is kept");
        assert_eq!(chain.certificates.len(), 1);
        assert!(chain.certificates[0].parse_error.is_some());
    }
}
