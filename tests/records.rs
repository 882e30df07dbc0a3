//! `tlsdiag findings`: the passes across connections recomputed from connection records read
//! back in any order, split over several files, give what one `analyze` run over the captures
//! gives (server profiles and findings, problems, sharpened verdicts); and what records alone
//! cannot carry is said, not guessed.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A fixed permutation (a small LCG), so a failure can be replayed.
fn shuffled<T>(mut items: Vec<T>, seed: u64) -> Vec<T> {
    let mut state = seed;
    for i in (1..items.len()).rev() {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        items.swap(i, (state >> 33) as usize % (i + 1));
    }
    items
}

/// Writes `lines` dealt round-robin into `parts` files in `dir`.
fn split_into(dir: &Path, lines: &[&str], parts: usize) -> Vec<PathBuf> {
    let paths: Vec<PathBuf> = (0..parts).map(|i| dir.join(format!("part{i}.ndjson"))).collect();
    for (i, path) in paths.iter().enumerate() {
        let mine: Vec<&str> = lines.iter().skip(i).step_by(parts).copied().collect();
        std::fs::write(path, mine.join("\n") + "\n").unwrap();
    }
    paths
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", &text[..text.len().min(300)]))
}

/// Connections in a canonical order (file, first frame, client), for comparison as sets.
fn sorted_connections(doc: &Value) -> Vec<Value> {
    let mut conns = list(&doc["connections"]).to_vec();
    conns.sort_by_key(|c| (text(&c["file"]).to_string(), c["first_frame"].as_u64(), text(&c["client"]).to_string()));
    conns
}

/// Runs `analyze` over `inputs` as NDJSON and as one JSON document, then `findings` over the
/// NDJSON shuffled and split in three files: the findings' document must equal the analysis.
/// `unreadable_inputs`: some inputs are damaged on purpose (the corpus), so analyze exits 2.
fn assert_recomputed_equal(inputs: &[&str], seed: u64, unreadable_inputs: bool) -> Value {
    let expected_code = if unreadable_inputs { 2 } else { 0 };
    let mut ndjson_args = vec!["analyze", "--format", "ndjson", "--all", "--threads", "2"];
    ndjson_args.extend_from_slice(inputs);
    let records = tlsdiag(&ndjson_args);
    assert_eq!(records.code, expected_code, "{}", records.stderr);
    let mut json_args = vec!["analyze", "--format", "json", "--all", "--threads", "2"];
    json_args.extend_from_slice(inputs);
    let whole = tlsdiag(&json_args);
    assert_eq!(whole.code, expected_code, "{}", whole.stderr);
    let whole = json(&whole.stdout);

    let lines = shuffled(records.stdout.lines().collect(), seed);
    let dir = tempfile::tempdir().unwrap();
    let parts = split_into(dir.path(), &lines, 3);
    let mut args = vec!["findings", "--format", "json", "--all"];
    args.extend(parts.iter().map(|p| p.to_str().unwrap()));
    let again = tlsdiag(&args);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.is_empty(), "{}", again.stderr);
    let again = json(&again.stdout);

    assert_eq!(again["servers"], whole["servers"], "server profiles and findings");
    assert_eq!(again["problems"], whole["problems"], "problems");
    let (a, b) = (sorted_connections(&again), sorted_connections(&whole));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "connection {} frame {}", x["file"], x["first_frame"]);
    }
    // The verdict counts per input, from the records alone (inputs without a connection
    // leave no record).
    let counts = |doc: &Value| -> std::collections::BTreeMap<String, (Value, Value)> {
        list(&doc["files"])
            .iter()
            .filter(|f| f["connections"].as_u64() > Some(0))
            .map(|f| (text(&f["path"]).to_string(), (f["connections"].clone(), f["verdicts"].clone())))
            .collect()
    };
    assert_eq!(counts(&again), counts(&whole));
    assert_eq!(again["totals"]["verdicts"], whole["totals"]["verdicts"]);
    whole
}

