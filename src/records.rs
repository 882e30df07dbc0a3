//! Connection records read back: the NDJSON lines (and the `connections` of JSON documents)
//! that `analyze` writes, parsed into [`Connection`]s again, so that the passes across
//! connections (server profiles, sharpened verdicts, findings, problems, revocation matches)
//! can run over records that separate runs wrote: on other machines, in any order
//! (`tlsdiag findings`, the Spark job of `spark/`).
//!
//! A record leaves out fields that hold their default (schema 2), so every field reads as its
//! default when absent. Codes are kept as `&'static str` in the program: a code read back is
//! mapped to the known code of the same spelling, and an unknown one is an error that names
//! it. Fields the schema does not carry but that can be derived from it (certificate
//! validity as seconds) are derived again by [`restore_derived`].

use crate::across::Conclusions;
use crate::analyze::Session;
use crate::record::{Connection, READABLE_SCHEMA_VERSIONS};
use crate::report::Reporter;
use crate::summary::FileSummary;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};

/// Bad lines named one by one per run; the rest are only counted.
pub const BAD_LINES_SHOWN: u64 = 10;

/// Fills in the fields a record does not carry but its other fields determine: the
/// certificates' validity in seconds (protocol values read back as values themselves). Not
/// recoverable, and left at their defaults: the hello randoms and the time of the handshake's
/// completion (neither is used across connections).
pub fn restore_derived(c: &mut Connection) {
    let Some(tls) = c.facts.tls.as_mut() else { return };
    for chain in [tls.server_certificates.as_mut(), tls.client_certificates.as_mut()].into_iter().flatten() {
        for cert in &mut chain.certificates {
            let secs = |text: &str| crate::time::parse_rfc3339(text).map_or(0, |ns| ns.div_euclid(1_000_000_000));
            // Read back, each certificate is its record's own (not shared through the cache).
            let cert = std::sync::Arc::make_mut(cert);
            cert.not_before_unix = secs(&cert.not_before);
            cert.not_after_unix = secs(&cert.not_after);
        }
    }
}

/// One record (one NDJSON line) read back: its schema version checked, derived fields
/// restored.
pub fn parse_record(line: &str) -> Result<Connection, String> {
    let mut c: Connection = serde_json::from_str(line).map_err(|e| e.to_string())?;
    if !READABLE_SCHEMA_VERSIONS.contains(&c.schema_version) {
        return Err(format!("schema_version {}, expected one of {READABLE_SCHEMA_VERSIONS:?}", c.schema_version));
    }
    restore_derived(&mut c);
    Ok(c)
}

/// The connection as the passes across connections first saw it: its own verdict, before any
/// of them sharpened it.
pub fn as_settled(mut c: Connection) -> Connection {
    if let Some(own) = c.unsharpened_verdict.take() {
        c.verdict = *own;
    }
    c
}

/// What reading records found besides the connections.
#[derive(Debug, Default)]
pub struct ReadSummary {
    /// Connections per `file` of the records, in name order: the inputs of the runs that
    /// wrote them.
    pub files: BTreeMap<String, u64>,
    pub records: u64,
    /// Lines or documents that are not connection records.
    pub bad: u64,
    /// What was wrong with the first of them ([`BAD_LINES_SHOWN`]), for the caller to show.
    pub bad_shown: Vec<String>,
}

impl ReadSummary {
    /// One summary per input of the original runs, with its connection count (frames and the
    /// other counts of a capture are not in the records).
    pub fn file_summaries(&self) -> Vec<FileSummary> {
        self.files
            .iter()
            .map(|(path, n)| FileSummary { path: path.clone(), connections: *n, ..Default::default() })
            .collect()
    }

    fn bad(&mut self, label: &str, at: &str, message: &str) {
        self.bad += 1;
        if self.bad <= BAD_LINES_SHOWN {
            self.bad_shown.push(format!("{label}: {at}: not a connection record: {message}"));
        }
    }
}

/// A `--format json` document: only its connections are read.
#[derive(Deserialize)]
struct Document {
    schema_version: u32,
    #[serde(default)]
    connections: Vec<serde_json::Value>,
}

/// Reads the records of one input (NDJSON, one record a line; or a JSON document, whose first
/// line is `{` alone as `analyze --format json` writes it) and hands each, with its own
/// verdict, to `take`. A line that is not a record is named on stderr and counted; the
/// others go on. Memory: one line at a time (a document is read whole).
pub fn read_records(
    label: &str,
    mut input: impl BufRead,
    summary: &mut ReadSummary,
    take: &mut dyn FnMut(Connection),
) -> io::Result<()> {
    let mut line = String::new();
    let mut number = 0u64;
    let mut accept = |c: Connection, summary: &mut ReadSummary| {
        summary.records += 1;
        *summary.files.entry(c.file.clone()).or_default() += 1;
        take(as_settled(c));
    };
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        number += 1;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        if number == 1 && text == "{" {
            let mut rest = String::new();
            input.read_to_string(&mut rest)?;
            return read_document(label, &format!("{line}{rest}"), summary, &mut |c, s| accept(c, s));
        }
        match parse_record(text) {
            Ok(c) => accept(c, summary),
            Err(e) => summary.bad(label, &format!("line {number}"), &e),
        }
    }
}

