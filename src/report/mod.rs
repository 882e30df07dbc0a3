//! Output: one [`Reporter`] per format. Data goes to stdout through a buffered writer;
//! diagnostics go to stderr. JSON field names are the versioned schema of the README.

mod json;
mod lines;
pub mod merge;
mod table;

use crate::analyze::FileSummary;
use crate::capture::Nanos;
use crate::profile::Profiles;
use crate::record::Connection;
use serde::Serializer;
use std::io::{self, Write};

pub use json::{JsonReporter, NdjsonReporter};
pub use lines::LineReporter;
pub use table::TableReporter;

/// Receives connections as they are settled, then the per-file summaries at the end.
pub trait Reporter {
    fn connection(&mut self, conn: Connection) -> io::Result<()>;
    fn finish(&mut self, files: &[FileSummary], profiles: &Profiles) -> io::Result<()>;
}

/// Output formats of `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Ndjson,
    /// One line of text per connection, flushed at once.
    Lines,
}

/// The reporter of a format. `live` flushes every NDJSON record as it is written.
pub fn reporter(format: Format, out: Box<dyn Write>, all: bool, live: bool) -> Box<dyn Reporter> {
    match format {
        Format::Table => Box::new(TableReporter::new(out, all)),
        Format::Json => Box::new(JsonReporter::new(out, all)),
        Format::Ndjson => Box::new(NdjsonReporter::new(out, all, live)),
        Format::Lines => Box::new(LineReporter::new(out, all)),
    }
}

/// The server-level findings as text (table and lines formats), each with its window, what it
/// means, the fix and the connections that show it.
fn write_findings(out: &mut dyn Write, profiles: &Profiles) -> io::Result<()> {
    let mut first = true;
    for p in profiles.servers() {
        for f in &p.findings {
            if std::mem::take(&mut first) {
                writeln!(out, "\nfindings:")?;
            }
            writeln!(
                out,
                "{} {} ({}), {} to {}, {} connection(s), {} failed",
                p.server,
                f.code,
                f.confidence.as_str(),
                crate::time::rfc3339_nanos(f.start),
                crate::time::rfc3339_nanos(f.end),
                f.connections,
                f.failed
            )?;
            writeln!(out, "  why:    {}", f.explanation)?;
            writeln!(out, "  fix:    {}", f.hint)?;
            let shown: Vec<String> =
                f.evidence.iter().map(|e| format!("{} frame {} {}", e.client, e.first_frame, e.verdict)).collect();
            writeln!(out, "  see:    {}", shown.join("; "))?;
        }
    }
    Ok(())
}

/// Timestamps serialise as RFC 3339 UTC strings.
pub fn ser_ts<S: Serializer>(ts: &Nanos, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::time::rfc3339_nanos(*ts))
}

/// Connections shown without `--all`: everything that involved TLS or failed at TCP level.
pub fn is_shown(conn: &Connection, all: bool) -> bool {
    all || !matches!(conn.verdict.code, "not_tls" | "abandoned")
}

/// Sorts connections by input, then by first frame: the order of a capture in Wireshark,
/// whatever order they were settled in.
pub fn in_capture_order(conns: &mut [Connection], files: &[FileSummary]) {
    let position = |c: &Connection| files.iter().position(|f| f.path == c.file).unwrap_or(usize::MAX);
    conns.sort_by_key(|c| (position(c), c.first_frame));
}

/// The summary line of a run that had to evict connections (a SYN flood, most often).
pub fn evicted_words(evicted: u64) -> String {
    format!(
        "{evicted} connection(s) settled early (\"ended_by\": \"evicted\") to stay within --max-flows: the oldest half-open ones first"
    )
}

/// The summary line of a live capture that lost packets.
pub fn loss_words(lost: u64, affected: u64) -> String {
    format!(
        "{lost} packet(s) lost by the capture: {affected} failure verdict(s) a lost packet could explain are incomplete_capture instead (\"capture_loss\" names the loss)"
    )
}

/// "SQL Server 16.0.1000 encryption REQ; client 9.0.0 encryption NOT_SUP; TLS in 0x04 packets"
/// for a TDS connection, None for any other.
pub fn tds_summary(conn: &Connection) -> Option<String> {
    use crate::proto::tds::{Prelogin, TdsMode};
    let tds = conn.tds.as_ref()?;
    if tds.mode == TdsMode::Strict {
        return Some("TDS 8.0 strict: TLS first (ALPN tds/8.0), PRELOGIN inside TLS".into());
    }
    let side = |who: &str, p: &Option<Prelogin>| match p {
        Some(p) => format!(
            "{who} {} encryption {}",
            p.version.as_deref().unwrap_or("?"),
            p.encryption.map(|e| e.as_str()).unwrap_or("not stated")
        ),
        None => format!("{who}: no PRELOGIN seen"),
    };
    let mut out = format!("{}; {}", side("client", &tds.client), side("server", &tds.server));
    if let Some(n) = tds.negotiated {
        out.push_str(&format!("; negotiated {}", serde_json::to_value(n).ok()?.as_str()?));
    }
    if let Some(t) = tds.server_tls_packet_type {
        out.push_str(&format!("; server TLS in 0x{t:02x} packets"));
    }
    Some(out)
}
