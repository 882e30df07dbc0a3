//! The problems of a run: failing connections grouped by what one fix would address (the
//! verdict, the server, and the cause: the alert and who sent it, what the clients offered,
//! the certificate, the PRELOGIN pair), ranked by how many connections each holds, each with
//! its clients, time window, an example with its evidence frames, a Wireshark display filter
//! that selects the group's connections, and the fix. Server findings are problems too. Every
//! report leads with them. Memory is bounded: a fixed number of groups, clients and filter
//! terms per group.
//!
//! Within those bounds a problem does not depend on the order its connections arrive in: the
//! example is the earliest connection (by start, then file and frame), the filter names the
//! earliest ones, the clients named are the lowest addresses.

use super::profile::ServerProfile;
use crate::capture::Nanos;
use crate::record::Connection;
use crate::verdict::Code;
use crate::verdict::{Confidence, Evidence, Fault};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};

/// Groups kept; failures of further causes join their code's and server's "other causes".
const MAX_GROUPS: usize = 1000;
/// Client addresses named per group (all are counted up to `MAX_CLIENTS_COUNTED`).
const CLIENTS_NAMED: usize = 5;
const MAX_CLIENTS_COUNTED: usize = 10_000;
/// Connections a group's filter names one by one; beyond, it selects by server and clients.
const FILTER_CONNECTIONS: usize = 20;
const FILTER_CLIENTS: usize = 50;

fn addr_field(ip: &IpAddr) -> &'static str {
    if ip.is_ipv6() {
        "ipv6.addr"
    } else {
        "ip.addr"
    }
}

/// One problem: a group of failing connections, or a server finding.
#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    /// The verdict code of the connections, or the finding's code.
    pub code: crate::verdict::Topic,
    /// `connections` for a group of failing connections, `finding` for a server finding.
    pub kind: &'static str,
    pub server: String,
    /// What the connections of the group have in common beyond the code and the server.
    pub cause: String,
    pub side: Fault,
    pub confidence: Confidence,
    pub connections: u64,
    pub clients: u64,
    /// Up to five client addresses.
    pub client_examples: Vec<String>,
    #[serde(serialize_with = "crate::time::ser_ts")]
    pub start: Nanos,
    #[serde(serialize_with = "crate::time::ser_ts")]
    pub end: Nanos,
    pub example: Example,
    /// A Wireshark display filter for the group's connections (see `filter_covers`).
    pub wireshark_filter: String,
    /// `all` when the filter selects exactly the group's connections; otherwise what it
    /// selects ("the first 20 connections", "the server's connections with these clients").
    pub filter_covers: String,
    /// The JA4 fingerprint all the group's clients share, when they share one.
    pub client_fingerprint: Option<String>,
    pub fix: String,
}

/// The group's first connection, to open in Wireshark.
#[derive(Clone, Debug, Serialize)]
pub struct Example {
    pub file: String,
    pub client: String,
    pub first_frame: u64,
    pub explanation: String,
    pub evidence: Vec<Evidence>,
}

/// When a connection began, then its file and first frame: the order of "earliest".
type Order = (Nanos, String, u64);

fn order_of(c: &Connection) -> Order {
    (c.facts.start, c.file.clone(), c.facts.first_frame)
}

struct Group {
    problem: Problem,
    /// The order of the connection that is the example.
    example: Order,
    client_ips: BTreeSet<IpAddr>,
    /// The earliest connections' client endpoints, for the filter.
    endpoints: Vec<(Order, SocketAddr)>,
    fingerprint: Option<Option<String>>,
}

/// The example of a group: its verdict's side, confidence, words and fix.
fn example_of(c: &Connection) -> Example {
    Example {
        file: c.file.clone(),
        client: c.facts.client.clone(),
        first_frame: c.facts.first_frame,
        explanation: c.verdict.explanation.clone(),
        evidence: c.verdict.evidence.clone(),
    }
}

/// Collects failing connections into problems as their final verdicts are known.
#[derive(Default)]
pub struct Problems {
    groups: HashMap<(Code, String, String), Group>,
}