fn read_document(
    label: &str,
    text: &str,
    summary: &mut ReadSummary,
    accept: &mut dyn FnMut(Connection, &mut ReadSummary),
) -> io::Result<()> {
    let doc: Document = match serde_json::from_str(text) {
        Ok(doc) => doc,
        Err(e) => {
            summary.bad(label, &format!("line {}", e.line()), &format!("not a tlsdiag JSON document: {e}"));
            return Ok(());
        }
    };
    if !READABLE_SCHEMA_VERSIONS.contains(&doc.schema_version) {
        let message = format!("schema_version {}, expected one of {READABLE_SCHEMA_VERSIONS:?}", doc.schema_version);
        summary.bad(label, "document", &message);
        return Ok(());
    }
    for (i, value) in doc.connections.into_iter().enumerate() {
        let parsed = serde_json::from_value::<Connection>(value).map_err(|e| e.to_string()).map(|mut c| {
            restore_derived(&mut c);
            c
        });
        match parsed {
            Ok(c) => accept(c, summary),
            Err(e) => summary.bad(label, &format!("connections[{i}]"), &e),
        }
    }
    Ok(())
}

/// A reporter that hands connections to another and, at the end, also writes the run's
/// summary to a file: the `--format json` document without its connections (files, totals,
/// problems, servers with their findings). `findings --format ndjson --summary FILE` so streams
/// the sharpened records and still says what was found, without holding every record.
pub struct WithSummary<'a> {
    inner: &'a mut dyn Reporter,
    path: std::path::PathBuf,
}

impl<'a> WithSummary<'a> {
    pub fn new(inner: &'a mut dyn Reporter, path: &std::path::Path) -> Self {
        WithSummary { inner, path: path.to_path_buf() }
    }
}

#[derive(serde::Serialize)]
struct Summary<'a> {
    schema_version: u32,
    tool: &'static str,
    files: &'a [FileSummary],
    totals: crate::summary::Totals,
    problems: &'a [crate::across::problems::Problem],
    servers: Vec<&'a crate::across::profile::ServerProfile>,
}

impl Reporter for WithSummary<'_> {
    fn connection(&mut self, conn: Connection) -> io::Result<()> {
        self.inner.connection(conn)
    }
    fn finish(&mut self, files: &[FileSummary], profiles: &Conclusions) -> io::Result<()> {
        self.inner.finish(files, profiles)?;
        let summary = Summary {
            schema_version: crate::record::SCHEMA_VERSION,
            tool: concat!("tlsdiag ", env!("CARGO_PKG_VERSION")),
            files,
            totals: crate::summary::totals(files),
            problems: profiles.problems(),
            servers: profiles.servers().collect(),
        };
        let mut out = io::BufWriter::new(std::fs::File::create(&self.path)?);
        serde_json::to_writer_pretty(&mut out, &summary)?;
        out.write_all(b"\n")?;
        out.flush()
    }
}

/// Feeds records into a session, as `analyze` feeds the connections it settles: the same
/// passes, the same code.
pub fn recompute(
    inputs: &mut dyn Iterator<Item = (String, io::Result<Box<dyn BufRead>>)>,
    session: &mut Session<'_>,
) -> (ReadSummary, Vec<String>) {
    let mut summary = ReadSummary::default();
    let mut errors = Vec::new();
    for (label, input) in inputs {
        let result = input.and_then(|input| read_records(&label, input, &mut summary, &mut |c| session.connection(c)));
        if let Err(e) = result {
            errors.push(format!("{label}: {e}"));
        }
    }
    if summary.bad > BAD_LINES_SHOWN {
        let more = summary.bad - BAD_LINES_SHOWN;
        summary.bad_shown.push(format!("{more} more lines that are not connection records"));
    }
    (summary, errors)
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_the_programs_own_or_an_error() {
        let err = serde_json::from_str::<crate::verdict::Risk>(r#"{"code":"made_up"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown risk code \"made_up\""), "{err}");
        let msg: crate::proto::facts::MessageSeen = serde_json::from_str(r#"{"message":"ServerHelloDone"}"#).unwrap();
        assert_eq!((msg.message, msg.frame), ("ServerHelloDone", 0), "an absent frame is 0");
    }
}
