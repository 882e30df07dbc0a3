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

/// True when a missing prerequisite (a tool, root, ../shared) must fail the test instead of
/// skipping it: under CI, or with TLSDIAG_REQUIRE_TOOLS=1.
pub fn prerequisites_required() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    set("CI") || set("TLSDIAG_REQUIRE_TOOLS")
}

/// Skips the calling test, saying why, or fails it when prerequisites are required. Skips are
/// appended to the file named by TLSDIAG_SKIP_LOG so scripts/test.sh can count and list them
/// (cargo test counts a skipped test as passed).
pub fn skip(reason: &str) {
    let test = std::thread::current().name().unwrap_or("unnamed test").to_string();
    assert!(!prerequisites_required(), "{test}: {reason} (CI or TLSDIAG_REQUIRE_TOOLS=1 requires it)");
    eprintln!("skipped {test}: {reason}");
    if let Some(log) = std::env::var_os("TLSDIAG_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
            let _ = writeln!(f, "{test}\t{reason}");
        }
    }
}

/// True when `program args` runs and succeeds; otherwise skips (or fails under CI) naming it.
pub fn have_tool(program: &str, args: &[&str]) -> bool {
    let ok = Command::new(program).args(args).output().map(|o| o.status.success()).unwrap_or(false);
    if !ok {
        skip(&format!("{program} is not installed (scripts/install-deps.sh installs it)"));
    }
    ok
}

/// tshark, the reference the decoded fields are compared with.
pub fn has_tshark() -> bool {
    have_tool("tshark", &["-v"])
}

/// The public-capture tier: true when ../shared/corpus is beside the repository.
pub fn has_corpus() -> bool {
    let here = repo().join("../shared/corpus/MANIFEST.tsv").is_file();
    if !here {
        skip("../shared/corpus is not beside the repository (the public-capture tier)");
    }
    here
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

/// A folder of the public data beside the repository (`../shared/<name>`), or `None` when it
/// is absent: the test is then skipped saying why (a failure under CI or
/// TLSDIAG_REQUIRE_TOOLS=1).
pub fn shared_dir(name: &str) -> Option<PathBuf> {
    let dir = repo().join("../shared").join(name);
    if dir.is_dir() {
        return Some(dir);
    }
    skip(&format!("../shared/{name} is not beside the repository (the public-data tier)"));
    None
}

pub mod etl_writer;

/// A list field of a connection record: schema 2 leaves empty lists out.
pub fn list(v: &Value) -> &[Value] {
    match v {
        Value::Null => &[],
        _ => v.as_array().unwrap_or_else(|| panic!("a list, not {v}")),
    }
}

/// A flag of a connection record: schema 2 leaves `false` out.
pub fn flag(v: &Value) -> bool {
    match v {
        Value::Null => false,
        _ => v.as_bool().unwrap_or_else(|| panic!("a flag, not {v}")),
    }
}

/// A text field of a connection record: schema 2 leaves empty strings out.
pub fn text(v: &Value) -> &str {
    match v {
        Value::Null => "",
        _ => v.as_str().unwrap_or_else(|| panic!("a string, not {v}")),
    }
}