/// What the connections of one group share beyond their code and server: what a fix addresses.
fn cause(c: &Connection) -> String {
    let tls = c.facts.tls.as_ref();
    let ch = tls.and_then(|t| t.client_hello.as_ref());
    let alert = tls.and_then(|t| t.first_fatal_alert()).map(|a| {
        format!(
            "fatal alert {} from the {:?}",
            a.description.map_or_else(|| "(encrypted)".into(), |d| d.name()),
            a.sender
        )
        .to_lowercase()
    });
    let mut parts: Vec<String> = alert.into_iter().collect();
    match c.verdict.code {
        Code::ProtocolMismatch => {
            if let Some(ch) = ch {
                parts.push(format!("clients offering up to {}", ch.max_version));
            }
        }
        Code::CipherMismatch => {
            if let Some(ch) = ch {
                let shown: Vec<crate::names::Name> =
                    ch.cipher_suites.iter().filter(|s| !s.is_grease()).take(3).map(|s| s.name()).collect();
                let more = ch.cipher_suites.len().saturating_sub(shown.len());
                parts.push(format!(
                    "clients offering {}{}",
                    shown.join(", "),
                    if more > 0 { format!(" and {more} more") } else { String::new() }
                ));
            }
        }
        Code::CertificateRejected => {
            let leaf = tls.and_then(|t| t.server_certificates.as_ref()).and_then(|ch| ch.certificates.first());
            if let Some(leaf) = leaf {
                parts.push(format!("certificate {}", leaf.subject));
            }
        }
        Code::TdsEncryptionMismatch => {
            if let Some(tds) = &c.facts.tds {
                let enc = |p: Option<&crate::proto::tds::Prelogin>| {
                    p.and_then(|p| p.encryption).map_or("not stated", |e| e.as_str())
                };
                parts.push(format!(
                    "client encryption {}, server encryption {}",
                    enc(tds.client.as_ref()),
                    enc(tds.server.as_ref())
                ));
            }
        }
        _ => {}
    }
    parts.join("; ")
}

impl super::Pass for Problems {
    fn settled(&mut self, c: &Connection) {
        self.add(c);
    }

    fn conclude(&mut self, out: &mut super::Conclusions) {
        out.problems = self.problems(&out.servers);
    }
}

impl Problems {
    /// Takes one connection with its final verdict; only failures make problems.
    pub fn add(&mut self, c: &Connection) {
        if !c.verdict.is_failure() {
            return;
        }
        let mut key = (c.verdict.code, c.facts.server.clone(), cause(c));
        if !self.groups.contains_key(&key) && self.groups.len() >= MAX_GROUPS {
            key.2 = "other causes".into();
        }
        let group = self.groups.entry(key).or_insert_with_key(|(code, server, cause)| Group {
            problem: Problem {
                code: crate::verdict::Topic::Verdict(*code),
                kind: "connections",
                server: server.clone(),
                cause: cause.clone(),
                side: c.verdict.side,
                confidence: c.verdict.confidence,
                connections: 0,
                clients: 0,
                client_examples: Vec::new(),
                start: c.facts.start,
                end: c.facts.end,
                example: example_of(c),
                wireshark_filter: String::new(),
                filter_covers: String::new(),
                client_fingerprint: None,
                fix: c.verdict.hint.clone(),
            },
            example: order_of(c),
            client_ips: BTreeSet::new(),
            endpoints: Vec::new(),
            fingerprint: None,
        });
        let order = order_of(c);
        let p = &mut group.problem;
        if order < group.example {
            p.side = c.verdict.side;
            p.confidence = c.verdict.confidence;
            p.example = example_of(c);
            p.fix = c.verdict.hint.clone();
            group.example = order.clone();
        }
        p.connections += 1;
        p.start = p.start.min(c.facts.start);
        p.end = p.end.max(c.facts.end);
        if let Some(addr) = c.facts.client_addr() {
            if group.client_ips.len() < MAX_CLIENTS_COUNTED {
                group.client_ips.insert(addr.ip());
            }
            let at = group.endpoints.partition_point(|(o, _)| *o <= order);
            if at < FILTER_CONNECTIONS {
                group.endpoints.insert(at, (order, addr));
                group.endpoints.truncate(FILTER_CONNECTIONS);
            }
        }
        let ja4 = c
            .facts
            .tls
            .as_ref()
            .and_then(|t| t.client_hello.as_ref())
            .map(|ch| ch.ja4.clone())
            .filter(|j| !j.is_empty());
        group.fingerprint = match group.fingerprint.take() {
            None => Some(ja4),
            Some(seen) if seen == ja4 => Some(seen),
            Some(_) => Some(None),
        };
    }