#[test]
fn shuffled_and_split_records_give_the_findings_of_one_run_over_the_fixtures() {
    let dir = repo().join("tests/fixtures");
    let mut inputs: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    inputs.sort();
    inputs.push(repo().join("samples/handshakes.pcap").to_string_lossy().into_owned());
    inputs.push(repo().join("tests/fixtures/stacks").to_string_lossy().into_owned());
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let whole = assert_recomputed_equal(&inputs, 7, false);
    // What is compared holds what it is about: findings of each kind, sharpened verdicts.
    let findings: Vec<&str> = list(&whole["servers"])
        .iter()
        .flat_map(|s| list(&s["findings"]).iter().map(|f| f["code"].as_str().unwrap()))
        .collect();
    for code in ["listener_overloaded", "intermittent_handshake_failure", "resumption_fallback_certificate_request"] {
        assert!(findings.contains(&code), "{code} not among {findings:?}");
    }
    let sharpened = list(&whole["connections"]).iter().filter(|c| !c["unsharpened_verdict"].is_null()).count();
    assert!(sharpened >= 5, "only {sharpened} sharpened verdicts");
}

#[test]
fn shuffled_and_split_records_give_the_findings_of_one_run_over_the_corpus() {
    if !has_corpus() {
        return;
    }
    let corpus = repo().join("../shared/corpus");
    assert_recomputed_equal(&[corpus.to_str().unwrap()], 11, true);
}

/// Records of one capture, by client port.
fn records_by_port(name: &str) -> Vec<(String, String)> {
    let run = tlsdiag(&["analyze", "--format", "ndjson", "--all", fixture(name).to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
        .lines()
        .map(|l| {
            let c = json(l);
            let port = text(&c["client"]).rsplit(':').next().unwrap().to_string();
            (port, l.to_string())
        })
        .collect()
}

fn find_port<'a>(doc: &'a Value, port: &str) -> &'a Value {
    list(&doc["connections"])
        .iter()
        .find(|c| text(&c["client"]).ends_with(&format!(":{port}")))
        .unwrap_or_else(|| panic!("no connection from port {port}"))
}

