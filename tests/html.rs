//! The HTML report opened in a real browser: headless chromium driven over the DevTools
//! protocol. After the page's script ran, the DOM must hold the run's problems, servers and
//! connections; filters, sorting, the ladder diagram and the copy button must work; nothing
//! may be fetched from the network and no script error may occur.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

/// Inputs with several problems at once: two refused suites, a refused certificate, a closed
/// port, a TDS encryption mismatch, a version refused, an intermittent failure.
fn inputs() -> Vec<PathBuf> {
    vec![
        repo().join("samples/handshakes.pcap"),
        fixture("tls-one-server-many-clients.pcap"),
        fixture("tls12-cert-expired.pcap"),
        fixture("tds-encryption-mismatch.pcap"),
    ]
}

/// Writes the HTML report of `files` into `dir` and returns it with the JSON document of the
/// same run (the reference for what the page must show).
fn report(dir: &Path, files: &[PathBuf], extra: &[&str]) -> (PathBuf, Value) {
    let names: Vec<&str> = files.iter().map(|p| p.to_str().unwrap()).collect();
    let page = dir.join("report.html");
    let mut args = vec!["analyze", "--format", "json", "--html", page.to_str().unwrap()];
    args.extend(extra);
    args.extend(&names);
    let run = tlsdiag(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    (page, serde_json::from_str(&run.stdout).expect("JSON document"))
}

/// A headless chromium with one page, spoken to over the DevTools protocol.
struct Browser {
    child: Child,
    socket: WebSocket<TcpStream>,
    next_id: u64,
    /// The page's session; commands without one go to the browser.
    session: Option<String>,
    /// Protocol events received so far (exceptions, console messages, requests).
    events: Vec<Value>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromium; None (a skip, or a failure under CI) when it is not installed.
    fn start() -> Option<Browser> {
        if !have_tool("chromium", &["--version"]) {
            return None;
        }
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--remote-debugging-port=0",
                "--window-size=1400,1000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        // Chromium says where it listens on stderr; the rest of stderr is drained so it never
        // blocks on a full pipe.
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("ws://") {
                    let _ = tx.send(line[at..].trim().to_string());
                }
            }
        });
        let browser_url = rx.recv_timeout(Duration::from_secs(60)).expect("chromium's DevTools address");
        let host = browser_url.trim_start_matches("ws://").split('/').next().unwrap().to_string();
        let stream = TcpStream::connect(host).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let (socket, _) = tungstenite::client(browser_url.as_str(), stream).expect("DevTools WebSocket");
        let mut browser = Browser { child, socket, next_id: 1, session: None, events: Vec::new(), _profile: profile };
        // One page of our own, its commands sent through a flat session of the browser socket.
        let target = browser.call("Target.createTarget", json!({"url": "about:blank"}));
        let attached = browser.call("Target.attachToTarget", json!({"targetId": target["targetId"], "flatten": true}));
        browser.session = Some(attached["sessionId"].as_str().expect("session id").to_string());
        for domain in ["Runtime", "Log", "Network", "Page"] {
            browser.call(&format!("{domain}.enable"), json!({}));
        }
        Some(browser)
    }

    /// Sends one command and returns its result, keeping the events that arrive meanwhile.
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut command = json!({"id": id, "method": method, "params": params});
        if let Some(session) = &self.session {
            command["sessionId"] = json!(session);
        }
        let text = command.to_string();
        self.socket.send(Message::text(text)).expect("send to chromium");
        loop {
            let message = self.socket.read().expect("read from chromium");
            let Ok(text) = message.to_text() else { continue };
            let value: Value = serde_json::from_str(text).expect("DevTools JSON");
            if value["id"] == id {
                assert!(value["error"].is_null(), "{method}: {}", value["error"]);
                return value["result"].clone();
            }
            self.events.push(value);
        }
    }

    /// Evaluates a script expression in the page (awaiting a promise) and returns its value.
    fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call("Runtime.evaluate", json!({"expression": expression, "returnByValue": true, "awaitPromise": true}));
        assert!(result["exceptionDetails"].is_null(), "{expression}: {}", result["exceptionDetails"]);
        result["result"]["value"].clone()
    }

    /// Opens a page and waits until its script has finished (body[data-ready]).
    fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        let start = Instant::now();
        while self.eval("document.body && document.body.dataset.ready === '1'") != json!(true) {
            assert!(start.elapsed() < Duration::from_secs(60), "the report did not finish loading");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Script exceptions, console errors and log errors seen so far.
    fn errors(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| {
                e["method"] == "Runtime.exceptionThrown"
                    || (e["method"] == "Runtime.consoleAPICalled" && e["params"]["type"] == "error")
                    || (e["method"] == "Log.entryAdded" && e["params"]["entry"]["level"] == "error")
            })
            .map(|e| e.to_string())
            .collect()
    }

    /// URLs the page requested other than itself.
    fn requests_beyond(&self, page: &str) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["method"] == "Network.requestWillBeSent")
            .filter_map(|e| e["params"]["request"]["url"].as_str())
            .filter(|url| !url.starts_with(page) && *url != "about:blank")
            .map(String::from)
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.canonicalize().unwrap().display())
}

