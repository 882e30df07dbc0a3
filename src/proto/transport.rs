//! What carries a connection's TLS records, in front of the TLS analyzer: the records
//! themselves (TLS over TCP), SQL Server's TDS PRELOGIN packets, or OpenVPN's control channel.
//! [`StreamAnalyzer`] is what the flow stage feeds: once a side's first bytes turn out to be
//! one of those framings it owns the unwrapper, strips the framing and hands the TLS bytes to
//! [`TlsAnalyzer`], which knows nothing of TDS or OpenVPN. [`StreamFacts`] is what it leaves
//! for the connection's record.

use super::facts::{Seen, TlsFacts};
use super::keylog::KeyLog;
use super::openvpn::{self, OpenVpnFacts, OpenVpnUnwrapper};
use super::tds::{self, TdsFacts, TdsUnwrapper};
use super::tls::{Claim, Status, TlsAnalyzer};
use super::Side;
use std::sync::Arc;

/// The framing around the TLS records, decided by the first bytes that are not a TLS record.
enum Framing {
    /// TLS records straight on TCP (also after plaintext: STARTTLS, a prologue).
    Tls,
    /// SQL Server's TDS: the handshake inside PRELOGIN packets (TDS 7.x; TDS 8.0 strict mode
    /// starts with TLS and is `Tls` here).
    Tds(Box<Unwrapping<TdsUnwrapper>>),
    /// OpenVPN over TCP: the handshake inside its control channel.
    OpenVpn(Box<Unwrapping<OpenVpnUnwrapper>>),
}

/// A framing's unwrapper with the buffer its TLS bytes are unwrapped into (reused from call
/// to call; only framed connections pay for it).
#[derive(Default)]
struct Unwrapping<U> {
    unwrapper: U,
    tls: Vec<u8>,
}

/// One connection's stream analyzer: the framing in front, the TLS analyzer behind it.
pub struct StreamAnalyzer {
    framing: Framing,
    tls: TlsAnalyzer,
}

impl StreamAnalyzer {
    pub fn new(max_handshake_message: usize) -> Self {
        StreamAnalyzer { framing: Framing::Tls, tls: TlsAnalyzer::new(max_handshake_message) }
    }

    /// The TLS analyzer behind the framing, and the facts it has gathered so far.
    pub fn tls(&self) -> &TlsAnalyzer {
        &self.tls
    }

    pub fn tls_mut(&mut self) -> &mut TlsAnalyzer {
        &mut self.tls
    }

    /// The key log to look this connection's secrets up in (see [`TlsAnalyzer::set_keylog`]).
    pub fn set_keylog(&mut self, keylog: Option<Arc<KeyLog>>) {
        self.tls.set_keylog(keylog);
    }

    /// Tells which side opened the TCP connection (see [`TlsAnalyzer::set_client_hint`]).
    pub fn set_client_hint(&mut self, side: Side) {
        self.tls.set_client_hint(side);
    }

    pub fn status(&self) -> Status {
        self.tls.status()
    }

    /// The side that sent the ClientHello (or the framing's first message), if known.
    pub fn client_side(&self) -> Option<Side> {
        self.tls.client_side()
    }

    /// True while this side's bytes may still change the outcome.
    pub fn wants(&self, side: Side) -> bool {
        self.tls.wants(side)
    }

    /// See [`TlsAnalyzer::take_session_news`].
    pub fn take_session_news(&mut self) -> bool {
        self.tls.take_session_news()
    }

    /// Bytes of this side's stream are missing from the capture.
    pub fn on_gap(&mut self, side: Side, frame: u64) {
        self.tls.on_gap(side, frame);
    }

    /// The connection is over.
    pub fn finish(&mut self) {
        self.tls.finish();
    }

