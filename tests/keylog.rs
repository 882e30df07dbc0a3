//! TLS 1.3 made visible: the same real captures read with and without their key logs (written
//! by OpenSSL, GnuTLS and Python's ssl as SSLKEYLOGFILE), and with the key log inside a pcapng
//! file. Frame numbers are those tshark shows with `-o tls.keylog_file:` (tests/fixtures/README.md);
//! tshark_agreement.rs compares the decrypted fields with tshark's.

mod common;

use common::*;
use serde_json::Value;

/// The one TLS connection of a fixture, analysed with the given extra arguments.
fn analysed(name: &str, extra: &[&str]) -> (Value, Run) {
    let path = fixture(name);
    let mut args = vec!["analyze", "--format", "ndjson", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let run = tlsdiag(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let conns: Vec<Value> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(conns.len(), 1, "{}", run.stdout);
    (conns.into_iter().next().unwrap(), run)
}

/// A copy of a fixture's key log with every secret passed through `damage` (the client
/// randoms stay right), in a temporary directory that lives as long as the first value.
fn damaged_keylog(stem: &str, damage: impl Fn(&str) -> String) -> (tempfile::TempDir, std::path::PathBuf) {
    let text = std::fs::read_to_string(fixture(&format!("{stem}.keylog"))).unwrap();
    let damaged: String = text
        .lines()
        .map(|l| {
            let (head, secret) = l.rsplit_once(' ').unwrap();
            format!("{head} {}\n", damage(secret))
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let keylog = dir.path().join("damaged.keylog");
    std::fs::write(&keylog, damaged).unwrap();
    (dir, keylog)
}

fn with_keylog(stem: &str) -> Value {
    let keylog = fixture(&format!("{stem}.keylog"));
    analysed(&format!("{stem}.pcap"), &["--keylog", keylog.to_str().unwrap()]).0
}

#[test]
fn encrypted_certificate_rejection_is_inferred_without_the_key_log() {
    // GnuTLS rejects the certificate after switching to its handshake keys: its alert (frame 9)
    // is one encrypted 19-byte record.
    let (c, _) = analysed("tls13-gnutls-cert-unknown-ca.pcap", &[]);
    // At fault: the server whose certificate was refused, as with the key log below.
    assert_eq!(verdict(&c), ("aborted_after_server_hello", "server", "likely"));
    assert_eq!(evidence_frames(&c), [9]);
    assert!(c["verdict"]["hint"].as_str().unwrap().contains("SSLKEYLOGFILE"));
    assert!(!flag(&c["tls"]["decrypted"]));
    assert!(c["tls"]["server_certificates"].is_null(), "the certificate is encrypted");
}

#[test]
fn encrypted_certificate_rejection_is_read_with_the_key_log() {
    let c = with_keylog("tls13-gnutls-cert-unknown-ca");
    assert_eq!(verdict(&c), ("certificate_rejected", "server", "certain"));
    let alert = &c["tls"]["alerts"][0];
    assert_eq!((alert["frame"].as_u64(), alert["description"].as_str()), (Some(9), Some("bad_certificate")));
    assert_eq!((alert["encrypted"].as_bool(), alert["decrypted"].as_bool()), (Some(true), Some(true)));
    let chain = &c["tls"]["server_certificates"];
    assert_eq!(chain["frame"], 6);
    assert_eq!(chain["certificates"][0]["issuer"], "CN=untrusted test CA");
    assert!(flag(&c["tls"]["decrypted"]));
    let messages: Vec<&str> =
        list(&c["tls"]["server"]["messages"]).iter().map(|m| m["message"].as_str().unwrap()).collect();
    assert_eq!(messages, ["ServerHello", "EncryptedExtensions", "Certificate", "CertificateVerify", "Finished"]);
}

#[test]
fn pcapng_secrets_block_is_used_without_the_option() {
    // The OpenSSL capture with its key log injected by `editcap --inject-secrets`: the
    // certificate, inside the encrypted flight, is read from frame 6.
    let run = tlsdiag(&["analyze", "--format", "json", fixture("tls13-cert-unknown-ca-dsb.pcapng").to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    // OpenSSL's client failed before it logged its own handshake secret: only the server's.
    assert_eq!(doc["files"][0]["secrets_in_capture"], 1);
    assert_eq!(doc["totals"]["decrypted"], 1);
    let c = &doc["connections"][0];
    assert_eq!(c["tls"]["server_certificates"]["frame"], 6);
    assert_eq!(verdict(c).0, "certificate_rejected");
    // The same capture without secrets: OpenSSL's alert is in the clear, the certificate is not.
    let (plain, _) = analysed("tls13-cert-unknown-ca.pcap", &[]);
    assert!(plain["tls"]["server_certificates"].is_null());
}

#[test]
fn rejected_client_certificate_is_inferred_then_read() {
    // The server asks for a certificate in its encrypted flight, refuses the client's (from a
    // CA it does not trust) with one 19-byte record in frame 11 instead of a session ticket,
    // and closes (frame 12).
    let (c, _) = analysed("tls13-client-cert-rejected.pcap", &[]);
    assert_eq!(verdict(&c), ("aborted_after_server_hello", "client", "likely"));
    assert_eq!(evidence_frames(&c), [8, 11, 12]);
    assert!(c["verdict"]["explanation"].as_str().unwrap().contains("client certificate"));
    let c = with_keylog("tls13-client-cert-rejected");
    assert_eq!(verdict(&c), ("client_certificate_required", "client", "certain"));
    assert_eq!(c["tls"]["certificate_request"], 6);
    assert_eq!(c["tls"]["client_certificates"]["frame"], 8);
    let alert = &c["tls"]["alerts"][0];
    assert_eq!((alert["frame"].as_u64(), alert["sender"].as_str()), (Some(11), Some("server")));
    assert_eq!(alert["description"], "unknown_ca");
}

#[test]
fn tls12_finished_messages_are_decrypted() {
    let c = with_keylog("tls12-keylog-ok");
    assert_eq!(verdict(&c).0, "ok");
    assert!(flag(&c["tls"]["decrypted"]));
    assert_eq!(c["tls"]["client"]["finished"], 8);
    assert_eq!(c["tls"]["server"]["finished"], 9);
    let last = list(&c["tls"]["server"]["messages"]).last().unwrap().clone();
    assert_eq!((last["message"].as_str(), last["frame"].as_u64()), (Some("Finished"), Some(9)));
}

#[test]
fn tls12_cbc_records_are_decrypted_with_either_mac_order() {
    // AES-256-CBC with HMAC-SHA384 and encrypt-then-MAC; AES-128-CBC with HMAC-SHA1 and
    // MAC-then-encrypt (-no_etm). Both Finished messages (frames 8 and 9) open only when the
    // MAC verifies.
    for (stem, suite, etm) in [
        ("tls12-cbc-keylog", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", true),
        ("tls12-cbc-no-etm-keylog", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", false),
    ] {
        let c = with_keylog(stem);
        assert_eq!(verdict(&c).0, "ok", "{stem}");
        assert_eq!(c["tls"]["server_hello"]["cipher_suite"], suite);
        let extensions = list(&c["tls"]["server_hello"]["extensions"]);
        assert_eq!(extensions.iter().any(|e| e == "encrypt_then_mac"), etm, "{stem}");
        assert!(flag(&c["tls"]["decrypted"]), "{stem}");
        assert!(list(&c["tls"]["errors"]).is_empty(), "{stem}: {}", c["tls"]["errors"]);
        let messages = |side: &str| -> Vec<(String, u64)> {
            c["tls"][side]["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| (m["message"].as_str().unwrap().to_string(), m["frame"].as_u64().unwrap()))
                .collect()
        };
        assert!(messages("client").contains(&("Finished".into(), 8)), "{stem}: {:?}", messages("client"));
        assert!(messages("server").contains(&("Finished".into(), 9)), "{stem}: {:?}", messages("server"));
        // Without the key log the Finished messages stay opaque.
        let (plain, _) = analysed(&format!("{stem}.pcap"), &[]);
        assert!(!list(&plain["tls"]["client"]["messages"]).iter().any(|m| m["message"] == "Finished"));
    }
}

#[test]
fn a_cbc_record_whose_mac_fails_is_not_taken_for_plaintext() {
    // One byte of the master secret changed: the CBC blocks still decrypt to something, but
    // the MAC does not verify, so nothing is read from them.
    let (_dir, keylog) = damaged_keylog("tls12-cbc-no-etm-keylog", |secret| {
        let flipped = if secret.starts_with('0') { "1" } else { "0" };
        format!("{flipped}{}", &secret[1..])
    });
    let (c, _) = analysed("tls12-cbc-no-etm-keylog.pcap", &["--keylog", keylog.to_str().unwrap()]);
    assert!(!flag(&c["tls"]["decrypted"]));
    let errors = list(&c["tls"]["errors"]);
    assert!(
        errors.iter().any(|e| e.as_str().unwrap().contains("do not decrypt the Client's record in frame 8")),
        "{errors:?}"
    );
}

#[test]
fn chacha20_poly1305_from_python_ssl() {
    let c = with_keylog("tls13-chacha-python");
    assert_eq!(verdict(&c).0, "ok");
    assert_eq!(c["tls"]["server_hello"]["cipher_suite"], "TLS_CHACHA20_POLY1305_SHA256");
    assert_eq!(c["tls"]["server_certificates"]["certificates"][0]["subject"], "CN=www.example.test");
    assert_eq!(c["tls"]["client"]["finished"], 8);
    assert_eq!(c["tls"]["new_session_ticket"], 10);
}

#[test]
fn a_key_log_that_matches_nothing_is_reported() {
    let other = fixture("tls12-keylog-ok.keylog");
    let (c, run) = analysed("tls13-chacha-python.pcap", &["--keylog", other.to_str().unwrap()]);
    assert!(!flag(&c["tls"]["decrypted"]));
    assert!(run.stderr.contains("matches no connection"), "{}", run.stderr);
}

#[test]
fn a_file_that_is_not_a_key_log_is_an_error() {
    let readme = fixture("README.md");
    let run = tlsdiag(&["analyze", fixture("tls12-ok.pcap").to_str().unwrap(), "--keylog", readme.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("holds no key log lines"), "{}", run.stderr);
}

#[test]
fn wrong_secrets_are_an_error_on_the_connection_not_a_wrong_verdict() {
    // The right client random with damaged secrets: nothing opens, and the verdict is the one
    // the record sizes give.
    let (_dir, keylog) = damaged_keylog("tls13-gnutls-cert-unknown-ca", |secret| secret.chars().rev().collect());
    let (c, _) = analysed("tls13-gnutls-cert-unknown-ca.pcap", &["--keylog", keylog.to_str().unwrap()]);
    assert_eq!(verdict(&c).0, "aborted_after_server_hello");
    assert!(!flag(&c["tls"]["decrypted"]));
    let errors = list(&c["tls"]["errors"]);
    assert!(
        errors.iter().any(|e| e.as_str().unwrap().contains("do not decrypt the Server's record in frame 6")),
        "{errors:?}"
    );
}
