//! Per-server profiles built across connections, and the verdicts they sharpen.
//!
//! One connection that ends in a reset right after its ClientHello cannot say why. The same
//! server seen choosing TLS 1.2 with other clients, or only suites this client did not offer,
//! can: that is the second pass of the classifier (DESIGN.md, "classify").

use super::findings::Finding;
use super::{Conclusions, Pass};
use crate::proto::values::{CipherSuite, TlsVersion};
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
    /// The versions of `versions` and the suites of `cipher_suites` as values, for the rules
    /// (None: an SSL 2.0 server's cipher kinds).
    #[serde(skip)]
    chosen_versions: BTreeSet<TlsVersion>,
    #[serde(skip)]
    suite_by_name: BTreeMap<String, Option<CipherSuite>>,
}

impl ServerProfile {
    fn chose_suite(&self, suite: CipherSuite) -> bool {
        self.suite_by_name.values().any(|s| *s == Some(suite))
    }
}

/// Counts one more of `name` (allocating only for a name not seen yet); true when it is new.
fn count(map: &mut BTreeMap<String, u64>, name: crate::names::Name) -> bool {
    if let Some(n) = map.get_mut(name.as_ref()) {
        *n += 1;
        return false;
    }
    map.insert(name.into_owned(), 1);
    true
}

/// The highest of these versions this program knows (0 when none): an unassigned value
/// offered is not one a server could choose.
fn highest_known<'a>(versions: impl Iterator<Item = &'a TlsVersion>) -> u32 {
    versions.filter(|v| v.is_named()).map(|v| v.rank()).max().unwrap_or(0)
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
            count(&mut p.versions, sh.version.name());
            if count(&mut p.cipher_suites, sh.suite_name()) {
                p.suite_by_name.insert(sh.suite_name().into_owned(), sh.cipher_suite);
            }
            p.chosen_versions.insert(sh.version);
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
                let tls13_client = ch.max_version == TlsVersion::TLS1_3;
                let fits = |name: &str| {
                    p.suite_by_name.get(name).copied().flatten().is_some_and(CipherSuite::is_tls13) == tls13_client
                };
                let Some((chosen, _)) = p
                    .cipher_suites
                    .iter()
                    .filter(|(s, _)| fits(s))
                    .max_by_key(|(_, n)| **n)
                    .or_else(|| p.cipher_suites.iter().max_by_key(|(_, n)| **n))
                else {
                    return;
                };
                if ch.cipher_suites.iter().any(|s| p.chose_suite(*s)) {
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
                let offered_max = highest_known(std::iter::once(&ch.max_version));
                let Some(lowest) = p.chosen_versions.iter().copied().min_by_key(|v| v.rank()) else { return };
                if offered_max >= lowest.rank() {
                    return;
                }
                c.verdict = c
                    .verdict
                    .sharpened(Code::ProtocolMismatch, Fault::Client, Confidence::Likely)
                    .because(format!(
                        "{how}; this server completed {} handshake(s) with other clients using {}",
                        p.ok,
                        p.versions.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))
                    .hint(format!(
                        "Enable {lowest} in the client. {}",
                        crate::suite_names::version_settings(lowest.0).unwrap_or_default()
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
        if p.chosen_versions.is_empty() {
            return;
        }
        let offered_max = highest_known(ch.supported_versions.iter().chain(std::iter::once(&ch.max_version)));
        let lowest_chosen = p.chosen_versions.iter().map(|v| v.rank()).min().unwrap_or(0);
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
        let shared = ch.cipher_suites.iter().any(|s| p.chose_suite(*s));
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