    /// The problems, largest first: the groups of failing connections and the server findings.
    fn problems(&self, servers: &BTreeMap<String, ServerProfile>) -> Vec<Problem> {
        let mut out: Vec<Problem> = self.groups.values().map(finish_group).collect();
        for server in servers.values() {
            for f in &server.findings {
                let first = f.evidence.first();
                let client_ips: BTreeSet<IpAddr> =
                    f.evidence.iter().filter_map(|e| e.client.parse::<SocketAddr>().ok()).map(|a| a.ip()).collect();
                out.push(Problem {
                    code: crate::verdict::Topic::Finding(f.code),
                    kind: "finding",
                    server: server.server.clone(),
                    cause: f.explanation.clone(),
                    side: Fault::Server,
                    confidence: f.confidence,
                    connections: f.failed,
                    clients: client_ips.len() as u64,
                    client_examples: client_ips.iter().take(CLIENTS_NAMED).map(|ip| ip.to_string()).collect(),
                    start: f.start,
                    end: f.end,
                    example: Example {
                        file: first.map(|e| e.file.clone()).unwrap_or_default(),
                        client: first.map(|e| e.client.clone()).unwrap_or_default(),
                        first_frame: first.map_or(0, |e| e.first_frame),
                        explanation: f.explanation.clone(),
                        evidence: Vec::new(),
                    },
                    wireshark_filter: server_filter(&server.server),
                    filter_covers: "every connection to the server".into(),
                    client_fingerprint: None,
                    fix: f.hint.clone(),
                });
            }
        }
        out.sort_by(|a, b| {
            b.connections
                .cmp(&a.connections)
                .then_with(|| (&a.server, &a.code, &a.cause).cmp(&(&b.server, &b.code, &b.cause)))
        });
        out
    }
}

fn server_filter(server: &str) -> String {
    match server.parse::<SocketAddr>() {
        Ok(s) => format!("{} eq {} and tcp.port eq {}", addr_field(&s.ip()), s.ip(), s.port()),
        Err(_) => String::new(),
    }
}

fn finish_group(g: &Group) -> Problem {
    let mut p = g.problem.clone();
    p.clients = g.client_ips.len() as u64;
    p.client_examples = g.client_ips.iter().take(CLIENTS_NAMED).map(IpAddr::to_string).collect();
    p.client_fingerprint = g.fingerprint.clone().flatten();
    let Ok(server) = p.server.parse::<SocketAddr>() else { return p };
    let field = addr_field(&server.ip());
    let server_part = format!("{field} eq {} and tcp.port eq {}", server.ip(), server.port());
    let exact = g.endpoints.len() as u64 == p.connections;
    if exact || g.client_ips.len() > FILTER_CLIENTS {
        // The connections one by one: each client address with its ports.
        let mut by_ip: Vec<(IpAddr, Vec<u16>)> = Vec::new();
        for (_, e) in &g.endpoints {
            match by_ip.iter_mut().find(|(ip, _)| *ip == e.ip()) {
                Some((_, ports)) => ports.push(e.port()),
                None => by_ip.push((e.ip(), vec![e.port()])),
            }
        }
        let clients: Vec<String> = by_ip
            .iter()
            .map(|(ip, ports)| {
                let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
                match ports.as_slice() {
                    [one] => format!("{} eq {ip} and tcp.port eq {one}", addr_field(ip)),
                    _ => format!("{} eq {ip} and tcp.port in {{{}}}", addr_field(ip), ports.join(", ")),
                }
            })
            .collect();
        p.wireshark_filter = match clients.as_slice() {
            [one] => format!("{server_part} and {one}"),
            _ => format!("{server_part} and (({}))", clients.join(") or (")),
        };
        p.filter_covers = if exact { "all".into() } else { format!("the first {} connections", g.endpoints.len()) };
    } else {
        // Many connections from a few clients: the server's connections with those clients.
        let clients: Vec<String> = g.client_ips.iter().map(|ip| ip.to_string()).collect();
        p.wireshark_filter = format!("{server_part} and {field} in {{{}}}", clients.join(", "));
        p.filter_covers = "the server's connections with these clients (the group's and any others)".into();
    }
    p
}
