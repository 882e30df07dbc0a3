//! Per-server profiles built across connections, and the verdicts they sharpen.
//!
//! One connection that ends in a reset right after its ClientHello cannot say why. The same
//! server seen choosing TLS 1.2 with other clients, or only suites this client did not offer,
//! can: that is the second pass of the classifier (DESIGN.md, "classify").

use super::findings::Finding;
use super::{Conclusions, Pass};
use crate::names::version_id;
use crate::proto::messages::version_rank;
use crate::record::Connection;
use crate::verdict::Code;
use crate::verdict::{Confidence, Fault};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Verdicts that one connection alone cannot explain further, and a profile may.
pub fn is_inferable(code: Code) -> bool {
    matches!(
        code,
        Code::RstWithoutServerHello
            | Code::ClosedWithoutServerHello
            | Code::NoServerHello
            | Code::CipherMismatch
            | Code::ProtocolMismatch
    )
}

/// Leaf certificate subjects listed per server.
pub const MAX_CERTIFICATES: usize = 16;

/// What one server (ip:port) did across all connections seen.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ServerProfile {
    pub server: String,
    pub connections: u64,
    pub ok: u64,
    /// Connection count per failure verdict.
    pub failures: BTreeMap<Code, u64>,
    /// Negotiated versions and how often.
    pub versions: BTreeMap<String, u64>,
    /// Chosen cipher suites and how often.
    pub cipher_suites: BTreeMap<String, u64>,
    /// Fatal alerts this server sent, by name.
    pub alerts_sent: BTreeMap<String, u64>,
    /// Subjects of the leaf certificates it presented (the first [`MAX_CERTIFICATES`] in
    /// name order).
    pub certificates: BTreeSet<String>,
    /// What several of its connections show together (see `findings`).
    pub findings: Vec<Finding>,
    #[serde(skip)]
    version_ids: BTreeSet<u16>,
}

/// The profile pass: what each server did, and the refusals it explains.
#[derive(Default)]
pub struct Profiles {
    servers: BTreeMap<String, ServerProfile>,
}

impl Pass for Profiles {
    fn observe(&mut self, c: &Connection) {
        self.add(c);
    }

    fn may_sharpen(&self, c: &Connection) -> bool {
        is_inferable(c.verdict.code)
    }

    fn sharpen(&self, c: &mut Connection) {
        Profiles::sharpen(self, c);
    }

    fn settled(&mut self, c: &Connection) {
        self.count_verdict(c);
    }

    fn conclude(&mut self, out: &mut Conclusions) {
        out.servers = std::mem::take(&mut self.servers);
    }
}

impl ServerProfile {
    /// A server not seen yet.
    pub fn new(server: String) -> Self {
        ServerProfile { server, ..Default::default() }
    }
}

impl Profiles {
    fn profile(&mut self, server: &str) -> &mut ServerProfile {
        self.servers.entry(server.to_string()).or_insert_with(|| ServerProfile::new(server.to_string()))
    }

    /// Counts a connection's final verdict for its server.
    fn count_verdict(&mut self, c: &Connection) {
        let p = self.profile(&c.facts.server);
        p.connections += 1;
        if c.verdict.is_ok() {
            p.ok += 1;
        } else if c.verdict.is_failure() {
            *p.failures.entry(c.verdict.code).or_default() += 1;
        }
    }

    /// Adds what one connection shows about its server (before any verdict is sharpened).
    fn add(&mut self, c: &Connection) {
        let p = self.profile(&c.facts.server);
        let Some(tls) = &c.facts.tls else { return };
        if let Some(sh) = &tls.server_hello {
            *p.versions.entry(sh.version.clone()).or_default() += 1;
            *p.cipher_suites.entry(sh.cipher_suite.clone()).or_default() += 1;
            p.version_ids.insert(sh.version_id);
        }
        for alert in tls.alerts.iter().filter(|a| a.is_fatal() && a.sender == crate::proto::facts::Role::Server) {
            *p.alerts_sent.entry(alert.description.map(|d| d.name()).unwrap_or_default()).or_default() += 1;
        }
        if let Some(leaf) = tls.server_certificates.as_ref().and_then(|ch| ch.certificates.first()) {
            // The first in name order rather than in arrival order: the same in any order.
            if p.certificates.len() < MAX_CERTIFICATES || p.certificates.last().is_some_and(|l| leaf.subject < *l) {
                p.certificates.insert(leaf.subject.clone());
                if p.certificates.len() > MAX_CERTIFICATES {
                    p.certificates.pop_last();
                }
            }
        }
    }

