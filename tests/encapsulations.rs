//! TLS carried inside tunnels and mirrors: GRE, ERSPAN types II and III (fixtures made with
//! real TLS peers, see tests/fixtures/README.md), 802.11 behind radiotap and PPI (public
//! captures of ../shared/corpus). Frames and facts were checked with tshark.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

/// The `files[0]` summary of `analyze --format json` on one capture.
fn file_summary(path: &Path) -> Value {
    let run = tlsdiag(&["analyze", "--format", "json", "--all", path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: Value = serde_json::from_str(&run.stdout).expect("JSON document");
    doc["files"][0].clone()
}

/// A capture of ../shared/corpus, or None (with the reason printed) when the corpus is absent
/// and neither CI nor TLSDIAG_REQUIRE_TOOLS asks for it.
fn corpus_file(name: &str) -> Option<std::path::PathBuf> {
    let path = corpus(name);
    if path.exists() {
        return Some(path);
    }
    let required = std::env::var_os("CI").is_some() || std::env::var("TLSDIAG_REQUIRE_TOOLS").is_ok_and(|v| v == "1");
    assert!(!required, "{} is missing: the public corpus must sit at ../shared/corpus", path.display());
    eprintln!("{} missing: skipped (the public corpus sits at ../shared/corpus)", path.display());
    None
}

#[test]
fn tls_inside_gre_with_checksum_key_and_sequence() {
    let path = fixture("gre-tls12-ok.pcap");
    let c = only_tls_connection(&path);
    assert_eq!(verdict(&c), ("ok", "none", "certain"));
    // The inner addresses, not the underlay's.
    assert!(c["client"].as_str().unwrap().starts_with("192.168.99.1:"));
    assert_eq!(c["server"], "192.168.99.2:4433");
    assert_eq!(evidence_frames(&c), [7, 9, 12]);
    assert_eq!(c["tls"]["server_hello"]["cipher_suite"], "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384");
    let f = file_summary(&path);
    assert_eq!(f["tunnels"]["gre"], 20, "every frame is GRE");
    // Frames 1 and 3 carry IPv6 router solicitations through the tunnel.
    assert_eq!(f["other_ip"], 2);
    assert_eq!(f["tunnels"]["skipped_gre"], 0);
}

#[test]
fn certificate_rejected_inside_plain_gre() {
    let c = only_tls_connection(&fixture("gre-tls13-unknown-ca.pcap"));
    assert_eq!(verdict(&c), ("certificate_rejected", "server", "certain"));
    assert_eq!(evidence_frames(&c), [6, 8, 10]);
    assert_eq!(c["tls"]["alerts"][0]["description"], "unknown_ca");
    assert_eq!(c["tls"]["alerts"][0]["sender"], "client");
}

#[test]
fn tls_mirrored_through_erspan_type_ii() {
    let path = fixture("erspan2-tls12-ok.pcap");
    let c = only_tls_connection(&path);
    assert_eq!(verdict(&c), ("ok", "none", "certain"));
    assert_eq!(c["server"], "127.0.0.1:4433");
    assert_eq!(evidence_frames(&c), [4, 6, 9]);
    let f = file_summary(&path);
    assert_eq!((f["tunnels"]["gre"].as_u64(), f["tunnels"]["erspan_ii"].as_u64()), (Some(15), Some(15)));
}

#[test]
fn cipher_mismatch_mirrored_through_erspan_type_iii() {
    let path = fixture("erspan3-tls12-cipher-mismatch.pcap");
    let c = only_tls_connection(&path);
    assert_eq!(verdict(&c).0, "cipher_mismatch");
    assert_eq!(evidence_frames(&c), [4, 6]);
    assert_eq!(c["tls"]["alerts"][0]["description"], "handshake_failure");
    assert_eq!(file_summary(&path)["tunnels"]["erspan_iii"], 10);
}

/// 26 radiotap 802.11 QoS data frames carrying one HTTP connection (tshark: wlan.fc.type_subtype
/// 0x0020 on every frame, unprotected).
#[test]
fn tcp_inside_radiotap_80211_data_frames() {
    let Some(path) = corpus_file("arkime--80211http.pcap") else { return };
    let conns = connections(&path);
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0]["client"], "172.5.5.113:49417");
    assert_eq!(conns[0]["server"], "14.17.32.211:80");
    assert_eq!(conns[0]["packets"], 26);
    assert_eq!(verdict(&conns[0]).0, "not_tls");
    let f = file_summary(&path);
    assert_eq!((f["tcp_segments"].as_u64(), f["tunnels"]["wlan"].as_u64()), (Some(26), Some(26)));
}

