//! Output: one [`Reporter`] per format. Data goes to stdout through a buffered writer;
//! diagnostics go to stderr. JSON field names are the versioned schema of the README.

mod html;
mod json;
mod lines;
pub mod merge;
mod table;

use crate::across::Conclusions;
use crate::record::Connection;
use crate::summary::FileSummary;
use crate::verdict::Code;
use std::io::{self, Write};

pub use html::HtmlReporter;
pub use json::{JsonReporter, NdjsonReporter};
pub use lines::LineReporter;
pub use table::TableReporter;

/// Receives connections as they are settled, then the per-file summaries at the end.
pub trait Reporter {
    fn connection(&mut self, conn: Connection) -> io::Result<()>;
    fn finish(&mut self, files: &[FileSummary], profiles: &Conclusions) -> io::Result<()>;
}

/// Output formats of `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Ndjson,
    /// One line of text per connection, flushed at once, in the order connections are settled
    /// (their close, idle timeout or the end of the capture), not sorted by their start.
    Lines,
    /// One self-contained HTML page (problems, timelines, a connection table, ladder diagrams),
    /// written at the end of the run.
    Html,
}

/// Which connections the table lists after the problems (`--list`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ListMode {
    /// The problems, the servers, and the first failing connections (the rest counted).
    #[default]
    Problems,
    /// Every failing connection, each with its explanation, fix, frames and filter.
    Failing,
    /// Every connection, failing or not, with the details of failures and risks.
    All,
}

/// The reporter of a format. `live` flushes every NDJSON record as it is written.
pub fn reporter(format: Format, out: Box<dyn Write>, all: bool, list: ListMode, live: bool) -> Box<dyn Reporter> {
    match format {
        Format::Table => Box::new(TableReporter::new(out, all, list)),
        Format::Json => Box::new(JsonReporter::new(out, all)),
        Format::Ndjson => Box::new(NdjsonReporter::new(out, all, live)),
        Format::Lines => Box::new(LineReporter::new(out, all)),
        Format::Html => Box::new(HtmlReporter::new(out, all)),
    }
}

/// Two reports of one run: `--html FILE` beside the `--format` on stdout.
pub struct Both {
    first: Box<dyn Reporter>,
    second: Box<dyn Reporter>,
}

impl Both {
    pub fn new(first: Box<dyn Reporter>, second: Box<dyn Reporter>) -> Self {
        Both { first, second }
    }
}

impl Reporter for Both {
    fn connection(&mut self, conn: Connection) -> io::Result<()> {
        self.second.connection(conn.clone())?;
        self.first.connection(conn)
    }
    fn finish(&mut self, files: &[FileSummary], profiles: &Conclusions) -> io::Result<()> {
        self.first.finish(files, profiles)?;
        self.second.finish(files, profiles)
    }
}

/// The problems as text (table and lines formats): each group with its count, clients,
/// window, cause, fix, an example with its frames, and the Wireshark filter.
fn write_problems(out: &mut dyn Write, problems: &[crate::across::problems::Problem]) -> io::Result<()> {
    if problems.is_empty() {
        return writeln!(out, "no problems found");
    }
    writeln!(out, "{} problem(s):", problems.len())?;
    for (i, p) in problems.iter().enumerate() {
        let clients = if p.clients as usize > p.client_examples.len() {
            format!("{} ({}, ...)", p.clients, p.client_examples.join(", "))
        } else {
            format!("{} ({})", p.clients, p.client_examples.join(", "))
        };
        writeln!(
            out,
            "\n{}. {} at {}: {} connection(s) from {} client(s) {}, {} to {} ({}, at fault: {})",
            i + 1,
            p.code,
            p.server,
            p.connections,
            p.clients,
            clients.split_once(' ').map_or("", |(_, names)| names),
            crate::time::rfc3339_nanos(p.start),
            crate::time::rfc3339_nanos(p.end),
            p.confidence.as_str(),
            p.side.as_str()
        )?;
        if p.kind == "finding" {
            writeln!(out, "   why:     {}", p.cause)?;
        } else {
            if !p.cause.is_empty() {
                writeln!(out, "   cause:   {}", p.cause)?;
            }
            writeln!(out, "   why:     {}", p.example.explanation)?;
        }
        if let Some(fp) = &p.client_fingerprint {
            if p.connections > 1 {
                writeln!(out, "   clients: all share the JA4 fingerprint {fp} (one TLS stack)")?;
            }
        }
        writeln!(out, "   fix:     {}", p.fix)?;
        // The error on the user's screen that this problem matches.
        if let Some(shown) = crate::explain::client_error(p.code) {
            writeln!(out, "   client:  a Windows client shows {shown}")?;
        }
        let frames: Vec<String> = p.example.evidence.iter().map(|e| format!("{} {}", e.frame, e.what)).collect();
        writeln!(
            out,
            "   example: {} frame {}{}",
            p.example.client,
            p.example.first_frame,
            if frames.is_empty() { String::new() } else { format!(" [frames: {}]", frames.join("; ")) }
        )?;
        let covers = if p.filter_covers == "all" { String::new() } else { format!(" (selects {})", p.filter_covers) };
        writeln!(out, "   filter:  {}{covers}", p.wireshark_filter)?;
    }
    Ok(())
}

/// Connections shown without `--all`: everything that involved TLS or failed at TCP level.
pub fn is_shown(conn: &Connection, all: bool) -> bool {
    all || !matches!(conn.verdict.code, Code::NotTls | Code::Abandoned)
}

/// Sorts connections by input, then by first frame: the order of a capture in Wireshark,
/// whatever order they were settled in.
pub fn in_capture_order(conns: &mut [Connection], files: &[FileSummary]) {
    let position = |c: &Connection| files.iter().position(|f| f.path == c.file).unwrap_or(usize::MAX);
    conns.sort_by_key(|c| (position(c), c.facts.first_frame));
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
    let tds = conn.facts.tds.as_ref()?;
    if tds.mode == TdsMode::Strict {
        return Some("TDS 8.0 strict: TLS first (ALPN tds/8.0), PRELOGIN inside TLS".into());
    }
    let side = |who: &str, p: &Option<Prelogin>| match p {
        Some(p) => {
            // The server's version named as a release (a client's is its driver's version).
            let build = p
                .version
                .as_deref()
                .filter(|_| who == "server")
                .and_then(crate::sqlserver::build)
                .map(|b| format!(" ({}; {})", b.name(), b.tls12_words()))
                .unwrap_or_default();
            format!(
                "{who} {}{build} encryption {}",
                p.version.as_deref().unwrap_or("?"),
                p.encryption.map(|e| e.as_str()).unwrap_or("not stated")
            )
        }
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
