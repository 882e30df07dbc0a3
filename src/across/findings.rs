//! Server-level findings: what only several connections to one server show together, each with
//! its time window, counts and evidence connections (the `findings` of a server profile).
//!
//! - `listener_overloaded`: a burst of connections the server never served (SYNs unanswered
//!   or refused, resets before the ClientHello, ClientHellos left unanswered) while it served
//!   others: an accept queue or worker pool that cannot keep up (SQL Server's IOCP listener).
//! - `intermittent_handshake_failure`: the same client and server succeed and fail with the
//!   same version and suite; DHE failures after the key exchange at a rate that fits 1 in 256
//!   are the DHE leading-zero fault of the Windows guides.
//! - `resumption_fallback_certificate_request`: resumption attempts answered with a full
//!   handshake that asks for a client certificate, which the client then fails.
//!
//! Memory is bounded: at most [`MAX_EVENTS`] connections are kept per server and kind (the
//! earliest), and [`MAX_GROUPS`] (client, server, parameters) groups in all; beyond that only
//! counts grow.
//!
//! The findings do not depend on the order connections arrive in (within those bounds): what
//! is kept and named is chosen by time, then file and frame, so records read back in any order
//! (`tlsdiag findings`) give the findings of one run.

use crate::capture::Nanos;
use crate::proto::values::{CipherSuite, TlsVersion};
use crate::record::Connection;
use crate::verdict::{Code, FindingCode};
use crate::verdict::{Confidence, Fault};
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::IpAddr;

/// Connections kept per server and kind of finding.
pub const MAX_EVENTS: usize = 4096;
/// (client, server, version, suite) groups followed for intermittent failures.
pub const MAX_GROUPS: usize = 65_536;
/// Evidence connections listed per finding.
pub const MAX_EVIDENCE: usize = 8;
/// Unserved connections closer together than this belong to one burst.
const BURST_GAP: Nanos = 10_000_000_000;
/// Slices of served connections kept per server address: a week of [`BURST_GAP`]s (about
/// 2.5 MB at most), so a live capture's cross-connection state stays bounded.
const MAX_SERVED_SLICES: usize = 60_480;
/// Fewer unserved connections than this are no burst.
const MIN_BURST: usize = 3;
/// Fewer handshakes than this between one client and server show no pattern.
const MIN_INTERMITTENT: u64 = 3;
/// The DHE leading-zero fault: the shared secret begins with a zero byte once in 256.
const LEADING_ZERO_RATE: f64 = 1.0 / 256.0;

/// One connection named in a finding, as the report names it.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectionRef {
    pub file: String,
    pub client: String,
    pub first_frame: u64,
    pub verdict: Code,
    /// When it began: connections are kept and named earliest first.
    #[serde(skip)]
    pub start: Nanos,
}

impl ConnectionRef {
    fn of(c: &Connection) -> Self {
        ConnectionRef {
            file: c.file.clone(),
            client: c.facts.client.clone(),
            first_frame: c.facts.first_frame,
            verdict: c.verdict.code,
            start: c.facts.start,
        }
    }

    /// The order connections are kept and named in, whatever order they arrived in.
    fn order(&self) -> (Nanos, &str, u64, &str) {
        (self.start, &self.file, self.first_frame, &self.client)
    }
}

