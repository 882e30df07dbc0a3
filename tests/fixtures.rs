//! Verdicts on the captures made with real peers (tests/fixtures, see its README): code,
//! side, confidence and evidence frames, each checked against what tshark shows.

mod common;

use common::*;
use serde_json::Value;

fn one(name: &str) -> Value {
    only_tls_connection(&fixture(name))
}

fn explanation(c: &Value) -> &str {
    c["verdict"]["explanation"].as_str().unwrap()
}

fn by_port<'a>(conns: &'a [Value], port: &str) -> &'a Value {
    conns.iter().find(|c| c["client"].as_str().unwrap().ends_with(port)).unwrap()
}

#[test]
fn tls12_success() {
    let c = one("tls12-ok.pcap");
    assert_eq!(verdict(&c), ("ok", "none", "certain"));
    assert_eq!(c["tls"]["client_hello"]["frame"], 4);
    assert_eq!(c["tls"]["server_hello"]["frame"], 6);
    assert_eq!(c["tls"]["server_hello"]["cipher_suite"], "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384");
    assert!(flag(&c["tls"]["server_hello"]["extended_master_secret"]));
    assert_eq!(c["tls"]["client_hello"]["sni"], "www.example.test");
    assert_eq!(c["tls"]["server_certificates"]["certificates"][0]["subject"], "CN=www.example.test");
}

#[test]
fn tls13_success_over_ipv6() {
    let c = one("tls13-ok-ipv6.pcap");
    assert_eq!(verdict(&c), ("ok", "none", "certain"));
    assert!(c["server"].as_str().unwrap().starts_with("[::1]:4433"));
    assert_eq!(c["tls"]["server_hello"]["version"], "TLS1.3");
    assert_eq!(c["tls"]["server_hello"]["cipher_suite"], "TLS_AES_256_GCM_SHA384");
    assert_eq!(c["tls"]["client_hello"]["alpn"], serde_json::json!(["h2"]));
    assert_eq!(c["tls"]["server_hello"]["frame"], 6);
}

#[test]
fn handshake_over_many_small_segments() {
    let c = one("tls12-small-segments.pcap");
    assert_eq!(verdict(&c).0, "ok");
    assert_eq!(c["tls"]["client_hello"]["frame"], 5);
    assert_eq!(c["tls"]["server_hello"]["frame"], 8);
    assert_eq!(c["tls"]["server_certificates"]["frame"], 18);
    assert_eq!(c["tls"]["server_key_exchange"]["frame"], 20);
}

#[test]
fn reordered_segments_are_put_back_in_order() {
    let c = one("tls12-reordered.pcap");
    assert_eq!(verdict(&c).0, "ok");
    let messages: Vec<(String, u64)> = c["tls"]["server"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["message"].as_str().unwrap().to_string(), m["frame"].as_u64().unwrap()))
        .collect();
    let expected = [
        ("ServerHello", 10),
        ("Certificate", 18),
        ("ServerKeyExchange", 20),
        ("ServerHelloDone", 20),
        ("NewSessionTicket", 26),
    ];
    assert_eq!(messages, expected.map(|(m, f)| (m.to_string(), f)));
    assert!(c["tcp"]["out_of_order"].as_u64().unwrap() >= 1);
}

#[test]
fn retransmitted_server_hello_counts_once() {
    let c = one("tls12-retransmitted-server-hello.pcap");
    assert_eq!(verdict(&c).0, "ok");
    assert_eq!(c["tls"]["server_hello"]["frame"], 6);
    assert_eq!(c["tcp"]["retransmissions"], 1);
}

#[test]
fn cipher_mismatch_alert() {
    // The client offers TLS 1.2 only: handshake_failure from the server may also refuse the
    // version (GnuTLS does, tls-gnutls-server-tls13-client-tls12), so the suite is likely.
    let c = one("tls12-cipher-mismatch.pcap");
    assert_eq!(verdict(&c), ("cipher_mismatch", "unknown", "likely"));
    assert_eq!(evidence_frames(&c), vec![4, 6]);
    assert!(explanation(&c).contains("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"), "{}", explanation(&c));
}

