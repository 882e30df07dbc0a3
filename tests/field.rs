//! Captures as they come from the field (tests/fixtures/field-*, made by make-field-fixtures.sh
//! with real OpenSSL and Python peers): one direction only, data the server never acknowledged,
//! clients that abandoned the connection, bytes cut by the snap length, a damaged certificate.
//! Each expected verdict is the one the scenario and tshark's frames call for (the fixture
//! README lists the frames); none is a certainty the packets contradict.

mod common;

use common::*;
use serde_json::Value;

fn one(name: &str) -> Value {
    let conns = connections(&fixture(name));
    assert_eq!(conns.len(), 1, "{name}");
    conns.into_iter().next().unwrap()
}

fn why(c: &Value) -> &str {
    c["verdict"]["explanation"].as_str().unwrap()
}

#[test]
fn client_side_only_completed_handshakes_are_ok_likely() {
    // tshark: the client acknowledges 1162 server bytes (frame 4), then sends its
    // ChangeCipherSpec (5) and data; TLS 1.3: CCS + Finished 5, data 6.
    for (name, went_on, server_bytes) in
        [("field-one-sided-c2s-tls12.pcap", 5, "1471"), ("field-one-sided-c2s-tls13.pcap", 6, "1882")]
    {
        let c = one(name);
        assert_eq!(verdict(&c), ("ok", "none", "likely"), "{name}");
        assert_eq!(c["tcp"]["one_sided"], "client_only", "{name}");
        assert!(c["tcp"]["server_packets"].is_null(), "{name}: no server packet (0 is left out)");
        assert!(evidence_frames(&c).contains(&went_on), "{name}: {:?}", evidence_frames(&c));
        // The client's last ACK covers the whole server stream, its FIN included (tshark's
        // relative tcp.ack of the last packet: 1472 and 1883, i.e. 1471 and 1882 bytes).
        assert_eq!(c["tcp"]["server_bytes_acked_by_client"].to_string(), server_bytes, "{name}");
        assert!(why(&c).contains("the server's side of the connection is not in the capture"), "{name}");
    }
}

#[test]
fn server_side_only_completed_handshakes_are_ok_likely() {
    // TLS 1.2: the server's NewSessionTicket, CCS and Finished (frame 4) come only after the
    // client's Finished. TLS 1.3: the server acknowledges the client's flight (4), then sends
    // tickets (5, 6) and data.
    for (name, after) in [("field-one-sided-s2c-tls12.pcap", 4), ("field-one-sided-s2c-tls13.pcap", 5)] {
        let c = one(name);
        assert_eq!(verdict(&c), ("ok", "none", "likely"), "{name}");
        assert_eq!(c["tcp"]["one_sided"], "server_only", "{name}");
        assert!(evidence_frames(&c).contains(&after), "{name}: {:?}", evidence_frames(&c));
    }
}

#[test]
fn a_refusal_by_the_missing_side_is_never_certain() {
    // Client side only: the client acknowledged exactly 7 server bytes (a plaintext alert) and
    // its FIN, then closed. The server's refusal is not in the capture.
    let c = one("field-one-sided-c2s-cipher-mismatch.pcap");
    assert_eq!(verdict(&c), ("incomplete_capture", "unknown", "likely"));
    assert!(why(&c).contains("7 bytes of an answer and its FIN, the size of a plaintext alert"), "{}", why(&c));
    // Server side only, the client refused the certificate: the server's FIN acknowledges
    // 7 bytes after the ClientHello, and no more can be said for certain.
    let c = one("field-one-sided-s2c-cert-unknown-ca.pcap");
    assert_eq!(verdict(&c).0, "incomplete_capture");
    assert_ne!(verdict(&c).2, "certain");
}

