//! Verdicts on the captures of TLS stacks other than OpenSSL's command line (Java 17 JSSE, Go
//! crypto/tls, Node tls, GnuTLS, Python ssl, nginx, stunnel, curl, wget), made by
//! tests/fixtures/make-stack-fixtures.sh. Each scenario's frames and record sizes were read with
//! tshark and its outcome from the peer's own log (tests/fixtures/stacks/logs); see the
//! fixtures' README, "Stack captures".

mod common;

use common::*;
use serde_json::Value;
use std::process::Command;

fn one(name: &str) -> Value {
    only_tls_connection(&fixture(name))
}

fn explanation(c: &Value) -> &str {
    c["verdict"]["explanation"].as_str().unwrap()
}

/// (frame, length) of a side's encrypted records as tlsdiag kept them.
fn records(c: &Value, side: &str) -> Vec<(u64, u64)> {
    c["tls"][side]["encrypted_records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["content_type"] == 23)
        .map(|r| (r["frame"].as_u64().unwrap(), r["length"].as_u64().unwrap()))
        .collect()
}

#[test]
fn java_client_padded_tls13_alert_is_not_a_finished() {
    // JSSE rejects the certificate (its log: "PKIX path building failed") and says so with one
    // encrypted record of 35 bytes (frame 10; tshark tls.record.length), an alert padded by 16:
    // a TLS_AES_256_GCM_SHA384 Finished needs at least 69. It was taken for a Finished.
    for (name, why) in [
        ("tls13-java-client-cert-unknown-ca.pcap", "PKIX path building failed"),
        ("tls13-java-client-cert-expired.pcap", "validity check failed"),
        ("tls13-java-client-cert-wrong-name.pcap", "No subject alternative DNS name"),
    ] {
        let c = one(name);
        // The certificate is what the client refused: the server's side, as certificate_rejected.
        assert_eq!(verdict(&c), ("aborted_after_server_hello", "server", "likely"), "{name} ({why})");
        assert_eq!(evidence_frames(&c), [10], "{name}");
        assert_eq!(records(&c, "client"), [(10, 35)], "{name}");
        assert!(c["tls"]["handshake_complete"].is_null(), "{name}");
        assert!(explanation(&c).contains("35-byte record, smaller than any Finished"), "{name}: {}", explanation(&c));
        assert!(explanation(&c).contains("(69 bytes)"), "{name}: {}", explanation(&c));
    }
}

#[test]
fn java_client_padded_finished_completes() {
    // The same client succeeding: its Finished is 85 bytes (69 + 16 of padding, frame 10), then
    // it sends data (16, 39 bytes); the second connection resumes with a PSK (ClientHello 30).
    let conns = connections(&fixture("tls13-java-client-resumed.pcap"));
    assert_eq!(conns.len(), 2);
    assert_eq!(verdict(&conns[0]), ("ok", "none", "certain"));
    assert_eq!(evidence_frames(&conns[0]), [4, 6, 10]);
    assert_eq!(records(&conns[0], "client")[..2], [(10, 85), (16, 39)]);
    assert_eq!(verdict(&conns[1]), ("ok_resumed", "none", "certain"));
    assert_eq!(evidence_frames(&conns[1]), [30, 32, 36]);
}

#[test]
fn java_tls12_resumption_and_rejection() {
    // TLS 1.2: the encrypted Finished is 40 bytes (GCM: 8 + 16 + 16), frames 12 and 14; the
    // second connection is abbreviated (ServerHello 30 without Certificate).
    let conns = connections(&fixture("tls12-java-client-resumed.pcap"));
    assert_eq!(verdict(&conns[0]), ("ok", "none", "certain"));
    assert_eq!(evidence_frames(&conns[0]), [4, 6, 14]);
    assert_eq!(verdict(&conns[1]), ("ok_resumed", "none", "certain"));
    assert_eq!(evidence_frames(&conns[1]), [28, 30, 34]);
    // In TLS 1.2 JSSE's certificate_unknown (46) alert is in the clear, frame 8.
    let c = one("tls12-java-client-cert-unknown-ca.pcap");
    assert_eq!(verdict(&c), ("certificate_rejected", "server", "certain"));
    assert!(explanation(&c).contains("certificate_unknown"), "{}", explanation(&c));
    assert!(evidence_frames(&c).contains(&8));
}

#[test]
fn java_server_answers_plain_http_with_a_plaintext_alert() {
    // A GET (frame 4) to a JSSE server, which answers with 15 03 03 00 02 02 0a, a fatal
    // unexpected_message alert in the clear (frame 6; the client's log shows the bytes), and
    // logs "Unsupported or unrecognized SSL message".
    let c = one("http-client-to-java-server.pcap");
    assert_eq!(verdict(&c), ("client_not_tls", "client", "certain"));
    assert_eq!(evidence_frames(&c), [4, 6]);
    assert!(explanation(&c).contains("TLS alert (unexpected_message)"), "{}", explanation(&c));
    assert!(explanation(&c).contains("GET / HTTP/1.1"), "{}", explanation(&c));
}

#[test]
fn nginx_answers_plain_http_with_400() {
    // curl http:// to nginx's TLS port 443: "400 Bad Request" in the clear (frame 6), nginx's
    // log "client sent plain HTTP request to HTTPS port"; the server's FIN is frame 9.
    let c = one("http-client-to-nginx-https.pcap");
    assert_eq!(verdict(&c), ("client_not_tls", "client", "likely"));
    assert_eq!(evidence_frames(&c), [4, 9]);
}

#[test]
fn tls_client_to_plain_http_server() {
    // curl https:// to Python's http.server: ClientHello 4 answered by an HTML 400 page (6).
    let c = one("tls-curl-to-plain-http.pcap");
    assert_eq!(verdict(&c), ("server_not_tls", "server", "certain"));
    assert_eq!(evidence_frames(&c), [4, 6]);
}

#[test]
fn go_server_sends_its_ticket_before_the_clients_finished() {
    // Go's server flight ends with a 147-byte NewSessionTicket (frame 6) before the client's
    // Finished (53 bytes, frame 8); its next record is 21 bytes of data ("bye\n", frame 11), then
    // it answers the client's close_notify with its own (13): two records, no refusal.
    let c = one("tls13-go-server-ok.pcap");
    assert_eq!(verdict(&c), ("ok", "none", "certain"));
    assert_eq!(evidence_frames(&c), [4, 6, 8]);
    assert_eq!(c["tls"]["server_reply_to_finished"]["length"], 21);
    assert_eq!(c["tls"]["server_records_after_reply"], 1);
    // Go client and server, the second connection resumed (the client's log: "resumed true").
    let conns = connections(&fixture("tls13-go-resumed.pcap"));
    assert_eq!(verdict(&conns[0]), ("ok", "none", "certain"));
    assert_eq!(verdict(&conns[1]), ("ok_resumed", "none", "certain"));
    assert_eq!(evidence_frames(&conns[1]), [20, 22, 24]);
}

#[test]
fn tls13_server_refusing_the_clients_certificate_flight() {
    // Go's server rejects the client's certificate ("failed to verify client certificate"):
    // the client's flight is Certificate 801, CertificateVerify 281 and Finished 53 (frame 8);
    // the server answers with one 19-byte record (9) and FIN (10).
    let c = one("tls13-go-server-client-cert-unknown-ca.pcap");
    assert_eq!(verdict(&c), ("aborted_after_server_hello", "client", "likely"));
    assert_eq!(evidence_frames(&c), [8, 9, 10]);
    assert_eq!(records(&c, "client")[..3], [(8, 801), (8, 281), (8, 53)]);
}

#[test]
fn tls13_server_aborts_after_a_second_client_hello() {
    // tls_front.py replays s_client's ClientHello to s_server (4434) after the server's flight
    // (11): second ClientHello 21, the server's 19-byte encrypted alert 22 (s_server: "bad
    // record type"); the client's Finished (25) comes after it and does not complete anything.
    let conns = connections(&fixture("tls13-server-aborts-on-repeated-client-hello.pcap"));
    let relayed = conns.iter().find(|c| c["server"].as_str().unwrap().ends_with(":4434")).unwrap();
    assert_eq!(verdict(relayed), ("fatal_alert", "server", "likely"));
    assert_eq!(evidence_frames(relayed), [11, 21, 22]);
    assert_eq!(relayed["tls"]["repeated_client_hello"], 21);
    assert!(explanation(relayed).contains("second ClientHello"), "{}", explanation(relayed));
    // The client's side of the relay: the same 19-byte record (24) after the client's Finished
    // (15), data and FIN (18): only a possible refusal of its flight.
    let client = conns.iter().find(|c| c["server"].as_str().unwrap().ends_with(":4433")).unwrap();
    assert_eq!(verdict(client), ("aborted_after_server_hello", "client", "possible"));
    assert_eq!(evidence_frames(client), [15, 24, 29]);
    assert!(client["tls"]["repeated_client_hello"].is_null());
}

#[test]
fn tls13_empty_client_certificate_is_read_from_record_sizes() {
    // A 25-byte record (an empty Certificate: 8 + 1 + 16) before the Finished. Python's ssl
    // server (log: "peer did not return a certificate") and stunnel (curl's log: "tlsv13 alert
    // certificate required") answer with a 19-byte alert (frame 9) before the client closes.
    for name in ["tls13-python-server-client-cert-missing.pcap", "tls13-stunnel-client-cert-missing.pcap"] {
        let c = one(name);
        assert_eq!(verdict(&c), ("client_certificate_required", "client", "likely"), "{name}");
        assert_eq!(evidence_frames(&c), [8, 9, 14], "{name}");
        assert_eq!(records(&c, "client")[..2], [(8, 25), (8, 69)], "{name}");
        assert!(explanation(&c).contains("empty Certificate"), "{name}: {}", explanation(&c));
    }
    // Go (19-byte alert, frame 13) and Java (35 bytes, frame 28) answer only after s_client has
    // sent data, close_notify and FIN: the same story, only possible.
    for (name, reply, frames) in [
        ("tls13-go-server-client-cert-missing.pcap", 19, [8, 13, 14]),
        ("tls13-java-server-client-cert-missing.pcap", 35, [20, 28, 29]),
    ] {
        let c = one(name);
        assert_eq!(verdict(&c), ("client_certificate_required", "client", "possible"), "{name}");
        assert_eq!(evidence_frames(&c), frames, "{name}");
        assert_eq!(c["tls"]["server_reply_to_finished"]["length"], reply, "{name}");
    }
}

#[test]
fn tls12_client_certificate_missing_at_a_java_server() {
    // JSSE asks (CertificateRequest 12), gets an empty Certificate (16) and refuses with
    // bad_certificate (42) in the clear (18); its log: "Empty client certificate chain".
    let c = one("tls12-java-server-client-cert-missing.pcap");
    assert_eq!(verdict(&c), ("client_certificate_required", "client", "certain"));
    assert_eq!(evidence_frames(&c), [4, 6, 12, 18]);
}

#[test]
fn go_client_rejects_with_an_unpadded_alert() {
    // Go's client: CCS and one 19-byte encrypted alert (frame 8), "certificate signed by
    // unknown authority"; in TLS 1.2 its bad_certificate is in the clear (frame 8).
    let c = one("tls13-go-client-cert-unknown-ca.pcap");
    assert_eq!(verdict(&c), ("aborted_after_server_hello", "server", "likely"));
    assert_eq!(records(&c, "client"), [(8, 19)]);
    let c = one("tls12-go-client-cert-expired.pcap");
    assert_eq!(verdict(&c), ("certificate_rejected", "server", "certain"));
    assert!(explanation(&c).contains("expired on"), "{}", explanation(&c));
}

#[test]
fn node_client_checks_the_certificate_after_the_handshake() {
    // TLS 1.2: Node completes the handshake (client Finished 8, server Finished 9), then closes
    // without data or alert (FIN 10): its log says CERT_HAS_EXPIRED; the certificate in the
    // capture expired on 2021-01-01. The server's encrypted alert (11) is its reaction.
    let c = one("tls12-node-client-cert-expired.pcap");
    assert_eq!(verdict(&c), ("certificate_rejected", "server", "likely"));
    assert_eq!(evidence_frames(&c), [4, 6, 9, 10]);
    assert!(explanation(&c).contains("without sending data or an alert"), "{}", explanation(&c));
    assert!(explanation(&c).contains("expired on"), "{}", explanation(&c));
    // TLS 1.3: Node closes (FIN 8) before its Finished, without an alert.
    for name in ["tls13-node-client-cert-expired.pcap", "tls13-node-client-cert-wrong-name.pcap"] {
        let c = one(name);
        assert_eq!(verdict(&c), ("aborted_after_server_hello", "server", "likely"), "{name}");
        assert_eq!(evidence_frames(&c), [6, 8], "{name}");
        assert!(explanation(&c).contains("without a Finished and without an alert"), "{name}");
    }
}

#[test]
fn wget_completes_then_resets() {
    // wget (GnuTLS) sends its Finished (69 bytes, frame 10), receives two tickets (12, 13) and
    // resets (14): "The certificate's owner does not match hostname". The TLS 1.3 certificate
    // is encrypted: only a possibility, and not counted as a failed handshake.
    let c = one("tls13-wget-cert-wrong-name.pcap");
    assert_eq!(verdict(&c), ("closed_after_handshake", "unknown", "possible"));
    assert_eq!(evidence_frames(&c), [4, 10, 14]);
    let run = tlsdiag(&["analyze", "--fail-on-failure", fixture("tls13-wget-cert-wrong-name.pcap").to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stdout);
}

#[test]
fn gnutls_server_refuses_a_version_with_handshake_failure() {
    // gnutls-serv limited to TLS 1.3 (and to TLS 1.2) logs "No supported cipher suites have
    // been found" and sends handshake_failure (40, frame 6) to a client of the other version:
    // the alert does not tell the suite from the version, and the explanation says both.
    for (name, offered) in [
        ("tls-gnutls-server-tls13-client-tls12.pcap", "TLS1.2"),
        ("tls-gnutls-server-tls12-client-tls13.pcap", "TLS1.3"),
    ] {
        let c = one(name);
        assert_eq!(verdict(&c), ("cipher_mismatch", "unknown", "likely"), "{name}");
        assert_eq!(evidence_frames(&c), [4, 6], "{name}");
        assert!(
            explanation(&c).contains(&format!("or none of its versions ({offered}")),
            "{name}: {}",
            explanation(&c)
        );
        assert!(c["verdict"]["hint"].as_str().unwrap().contains("jdk.tls.client.protocols"));
    }
}

#[test]
fn version_mismatches_both_ways() {
    // protocol_version (70) in the clear, frame 6, from OpenSSL, JSSE and nginx.
    for (name, side) in [
        ("tls-java-client-tls12-server-tls13.pcap", "client"),
        ("tls-java-client-tls13-server-tls12.pcap", "server"),
        ("tls-go-client-tls13-server-tls12.pcap", "server"),
        ("tls-java-server-tls13-client-tls12.pcap", "client"),
        ("tls-nginx-stream-tls12-curl-tls13.pcap", "server"),
    ] {
        let c = one(name);
        assert_eq!(verdict(&c), ("protocol_mismatch", side, "certain"), "{name}");
        assert_eq!(evidence_frames(&c), [4, 6], "{name}");
    }
}

#[test]
fn servers_that_close_or_reset_on_the_client_hello() {
    // tls_front.py closes (FIN 6); JSSE answers the cut stream with handshake_failure (8), a
    // reaction after the server's FIN ("Remote host terminated the handshake").
    let c = one("tls12-java-client-server-closes.pcap");
    assert_eq!(verdict(&c), ("closed_without_server_hello", "server", "certain"));
    assert_eq!(evidence_frames(&c), [4, 6]);
    // tls_front.py resets (RST 6); Go: "connection reset by peer".
    let c = one("tls12-go-client-server-resets.pcap");
    assert_eq!(verdict(&c), ("rst_without_server_hello", "server", "certain"));
    assert_eq!(evidence_frames(&c), [4, 6]);
}

#[test]
fn suite_mismatches_from_java_go_and_gnutls_clients_and_servers() {
    // Clients offering TLS 1.2 only: handshake_failure (6) is a suite or a version refusal.
    for name in [
        "tls12-java-client-cipher-mismatch.pcap",
        "tls12-go-client-cipher-mismatch.pcap",
        "tls12-gnutls-server-cipher-mismatch.pcap",
    ] {
        let c = one(name);
        assert_eq!(verdict(&c), ("cipher_mismatch", "unknown", "likely"), "{name}");
        assert_eq!(evidence_frames(&c), [4, 6], "{name}");
    }
}

#[test]
fn java_server_success_with_padded_records() {
    // JSSE as server: its TLS 1.3 flight in separate records (65, 809, 297, 85: each padded),
    // the client's Finished 69 (frame 18), then data.
    let c = one("tls13-java-server-ok.pcap");
    assert_eq!(verdict(&c), ("ok", "none", "certain"));
    assert_eq!(evidence_frames(&c), [4, 6, 18]);
}

/// The client's encrypted TLS 1.3 records as tshark reads them: (frame, tls.record.length).
/// tshark names an encrypted record's type tls.record.opaque_type; the plaintext records of a
/// frame (the compatibility ChangeCipherSpec) come before the encrypted ones.
fn tshark_client_records(name: &str, client_port: &str) -> Vec<(u64, u64)> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(fixture(name))
        .args(["-Y", &format!("tcp.srcport=={client_port} && tls.record.opaque_type==23")])
        .args(["-T", "fields", "-e", "frame.number", "-e", "tls.record.opaque_type", "-e", "tls.record.length"])
        .output()
        .expect("run tshark");
    let mut records = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        let frame: u64 = cols[0].parse().unwrap();
        let encrypted = cols[1].split(',').count();
        let lengths: Vec<u64> = cols[2].split(',').map(|l| l.parse().unwrap()).collect();
        records.extend(lengths[lengths.len() - encrypted..].iter().map(|&len| (frame, len)));
    }
    records
}

