//! Certificate revocation checks seen in the capture: a client that fails a handshake after
//! receiving a certificate, while its own connection to that certificate's CRL distribution
//! point or OCSP responder failed, rejected the certificate because it could not check it
//! (Windows: CRYPT_E_REVOCATION_OFFLINE, 0x80092013).
//!
//! A second pass across connections, like the server profiles: the failed fetch is often
//! settled after the handshake it explains. When the URL names a host, the DNS answers in the
//! capture say which address the client went to, or that its lookup failed: each input keeps
//! them in a [`crate::dns_log::DnsLog`], and a connection whose certificate names hosts carries
//! the answers its client got for them (`revocation_lookups`).

use crate::dns_log::url_host;
use crate::proto::dns::DnsLookup;
use crate::record::Connection;
use crate::verdict::Code;
use crate::verdict::{Confidence, Evidence, Fault};
use std::net::IpAddr;

/// Failed connections remembered as possible revocation fetches; beyond this the oldest stay.
const MAX_FAILED_FETCHES: usize = 65_536;

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
        may_be_revocation(c.verdict.code) && !c.facts.revocation_urls().is_empty()
    }

    /// Why one of the certificate's revocation URLs could not be fetched during this
    /// connection: a failed connection to its address (named in the URL, or by a DNS answer
    /// in the capture: `likely`), a failed DNS lookup of its host (`likely`), or a failed
    /// connection to its port during the handshake when the host's address is unknown
    /// (`possible`).
    fn unreachable(&self, c: &Connection) -> Option<(String, Confidence, String, Vec<Evidence>)> {
        let client = c.facts.client_addr()?.ip();
        c.facts.revocation_urls().iter().find_map(|url| {
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