#[test]
fn a_refusal_by_the_captured_side_stays_certain() {
    // The client's own unknown_ca alert (frame 5) is in the client-only capture.
    let c = one("field-one-sided-c2s-cert-unknown-ca.pcap");
    assert_eq!(verdict(&c), ("certificate_rejected", "server", "certain"));
    assert_eq!(evidence_frames(&c), [3, 5]);
    // The server's handshake_failure alert (frame 3) is in the server-only capture.
    let c = one("field-one-sided-s2c-cipher-mismatch.pcap");
    assert_eq!(verdict(&c), ("cipher_mismatch", "unknown", "certain"));
    assert!(evidence_frames(&c).contains(&3));
    assert!(why(&c).contains("what the client offered is unknown"), "{}", why(&c));
}

#[test]
fn a_client_hello_the_server_never_acknowledged_is_the_network() {
    // ClientHello 4 retransmitted in 5-11, never acknowledged; no FIN.
    let c = one("field-client-hello-unacknowledged.pcap");
    assert_eq!(verdict(&c), ("no_server_hello", "network", "certain"));
    assert_eq!(evidence_frames(&c), [4, 11]);
    assert!(why(&c).contains("never acknowledged the ClientHello"), "{}", why(&c));
    // The same, then the client gave up with a reset (11): not the client's fault.
    let c = one("field-client-hello-unacknowledged-reset.pcap");
    assert_eq!(verdict(&c), ("no_server_hello", "network", "certain"));
    assert_eq!(evidence_frames(&c), [4, 10, 11]);
    assert!(why(&c).contains("then reset the connection"), "{}", why(&c));
}

#[test]
fn abandoned_connections_are_not_failures() {
    // SYN 1, SYN-ACK 2, the client's RST 3.
    let c = one("field-syn-ack-answered-by-reset.pcap");
    assert_eq!(verdict(&c), ("abandoned", "none", "certain"));
    assert_eq!(evidence_frames(&c), [2, 3]);
    // ClientHello 4 and FIN 6 at once; the server's flight 7 came after.
    let c = one("field-client-hello-and-fin.pcap");
    assert_eq!(verdict(&c), ("abandoned", "none", "certain"));
    assert_eq!(evidence_frames(&c), [4, 6, 7]);
    // Neither is listed without --all, nor counted as a failure.
    for name in ["field-syn-ack-answered-by-reset.pcap", "field-client-hello-and-fin.pcap"] {
        let run = tlsdiag(&["analyze", "--format", "json", fixture(name).to_str().unwrap()]);
        let doc: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(doc["totals"]["failures"], 0, "{name}");
        assert_eq!(doc["connections"].as_array().unwrap().len(), 0, "{name}");
    }
}

#[test]
fn a_snap_length_inside_the_certificate_does_not_hide_the_finished_messages() {
    // Cut at 400 bytes: the server flight (6, 8) is cut; the Finished records 10 and 11 are whole.
    // Frame 11, the first whole segment after the hole, begins with a record header (tshark:
    // New Session Ticket, Change Cipher Spec, Encrypted Handshake Message): the records read
    // from there are the sender's, and both Finished settle it.
    let c = one("field-snaplen-cut-certificate-tls12.pcap");
    assert_eq!(verdict(&c), ("ok", "none", "certain"));
    assert!(why(&c).contains("which begin with a record header"), "{}", why(&c));
    assert_eq!(c["tls"]["handshake_complete"], 11);
    assert!(!flag(&c["tls"]["resumed"]));
    assert_eq!(c["tls"]["server"]["resynced"], 11);
    // MTU 1000: the flight spans 6-10 and 16-17; the Finished come in 20 and 21. Reading went
    // on at a header found inside frame 17 (the flight's tail after the cut): a search, so only
    // likely.
    let c = one("field-snaplen-cut-certificate-mtu1000-tls12.pcap");
    assert_eq!(verdict(&c), ("ok", "none", "likely"));
    assert_eq!(c["tls"]["server"]["resynced"], 17);
    assert_eq!(c["tls"]["handshake_complete"], 21);
}

#[test]
fn a_malformed_certificate_from_the_server_is_the_server_s_fault() {
    // The relay set the first certificate's length to 0xfffff0; the client answered with
    // decode_error (frame 8).
    let c = one("field-certificate-length-corrupted.pcap");
    assert_eq!(verdict(&c), ("fatal_alert", "server", "certain"));
    assert!(evidence_frames(&c).contains(&8));
    assert!(why(&c).contains("a certificate of 16777200 bytes"), "{}", why(&c));
}

