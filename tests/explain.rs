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
    for symptom in ["36874", "event 36874", "Event ID 36874", "Schannel 36874", "schannel event 36874"] {
        let run = explain(symptom);
        assert_eq!(run.code, 0, "{symptom}");
        assert!(run.stdout.starts_with("Schannel event 36874"), "{symptom}: {}", run.stdout);
        // The event names the TLS version asked for: a disabled version logs it too.
        assert!(
            run.stdout.contains("1. cipher_mismatch:") && run.stdout.contains("2. protocol_mismatch:"),
            "{}",
            run.stdout
        );
    }
    // "event N" is an event, never an alert or a Windows code of the same number.
    assert_eq!(explain("event 48").code, 2);
}

/// The verdict codes `explain` lists, in its order.
fn listed(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.trim_start().split_once(". ").filter(|(n, _)| n.parse::<u32>().is_ok()))
        .map(|(_, rest)| rest.split(':').next().unwrap().to_string())
        .collect()
}

#[test]
fn windows_names_and_negative_codes_straight_from_the_command_line() {
    // No `--`: a negative HRESULT as .NET prints it is a symptom, not an option.
    for args in [
        &["explain", "-2146893007"][..],
        &["explain", "SEC_E_ALGORITHM_MISMATCH"],
        &["explain", "sec_e_algorithm_mismatch"],
    ] {
        let run = tlsdiag(args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        assert!(
            run.stdout.starts_with("Windows error 0x80090331 (2148074289): SEC_E_ALGORITHM_MISMATCH"),
            "{args:?}: {}",
            run.stdout
        );
    }
    let by_name = explain("WSAECONNRESET");
    assert_eq!(by_name.stdout, explain("10054").stdout);
    assert!(explain("CERT_E_UNTRUSTEDROOT").stdout.starts_with("Windows error 0x800B0109"));
    // Unquoted words are one symptom.
    let words = tlsdiag(&["explain", "event", "36874"]);
    assert!(words.stdout.starts_with("Schannel event 36874"), "{}", words.stdout);
}

#[test]
fn verdicts_are_ranked_most_likely_first() {
    // A reset during a SQL Server login most often means no TLS version or suite in common
    // (the server side disabled what the client offers); an overloaded listener is the rarer cause.
    let reset = listed(&explain("10054").stdout);
    assert_eq!(
        reset,
        [
            "protocol_mismatch",
            "cipher_mismatch",
            "rst_without_server_hello",
            "tds_encryption_mismatch",
            "intermittent_handshake_failure",
            "reset_before_client_hello",
            "listener_overloaded"
        ]
    );
    assert_eq!(listed(&explain("0x80090331").stdout), ["cipher_mismatch", "protocol_mismatch"]);
    assert!(explain("10054").stdout.contains("most likely first"));
}

#[test]
fn unknown_symptoms_are_an_error() {
    let run = explain("printer on fire");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("nothing known about"));
}

#[test]
fn every_verdict_code_is_explained() {
    // The enum is the list of codes the classifier can give; `explain` is reached from it.
    for code in tlsdiag::verdict::Code::ALL {
        let run = explain(code.as_str());
        assert!(run.stdout.starts_with(&format!("verdict {code}\n")), "{code} has no entry: {}", run.stdout);
        assert!(run.stdout.contains("look for:"), "{code}");
    }
}

#[test]
fn every_server_finding_is_explained() {
    for code in tlsdiag::verdict::FindingCode::ALL {
        let run = explain(code.as_str());
        assert!(run.stdout.starts_with(&format!("server finding {code}\n")), "{code} has no entry");
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
