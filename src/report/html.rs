//! `--format html` and `--html FILE`: one self-contained page to look at. The page is a static
//! shell (html/page.html with its style and script, inlined) and the run's data as one JSON
//! object in a `<script type="application/json">` element: nothing is fetched when it is viewed.
//!
//! Connections are embedded by column, their repeated strings (servers, verdicts, suites,
//! explanations, certificate chains) once each in a string table, so 100,000 connections stay a
//! few tens of megabytes; the script renders only the table rows in view.

use super::{is_shown, Reporter};
use crate::across::Conclusions;
use crate::capture::Nanos;
use crate::proto::facts::{Role, Seen};
use crate::proto::values::{joined, TlsVersion};
use crate::record::Connection;
use crate::summary::{totals, FileSummary};
use serde::Serialize;
use std::collections::HashMap;
use std::io::{self, Write};

const PAGE: &str = include_str!("html/page.html");
const STYLE: &str = include_str!("html/report.css");
const SCRIPT: &str = include_str!("html/report.js");

pub struct HtmlReporter {
    out: Box<dyn Write>,
    all: bool,
    /// Connections become rows as they arrive: a settled connection leaves only its row
    /// behind (a few hundred bytes), not its whole record.
    strings: Strings,
    columns: Columns,
}

impl HtmlReporter {
    pub fn new(out: Box<dyn Write>, all: bool) -> Self {
        HtmlReporter { out, all, strings: Strings::new(), columns: Columns::default() }
    }
}

impl Reporter for HtmlReporter {
    fn connection(&mut self, conn: Connection) -> io::Result<()> {
        if is_shown(&conn, self.all) {
            self.columns.push(&conn, &mut self.strings);
        }
        Ok(())
    }

    fn finish(&mut self, files: &[FileSummary], profiles: &Conclusions) -> io::Result<()> {
        let mut columns = std::mem::take(&mut self.columns);
        let origin = columns.in_capture_order(files, &self.strings);
        let data = PageData {
            tool: concat!("tlsdiag ", env!("CARGO_PKG_VERSION")),
            origin: crate::time::rfc3339_nanos(origin.saturating_mul(1000)),
            span: columns.start.iter().zip(&columns.duration).map(|(s, d)| s + d).max().unwrap_or(0),
            files,
            totals: totals(files),
            problems: profiles.problems(),
            servers: profiles.servers().collect(),
            failure_codes: crate::verdict::Code::ALL.iter().copied().filter(|c| c.is_failure()).collect(),
            strings: &self.strings,
            connections: columns,
        };
        let json = escape_lt(&serde_json::to_vec(&data)?);
        let (head, tail) = PAGE.split_once("{{DATA}}").expect("page.html has a {{DATA}} slot");
        let head = head.replace("{{STYLE}}", STYLE).replace("{{TITLE}}", &title(files));
        let tail = tail.replace("{{SCRIPT}}", SCRIPT);
        self.out.write_all(head.as_bytes())?;
        self.out.write_all(&json)?;
        self.out.write_all(tail.as_bytes())?;
        self.out.flush()
    }
}

/// Inside a <script> element "</script>" or "<!--" in a string would end or change it; `<`
/// only occurs inside JSON strings, where \u003c means the same.
fn escape_lt(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() + json.len() / 64);
    for &b in json {
        if b == b'<' {
            out.extend_from_slice(b"\\u003c");
        } else {
            out.push(b);
        }
    }
    out
}

/// "tlsdiag: capture.pcapng" (HTML-escaped), or the count of inputs.
fn title(files: &[FileSummary]) -> String {
    let name = match files {
        [one] => one.path.clone(),
        _ => format!("{} inputs", files.len()),
    };
    format!("tlsdiag: {}", name.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;"))
}

/// Strings that repeat across connections, each stored once; the columns hold their index.
#[derive(Default, Serialize)]
#[serde(transparent)]
struct Strings {
    list: Vec<String>,
    #[serde(skip)]
    index: HashMap<String, u32>,
}

impl Strings {
    fn new() -> Self {
        let mut s = Strings::default();
        s.id(""); // index 0: nothing
        s
    }
    fn id(&mut self, text: &str) -> u32 {
        if let Some(&i) = self.index.get(text) {
            return i;
        }
        let i = self.list.len() as u32;
        self.list.push(text.to_string());
        self.index.insert(text.to_string(), i);
        i
    }
}

/// Everything the page shows. Times are microseconds after the earliest connection's start.
#[derive(Serialize)]
struct PageData<'a> {
    tool: &'static str,
    /// Earliest connection start, RFC 3339.
    origin: String,
    /// Capture span in microseconds (last connection end after `origin`).
    span: i64,
    files: &'a [FileSummary],
    totals: crate::summary::Totals,
    problems: &'a [crate::across::problems::Problem],
    servers: Vec<&'a crate::across::profile::ServerProfile>,
    /// Verdict codes that are failures (the rest are shown as successes or neutral).
    failure_codes: Vec<crate::verdict::Code>,
    strings: &'a Strings,
    connections: Columns,
}

