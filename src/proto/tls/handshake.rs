//! What the records mean: handshake messages reassembled across records and parsed
//! (tls-parser reads the messages), and the handshake state machine: hellos and retries, the
//! switch to encrypted records, Finished messages read from record sizes when they cannot be
//! opened, alerts with their sender, and the outcome (completed, confirmed, or given up).

use super::problem::TlsProblemKind;
use super::{Status, TlsAnalyzer};
use crate::proto::decrypt::Opened;
use crate::proto::facts::{
    Alert, MessageSeen, RecordSeen, Role, Seen, MAX_RECORDS_KEPT, MAX_TICKETS_KEPT, TLS13_ALERT_SIZED,
};
use crate::proto::messages::{self, handshake_name, ServerHelloKind};
use crate::proto::record_size;
use crate::proto::values::{AlertDescription, AlertLevel};
use crate::proto::Side;
use tls_parser::{parse_tls_message_handshake, TlsMessage};

/// Plaintext handshake messages kept in the evidence list per side.
const MAX_MESSAGES_KEPT: usize = 24;

/// A handshake takes a dozen records at most; past this many without an outcome (a capture that
/// starts after the handshake, a peer looping) nothing more will be learned.
const MAX_RECORDS_BEFORE_OUTCOME: u32 = 64;

impl TlsAnalyzer {
    pub(super) fn push_message(&mut self, role: Role, message: &'static str, seen: Seen) {
        let list = &mut self.facts.side_mut(role).messages;
        if list.len() < MAX_MESSAGES_KEPT {
            list.push(MessageSeen { message, frame: seen.frame, ts: seen.ts });
        }
    }

    pub(super) fn on_record(&mut self, side: Side, header: [u8; 5], body: &[u8], seen: Seen) {
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
            self.problem(TlsProblemKind::NoOutcome { records: MAX_RECORDS_BEFORE_OUTCOME }, seen.frame, side);
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
        // An SSL 2.0 server (no TLS suite) ends the analysis with its hello.
        let Some((sh, suite)) = self.facts.server_hello.as_ref().and_then(|sh| Some((sh, sh.cipher_suite?))) else {
            return 0;
        };
        if self.tls13 {
            return record_size::tls13_min_finished(suite.0);
        }
        let etm = sh.extensions.iter().any(|e| e == "encrypt_then_mac");
        // A record protected under keys the key log opened was read, not inferred.
        if self.keys.has_keys(side) {
            return 0;
        }
        record_size::tls12_min_finished(suite.0, sh.version.0, etm).unwrap_or(0)
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
            level: plain.map(|(level, _)| AlertLevel(level)),
            description: plain.map(|(_, description)| AlertDescription(description)),
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
                    self.switch_to_tls12_keys(side, role);
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
                    self.problem(TlsProblemKind::ShorterThanFinished { len: body.len(), min }, seen.frame, side);
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
                let limit = self.max_handshake_message;
                self.problem(TlsProblemKind::HandshakeTooLong { len, limit }, seen.frame, side);
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
        if self.keys.has_keys(side) && (self.dirs[side].encrypted || self.tls13) {
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
                self.problem(TlsProblemKind::MalformedMessage { handshake_type: ty }, seen.frame, side);
                return;
            }
        };
        let malformed_extensions = messages::extensions_malformed(&msg);
        if malformed_extensions {
            self.problem(TlsProblemKind::MalformedExtensions { handshake_type: ty }, seen.frame, side);
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
                    self.tls13 = sh.version.is_tls13_like();
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
                    self.problem(TlsProblemKind::MalformedCertificate { fault }, seen.frame, side);
                }
                *self.facts.certificates_mut(role) = messages::certificate_chain(&msg, seen.frame)
            }
            12 => {
                if let (tls_parser::TlsMessageHandshake::ServerKeyExchange(ske), Some(sh)) =
                    (&msg, &self.facts.server_hello)
                {
                    self.facts.server_key_exchange =
                        Some(messages::server_key_exchange(ske.parameters, sh.cipher_suite, seen.frame));
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::tls::testing::{after_hellos, client_hello, record, seen, server_hello};
    use crate::proto::tls::TlsProblem;
    use crate::proto::values::CipherSuite;

    // Adversarial input (issue: hostile captures). Each case must end in a recorded error or
    // an opaque record, never a panic.

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
    fn handshake_length_beyond_the_limit_is_an_error() {
        let mut tls = TlsAnalyzer::new(1 << 16);
        tls.on_data(0, &record(22, &[1, 0xff, 0xff, 0xff, 3, 3]), seen(1));
        let too_long = TlsProblemKind::HandshakeTooLong { len: 0xff_ffff, limit: 1 << 16 };
        assert_eq!(tls.problems(), [TlsProblem::new(too_long, 1, Role::Client)]);
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
        let no_outcome = TlsProblemKind::NoOutcome { records: MAX_RECORDS_BEFORE_OUTCOME };
        assert_eq!(tls.problems(), [TlsProblem::new(no_outcome, 1, Role::Client)]);
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
        assert_eq!(hello.cipher_suites, [CipherSuite(0xc02f)], "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert!(hello.extensions.is_empty());
        let malformed = TlsProblemKind::MalformedExtensions { handshake_type: 1 };
        assert_eq!(tls.problems(), [TlsProblem::new(malformed, 3, Role::Client)]);
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
