//! Whole archives: directories with mixed formats and compressions, non-captures skipped,
//! corrupt files reported while the others go on, deterministic order on all cores, and JSON
//! documents of separate runs merged into what one run over everything gives.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn compress(tool: &str, file: &Path) {
    let status = Command::new(tool).args(["-k", "-f"]).arg(file).status();
    assert!(status.map(|s| s.success()).unwrap_or(false), "{tool} not available");
}

/// A directory tree: the sample as pcap, xz and bzip2, a gzip pcapng, a NetMon file, a
/// truncated capture and a text file.
fn archive() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("b/c");
    std::fs::create_dir_all(&sub).unwrap();
    let sample = dir.path().join("a-handshakes.pcap");
    std::fs::copy(repo().join("samples/handshakes.pcap"), &sample).unwrap();
    let sample_xz = sub.join("xz-handshakes.pcap");
    std::fs::copy(&sample, &sample_xz).unwrap();
    compress("xz", &sample_xz);
    std::fs::remove_file(&sample_xz).unwrap();
    let sample_bz = sub.join("bz-handshakes.pcap");
    std::fs::copy(&sample, &sample_bz).unwrap();
    compress("bzip2", &sample_bz);
    std::fs::remove_file(&sample_bz).unwrap();
    std::fs::copy(corpus("ndpi--tls_ech.pcapng.gz"), dir.path().join("b/ech.pcapng.gz")).unwrap();
    std::fs::copy(corpus("zeek--tls--tls1_1.netmon2.cap"), dir.path().join("b/tls11.cap")).unwrap();
    std::fs::copy(corpus("zeek--tls--tls1.2.truncated-file.pcap"), dir.path().join("b/c/truncated.pcap")).unwrap();
    std::fs::write(dir.path().join("b/notes.txt"), "not a capture\n").unwrap();
    dir
}

fn json_run(args: &[&str]) -> (Value, i32, String) {
    let run = tlsdiag(args);
    (serde_json::from_str(&run.stdout).unwrap_or(Value::Null), run.code, run.stderr)
}

#[test]
fn a_directory_of_mixed_captures_is_one_report() {
    if !has_corpus() {
        return;
    }
    let dir = archive();
    let (doc, code, stderr) = json_run(&["analyze", "--format", "json", dir.path().to_str().unwrap()]);
    // The truncated capture makes the run exit 2, after everything else was analysed.
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("truncated.pcap: file is cut short in frame 10"), "{stderr}");
    assert!(stderr.contains("skipped 1 file(s) that are not captures"), "{stderr}");
    // The skipped file is named, so the user can tell a stray note from a capture misread.
    let notes = dir.path().join("b/notes.txt");
    assert!(stderr.contains(&format!("  {}\n", notes.display())), "{stderr}");
    let files: Vec<(String, String, Value)> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let name = Path::new(f["path"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned();
            (name, f["format"].as_str().unwrap_or("-").to_string(), f["compression"].clone())
        })
        .collect();
    // Name order, depth first: a-handshakes.pcap, b/c/bz..., b/c/truncated, b/c/xz..., b/ech, b/tls11.
    let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "a-handshakes.pcap",
            "bz-handshakes.pcap.bz2",
            "truncated.pcap",
            "xz-handshakes.pcap.xz",
            "ech.pcapng.gz",
            "tls11.cap"
        ]
    );
    assert_eq!(files[1].2, "bzip2");
    assert_eq!(files[3].2, "xz");
    assert_eq!(files[4].1, "pcapng");
    assert_eq!(files[5].1, "netmon");
    // Three copies of the sample (5 connections each), one each from the others.
    assert_eq!(doc["totals"]["connections"], 3 * 5 + 1 + 1 + 1);
    assert_eq!(doc["totals"]["verdicts"]["cipher_mismatch"], 3 * 2);
    // Connections come in input order whatever thread finished first.
    let order: Vec<String> = doc["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Path::new(c["file"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut sorted_by_input = order.clone();
    sorted_by_input.sort_by_key(|n| names.iter().position(|m| m == n));
    assert_eq!(order, sorted_by_input);
}

#[test]
fn parallel_output_equals_one_file_at_a_time() {
    if !has_corpus() {
        return;
    }
    let dir = archive();
    let (together, _, _) = json_run(&["analyze", "--format", "json", dir.path().to_str().unwrap()]);
    // On all cores and on one, the same document, byte for byte.
    let (sequential, _, _) = json_run(&["analyze", "--format", "json", "--threads", "1", dir.path().to_str().unwrap()]);
    assert_eq!(together, sequential);
    // File by file, the same connections with the same verdict codes; explanations may differ
    // where a server profile spans files (what the server chose "with N other connections").
    let key =
        |c: &Value| (c["file"].clone(), c["client"].clone(), c["first_frame"].clone(), c["verdict"]["code"].clone());
    let mut one_by_one = Vec::new();
    for f in together["files"].as_array().unwrap() {
        let (doc, _, _) = json_run(&["analyze", "--format", "json", f["path"].as_str().unwrap()]);
        one_by_one.extend(doc["connections"].as_array().unwrap().iter().map(key));
    }
    let together: Vec<_> = together["connections"].as_array().unwrap().iter().map(key).collect();
    assert_eq!(together, one_by_one);
}