    /// A refusal the alert settles, on a server that served other clients: what it chose for
    /// them says which side is out of line, and the setting that fixes it.
    fn name_what_others_got(&self, c: &mut Connection) {
        let (Some(p), Some(ch)) =
            (self.servers.get(&c.facts.server), c.facts.tls.as_ref().and_then(|t| t.client_hello.as_ref()))
        else {
            return;
        };
        if p.ok == 0 {
            return;
        }
        let how = c.verdict.explanation.clone();
        match c.verdict.code {
            Code::CipherMismatch => {
                // The suite to name: the one chosen most for others among those of the
                // client's newest version (TLS 1.3 suites serve only TLS 1.3 clients).
                let tls13_client = ch.max_version == "TLS1.3";
                let fits = |s: &str| crate::suite_names::is_tls13_suite(s) == tls13_client;
                let Some((chosen, _)) = p
                    .cipher_suites
                    .iter()
                    .filter(|(s, _)| fits(s))
                    .max_by_key(|(_, n)| **n)
                    .or_else(|| p.cipher_suites.iter().max_by_key(|(_, n)| **n))
                else {
                    return;
                };
                if ch.cipher_suites.iter().any(|s| p.cipher_suites.contains_key(s.as_ref())) {
                    return;
                }
                c.verdict = c
                    .verdict
                    .sharpened(Code::CipherMismatch, Fault::Client, Confidence::Likely)
                    .because(format!(
                        "{how}; this server completed {} handshake(s) with other clients, choosing {}, which this client does not offer",
                        p.ok,
                        p.cipher_suites.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))
                    .hint(format!(
                        "Enable {} in the client (its OS, framework or driver settings), or enable one of the client's suites on the server.",
                        crate::suite_names::suite_spellings(chosen)
                    ));
            }
            Code::ProtocolMismatch => {
                let offered_max = version_id(&ch.max_version).map(version_rank).unwrap_or(0);
                let Some(lowest) = p.version_ids.iter().copied().min_by_key(|v| version_rank(*v)) else { return };
                if offered_max >= version_rank(lowest) {
                    return;
                }
                let name = crate::names::version(lowest);
                c.verdict = c
                    .verdict
                    .sharpened(Code::ProtocolMismatch, Fault::Client, Confidence::Likely)
                    .because(format!(
                        "{how}; this server completed {} handshake(s) with other clients using {}",
                        p.ok,
                        p.versions.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))
                    .hint(format!(
                        "Enable {name} in the client. {}",
                        crate::suite_names::version_settings(&name).unwrap_or_default()
                    ));
            }
            _ => {}
        }
    }

    /// Sharpens an inferable verdict with what the server did with other clients.
    fn sharpen(&self, c: &mut Connection) {
        if matches!(c.verdict.code, Code::CipherMismatch | Code::ProtocolMismatch) {
            // Refused with an alert: what the server chose for others tells which side to change.
            let refused_by_alert = c.facts.tls.as_ref().and_then(|t| t.first_fatal_alert()).is_some();
            if refused_by_alert {
                self.name_what_others_got(c);
            }
            return;
        }
        // A hello the server's TCP never acknowledged did not reach it: nothing was refused.
        if !is_inferable(c.verdict.code) || c.verdict.side == Fault::Network {
            return;
        }
        let (Some(p), Some(ch)) =
            (self.servers.get(&c.facts.server), c.facts.tls.as_ref().and_then(|t| t.client_hello.as_ref()))
        else {
            return;
        };
        if p.version_ids.is_empty() {
            return;
        }
        let offered_max = ch
            .supported_versions
            .iter()
            .chain(std::iter::once(&ch.max_version))
            .filter_map(|v| version_id(v))
            .map(version_rank)
            .max()
            .unwrap_or(0);
        let lowest_chosen = p.version_ids.iter().map(|v| version_rank(*v)).min().unwrap_or(0);
        let chosen: Vec<&str> = p.versions.keys().map(String::as_str).collect();
        let how = c.verdict.explanation.clone();
        if offered_max < lowest_chosen {
            c.verdict = c
                .verdict
                .sharpened(Code::ProtocolMismatch, Fault::Client, Confidence::Likely)
                .because(format!(
                    "{how}; the client offered up to {}, and this server chose {} with {} other connection(s): no common version",
                    ch.max_version,
                    chosen.join(", "),
                    p.ok
                ))
                .hint("Enable TLS 1.2 (or newer) in the client: its OS, framework or driver settings (Schannel, .NET, Java, OpenSSL).");
            return;
        }
        let shared = ch.cipher_suites.iter().any(|s| p.cipher_suites.contains_key(s.as_ref()));
        if !shared {
            c.verdict = c
                .verdict
                .sharpened(Code::CipherMismatch, Fault::Unknown, Confidence::Likely)
                .because(format!(
                    "{how}; none of the client's {} suites is among those this server chose with other connections ({})",
                    ch.cipher_suites.len(),
                    p.cipher_suites.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
                .hint("Enable a suite both sides share: on the server, or in the client's cipher list.");
        }
    }
}
