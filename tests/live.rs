//! Live capture on loopback in a network namespace (needs root, iproute2 and openssl, as in
//! CI): verdicts stream out while the capture runs, match `analyze` on the saved file, and
//! signals and bad arguments end it cleanly.
#![cfg(feature = "live")]

mod common;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A throwaway network namespace, deleted with everything running in it.
struct Namespace(String);

impl Namespace {
    fn new(test: &str) -> Option<Namespace> {
        let is_root = Command::new("id").arg("-u").output().ok()?.stdout.starts_with(b"0\n");
        let name = format!("tlsdiag-{test}-{}", std::process::id());
        if !is_root || !Command::new("ip").args(["netns", "add", &name]).status().ok()?.success() {
            common::skip("live capture needs root and network namespaces (ip netns)");
            return None;
        }
        Command::new("ip").args(["-n", &name, "link", "set", "lo", "up"]).status().ok()?;
        Some(Namespace(name))
    }
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, program]);
        c
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let pids = Command::new("ip").args(["netns", "pids", &self.0]).output();
        if let Ok(out) = pids {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").arg(pid).status();
            }
        }
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// An OpenSSL server on 4433 offering only ECDHE-RSA-AES128-GCM-SHA256 and TLS_AES_128_GCM_SHA256.
fn start_server(ns: &Namespace, dir: &std::path::Path) -> Child {
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=live.test"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let server = ns
        .command("timeout")
        .args(["20", "openssl", "s_server", "-accept", "4433", "-quiet", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"])
        .args(["-ciphersuites", "TLS_AES_128_GCM_SHA256", "-cert"])
        .arg(dir.join("cert.pem"))
        .arg("-key")
        .arg(dir.join("key.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    server
}

fn client(ns: &Namespace, args: &[&str]) {
    let mut c = ns
        .command("timeout")
        .args(["5", "openssl", "s_client", "-connect", "127.0.0.1:4433"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(c.stdin.take());
    let _ = c.wait();
}

#[test]
fn verdicts_stream_while_capturing_and_match_the_saved_file() {
    let Some(ns) = Namespace::new("stream") else { return };
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("live.pcapng");
    let mut live = ns
        .command(env!("CARGO_BIN_EXE_tlsdiag"))
        .args(["live", "-i", "lo", "--format", "ndjson", "--duration", "6", "--status-every", "0", "--write"])
        .arg(&saved)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = live.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .map(|l| (Instant::now(), serde_json::from_str::<Value>(&l).unwrap()))
            .collect::<Vec<_>>()
    });
    std::thread::sleep(Duration::from_millis(1500));
    let mut server = start_server(&ns, dir.path());
    client(&ns, &["-tls1_3"]);
    client(&ns, &["-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384"]);
    let status = live.wait().unwrap();
    let ended = Instant::now();
    let _ = server.kill();
    let _ = server.wait();
    assert!(status.success());
    let streamed = reader.join().unwrap();
    let codes: Vec<&str> = streamed.iter().map(|(_, c)| c["verdict"]["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["ok", "cipher_mismatch"]);
    // Both arrived while the capture was still running, seconds before it ended.
    for (arrived, _) in &streamed {
        assert!(ended.duration_since(*arrived) > Duration::from_secs(1), "a verdict came only at the end");
    }
    // The saved capture gives the same verdicts on the same frames.
    let offline = common::connections(&saved);
    let offline: Vec<(&str, Vec<u64>)> =
        offline.iter().map(|c| (c["verdict"]["code"].as_str().unwrap(), common::evidence_frames(c))).collect();
    let online: Vec<(&str, Vec<u64>)> =
        streamed.iter().map(|(_, c)| (c["verdict"]["code"].as_str().unwrap(), common::evidence_frames(c))).collect();
    assert_eq!(offline, online);
}

#[test]
fn sigterm_ends_the_capture_with_a_summary_and_exit_0() {
    let Some(ns) = Namespace::new("sigterm") else { return };
    let live = ns
        .command(env!("CARGO_BIN_EXE_tlsdiag"))
        .args(["live", "-i", "lo", "--status-every", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    // `ip netns exec` runs tlsdiag as its own child; signal tlsdiag itself.
    let _ = Command::new("pkill").args(["-TERM", "-f", "tlsdiag live -i lo --status-every 0"]).status();
    let out = live.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("0 connection(s)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn unknown_interface_and_bad_filter_are_named() {
    let Some(ns) = Namespace::new("errors") else { return };
    let out =
        ns.command(env!("CARGO_BIN_EXE_tlsdiag")).args(["live", "-i", "nosuch0", "--duration", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no such interface: nosuch0"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = ns
        .command(env!("CARGO_BIN_EXE_tlsdiag"))
        .args(["live", "-i", "lo", "-f", "tcp port banana", "--duration", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad filter expression 'tcp port banana'"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