#[test]
fn files_from_lists_inputs() {
    if !has_corpus() {
        return;
    }
    let dir = archive();
    let list = dir.path().join("list.txt");
    let sample = dir.path().join("a-handshakes.pcap");
    std::fs::write(&list, format!("# inputs\n{}\n\n{}\n", sample.display(), dir.path().join("b/tls11.cap").display()))
        .unwrap();
    let (doc, code, stderr) = json_run(&["analyze", "--format", "json", "--files-from", list.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["totals"]["files"], 2);
    assert_eq!(doc["totals"]["connections"], 6);
}

#[test]
fn merged_documents_equal_one_run_over_both() {
    if !has_corpus() {
        return;
    }
    let a = repo().join("samples/handshakes.pcap");
    let b = corpus("zeek--tls--tls1.2.pcap");
    let dir = tempfile::tempdir().unwrap();
    let (doc_a, _, _) = json_run(&["analyze", "--format", "json", a.to_str().unwrap()]);
    let (doc_b, _, _) = json_run(&["analyze", "--format", "json", b.to_str().unwrap()]);
    let (both, _, _) = json_run(&["analyze", "--format", "json", a.to_str().unwrap(), b.to_str().unwrap()]);
    let (pa, pb) = (dir.path().join("a.json"), dir.path().join("b.json"));
    std::fs::write(&pa, doc_a.to_string()).unwrap();
    std::fs::write(&pb, doc_b.to_string()).unwrap();
    let (merged, code, stderr) = json_run(&["merge", pa.to_str().unwrap(), pb.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(merged["totals"], both["totals"]);
    assert_eq!(merged["servers"], both["servers"]);
    assert_eq!(merged["files"], both["files"]);
    assert_eq!(merged["connections"], both["connections"]);
}

#[test]
fn merge_reads_rotated_parts_as_the_unsplit_capture() {
    if !have_tool("editcap", &["-v"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let original = fixture("tls-one-server-many-clients.pcap");
    // 25 frames a file: several connections cross the boundaries.
    let status = Command::new("editcap").args(["-c", "25"]).arg(&original).arg(dir.path().join("part.pcap")).status();
    assert!(status.unwrap().success());
    let parts = std::fs::read_dir(dir.path()).unwrap().count();
    assert!(parts >= 5, "{parts} parts");
    let (whole, _, _) = json_run(&["analyze", "--format", "json", original.to_str().unwrap()]);
    let (merged, code, stderr) = json_run(&["analyze", "--merge", "--format", "json", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(merged["totals"], whole["totals"]);
    let without_file = |doc: &Value| -> Vec<Value> {
        doc["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let mut c = c.clone();
                c.as_object_mut().unwrap().remove("file");
                c
            })
            .collect()
    };
    assert_eq!(without_file(&merged), without_file(&whole));
    // Without --merge the parts alone cannot settle the connections they cut.
    let (split, _, _) = json_run(&["analyze", "--format", "json", dir.path().to_str().unwrap()]);
    assert!(split["totals"]["verdicts"]["incomplete_capture"].as_u64().unwrap_or(0) > 0);
}

/// A value a schema-2 record leaves out: null, false, 0, "" or an empty list or object.
fn is_default_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_u64() == Some(0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// Paths inside `v` that hold a default value.
fn default_paths(v: &Value, path: &str, found: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, inner) in o {
                let here = format!("{path}.{k}");
                if is_default_value(inner) {
                    found.push(here);
                } else {
                    default_paths(inner, &here, found);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|inner| default_paths(inner, &format!("{path}[]"), found)),
        _ => {}
    }
}

#[test]
fn ndjson_records_leave_out_every_default_field() {
    let mut found = Vec::new();
    let mut records = 0;
    for entry in std::fs::read_dir(repo().join("tests/fixtures")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "pcap" && e != "pcapng") {
            continue;
        }
        for c in connections(&path) {
            assert_eq!(c["schema_version"], 2);
            records += 1;
            default_paths(&c, "", &mut found);
        }
    }
    assert!(records > 100, "only {records} records read");
    found.sort();
    found.dedup();
    // PRELOGIN options the peer sent with a zero or empty value are facts, not defaults (an
    // absent option is left out): MARS off, an empty instance name, build 0, thread 0.
    found.retain(|p| {
        !["instance", "mars", "sub_build", "thread_id"]
            .iter()
            .any(|option| p.starts_with(".tds.") && p.ends_with(&format!(".{option}")))
    });
    assert!(found.is_empty(), "default values written: {found:?}");
}

#[test]
fn merge_reads_schema_1_and_2_and_refuses_others() {
    let (doc, _, _) =
        json_run(&["analyze", "--format", "json", repo().join("samples/handshakes.pcap").to_str().unwrap()]);
    let dir = tempfile::tempdir().unwrap();
    let mut old = doc.clone();
    old["schema_version"] = 1.into();
    let mut future = doc.clone();
    future["schema_version"] = 3.into();
    let (p1, p2, p3) = (dir.path().join("v1.json"), dir.path().join("v2.json"), dir.path().join("v3.json"));
    std::fs::write(&p1, old.to_string()).unwrap();
    std::fs::write(&p2, doc.to_string()).unwrap();
    std::fs::write(&p3, future.to_string()).unwrap();
    let (merged, code, stderr) = json_run(&["merge", p1.to_str().unwrap(), p2.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(merged["schema_version"], 2);
    assert_eq!(merged["totals"]["connections"], doc["totals"]["connections"].as_u64().unwrap() * 2);
    let refused = tlsdiag(&["merge", p2.to_str().unwrap(), p3.to_str().unwrap()]);
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains("schema_version 3"), "{}", refused.stderr);
}
