//! Golden output: the table, lines, NDJSON and JSON reports of every fixture capture and of the
//! sample, compared byte for byte with tests/golden/. A change in any report shows up here as a
//! diff to read; `UPDATE_GOLDEN=1 cargo test --test golden` rewrites the files after review.
//! The verdicts these files hold are asserted one by one, against tshark and the scenarios, in
//! tests/fixtures.rs, tests/scenarios.rs and the other integration tests.

use std::path::{Path, PathBuf};
use std::process::Command;

const FORMATS: [&str; 4] = ["table", "lines", "ndjson", "json"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every capture the golden files cover, as paths relative to the repository.
fn captures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("tests/fixtures"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
        .map(|n| format!("tests/fixtures/{n}"))
        .collect();
    names.sort();
    names.push("samples/handshakes.pcap".into());
    names
}

/// The four reports of one capture, run from the repository so paths print relative.
fn reports(capture: &str) -> String {
    let mut text = String::new();
    for format in FORMATS {
        let out = Command::new(env!("CARGO_BIN_EXE_tlsdiag"))
            .current_dir(repo())
            .args(["analyze", "--format", format, capture])
            .output()
            .expect("run tlsdiag");
        text.push_str(&format!("=== {format} (exit {}) ===\n", out.status.code().unwrap_or(-1)));
        text.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    text
}

fn golden_path(capture: &str) -> PathBuf {
    let name = Path::new(capture).file_name().unwrap().to_string_lossy().into_owned();
    repo().join("tests/golden").join(format!("{name}.txt"))
}

#[test]
fn reports_equal_the_golden_files() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut differ = Vec::new();
    for capture in captures() {
        let got = reports(&capture);
        let path = golden_path(&capture);
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(want) if want == got => {}
            Ok(want) => {
                let line = want.lines().zip(got.lines()).position(|(a, b)| a != b).map_or(0, |i| i + 1);
                differ.push(format!("{capture}: differs from {} from line {line}", path.display()));
            }
            Err(_) => differ.push(format!("{capture}: no golden file {}", path.display())),
        }
    }
    assert!(differ.is_empty(), "UPDATE_GOLDEN=1 rewrites them after review:\n{}", differ.join("\n"));
}

/// No golden file is left over from a capture that no longer exists.
#[test]
fn every_golden_file_has_its_capture() {
    let expected: Vec<PathBuf> = captures().iter().map(|c| golden_path(c)).collect();
    for entry in std::fs::read_dir(repo().join("tests/golden")).unwrap() {
        let path = entry.unwrap().path();
        assert!(expected.contains(&path), "{} has no capture", path.display());
    }
}