/// Adds `item` to a list of at most `cap` kept earliest first (a short list: evidence).
fn keep_earliest(list: &mut Vec<ConnectionRef>, item: ConnectionRef, cap: usize) {
    let at = list.partition_point(|e| e.order() <= item.order());
    if at < cap {
        list.insert(at, item);
        list.truncate(cap);
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub code: FindingCode,
    pub confidence: Confidence,
    #[serde(serialize_with = "crate::time::ser_ts")]
    pub start: Nanos,
    #[serde(serialize_with = "crate::time::ser_ts")]
    pub end: Nanos,
    /// Connections the finding covers, and how many of them failed.
    pub connections: u64,
    pub failed: u64,
    pub explanation: String,
    pub hint: String,
    /// Some of the connections (at most [`MAX_EVIDENCE`]), failed ones first.
    pub evidence: Vec<ConnectionRef>,
}

/// A connection named in a finding: one the server did not serve, or a refused resumption.
#[derive(Clone, Debug)]
struct Event {
    start: Nanos,
    /// The server's TCP answered (SYN-ACK): it was queued, not refused or dropped.
    accepted: bool,
    conn: ConnectionRef,
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Event {
    fn cmp(&self, other: &Self) -> Ordering {
        self.conn.order().cmp(&other.conn.order()).then(self.accepted.cmp(&other.accepted))
    }
}

/// The earliest [`MAX_EVENTS`] events: a heap whose top is the latest kept, so that a later
/// one is refused and an earlier one replaces it, in any arrival order.
#[derive(Default)]
struct Earliest(BinaryHeap<Event>);

impl Earliest {
    fn push(&mut self, event: Event) {
        if self.0.len() < MAX_EVENTS {
            self.0.push(event);
        } else if self.0.peek().is_some_and(|latest| event < *latest) {
            self.0.pop();
            self.0.push(event);
        }
    }
    fn sorted(&self) -> Vec<&Event> {
        let mut events: Vec<&Event> = self.0.iter().collect();
        events.sort();
        events
    }
}

/// The handshakes of one client with one server under the same parameters.
#[derive(Default)]
struct Group {
    ok: u64,
    failed: u64,
    /// Failures after the client's key exchange (the Finished did not verify).
    after_key_exchange: u64,
    dhe: bool,
    ems: bool,
    start: Nanos,
    end: Nanos,
    failures: Vec<ConnectionRef>,
}

#[derive(Default)]
struct Resumptions {
    offered: u64,
    accepted: u64,
    fallbacks: Earliest,
    /// Fallbacks in all (only the earliest are kept), and when the last began.
    fallback_count: u64,
    fallback_end: Nanos,
    /// The earliest fallback's offer and where its session came from, for the explanation.
    example: Option<(Event, String)>,
}

/// (server, client address, version, suite and its circumstances).
type GroupKey = (String, IpAddr, String, String);

/// What the findings are drawn from, filled connection by connection.
#[derive(Default)]
pub struct Collector {
    unserved: FxHashMap<String, (u64, Earliest)>,
    /// Served connections per server address, counted by port and [`BURST_GAP`]-long slice
    /// of time: enough to tell what a host served around a burst, in little memory.
    served: FxHashMap<IpAddr, BTreeMap<(i64, u16), u64>>,
    groups: FxHashMap<GroupKey, Group>,
    resumptions: FxHashMap<String, Resumptions>,
}

/// A connection the server never served: refused or dropped at TCP, reset or closed before
/// the ClientHello, or a ClientHello the client gave up waiting on.
fn unserved(c: &Connection) -> bool {
    let t = &c.facts.tcp;
    let server_ended_first = || {
        let server_end = t.server_fin.or(t.server_rst).map(|s| s.frame);
        let client_end = t.client_fin.or(t.client_rst).map(|s| s.frame);
        server_end.is_some_and(|s| client_end.map_or(true, |c| s < c))
    };
    match c.verdict.code {
        Code::SynTimeout | Code::ConnectionRefused | Code::NoServerHello => true,
        // A client that connects and leaves without a byte (a scanner, a health check) was
        // not refused service.
        Code::ResetBeforeClientHello | Code::ClosedBeforeClientHello => server_ended_first(),
        // The client gave up waiting on its ClientHello.
        Code::RstWithoutServerHello | Code::ClosedWithoutServerHello => c.verdict.side == Fault::Client,
        _ => false,
    }
}

impl super::Pass for Collector {
    fn settled(&mut self, c: &Connection) {
        self.add(c);
    }

    /// Each server's findings go to its profile.
    fn conclude(&mut self, out: &mut super::Conclusions) {
        for (server, findings) in Collector::conclude(self) {
            out.servers.entry(server.clone()).or_insert_with(|| super::profile::ServerProfile::new(server)).findings =
                findings;
        }
    }
}

impl Collector {
    /// Takes one connection with its final verdict.
    pub fn add(&mut self, c: &Connection) {
        let Some(server) = c.facts.server_addr() else { return };
        let accepted = c.facts.tcp.syn_ack.is_some();
        if unserved(c) {
            let (count, events) = self.unserved.entry(c.facts.server.clone()).or_default();
            *count += 1;
            events.push(Event { start: c.facts.start, accepted, conn: ConnectionRef::of(c) });
        } else if c.verdict.is_ok() {
            let slice = c.facts.start.div_euclid(BURST_GAP);
            let slices = self.served.entry(server.ip()).or_default();
            *slices.entry((slice, server.port())).or_default() += 1;
            // Bounded for a capture left running for days: as with the unserved events, the
            // earliest are kept (the bursts weighed are among the earliest events).
            if slices.len() > MAX_SERVED_SLICES {
                slices.pop_last();
            }
        }
        let Some(tls) = &c.facts.tls else { return };
        if let (Some(sh), Some(client)) = (&tls.server_hello, c.facts.client_addr()) {
            // Resumed and full handshakes, and a server asking some clients for a certificate
            // and not others, are not the same parameters.
            let mut suite = sh.suite_name().into_owned();
            if tls.resumed {
                suite.push_str(" (resumed)");
            }
            if tls.certificate_request.is_some() {
                suite.push_str(" with a client certificate requested");
            }
            let key = (c.facts.server.clone(), client.ip(), sh.version.to_string(), suite);
            // A failure the classifier only guesses at (a client that left without a word) is
            // no evidence of an intermittent fault.
            let counted_failure = c.verdict.is_failure() && c.verdict.confidence != Confidence::Possible;
            if c.verdict.is_ok() || counted_failure {
                if let Some(group) = self.group(key, c.facts.start) {
                    group.dhe = sh.cipher_suite.is_some_and(CipherSuite::is_dhe) && sh.version != TlsVersion::TLS1_3;
                    group.ems |= sh.extended_master_secret;
                    group.start = group.start.min(c.facts.start);
                    group.end = group.end.max(c.facts.end);
                    if c.verdict.is_ok() {
                        group.ok += 1;
                    } else {
                        group.failed += 1;
                        group.after_key_exchange += tls.client_key_exchange.is_some() as u64;
                        keep_earliest(&mut group.failures, ConnectionRef::of(c), MAX_EVIDENCE);
                    }
                }
            }
        }
        if tls.resumption.is_some() {
            let r = self.resumptions.entry(c.facts.server.clone()).or_default();
            r.offered += 1;
            r.accepted += tls.resumed as u64;
            if !tls.resumed && tls.certificate_request.is_some() && c.verdict.is_failure() {
                let event = Event { start: c.facts.start, accepted, conn: ConnectionRef::of(c) };
                r.fallback_count += 1;
                r.fallback_end = if r.fallback_count == 1 { c.facts.start } else { r.fallback_end.max(c.facts.start) };
                let earliest = r.example.as_ref().map_or(true, |(first, _)| event < *first);
                if let (true, Some(offer)) = (earliest, &tls.resumption) {
                    let example = match &offer.from {
                        Some(from) => format!(
                            "{} offered the {} issued to {} in frame {}",
                            c.facts.client,
                            offer.offered.replace('_', " "),
                            from.client,
                            from.frame
                        ),
                        None => format!("{} offered a {}", c.facts.client, offer.offered.replace('_', " ")),
                    };
                    r.example = Some((event.clone(), example));
                }
                r.fallbacks.push(event);
            }
        }
    }

    fn group(&mut self, key: GroupKey, start: Nanos) -> Option<&mut Group> {
        if !self.groups.contains_key(&key) && self.groups.len() >= MAX_GROUPS {
            return None;
        }
        Some(self.groups.entry(key).or_insert_with(|| Group { start, end: start, ..Default::default() }))
    }

    /// Every finding, by server (`ip:port`).
    pub fn conclude(&self) -> BTreeMap<String, Vec<Finding>> {
        let mut out: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
        for (server, (count, events)) in &self.unserved {
            if let Some(f) = self.listener_overloaded(server, *count, events) {
                out.entry(server.clone()).or_default().push(f);
            }
        }
        for f in self.intermittent() {
            out.entry(f.0).or_default().push(f.1);
        }
        for (server, r) in &self.resumptions {
            if let Some(f) = resumption_fallback(r) {
                out.entry(server.clone()).or_default().push(f);
            }
        }
        out
    }

    fn listener_overloaded(&self, server: &str, total: u64, events: &Earliest) -> Option<Finding> {
        let events = events.sorted();
        // The largest burst: a run of unserved connections with no gap over BURST_GAP.
        let mut best = 0..0;
        let mut from = 0;
        for i in 1..=events.len() {
            if i == events.len() || events[i].start - events[i - 1].start > BURST_GAP {
                if i - from > best.len() {
                    best = from..i;
                }
                from = i;
            }
        }
        let burst = &events[best];
        if burst.len() < MIN_BURST {
            return None;
        }
        let (start, end) = (burst[0].start, burst[burst.len() - 1].start);
        let addr: std::net::SocketAddr = server.parse().ok()?;
        // Handshakes the host completed from one time slice before the burst to one after.
        let slices = (start.div_euclid(BURST_GAP) - 1, u16::MIN)..=(end.div_euclid(BURST_GAP) + 1, u16::MAX);
        let mut ports: Vec<String> = Vec::new();
        let mut served_meanwhile = 0;
        for ((_, port), n) in self.served.get(&addr.ip()).into_iter().flat_map(|m| m.range(slices.clone())) {
            served_meanwhile += n;
            ports.push(port.to_string());
        }
        ports.sort();
        ports.dedup();
        let queued = burst.iter().filter(|e| e.accepted).count();
        // Some connections queued and others dropped in one burst is an accept queue filling
        // up; other connections served meanwhile rule out a server that is simply down.
        let filling_queue = queued > 0 && queued < burst.len();
        if served_meanwhile == 0 && !filling_queue {
            return None;
        }
        let mut kinds: BTreeMap<Code, usize> = BTreeMap::new();
        for e in burst {
            *kinds.entry(e.conn.verdict).or_default() += 1;
        }
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let mut explanation = format!(
            "{} connections in {:.1} s were not served ({}); {queued} of them were accepted by TCP and never answered",
            burst.len(),
            (end - start) as f64 / 1e9,
            kinds.join(", ")
        );
        if served_meanwhile > 0 {
            explanation.push_str(&format!(
                "; meanwhile {served_meanwhile} handshake(s) with {} succeeded (port {})",
                addr.ip(),
                ports.join(", ")
            ));
        }
        if total > burst.len() as u64 {
            explanation.push_str(&format!("; {total} unserved connections to this server in all"));
        }
        Some(Finding {
            code: FindingCode::ListenerOverloaded,
            confidence: if served_meanwhile == 0 { Confidence::Possible } else { Confidence::Likely },
            start,
            end,
            connections: burst.len() as u64,
            failed: burst.len() as u64,
            explanation,
            hint: "The service does not accept connections as fast as they come: its accept backlog is full or its \
                   accepting threads are starved. Check its load and backlog (ss -ltn: Recv-Q against Send-Q; \
                   SQL Server: the error log, max worker threads, the clients' connection rate and pooling); \
                   raise the listen backlog (net.core.somaxconn) or add capacity."
                .into(),
            evidence: burst.iter().take(MAX_EVIDENCE).map(|e| e.conn.clone()).collect(),
        })
    }

    /// One finding per server, version and suite whose clients both succeeded and failed.
    fn intermittent(&self) -> Vec<(String, Finding)> {
        // (server, version, suite) -> the clients that both succeeded and failed with them.
        type Clients<'a> = Vec<(&'a IpAddr, &'a Group)>;
        let mut merged: BTreeMap<(&str, &str, &str), Clients> = BTreeMap::new();
        for ((server, client, version, suite), g) in &self.groups {
            if g.ok > 0 && g.failed > 0 && g.ok + g.failed >= MIN_INTERMITTENT {
                merged.entry((server, version, suite)).or_default().push((client, g));
            }
        }
        let mut out = Vec::new();
        for ((server, version, suite), groups) in merged {
            let ok: u64 = groups.iter().map(|(_, g)| g.ok).sum();
            let failed: u64 = groups.iter().map(|(_, g)| g.failed).sum();
            let after_kx: u64 = groups.iter().map(|(_, g)| g.after_key_exchange).sum();
            let dhe = groups.iter().all(|(_, g)| g.dhe);
            let ems = groups.iter().any(|(_, g)| g.ems);
            let start = groups.iter().map(|(_, g)| g.start).min().unwrap_or_default();
            let end = groups.iter().map(|(_, g)| g.end).max().unwrap_or_default();
            let mut clients: Vec<String> = groups.iter().map(|(c, _)| c.to_string()).collect();
            clients.sort();
            let n = ok + failed;
            let mut explanation = format!(
                "{failed} of {n} handshakes with {version} {suite} failed and the others succeeded, between the same \
                 client(s) ({}) and this server",
                clients.join(", ")
            );
            let (confidence, hint);
            if dhe && after_kx == failed && fits_rate(n, failed, LEADING_ZERO_RATE) {
                explanation.push_str(&format!(
                    "; every failure came after the key exchange, at a rate (1 in {:.0}) that fits the DHE \
                     leading-zero fault (1 handshake in 256: a DH shared secret that begins with a zero byte, handled \
                     differently by the two sides){}",
                    n as f64 / failed as f64,
                    if ems { "" } else { ", and Extended Master Secret was not negotiated" }
                ));
                confidence = if ems { Confidence::Possible } else { Confidence::Likely };
                hint = "Prefer ECDHE suites and disable TLS_DHE_* on the server or the client (Windows: \
                        Disable-TlsCipherSuite or the SSL Cipher Suite Order policy); bring both sides to a version \
                        with Extended Master Secret (RFC 7627) and the leading-zero fix (Windows updates for \
                        Schannel; OpenSSL 1.1.0 or newer)."
                    .to_string();
            } else {
                confidence = Confidence::Possible;
                hint = "The parameters are the same, so look at what differs between the failures and the \
                        successes: time (load on the server), the failing connections' alerts, a device on the path \
                        (load balancer member, proxy) that handles some connections."
                    .to_string();
            }
            let mut evidence: Vec<ConnectionRef> = Vec::new();
            for failure in groups.iter().flat_map(|(_, g)| g.failures.iter()) {
                keep_earliest(&mut evidence, failure.clone(), MAX_EVIDENCE);
            }
            out.push((
                server.to_string(),
                Finding {
                    code: FindingCode::IntermittentHandshakeFailure,
                    confidence,
                    start,
                    end,
                    connections: n,
                    failed,
                    explanation,
                    hint,
                    evidence,
                },
            ));
        }
        out
    }
}

fn resumption_fallback(r: &Resumptions) -> Option<Finding> {
    let fallbacks = r.fallbacks.sorted();
    let start = fallbacks.first()?.start;
    let end = r.fallback_end;
    let n = r.fallback_count;
    Some(Finding {
        code: FindingCode::ResumptionFallbackCertificateRequest,
        confidence: Confidence::Likely,
        start,
        end,
        connections: r.offered,
        failed: n,
        explanation: format!(
            "{n} connection(s) offered to resume a session and got a full handshake that asked for a client \
             certificate, then failed ({}); {} of {} resumption attempts to this server were accepted",
            r.example.as_ref().map_or("", |(_, text)| text.as_str()),
            r.accepted,
            r.offered
        ),
        hint: "A client that offers resumption may not be ready for a full handshake with a CertificateRequest \
               (the non-RFC-compliant peers of Microsoft's Extended Master Secret guidance), or has no certificate \
               at hand: keep sessions resumable (one session cache or ticket key behind a load balancer, Extended \
               Master Secret on both sides), give the client its certificate, or stop it from offering resumption."
            .into(),
        evidence: fallbacks.iter().take(MAX_EVIDENCE).map(|e| e.conn.clone()).collect(),
    })
}

/// True when `k` failures in `n` trials are not improbable (both tails at least 0.5 %) for a
/// fault that strikes each trial with probability `p`.
fn fits_rate(n: u64, k: u64, p: f64) -> bool {
    const TAIL: f64 = 0.005;
    // P(X = i) from i = 0 upwards, each term from the last in logs so that a large n does not
    // underflow.
    let (ln_p, ln_q) = (p.ln(), (1.0 - p).ln());
    let mut ln_term = n as f64 * ln_q;
    let mut below = 0.0;
    for i in 0..k.min(n) {
        below += ln_term.exp();
        ln_term += ((n - i) as f64).ln() - ((i + 1) as f64).ln() + ln_p - ln_q;
    }
    let at_k = ln_term.exp();
    let (at_least, at_most) = (1.0 - below, below + at_k);
    at_least >= TAIL && at_most >= TAIL
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_that_fit_one_in_256() {
        // One failure in 40 is unremarkable for a 1-in-256 fault; ten in 40 is not.
        assert!(fits_rate(40, 1, LEADING_ZERO_RATE));
        assert!(!fits_rate(40, 10, LEADING_ZERO_RATE));
        // 40 in 10,000 is right on the rate; 1 in 10,000 is far too rare for it.
        assert!(fits_rate(10_000, 40, LEADING_ZERO_RATE));
        assert!(!fits_rate(10_000, 1, LEADING_ZERO_RATE));
        // A million handshakes do not underflow.
        assert!(fits_rate(1_000_000, 3_900, LEADING_ZERO_RATE));
    }
}
