//! SQL Server captures (tests/fixtures/tds-*.pcap, tds8-*.pcap: FreeTDS tsql and Microsoft's
//! tedious against tds_front.py, see the fixtures README): PRELOGIN fields against tshark's
//! TDS dissector, and the verdict of each scenario.

mod common;

use common::*;
use serde_json::Value;
use std::process::Command;

fn one(name: &str) -> Value {
    let conns = connections(&fixture(name));
    assert_eq!(conns.len(), 1, "{name}: {conns:?}");
    conns.into_iter().next().unwrap()
}

fn risk_codes(c: &Value) -> Vec<&str> {
    list(&c["verdict"]["risks"]).iter().map(|r| r["code"].as_str().unwrap()).collect()
}

/// tshark's PRELOGIN fields per frame: (frame, TDS type, version, encryption, instance,
/// thread id, MARS), with the version word printed as major.minor.build.
fn tshark_prelogins(name: &str) -> Vec<(u64, u8, String, u8, String, String, u8)> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(fixture(name))
        .args(["-d", "tcp.port==1433,tds", "-Y", "tds.prelogin.option.encryption", "-T", "fields"])
        .args(["-e", "frame.number", "-e", "tds.type", "-e", "tds.prelogin.option.version"])
        .args(["-e", "tds.prelogin.option.encryption", "-e", "tds.prelogin.option.instopt"])
        .args(["-e", "tds.prelogin.option.threadid", "-e", "tds.prelogin.option.mars"])
        .output()
        .expect("tshark runs");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let version: u32 = f[2].parse().unwrap();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                format!("{}.{}.{}", version >> 24, (version >> 16) & 0xff, version & 0xffff),
                f[3].parse().unwrap(),
                f[4].to_string(),
                f[5].to_string(),
                f[6].parse().unwrap(),
            )
        })
        .collect()
}

fn encryption_byte(name: &str) -> u8 {
    match name {
        "OFF" => 0,
        "ON" => 1,
        "NOT_SUP" => 2,
        "REQ" => 3,
        other => panic!("unexpected encryption {other}"),
    }
}

#[test]
fn prelogin_fields_agree_with_tshark() {
    if !has_tshark() {
        return;
    }
    let names = [
        "tds-tls12-ok.pcap",
        "tds-tls12-packet-type-4.pcap",
        "tds-tls12-split-records.pcap",
        "tds-cipher-mismatch.pcap",
        "tds-protocol-mismatch.pcap",
        "tds-encryption-mismatch.pcap",
        "tds-encryption-not-supported-by-server.pcap",
        "tds-unencrypted.pcap",
        "tds-reset-after-prelogin.pcap",
    ];
    for name in names {
        let c = one(name);
        let expected = tshark_prelogins(name);
        assert_eq!(expected.len(), 2, "{name}: tshark shows {expected:?}");
        for (side, (frame, ptype, version, encryption, instance, thread, mars)) in
            ["client", "server"].iter().zip(expected)
        {
            let p = &c["tds"][side];
            assert_eq!(p["frame"], frame, "{name} {side}");
            assert_eq!(p["packet_type"], ptype, "{name} {side}");
            assert_eq!(p["version"], version.as_str(), "{name} {side}");
            assert_eq!(encryption_byte(p["encryption"].as_str().unwrap()), encryption, "{name} {side}");
            assert_eq!(p["instance"].as_str().unwrap_or(""), instance, "{name} {side}");
            assert_eq!(p["thread_id"].as_u64().map(|t| t.to_string()).unwrap_or_default(), thread, "{name} {side}");
            assert_eq!(p["mars"].as_bool().map(u8::from), Some(mars), "{name} {side}");
        }
        assert_eq!(c["encapsulation"], "tds", "{name}");
        assert_eq!(c["tds"]["mode"], "prelogin", "{name}");
    }
}

#[test]
fn tls_inside_prelogin_packets_completes() {
    let c = one("tds-tls12-ok.pcap");
    assert_eq!(verdict(&c), ("ok", "none", "certain"));
    assert_eq!(c["tds"]["negotiated"], "full");
    // tshark (-d tcp.port==1433,tds): ClientHello in frame 8, the server's flight in 9.
    assert_eq!(c["tls"]["client_hello"]["frame"], 8);
    assert_eq!(c["tls"]["server_hello"]["frame"], 9);
    assert_eq!(c["tls"]["server_hello"]["version"], "TLS1.2");
    assert_eq!(c["tds"]["server_tls_packet_type"], 0x12);
    assert_eq!(c["tls"]["server_certificates"]["certificates"][0]["subject"], "CN=www.example.test");
    assert!(risk_codes(&c).is_empty(), "{:?}", risk_codes(&c));
}

#[test]
fn server_answering_in_tabular_result_packets() {
    let c = one("tds-tls12-packet-type-4.pcap");
    assert_eq!(verdict(&c), ("ok", "none", "certain"));
    assert_eq!(c["tds"]["server_tls_packet_type"], 0x04);
    // Same exchange as tds-tls12-ok: frame 9 holds the server's 0x04 packet with its flight
    // (tshark shows it as a "Response" and does not decode the TLS inside).
    assert_eq!(c["tls"]["server_hello"]["frame"], 9);
    assert_eq!(c["tls"]["server_certificates"]["frame"], 9);
}

