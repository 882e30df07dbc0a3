//! The TLS stream analyzer: the bytes of each side of a connection in, [`TlsFacts`] out.
//!
//! This file is the analyzer's public face (what the flow stage calls) and the state it keeps;
//! the work is split by concern:
//! - [`record_layer`]: record reassembly with its size cap, resync after a gap, SSLv2 records,
//!   and deciding once per side whether the bytes are TLS at all (plaintext, garbage);
//! - [`handshake`]: what each record and handshake message means: message reassembly and the
//!   handshake state machine of our own (tls-parser's rejects the TLS 1.3 compatibility
//!   ChangeCipherSpec), up to the outcome;
//! - [`keys`]: the key log's secrets for this connection, the keys they give each side, and
//!   opening encrypted records with them (`proto::decrypt`).
//!
//! Framings that carry TLS inside another protocol (SQL Server's TDS, OpenVPN) are removed in
//! front of this analyzer, by `proto::transport`; all it does is ask that layer (a [`Claim`])
//! whether a side's first bytes, when they are not a TLS record, are its framing.

mod handshake;
mod keys;
mod problem;
mod record_layer;

pub use problem::{TlsProblem, TlsProblemKind};

use super::facts::{Role, Seen, TlsFacts};
use super::keylog::KeyLog;
use super::Side;
use std::sync::Arc;

/// What a framing in front of TLS (see `proto::transport`) says about a side's first bytes
/// when they are not a TLS record.
pub enum Claim<T> {
    /// They are its framing: the record layer hands them over unread.
    Framed(T),
    /// Too few bytes to tell yet.
    NeedMore,
    /// Not its framing: they are read as plaintext before TLS, or as garbage.
    No,
}

/// Where the analyzer stands on a connection; the flow stage stops buffering once it is
/// `Done` or `NotTls`.
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

/// What is kept per side: the record layer's buffer and resync state, the handshake
/// message buffer, and whether the side's records are encrypted, valid, or no longer read.
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
}

/// One connection's TLS analyzer (see the module header for how its work is split).
pub struct TlsAnalyzer {
    dirs: [Direction; 2],
    client: Option<Side>,
    tls13: bool,
    status: Status,
    max_handshake_message: usize,
    /// Records seen on both sides, to give up on a connection whose handshake never ends.
    records: u32,
    /// The key log's secrets for this connection and the read keys of each side.
    keys: keys::KeySchedule,
    /// The frame of each side's first byte (a client prologue is one the server did not answer).
    first_byte: [Option<u64>; 2],
    /// A hello or ticket arrived since the flow table last looked (see `take_session_news`).
    session_news: bool,
    /// What went wrong reading this connection, in the order found; `facts.errors` is made
    /// of them when the facts are handed over (`write_errors`).
    problems: Vec<TlsProblem>,
    /// What was learned so far (without `errors`: see `problems`).
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
            keys: Default::default(),
            session_news: false,
            first_byte: [None; 2],
            problems: Vec::new(),
            facts: TlsFacts::default(),
        }
    }

    /// The key log to look this connection's secrets up in when its ServerHello arrives.
    pub fn set_keylog(&mut self, keylog: Option<Arc<KeyLog>>) {
        self.keys.set_keylog(keylog);
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

    fn role(&self, side: Side) -> Role {
        match self.client {
            Some(c) if c != side => Role::Server,
            _ => Role::Client,
        }
    }

    /// At least one TLS record was seen (a TDS connection may settle without any).
    pub fn saw_records(&self) -> bool {
        self.dirs.iter().any(|d| d.valid)
    }

    /// What went wrong reading this connection so far, in the order found.
    pub fn problems(&self) -> &[TlsProblem] {
        &self.problems
    }

    /// Records a problem found in this side's bytes.
    fn problem(&mut self, kind: TlsProblemKind, frame: u64, side: Side) {
        let sender = self.role(side);
        self.problems.push(TlsProblem::new(kind, frame, sender));
    }

    /// The analyzer's work done: the problems become the `errors` sentences of the facts,
    /// the one place they are written out. The facts are then moved out where they lie (a
    /// `TlsFacts` is large: each move of it is a memcpy).
    pub fn write_errors(&mut self) {
        if !self.problems.is_empty() {
            self.facts.errors = self.problems.iter().map(TlsProblem::to_string).collect();
        }
    }

    /// The facts, with their `errors` (see `write_errors`).
    pub fn into_facts(mut self) -> TlsFacts {
        self.write_errors();
        self.facts
    }

    /// The next in-order bytes of this side's stream, TLS records as they are on the wire.
    pub fn on_data(&mut self, side: Side, data: &[u8], seen: Seen) {
        if self.admit(side, data, seen) {
            self.read_records(side, data, seen, |_| Claim::<()>::No);
        }
    }

    /// Takes a side's next bytes as they are on the wire, before any framing in front of TLS
    /// is removed: false when the record layer has no use for them (not wanted, empty, or kept
    /// here as the answer to a side that did not speak TLS).
    #[inline]
    pub fn admit(&mut self, side: Side, data: &[u8], seen: Seen) -> bool {
        if !self.wants(side) || data.is_empty() {
            return false;
        }
        self.first_byte[side].get_or_insert(seen.frame);
        if self.status == Status::NotTls {
            self.on_answer(data, seen);
            return false;
        }
        true
    }

    /// A framing in front of TLS knows which side is the client (the sender of a PRELOGIN, of
    /// an OpenVPN reset): taken unless a ClientHello already said.
    pub fn set_client(&mut self, side: Side) {
        if self.facts.client_hello.is_none() {
            self.client = Some(side);
        }
    }

    /// Nothing more is read from this side (a framing in front of TLS is done with it).
    pub fn stop(&mut self, side: Side) {
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

    /// True once after a hello or ticket arrived: the flow table's session index then looks at
    /// the facts (see `flow::sessions`).
    pub fn take_session_news(&mut self) -> bool {
        std::mem::take(&mut self.session_news)
    }
}

/// Byte builders shared by the unit tests of the analyzer's files (and of the layer in front).
#[cfg(test)]
pub(crate) mod testing {
    use super::TlsAnalyzer;
    use crate::proto::facts::Seen;

    pub(crate) fn seen(frame: u64) -> Seen {
        Seen { frame, ts: 0 }
    }

    pub(crate) fn record(ctype: u8, body: &[u8]) -> Vec<u8> {
        let mut r = vec![ctype, 3, 3];
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    /// A ClientHello handshake message (TLS 1.2, one suite, the given extensions block).
    pub(crate) fn client_hello(extensions: &[u8]) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend_from_slice(&[0; 32]);
        body.extend_from_slice(&[0, 0, 2, 0xc0, 0x2f, 1, 0]);
        body.extend_from_slice(extensions);
        let mut msg = vec![1, 0, 0, 0];
        msg[1..4].copy_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        msg.extend_from_slice(&body);
        msg
    }

    /// A ServerHello handshake message choosing `suite`, TLS 1.3 (supported_versions) or 1.2.
    pub(crate) fn server_hello(suite: u16, tls13: bool) -> Vec<u8> {
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
    pub(crate) fn after_hellos(suite: u16, tls13: bool) -> TlsAnalyzer {
        let mut tls = TlsAnalyzer::new(1 << 16);
        tls.on_data(0, &record(22, &client_hello(&[])), seen(1));
        tls.on_data(1, &record(22, &server_hello(suite, tls13)), seen(2));
        if tls13 {
            tls.on_data(1, &record(23, &[0; 800]), seen(2));
        }
        assert!(tls.facts.server_hello.is_some());
        tls
    }
}