fn failing(doc: &Value) -> Vec<&Value> {
    let failure_codes =
        ["ok", "ok_resumed", "incomplete_capture", "not_tls", "tds_unencrypted", "abandoned", "closed_after_handshake"];
    list(&doc["connections"])
        .iter()
        .filter(|c| !failure_codes.contains(&c["verdict"]["code"].as_str().unwrap()))
        .collect()
}

#[test]
fn the_page_shows_the_runs_problems_servers_and_failing_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (page, doc) = report(dir.path(), &inputs(), &[]);
    let Some(mut browser) = Browser::start() else { return };
    let url = file_url(&page);
    browser.open(&url);

    let expected: Vec<String> = list(&doc["problems"])
        .iter()
        .enumerate()
        .map(|(k, p)| format!("{}. {} at {}", k + 1, p["code"].as_str().unwrap(), p["server"].as_str().unwrap()))
        .collect();
    assert!(expected.len() >= 5, "the inputs should have several problems: {expected:?}");
    let shown = browser.eval("Array.from(document.querySelectorAll('.problem h3')).map(h => h.textContent)");
    assert_eq!(shown, json!(expected));
    // Each problem's filter, as the JSON has it, with a copy button beside it.
    let filters =
        browser.eval("Array.from(document.querySelectorAll('.problem .filter code')).map(c => c.textContent)");
    let expected_filters: Vec<&str> =
        list(&doc["problems"]).iter().map(|p| p["wireshark_filter"].as_str().unwrap()).collect();
    assert_eq!(filters, json!(expected_filters));

    let mut servers: Vec<&str> = list(&doc["servers"]).iter().map(|s| s["server"].as_str().unwrap()).collect();
    servers.sort();
    let shown = browser.eval("Array.from(document.querySelectorAll('.server')).map(s => s.dataset.server).sort()");
    assert_eq!(shown, json!(servers));
    assert_eq!(browser.eval("document.querySelectorAll('canvas.timeline').length"), json!(servers.len()));

    // The table opens on the failing connections.
    let total = list(&doc["connections"]).len();
    let failures = failing(&doc).len();
    assert_eq!(
        browser.eval("document.getElementById('f-count').textContent"),
        json!(format!("{failures} of {total} shown"))
    );
    let rows = browser.eval("Array.from(document.querySelectorAll('.row.conn')).map(r => r.lastChild.className)");
    assert_eq!(rows.as_array().unwrap().len(), failures);
    assert!(rows.as_array().unwrap().iter().all(|class| class == "verdict fail"), "{rows}");

    assert!(browser.errors().is_empty(), "script errors: {:?}", browser.errors());
    assert!(browser.requests_beyond(&url).is_empty(), "the page fetched: {:?}", browser.requests_beyond(&url));
}