#[test]
fn records_split_across_tds_packets_and_segments() {
    let c = one("tds-tls12-split-records.pcap");
    assert_eq!(verdict(&c), ("ok", "none", "certain"));
    // The server's flight is one TDS message of 97-byte packets ending in frame 24 (the first
    // packet without "Not last buffer" in tshark); its records are dated there, as tshark does.
    assert_eq!(c["tls"]["server_hello"]["frame"], 24);
    assert_eq!(c["tls"]["server_certificates"]["certificates"].as_array().unwrap().len(), 1);
    assert_eq!(c["tls"]["server_key_exchange"]["group"], "x25519");
}

#[test]
fn cipher_mismatch_inside_tds() {
    let c = one("tds-cipher-mismatch.pcap");
    assert_eq!(verdict(&c), ("cipher_mismatch", "unknown", "certain"));
    assert_eq!(c["encapsulation"], "tds");
    assert_eq!(evidence_frames(&c), vec![8, 9]);
    assert_eq!(c["tls"]["alerts"][0]["description"], "handshake_failure");
    assert_eq!(c["tls"]["alerts"][0]["sender"], "server");
}

#[test]
fn protocol_mismatch_inside_tds() {
    // The server offers TLS 1.0 only; GnuTLS in the client has 1.0 and 1.1 disabled.
    let c = one("tds-protocol-mismatch.pcap");
    assert_eq!(verdict(&c), ("protocol_mismatch", "server", "certain"));
    assert_eq!(c["tls"]["client_hello"]["supported_versions"], serde_json::json!(["TLS1.3", "TLS1.2"]));
    assert_eq!(c["tls"]["alerts"][0]["description"], "protocol_version");
    assert_eq!(evidence_frames(&c), vec![8, 9]);
}

#[test]
fn client_without_encryption_against_a_server_that_requires_it() {
    let c = one("tds-encryption-mismatch.pcap");
    assert_eq!(verdict(&c), ("tds_encryption_mismatch", "client", "certain"));
    assert_eq!(c["tds"]["client"]["encryption"], "NOT_SUP");
    assert_eq!(c["tds"]["server"]["encryption"], "REQ");
    assert_eq!(c["tds"]["negotiated"], "server_requires_client_cannot");
    // FreeTDS tries TLS anyway (frame 8); the server has already closed and resets (frame 9).
    assert_eq!(evidence_frames(&c), vec![4, 6, 8, 9]);
    assert!(c["verdict"]["explanation"].as_str().unwrap().contains("ClientHello anyway"));
}

#[test]
fn client_requiring_encryption_against_a_server_without_it() {
    let c = one("tds-encryption-not-supported-by-server.pcap");
    assert_eq!(verdict(&c), ("tds_encryption_mismatch", "server", "certain"));
    assert_eq!(c["tds"]["client"]["encryption"], "ON");
    assert_eq!(c["tds"]["server"]["encryption"], "NOT_SUP");
    // The client closes first (frame 8), right after the PRELOGIN response.
    assert_eq!(c["tcp"]["client_fin"]["frame"], 8);
    assert_eq!(evidence_frames(&c), vec![4, 6, 8]);
}

#[test]
fn no_encryption_is_not_a_failure_but_a_risk() {
    let c = one("tds-unencrypted.pcap");
    assert_eq!(verdict(&c), ("tds_unencrypted", "none", "certain"));
    assert_eq!(c["tds"]["negotiated"], "none");
    assert!(c["tls"].is_null());
    // Frame 8 is the client's LOGIN7 in the clear (tshark: "TDS7 login").
    assert_eq!(c["tds"]["plaintext_after_prelogin"], 8);
    assert_eq!(risk_codes(&c), vec!["login_unencrypted"]);
    let run = tlsdiag(&["analyze", fixture("tds-unencrypted.pcap").to_str().unwrap()]);
    assert_eq!(run.code, 0, "no failure, exit 0: {}", run.stderr);
}

#[test]
fn reset_after_the_prelogin_response() {
    let c = one("tds-reset-after-prelogin.pcap");
    assert_eq!(verdict(&c), ("reset_before_client_hello", "server", "certain"));
    assert!(c["verdict"]["explanation"].as_str().unwrap().contains("PRELOGIN"));
    assert_eq!(evidence_frames(&c), vec![4, 6, 8]);
}

#[test]
fn tds8_strict_is_tls_first_with_its_alpn() {
    let c = one("tds8-strict-ok.pcap");
    assert_eq!(verdict(&c), ("ok", "none", "certain"));
    assert_eq!(c["encapsulation"], "tds");
    assert_eq!(c["tds"]["mode"], "strict");
    assert_eq!(c["tls"]["client_hello"]["alpn"], serde_json::json!(["tds/8.0"]));
    // The server's ALPN choice is in its encrypted extensions (TLS 1.3): not visible.
    assert_eq!(c["tls"]["client_hello"]["frame"], 4);
}

#[test]
fn tds8_client_rejecting_the_certificate() {
    // tedious in strict mode checks the chain (TrustServerCertificate does not apply) and closes
    // without an alert after the server's TLS 1.3 flight.
    let c = one("tds8-strict-untrusted-certificate.pcap");
    // At fault: the server, whose certificate the client refused.
    assert_eq!(verdict(&c), ("aborted_after_server_hello", "server", "likely"));
    assert_eq!(c["tds"]["mode"], "strict");
    assert_eq!(c["tcp"]["client_fin"]["frame"], 8);
    assert_eq!(evidence_frames(&c), vec![6, 8]);
}
