//! The Spark job (`spark/tlsdiag_job.py`) in local mode on an archive of hosts' folders, each a
//! test capture cut into a rotated ring by `editcap -c`: its Parquet rows equal `tlsdiag analyze
//! --merge --format ndjson --all` over each folder (the same connections, verdicts and frames),
//! its findings, problems and server profiles equal `tlsdiag findings` over all those records
//! (and, for a server that only one host saw, one `analyze --merge` of that host), and damaged
//! files are rows of the errors table. One Spark run serves every assertion (it starts a JVM).
//!
//! Needs Java 17 and PySpark (scripts/install-deps.sh puts PySpark in target/spark-venv; another
//! Python with it: TLSDIAG_SPARK_PYTHON) and editcap; skipped without them, a failure under CI.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A Python that imports pyspark, or None (the test is then skipped or, under CI, fails).
fn spark_python() -> Option<PathBuf> {
    let candidate = std::env::var_os("TLSDIAG_SPARK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/spark-venv/bin/python"));
    let works = Command::new(&candidate).args(["-c", "import pyspark"]).output().is_ok_and(|o| o.status.success());
    if !works {
        skip(&format!(
            "{} cannot import pyspark (scripts/install-deps.sh installs it; or set TLSDIAG_SPARK_PYTHON)",
            candidate.display()
        ));
        return None;
    }
    Some(candidate)
}

/// Cuts `fixture` into parts of `packets` packets named as a ring in `dir`.
fn ring(fixture_name: &str, packets: u32, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let status = Command::new("editcap")
        .args(["-c", &packets.to_string()])
        .arg(fixture(fixture_name))
        .arg(dir.join("ring.pcap"))
        .status()
        .expect("run editcap");
    assert!(status.success(), "editcap -c {packets} {fixture_name}");
}

fn place(fixture_name: &str, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(fixture(fixture_name), dir.join(fixture_name)).unwrap();
}

/// Every row of one table the job dumped as JSON lines (`--dump-json`).
fn table(out: &Path, name: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(out.join("json").join(name)).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            rows.extend(text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()));
        }
    }
    rows
}

fn folder_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path().to_string_lossy().into_owned()).collect();
    files.sort();
    files
}

fn key(c: &Value) -> (String, u64, String) {
    (text(&c["file"]).to_string(), c["first_frame"].as_u64().unwrap_or(0), text(&c["client"]).to_string())
}

fn parsed(row: &Value, field: &str) -> Value {
    serde_json::from_str(row[field].as_str().unwrap()).unwrap()
}

