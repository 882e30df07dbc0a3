//! Verdicts on real captures: code, side, confidence and evidence frames, each checked against
//! what tshark shows for the same file (frames, alert sender and name, certificate dates).

mod common;

use common::*;
use serde_json::Value;

fn by_client(conns: &[Value], client_port: &str) -> Value {
    conns
        .iter()
        .find(|c| c["client"].as_str().unwrap().ends_with(client_port))
        .unwrap_or_else(|| panic!("no connection from port {client_port}"))
        .clone()
}

fn risk_codes(c: &Value) -> Vec<String> {
    list(&c["verdict"]["risks"]).iter().map(|r| r["code"].as_str().unwrap().to_string()).collect()
}

// samples/handshakes.pcap, made by samples/make-sample.sh (OpenSSL 3 server offering
// ECDHE-RSA-AES128-GCM-SHA256, AES128-SHA and TLS_AES_128_GCM_SHA256). tshark shows:
// 57556 TLS 1.3 hello 4/6; 57572 TLS 1.2 hello 20/22; 57584 ClientHello 34 and fatal
// handshake_failure (40) from 4433 in 36; 57586 ClientHello 44, handshake_failure in 46;
// 60772 SYN in 51 answered by RST from 4434 in 52. The TLS 1.2 server flight (frame 22) names
// the group 0x001d (x25519) and a certificate for CN=shop.example.

