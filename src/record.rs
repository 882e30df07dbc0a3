//! The per-connection output record: a flow's TCP and TLS facts in client/server terms, with
//! its verdict. This is the `connections[]` object of the JSON schema (see the README).

use crate::classify::classify;
use crate::facts::Facts;
use crate::verdict::Verdict;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Version of the JSON schema; bumped on any incompatible change. Version 2 leaves out fields
/// that hold their default (null, false, 0, an empty string or list): a reader takes an absent
/// field as that default. Version 1 documents (every field written) read the same way.
pub const SCHEMA_VERSION: u32 = 2;

/// Schema versions `merge` accepts: the same fields, version 1 with every default written.
pub const READABLE_SCHEMA_VERSIONS: [u32; 2] = [1, 2];

/// One connection's record: where it came from, its facts and its verdict. The verdict is
/// made from the facts alone ([`classify`]), once they are all known.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Connection {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub file: String,
    #[serde(flatten)]
    pub facts: Facts,
    pub verdict: Verdict,
    /// The connection's own verdict, when the passes across connections (server profiles,
    /// revocation checks) changed it: `tlsdiag findings` starts again from it, so records
    /// read back give the verdicts of one run over all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsharpened_verdict: Option<Box<Verdict>>,
    /// A Wireshark display filter that selects this connection's packets.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wireshark_filter: String,
}

impl Connection {
    /// The record of a connection whose facts are all known: its verdict made from them.
    pub fn new(file: &str, facts: Facts) -> Connection {
        let verdict = classify(&facts);
        let wireshark_filter = wireshark_filter(&facts.client, &facts.server);
        Connection {
            schema_version: SCHEMA_VERSION,
            file: file.to_string(),
            facts,
            verdict,
            unsharpened_verdict: None,
            wireshark_filter,
        }
    }
}

/// Wireshark's conversation filter for one TCP connection: both addresses and both ports
/// (`ipv6.addr` for IPv6). tshark accepts it as written.
pub fn wireshark_filter(client: &str, server: &str) -> String {
    match (client.parse::<SocketAddr>(), server.parse::<SocketAddr>()) {
        // Once per connection: written by hand, as the general case below would write it.
        (Ok(SocketAddr::V4(c)), Ok(SocketAddr::V4(s))) => {
            let mut out = String::with_capacity(96);
            for (i, ip) in [c.ip(), s.ip()].into_iter().enumerate() {
                out.push_str(if i == 0 { "ip.addr eq " } else { " and ip.addr eq " });
                crate::text::push_ipv4(&mut out, *ip);
            }
            for port in [c.port(), s.port()] {
                out.push_str(" and tcp.port eq ");
                crate::text::push_decimal(&mut out, port.into());
            }
            out
        }
        (Ok(c), Ok(s)) => format!(
            "{field} eq {} and {field} eq {} and tcp.port eq {} and tcp.port eq {}",
            c.ip(),
            s.ip(),
            c.port(),
            s.port(),
            field = if c.is_ipv6() { "ipv6.addr" } else { "ip.addr" }
        ),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::wireshark_filter;

    #[test]
    fn filters_name_both_addresses_and_ports() {
        // IPv4 is written by hand; it must read as the general case writes IPv6.
        assert_eq!(
            wireshark_filter("10.0.0.1:50000", "192.168.200.2:443"),
            "ip.addr eq 10.0.0.1 and ip.addr eq 192.168.200.2 and tcp.port eq 50000 and tcp.port eq 443"
        );
        assert_eq!(
            wireshark_filter("[fe80::1]:50000", "[::1]:443"),
            "ipv6.addr eq fe80::1 and ipv6.addr eq ::1 and tcp.port eq 50000 and tcp.port eq 443"
        );
        assert_eq!(wireshark_filter("not an address", "10.0.0.1:1"), "");
    }
}
