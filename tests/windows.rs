//! The Windows build: `tlsdiag.exe` cross-built for x86_64-pc-windows-gnu by
//! `scripts/build-windows.sh` (mingw-w64), run under wine on the sample and every fixture
//! capture, must write exactly what the Linux build writes (table, NDJSON with `--all`, with
//! the key log where a fixture has one, one JSON document over all of them on several
//! threads, and `explain`), with the same exit codes.
//!
//! Needs wine and mingw-w64 (scripts/install-deps.sh): without them the test fails under
//! CI / TLSDIAG_REQUIRE_TOOLS=1 and is skipped otherwise, saying why. Every run goes through
//! one batch file in one wine session, since wine's start (and the first start of a fresh
//! prefix, ~30-60 s) costs far more than a run of tlsdiag.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var("TLSDIAG_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

fn tool_works(program: &str, arg: &str) -> bool {
    Command::new(program).arg(arg).output().is_ok_and(|o| o.status.success())
}

/// The missing tools, or None when all are there.
fn missing_tools() -> Option<String> {
    let missing: Vec<&str> = [("wine", "--version"), ("x86_64-w64-mingw32-gcc", "--version")]
        .into_iter()
        .filter(|(program, arg)| !tool_works(program, arg))
        .map(|(program, _)| program)
        .collect();
    (!missing.is_empty()).then(|| missing.join(", "))
}

/// `Z:\...`: how wine names a path of this machine.
fn windows_path(path: &Path) -> String {
    format!("Z:{}", path.to_str().unwrap().replace('/', "\\"))
}

/// One run of tlsdiag: its arguments (relative paths with `/`, which Windows takes too, so the
/// paths tlsdiag writes are the same on both sides).
struct Case {
    args: Vec<String>,
}

fn cases() -> Vec<Case> {
    let mut captures: Vec<String> = std::fs::read_dir(repo().join("tests/fixtures"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".pcap") || name.ends_with(".pcapng"))
        .map(|name| format!("tests/fixtures/{name}"))
        .collect();
    captures.sort();
    assert!(captures.len() >= 50, "the fixtures went missing: {captures:?}");
    captures.insert(0, "samples/handshakes.pcap".into());
    let mut cases = Vec::new();
    let case = |args: &[&str]| Case { args: args.iter().map(|a| a.to_string()).collect() };
    for capture in &captures {
        cases.push(case(&["analyze", capture]));
        cases.push(case(&["analyze", "--format", "ndjson", "--all", capture]));
        let keylog = capture.rsplit_once('.').unwrap().0.to_string() + ".keylog";
        if repo().join(&keylog).exists() {
            cases.push(case(&["analyze", "--format", "ndjson", "--all", "--keylog", &keylog, capture]));
        }
    }
    // All at once: the threaded batch, the per-file table and the server profiles.
    let mut all = vec!["analyze", "--format", "json", "--threads", "2"];
    all.extend(captures.iter().map(String::as_str));
    cases.push(case(&all));
    cases.push(case(&["explain", "10054"]));
    cases.push(case(&["explain", "--markdown"]));
    cases.push(case(&["analyze", "Cargo.toml"]));
    cases
}

struct Output {
    stdout: Vec<u8>,
    stderr: String,
    code: i32,
}