#[test]
fn protocol_version_alert() {
    let c = one("tls-protocol-mismatch.pcap");
    assert_eq!(verdict(&c), ("protocol_mismatch", "client", "certain"));
    assert_eq!(evidence_frames(&c), vec![4, 6]);
}

#[test]
fn unanswered_syns() {
    let c = &connections(&fixture("tcp-syn-timeout.pcap"))[0];
    assert_eq!(verdict(c), ("syn_timeout", "network", "certain"));
    assert_eq!(c["tcp"]["syn_count"], 4);
    assert_eq!(evidence_frames(c), vec![1, 4]);
}

#[test]
fn server_reset_after_client_hello() {
    let c = one("tls12-server-reset-on-client-hello.pcap");
    assert_eq!(verdict(&c), ("rst_without_server_hello", "server", "certain"));
    assert_eq!(evidence_frames(&c), vec![4, 6]);
}

/// (file, alert, words the explanation must contain because the certificate shows them)
const CERTIFICATE_CASES: &[(&str, &str, &str)] = &[
    ("tls12-cert-expired.pcap", "certificate_expired", "expired on 2021-01-01T00:00:00Z"),
    ("tls12-cert-wrong-name.pcap", "bad_certificate", "does not name www.example.test (names: other.example.test)"),
    (
        "tls12-cert-client-auth-eku.pcap",
        "unsupported_certificate",
        "extended key usage without serverAuth (clientAuth)",
    ),
    ("tls12-cert-md5.pcap", "bad_certificate", "signed with md5WithRSAEncryption"),
    ("tls12-cert-unknown-ca.pcap", "unknown_ca", "with unknown_ca"),
];

#[test]
fn rejected_certificates_name_the_cause_found_in_the_certificate() {
    for (file, alert, cause) in CERTIFICATE_CASES {
        let c = one(file);
        assert_eq!(verdict(&c), ("certificate_rejected", "server", "certain"), "{file}");
        assert_eq!(c["tls"]["alerts"][0]["description"], *alert, "{file}");
        assert_eq!(c["tls"]["alerts"][0]["sender"], "client", "{file}");
        assert_eq!(evidence_frames(&c), vec![4, 6, 6, 8], "{file}");
        assert!(explanation(&c).contains(cause), "{file}: {}", explanation(&c));
    }
}

#[test]
fn client_certificate_demanded_and_missing() {
    let c = one("tls12-client-cert-required.pcap");
    assert_eq!(verdict(&c), ("client_certificate_required", "client", "certain"));
    assert_eq!(c["tls"]["certificate_request"], 6);
    assert_eq!(c["tls"]["alerts"][0]["frame"], 9);
    assert!(explanation(&c).contains("the client sent none"), "{}", explanation(&c));
}

#[test]
fn dhe_without_extended_master_secret_is_a_risk() {
    let c = one("tls12-dhe-no-ems.pcap");
    assert_eq!(verdict(&c).0, "ok");
    assert_eq!(c["tls"]["server_hello"]["cipher_suite"], "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256");
    assert!(!flag(&c["tls"]["server_hello"]["extended_master_secret"]));
    let risks: Vec<&str> = list(&c["verdict"]["risks"]).iter().map(|r| r["code"].as_str().unwrap()).collect();
    assert_eq!(risks, ["dhe_without_ems"]);
    assert!(c["tls"]["server_key_exchange"]["dh_prime_bits"].as_u64().unwrap() >= 2048);
}

#[test]
fn abbreviated_handshake_is_ok_resumed() {
    let conns = connections(&fixture("tls12-resumed.pcap"));
    assert_eq!(conns.len(), 2);
    assert_eq!(verdict(&conns[0]).0, "ok");
    assert_eq!(verdict(&conns[1]).0, "ok_resumed");
    assert_eq!(conns[1]["tls"]["server_hello"]["frame"], 21);
    assert!(conns[1]["tls"]["server_certificates"].is_null());
}