/// Frames of a display filter's matches, as tshark numbers them.
fn tshark_frames(path: &Path, filter: &str) -> Vec<u64> {
    let out = Command::new("tshark")
        .args(["-n", "-r", path.to_str().unwrap(), "-Y", filter, "-T", "fields", "-e", "frame.number"])
        .output()
        .expect("run tshark");
    assert!(out.status.success(), "tshark -Y {filter}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| l.trim().parse().unwrap()).collect()
}

#[test]
fn filters_sorting_the_ladder_and_the_copy_button_work() {
    if !has_tshark() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (page, doc) = report(dir.path(), &inputs(), &[]);
    let Some(mut browser) = Browser::start() else { return };
    let url = file_url(&page);
    browser.open(&url);
    let conns = list(&doc["connections"]);

    // Verdict filter, through the select element as a user changes it.
    let mismatches = conns.iter().filter(|c| c["verdict"]["code"] == "cipher_mismatch").count();
    assert!(mismatches >= 2);
    let count = browser.eval(
        "(() => { const s = document.getElementById('f-verdict'); s.value = 'cipher_mismatch';
           s.dispatchEvent(new Event('change')); return document.getElementById('f-count').textContent; })()",
    );
    assert_eq!(count, json!(format!("{mismatches} of {} shown", conns.len())));
    // Every verdict, then the SNI typed in.
    let sni = "www.example.test";
    let with_sni = conns.iter().filter(|c| c["tls"]["client_hello"]["sni"] == sni).count();
    let count = browser.eval(&format!(
        "(() => {{ const s = document.getElementById('f-verdict'); s.value = ''; s.dispatchEvent(new Event('change'));
           const t = document.getElementById('f-sni'); t.value = '{sni}'; t.dispatchEvent(new Event('input'));
           return document.getElementById('f-count').textContent; }})()"
    ));
    assert_eq!(count, json!(format!("{with_sni} of {} shown", conns.len())));
    assert!(with_sni > 0 && with_sni < conns.len());

    // Sorting: the frame column clicked twice lists the highest first frame first.
    browser.eval("document.getElementById('f-sni').value = ''; document.getElementById('f-sni').dispatchEvent(new Event('input'))");
    browser
        .eval("document.querySelector('#table-head span').click(); document.querySelector('#table-head span').click()");
    let highest = conns.iter().map(|c| c["first_frame"].as_u64().unwrap()).max().unwrap();
    assert_eq!(browser.eval("document.querySelector('.row.conn span').textContent"), json!(highest.to_string()));

    // The ladder of the connection refused with a fatal alert in the sample: opened by clicking
    // its row; the ClientHello and the alert are where tshark sees them.
    let sample = repo().join("samples/handshakes.pcap");
    let (index, conn) = conns
        .iter()
        .enumerate()
        .find(|(_, c)| c["file"] == sample.to_str().unwrap() && c["verdict"]["code"] == "cipher_mismatch")
        .expect("a refused connection in the sample");
    let filter = conn["wireshark_filter"].as_str().unwrap();
    browser.eval("(() => { const s = document.getElementById('f-verdict'); s.value = ''; s.dispatchEvent(new Event('change')); })()");
    browser.eval(&format!(
        "(() => {{ const body = document.getElementById('table-body');
           body.scrollTop = 0; document.querySelector('.row.conn[data-index=\"{index}\"]').click(); }})()"
    ));
    assert_eq!(browser.eval("document.getElementById('detail-section').dataset.index"), json!(index.to_string()));
    let rungs = browser.eval(
        "Array.from(document.querySelectorAll('#detail svg g.rung')).map(g => [Number(g.dataset.frame), g.lastChild.textContent])",
    );
    let frame_of = |label: &str| -> u64 {
        rungs.as_array().unwrap().iter().find(|r| r[1] == label).unwrap_or_else(|| panic!("no {label} in {rungs}"))[0]
            .as_u64()
            .unwrap()
    };
    assert_eq!(
        vec![frame_of("ClientHello")],
        tshark_frames(&sample, &format!("({filter}) and tls.handshake.type == 1"))
    );
    assert_eq!(
        vec![frame_of("alert fatal handshake_failure")],
        tshark_frames(&sample, &format!("({filter}) and tls.alert_message.desc == 40"))
    );
    assert_eq!(
        vec![frame_of("SYN")],
        tshark_frames(&sample, &format!("({filter}) and tcp.flags.syn == 1 and tcp.flags.ack == 0"))
    );
    // The server ended it: its fatal alert comes before any FIN.
    assert_eq!(
        browser.eval("document.querySelector('#detail svg text.ended').textContent"),
        json!(format!(
            "ended by the server: alert fatal handshake_failure in frame {}",
            frame_of("alert fatal handshake_failure")
        ))
    );
    // The verdict's evidence frames are the highlighted rungs.
    let highlighted = browser.eval(
        "Array.from(new Set(Array.from(document.querySelectorAll('#detail svg g.rung.evidence')).map(g => Number(g.dataset.frame))))",
    );
    let mut evidence = evidence_frames(conn);
    evidence.sort();
    evidence.dedup();
    assert_eq!(highlighted, json!(evidence));

    // The copy button copies the connection's filter (with the clipboard refused to a file://
    // page, through the fallback).
    let copied = browser.eval(
        "new Promise(done => { const b = document.querySelector('#detail button.copy'); b.click();
           setTimeout(() => done(b.dataset.copied), 500); })",
    );
    assert_eq!(copied, json!(filter));
    // The state is in the URL: reopening it shows the same connection.
    let hash = browser.eval("location.hash");
    browser.open(&format!("{url}{}", hash.as_str().unwrap()));
    assert_eq!(browser.eval("document.getElementById('detail-section').dataset.index"), json!(index.to_string()));

    assert!(browser.errors().is_empty(), "script errors: {:?}", browser.errors());
}

