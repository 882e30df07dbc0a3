//! The Windows build: `tlsdiag.exe` cross-built for x86_64-pc-windows-gnu by
//! `scripts/build-windows.sh` (mingw-w64), run under wine on the sample and every fixture
//! capture, must write exactly what the Linux build writes (table, NDJSON with `--all`, with
//! the key log where a fixture has one, one JSON document over all of them on several
//! threads, and `explain`), with the same exit codes.
//!
//! The build with live capture (`scripts/build-windows.sh --live`, linked against wpcap.dll)
//! lists a network namespace's interfaces under wine, whose builtin wpcap.dll goes to libpcap.
//!
//! Needs wine and mingw-w64 (scripts/install-deps.sh), and root for the namespace: without
//! them the tests fail under CI / TLSDIAG_REQUIRE_TOOLS=1 and are skipped otherwise, saying
//! why. Every offline run goes through one batch file in one wine session, since wine's start
//! (and the first start of a fresh prefix) costs far more than a run of tlsdiag.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// One build at a time: the offline and live builds share target/windows.
static BUILD: Mutex<()> = Mutex::new(());

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
        let mut cmd = Command::new("wine");
        cmd.args(args).current_dir(repo());
        wine_env(&mut cmd, &prefix);
        cmd.output().expect("run wine")
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

fn build_exe(live: bool) -> PathBuf {
    let _one_at_a_time = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let mut cmd = Command::new("bash");
    cmd.arg("scripts/build-windows.sh").current_dir(repo());
    if live {
        cmd.arg("--live");
    }
    let built = cmd.output().unwrap();
    assert!(built.status.success(), "scripts/build-windows.sh failed:\n{}", String::from_utf8_lossy(&built.stderr));
    let path = String::from_utf8_lossy(&built.stdout).lines().last().unwrap().to_string();
    repo().join(path)
}

/// The exe and the stand-in DLL in a fresh directory, with its wine prefix beside them.
fn stage(exe: &Path) -> (tempfile::TempDir, PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("tlsdiag.exe");
    std::fs::copy(exe, &local).unwrap();
    build_stand_in(work.path());
    (work, local)
}

/// `wine` with the test's prefix and no debug output or install prompts.
fn wine_env(cmd: &mut Command, prefix: &Path) {
    cmd.env("WINEPREFIX", prefix)
        .env("WINEDEBUG", "-all")
        // No Mono or Gecko install prompt in a fresh prefix: tlsdiag needs neither.
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        .env_remove("DISPLAY");
}

#[test]
fn windows_build_under_wine_writes_what_the_linux_build_writes() {
    if let Some(missing) = missing_tools() {
        skip(&format!("{missing} not installed (bash scripts/install-deps.sh installs them)"));
        return;
    }
    let (work, local) = stage(&build_exe(false));
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

/// A throwaway network namespace with its loopback up, deleted with what runs in it.
struct Namespace(String);

impl Namespace {
    fn new() -> Option<Namespace> {
        let is_root = Command::new("id").arg("-u").output().ok()?.stdout.starts_with(b"0\n");
        let name = format!("tlsdiag-wine-{}", std::process::id());
        if !is_root || !Command::new("ip").args(["netns", "add", &name]).status().ok()?.success() {
            return None;
        }
        Command::new("ip").args(["-n", &name, "link", "set", "lo", "up"]).status().ok()?;
        Some(Namespace(name))
    }
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0]).arg(program);
        c
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        if let Ok(out) = Command::new("ip").args(["netns", "pids", &self.0]).output() {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").arg(pid).status();
            }
        }
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn windows_live_build_links_wpcap_and_lists_interfaces_under_wine() {
    // Wine 8's wpcap.dll (over libpcap) has pcap_findalldevs but only stubs of
    // pcap_set_immediate_mode and pcap_setmintocopy, which abort the process: the capture
    // itself cannot run under wine, the linking and interface listing can.
    if let Some(missing) = missing_tools() {
        skip(&format!("{missing} not installed (bash scripts/install-deps.sh installs them)"));
        return;
    }
    let Some(ns) = Namespace::new() else {
        skip("listing a namespace's interfaces under wine needs root and network namespaces (ip netns)");
        return;
    };
    let (work, exe) = stage(&build_exe(true));
    let prefix = work.path().join("prefix");
    let mut interfaces = ns.command("wine");
    interfaces.arg(&exe).arg("interfaces");
    wine_env(&mut interfaces, &prefix);
    let listed = interfaces.output().unwrap();
    let mut stop = Command::new("wineserver");
    stop.arg("-k");
    wine_env(&mut stop, &prefix);
    let _ = stop.status();
    assert_eq!(listed.status.code(), Some(0), "{}", String::from_utf8_lossy(&listed.stderr));
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    // The namespace has only its loopback, 127.0.0.1 and ::1, named the way Npcap names
    // interfaces.
    let lines: Vec<Vec<&str>> = listed.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 1, "{listed}");
    assert!(lines[0][0].starts_with("\\Device\\NPF_{"), "{listed}");
    assert_eq!(lines[0][1], "lo");
    assert!(lines[0][2].contains("127.0.0.1"), "{listed}");
}
