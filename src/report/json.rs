//! `--format json` (one document) and `--format ndjson` (one object per connection, written
//! as soon as the connection is settled).

use super::{in_capture_order, is_shown, Reporter};
use crate::across::profile::ServerProfile;
use crate::across::Conclusions;
use crate::record::{Connection, SCHEMA_VERSION};
use crate::summary::{totals, FileSummary};
use serde::Serialize;
use std::io::{self, Write};

pub struct NdjsonReporter {
    out: Box<dyn Write>,
    all: bool,
    /// Flush after every record (live capture: each verdict must show at once).
    flush_each: bool,
}

impl NdjsonReporter {
    pub fn new(out: Box<dyn Write>, all: bool, flush_each: bool) -> Self {
        NdjsonReporter { out, all, flush_each }
    }
}

impl Reporter for NdjsonReporter {
    fn connection(&mut self, conn: Connection) -> io::Result<()> {
        if is_shown(&conn, self.all) {
            serde_json::to_writer(&mut self.out, &conn)?;
            self.out.write_all(b"\n")?;
            if self.flush_each {
                self.out.flush()?;
            }
        }
        Ok(())
    }
    fn finish(&mut self, _files: &[FileSummary], _profiles: &Conclusions) -> io::Result<()> {
        self.out.flush()
    }
}

pub struct JsonReporter {
    out: Box<dyn Write>,
    all: bool,
    connections: Vec<Connection>,
}

impl JsonReporter {
    pub fn new(out: Box<dyn Write>, all: bool) -> Self {
        JsonReporter { out, all, connections: Vec::new() }
    }
}

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    tool: &'static str,
    files: &'a [FileSummary],
    totals: crate::summary::Totals,
    /// Failing connections grouped by what one fix addresses, and server findings.
    problems: &'a [crate::across::problems::Problem],
    servers: Vec<&'a ServerProfile>,
    connections: &'a [Connection],
}

impl Reporter for JsonReporter {
    fn connection(&mut self, conn: Connection) -> io::Result<()> {
        if is_shown(&conn, self.all) {
            self.connections.push(conn);
        }
        Ok(())
    }
    fn finish(&mut self, files: &[FileSummary], profiles: &Conclusions) -> io::Result<()> {
        in_capture_order(&mut self.connections, files);
        let doc = Document {
            schema_version: SCHEMA_VERSION,
            tool: concat!("tlsdiag ", env!("CARGO_PKG_VERSION")),
            files,
            totals: totals(files),
            problems: profiles.problems(),
            servers: profiles.servers().collect(),
            connections: &self.connections,
        };
        serde_json::to_writer_pretty(&mut self.out, &doc)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}