/// Every public capture: a verdict that says `certain` rests only on what the capture holds.
#[test]
fn corpus_certainties_rest_on_captured_packets() {
    if !has_corpus() {
        return;
    }
    let run = tlsdiag(&["analyze", "--format", "ndjson", "--all", corpus("").to_str().unwrap()]);
    let mut problems = Vec::new();
    let mut checked = 0;
    for line in run.stdout.lines() {
        let c: Value = serde_json::from_str(line).unwrap();
        let (code, _, confidence) = verdict(&c);
        if confidence != "certain" {
            continue;
        }
        checked += 1;
        let failure =
            !matches!(code, "ok" | "ok_resumed" | "incomplete_capture" | "not_tls" | "tds_unencrypted" | "abandoned");
        let tls = &c["tls"];
        let data_both_ways =
            !tls["client"]["application_data"].is_null() && !tls["server"]["application_data"].is_null();
        if failure && data_both_ways {
            problems.push(format!("{} {}: certain {code} with application data both ways", c["file"], c["client"]));
        }
        // In a one-sided capture, no certain verdict may cite a packet of the missing side.
        let missing = match c["tcp"]["one_sided"].as_str() {
            Some("client_only") => "from the server",
            Some("server_only") => "from the client",
            _ => continue,
        };
        for e in list(&c["verdict"]["evidence"]) {
            if e["what"].as_str().unwrap().contains(missing) {
                problems.push(format!("{} {}: certain {code} cites {} ({missing})", c["file"], c["client"], e["what"]));
            }
        }
    }
    assert!(checked > 1000, "{checked} certain verdicts checked");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The same patterns in public captures written by others (frames read with tshark).
#[test]
fn corpus_one_sided_and_abandoned_connections() {
    if !has_corpus() {
        return;
    }
    let find = |file: &str, client: &str| -> Value {
        connections(&corpus(file)).into_iter().find(|c| c["client"] == client).expect(client)
    };
    // Client side only: CH 3, ACK 4 of 218 server bytes, CCS + Finished 5, data 6, FIN 9.
    let c = find("ndpi--tls_1.3_unidirectional_client.pcapng", "192.168.12.156:39750");
    assert_eq!(verdict(&c), ("ok", "none", "likely"));
    assert_eq!(c["tcp"]["one_sided"], "client_only");
    // Server side only, the same connection from the other tap.
    let c = find("ndpi--tls_1.3_unidirectional_server.pcapng", "192.168.12.156:39750");
    assert_eq!(c["tcp"]["one_sided"], "server_only");
    assert_eq!(verdict(&c).2, "likely");
    // SYN 2620, SYN-ACK 2653, the client's RST 2654.
    let c = find("ndpi--opera-vpn.pcapng", "192.168.1.29:51457");
    assert_eq!(verdict(&c), ("abandoned", "none", "certain"));
    assert_eq!(evidence_frames(&c), [2653, 2654]);
    // CH 261 acknowledged by the server (262), silence for 2.1 s, the client's FIN 427, then the
    // server's: the server's silence, not a refusal by the client.
    let c = find("ndpi--webex.pcap", "10.8.0.1:41726");
    assert_eq!(verdict(&c), ("no_server_hello", "server", "likely"));
    assert_eq!(evidence_frames(&c), [261, 427]);
    // CH 147, the client's FIN 161 23 ms later, the HelloRetryRequest 165 after it.
    let c = find("ndpi--tumblr.pcap", "[2a01:cb01:2049:8b07:991d:ec85:28df:f629]:58382");
    assert_eq!(verdict(&c), ("abandoned", "none", "certain"));
    // The server's first 2920 bytes are not in the capture, the client goes on to its
    // ClientKeyExchange, CCS and Finished (1371-1373) and data flows both ways.
    let c = find("pcapplusplus--tls2.pcap", "192.168.0.17:49713");
    assert_eq!(verdict(&c), ("ok", "none", "likely"));
}