/// PPI in front of 802.11: frames 2 and 4 are not data frames, 1 and 3 are UDP, 5 a SYN
/// (tshark: ppi.dlt 105 on all five).
#[test]
fn tcp_inside_ppi_80211_frames() {
    let Some(path) = corpus_file("libpcap--filter--http_PPI.pcap") else { return };
    let conns = connections(&path);
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0]["client"], "192.168.1.132:3827");
    assert_eq!(conns[0]["tcp"]["syn"]["frame"], 5);
    let f = file_summary(&path);
    assert_eq!((f["tcp_segments"].as_u64(), f["other_ip"].as_u64(), f["not_ip"].as_u64()), (Some(1), Some(2), Some(2)));
}

/// The OpenVPN facts of a connection.
fn openvpn(c: &Value) -> &Value {
    assert_eq!(c["encapsulation"], "openvpn");
    &c["openvpn"]
}

#[test]
fn tls_inside_openvpn_control_channel() {
    let c = only_tls_connection(&fixture("openvpn-tcp-ok.pcap"));
    assert_eq!(verdict(&c), ("ok", "none", "certain"));
    let o = openvpn(&c);
    assert_eq!(o["control_auth"], "none");
    // tshark -d tcp.port==1194,openvpn: hard resets 4 (client) and 6 (server), ClientHello 8,
    // ServerHello 9 (TLS_AES_256_GCM_SHA384, supported_version 0x0304).
    assert_eq!((o["client_reset"].as_u64(), o["server_reset"].as_u64()), (Some(4), Some(6)));
    assert_eq!(c["server"].as_str().unwrap(), "10.99.0.2:1194");
    assert_eq!(c["tls"]["client_hello"]["frame"], 8);
    assert_eq!(c["tls"]["server_hello"]["frame"], 9);
    assert_eq!(c["tls"]["server_hello"]["cipher_suite"], "TLS_AES_256_GCM_SHA384");
    assert_eq!(c["tls"]["server_hello"]["version"], "TLS1.3");
}

#[test]
fn openvpn_client_rejecting_the_server_certificate() {
    // The client logged "VERIFY ERROR ... Sent fatal SSL alert: unknown CA", but the alert never
    // reached the wire: its FIN (frame 10) follows the server's flight (ServerHello 9).
    let c = only_tls_connection(&fixture("openvpn-tcp-unknown-ca.pcap"));
    // The refused certificate is the server's side, as certificate_rejected says.
    assert_eq!(verdict(&c), ("aborted_after_server_hello", "server", "likely"));
    assert_eq!(evidence_frames(&c), [9, 10]);
    assert_eq!(c["tcp"]["client_fin"]["frame"], 10);
    assert_eq!(openvpn(&c)["control_auth"], "none");
}

#[test]
fn tls_auth_hmac_is_recognised_by_its_size() {
    let c = only_tls_connection(&fixture("openvpn-tcp-tls-auth-ok.pcap"));
    assert_eq!(verdict(&c), ("ok", "none", "certain"));
    let o = openvpn(&c);
    assert_eq!((o["control_auth"].as_str(), o["hmac_size"].as_u64()), (Some("tls_auth"), Some(20)));
    // tshark with openvpn.tls_auth: ClientHello 8, ServerHello 10.
    assert_eq!(c["tls"]["client_hello"]["frame"], 8);
    assert_eq!(c["tls"]["server_hello"]["frame"], 10);
}

#[test]
fn tls_version_refused_inside_tls_auth_sha256() {
    let c = only_tls_connection(&fixture("openvpn-tcp-tls-auth-version-mismatch.pcap"));
    // The client offers TLS 1.3 only (supported_versions 0x0304); the server (max 1.2) closes
    // at once without an alert (FIN, frame 9).
    assert_eq!(verdict(&c).0, "closed_without_server_hello");
    assert_eq!(evidence_frames(&c), [8, 9]);
    assert_eq!(c["tls"]["client_hello"]["supported_versions"], serde_json::json!(["TLS1.3"]));
    let o = openvpn(&c);
    assert_eq!((o["control_auth"].as_str(), o["hmac_size"].as_u64()), (Some("tls_auth"), Some(32)));
}