/// One array per field, one entry per connection (string fields as indexes into `strings`).
#[derive(Default, Serialize)]
struct Columns {
    file: Vec<u32>,
    client: Vec<u32>,
    server: Vec<u32>,
    first_frame: Vec<u64>,
    start: Vec<i64>,
    duration: Vec<i64>,
    code: Vec<u32>,
    side: Vec<u32>,
    confidence: Vec<u32>,
    sni: Vec<u32>,
    version: Vec<u32>,
    suite: Vec<u32>,
    ja4: Vec<u32>,
    /// Per connection: [explanation, fix, risks, offered, chain, evidence frames, ladder], see
    /// `detail`.
    detail: Vec<Detail>,
    /// The Wireshark filter of each connection (unique per connection, so not in `strings`).
    filter: Vec<String>,
}

/// What the page shows when a connection is opened.
#[derive(Serialize)]
struct Detail(
    /// explanation
    u32,
    /// fix
    u32,
    /// risks, one string ("; " between them)
    u32,
    /// what the client offered: one string per line
    u32,
    /// the server's certificate chain as one string (one line per certificate), 0 when none
    u32,
    /// evidence: frame, description (string index) pairs
    Vec<u64>,
    /// ladder: frame, microseconds after the connection's start (-1: unknown), 0 for client to
    /// server or 1 for server to client, label (string index); four numbers an event
    Vec<i64>,
);

impl Columns {
    /// Adds a connection's row; `start` is absolute (microseconds) until `in_capture_order`.
    fn push(&mut self, c: &Connection, s: &mut Strings) {
        let tls = c.facts.tls.as_ref();
        let ch = tls.and_then(|t| t.client_hello.as_ref());
        let sh = tls.and_then(|t| t.server_hello.as_ref());
        self.file.push(s.id(&c.file));
        self.client.push(s.id(&c.facts.client));
        self.server.push(s.id(&c.facts.server));
        self.first_frame.push(c.facts.first_frame);
        self.start.push(c.facts.start / 1000);
        self.duration.push((c.facts.end - c.facts.start) / 1000);
        self.code.push(s.id(c.verdict.code.as_str()));
        self.side.push(s.id(c.verdict.side.as_str()));
        self.confidence.push(s.id(c.verdict.confidence.as_str()));
        self.sni.push(s.id(ch.and_then(|h| h.sni.as_deref()).unwrap_or("")));
        // As in the table: the negotiated version, or in parentheses the highest one offered.
        let version = match (sh, ch) {
            (Some(h), _) => h.version.to_string(),
            (None, Some(h)) => format!("({})", h.max_version),
            (None, None) => String::new(),
        };
        self.version.push(s.id(&version));
        self.suite.push(s.id(&sh.map(|h| h.suite_name()).unwrap_or_default()));
        self.ja4.push(s.id(ch.map(|h| h.ja4.as_str()).unwrap_or("")));
        let risks: Vec<&str> = c.verdict.risks.iter().map(|r| r.explanation.as_str()).collect();
        let evidence = c.verdict.evidence.iter().flat_map(|e| [e.frame, u64::from(s.id(&e.what))]).collect();
        self.detail.push(Detail(
            s.id(&c.verdict.explanation),
            s.id(&c.verdict.hint),
            s.id(&risks.join("; ")),
            s.id(&offered(c)),
            s.id(&chain(c)),
            evidence,
            ladder(c, s),
        ));
        self.filter.push(c.wireshark_filter.clone());
    }

    /// Puts the rows in the order of the inputs and, within one, of their first frame (as
    /// Wireshark lists them), and makes `start` relative to the earliest one, which it returns.
    fn in_capture_order(&mut self, files: &[FileSummary], s: &Strings) -> i64 {
        let position = |file: u32| files.iter().position(|f| f.path == s.list[file as usize]).unwrap_or(usize::MAX);
        let mut order: Vec<usize> = (0..self.code.len()).collect();
        order.sort_by_key(|&i| (position(self.file[i]), self.first_frame[i]));
        let origin = self.start.iter().copied().min().unwrap_or(0);
        permute(&mut self.file, &order);
        permute(&mut self.client, &order);
        permute(&mut self.server, &order);
        permute(&mut self.first_frame, &order);
        permute(&mut self.start, &order);
        permute(&mut self.duration, &order);
        permute(&mut self.code, &order);
        permute(&mut self.side, &order);
        permute(&mut self.confidence, &order);
        permute(&mut self.sni, &order);
        permute(&mut self.version, &order);
        permute(&mut self.suite, &order);
        permute(&mut self.ja4, &order);
        permute(&mut self.detail, &order);
        permute(&mut self.filter, &order);
        self.start.iter_mut().for_each(|t| *t -= origin);
        origin
    }
}