#[test]
fn the_spark_job_equals_tlsdiag_on_every_host() {
    let Some(python) = spark_python() else { return };
    if !have_tool("java", &["-version"]) || !have_tool("editcap", &["-v"]) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("archive");
    // Hosts' folders, as a support team keeps them: rings cut by packet count, whole files beside.
    let web01 = archive.join("site-a/web01");
    ring("tls-one-server-many-clients.pcap", 20, &web01);
    place("tls12-crl-unreachable.pcap", &web01);
    let web02 = archive.join("site-a/web02");
    ring("tls-listener-overloaded.pcap", 15, &web02);
    let dhe01 = archive.join("site-b/dhe01");
    ring("tls12-dhe-intermittent.pcap", 100, &dhe01);
    place("tls12-resumption-refused-client-cert.pcap", &dhe01);
    let sql01 = archive.join("site-b/sql01");
    ring("tds-tls12-ok.pcap", 5, &sql01);
    place("tds-encryption-mismatch.pcap", &sql01);
    std::fs::write(sql01.join("broken.pcap"), b"this is no capture\n").unwrap();
    let whole = std::fs::read(fixture("tds-tls12-ok.pcap")).unwrap();
    std::fs::write(sql01.join("truncated.pcap"), &whole[..1000]).unwrap();
    let vpn01 = archive.join("vpn01");
    place("openvpn-tcp-ok.pcap", &vpn01);
    let hosts = [("web01", &web01), ("web02", &web02), ("dhe01", &dhe01), ("sql01", &sql01), ("vpn01", &vpn01)];

    let out = work.path().join("out");
    let started = std::time::Instant::now();
    // site-a's folders are read through the Hadoop file system as remote ones would be; the
    // others in place.
    let job = Command::new(&python)
        .arg(repo().join("spark/tlsdiag_job.py"))
        .args(["--master", "local[2]", "--tlsdiag", env!("CARGO_BIN_EXE_tlsdiag"), "--dump-json", "--copy", "site-a"])
        .arg("--out")
        .arg(&out)
        .arg(&archive)
        .output()
        .expect("run the Spark job");
    let stdout = String::from_utf8_lossy(&job.stdout);
    let stderr = String::from_utf8_lossy(&job.stderr);
    assert!(job.status.success(), "the job failed:\n{stdout}\n{stderr}");
    eprintln!("the Spark job took {:.1} s", started.elapsed().as_secs_f64());

    // Stage 1: the rows are the records of analyze --merge over each host's folder.
    let rows = table(&out, "connections");
    let mut expected = Vec::new();
    for (host, dir) in &hosts {
        let files = folder_files(dir);
        let mut args = vec!["analyze", "--merge", "--format", "ndjson", "--all"];
        args.extend(files.iter().map(String::as_str));
        let run = tlsdiag(&args);
        assert_eq!(run.code, if *host == "sql01" { 2 } else { 0 }, "{host}: {}", run.stderr);
        expected.extend(run.stdout.lines().map(|l| (host.to_string(), serde_json::from_str::<Value>(l).unwrap())));
    }
    assert_eq!(rows.len(), expected.len(), "one row per connection");
    let mut by_key: BTreeMap<_, _> = rows.iter().map(|r| (key(&parsed(r, "record")), r)).collect();
    for (host, record) in &expected {
        let row = by_key.remove(&key(record)).unwrap_or_else(|| panic!("no row for {:?}", key(record)));
        assert_eq!(&parsed(row, "record"), record, "the record of {:?}", key(record));
        assert_eq!(row["host"], host.as_str());
        // The flattened columns say what the record says.
        let v = &record["verdict"];
        assert_eq!(row["verdict_code"], v["code"]);
        assert_eq!(row["verdict_side"], v["side"]);
        assert_eq!(row["verdict_confidence"], v["confidence"]);
        let frames: Vec<Value> = list(&v["evidence"]).iter().map(|e| e["frame"].clone()).collect();
        assert_eq!(list(&row["evidence_frames"]), frames.as_slice());
        assert_eq!(row["first_frame"], record["first_frame"]);
        assert_eq!(row["last_frame"], record["last_frame"]);
        assert_eq!(row["client"], record["client"]);
        assert_eq!(row["server"], record["server"]);
        let start = text(&record["start"]);
        assert_eq!(text(&row["start"])[..19], start[..19], "start as a timestamp");
        assert_eq!(row["capture_date"], &start[..10]);
        assert!(out.join("connections").join(format!("capture_date={}", &start[..10])).is_dir());
        let sni = &record["tls"]["client_hello"]["sni"];
        assert_eq!(row["sni"], *sni);
        assert_eq!(row["ja4"], record["tls"]["client_hello"]["ja4"]);
    }
    // The ring cut into parts still gives whole connections: the one-server-many-clients
    // capture holds 10 TCP connections (tshark -z conv,tcp), the CRL capture 2.
    let web01_rows: Vec<&Value> = rows.iter().filter(|r| r["host"] == "web01").collect();
    assert_eq!(web01_rows.len(), 10 + 2, "10 connections of the ring, 2 of the CRL capture");

    // Stage 2: findings per server over all records equal `tlsdiag findings` over them.
    let all: String = expected.iter().map(|(_, r)| format!("{r}\n")).collect();
    let whole_run = tlsdiag_with_stdin(&["findings", "--format", "json", "--all"], all.as_bytes());
    assert_eq!(whole_run.code, 0, "{}", whole_run.stderr);
    let whole: Value = serde_json::from_str(&whole_run.stdout).unwrap();
    let sorted = |mut v: Vec<Value>, k: &dyn Fn(&Value) -> String| {
        v.sort_by_key(|x| k(x));
        v
    };
    let by_server = |v: &Value| text(&v["server"]).to_string();
    let by_problem = |v: &Value| format!("{}|{}|{}", text(&v["server"]), text(&v["code"]), text(&v["cause"]));
    let servers: Vec<Value> = table(&out, "servers").iter().map(|r| parsed(r, "json")).collect();
    assert_eq!(sorted(servers.clone(), &by_server), sorted(list(&whole["servers"]).to_vec(), &by_server));
    let problems: Vec<Value> = table(&out, "problems").iter().map(|r| parsed(r, "json")).collect();
    assert_eq!(sorted(problems, &by_problem), sorted(list(&whole["problems"]).to_vec(), &by_problem));
    let sharpened: Vec<Value> =
        list(&whole["connections"]).iter().filter(|c| !c["unsharpened_verdict"].is_null()).cloned().collect();
    let verdicts: Vec<Value> = table(&out, "verdicts").iter().map(|r| parsed(r, "record")).collect();
    let by_conn = |v: &Value| format!("{:?}", key(v));
    assert_eq!(sorted(verdicts, &by_conn), sorted(sharpened, &by_conn));

    // Each kind of finding came out, where one analyze --merge of its host puts it.
    let findings = table(&out, "findings");
    let codes: Vec<(&str, &str)> = findings.iter().map(|f| (text(&f["server"]), text(&f["code"]))).collect();
    assert!(codes.contains(&("127.0.0.1:4434", "listener_overloaded")), "{codes:?}");
    assert!(codes.iter().any(|(_, c)| *c == "intermittent_handshake_failure"), "{codes:?}");
    assert!(codes.iter().any(|(_, c)| *c == "resumption_fallback_certificate_request"), "{codes:?}");
    // Servers that one host alone saw: the same profile as that host's own analyze --merge.
    let mut seen_by: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (host, record) in &expected {
        seen_by.entry(text(&record["server"]).to_string()).or_default().push(host);
    }
    let mut compared = 0;
    for (host, dir) in &hosts {
        let files = folder_files(dir);
        let mut args = vec!["analyze", "--merge", "--format", "json", "--all"];
        args.extend(files.iter().map(String::as_str));
        let doc: Value = serde_json::from_str(&tlsdiag(&args).stdout).unwrap();
        for profile in list(&doc["servers"]) {
            let server = text(&profile["server"]);
            if seen_by[server].iter().all(|h| h == host) {
                let spark = servers.iter().find(|s| s["server"] == server).expect("the server's profile");
                assert_eq!(spark, profile, "{server} seen by {host} only");
                compared += 1;
            }
        }
    }
    assert!(compared >= 3, "only {compared} servers seen by one host");
    // The revocation check crossed server addresses: the client's failed CRL fetch to
    // 127.0.0.2:80 explains its rejection of 127.0.0.1:4433's certificate (tests/fixtures.rs).
    let verdict_rows = table(&out, "verdicts");
    let revocation = verdict_rows
        .iter()
        .find(|v| v["verdict_code"] == "certificate_rejected" && v["host"] == "web01")
        .expect("the CRL rejection among the sharpened verdicts");
    assert_eq!(revocation["verdict_side"], "network");
    assert!(text(&revocation["verdict_explanation"]).contains("revocation"));

    // Damaged files are rows of the errors table, each with its own message; the job went on.
    let errors = table(&out, "errors");
    let broken = sql01.join("broken.pcap");
    let truncated = sql01.join("truncated.pcap");
    let error_of = |path: &Path| {
        errors
            .iter()
            .find(|e| e["file"] == path.to_str().unwrap())
            .unwrap_or_else(|| panic!("{} not in the errors table: {errors:?}", path.display()))
    };
    assert!(text(&error_of(&broken)["message"]).contains("not a capture file"), "{errors:?}");
    assert!(text(&error_of(&truncated)["message"]).contains("cut short"), "{errors:?}");
    assert_eq!(error_of(&broken)["host"], "sql01");
    assert_eq!(errors.len(), 2, "{errors:?}");
    // The summary at the end, like the table report's.
    assert!(stdout.contains("problem(s)") && stdout.contains("2 error(s)"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "5 folder(s), {} file(s)",
            hosts.iter().map(|(_, d)| folder_files(d).len()).sum::<usize>()
        )),
        "{stdout}"
    );
}