#[test]
fn resets_explained_by_what_the_server_did_with_other_clients() {
    let conns = connections(&fixture("tls-one-server-many-clients.pcap"));
    let tls10 = by_port(&conns, ":32834");
    assert_eq!(verdict(tls10), ("protocol_mismatch", "client", "likely"));
    assert_eq!(evidence_frames(tls10), vec![65, 67]);
    assert!(explanation(tls10).contains("offered up to TLS1.0"), "{}", explanation(tls10));
    let cbc = by_port(&conns, ":32844");
    assert_eq!(verdict(cbc), ("cipher_mismatch", "unknown", "likely"));
    assert_eq!(evidence_frames(cbc), vec![71, 73]);
    for port in [":32810", ":32826", ":32852", ":32868"] {
        assert_eq!(verdict(by_port(&conns, port)).0, "ok", "{port}");
    }
}

#[test]
fn reset_right_after_the_tcp_handshake() {
    let c = &connections(&fixture("tcp-reset-before-client-hello.pcap"))[0];
    assert_eq!(verdict(c), ("reset_before_client_hello", "server", "certain"));
    assert_eq!(evidence_frames(c), vec![3, 4]);
}

#[test]
fn closed_right_after_the_tcp_handshake() {
    let c = &connections(&fixture("tcp-closed-before-client-hello.pcap"))[0];
    assert_eq!(verdict(c).0, "closed_before_client_hello");
    assert_eq!(evidence_frames(c), vec![4]);
}

#[test]
fn server_closes_on_the_client_hello_and_the_client_alert_is_a_reaction() {
    let c = one("tls12-closed-without-server-hello.pcap");
    assert_eq!(verdict(&c), ("closed_without_server_hello", "server", "certain"));
    assert_eq!(evidence_frames(&c), vec![4, 6]);
    // The decode_error the client sent afterwards is still among the facts.
    assert_eq!(c["tls"]["alerts"][0]["description"], "decode_error");
    assert_eq!(c["tls"]["alerts"][0]["frame"], 8);
}

#[test]
fn client_hello_left_unanswered_until_the_capture_ends() {
    let c = one("tls12-no-server-hello.pcap");
    assert_eq!(verdict(&c), ("no_server_hello", "server", "likely"));
    assert_eq!(evidence_frames(&c), vec![4]);
}

#[test]
fn syn_ack_never_acknowledged() {
    let c = &connections(&fixture("tcp-syn-ack-unanswered.pcap"))[0];
    assert_eq!(verdict(c), ("tcp_handshake_incomplete", "network", "certain"));
    assert_eq!(c["tcp"]["syn_ack_count"], 4);
    assert_eq!(c["tcp"]["syn_count"], 3);
    assert_eq!(evidence_frames(c), vec![2]);
}

#[test]
fn bad_record_mac_after_a_dhe_key_exchange() {
    let conns = connections(&fixture("tls12-dhe-corrupted-finished.pcap"));
    let c = conns.iter().find(|c| c["server"].as_str().unwrap().ends_with(":4433")).unwrap();
    assert_eq!(verdict(c), ("failed_after_key_exchange", "unknown", "certain"));
    assert_eq!(evidence_frames(c), vec![15, 19]);
    assert!(explanation(c).contains("DHE without Extended Master Secret"), "{}", explanation(c));
    let risks: Vec<&str> = list(&c["verdict"]["risks"]).iter().map(|r| r["code"].as_str().unwrap()).collect();
    assert_eq!(risks, ["dhe_without_ems"]);
}

#[test]
fn fail_on_failure_sets_exit_code_1_only_when_a_handshake_failed() {
    let failing = fixture("tls12-cipher-mismatch.pcap");
    let fine = fixture("tls12-ok.pcap");
    assert_eq!(tlsdiag(&["analyze", "--fail-on-failure", failing.to_str().unwrap()]).code, 1);
    assert_eq!(tlsdiag(&["analyze", "--fail-on-failure", fine.to_str().unwrap()]).code, 0);
    assert_eq!(tlsdiag(&["analyze", failing.to_str().unwrap()]).code, 0);
}

#[test]
fn http_server_on_the_tls_port() {
    // Python's http.server on 4433 answers the ClientHello with an HTML error page (frame 6).
    let c = one("http-server-on-tls-port.pcap");
    assert_eq!(verdict(&c), ("server_not_tls", "server", "certain"));
    assert_eq!(evidence_frames(&c), [4, 6]);
    assert!(explanation(&c).contains("<!DOCTYPE HTML>"), "{}", explanation(&c));
}