/// Reorders `values` so that entry k is the old entry `order[k]`.
fn permute<T>(values: &mut Vec<T>, order: &[usize]) {
    let mut old: Vec<Option<T>> = values.drain(..).map(Some).collect();
    values.extend(order.iter().map(|&i| old[i].take().expect("order is a permutation")));
}

/// The client's offer and the server's choice, one "name: value" line each.
fn offered(c: &Connection) -> String {
    let mut lines = Vec::new();
    let tls = c.facts.tls.as_ref();
    if let Some(ch) = tls.and_then(|t| t.client_hello.as_ref()) {
        let versions = if ch.supported_versions.is_empty() {
            ch.legacy_version.to_string()
        } else {
            joined(&ch.supported_versions)
        };
        lines.push(format!("client versions: {versions}"));
        lines.push(format!("client suites: {}", joined(&ch.cipher_suites)));
        if !ch.supported_groups.is_empty() {
            lines.push(format!("client groups: {}", ch.supported_groups.join(", ")));
        }
        if !ch.alpn.is_empty() {
            lines.push(format!("client ALPN: {}", ch.alpn.join(", ")));
        }
        lines.push(format!(
            "client extensions: {}{}",
            ch.extensions.join(", "),
            if ch.extended_master_secret { "" } else { " (no extended_master_secret)" }
        ));
        lines.push(format!("JA3 {}  JA4 {}", ch.ja3, ch.ja4));
    }
    if let Some(sh) = tls.and_then(|t| t.server_hello.as_ref()) {
        lines.push(format!("server chose: {} {}", sh.version, sh.suite_name()));
        if let Some(group) = &sh.key_share_group {
            lines.push(format!("server group: {group}"));
        }
        if let Some(alpn) = &sh.alpn {
            lines.push(format!("server ALPN: {alpn}"));
        }
        lines.push(format!("JA3S {}", sh.ja3s));
    }
    if let Some(tds) = super::tds_summary(c) {
        lines.push(tds);
    }
    lines.join("\n")
}