#[test]
fn only_the_rows_in_view_are_in_the_page() {
    // 40 connections of one server, every one listed: the table holds a window of rows, and
    // scrolling to the end shows the last ones.
    let dir = tempfile::tempdir().unwrap();
    let (page, doc) = report(dir.path(), &[fixture("tls12-dhe-intermittent.pcap")], &[]);
    let Some(mut browser) = Browser::start() else { return };
    browser.open(&format!("{}#verdict=all", file_url(&page)));
    let total = list(&doc["connections"]).len();
    assert!(total >= 40);
    let rendered = browser.eval("document.querySelectorAll('.row.conn').length").as_u64().unwrap() as usize;
    assert!(rendered < total && rendered >= 10, "{rendered} rows in the DOM for {total} connections");
    let last_frame = list(&doc["connections"]).last().unwrap()["first_frame"].as_u64().unwrap();
    let frames = browser.eval(
        "new Promise(done => { const body = document.getElementById('table-body');
           body.scrollTop = body.scrollHeight; body.dispatchEvent(new Event('scroll'));
           setTimeout(() => done(Array.from(document.querySelectorAll('.row.conn span:first-child')).map(s => Number(s.textContent))), 100); })",
    );
    assert_eq!(frames.as_array().unwrap().last().unwrap(), &json!(last_frame));
    assert!(browser.errors().is_empty(), "script errors: {:?}", browser.errors());
}

#[test]
fn the_whole_public_corpus_makes_a_page_without_script_errors() {
    // Hundreds of problems and servers from captures written by others: the page opens on the
    // first ones, a button shows the rest, and no capture's content breaks the script.
    if !has_corpus() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("corpus.html");
    let corpus = repo().join("../shared/corpus");
    let run = tlsdiag(&["analyze", "--html", page.to_str().unwrap(), "--format", "json", corpus.to_str().unwrap()]);
    let doc: Value = serde_json::from_str(&run.stdout).expect("JSON document");
    let problems = list(&doc["problems"]).len();
    assert!(problems > 20, "{problems} problems");
    let Some(mut browser) = Browser::start() else { return };
    browser.open(&file_url(&page));
    assert_eq!(browser.eval("document.querySelectorAll('.problem').length"), json!(20));
    let shown = browser.eval(
        "(() => { document.querySelector('#problems button.more').click(); return document.querySelectorAll('.problem').length; })()",
    );
    assert_eq!(shown, json!(problems));
    let servers = list(&doc["servers"]).len();
    let shown = browser.eval(
        "(() => { const more = document.querySelector('#servers button.more'); if (more) more.click();
           return document.querySelectorAll('.server').length; })()",
    );
    assert_eq!(shown, json!(servers));
    assert!(browser.errors().is_empty(), "script errors: {:?}", browser.errors());
}

/// The data a page embeds (its `#report-data` element).
fn page_data(page: &str) -> Value {
    let start = page.find(r#"id="report-data">"#).expect("data element") + r#"id="report-data">"#.len();
    let end = start + page[start..].find("</script>").unwrap();
    serde_json::from_str(&page[start..end]).expect("page data")
}

#[test]
fn a_page_from_records_read_back_shows_the_same_ladders_without_inventing_times() {
    // `tlsdiag findings` reads NDJSON, which keeps the frames of handshake messages but not
    // their times: the ladder has the same rungs, with the times it cannot know left out.
    let sample = repo().join("samples/handshakes.pcap");
    let direct = tlsdiag(&["analyze", "--format", "html", sample.to_str().unwrap()]);
    let records = tlsdiag(&["analyze", "--format", "ndjson", sample.to_str().unwrap()]);
    let read_back = tlsdiag_with_stdin(&["findings", "--format", "html", "-"], records.stdout.as_bytes());
    assert_eq!(read_back.code, 0, "{}", read_back.stderr);
    let (a, b) = (page_data(&direct.stdout), page_data(&read_back.stdout));
    let ladders = |d: &Value| -> Vec<Vec<i64>> {
        list(&d["connections"]["detail"])
            .iter()
            .map(|detail| serde_json::from_value(detail[6].clone()).unwrap())
            .collect()
    };
    let (direct_ladders, read_ladders) = (ladders(&a), ladders(&b));
    assert_eq!(direct_ladders.len(), read_ladders.len());
    for (x, y) in direct_ladders.iter().zip(&read_ladders) {
        let frames = |l: &[i64]| l.chunks(4).map(|r| r[0]).collect::<Vec<_>>();
        assert_eq!(frames(x), frames(y));
        // A time is either the one the capture gives or unknown (-1), never made up.
        for (r, s) in x.chunks(4).zip(y.chunks(4)) {
            assert!(s[1] == r[1] || s[1] == -1, "{r:?} read back as {s:?}");
        }
    }
}
