//! Certificate revocation checks seen in the capture: a client that fails a handshake after
//! receiving a certificate, while its own connection to that certificate's CRL distribution
//! point or OCSP responder failed, rejected the certificate because it could not check it
//! (Windows: CRYPT_E_REVOCATION_OFFLINE, 0x80092013).
//!
//! A second pass across connections, like the server profiles: the failed fetch is often
//! settled after the handshake it explains.

use crate::classify::{Confidence, Evidence, Fault};
use crate::record::Connection;
use std::net::IpAddr;

/// Failed connections remembered as possible revocation fetches; beyond this the oldest stay.
const MAX_FAILED_FETCHES: usize = 65_536;

/// A TCP connection that never carried data (unanswered, refused or reset at once).
struct FailedFetch {
    client: IpAddr,
    server: IpAddr,
    port: u16,
    start: i64,
    frame: u64,
    what: String,
}

#[derive(Default)]
pub struct RevocationChecks {
    failed: Vec<FailedFetch>,
}

/// The TCP-level failures that a revocation fetch ends in.
fn is_failed_fetch(code: &str) -> bool {
    matches!(code, "syn_timeout" | "connection_refused" | "tcp_handshake_incomplete" | "reset_before_client_hello")
}

/// Verdicts after the server's certificate that a failed revocation check explains better.
fn may_be_revocation(code: &str) -> bool {
    matches!(code, "certificate_rejected" | "aborted_after_server_hello" | "fatal_alert")
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
fn revocation_urls(c: &Connection) -> &[String] {
    c.tls
        .as_ref()
        .and_then(|t| t.server_certificates.as_ref())
        .and_then(|chain| chain.certificates.first())
        .map(|leaf| leaf.revocation_urls.as_slice())
        .unwrap_or(&[])
}

impl RevocationChecks {
    /// Remembers a connection that may be a failed revocation fetch.
    pub fn note(&mut self, c: &Connection) {
        if !is_failed_fetch(c.verdict.code) || self.failed.len() >= MAX_FAILED_FETCHES {
            return;
        }
        let (Some(client), Some(server)) = (c.client_addr(), c.server_addr()) else {
            return;
        };
        let what = format!("{} to {} ({})", c.verdict.code, c.server, c.verdict.explanation);
        self.failed.push(FailedFetch {
            client: client.ip(),
            server: server.ip(),
            port: server.port(),
            start: c.start,
            frame: c.first_frame,
            what,
        });
    }

    /// True for a connection this pass may explain, which must wait for the end of the input.
    pub fn may_explain(c: &Connection) -> bool {
        may_be_revocation(c.verdict.code) && !revocation_urls(c).is_empty()
    }

    /// The failed fetch of one of the certificate's revocation URLs during this connection:
    /// by address when the URL names one (`true`); by port and time when it names a host,
    /// whose address the capture may not show (`false`).
    fn failed_fetch_for(&self, c: &Connection) -> Option<(String, &FailedFetch, bool)> {
        let client = c.client_addr()?.ip();
        revocation_urls(c).iter().find_map(|url| {
            let (host, port) = url_host(url)?;
            let literal: Option<IpAddr> = host.parse().ok();
            let fetch = self.failed.iter().find(|f| {
                f.client == client
                    && f.port == port
                    && (c.start..=c.end).contains(&f.start)
                    && literal.map_or(true, |ip| ip == f.server)
            })?;
            Some((url.clone(), fetch, literal.is_some()))
        })
    }

    /// Names revocation as the cause when the client's fetch of the certificate's CRL or OCSP
    /// URL failed during the handshake.
    pub fn sharpen(&self, c: &mut Connection) {
        if !Self::may_explain(c) {
            return;
        }
        let Some((url, fetch, by_address)) = self.failed_fetch_for(c) else { return };
        let v = &mut c.verdict;
        v.code = "certificate_rejected";
        v.side = Fault::Network;
        v.confidence = if by_address { Confidence::Likely } else { Confidence::Possible };
        v.explanation = format!(
            "the client could not check the certificate's revocation: its connection to {url} failed ({}); {}",
            fetch.what, v.explanation
        );
        v.hint = "Let the client reach the CRL and OCSP URLs of the certificate chain (firewall, proxy, DNS), or publish them where it can. Windows: certutil -urlfetch -verify cert.cer shows each URL; the error is CRYPT_E_REVOCATION_OFFLINE (0x80092013). OpenSSL: the check is -crl_check with -crl_download.".into();
        v.evidence.push(Evidence { frame: fetch.frame, what: format!("failed fetch of {url}") });
        v.evidence.sort_by_key(|e| e.frame);
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