#[test]
fn sample_successes() {
    let conns = connections(&repo().join("samples/handshakes.pcap"));
    let tls13 = by_client(&conns, ":57556");
    assert_eq!(tls13["verdict"]["code"], "ok");
    assert_eq!(tls13["tls"]["server_hello"]["version"], "TLS1.3");
    assert_eq!(tls13["tls"]["server_hello"]["cipher_suite"], "TLS_AES_128_GCM_SHA256");
    assert_eq!(tls13["tls"]["client_hello"]["sni"], "shop.example");
    let tls12 = by_client(&conns, ":57572");
    assert_eq!(tls12["verdict"]["code"], "ok");
    assert_eq!(tls12["tls"]["server_hello"]["cipher_suite"], "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    assert_eq!(tls12["tls"]["server_key_exchange"]["group"], "x25519");
    assert_eq!(tls12["tls"]["server_certificates"]["certificates"][0]["subject"], "CN=shop.example");
}

#[test]
fn sample_cipher_mismatch_tls12_and_tls13() {
    let conns = connections(&repo().join("samples/handshakes.pcap"));
    for (port, ch, alert) in [(":57584", 34, 36), (":57586", 44, 46)] {
        let c = by_client(&conns, port);
        // The server's alert settles the refusal; that the same server chose other suites for
        // the two good connections of the sample (make-sample.sh) puts the client out of line.
        assert_eq!(verdict(&c), ("cipher_mismatch", "client", "likely"), "{port}");
        assert_eq!(evidence_frames(&c), vec![ch, alert]);
        assert_eq!(c["tls"]["alerts"][0]["sender"], "server");
        assert_eq!(c["tls"]["alerts"][0]["description"], "handshake_failure");
        let why = c["verdict"]["explanation"].as_str().unwrap();
        assert!(why.contains("this server completed 2 handshake(s) with other clients"), "{why}");
    }
    // The fix names the suite the server chose most in IANA, OpenSSL and Schannel spelling.
    // The TLS 1.2 client gets the TLS 1.2 suite, the TLS 1.3 client the TLS 1.3 one.
    let hint = |port| by_client(&conns, port)["verdict"]["hint"].as_str().unwrap().to_string();
    let tls12 = hint(":57584");
    assert!(
        tls12.contains("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (OpenSSL: ECDHE-RSA-AES128-GCM-SHA256; Windows: Enable-TlsCipherSuite -Name TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)"),
        "{tls12}"
    );
    assert!(hint(":57586").contains("Enable TLS_AES_128_GCM_SHA256 (OpenSSL: TLS_AES_128_GCM_SHA256;"));
}

#[test]
fn sample_connection_refused() {
    let conns = connections(&repo().join("samples/handshakes.pcap"));
    let c = by_client(&conns, ":60772");
    assert_eq!(c["server"], "127.0.0.1:4434");
    assert_eq!(c["verdict"]["code"], "connection_refused");
    assert_eq!(c["verdict"]["side"], "server");
    assert_eq!(evidence_frames(&c), vec![51, 52]);
}

#[test]
fn protocol_version_alert_is_a_protocol_mismatch() {
    if !has_corpus() {
        return;
    }
    // tshark: ClientHello offering only TLS 1.3 in frame 4; fatal protocol_version (70) from
    // the server (port 8443) in frame 6.
    let c = only_tls_connection(&corpus("flowtest--tls_version_error.pcap"));
    assert_eq!(c["verdict"]["code"], "protocol_mismatch");
    assert_eq!(c["verdict"]["confidence"], "certain");
    assert_eq!(evidence_frames(&c), vec![4, 6]);
    assert_eq!(c["tls"]["client_hello"]["supported_versions"], serde_json::json!(["TLS1.3"]));
}

#[test]
fn http_answer_to_a_client_hello_is_server_not_tls() {
    if !has_corpus() {
        return;
    }
    // tshark: the client's 119-byte ClientHello in frame 3; the server's 341 bytes of HTTP
    // arrive out of order in frame 8.
    let c = only_tls_connection(&corpus("zeek--tls--ssl-to-http-server.pcap"));
    assert_eq!(c["verdict"]["code"], "server_not_tls");
    assert_eq!(c["verdict"]["side"], "server");
    assert_eq!(evidence_frames(&c), vec![3, 8]);
    assert!(c["verdict"]["explanation"].as_str().unwrap().contains("HTTP/1.1 400 Bad Request"));
}

#[test]
fn unknown_ca_alert_from_the_client_is_certificate_rejected() {
    if !has_corpus() {
        return;
    }
    // tshark: fatal unknown_ca (48) from the client (port 36778) in frame 8.
    let conns = connections(&corpus("zeek--tls--tls13draft16-ff52.a01.pcap"));
    let c = by_client(&conns, ":36778");
    assert_eq!(c["verdict"]["code"], "certificate_rejected");
    assert_eq!(c["tls"]["alerts"][0]["sender"], "client");
    assert_eq!(*evidence_frames(&c).last().unwrap(), 8);
}

#[test]
fn tls13_client_answering_with_an_alert_sized_record_aborted() {
    if !has_corpus() {
        return;
    }
    // tshark: after the server's TLS 1.3 flight in frame 6 the client sends in frame 8 only a
    // ChangeCipherSpec and one 19-byte application-data record (an encrypted alert's size).
    let c = only_tls_connection(&corpus("flowtest--tls_invalid_cert.pcap"));
    assert_eq!(c["verdict"]["code"], "aborted_after_server_hello");
    // The client refused the server's certificate: the server's side, as in TLS 1.2.
    assert_eq!(c["verdict"]["side"], "server");
    assert_eq!(c["verdict"]["confidence"], "likely");
    assert_eq!(evidence_frames(&c), vec![8]);
}

#[test]
fn expired_certificate_is_a_risk_on_a_working_handshake() {
    if !has_corpus() {
        return;
    }
    // tshark: the leaf certificate in frame 7 is valid until 2014-03-04 23:59:59 UTC; the
    // capture was taken on 2014-03-13. The suite is TLS_DHE_RSA_WITH_AES_256_CBC_SHA in TLS 1.0
    // and the ServerHello has no extended_master_secret.
    let conns = connections(&corpus("zeek--tls--tls-expired-cert.pcap"));
    let c = &conns[0];
    assert_eq!(c["verdict"]["code"], "ok");
    assert_eq!(c["tls"]["server_certificates"]["frame"], 7);
    assert_eq!(c["tls"]["server_certificates"]["certificates"][0]["not_after"], "2014-03-04T23:59:59Z");
    let risks = risk_codes(c);
    // Expired, not weak: its own code.
    assert!(risks.contains(&"certificate_expired".to_string()), "{risks:?}");
    assert!(!risks.contains(&"weak_certificate".to_string()), "{risks:?}");
    assert!(risks.contains(&"dhe_without_ems".to_string()), "{risks:?}");
    assert!(risks.contains(&"deprecated_protocol".to_string()), "{risks:?}");
    assert!(c["verdict"]["risks"][2]["explanation"].as_str().unwrap().contains("expired on 2014-03-04"));
}

#[test]
fn unanswered_syn_then_client_reset() {
    if !has_corpus() {
        return;
    }
    // tshark: frame 1 SYN 13131 -> 31313, frame 2 RST from the same client, no SYN-ACK.
    let conns = connections(&corpus("zeek--tcp--syn-then-rst.pcap"));
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0]["verdict"]["code"], "syn_timeout");
    assert_eq!(evidence_frames(&conns[0]), vec![1, 2]);
}

#[test]
fn a_client_that_closes_before_the_server_hello_is_said_to_have_done_so() {
    if !has_corpus() {
        return;
    }
    // mercury capture2 (tshark): 192.168.1.101:56675 sends its ClientHello (4470) and its FIN
    // (4472) at once; the ServerHello arrives later (4490).
    let conns = connections(&corpus("mercury--capture2.pcap"));
    let c = conns.iter().find(|c| c["client"] == "192.168.1.101:56675").expect("connection");
    // The client left without waiting for an answer: abandoned, not a failure.
    assert_eq!(verdict(c), ("abandoned", "none", "certain"));
    assert_eq!(evidence_frames(c), [4470, 4472, 4490]);
    let why = c["verdict"]["explanation"].as_str().unwrap();
    assert!(why.contains("closed the connection 0.0 s after its ClientHello, before the server's hello"), "{why}");
}