#[test]
fn a_verdict_is_sharpened_by_records_in_another_file_and_only_then() {
    // tests/fixtures.rs: the client on port 32834 offered up to TLS 1.0 and was reset; the
    // server completed TLS 1.2 with the clients on 32810, 32826, 32852 and 32868.
    let records = records_by_port("tls-one-server-many-clients.pcap");
    let dir = tempfile::tempdir().unwrap();
    let (failing, others): (Vec<_>, Vec<_>) = records.iter().partition(|(port, _)| port == "32834");
    let alone = dir.path().join("failing.ndjson");
    let rest = dir.path().join("others.ndjson");
    std::fs::write(&alone, failing.iter().map(|(_, l)| format!("{l}\n")).collect::<String>()).unwrap();
    std::fs::write(&rest, others.iter().map(|(_, l)| format!("{l}\n")).collect::<String>()).unwrap();

    // By itself the record is back to the connection's own verdict: a reset after the
    // ClientHello, which no other connection explains.
    let run = tlsdiag(&["findings", "--format", "json", "--all", alone.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = json(&run.stdout);
    let c = find_port(&doc, "32834");
    assert_eq!(verdict(c).0, "rst_without_server_hello");
    assert!(c["unsharpened_verdict"].is_null());

    // With the other clients' records, from another file and before it on the command line,
    // it is the version mismatch that one run over the capture finds.
    let run = tlsdiag(&["findings", "--format", "json", "--all", rest.to_str().unwrap(), alone.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = json(&run.stdout);
    let c = find_port(&doc, "32834");
    assert_eq!(verdict(c), ("protocol_mismatch", "client", "likely"));
    assert_eq!(evidence_frames(c), vec![65, 67]);
    assert!(text(&c["verdict"]["explanation"]).contains("offered up to TLS1.0"));
    assert_eq!(c["unsharpened_verdict"]["code"], "rst_without_server_hello");
    let profile = list(&doc["servers"]).iter().find(|s| s["server"] == "127.0.0.1:4433").unwrap();
    assert_eq!(profile["ok"], 4);
}

#[test]
fn findings_of_its_own_output_are_the_same() {
    // Sharpened records read back start from their own verdict: sharpening twice changes
    // nothing (no explanation grows a second "; this server completed ...").
    let inputs = [fixture("tls-one-server-many-clients.pcap"), repo().join("samples/handshakes.pcap")];
    let first =
        tlsdiag(&["analyze", "--format", "ndjson", "--all", inputs[0].to_str().unwrap(), inputs[1].to_str().unwrap()]);
    assert_eq!(first.code, 0);
    let second = tlsdiag_with_stdin(&["findings", "--format", "ndjson", "--all"], first.stdout.as_bytes());
    assert_eq!(second.code, 0, "{}", second.stderr);
    let third = tlsdiag_with_stdin(&["findings", "--format", "ndjson", "--all", "-"], second.stdout.as_bytes());
    assert_eq!(third.code, 0, "{}", third.stderr);
    let sorted = |text: &str| {
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        lines.sort();
        lines
    };
    assert_eq!(sorted(&first.stdout), sorted(&second.stdout));
    assert_eq!(sorted(&second.stdout), sorted(&third.stdout));
    assert!(second.stdout.contains("\"unsharpened_verdict\""));
}

#[test]
fn a_json_document_is_read_as_its_records() {
    let path = fixture("tls-listener-overloaded.pcap");
    let whole = tlsdiag(&["analyze", "--format", "json", "--all", path.to_str().unwrap()]);
    assert_eq!(whole.code, 0);
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("run.json");
    std::fs::write(&doc, &whole.stdout).unwrap();
    let again = tlsdiag(&["findings", "--format", "json", "--all", doc.to_str().unwrap()]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let (whole, again) = (json(&whole.stdout), json(&again.stdout));
    assert_eq!(again["problems"], whole["problems"]);
    assert_eq!(again["servers"], whole["servers"]);
    let codes: Vec<&Value> = list(&again["problems"]).iter().map(|p| &p["code"]).collect();
    assert!(codes.iter().any(|c| *c == "listener_overloaded"), "{codes:?}");
}

#[test]
fn lines_that_are_not_records_are_named_and_the_others_go_on() {
    let records = records_by_port("tls-one-server-many-clients.pcap");
    let good = &records[0].1;
    let unknown_code = good.replacen("\"code\":\"ok\"", "\"code\":\"no_such_verdict\"", 1);
    assert_ne!(&unknown_code, good, "the record has an ok verdict to change");
    let input = format!("{good}\nnot json at all\n{unknown_code}\n{{\"schema_version\":9}}\n\n{}\n", records[1].1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.ndjson");
    std::fs::write(&path, input).unwrap();
    let run = tlsdiag(&["findings", "--format", "ndjson", "--all", path.to_str().unwrap()]);
    assert_eq!(run.code, 2, "a bad line is an error: {}", run.stderr);
    let name = path.to_str().unwrap();
    assert!(run.stderr.contains(&format!("{name}: line 2: not a connection record")), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("{name}: line 3: "))
            && run.stderr.contains("unknown verdict code \"no_such_verdict\""),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(&format!("{name}: line 4: ")), "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 2, "the two good records are still written");

    let missing = dir.path().join("missing.ndjson");
    let run = tlsdiag(&["findings", "--format", "json", missing.to_str().unwrap(), path.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains(missing.to_str().unwrap()), "{}", run.stderr);
}

#[test]
fn ndjson_with_a_summary_file_says_what_the_json_document_says() {
    let path = fixture("tls-one-server-many-clients.pcap");
    let records = tlsdiag(&["analyze", "--format", "ndjson", "--all", path.to_str().unwrap()]);
    let whole = json(&tlsdiag(&["analyze", "--format", "json", "--all", path.to_str().unwrap()]).stdout);
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let run = tlsdiag_with_stdin(
        &["findings", "--format", "ndjson", "--all", "--summary", summary.to_str().unwrap()],
        records.stdout.as_bytes(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), list(&whole["connections"]).len());
    let summary = json(&std::fs::read_to_string(&summary).unwrap());
    assert_eq!(summary["servers"], whole["servers"]);
    assert_eq!(summary["problems"], whole["problems"]);
    assert_eq!(summary["totals"]["verdicts"], whole["totals"]["verdicts"]);
    assert!(summary["connections"].is_null(), "the summary leaves the connections to the NDJSON");
}
