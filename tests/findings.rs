//! What several connections show together: server-level findings (listener_overloaded,
//! intermittent_handshake_failure, resumption_fallback_certificate_request) and resumption
//! links (which connection a resumed one resumed from; FTPS data connections). Every capture is
//! made by make-fixtures.sh with real peers; the frames and counts are those tshark shows
//! (tests/fixtures/README.md).

mod common;

use common::*;
use serde_json::Value;

/// The JSON document of one analysis.
fn document(name: &str, extra: &[&str]) -> Value {
    let path = fixture(name);
    let mut args = vec!["analyze", "--format", "json", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let run = tlsdiag(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).expect("one JSON document")
}

/// The findings of one server.
fn findings<'a>(doc: &'a Value, server: &str) -> Vec<&'a Value> {
    let servers = doc["servers"].as_array().unwrap();
    let profile = servers.iter().find(|s| s["server"] == server).unwrap_or_else(|| panic!("no profile of {server}"));
    profile["findings"].as_array().unwrap().iter().collect()
}

fn all_findings(doc: &Value) -> Vec<(String, String)> {
    let servers = doc["servers"].as_array().unwrap();
    servers
        .iter()
        .flat_map(|s| {
            s["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |f| (s["server"].as_str().unwrap().to_string(), f["code"].as_str().unwrap().to_string()))
        })
        .collect()
}

fn evidence(finding: &Value) -> Vec<(String, u64, String)> {
    finding["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["client"].as_str().unwrap().to_string(),
                e["first_frame"].as_u64().unwrap(),
                e["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn connection<'a>(doc: &'a Value, client: &str) -> &'a Value {
    doc["connections"].as_array().unwrap().iter().find(|c| c["client"] == client).expect("connection")
}

#[test]
fn a_listener_that_never_accepts_beside_a_working_server_is_overloaded() {
    // Eight clients of the backlog-1 listener on 4434: SYNs 15 and 20 were queued by the kernel
    // and their ClientHellos (18, 23) never answered; SYNs 25-30 were dropped (retransmitted
    // until 63). Meanwhile two handshakes with s_server on 4433 succeeded.
    let doc = document("tls-listener-overloaded.pcap", &[]);
    assert_eq!(all_findings(&doc), [("127.0.0.1:4434".to_string(), "listener_overloaded".to_string())]);
    let f = findings(&doc, "127.0.0.1:4434")[0];
    assert_eq!(f["confidence"], "likely");
    assert_eq!((f["connections"].as_u64(), f["failed"].as_u64()), (Some(8), Some(8)));
    let frames: Vec<u64> = evidence(f).iter().map(|e| e.1).collect();
    assert_eq!(frames, [15, 20, 25, 26, 27, 28, 29, 30]);
    let kinds: Vec<String> = evidence(f).into_iter().map(|e| e.2).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "syn_timeout").count(), 6);
    let why = f["explanation"].as_str().unwrap();
    assert!(why.contains("2 of them were accepted by TCP"), "{why}");
    assert!(why.contains("2 handshake(s) with 127.0.0.1 succeeded (port 4433)"), "{why}");
    assert_eq!(f["start"], connection(&doc, "127.0.0.1:56076")["start"]);
    assert_eq!(f["end"], connection(&doc, "127.0.0.1:56134")["start"]);
}

#[test]
fn one_dhe_failure_in_forty_names_the_leading_zero_fault() {
    // Forty TLS_DHE_RSA_WITH_AES_128_GCM_SHA256 handshakes without EMS; the relay damaged the
    // 30th client Finished (ClientKeyExchange 395) and the server answered bad_record_mac (396).
    let doc = document("tls12-dhe-intermittent.pcap", &[]);
    assert_eq!(all_findings(&doc), [("127.0.0.1:4433".to_string(), "intermittent_handshake_failure".to_string())]);
    let f = findings(&doc, "127.0.0.1:4433")[0];
    assert_eq!(f["confidence"], "likely");
    assert_eq!((f["connections"].as_u64(), f["failed"].as_u64()), (Some(40), Some(1)));
    let ev = evidence(f);
    assert_eq!(ev.len(), 1);
    let failed = connection(&doc, &ev[0].0);
    assert_eq!(failed["tls"]["client_key_exchange"], 395);
    assert_eq!(failed["tls"]["alerts"][0]["frame"], 396);
    let why = f["explanation"].as_str().unwrap();
    assert!(why.contains("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"), "{why}");
    assert!(why.contains("DHE leading-zero fault"), "{why}");
    assert!(why.contains("Extended Master Secret was not negotiated"), "{why}");
}

#[test]
fn a_refused_resumption_that_meets_a_certificate_request_is_named_and_linked() {
    // The first connection's session ticket (NewSessionTicket 9) is offered again in
    // ClientHello 18; the new server does not know it, runs a full handshake with a
    // CertificateRequest (20) and refuses the client's empty certificate (alert 23).
    let doc = document("tls12-resumption-refused-client-cert.pcap", &[]);
    let conns = doc["connections"].as_array().unwrap();
    let (first, second) = (&conns[0], &conns[1]);
    assert_eq!(first["tls"]["new_session_ticket"], 9);
    assert_eq!(second["tls"]["resumption"]["offered"], "ticket");
    assert_eq!(second["tls"]["resumption"]["from"]["client"], first["client"]);
    assert_eq!(second["tls"]["resumption"]["from"]["frame"], 9);
    assert!(!flag(&second["tls"]["resumed"]));
    assert_eq!(second["tls"]["certificate_request"], 20);
    assert_eq!(
        all_findings(&doc),
        [("127.0.0.1:4433".to_string(), "resumption_fallback_certificate_request".to_string())]
    );
    let f = findings(&doc, "127.0.0.1:4433")[0];
    assert_eq!(
        evidence(f),
        [(second["client"].as_str().unwrap().to_string(), 15, "client_certificate_required".into())]
    );
    let why = f["explanation"].as_str().unwrap();
    assert!(why.contains("0 of 1 resumption attempts"), "{why}");
    assert!(why.contains("in frame 9"), "{why}");
}

#[test]
fn an_accepted_resumption_names_the_connection_it_resumed() {
    // tls12-resumed.pcap: the second connection resumes the ticket of the first.
    let conns = connections(&fixture("tls12-resumed.pcap"));
    assert_eq!(conns[1]["verdict"]["code"], "ok_resumed");
    assert_eq!(conns[1]["tls"]["resumption"]["offered"], "ticket");
    assert_eq!(conns[1]["tls"]["resumption"]["from"]["client"], conns[0]["client"]);
    assert!(conns[0]["tls"]["resumption"].is_null(), "a first connection offers nothing");
}

#[test]
fn an_ftps_data_connection_without_the_control_session_is_named() {
    // vsftpd with require_ssl_reuse: Python's ftplib opens its data connection (to 40002) with
    // a new session and gets 522 on the control connection; curl's data connection (to
    // 40010) resumes its control connection's session with a PSK.
    let keylog = fixture("ftps-data-not-resumed.keylog");
    let doc = document("ftps-data-not-resumed.pcap", &["--keylog", keylog.to_str().unwrap()]);
    let conns = doc["connections"].as_array().unwrap();
    let by_server = |port: &str| conns.iter().find(|c| c["server"].as_str().unwrap().ends_with(port)).unwrap();
    let ftplib_data = by_server(":40002");
    assert_eq!(verdict(ftplib_data), ("ftps_data_not_resumed", "client", "possible"));
    assert!(ftplib_data["tls"]["resumption"].is_null(), "ftplib offers no session");
    let controls: Vec<&Value> = conns.iter().filter(|c| c["server"] == "127.0.0.1:21").collect();
    assert_eq!(controls.len(), 2);
    assert_eq!(ftplib_data["tls"]["ftps_control"]["client"], controls[0]["client"]);

    let curl_data = by_server(":40010");
    assert_eq!(curl_data["verdict"]["code"], "ok_resumed");
    assert_eq!(curl_data["tls"]["ftps_control"]["client"], controls[1]["client"]);
    // The PSK it offers is the ticket of the control connection's second NewSessionTicket,
    // which only the key log opens (tshark: frame 66).
    assert_eq!(curl_data["tls"]["resumption"]["offered"], "psk");
    assert_eq!(curl_data["tls"]["resumption"]["from"]["client"], controls[1]["client"]);
    assert_eq!(curl_data["tls"]["client_hello"]["psk_identity_id"], controls[1]["tls"]["tickets_issued"][1]);
}

#[test]
fn without_the_key_log_the_ftps_link_still_stands() {
    let doc = document("ftps-data-not-resumed.pcap", &[]);
    let conns = doc["connections"].as_array().unwrap();
    let curl_data = conns.iter().find(|c| c["server"] == "127.0.0.1:40010").unwrap();
    assert_eq!(curl_data["verdict"]["code"], "ok_resumed");
    assert_eq!(curl_data["tls"]["resumption"]["offered"], "psk");
    assert!(curl_data["tls"]["resumption"]["from"].is_null(), "the TLS 1.3 tickets are encrypted");
    assert_eq!(curl_data["tls"]["ftps_control"]["server"], "127.0.0.1:21");
}

#[test]
fn captures_of_single_failures_draw_no_findings() {
    for name in ["tls-one-server-many-clients.pcap", "tls12-dhe-corrupted-finished.pcap", "tcp-syn-timeout.pcap"] {
        let run = tlsdiag(&["analyze", "--format", "json", fixture(name).to_str().unwrap()]);
        let doc: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(all_findings(&doc), [] as [(String, String); 0], "{name}");
    }
}

#[test]
fn findings_lead_the_table_as_problems() {
    let run = tlsdiag(&["analyze", fixture("tls-listener-overloaded.pcap").to_str().unwrap()]);
    // The finding covers 8 unserved connections, the largest problem of the capture.
    assert!(
        run.stdout.starts_with("3 problem(s):\n\n1. listener_overloaded at 127.0.0.1:4434: 8 connection(s)"),
        "{}",
        run.stdout
    );
}
