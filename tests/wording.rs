//! The words of a verdict: risks named for what they are and documented, a fix that never
//! contradicts its explanation, certificate fixes that name the names, dates and usages
//! involved, the same side at fault for a refused certificate in TLS 1.2 and 1.3, TLS 1.3
//! hints by client platform, SQL Server builds named as releases.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;

/// Every connection of the sample, the fixtures and the public corpus, as NDJSON records.
fn every_connection() -> Vec<Value> {
    let mut out = Vec::new();
    // The public captures when ../shared is beside the clone (CI has it), the project's own always.
    let corpus = repo().join("../shared/corpus").is_dir();
    for dir in ["samples", "tests/fixtures", "../shared/corpus"].into_iter().filter(|d| corpus || !d.contains("shared"))
    {
        let run = tlsdiag(&["analyze", "--format", "ndjson", repo().join(dir).to_str().unwrap()]);
        out.extend(run.stdout.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()));
    }
    assert!(out.len() > if corpus { 1000 } else { 150 }, "{} connections", out.len());
    out
}

/// The sides a text says ended or refused the connection: "the server closed", "the client
/// reset", "a close from the server", "RST from the client".
fn enders(text: &str) -> BTreeSet<&'static str> {
    let words: Vec<String> =
        text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(String::from).collect();
    let role = |w: &str| match w {
        "client" => Some("client"),
        "server" => Some("server"),
        _ => None,
    };
    let mut out = BTreeSet::new();
    for (i, w) in words.iter().enumerate() {
        // "the server (or a device in front of it) closed": the nearest side before the verb.
        if matches!(w.as_str(), "closed" | "reset" | "ended" | "refused" | "dropped") {
            if let Some(who) = words[i.saturating_sub(8)..i].iter().rev().find_map(|w| role(w)) {
                out.insert(who);
            }
        }
        // "a close from the server", "RST from the client".
        if matches!(w.as_str(), "close" | "reset" | "rst" | "fin")
            && words.get(i + 1).is_some_and(|w| w == "from")
            && words.get(i + 2).is_some_and(|w| w == "the")
        {
            if let Some(who) = words.get(i + 3).and_then(|w| role(w)) {
                out.insert(who);
            }
        }
    }
    out
}

#[test]
fn the_side_finder_reads_both_phrasings() {
    assert_eq!(enders("answered by a close from the client, no ServerHello"), BTreeSet::from(["client"]));
    assert_eq!(enders("The server (or a device in front of it) closed the connection"), BTreeSet::from(["server"]));
    assert!(enders("Enable a cipher suite both sides share").is_empty());
}

#[test]
fn no_fix_contradicts_its_explanation() {
    let mut checked = 0;
    let mut contradictions = Vec::new();
    for c in every_connection() {
        let v = &c["verdict"];
        let (why, fix) = (v["explanation"].as_str().unwrap(), text(&v["hint"]));
        let (said, fixed) = (enders(why), enders(fix));
        if said.is_empty() || fixed.is_empty() {
            continue;
        }
        checked += 1;
        if !fixed.is_subset(&said) {
            contradictions.push(format!(
                "{} {}: why says {said:?} ended it: {why}\n  fix says {fixed:?}: {fix}",
                c["file"], v["code"]
            ));
        }
    }
    // Resets and closes without a ServerHello by either side are among them (fewer since a
    // client that left a silent server is no longer said to have refused it).
    assert!(checked >= 5, "only {checked} verdicts name a side in both");
    assert!(contradictions.is_empty(), "{}", contradictions.join("\n"));
}

#[test]
fn every_risk_code_is_named_for_its_cause_and_documented() {
    use tlsdiag::verdict::RiskCode;
    let codes: BTreeSet<&str> = RiskCode::ALL.iter().map(|c| c.as_str()).collect();
    for expected in
        ["certificate_name_mismatch", "certificate_expired", "certificate_not_yet_valid", "weak_signature", "short_key"]
    {
        assert!(codes.contains(expected), "{expected} not in {codes:?}");
    }
    assert!(!codes.contains("weak_certificate"), "a catch-all certificate risk is back");
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let risks = readme.split("Risks, in `verdict.risks`").nth(1).expect("README's risk list");
    let risks = &risks[..risks.find("\n\n").unwrap()];
    for code in &codes {
        assert!(risks.contains(&format!("`{code}` (")), "README's risk list does not explain `{code}`");
    }
    // And every risk the captures give is one of them.
    for c in every_connection() {
        for r in list(&c["verdict"]["risks"]) {
            assert!(codes.contains(r["code"].as_str().unwrap()), "{r}");
        }
    }
}