fn run_linux(case: &Case) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_tlsdiag")).args(&case.args).current_dir(repo()).output().unwrap();
    Output {
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

/// Runs every case with the Windows build in one wine session; their outputs in case order.
fn run_wine(exe: &Path, work: &Path, cases: &[Case]) -> Vec<Output> {
    let out_dir = work.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut batch = String::from("@echo off\r\n");
    for (i, case) in cases.iter().enumerate() {
        let out = windows_path(&out_dir.join(i.to_string()));
        batch.push_str(&format!(
            "\"{}\" {} > \"{out}.stdout\" 2> \"{out}.stderr\"\r\necho %ERRORLEVEL% > \"{out}.code\"\r\n",
            windows_path(exe),
            case.args.join(" ")
        ));
    }
    // `echo` leaves ERRORLEVEL as the last tlsdiag set it; the batch itself succeeded.
    batch.push_str("exit /b 0\r\n");
    std::fs::write(work.join("run.bat"), batch).unwrap();
    let prefix = work.join("prefix");
    let wine = |args: &[&str]| {
        Command::new("wine")
            .args(args)
            .current_dir(repo())
            .env("WINEPREFIX", &prefix)
            .env("WINEDEBUG", "-all")
            // No Mono or Gecko install prompt in a fresh prefix: tlsdiag needs neither.
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env_remove("DISPLAY")
            .output()
            .expect("run wine")
    };
    let started = std::time::Instant::now();
    let ran = wine(&["cmd", "/c", &windows_path(&work.join("run.bat"))]);
    eprintln!(
        "wine ran {} cases in {:.1} s (prefix created in the same run)",
        cases.len(),
        started.elapsed().as_secs_f64()
    );
    let _ = Command::new("wineserver").arg("-k").env("WINEPREFIX", &prefix).status();
    assert!(ran.status.success(), "wine cmd failed: {}", String::from_utf8_lossy(&ran.stderr));
    (0..cases.len())
        .map(|i| {
            let path = |ext: &str| out_dir.join(format!("{i}.{ext}"));
            let code = std::fs::read_to_string(path("code")).unwrap_or_else(|_| panic!("case {i} did not run"));
            Output {
                stdout: std::fs::read(path("stdout")).unwrap(),
                stderr: String::from_utf8_lossy(&std::fs::read(path("stderr")).unwrap()).into_owned(),
                code: code.trim().parse().unwrap(),
            }
        })
        .collect()
}

/// Builds the stand-in bcryptprimitives.dll next to the exe (see tests/wine/bcryptprimitives.c).
fn build_stand_in(dir: &Path) {
    let built = Command::new("x86_64-w64-mingw32-gcc")
        .args(["-shared", "-O2", "-o"])
        .arg(dir.join("bcryptprimitives.dll"))
        .arg(repo().join("tests/wine/bcryptprimitives.c"))
        .arg("-ladvapi32")
        .output()
        .expect("run mingw gcc");
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
}

fn build_exe() -> PathBuf {
    let built = Command::new("bash").arg("scripts/build-windows.sh").current_dir(repo()).output().unwrap();
    assert!(built.status.success(), "scripts/build-windows.sh failed:\n{}", String::from_utf8_lossy(&built.stderr));
    let path = String::from_utf8_lossy(&built.stdout).lines().last().unwrap().to_string();
    repo().join(path)
}

#[test]
fn windows_build_under_wine_writes_what_the_linux_build_writes() {
    if let Some(missing) = missing_tools() {
        assert!(!required(), "the Windows test needs {missing} (bash scripts/install-deps.sh installs them)");
        eprintln!("skipped: {missing} not installed (bash scripts/install-deps.sh installs them)");
        return;
    }
    let exe = build_exe();
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("tlsdiag.exe");
    std::fs::copy(&exe, &local).unwrap();
    build_stand_in(work.path());
    let cases = cases();
    let windows = run_wine(&local, work.path(), &cases);
    let mut differences = Vec::new();
    for (case, win) in cases.iter().zip(&windows) {
        let linux = run_linux(case);
        if linux.code != win.code || linux.stdout != win.stdout {
            differences.push(format!(
                "tlsdiag {}: exit {} on Linux, {} under wine; stdout {} and {} bytes\n  Windows stderr: {}",
                case.args.join(" "),
                linux.code,
                win.code,
                linux.stdout.len(),
                win.stdout.len(),
                win.stderr.trim()
            ));
        }
        // Errors name the same file and say the same thing (only OS error texts could differ,
        // and no case here has one).
        if linux.stderr != win.stderr {
            differences.push(format!(
                "tlsdiag {}: stderr differs\n  Linux:   {}\n  Windows: {}",
                case.args.join(" "),
                linux.stderr,
                win.stderr
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} runs differ:\n{}",
        differences.len(),
        cases.len(),
        differences.join("\n")
    );
    // Not vacuous: the runs produced verdicts, failures among them.
    let sample = String::from_utf8_lossy(&windows[1].stdout);
    assert!(sample.contains("\"cipher_mismatch\"") && sample.contains("\"connection_refused\""), "{sample}");
}
