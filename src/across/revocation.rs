//! Certificate revocation checks seen in the capture: a client that fails a handshake after
//! receiving a certificate, while its own connection to that certificate's CRL distribution
//! point or OCSP responder failed, rejected the certificate because it could not check it
//! (Windows: CRYPT_E_REVOCATION_OFFLINE, 0x80092013).
//!
//! A second pass across connections, like the server profiles: the failed fetch is often
//! settled after the handshake it explains. When the URL names a host, the DNS answers in the
//! capture say which address the client went to, or that its lookup failed: each input keeps
//! them in a [`DnsLog`], and a connection whose certificate names hosts carries the answers its
//! client got for them (`revocation_lookups`).

use crate::capture::Nanos;
use crate::classify::{Confidence, Evidence, Fault};
use crate::fifo_map::FifoMap;
use crate::proto::dns::{rcode_name, DnsResponse};
use crate::proto::facts::Seen;
use crate::record::{Connection, Facts};
use crate::verdict::Code;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Failed connections remembered as possible revocation fetches; beyond this the oldest stay.
const MAX_FAILED_FETCHES: usize = 65_536;
/// (client, host name) pairs whose DNS answers an input remembers; the oldest are forgotten.
pub const MAX_DNS_NAMES: usize = 65_536;

/// A DNS answer a client got for the host of one of its certificate's revocation URLs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DnsLookup {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "crate::record::is_default")]
    pub frame: u64,
    #[serde(serialize_with = "crate::report::ser_ts", deserialize_with = "crate::time::de_ts")]
    pub ts: Nanos,
    /// `NOERROR`, `NXDOMAIN`, `SERVFAIL`, ...
    #[serde(skip_serializing_if = "String::is_empty")]
    pub rcode: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<IpAddr>,
}

impl DnsLookup {
    fn failed(&self) -> bool {
        self.rcode != "NOERROR"
    }
}

/// The latest answer with addresses and the latest failure, per client and name.
#[derive(Default)]
struct Answers {
    resolved: Option<DnsLookup>,
    failed: Option<DnsLookup>,
}

/// The DNS responses of one input, by client and name (bounded by [`MAX_DNS_NAMES`]).
pub struct DnsLog {
    answers: FifoMap<(IpAddr, String), Answers>,
}

impl Default for DnsLog {
    fn default() -> Self {
        DnsLog { answers: FifoMap::new(MAX_DNS_NAMES) }
    }
}

impl DnsLog {
    /// Takes one response sent to `client`.
    pub fn note(&mut self, client: IpAddr, response: DnsResponse, seen: Seen) {
        let key = (client, response.name);
        let lookup = DnsLookup {
            name: key.1.clone(),
            frame: seen.frame,
            ts: seen.ts,
            rcode: rcode_name(response.rcode),
            addresses: response.addresses,
        };
        // NOERROR without addresses (an AAAA query for a name with only A records) says nothing.
        if !lookup.failed() && lookup.addresses.is_empty() {
            return;
        }
        let answers = self.answers.get_or_insert_with(key, Answers::default);
        if lookup.failed() {
            answers.failed = Some(lookup);
        } else {
            answers.resolved = Some(lookup);
        }
    }

    /// Gives a settled connection the answers its client got for the hosts of its
    /// certificate's revocation URLs: addresses learned before it ended, failures during it.
    pub fn annotate(&self, c: &mut Facts) {
        if self.answers.is_empty() || revocation_urls(c).is_empty() {
            return;
        }
        let Some(client) = c.client_addr().map(|a| a.ip()) else { return };
        let mut found = Vec::new();
        for url in revocation_urls(c) {
            let Some((host, _)) = url_host(url).filter(|(h, _)| h.parse::<IpAddr>().is_err()) else { continue };
            let Some(answers) = self.answers.get(&(client, host.to_ascii_lowercase())) else { continue };
            found.extend(answers.resolved.iter().filter(|l| l.ts <= c.end).cloned());
            found.extend(answers.failed.iter().filter(|l| (c.start..=c.end).contains(&l.ts)).cloned());
        }
        c.revocation_lookups = found;
    }
}

/// A TCP connection that never carried data (unanswered, refused or reset at once).
struct FailedFetch {
    client: IpAddr,
    server: IpAddr,
    port: u16,
    start: i64,
    file: String,
    frame: u64,
    what: String,
}

#[derive(Default)]
pub struct RevocationChecks {
    failed: Vec<FailedFetch>,
}

/// The TCP-level failures that a revocation fetch ends in.
fn is_failed_fetch(code: Code) -> bool {
    matches!(
        code,
        Code::SynTimeout | Code::ConnectionRefused | Code::TcpHandshakeIncomplete | Code::ResetBeforeClientHello
    )
}

/// Verdicts after the server's certificate that a failed revocation check explains better.
fn may_be_revocation(code: Code) -> bool {
    matches!(code, Code::CertificateRejected | Code::AbortedAfterServerHello | Code::FatalAlert)
}

/// Host and port of an http(s) URL (LDAP distribution points are left out).
fn url_host(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let default = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = rest.split('/').next()?;
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default,
    };
    (!host.is_empty()).then(|| (host.to_string(), port))
}

/// The revocation URLs of the server's leaf certificate.
fn revocation_urls(c: &Facts) -> &[String] {
    c.tls
        .as_ref()
        .and_then(|t| t.server_certificates.as_ref())
        .and_then(|chain| chain.certificates.first())
        .map(|leaf| leaf.revocation_urls.as_slice())
        .unwrap_or(&[])
}

impl super::Pass for RevocationChecks {
    fn observe(&mut self, c: &Connection) {
        self.note(c);
    }

