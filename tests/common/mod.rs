//! Helpers shared by the integration tests: run the built binary, read its NDJSON, ask tshark.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures").join(name)
}

/// A public capture of ../shared/corpus, referred to in place.
pub fn corpus(name: &str) -> PathBuf {
    repo().join("../shared/corpus").join(name)
}

pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

pub fn tlsdiag(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_tlsdiag")).args(args).output().expect("run tlsdiag");
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

/// Runs the binary with `input` on its standard input.
pub fn tlsdiag_with_stdin(args: &[&str], input: &[u8]) -> Run {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tlsdiag"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tlsdiag");
    // Written from a thread so a large input cannot block against a full stdout pipe.
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("wait for tlsdiag");
    writer.join().expect("writer").expect("write stdin");
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

/// Every connection record of `analyze --format ndjson --all` on one file.
pub fn connections(path: &Path) -> Vec<Value> {
    let run = tlsdiag(&["analyze", "--format", "ndjson", "--all", path.to_str().unwrap()]);
    assert!(run.code == 0, "tlsdiag failed on {}: {}", path.display(), run.stderr);
    run.stdout.lines().map(|l| serde_json::from_str(l).expect("valid NDJSON line")).collect()
}

/// The single connection whose verdict is not `not_tls` in a file.
pub fn only_tls_connection(path: &Path) -> Value {
    let conns: Vec<Value> = connections(path).into_iter().filter(|c| c["verdict"]["code"] != "not_tls").collect();
    assert_eq!(conns.len(), 1, "expected one connection in {}", path.display());
    conns.into_iter().next().unwrap()
}

pub fn has_tshark() -> bool {
    Command::new("tshark").arg("-v").output().map(|o| o.status.success()).unwrap_or(false)
}

/// A verdict's code, side at fault and confidence.
pub fn verdict(c: &Value) -> (&str, &str, &str) {
    let v = &c["verdict"];
    (v["code"].as_str().unwrap(), v["side"].as_str().unwrap(), v["confidence"].as_str().unwrap())
}

/// Evidence frames of a verdict.
pub fn evidence_frames(conn: &Value) -> Vec<u64> {
    conn["verdict"]["evidence"].as_array().unwrap().iter().map(|e| e["frame"].as_u64().unwrap()).collect()
}
