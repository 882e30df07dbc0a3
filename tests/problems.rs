//! Problems first: failing connections grouped by what one fix addresses, with counts,
//! clients, an example and a Wireshark filter that tshark accepts and that selects exactly the
//! group's packets (or, where it says so, a stated superset).

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;

fn document(path: &std::path::Path) -> Value {
    let run = tlsdiag(&["analyze", "--format", "json", "--all", path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

/// The frame numbers tshark selects with a display filter.
fn tshark_frames(path: &std::path::Path, filter: &str) -> BTreeSet<u64> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(path)
        .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
        .output()
        .expect("run tshark");
    assert!(out.status.success(), "tshark rejected {filter}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| l.parse().unwrap()).collect()
}

#[test]
fn the_sample_has_three_problems_ranked_and_grouped() {
    // samples/handshakes.pcap: two cipher mismatches with different client suites (two fixes)
    // and one refused connection, checked against make-sample.sh.
    let doc = document(&repo().join("samples/handshakes.pcap"));
    let problems = doc["problems"].as_array().unwrap();
    let codes: Vec<&str> = problems.iter().map(|p| p["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["cipher_mismatch", "cipher_mismatch", "connection_refused"]);
    let refused = &problems[2];
    assert_eq!(refused["server"], "127.0.0.1:4434");
    assert_eq!(refused["connections"], 1);
    assert_eq!(refused["example"]["first_frame"], 51);
    assert_eq!(refused["filter_covers"], "all");
    for p in &problems[..2] {
        assert!(p["cause"].as_str().unwrap().starts_with("fatal alert handshake_failure from the server"), "{p}");
    }
}

#[test]
fn filters_select_exactly_the_connections_they_name() {
    if !has_tshark() {
        return;
    }
    for name in ["tls-listener-overloaded.pcap", "tls-one-server-many-clients.pcap", "tls12-cipher-mismatch.pcap"] {
        let path = fixture(name);
        let doc = document(&path);
        let conns = doc["connections"].as_array().unwrap();
        // Each connection's filter selects its packets: from its first frame, as many up to its
        // last frame as it counted (the last ACK after both FINs comes after the record closed).
        for c in conns {
            let frames = tshark_frames(&path, c["wireshark_filter"].as_str().unwrap());
            let (first, last) = (c["first_frame"].as_u64().unwrap(), c["last_frame"].as_u64().unwrap());
            assert_eq!(frames.first(), Some(&first), "{name} {}", c["client"]);
            let within = frames.range(first..=last).count() as u64;
            assert_eq!(within, c["packets"].as_u64().unwrap(), "{name} {}", c["client"]);
        }
        // A group's filter selects the packets of its connections: exactly when it says "all".
        for p in doc["problems"].as_array().unwrap().iter().filter(|p| p["kind"] == "connections") {
            let selected = tshark_frames(&path, p["wireshark_filter"].as_str().unwrap());
            let members: Vec<&Value> = conns
                .iter()
                .filter(|c| c["verdict"]["code"] == p["code"] && c["server"] == p["server"])
                .filter(|c| selected.contains(&c["first_frame"].as_u64().unwrap()))
                .collect();
            assert_eq!(members.len() as u64, p["connections"].as_u64().unwrap(), "{name} {}", p["code"]);
            if p["filter_covers"] == "all" {
                // Every selected frame belongs to one of the group's connections.
                let mut own: BTreeSet<u64> = BTreeSet::new();
                for c in &members {
                    own.extend(tshark_frames(&path, c["wireshark_filter"].as_str().unwrap()));
                }
                assert_eq!(selected, own, "{name} {}", p["code"]);
            }
        }
    }
}

#[test]
fn one_server_many_clients_names_the_clients_and_the_fix() {
    let doc = document(&fixture("tls-listener-overloaded.pcap"));
    let problems = doc["problems"].as_array().unwrap();
    // The finding (8 unserved connections) leads, then the 6 unanswered SYNs, then the 2
    // ClientHellos the listener queued and never answered.
    let summary: Vec<(String, u64)> = problems
        .iter()
        .map(|p| (p["code"].as_str().unwrap().to_string(), p["connections"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [("listener_overloaded".to_string(), 8), ("syn_timeout".to_string(), 6), ("no_server_hello".to_string(), 2)]
    );
    assert_eq!(problems[0]["kind"], "finding");
    assert_eq!(problems[1]["clients"], 1);
    assert_eq!(problems[1]["client_examples"], serde_json::json!(["127.0.0.1"]));
    assert!(!problems[1]["fix"].as_str().unwrap().is_empty());
}
