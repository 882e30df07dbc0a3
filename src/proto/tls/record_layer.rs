//! The record layer: a side's bytes cut into TLS records (header checked, body at most
//! 2^14 + 2048 bytes), reading resumed at the next confirmed header after a hole, SSLv2-format
//! hellos recognised, and the decision whether a side speaks TLS at all: plaintext before a
//! hello (STARTTLS, a prologue), plaintext answered by a TLS service, bytes that are no record.

use super::problem::TlsProblemKind;
use super::{Claim, Status, TlsAnalyzer};
use crate::names;
use crate::proto::facts::{NonTls, Prologue, Role, Seen};
use crate::proto::values::{CipherSuite, TlsVersion};
use crate::proto::Side;

/// Plaintext read from a side before giving up on finding a TLS hello in it.
const MAX_PLAINTEXT_PREFIX: usize = 16 * 1024;

/// Largest TLSCiphertext fragment allowed by RFC 5246 (2^14 + 2048).
const MAX_RECORD_BODY: usize = 16384 + 2048;

impl TlsAnalyzer {
    /// The first bytes answering a side that did not speak TLS.
    pub(super) fn on_answer(&mut self, data: &[u8], seen: Seen) {
        let tls_record = data.len() >= 5 && (20..=24).contains(&data[0]) && data[1] == 3;
        let alert = match data {
            [21, 3, _, 0, 2, level, description, ..] if *level <= 2 => Some(names::alert(*description)),
            _ => None,
        };
        if let Some(non_tls) = self.facts.non_tls.as_mut() {
            non_tls.answer =
                Some(crate::proto::facts::Answer { frame: seen.frame, tls_record, alert, preview: preview(data) });
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

    /// Reads this side's next TLS bytes (wire bytes, or those a framing in front unwrapped)
    /// as records. When the side's first bytes are no TLS record, `claim` is asked whether
    /// they belong to a framing in front of TLS; if so, they are returned unread with what
    /// `claim` made of them.
    pub fn read_records<T>(
        &mut self,
        side: Side,
        data: &[u8],
        seen: Seen,
        mut claim: impl FnMut(&[u8]) -> Claim<T>,
    ) -> Option<(T, Vec<u8>)> {
        if !self.wants(side) {
            return None;
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
                    return None;
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
                // A framing in front of TLS (SQL Server's TDS, OpenVPN's control channel) may
                // carry the handshake: the layer in front takes the bytes back.
                if pos == 0 && self.facts.non_tls.is_none() {
                    match claim(rest) {
                        Claim::Framed(framing) => return Some((framing, buf)),
                        Claim::NeedMore => break,
                        Claim::No => {}
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
        None
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
            self.problem(TlsProblemKind::NotARecord, seen.frame, side);
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
                self.facts.client_hello = Some(crate::proto::facts::ClientHello {
                    frame: seen.frame,
                    legacy_version: TlsVersion(version),
                    max_version: TlsVersion(version),
                    cipher_suites: ids.into_iter().map(CipherSuite).collect(),
                    sslv2_format: true,
                    ..Default::default()
                });
                self.push_message(Role::Client, "ClientHello", seen);
            }
            // SERVER-HELLO: the server speaks SSL 2.0 itself.
            Some(4) => {
                self.facts.server_hello = Some(crate::proto::facts::ServerHello {
                    frame: seen.frame,
                    legacy_version: TlsVersion::SSL2,
                    version: TlsVersion::SSL2,
                    // SSL 2.0 cipher kinds are not TLS suites.
                    cipher_suite: None,
                    ..Default::default()
                });
                self.push_message(Role::Server, "ServerHello", seen);
                self.status = Status::Done;
            }
            _ => self.on_garbage(side, body, seen),
        }
    }
}

/// Up to 64 bytes as text, non-printable ones shown as `.`.
fn preview(bytes: &[u8]) -> String {
    bytes.iter().take(64).map(|&b| if b.is_ascii_graphic() || b == b' ' { b as char } else { '.' }).collect()
}

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

/// Offset of the first plausible TLS handshake record holding a ClientHello or ServerHello.
fn find_hello(bytes: &[u8]) -> Option<usize> {
    bytes.windows(6).position(|w| {
        let len = u16::from_be_bytes([w[3], w[4]]) as usize;
        w[0] == 22 && w[1] == 3 && w[2] <= 4 && (4..=MAX_RECORD_BODY).contains(&len) && (w[5] == 1 || w[5] == 2)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::tls::testing::{client_hello, record, seen};
    use crate::proto::tls::TlsProblem;

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

    #[test]
    fn record_longer_than_tls_allows_is_an_error_not_a_wait() {
        let mut tls = TlsAnalyzer::new(1 << 16);
        tls.on_data(0, &record(22, &client_hello(&[])), seen(1));
        tls.on_data(0, &[23, 3, 3, 0xff, 0xff, 1, 2, 3], seen(2));
        assert_eq!(tls.problems(), [TlsProblem::new(TlsProblemKind::NotARecord, 2, Role::Client)]);
        assert!(!tls.wants(0));
        // The record carries the problem as the sentence it always had.
        assert_eq!(tls.into_facts().errors, vec!["Client sent bytes that are not a TLS record in frame 2".to_string()]);
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
}