    /// The next in-order bytes of this side's stream.
    pub fn on_data(&mut self, side: Side, data: &[u8], seen: Seen) {
        if !self.tls.admit(side, data, seen) {
            return;
        }
        match &mut self.framing {
            Framing::Tls => {
                if let Some((framing, bytes)) = self.tls.read_records(side, data, seen, claim) {
                    // The bytes held so far are the framing's first: read again through it.
                    self.framing = framing;
                    self.on_data(side, &bytes, seen);
                }
            }
            Framing::Tds(framed) => {
                let tds = &mut framed.unwrapper;
                tds.unwrap(side, data, seen.frame, &mut framed.tls);
                let (client, stopped, negotiated) = (tds.client_side(), tds.stopped(side), tds.facts.negotiated);
                // The PRELOGIN's sender is the client, whatever the TCP handshake said.
                if let Some(client) = client {
                    self.tls.set_client(client);
                }
                feed_unwrapped(&mut self.tls, side, &mut framed.tls, seen);
                // Without encryption nothing more comes from the server that matters; the
                // client's next packet (its LOGIN7 in the clear) is the evidence still to read.
                // After a mismatch both sides are still read: some clients try TLS anyway.
                let server_unencrypted = negotiated == Some(tds::Negotiated::None) && client.is_some_and(|c| c != side);
                if server_unencrypted || stopped {
                    self.tls.stop(side);
                }
            }
            Framing::OpenVpn(framed) => {
                let vpn = &mut framed.unwrapper;
                vpn.unwrap(side, data, seen.frame, &mut framed.tls);
                let (client, stopped) = (vpn.client_side(), [vpn.stopped(0), vpn.stopped(1)]);
                if let Some(client) = client {
                    self.tls.set_client(client);
                }
                feed_unwrapped(&mut self.tls, side, &mut framed.tls, seen);
                // Sides the OpenVPN layer is done with (an error; tls-crypt once data flowed
                // both ways).
                for (side, stop) in stopped.into_iter().enumerate() {
                    if stop {
                        self.tls.stop(side);
                    }
                }
            }
        }
    }

    /// What the connection's record is made of, the analyzers' work done. Taken from the box
    /// the flow keeps it in, so the facts are copied once, straight into the result.
    pub fn into_facts(mut self: Box<Self>) -> StreamFacts {
        self.tls.write_errors();
        StreamFacts {
            status: self.tls.status(),
            saw_records: self.tls.saw_records(),
            framing: std::mem::replace(&mut self.framing, Framing::Tls),
            facts: self.tls.facts,
        }
    }
}

/// TLS bytes a framing unwrapped go on as a plain TLS connection's would; the buffer is
/// emptied for the next call.
fn feed_unwrapped(tls: &mut TlsAnalyzer, side: Side, unwrapped: &mut Vec<u8>, seen: Seen) {
    if !unwrapped.is_empty() {
        // Inside a framing, bytes that are no TLS record are the framing's business.
        tls.read_records(side, unwrapped, seen, |_| Claim::<Framing>::No);
        unwrapped.clear();
    }
}

/// Whether a side's first bytes, not a TLS record, are a framing that carries TLS.
fn claim(bytes: &[u8]) -> Claim<Framing> {
    // SQL Server's TDS carries the handshake inside its PRELOGIN packets.
    match tds::detect(bytes) {
        tds::Detection::Prelogin => return Claim::Framed(Framing::Tds(Box::default())),
        tds::Detection::NeedMore => return Claim::NeedMore,
        tds::Detection::No => {}
    }
    // OpenVPN over TCP carries the handshake inside its control channel.
    match openvpn::detect(bytes) {
        openvpn::Detection::OpenVpn => Claim::Framed(Framing::OpenVpn(Box::default())),
        openvpn::Detection::NeedMore => Claim::NeedMore,
        openvpn::Detection::No => Claim::No,
    }
}

/// What the stream analyzers learned about one connection, taken out of its flow: the TLS
/// facts and those of the framing in front. The accessors are named as the record builder
/// reads them.
pub struct StreamFacts {
    status: Status,
    saw_records: bool,
    /// The framing's unwrapper, its facts taken out on demand (it is small to move).
    framing: Framing,
    pub facts: TlsFacts,
}

impl StreamFacts {
    /// A connection that carried no payload: nothing was analyzed.
    pub fn no_payload() -> Self {
        StreamFacts { status: Status::Waiting, saw_records: false, framing: Framing::Tls, facts: TlsFacts::default() }
    }

