//! How the command line behaves around the analysis: a closed standard output ends every
//! subcommand quietly with 0, a capture piped in needs no `-`, errors come before any output,
//! `--help` carries examples and the exit codes, and tables fit the terminal they are shown in.

mod common;

use common::*;
use std::process::{Command, Stdio};

/// Runs tlsdiag with its standard output a pipe whose reading end is already closed, so the
/// first write fails with EPIPE (the Rust runtime ignores SIGPIPE): what `| head` does, without
/// the race of `head` exiting before or after the write.
fn closed_stdout(args: &[&str], stdin: Option<&std::path::Path>) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tlsdiag"));
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(match stdin {
        Some(path) => Stdio::from(std::fs::File::open(path).unwrap()),
        None => Stdio::null(),
    });
    let mut child = cmd.spawn().expect("run tlsdiag");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait for tlsdiag");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `tlsdiag ARGS | head -1` through a shell, as a user types it: the exit code of tlsdiag.
fn piped_to_head(args: &str) -> (String, String) {
    let bin = env!("CARGO_BIN_EXE_tlsdiag");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("'{bin}' {args} | head -1 >/dev/null; echo ${{PIPESTATUS[0]}}"))
        .current_dir(repo())
        .output()
        .expect("run bash");
    (String::from_utf8_lossy(&out.stdout).trim().to_string(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_closed_pipe_ends_every_subcommand_quietly() {
    let sample = repo().join("samples/handshakes.pcap");
    let sample = sample.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("a.json");
    let run = tlsdiag(&["analyze", "--format", "json", sample]);
    std::fs::write(&doc, run.stdout).unwrap();
    let doc = doc.to_str().unwrap();
    let records = dir.path().join("a.ndjson");
    std::fs::write(&records, tlsdiag(&["analyze", "--format", "ndjson", "--all", sample]).stdout).unwrap();
    let records = records.to_str().unwrap();
    let mut cases: Vec<Vec<&str>> = vec![
        vec!["explain", "10054"],
        vec!["explain", "--markdown"],
        vec!["explain", "cipher_mismatch"],
        vec!["analyze", sample],
        vec!["analyze", "--format", "lines", sample],
        vec!["analyze", "--format", "ndjson", sample],
        vec!["analyze", "--format", "json", sample],
        vec!["merge", doc, doc],
        vec!["findings", records],
        vec!["findings", "--format", "ndjson", records],
        vec!["findings", "--format", "json", doc],
        vec!["--help"],
        vec!["analyze", "--help"],
    ];
    if cfg!(feature = "live") {
        cases.push(vec!["interfaces"]);
    }
    for args in &cases {
        // Repeated: the failure this guards against came in about one run of three.
        for _ in 0..5 {
            let (code, stderr) = closed_stdout(args, None);
            assert_eq!(code, 0, "tlsdiag {args:?}: {stderr}");
            assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "tlsdiag {args:?}: {stderr}");
        }
    }
    // Standard input read without `-`, into a closed pipe.
    let (code, stderr) = closed_stdout(&["analyze"], Some(std::path::Path::new(sample)));
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn head_minus_one_twenty_times() {
    // Every fixture at once: far more output than a pipe holds.
    let big = repo().join("tests/fixtures");
    let big = big.to_str().unwrap().to_string();
    for _ in 0..20 {
        for args in ["explain 10054", "explain --markdown"] {
            let (code, stderr) = piped_to_head(args);
            assert_eq!(code, "0", "tlsdiag {args} | head -1: {stderr}");
            assert!(stderr.is_empty(), "tlsdiag {args} | head -1 wrote to stderr: {stderr}");
        }
    }
    // A large output cut short, in every format that streams or prints at the end.
    for format in ["lines", "ndjson", "table", "json"] {
        let (code, stderr) = piped_to_head(&format!("analyze --format {format} '{big}'"));
        assert_eq!(code, "0", "analyze --format {format} | head -1: {stderr}");
        assert!(stderr.is_empty(), "analyze --format {format} | head -1 wrote to stderr: {stderr}");
    }
}

#[test]
fn a_capture_piped_in_needs_no_dash() {
    let sample = repo().join("samples/handshakes.pcap");
    let bytes = std::fs::read(&sample).unwrap();
    let with_dash = tlsdiag_with_stdin(&["analyze", "--format", "ndjson", "-"], &bytes);
    let without = tlsdiag_with_stdin(&["analyze", "--format", "ndjson"], &bytes);
    assert_eq!(without.code, 0, "{}", without.stderr);
    assert_eq!(with_dash.stdout, without.stdout);
    // samples/make-sample.sh makes five connections (tshark -z conv,tcp counts five): two
    // handshakes that work, two that fail, one refused port.
    assert_eq!(without.stdout.lines().count(), 5, "{}", without.stdout);
}

#[test]
fn no_capture_and_an_empty_stdin_says_what_was_read() {
    // A script's `tlsdiag analyze` with nothing on standard input.
    let run = tlsdiag_with_stdin(&["analyze"], b"");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("-: file is cut short") && run.stderr.contains("standard input was read"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
}

#[test]
fn no_capture_and_a_terminal_on_stdin_is_an_error_that_says_what_to_give() {
    if !has_script() {
        return;
    }
    let (code, out) = in_terminal(100, "analyze");
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("no capture given") && out.contains("`-` for standard input"), "{out}");
}

#[test]
fn a_file_that_is_not_a_capture_is_an_error_with_no_table() {
    for format in ["table", "lines", "json", "ndjson"] {
        let run = tlsdiag(&["analyze", "--format", format, repo().join("Cargo.toml").to_str().unwrap()]);
        assert_eq!(run.code, 2);
        assert!(run.stderr.contains("Cargo.toml: not a capture file"), "{}", run.stderr);
        assert_eq!(run.stdout, "", "--format {format} wrote output for an unreadable input");
    }
    // Beside a readable capture, the readable one is still reported.
    let run = tlsdiag(&[
        "analyze",
        "--format",
        "ndjson",
        repo().join("Cargo.toml").to_str().unwrap(),
        repo().join("samples/handshakes.pcap").to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    assert_eq!(run.stdout.lines().count(), 5);
}

#[test]
fn help_has_examples_and_the_exit_codes() {
    let main = tlsdiag(&["--help"]).stdout;
    assert!(main.contains("Examples:") && main.contains("tlsdiag explain 0x80090331"), "{main}");
    assert!(main.contains("Exit codes:") && main.contains("1  analyze --fail-on-failure"), "{main}");
    let analyze = tlsdiag(&["analyze", "--help"]).stdout;
    assert!(analyze.contains("Examples:") && analyze.contains("cat capture.pcap | tlsdiag analyze"), "{analyze}");
    // The verdicts that do not count as failures for --fail-on-failure are named.
    assert!(analyze.contains("ok_resumed") && analyze.contains("tds_unencrypted"), "{analyze}");
    let explain = tlsdiag(&["explain", "--help"]).stdout;
    assert!(explain.contains("WSAECONNRESET") && explain.contains("Schannel 36874"), "{explain}");
}

#[test]
fn fail_on_failure_counts_failures_only() {
    // The sample has a cipher mismatch: exit 1. A capture of only a good handshake: exit 0.
    let sample = repo().join("samples/handshakes.pcap");
    assert_eq!(tlsdiag(&["analyze", "--fail-on-failure", sample.to_str().unwrap()]).code, 1);
    let ok = fixture("tds-tls12-ok.pcap");
    assert_eq!(tlsdiag(&["analyze", "--fail-on-failure", ok.to_str().unwrap()]).code, 0);
    let unencrypted = fixture("tds-unencrypted.pcap");
    assert_eq!(tlsdiag(&["analyze", "--fail-on-failure", unencrypted.to_str().unwrap()]).code, 0);
}

fn has_script() -> bool {
    let found = Command::new("script").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        skip("script (util-linux) is not installed: no terminal to run tlsdiag in");
    }
    found
}

/// Runs tlsdiag in a pseudo-terminal of `columns` columns (util-linux `script`): what it
/// writes and its exit code.
fn in_terminal(columns: u16, args: &str) -> (i32, String) {
    let bin = env!("CARGO_BIN_EXE_tlsdiag");
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &format!("stty cols {columns} rows 50; '{bin}' {args}"), "/dev/null"])
        .current_dir(repo())
        .stdin(Stdio::piped())
        .output()
        .expect("run script");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).replace('\r', ""))
}

fn widest_table_line(text: &str) -> usize {
    // Table lines are those drawn with box characters; the why/fix text is free prose.
    text.lines().filter(|l| l.starts_with(['│', '┌', '└', '╞', '├'])).map(|l| l.chars().count()).max().unwrap_or(0)
}

#[test]
fn tables_fit_the_terminal_and_use_full_width_when_piped() {
    if !has_script() {
        return;
    }
    let args = "analyze --list all tests/fixtures/tls-one-server-many-clients.pcap tests/fixtures/tds-tls12-ok.pcap";
    let (code, shown) = in_terminal(100, args);
    assert_eq!(code, 0, "{shown}");
    let widest = widest_table_line(&shown);
    assert!(widest > 0 && widest <= 100, "a table line of {widest} columns in a 100-column terminal:\n{shown}");
    // Addresses stay whole; the cipher suite column gives way, and says so.
    assert!(shown.contains("127.0.0.1:32810") && shown.contains("(cipher suite"), "{shown}");
    // Piped, nothing is wrapped: the same run is wider than the terminal was.
    let piped = tlsdiag(&args.split(' ').collect::<Vec<_>>());
    assert!(widest_table_line(&piped.stdout) > 100, "{}", piped.stdout);
}