#[test]
fn tls_crypt_hides_the_handshake_data_packets_prove_it_completed() {
    let conns = connections(&fixture("openvpn-tcp-tls-crypt.pcap"));
    assert_eq!(conns.len(), 1);
    let c = &conns[0];
    assert!(c["tls"].is_null(), "no TLS can be read behind tls-crypt");
    assert_eq!(verdict(c), ("ok", "none", "likely"));
    let o = openvpn(c);
    assert_eq!(o["control_auth"], "tls_crypt");
    // tshark: P_DATA_V2 (opcode 0x09) first from the server in frame 21, from the client in 22.
    assert_eq!(o["first_data"], serde_json::json!([22, 21]));
    assert_eq!(evidence_frames(c), [4, 21, 22]);
}

/// curl --haproxy-protocol: a PROXY v1 header (43 bytes, frame 4) before the ClientHello
/// (frame 6), which nginx with proxy_protocol expects (ServerHello 8).
#[test]
fn client_hello_found_behind_a_proxy_protocol_header() {
    let c = only_tls_connection(&fixture("prologue-proxy-v1-ok.pcap"));
    assert_eq!(verdict(&c), ("ok", "none", "certain"));
    assert_eq!(c["encapsulation"], "prologue");
    assert_eq!(c["tls"]["client_prologue"], serde_json::json!({"frame": 4, "bytes": 43}));
    assert_eq!(c["tls"]["client_hello"]["frame"], 6);
    assert_eq!(c["tls"]["server_hello"]["frame"], 8);
}

/// The same header to openssl s_server, which closes (FIN, frame 6) on the PROXY bytes
/// before the ClientHello (frame 7) arrives.
#[test]
fn server_closing_on_an_unexpected_prologue() {
    let c = only_tls_connection(&fixture("prologue-proxy-v1-unexpected.pcap"));
    assert_eq!(verdict(&c), ("client_not_tls", "client", "likely"));
    assert_eq!(evidence_frames(&c), [4, 6, 7]);
    assert_eq!(c["tls"]["client_hello"]["frame"], 7);
}

/// Connections of a corpus capture by client endpoint.
fn by_client(conns: &[Value], client: &str) -> Value {
    conns.iter().find(|c| c["client"] == client).cloned().unwrap_or_else(|| panic!("no connection from {client}"))
}

/// A real OpenVPN client in a public capture: tls-auth with a 32-byte HMAC on port 1194.
/// tshark -d tcp.port==1194,openvpn -o openvpn.tls_auth:TRUE -o openvpn.tls_auth_hmac_size:32:
/// hard resets 6585/6587, ClientHello 6591, ServerHello 6593 (0x1302), P_DATA_V2 from 6617.
#[test]
fn openvpn_with_tls_auth_sha256_in_a_public_capture() {
    let Some(path) = corpus_file("mercury--emix.pcap") else { return };
    let conns = connections(&path);
    let c = by_client(&conns, "1.20.121.102:38764");
    assert_eq!(verdict(&c), ("ok", "none", "certain"));
    let o = openvpn(&c);
    assert_eq!((o["control_auth"].as_str(), o["hmac_size"].as_u64()), (Some("tls_auth"), Some(32)));
    assert_eq!((o["client_reset"].as_u64(), o["server_reset"].as_u64()), (Some(6585), Some(6587)));
    assert_eq!(c["tls"]["client_hello"]["frame"], 6591);
    assert_eq!(c["tls"]["server_hello"]["frame"], 6593);
    assert_eq!(c["tls"]["server_hello"]["cipher_suite"], "TLS_AES_256_GCM_SHA384");
}

/// A NetBIOS session request starts with 0x81, which once passed for an SSLv2 record header
/// and hid the payload (tshark: NBSS type 0x81 in frame 2007): it is plain not-TLS.
#[test]
fn high_bit_first_byte_is_not_taken_for_sslv2() {
    let Some(path) = corpus_file("mercury--emix.pcap") else { return };
    let conns = connections(&path);
    let c = by_client(&conns, "192.168.122.145:63181");
    assert_eq!(verdict(&c), ("not_tls", "none", "certain"));
    assert_eq!(evidence_frames(&c), [2007]);
    assert!(c["tls"]["client_hello"].is_null());
}
