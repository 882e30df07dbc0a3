//! DNS responses (RFC 1035) over UDP, read for one purpose: which addresses a client learned
//! for a host name, or that its lookup failed. The revocation check names the CRL or OCSP
//! host a certificate points to; these answers say where the client went (or could not go).
//! Only the question name, the response code and the A/AAAA records of the answer section are
//! read; a malformed message is ignored.

use crate::time::Nanos;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What one DNS response said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsResponse {
    /// The question name, lowercase, without the final dot.
    pub name: String,
    /// RCODE: 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED, ...
    pub rcode: u8,
    /// A and AAAA records of the answer section (CNAME chains included: every address
    /// answered is taken as the question name's).
    pub addresses: Vec<IpAddr>,
}

/// The name of a response code, as dig and Wireshark print it.
pub fn rcode_name(rcode: u8) -> String {
    match rcode {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        n => format!("RCODE{n}"),
    }
}

/// Names end in at most this many labels and pointers; beyond it a message is malformed (a
/// pointer loop).
const MAX_LABELS: usize = 128;
/// Answer records read per response.
const MAX_ANSWERS: usize = 32;

/// Reads a response; None for a query, a truncated or malformed message.
pub fn parse_response(msg: &[u8]) -> Option<DnsResponse> {
    let flags = u16::from_be_bytes([*msg.get(2)?, *msg.get(3)?]);
    let is_response = flags & 0x8000 != 0;
    let opcode = (flags >> 11) & 0x0f;
    if !is_response || opcode != 0 {
        return None;
    }
    let questions = u16::from_be_bytes([*msg.get(4)?, *msg.get(5)?]);
    let answers = u16::from_be_bytes([*msg.get(6)?, *msg.get(7)?]);
    if questions != 1 {
        return None;
    }
    let (name, mut pos) = read_name(msg, 12)?;
    pos += 4; // QTYPE, QCLASS
    msg.get(pos - 1)?;
    let mut addresses = Vec::new();
    for _ in 0..answers.min(MAX_ANSWERS as u16) {
        let (_, after_name) = read_name(msg, pos)?;
        let rtype = u16::from_be_bytes([*msg.get(after_name)?, *msg.get(after_name + 1)?]);
        let rdlength = u16::from_be_bytes([*msg.get(after_name + 8)?, *msg.get(after_name + 9)?]) as usize;
        let rdata = msg.get(after_name + 10..after_name + 10 + rdlength)?;
        match (rtype, rdata.len()) {
            (1, 4) => addresses.push(IpAddr::V4(Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3]))),
            (28, 16) => {
                let octets: [u8; 16] = rdata.try_into().ok()?;
                addresses.push(IpAddr::V6(Ipv6Addr::from(octets)));
            }
            _ => {}
        }
        pos = after_name + 10 + rdlength;
    }
    Some(DnsResponse { name, rcode: (flags & 0x0f) as u8, addresses })
}

/// A possibly compressed name at `pos`: the name and the offset just after it in place.
fn read_name(msg: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    let mut end = None;
    for _ in 0..MAX_LABELS {
        let len = *msg.get(pos)? as usize;
        match len {
            0 => {
                return Some((name, end.unwrap_or(pos + 1)));
            }
            // A pointer (RFC 1035 4.1.4): the rest of the name is elsewhere.
            l if l & 0xc0 == 0xc0 => {
                let target = ((l & 0x3f) << 8) | *msg.get(pos + 1)? as usize;
                end.get_or_insert(pos + 2);
                pos = target;
            }
            l if l & 0xc0 == 0 => {
                let label = msg.get(pos + 1..pos + 1 + l)?;
                if !name.is_empty() {
                    name.push('.');
                }
                name.extend(label.iter().map(|b| b.to_ascii_lowercase() as char));
                pos += 1 + l;
            }
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response to `A crl.example.test` with the given flags and answer records.
    fn response(flags: u16, answers: &[&[u8]]) -> Vec<u8> {
        let mut m = vec![0x12, 0x34];
        m.extend(flags.to_be_bytes());
        m.extend([0, 1]);
        m.extend((answers.len() as u16).to_be_bytes());
        m.extend([0, 0, 0, 0]);
        m.extend(b"\x03CRL\x07example\x04test\x00\x00\x01\x00\x01");
        for a in answers {
            m.extend(*a);
        }
        m
    }

    #[test]
    fn addresses_through_a_compressed_name_and_a_cname() {
        // crl.example.test CNAME cdn.example.test (pointer to "example.test" at offset 16),
        // then cdn.example.test A 192.0.2.7 and AAAA 2001:db8::7.
        let cname: &[u8] = b"\xc0\x0c\x00\x05\x00\x01\x00\x00\x00\x3c\x00\x06\x03cdn\xc0\x10";
        let a: &[u8] = b"\xc0\x2e\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02\x07";
        let mut aaaa = b"\xc0\x2e\x00\x1c\x00\x01\x00\x00\x00\x3c\x00\x10".to_vec();
        aaaa.extend([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]);
        let r = parse_response(&response(0x8180, &[cname, a, &aaaa])).unwrap();
        assert_eq!(r.name, "crl.example.test");
        assert_eq!(r.rcode, 0);
        assert_eq!(r.addresses, ["192.0.2.7".parse::<IpAddr>().unwrap(), "2001:db8::7".parse().unwrap()]);
    }

    #[test]
    fn nxdomain_and_servfail() {
        assert_eq!(parse_response(&response(0x8183, &[])).unwrap().rcode, 3);
        assert_eq!(rcode_name(parse_response(&response(0x8182, &[])).unwrap().rcode), "SERVFAIL");
    }

    #[test]
    fn queries_loops_and_truncation_are_not_answers() {
        assert_eq!(parse_response(&response(0x0100, &[])), None, "a query");
        let mut looped = response(0x8180, &[]);
        looped.truncate(12);
        looped.extend(b"\xc0\x0c\x00\x01\x00\x01");
        assert_eq!(parse_response(&looped), None, "a pointer to itself");
        let whole = response(0x8180, &[b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02\x07"]);
        for cut in 0..whole.len() {
            assert_eq!(parse_response(&whole[..cut]), None, "cut at {cut}");
        }
    }
}

/// A DNS answer a client got for the host of one of its certificate's revocation URLs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DnsLookup {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub frame: u64,
    #[serde(serialize_with = "crate::time::ser_ts", deserialize_with = "crate::time::de_ts")]
    pub ts: Nanos,
    /// `NOERROR`, `NXDOMAIN`, `SERVFAIL`, ...
    #[serde(skip_serializing_if = "String::is_empty")]
    pub rcode: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<IpAddr>,
}

impl DnsLookup {
    pub fn failed(&self) -> bool {
        self.rcode != "NOERROR"
    }
}
