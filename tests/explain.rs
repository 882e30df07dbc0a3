//! `tlsdiag explain`: every kind of symptom a user arrives with, and the README's tables in
//! step with the index.

mod common;

use common::*;

fn explain(symptom: &str) -> Run {
    tlsdiag(&["explain", "--", symptom])
}

#[test]
fn verdict_codes() {
    let run = explain("cipher_mismatch");
    assert_eq!(run.code, 0);
    assert!(run.stdout.starts_with("verdict cipher_mismatch"));
    assert!(run.stdout.contains("Get-TlsCipherSuite"), "a Windows check: {}", run.stdout);
    assert!(run.stdout.contains("openssl ciphers"), "an OpenSSL check: {}", run.stdout);
}

#[test]
fn alerts_by_name_number_and_schannel_wording() {
    for symptom in ["unknown_ca", "48", "fatal alert 48"] {
        let run = explain(symptom);
        assert_eq!(run.code, 0, "{symptom}");
        assert!(run.stdout.starts_with("TLS alert 48 unknown_ca"), "{symptom}: {}", run.stdout);
        assert!(run.stdout.contains("certificate_rejected:"), "{symptom}");
    }
    assert!(explain("fatal alert 20").stdout.contains("failed_after_key_exchange:"));
    assert!(explain("protocol_version").stdout.contains("protocol_mismatch:"));
}

#[test]
fn windows_error_codes_in_every_spelling() {
    for symptom in ["0x80090331", "0X80090331", "2148074289", "-2146893007"] {
        let run = explain(symptom);
        assert_eq!(run.code, 0, "{symptom}");
        assert!(run.stdout.contains("SEC_E_ALGORITHM_MISMATCH"), "{symptom}: {}", run.stdout);
        assert!(run.stdout.contains("cipher_mismatch:"), "{symptom}");
    }
    let reset = explain("10054");
    assert!(reset.stdout.contains("WSAECONNRESET") && reset.stdout.contains("rst_without_server_hello:"));
    assert!(explain("0x800B0109").stdout.contains("aborted_after_server_hello:"));
    assert!(explain("0x80092013").stdout.contains("CRYPT_E_REVOCATION_OFFLINE"));
}

#[test]
fn schannel_event_ids() {
    let run = explain("36874");
    assert_eq!(run.code, 0);
    assert!(run.stdout.starts_with("Schannel event 36874"));
    assert!(run.stdout.contains("cipher_mismatch:"));
}

#[test]
fn unknown_symptoms_are_an_error() {
    let run = explain("printer on fire");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("nothing known about"));
}

#[test]
fn every_verdict_the_classifier_gives_is_explained() {
    // The codes written in the classifier's sources, found by the ways they are set.
    let mut codes = std::collections::BTreeSet::new();
    for file in ["src/classify.rs", "src/profile.rs", "src/revocation.rs"] {
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        for marker in ["Verdict::new(\"", "code = \"", "base(\n                \""] {
            for piece in text.split(marker).skip(1) {
                codes.insert(piece.split('"').next().unwrap().to_string());
            }
        }
    }
    assert!(codes.len() >= 20, "{codes:?}");
    for code in &codes {
        let run = explain(code);
        assert!(run.stdout.starts_with(&format!("verdict {code}")), "{code} has no entry");
    }
}

#[test]
fn every_server_finding_is_explained() {
    let text = std::fs::read_to_string(repo().join("src/findings.rs")).unwrap();
    let codes: Vec<&str> = text.split("code: \"").skip(1).map(|piece| piece.split('"').next().unwrap()).collect();
    assert_eq!(codes.len(), 3, "{codes:?}");
    for code in codes {
        let run = explain(code);
        assert!(run.stdout.starts_with(&format!("server finding {code}")), "{code} has no entry");
    }
    // The symptom a SQL Server client reports for both.
    let reset = explain("10054").stdout;
    assert!(reset.contains("intermittent_handshake_failure") && reset.contains("listener_overloaded"), "{reset}");
}

#[test]
fn readme_tables_are_the_index() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let markdown = tlsdiag(&["explain", "--markdown"]).stdout;
    for table in markdown.split("\n\n") {
        assert!(readme.contains(table.trim()), "README.md lacks the table:\n{table}");
    }
}
