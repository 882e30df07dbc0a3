//! The DNS answers of one input, kept per client and name until the connections they explain
//! settle: a connection whose server certificate names CRL or OCSP hosts gets, in its facts,
//! the answers its client got for them (where it went to check revocation, or that the
//! lookup failed).

use crate::facts::Facts;
use crate::fifo_map::FifoMap;
use crate::proto::dns::{rcode_name, DnsLookup, DnsResponse};
use crate::proto::facts::Seen;
use std::net::IpAddr;

/// (client, host name) pairs whose DNS answers an input remembers; the oldest are forgotten.
pub const MAX_DNS_NAMES: usize = 65_536;

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
        if self.answers.is_empty() || c.revocation_urls().is_empty() {
            return;
        }
        let Some(client) = c.client_addr().map(|a| a.ip()) else { return };
        let mut found = Vec::new();
        for url in c.revocation_urls() {
            let Some((host, _)) = url_host(url).filter(|(h, _)| h.parse::<IpAddr>().is_err()) else { continue };
            let Some(answers) = self.answers.get(&(client, host.to_ascii_lowercase())) else { continue };
            found.extend(answers.resolved.iter().filter(|l| l.ts <= c.end).cloned());
            found.extend(answers.failed.iter().filter(|l| (c.start..=c.end).contains(&l.ts)).cloned());
        }
        c.revocation_lookups = found;
    }
}

/// Host and port of an http(s) URL (LDAP distribution points are left out).
pub fn url_host(url: &str) -> Option<(String, u16)> {
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
