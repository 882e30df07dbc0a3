//! The default human-readable output: a table of connections, then each failure with its
//! explanation, hint and frames, then counts per verdict.

use super::{in_capture_order, is_shown, Reporter};
use crate::analyze::{totals, FileSummary};
use crate::profile::Profiles;
use crate::record::Connection;
use comfy_table::{presets::UTF8_BORDERS_ONLY, ContentArrangement, Table};
use std::io::{self, Write};

/// Connections listed in the table; beyond this they are only counted, so memory stays
/// bounded on a capture of a flood (`--format ndjson` streams every one).
pub const MAX_LISTED: usize = 10_000;

pub struct TableReporter {
    out: Box<dyn Write>,
    all: bool,
    connections: Vec<Connection>,
    not_listed: u64,
}

impl TableReporter {
    pub fn new(out: Box<dyn Write>, all: bool) -> Self {
        TableReporter { out, all, connections: Vec::new(), not_listed: 0 }
    }
}

fn frame(f: Option<u64>) -> String {
    f.map(|f| f.to_string()).unwrap_or_else(|| "-".into())
}

impl Reporter for TableReporter {
    fn connection(&mut self, conn: Connection) -> io::Result<()> {
        if !is_shown(&conn, self.all) {
            return Ok(());
        }
        if self.connections.len() < MAX_LISTED {
            self.connections.push(conn);
        } else {
            self.not_listed += 1;
        }
        Ok(())
    }

    fn finish(&mut self, files: &[FileSummary], profiles: &Profiles) -> io::Result<()> {
        in_capture_order(&mut self.connections, files);
        let multi_file = files.len() > 1;
        let mut table = Table::new();
        table.load_preset(UTF8_BORDERS_ONLY).set_content_arrangement(ContentArrangement::Disabled);
        let mut header =
            vec!["#", "client", "server", "SNI", "version", "cipher suite", "verdict", "frames CH/SH/fatal alert"];
        if multi_file {
            header.insert(1, "file");
        }
        table.set_header(header);
        for (i, c) in self.connections.iter().enumerate() {
            let tls = c.tls.as_ref();
            let ch = tls.and_then(|t| t.client_hello.as_ref());
            let sh = tls.and_then(|t| t.server_hello.as_ref());
            let alert = tls.and_then(|t| t.first_fatal_alert());
            let mut row = vec![
                (i + 1).to_string(),
                c.client.clone(),
                c.server.clone(),
                ch.and_then(|h| h.sni.clone()).unwrap_or_else(|| "-".into()),
                {
                    let version = sh
                        .map(|s| s.version.clone())
                        .or_else(|| ch.map(|h| format!("({})", h.max_version)))
                        .unwrap_or_else(|| "-".into());
                    if c.tds.is_some() {
                        format!("{version} in TDS")
                    } else {
                        version
                    }
                },
                sh.map(|s| s.cipher_suite.clone()).unwrap_or_else(|| "-".into()),
                c.verdict.code.to_string(),
                format!(
                    "{}/{}/{}",
                    frame(ch.map(|h| h.frame)),
                    frame(sh.map(|s| s.frame)),
                    frame(alert.map(|a| a.frame))
                ),
            ];
            if multi_file {
                let name = std::path::Path::new(&c.file).file_name().map(|n| n.to_string_lossy().into_owned());
                row.insert(1, name.unwrap_or_else(|| c.file.clone()));
            }
            table.add_row(row);
        }
        writeln!(self.out, "{table}")?;
        if self.not_listed > 0 {
            writeln!(
                self.out,
                "{} more connection(s) not listed (the table lists {MAX_LISTED}; --format ndjson lists all)",
                self.not_listed
            )?;
        }

        let failures: Vec<(usize, &Connection)> = self
            .connections
            .iter()
            .enumerate()
            .filter(|(_, c)| c.verdict.is_failure() || !c.verdict.risks.is_empty())
            .collect();
        for (i, c) in failures {
            let v = &c.verdict;
            writeln!(
                self.out,
                "\n#{} {} -> {}: {} ({}, at fault: {})",
                i + 1,
                c.client,
                c.server,
                v.code,
                v.confidence.as_str(),
                v.side.as_str()
            )?;
            if let Some(tds) = super::tds_summary(c) {
                writeln!(self.out, "  tds:    {tds}")?;
            }
            if v.is_failure() {
                writeln!(self.out, "  why:    {}", v.explanation)?;
                writeln!(self.out, "  fix:    {}", v.hint)?;
                let frames: Vec<String> = v.evidence.iter().map(|e| format!("{} ({})", e.frame, e.what)).collect();
                writeln!(self.out, "  frames: {}", frames.join(", "))?;
            }
            for r in &v.risks {
                writeln!(self.out, "  risk:   {}: {}", r.code, r.explanation)?;
            }
        }

        let mut servers = Table::new();
        servers.load_preset(UTF8_BORDERS_ONLY).set_content_arrangement(ContentArrangement::Disabled);
        servers.set_header(vec!["server", "connections", "ok", "failures", "versions chosen", "suites chosen"]);
        let counts = |m: &dyn Fn() -> Vec<(String, u64)>| {
            let v = m();
            if v.is_empty() {
                "-".to_string()
            } else {
                v.into_iter().map(|(k, n)| format!("{k} x{n}")).collect::<Vec<_>>().join(", ")
            }
        };
        let mut any_server = false;
        for p in profiles.servers().filter(|p| p.ok > 0 || !p.failures.is_empty()) {
            any_server = true;
            servers.add_row(vec![
                p.server.clone(),
                p.connections.to_string(),
                p.ok.to_string(),
                counts(&|| p.failures.iter().map(|(k, n)| (k.to_string(), *n)).collect()),
                counts(&|| p.versions.iter().map(|(k, n)| (k.clone(), *n)).collect()),
                counts(&|| p.cipher_suites.iter().map(|(k, n)| (k.clone(), *n)).collect()),
            ]);
        }
        if any_server {
            writeln!(self.out, "\nservers:\n{servers}")?;
        }
        super::write_findings(&mut self.out, profiles)?;

        if multi_file {
            let mut per_file = Table::new();
            per_file.load_preset(UTF8_BORDERS_ONLY).set_content_arrangement(ContentArrangement::Disabled);
            per_file.set_header(vec!["file", "format", "frames", "connections", "failures", "error"]);
            for f in files {
                let failures = crate::analyze::failures_in(&f.verdicts);
                let format = match (f.format, f.compression) {
                    (Some(format), Some(c)) => format!("{format:?}+{c}").to_lowercase(),
                    (Some(format), None) => format!("{format:?}").to_lowercase(),
                    (None, _) => "-".into(),
                };
                per_file.add_row(vec![
                    f.path.clone(),
                    format,
                    f.frames.to_string(),
                    f.connections.to_string(),
                    failures.to_string(),
                    f.error.clone().unwrap_or_else(|| "-".into()),
                ]);
            }
            writeln!(self.out, "\nfiles:\n{per_file}")?;
        }

        let t = totals(files);
        writeln!(self.out, "\n{} connection(s) in {} file(s), {} frame(s)", t.connections, files.len(), t.frames)?;
        if t.evicted > 0 {
            writeln!(self.out, "{}", super::evicted_words(t.evicted))?;
        }
        if t.lost_packets > 0 {
            writeln!(self.out, "{}", super::loss_words(t.lost_packets, t.verdicts_affected_by_loss))?;
        }
        for (code, n) in &t.verdicts {
            writeln!(self.out, "  {code:<28} {n}")?;
        }
        self.out.flush()
    }
}