    pub fn status(&self) -> Status {
        self.status
    }

    /// At least one TLS record was seen (a TDS connection may settle without any).
    pub fn saw_records(&self) -> bool {
        self.saw_records
    }

    /// The TDS facts of a SQL Server connection.
    pub fn take_tds(&mut self) -> Option<TdsFacts> {
        match std::mem::replace(&mut self.framing, Framing::Tls) {
            Framing::Tds(framed) => Some(framed.unwrapper.facts),
            other => {
                self.framing = other;
                None
            }
        }
    }

    /// The OpenVPN facts of an OpenVPN-over-TCP connection.
    pub fn take_openvpn(&mut self) -> Option<OpenVpnFacts> {
        match std::mem::replace(&mut self.framing, Framing::Tls) {
            Framing::OpenVpn(framed) => Some(framed.unwrapper.facts),
            other => {
                self.framing = other;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::tds::Encryption;
    use crate::proto::tls::testing::{client_hello, record, seen};

    /// A TDS PRELOGIN packet around `payload` (MS-TDS 2.2.3: type, status, length, SPID,
    /// packet id, window).
    fn prelogin_packet(end_of_message: bool, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x12, end_of_message as u8];
        p.extend_from_slice(&((payload.len() + 8) as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0, 1, 0]);
        p.extend_from_slice(payload);
        p
    }

    /// A client PRELOGIN with one option, ENCRYPTION = ON, then its ClientHello record split
    /// over two PRELOGIN packets.
    fn tds_client_stream() -> (Vec<u8>, usize) {
        let mut bytes = prelogin_packet(true, &[0x01, 0x00, 0x06, 0x00, 0x01, 0xff, 0x01]);
        let options_end = bytes.len();
        let hello = record(22, &client_hello(&[]));
        bytes.extend(prelogin_packet(false, &hello[..6]));
        bytes.extend(prelogin_packet(true, &hello[6..]));
        (bytes, options_end)
    }

    #[test]
    fn a_prelogin_framing_is_removed_in_front_of_tls() {
        let (bytes, options_end) = tds_client_stream();
        let mut stream = Box::new(StreamAnalyzer::new(1 << 16));
        // The TCP handshake said otherwise: the PRELOGIN's sender is the client.
        stream.set_client_hint(1);
        // One byte at a time: the framing is recognised only once its first packet is whole.
        for (i, b) in bytes[..options_end].iter().enumerate() {
            stream.on_data(0, std::slice::from_ref(b), seen(4 + i as u64));
        }
        assert_eq!(stream.client_side(), Some(0));
        stream.on_data(0, &bytes[options_end..], seen(40));
        let hello = stream.tls().facts.client_hello.as_ref().expect("the ClientHello inside PRELOGIN is read");
        assert_eq!(
            hello.cipher_suites,
            [crate::proto::values::CipherSuite(0xc02f)],
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        );
        assert!(stream.tls().facts.non_tls.is_none());
        let mut facts = stream.into_facts();
        let tds = facts.take_tds().expect("TDS facts");
        assert_eq!(tds.client.and_then(|p| p.encryption), Some(Encryption::On));
        assert!(facts.take_openvpn().is_none());

        // The TLS analyzer alone knows nothing of TDS: to it the PRELOGIN is plaintext.
        let mut tls = TlsAnalyzer::new(1 << 16);
        tls.on_data(0, &bytes, seen(4));
        assert!(tls.facts.non_tls.is_some());
        assert!(tls.facts.client_hello.is_none());
    }

    #[test]
    fn tls_on_tcp_takes_no_framing() {
        let mut stream = Box::new(StreamAnalyzer::new(1 << 16));
        stream.on_data(0, &record(22, &client_hello(&[])), seen(1));
        assert!(stream.tls().facts.client_hello.is_some());
        let mut facts = stream.into_facts();
        assert!(facts.take_tds().is_none() && facts.take_openvpn().is_none());
        assert!(facts.saw_records());
    }
}