#[test]
fn a_task_that_crashes_is_retried_and_a_folder_that_keeps_crashing_is_named() {
    let Some(python) = spark_python() else { return };
    if !have_tool("java", &["-version"]) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("archive");
    place("tls12-resumed.pcap", &archive.join("ok01"));
    place("tds-tls12-ok.pcap", &archive.join("flaky01"));
    place("openvpn-tcp-ok.pcap", &archive.join("crash01"));
    // No tlsdiag crashes on purpose: a stand-in named tlsdiag is killed by SIGKILL, as a crash
    // or the kernel's OOM killer would end it, on crash01's folder every time and on
    // flaky01's the first time; otherwise it runs the real binary.
    let bin = work.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let marks = work.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let script = format!(
        "#!/bin/sh\ncase \"$*\" in\n  *crash01*) echo attempt >> '{m}/crash01'; kill -KILL $$ ;;\n  *flaky01*) if [ ! -e '{m}/flaky01' ]; then : > '{m}/flaky01'; kill -KILL $$; fi ;;\nesac\nexec '{real}' \"$@\"\n",
        m = marks.display(),
        real = env!("CARGO_BIN_EXE_tlsdiag")
    );
    let stand_in = bin.join("tlsdiag");
    std::fs::write(&stand_in, script).unwrap();
    std::fs::set_permissions(&stand_in, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    let out = work.path().join("out");
    // local[2,3]: two threads, three attempts per task, as a cluster's spark.task.maxFailures.
    let job = Command::new(&python)
        .arg(repo().join("spark/tlsdiag_job.py"))
        .args(["--master", "local[2,3]", "--tlsdiag"])
        .arg(&stand_in)
        .args(["--dump-json", "--out"])
        .arg(&out)
        .arg(&archive)
        .output()
        .expect("run the Spark job");
    let stderr = String::from_utf8_lossy(&job.stderr);
    assert!(job.status.success(), "the job failed:\n{stderr}");

    // crash01 was tried three times, then named with the signal that ended it.
    let attempts = std::fs::read_to_string(marks.join("crash01")).unwrap();
    assert_eq!(attempts.lines().count(), 3, "crash01 attempts");
    let errors = table(&out, "errors");
    let crashed: Vec<&Value> = errors.iter().filter(|e| text(&e["file"]).contains("crash01")).collect();
    assert_eq!(crashed.len(), 1, "{errors:?}");
    assert!(text(&crashed[0]["message"]).contains("tlsdiag exited with -9 in 3 attempt(s)"), "{errors:?}");
    assert_eq!(errors.len(), 1, "only crash01 is an error: {errors:?}");

    // flaky01's first attempt was killed; its second and ok01 gave their connections, as
    // tlsdiag does.
    assert!(marks.join("flaky01").exists(), "flaky01 never crashed");
    let rows = table(&out, "connections");
    for (host, fixture_name) in [("ok01", "tls12-resumed.pcap"), ("flaky01", "tds-tls12-ok.pcap")] {
        let expected = connections(&fixture(fixture_name)).len();
        let got = rows.iter().filter(|r| r["host"] == host).count();
        assert_eq!(got, expected, "{host}: rows");
    }
    assert!(rows.iter().all(|r| r["host"] != "crash01"), "no rows from a folder that never finished");
}