#[test]
fn plain_http_client_to_a_tls_server() {
    // A GET to openssl s_server on 443 (frame 4); OpenSSL closes without a byte (frame 6).
    let c = one("http-client-to-tls-server.pcap");
    assert_eq!(verdict(&c), ("client_not_tls", "client", "likely"));
    assert_eq!(evidence_frames(&c), [4, 6]);
    assert!(explanation(&c).contains("GET / HTTP/1.1"), "{}", explanation(&c));
}

#[test]
fn client_without_sni_checks_the_ip_address() {
    // Python's ssl connects to 127.0.0.1 without SNI; the certificate names www.example.test
    // only; the client's bad_certificate alert is frame 8.
    let c = one("tls12-no-sni-ip-address.pcap");
    assert_eq!(verdict(&c), ("certificate_rejected", "server", "certain"));
    assert!(c["tls"]["client_hello"]["sni"].is_null());
    assert!(
        explanation(&c)
            .contains("the client sent no SNI (it connected by address) and the certificate does not name 127.0.0.1"),
        "{}",
        explanation(&c)
    );
}

#[test]
fn unreachable_crl_is_named_as_the_cause() {
    // s_client -crl_download: the CRL at 127.0.0.2:80 never answers (SYNs in frames 8-12); the
    // client gives up on the handshake with a reset (frame 13).
    let conns = connections(&fixture("tls12-crl-unreachable.pcap"));
    let tls = conns.iter().find(|c| c["server"] == "127.0.0.1:4433").unwrap();
    assert_eq!(verdict(tls), ("certificate_rejected", "network", "likely"));
    assert_eq!(evidence_frames(tls), [6, 8, 13]);
    assert!(explanation(tls).contains("http://127.0.0.2/tlsdiag-ca.crl"), "{}", explanation(tls));
    assert_eq!(
        tls["tls"]["server_certificates"]["certificates"][0]["revocation_urls"][0],
        "http://127.0.0.2/tlsdiag-ca.crl"
    );
    let fetch = conns.iter().find(|c| c["server"] == "127.0.0.2:80").unwrap();
    assert_eq!(verdict(fetch).0, "syn_timeout");
}

#[test]
fn a_crl_host_resolved_in_the_capture_is_matched_by_address() {
    // The CRL URL names crl.example.test; DNS answers 127.0.0.2 in frame 10 (the AAAA answer in
    // 11 is empty); SYNs to 127.0.0.2:80 in 12-16 go unanswered; the client resets in 17.
    let conns = connections(&fixture("tls12-crl-host-unreachable.pcap"));
    let tls = conns.iter().find(|c| c["server"] == "127.0.0.1:4433").unwrap();
    assert_eq!(verdict(tls), ("certificate_rejected", "network", "likely"));
    assert_eq!(evidence_frames(tls), [6, 10, 12, 17]);
    let lookups = list(&tls["revocation_lookups"]);
    assert_eq!(lookups.len(), 1);
    assert_eq!((lookups[0]["name"].as_str(), lookups[0]["frame"].as_u64()), (Some("crl.example.test"), Some(10)));
    assert_eq!(lookups[0]["addresses"][0], "127.0.0.2");
    assert!(explanation(tls).contains("crl.example.test is 127.0.0.2"), "{}", explanation(tls));
}

#[test]
fn a_crl_host_that_does_not_resolve_is_named_as_the_cause() {
    // missing-crl.example.test: NXDOMAIN for A (frame 10) and AAAA (11); the client resets in 14.
    let conns = connections(&fixture("tls12-crl-host-nxdomain.pcap"));
    let tls = conns.iter().find(|c| c["server"] == "127.0.0.1:4433").unwrap();
    assert_eq!(verdict(tls), ("certificate_rejected", "network", "likely"));
    assert_eq!(evidence_frames(tls), [6, 11, 14]);
    assert!(explanation(tls).contains("DNS lookup of missing-crl.example.test"), "{}", explanation(tls));
    assert!(explanation(tls).contains("NXDOMAIN"), "{}", explanation(tls));
}