#[test]
fn record_sizes_agree_with_tshark() {
    if !has_tshark() {
        let required = std::env::var_os("CI").is_some() || std::env::var_os("TLSDIAG_REQUIRE_TOOLS").is_some();
        assert!(!required, "tshark is required (CI or TLSDIAG_REQUIRE_TOOLS set): scripts/install-deps.sh installs it");
        eprintln!("tshark not installed: skipped");
        return;
    }
    for name in [
        "tls13-java-client-cert-unknown-ca.pcap",
        "tls13-go-client-cert-unknown-ca.pcap",
        "tls13-python-server-client-cert-missing.pcap",
        "tls13-go-server-client-cert-unknown-ca.pcap",
        "tls13-wget-cert-wrong-name.pcap",
    ] {
        let c = one(name);
        let port = c["client"].as_str().unwrap().rsplit(':').next().unwrap().to_string();
        let ours = records(&c, "client");
        let theirs = tshark_client_records(name, &port);
        assert!(!ours.is_empty(), "{name}");
        assert_eq!(ours, theirs[..ours.len()], "{name}");
    }
}

#[test]
fn sql_server_clients_beyond_freetds() {
    // python-tds (pure Python, pyOpenSSL) and tedious (Node) against tds_front.py; frames with
    // tshark -d tcp.port==1433,tds. Encryption on: PRELOGIN 4 and 6, ClientHello 8, the
    // server's flight 9, NewSessionTicket and server Finished 11 (python-tds) or 12 (tedious).
    for (name, frames) in [("tds-pytds-tls12-ok.pcap", [8, 9, 11]), ("tds-tedious-tls12-ok.pcap", [8, 9, 12])] {
        let c = one(name);
        assert_eq!(verdict(&c), ("ok", "none", "certain"), "{name}");
        assert_eq!(evidence_frames(&c), frames, "{name}");
        assert_eq!(c["tds"]["client"]["encryption"], "ON", "{name}");
    }
    // Both clients without encryption send PRELOGIN NOT_SUP (tshark: "Encryption is not
    // available (2)") and their LOGIN7 in the clear (8).
    for name in ["tds-pytds-unencrypted.pcap", "tds-tedious-encryption-off.pcap"] {
        let c = one(name);
        assert_eq!(verdict(&c), ("tds_unencrypted", "none", "certain"), "{name}");
        assert_eq!(evidence_frames(&c), [4, 6, 8], "{name}");
    }
    // python-tds without encryption against a server that requires it: the server closes (8);
    // the client says "Client does not have encryption enabled but it is required by server".
    let c = one("tds-pytds-encryption-required.pcap");
    assert_eq!(verdict(&c), ("tds_encryption_mismatch", "client", "certain"));
    assert_eq!(evidence_frames(&c), [4, 6, 8]);
}

#[test]
fn python_tds_rejects_the_certificate_without_an_alert() {
    // pyOpenSSL: "certificate verify failed"; on the wire the client's FIN (11) right after the
    // server's Certificate (10), no alert and no ClientKeyExchange. The certificate's CA is not
    // in the capture, so nothing in it is flawed: a scanner closes the same way, and the
    // explanation names both.
    let c = one("tds-pytds-untrusted-certificate.pcap");
    assert_eq!(verdict(&c), ("fatal_alert", "client", "possible"));
    assert_eq!(evidence_frames(&c), [10, 11]);
    assert!(explanation(&c).contains("rejects the certificate without an alert"), "{}", explanation(&c));
}