#[test]
fn an_ssl2_server_is_a_deprecated_protocol_not_a_null_suite() {
    if !has_corpus() {
        return;
    }
    // tshark: frame 6 of each is an SSLv2 SERVER-HELLO, whose cipher kinds are no TLS suite.
    for name in ["flowtest--ssl-v2.pcap", "zeek--tls--ssl-v2.pcap"] {
        let conns = connections(&corpus(name));
        let risks: Vec<(String, String)> = list(&conns[0]["verdict"]["risks"])
            .iter()
            .map(|r| (text(&r["code"]).to_string(), text(&r["explanation"]).to_string()))
            .collect();
        assert_eq!(risks, [("deprecated_protocol".to_string(), "SSL2.0 was negotiated".to_string())], "{name}");
    }
}

#[test]
fn server_bytes_after_a_hole_at_the_start_are_not_called_not_tls() {
    if !has_corpus() {
        return;
    }
    // tshark: the capture begins mid-connection (no SYN-ACK); frame 6972 is the ClientHello,
    // 6973 the server's first bytes in the capture ("Continuation Data", the tail of its
    // flight), 6974 the client's Client Key Exchange: the client read a ServerHello the
    // capture lacks, so the server spoke TLS.
    let conns = connections(&corpus("pcapplusplus--tls2.pcap"));
    let c = conns.iter().find(|c| c["first_frame"] == 6972).expect("the connection of frame 6972");
    assert_eq!(verdict(c), ("incomplete_capture", "unknown", "likely"));
    let frames = evidence_frames(c);
    assert_eq!(frames, [6972, 6973, 6974]);
}

fn hint_of(c: &Value) -> &str {
    c["verdict"]["hint"].as_str().unwrap()
}

#[test]
fn each_certificate_cause_gets_its_own_fix_with_names_dates_and_usages() {
    // The scenarios of tests/fixtures/README.md: a certificate for other.example.test while
    // the client checks www.example.test; one valid 2020-01-01 to 2021-01-01; one with the
    // clientAuth EKU only; one signed with md5WithRSAEncryption.
    let name = only_tls_connection(&fixture("tls12-cert-wrong-name.pcap"));
    assert!(
        hint_of(&name)
            .contains("Add www.example.test to the certificate's subjectAltName (it names other.example.test)"),
        "{}",
        hint_of(&name)
    );
    assert_eq!(risk_codes(&name), ["certificate_name_mismatch"]);
    let expired = only_tls_connection(&fixture("tls12-cert-expired.pcap"));
    assert!(hint_of(&expired).contains("Renew the certificate (it expired on 2021-01-01"), "{}", hint_of(&expired));
    assert_eq!(risk_codes(&expired), ["certificate_expired"]);
    let eku = only_tls_connection(&fixture("tls12-cert-client-auth-eku.pcap"));
    assert!(
        hint_of(&eku).contains("Server Authentication EKU") && hint_of(&eku).contains("allows only clientAuth"),
        "{}",
        hint_of(&eku)
    );
    let md5 = only_tls_connection(&fixture("tls12-cert-md5.pcap"));
    assert!(hint_of(&md5).contains("SHA-256") && hint_of(&md5).contains("md5WithRSAEncryption"), "{}", hint_of(&md5));
    assert_eq!(risk_codes(&md5), ["weak_signature"]);
    // No cause in the certificate itself: the alert's own fix (a CA the client trusts).
    let unknown = only_tls_connection(&fixture("tls12-cert-unknown-ca.pcap"));
    assert!(hint_of(&unknown).contains("Trusted Root"), "{}", hint_of(&unknown));
    // Four different fixes, not one for all.
    let fixes: BTreeSet<&str> = [&name, &expired, &eku, &md5].iter().map(|c| hint_of(c)).collect();
    assert_eq!(fixes.len(), 4);
}

