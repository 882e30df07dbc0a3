//! Certificates are parsed once per distinct DER and shared (`proto::cert_cache`): a capture
//! that repeats one real handshake from several clients must report the same chain on every
//! connection, equal to what the single handshake alone reports, whether the facts came from a
//! parse (the first connection) or from the cache (the others).

mod common;

use common::*;
use serde_json::Value;

/// tests/fixtures/tls12-ok.pcap (OpenSSL, 127.0.0.1:49000 -> 127.0.0.1:4433) repeated
/// `copies` times, copy k with the client moved to 127.0.k.1 and a second later.
fn repeated(copies: u8) -> Vec<u8> {
    let data = std::fs::read(fixture("tls12-ok.pcap")).unwrap();
    let mut out = data[..24].to_vec();
    for k in 0..copies {
        let mut pos = 24;
        while pos + 16 <= data.len() {
            let caplen = u32::from_le_bytes(data[pos + 8..pos + 12].try_into().unwrap()) as usize;
            let mut header = data[pos..pos + 16].to_vec();
            let sec = u32::from_le_bytes(header[..4].try_into().unwrap()) + u32::from(k);
            header[..4].copy_from_slice(&sec.to_le_bytes());
            let mut frame = data[pos + 16..pos + 16 + caplen].to_vec();
            // Ethernet, IPv4 header of 20 bytes, then TCP: the client is the side not on 4433.
            let dport = u16::from_be_bytes([frame[36], frame[37]]);
            let client = if dport == 4433 { 26 } else { 30 };
            frame[client + 2] = k;
            frame[24..26].copy_from_slice(&[0, 0]);
            let mut sum: u32 = frame[14..34].chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))).sum();
            while sum >> 16 != 0 {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            frame[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
            out.extend_from_slice(&header);
            out.extend_from_slice(&frame);
            pos += 16 + caplen;
        }
    }
    out
}

fn chain(conn: &Value) -> Value {
    conn["tls"]["server_certificates"]["certificates"].clone()
}

#[test]
fn a_repeated_chain_is_reported_the_same_on_every_connection() {
    let alone = chain(&only_tls_connection(&fixture("tls12-ok.pcap")));
    // Checked against tshark (x509sat.uTF8String, x509ce.dNSName of frame 6).
    assert_eq!(alone[0]["subject"], "CN=www.example.test");
    assert_eq!(alone[0]["issuer"], "CN=tlsdiag test CA");
    assert_eq!(alone[0]["san"], serde_json::json!(["www.example.test"]));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repeated.pcap");
    std::fs::write(&path, repeated(3)).unwrap();
    let conns = connections(&path);
    let clients: Vec<&str> = conns.iter().map(|c| c["client"].as_str().unwrap()).collect();
    assert_eq!(clients, ["127.0.0.1:49000", "127.0.1.1:49000", "127.0.2.1:49000"]);
    for conn in &conns {
        assert_eq!(conn["verdict"]["code"], "ok");
        assert_eq!(chain(conn), alone, "{}", conn["client"]);
    }
}