    fn may_sharpen(&self, c: &Connection) -> bool {
        Self::may_explain(c)
    }

    fn sharpen(&self, c: &mut Connection) {
        RevocationChecks::sharpen(self, c);
    }
}

impl RevocationChecks {
    /// Remembers a connection that may be a failed revocation fetch.
    pub fn note(&mut self, c: &Connection) {
        if !is_failed_fetch(c.verdict.code) || self.failed.len() >= MAX_FAILED_FETCHES {
            return;
        }
        let (Some(client), Some(server)) = (c.facts.client_addr(), c.facts.server_addr()) else {
            return;
        };
        let what = format!("{} to {} ({})", c.verdict.code, c.facts.server, c.verdict.explanation);
        self.failed.push(FailedFetch {
            client: client.ip(),
            server: server.ip(),
            port: server.port(),
            start: c.facts.start,
            file: c.file.clone(),
            frame: c.facts.first_frame,
            what,
        });
    }

    /// True for a connection this pass may explain, which must wait for the end of the input.
    pub fn may_explain(c: &Connection) -> bool {
        may_be_revocation(c.verdict.code) && !revocation_urls(&c.facts).is_empty()
    }

    /// Why one of the certificate's revocation URLs could not be fetched during this
    /// connection: a failed connection to its address (named in the URL, or by a DNS answer
    /// in the capture: `likely`), a failed DNS lookup of its host (`likely`), or a failed
    /// connection to its port during the handshake when the host's address is unknown
    /// (`possible`).
    fn unreachable(&self, c: &Connection) -> Option<(String, Confidence, String, Vec<Evidence>)> {
        let client = c.facts.client_addr()?.ip();
        revocation_urls(&c.facts).iter().find_map(|url| {
            let (host, port) = url_host(url)?;
            // The earliest failed fetch that fits, whatever order the connections came in.
            let fetched = |addresses: &[IpAddr]| {
                self.failed
                    .iter()
                    .filter(|f| {
                        f.client == client
                            && f.port == port
                            && (c.facts.start..=c.facts.end).contains(&f.start)
                            && (addresses.is_empty() || addresses.contains(&f.server))
                    })
                    .min_by(|a, b| (a.start, &a.file, a.frame).cmp(&(b.start, &b.file, b.frame)))
            };
            let fetch_evidence = |f: &FailedFetch| Evidence { frame: f.frame, what: format!("failed fetch of {url}") };
            if let Ok(literal) = host.parse::<IpAddr>() {
                let f = fetched(&[literal])?;
                return Some((
                    url.clone(),
                    Confidence::Likely,
                    format!("its connection to {url} failed ({})", f.what),
                    vec![fetch_evidence(f)],
                ));
            }
            let lookups: Vec<&DnsLookup> =
                c.facts.revocation_lookups.iter().filter(|l| l.name.eq_ignore_ascii_case(&host)).collect();
            for l in lookups.iter().filter(|l| !l.failed()) {
                if let Some(f) = fetched(&l.addresses) {
                    let shown: Vec<String> = l.addresses.iter().map(IpAddr::to_string).collect();
                    let how = format!(
                        "its connection to {url} ({host} is {} by the DNS answer in frame {}) failed ({})",
                        shown.join(", "),
                        l.frame,
                        f.what
                    );
                    let dns = Evidence { frame: l.frame, what: format!("DNS answer for {host}") };
                    return Some((url.clone(), Confidence::Likely, how, vec![dns, fetch_evidence(f)]));
                }
            }
            if let Some(l) = lookups.iter().find(|l| l.failed()) {
                let how = format!("its DNS lookup of {host} for {url} failed ({}, frame {})", l.rcode, l.frame);
                let dns = Evidence { frame: l.frame, what: format!("DNS {} for {host}", l.rcode) };
                return Some((url.clone(), Confidence::Likely, how, vec![dns]));
            }
            let f = fetched(&[])?;
            Some((
                url.clone(),
                Confidence::Possible,
                format!("its connection to {url} failed ({})", f.what),
                vec![fetch_evidence(f)],
            ))
        })
    }

    /// Names revocation as the cause when the client's fetch of the certificate's CRL or OCSP
    /// URL failed during the handshake.
    pub fn sharpen(&self, c: &mut Connection) {
        if !Self::may_explain(c) {
            return;
        }
        let Some((_, confidence, how, evidence)) = self.unreachable(c) else { return };
        c.verdict = c
            .verdict
            .sharpened(Code::CertificateRejected, Fault::Network, confidence)
            .because(format!("the client could not check the certificate's revocation: {how}; {}", c.verdict.explanation))
            .hint("Let the client reach the CRL and OCSP URLs of the certificate chain (firewall, proxy, DNS), or publish them where it can. Windows: certutil -urlfetch -verify cert.cer shows each URL; the error is CRYPT_E_REVOCATION_OFFLINE (0x80092013). OpenSSL: the check is -crl_check with -crl_download.")
            .with_evidence(evidence);
    }
}

#[cfg(test)]
mod tests {
    use super::url_host;

    #[test]
    fn url_hosts_and_default_ports() {
        assert_eq!(url_host("http://crl.example.test/ca.crl"), Some(("crl.example.test".into(), 80)));
        assert_eq!(url_host("https://ocsp.example.test:8443"), Some(("ocsp.example.test".into(), 8443)));
        assert_eq!(url_host("http://[2001:db8::1]/x.crl"), Some(("2001:db8::1".into(), 80)));
        assert_eq!(url_host("http://[2001:db8::1]:8080/x.crl"), Some(("2001:db8::1".into(), 8080)));
        assert_eq!(url_host("ldap:///CN=x,O=y?certificateRevocationList"), None);
    }
}