fn risk_codes(c: &Value) -> Vec<String> {
    list(&c["verdict"]["risks"]).iter().map(|r| r["code"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_refused_server_certificate_is_the_servers_side_in_every_version() {
    // The client refuses the server's certificate in all of these (tests/fixtures/README.md):
    // TLS 1.2 with a plaintext alert, TLS 1.3 with OpenSSL's plaintext alert, TLS 1.3 with
    // GnuTLS's encrypted one (read with and without the key log), tedious closing in TDS 8.
    let keylog = fixture("tls13-gnutls-cert-unknown-ca.keylog");
    let with_keylog = tlsdiag(&[
        "analyze",
        "--format",
        "ndjson",
        "--keylog",
        keylog.to_str().unwrap(),
        fixture("tls13-gnutls-cert-unknown-ca.pcap").to_str().unwrap(),
    ]);
    let mut sides = vec![];
    for c in [
        only_tls_connection(&fixture("tls12-cert-unknown-ca.pcap")),
        only_tls_connection(&fixture("tls13-cert-unknown-ca.pcap")),
        only_tls_connection(&fixture("tls13-gnutls-cert-unknown-ca.pcap")),
        serde_json::from_str(with_keylog.stdout.lines().next().unwrap()).unwrap(),
        only_tls_connection(&fixture("tds8-strict-untrusted-certificate.pcap")),
    ] {
        sides.push((
            c["tls"]["server_hello"]["version"].as_str().unwrap().to_string(),
            verdict(&c).0.to_string(),
            verdict(&c).1.to_string(),
        ));
    }
    assert!(sides.iter().all(|(_, _, side)| side == "server"), "{sides:?}");
    assert!(sides.iter().any(|(v, _, _)| v == "TLS1.2") && sides.iter().any(|(v, _, _)| v == "TLS1.3"), "{sides:?}");
}

#[test]
fn tls13_hints_lead_with_the_clients_platform() {
    let at = |hint: &str, what: &str| hint.find(what).unwrap_or_else(|| panic!("{what} not in {hint}"));
    // A SQL Server client (TDS 8 strict): Schannel's event logs first, the key log after.
    let sql = only_tls_connection(&fixture("tds8-strict-untrusted-certificate.pcap"));
    let hint = hint_of(&sql);
    assert!(at(hint, "CAPI2 Operational log") < at(hint, "SSLKEYLOGFILE"), "{hint}");
    assert!(hint.contains("36882 untrusted CA"), "{hint}");
    // gnutls-cli: the key log first.
    let gnutls = only_tls_connection(&fixture("tls13-gnutls-cert-unknown-ca.pcap"));
    let hint = hint_of(&gnutls);
    assert!(at(hint, "SSLKEYLOGFILE") < at(hint, "CAPI2 Operational log"), "{hint}");
}

#[test]
fn sql_server_builds_are_named_with_their_tls12_support() {
    // The server PRELOGIN of the TDS fixtures carries 16.0.1000 (tshark's
    // tds.prelogin.option.version, tests/fixtures/README.md): SQL Server 2022 RTM.
    let c = only_tls_connection(&fixture("tds-protocol-mismatch.pcap"));
    assert_eq!(c["tds"]["server"]["version"], "16.0.1000");
    assert!(
        hint_of(&c).contains("The server is SQL Server 2022 RTM (16.0.1000): TLS 1.2 supported."),
        "{}",
        hint_of(&c)
    );
    // The tds: line is in the details of the failing connections.
    let table =
        tlsdiag(&["analyze", "--list", "failing", fixture("tds-protocol-mismatch.pcap").to_str().unwrap()]).stdout;
    assert!(table.contains("server 16.0.1000 (SQL Server 2022 RTM; TLS 1.2 supported)"), "{table}");
    // The client's 9.0.0 is FreeTDS's library version, not SQL Server 2005: not mapped.
    assert!(table.contains("client 9.0.0 encryption") && !table.contains("SQL Server 2005"), "{table}");
}

#[test]
fn the_windows_client_message_of_a_failure_is_shown() {
    // The sample's cipher mismatches: what Schannel reports for them.
    // Under each problem, and under each failing connection's details.
    let shown = "client:  a Windows client shows 0x80090331 SEC_E_ALGORITHM_MISMATCH \"The client and server cannot communicate, because they do not possess a common algorithm\"";
    let sample = repo().join("samples/handshakes.pcap");
    let table = tlsdiag(&["analyze", sample.to_str().unwrap()]).stdout;
    assert!(table.contains(&format!("   {shown}")), "{table}");
    let details = tlsdiag(&["analyze", "--list", "failing", sample.to_str().unwrap()]).stdout;
    assert!(details.contains(&format!("  {}", shown.replacen("  ", " ", 1))), "{details}");
    let explained = tlsdiag(&["explain", "cipher_mismatch"]).stdout;
    assert!(explained.contains("Windows client shows: 0x80090331"), "{explained}");
    // Every failure verdict has one; a verdict that is not a failure has none.
    for code in [
        "protocol_mismatch",
        "certificate_rejected",
        "rst_without_server_hello",
        "tds_encryption_mismatch",
        "connection_refused",
    ] {
        assert!(tlsdiag(&["explain", code]).stdout.contains("Windows client shows: "), "{code}");
    }
    assert!(!tlsdiag(&["explain", "ok"]).stdout.contains("Windows client shows"));
}
