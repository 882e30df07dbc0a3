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

/// Timestamps serialise as RFC 3339 UTC strings.
pub fn ser_ts<S: Serializer>(ts: &Nanos, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::time::rfc3339_nanos(*ts))
}

/// Connections shown without `--all`: everything that involved TLS or failed at TCP level.
pub fn is_shown(conn: &Connection, all: bool) -> bool {
    all || conn.verdict.code != "not_tls"
}

/// Sorts connections by input, then by first frame: the order of a capture in Wireshark,
/// whatever order they were settled in.
pub fn in_capture_order(conns: &mut [Connection], files: &[FileSummary]) {
    let position = |c: &Connection| files.iter().position(|f| f.path == c.file).unwrap_or(usize::MAX);
    conns.sort_by_key(|c| (position(c), c.first_frame));
}