/// The server's certificate chain, one line per certificate: subject, issuer, names, validity.
fn chain(c: &Connection) -> String {
    let Some(chain) = c.facts.tls.as_ref().and_then(|t| t.server_certificates.as_ref()) else {
        return String::new();
    };
    chain
        .certificates
        .iter()
        .map(|cert| match &cert.parse_error {
            Some(e) => format!("(unreadable certificate: {e})"),
            None => format!(
                "{} | issuer {} | names {} | valid {} to {} | {} {} | {}{}",
                cert.subject,
                cert.issuer,
                if cert.san.is_empty() { "(none)".to_string() } else { cert.san.join(", ") },
                cert.not_before,
                cert.not_after,
                cert.key_type,
                cert.key_bits.map(|b| b.to_string()).unwrap_or_default(),
                cert.signature_algorithm,
                if cert.self_signed { " | self-signed" } else { "" }
            ),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One arrow of the ladder diagram.
struct Rung {
    frame: u64,
    ts: Option<Nanos>,
    from_client: bool,
    label: String,
}

#[derive(Default)]
struct Rungs(Vec<Rung>);

impl Rungs {
    /// An event whose packet and time are known.
    fn seen(&mut self, seen: Option<Seen>, from_client: bool, label: impl Into<String>) {
        if let Some(seen) = seen {
            self.0.push(Rung { frame: seen.frame, ts: Some(seen.ts), from_client, label: label.into() });
        }
    }
    /// A message or record with the capture time the analyzer kept beside its frame; records
    /// read back from NDJSON (`tlsdiag findings`) have none (0), as the schema has no such time.
    fn at(&mut self, frame: u64, ts: Nanos, from_client: bool, label: &str) {
        let ts = (ts != 0).then_some(ts);
        self.0.push(Rung { frame, ts, from_client, label: label.to_string() });
    }
    /// An event of which the record keeps the frame alone.
    fn frame(&mut self, frame: Option<u64>, from_client: bool, label: impl Into<String>) {
        if let Some(frame) = frame {
            self.0.push(Rung { frame, ts: None, from_client, label: label.into() });
        }
    }
}

/// The connection's packets that matter, in frame order: TCP opening and closing, the
/// handshake messages, the first encrypted records, alerts, and TDS/OpenVPN wrappers.
fn ladder(c: &Connection, s: &mut Strings) -> Vec<i64> {
    let mut rungs = Rungs::default();
    let t = &c.facts.tcp;
    let syns = if t.syn_count > 1 { format!("SYN (sent {} times)", t.syn_count) } else { "SYN".into() };
    rungs.seen(t.syn, true, syns);
    if t.last_syn != t.syn {
        rungs.seen(t.last_syn, true, "SYN (again)");
    }
    let syn_acks =
        if t.syn_ack_count > 1 { format!("SYN-ACK (sent {} times)", t.syn_ack_count) } else { "SYN-ACK".into() };
    rungs.seen(t.syn_ack, false, syn_acks);
    rungs.seen(t.established, true, "ACK");
    rungs.seen(t.client_fin, true, "FIN");
    rungs.seen(t.server_fin, false, "FIN");
    rungs.seen(t.client_rst, true, "RST");
    rungs.seen(t.server_rst, false, "RST");
    if let Some(tds) = &c.facts.tds {
        for (p, from_client) in [(&tds.client, true), (&tds.server, false)] {
            if let Some(p) = p {
                let enc = p.encryption.map(|e| format!(" (encryption {})", e.as_str())).unwrap_or_default();
                rungs.frame(Some(p.frame), from_client, format!("PRELOGIN{enc}"));
            }
        }
    }
    if let Some(ovpn) = &c.facts.openvpn {
        rungs.frame(ovpn.client_reset, true, "OpenVPN hard reset");
        rungs.frame(ovpn.server_reset, false, "OpenVPN hard reset");
    }
    if let Some(tls) = &c.facts.tls {
        let tls13 = tls.server_hello.as_ref().is_some_and(|h| h.version == TlsVersion::TLS1_3);
        for (side, from_client) in [(&tls.client, true), (&tls.server, false)] {
            for m in &side.messages {
                rungs.at(m.frame, m.ts, from_client, m.message);
            }
            rungs.frame(side.change_cipher_spec, from_client, "ChangeCipherSpec");
            rungs.frame(side.finished, from_client, if tls13 { "encrypted handshake" } else { "Finished (encrypted)" });
            rungs.frame(side.application_data, from_client, "application data");
            // Unlabelled: only lends its time to the events of its frame.
            for r in &side.encrypted_records {
                rungs.at(r.frame, r.ts, from_client, "");
            }
        }
        for a in &tls.alerts {
            let label = match (&a.level, &a.description) {
                (Some(level), Some(d)) => format!("alert {level} {d}"),
                _ => "alert (encrypted)".into(),
            };
            rungs.seen(Some(Seen { frame: a.frame, ts: a.ts }), a.sender == Role::Client, label);
        }
        if let Some(n) = &tls.non_tls {
            rungs.frame(Some(n.frame), n.sender == Role::Client, format!("not TLS: {}", n.preview));
        }
    }
    let mut rungs = rungs.0;
    // A frame's time is known when any event of that frame carries one (a CCS travels with
    // the Finished record whose time was kept).
    let known: HashMap<u64, Nanos> = rungs.iter().filter_map(|r| Some((r.frame, r.ts?))).collect();
    rungs.retain(|r| !r.label.is_empty());
    rungs.sort_by_key(|r| r.frame);
    rungs.dedup_by(|a, b| a.frame == b.frame && a.label == b.label && a.from_client == b.from_client);
    let mut out = Vec::with_capacity(rungs.len() * 4);
    for r in rungs {
        let ts = r.ts.or_else(|| known.get(&r.frame).copied());
        out.push(r.frame as i64);
        out.push(ts.map_or(-1, |ts| (ts - c.facts.start) / 1000));
        out.push(if r.from_client { 0 } else { 1 });
        out.push(i64::from(s.id(&r.label)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closing_script_tag_in_the_data_cannot_end_the_element() {
        let escaped = escape_lt(br#"{"sni":"</script><script>alert(1)</script>"}"#);
        let text = String::from_utf8(escaped).unwrap();
        assert!(!text.contains('<'));
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["sni"], "</script><script>alert(1)</script>");
    }

    #[test]
    fn strings_are_stored_once() {
        let mut s = Strings::new();
        assert_eq!(s.id(""), 0);
        let a = s.id("TLS1.2");
        assert_eq!(s.id("TLS1.3"), a + 1);
        assert_eq!(s.id("TLS1.2"), a);
        assert_eq!(s.list.len(), 3);
    }
}
