//! Packets a live capture lost, as facts with a time: the kernel's drop counter (read between
//! batches, so known to within the interval between two reads) and batches tlsdiag itself had
//! to drop when its queue to the analysis was full (known to the packet). A connection that was
//! open while packets were lost carries the loss, and the classifier does not blame a peer for
//! what a lost packet could explain.

use crate::capture::{CaptureLoss, Nanos};
use serde::Serialize;
use std::collections::VecDeque;

/// Loss windows kept at once; beyond it the two oldest are merged (a wider window only makes
/// more connections cautious, never fewer), so memory stays bounded over days.
const MAX_WINDOWS: usize = 4096;

/// What a live capture lost, for its summary.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct LossSummary {
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub kernel: u64,
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub queue: u64,
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub verdicts_affected: u64,
}

/// Every loss of one live capture, and how many verdicts it changed.
#[derive(Debug, Default)]
pub struct LossLog {
    windows: VecDeque<CaptureLoss>,
    pub kernel: u64,
    pub queue: u64,
    /// Connections whose failure verdict became `incomplete_capture` because of a loss.
    pub verdicts_affected: u64,
}

impl LossLog {
    pub fn add(&mut self, loss: CaptureLoss) {
        if loss.packets() == 0 {
            return;
        }
        self.kernel += loss.kernel;
        self.queue += loss.queue;
        match self.windows.back_mut() {
            // Overlapping or touching windows (a sustained overload) are one window.
            Some(last) if loss.from <= last.to => last.absorb(&loss),
            _ => self.windows.push_back(loss),
        }
        if self.windows.len() > MAX_WINDOWS {
            let oldest = self.windows.pop_front().expect("more than MAX_WINDOWS");
            self.windows.front_mut().expect("more than one").absorb(&oldest);
        }
    }

    /// The packets lost while a connection was open, from its first packet to the time it was
    /// settled (`Nanos::MAX`: open until the end of the capture).
    pub fn during(&self, from: Nanos, until: Nanos) -> Option<CaptureLoss> {
        let mut found: Option<CaptureLoss> = None;
        for w in self.windows.iter().rev() {
            if w.to < from {
                // Windows are in time order: nothing earlier overlaps.
                break;
            }
            if w.from <= until {
                match &mut found {
                    Some(f) => f.absorb(w),
                    None => found = Some(*w),
                }
            }
        }
        found
    }

    pub fn lost(&self) -> u64 {
        self.kernel + self.queue
    }

    pub fn summary(&self) -> LossSummary {
        LossSummary { kernel: self.kernel, queue: self.queue, verdicts_affected: self.verdicts_affected }
    }

    /// Gives a settled connection the loss while it was open and judges it again; counts it
    /// when the loss turned a failure into `incomplete_capture`.
    pub fn judge(&mut self, conn: &mut crate::record::Connection, settled_at: Nanos) {
        let Some(loss) = self.during(conn.facts.start, settled_at) else { return };
        conn.facts.capture_loss = Some(loss);
        if conn.verdict.is_failure() {
            conn.verdict = crate::classify::classify(&conn.facts);
            self.verdicts_affected += !conn.verdict.is_failure() as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Code;

    fn loss(kernel: u64, from: Nanos, to: Nanos) -> CaptureLoss {
        CaptureLoss { kernel, queue: 0, from, to }
    }

    #[test]
    fn a_connection_sees_only_the_losses_while_it_was_open() {
        let mut log = LossLog::default();
        log.add(loss(3, 100, 200));
        log.add(CaptureLoss { kernel: 0, queue: 5, from: 500, to: 600 });
        assert_eq!(log.during(0, 99), None);
        assert_eq!(log.during(201, 499), None);
        assert_eq!(log.during(150, 160), Some(loss(3, 100, 200)));
        let both = log.during(0, Nanos::MAX).unwrap();
        assert_eq!((both.kernel, both.queue, both.from, both.to), (3, 5, 100, 600));
        assert_eq!((log.kernel, log.queue, log.lost()), (3, 5, 8));
    }

    #[test]
    fn windows_stay_bounded_and_cover_what_they_merged() {
        let mut log = LossLog::default();
        for i in 0..(MAX_WINDOWS as i64 + 10) {
            log.add(loss(1, i * 10, i * 10 + 1));
        }
        assert_eq!(log.windows.len(), MAX_WINDOWS);
        // The first loss is still seen by a connection open at that time.
        assert!(log.during(0, 1).is_some_and(|l| l.kernel >= 1));
        assert_eq!(log.kernel, MAX_WINDOWS as u64 + 10);
    }

    /// Every connection of a fixture (a real capture, see tests/fixtures/README.md).
    fn fixture(name: &str) -> Vec<crate::record::Connection> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
        let mut conns = Vec::new();
        crate::analyze::analyze_path(&path, &crate::analyze::Settings::default(), &mut |c| conns.push(c));
        conns
    }

    #[test]
    fn a_failure_during_a_loss_becomes_incomplete_capture_naming_it() {
        // OpenSSL's cipher mismatch (ClientHello frame 4, the server's handshake_failure alert
        // frame 6, as tshark shows it).
        let mut conn = fixture("field-both-directions-cipher-mismatch.pcap").remove(0);
        assert_eq!(conn.verdict.code, Code::CipherMismatch);
        let mut log = LossLog::default();
        // A loss before the connection opened changes nothing.
        log.add(loss(2, conn.facts.start - 2_000, conn.facts.start - 1_000));
        let end = conn.facts.end;
        log.judge(&mut conn, end);
        assert_eq!(
            (conn.verdict.code, conn.facts.capture_loss, log.verdicts_affected),
            (Code::CipherMismatch, None, 0)
        );
        log.add(CaptureLoss { kernel: 40, queue: 3, from: conn.facts.start + 1, to: conn.facts.start + 2 });
        let end = conn.facts.end;
        log.judge(&mut conn, end);
        assert_eq!(conn.verdict.code, Code::IncompleteCapture);
        assert!(!conn.verdict.is_failure());
        assert!(conn
            .verdict
            .explanation
            .contains("lost 43 packet(s) (40 dropped by the kernel, 3 by tlsdiag's full queue)"));
        assert!(conn.verdict.explanation.contains("apparent `cipher_mismatch`"));
        assert_eq!(conn.verdict.evidence.iter().map(|e| e.frame).collect::<Vec<_>>(), [4, 6]);
        assert_eq!(conn.facts.capture_loss.map(|l| (l.kernel, l.queue)), Some((40, 3)));
        assert_eq!(log.verdicts_affected, 1);
    }

    #[test]
    fn a_success_during_a_loss_stays_ok() {
        let mut conn = fixture("field-both-directions-tls13.pcap").remove(0);
        assert_eq!(conn.verdict.code, Code::Ok);
        let mut log = LossLog::default();
        log.add(loss(5, conn.facts.start, conn.facts.end));
        log.judge(&mut conn, Nanos::MAX);
        assert_eq!((conn.verdict.code, log.verdicts_affected), (Code::Ok, 0));
        assert_eq!(conn.facts.capture_loss.map(|l| l.kernel), Some(5));
    }

    #[test]
    fn nothing_lost_adds_no_window() {
        let mut log = LossLog::default();
        log.add(loss(0, 1, 2));
        assert_eq!(log.during(Nanos::MIN, Nanos::MAX), None);
    }
}
