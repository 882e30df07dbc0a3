//! The default human-readable output: a table of connections, then each failure with its
//! explanation, hint and frames, then counts per verdict.

use super::{in_capture_order, is_shown, ListMode, Reporter};
use crate::across::Conclusions;
use crate::facts::Encapsulation;
use crate::record::Connection;
use crate::summary::{totals, FileSummary};
use comfy_table::{presets::UTF8_BORDERS_ONLY, ColumnConstraint, ContentArrangement, Table, Width};
use std::io::{self, Write};

/// Connections listed in the table; beyond this they are only counted, so memory stays
/// bounded on a capture of a flood (`--format ndjson` streams every one).
pub const MAX_LISTED: usize = 10_000;
/// Failing connections listed under the problems by default (`--list failing` lists all).
pub const FIRST_FAILING_LISTED: usize = 10;

/// Narrowest a wrapping column (SNI, cipher suite, file) may get in a terminal before the
/// suite and then the SNI are left out instead.
const MIN_FLEXIBLE_WIDTH: usize = 14;

pub struct TableReporter {
    out: Box<dyn Write>,
    all: bool,
    list: ListMode,
    connections: Vec<Connection>,
    not_listed: u64,
}

impl TableReporter {
    pub fn new(out: Box<dyn Write>, all: bool, list: ListMode) -> Self {
        TableReporter { out, all, list, connections: Vec::new(), not_listed: 0 }
    }

    fn listed(&self, c: &Connection) -> bool {
        self.list == ListMode::All || c.verdict.is_failure()
    }
}

fn frame(f: Option<u64>) -> String {
    f.map(|f| f.to_string()).unwrap_or_else(|| "-".into())
}

/// In a terminal narrower than the table, comfy-table wraps cells; addresses, versions,
/// verdict codes and frame numbers stay whole (a wrapped `127.0.0.1:5` / `7556` reads wrong)
/// while their headers, the SNI, suite and file names wrap instead. `widths`: the longest word
/// of each column's values.
fn keep_whole(table: &mut Table, columns: &[usize], widths: &[usize]) {
    for &i in columns {
        // The constraint counts the cell padding, one space each side.
        let width = u16::try_from(widths.get(i).copied().unwrap_or(0) + 2).unwrap_or(u16::MAX);
        if let Some(column) = table.column_mut(i) {
            column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(width)));
        }
    }
}

impl Reporter for TableReporter {
    fn connection(&mut self, conn: Connection) -> io::Result<()> {
        if !is_shown(&conn, self.all) || !self.listed(&conn) {
            return Ok(());
        }
        let cap = if self.list == ListMode::Problems { FIRST_FAILING_LISTED } else { MAX_LISTED };
        if self.connections.len() < cap {
            self.connections.push(conn);
        } else {
            self.not_listed += 1;
        }
        Ok(())
    }

    fn finish(&mut self, files: &[FileSummary], profiles: &Conclusions) -> io::Result<()> {
        in_capture_order(&mut self.connections, files);
        super::write_problems(&mut self.out, profiles.problems())?;
        self.write_servers(profiles)?;
        if self.connections.is_empty() && self.not_listed == 0 {
            return self.write_totals(files);
        }
        writeln!(
            self.out,
            "\n{}",
            match self.list {
                ListMode::All => "connections:",
                _ => "failing connections:",
            }
        )?;
        let multi_file = files.len() > 1;
        let mut table = Table::new();
        table.load_preset(UTF8_BORDERS_ONLY).set_content_arrangement(ContentArrangement::Dynamic);
        let mut header =
            vec!["#", "client", "server", "SNI", "version", "cipher suite", "verdict", "frames CH/SH/fatal alert"];
        if multi_file {
            header.insert(1, "file");
        }
        table.set_header(header);
        // Columns whose values must not wrap: #, client, server, version, verdict, frames.
        let whole: &[usize] = if multi_file { &[0, 2, 3, 5, 7, 8] } else { &[0, 1, 2, 4, 6, 7] };
        let mut widths = vec![0usize; if multi_file { 9 } else { 8 }];
        for (i, c) in self.connections.iter().enumerate() {
            let tls = c.facts.tls.as_ref();
            let ch = tls.and_then(|t| t.client_hello.as_ref());
            let sh = tls.and_then(|t| t.server_hello.as_ref());
            let alert = tls.and_then(|t| t.first_fatal_alert());
            let mut row = vec![
                (i + 1).to_string(),
                c.facts.client.clone(),
                c.facts.server.clone(),
                ch.and_then(|h| h.sni.clone()).unwrap_or_else(|| "-".into()),
                {
                    let version = sh
                        .map(|s| s.version.to_string())
                        .or_else(|| ch.map(|h| format!("({})", h.max_version)))
                        .unwrap_or_else(|| "-".into());
                    match c.facts.encapsulation {
                        Some(Encapsulation::Tds) => format!("{version} in TDS"),
                        Some(Encapsulation::Openvpn) => format!("{version} in OpenVPN"),
                        _ => version,
                    }
                },
                sh.map_or_else(|| "-".into(), |s| s.suite_name().into_owned()),
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
            // The longest word: "(TLS1.2) in TDS" may wrap at its spaces, an address never.
            for (width, cell) in widths.iter_mut().zip(&row) {
                *width = cell.split(' ').map(|w| w.chars().count()).fold(*width, usize::max);
            }
            table.add_row(row);
        }
        keep_whole(&mut table, whole, &widths);
        // In a terminal too narrow for the wrapped table to stay legible, the cipher suite and
        // then the SNI columns are left out (said below the table), not squeezed to a few
        // letters a line.
        let flexible: Vec<usize> = if multi_file { vec![1, 4, 6] } else { vec![3, 5] };
        let mut hidden = Vec::new();
        if let Some(terminal) = table.width().map(usize::from) {
            let fixed: usize = whole.iter().map(|&i| widths[i] + 3).sum::<usize>() + 1;
            let suite = if multi_file { 6 } else { 5 };
            let sni = suite - 2;
            for drop in [suite, sni] {
                let shown = flexible.len() - hidden.len();
                if terminal.saturating_sub(fixed) / shown >= MIN_FLEXIBLE_WIDTH + 3 {
                    break;
                }
                if let Some(column) = table.column_mut(drop) {
                    column.set_constraint(ColumnConstraint::Hidden);
                }
                hidden.push(if drop == suite { "cipher suite" } else { "SNI" });
            }
        }
        writeln!(self.out, "{table}")?;
        if !hidden.is_empty() {
            writeln!(
                self.out,
                "({} left out to fit the terminal; a wider one, a pipe or --format json shows them)",
                hidden.join(" and ")
            )?;
        }
        if self.not_listed > 0 {
            let how = match self.list {
                ListMode::Problems => "--list failing lists them all",
                _ => "--format ndjson lists all",
            };
            writeln!(self.out, "{} more connection(s) not listed ({how})", self.not_listed)?;
        }
        if self.list == ListMode::Problems {
            return self.write_totals(files);
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
                c.facts.client,
                c.facts.server,
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
                // The error on the user's screen that this verdict matches.
                if let Some(shown) = crate::explain::client_error(crate::explain::Topic::Verdict(v.code)) {
                    writeln!(self.out, "  client: a Windows client shows {shown}")?;
                }
                let frames: Vec<String> = v.evidence.iter().map(|e| format!("{} ({})", e.frame, e.what)).collect();
                writeln!(self.out, "  frames: {}", frames.join(", "))?;
                writeln!(self.out, "  filter: {}", c.wireshark_filter)?;
            }
            for r in &v.risks {
                writeln!(self.out, "  risk:   {}: {}", r.code, r.explanation)?;
            }
        }

        self.write_totals(files)
    }
}

impl TableReporter {
    fn write_servers(&mut self, profiles: &Conclusions) -> io::Result<()> {
        let mut servers = Table::new();
        servers.load_preset(UTF8_BORDERS_ONLY).set_content_arrangement(ContentArrangement::Dynamic);
        servers.set_header(vec!["server", "connections", "ok", "failures", "versions chosen", "suites chosen"]);
        let mut server_width = 0;
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
            server_width = server_width.max(p.server.chars().count());
            servers.add_row(vec![
                p.server.clone(),
                p.connections.to_string(),
                p.ok.to_string(),
                counts(&|| p.failures.iter().map(|(k, n)| (k.to_string(), *n)).collect()),
                counts(&|| p.versions.iter().map(|(k, n)| (k.clone(), *n)).collect()),
                counts(&|| p.cipher_suites.iter().map(|(k, n)| (k.clone(), *n)).collect()),
            ]);
        }
        keep_whole(&mut servers, &[0], &[server_width]);
        if any_server {
            writeln!(self.out, "\nservers:\n{servers}")?;
        }
        Ok(())
    }

    fn write_totals(&mut self, files: &[FileSummary]) -> io::Result<()> {
        if files.len() > 1 {
            let mut per_file = Table::new();
            per_file.load_preset(UTF8_BORDERS_ONLY).set_content_arrangement(ContentArrangement::Dynamic);
            per_file.set_header(vec!["file", "format", "frames", "connections", "failures", "error"]);
            for f in files {
                let failures = crate::verdict::Code::failures_in(&f.verdicts);
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
        for f in files {
            if let Some(etl) = &f.etl {
                write_etl_notes(&mut self.out, &f.path, etl)?;
            }
        }
        for (code, n) in &t.verdicts {
            writeln!(self.out, "  {code:<28} {n}")?;
        }
        self.out.flush()
    }
}

/// What an ETL trace says about its own capture: events the Windows trace session lost
/// (capture loss on the host, never network loss) and packets Windows components dropped.
fn write_etl_notes(out: &mut dyn Write, path: &str, etl: &crate::capture::EtlSummary) -> io::Result<()> {
    if etl.events_lost > 0 || etl.buffers_lost > 0 {
        writeln!(
            out,
            "{path}: the trace session lost {} event(s) and {} buffer(s) on the Windows host (capture loss, not network loss)",
            etl.events_lost, etl.buffers_lost
        )?;
    }
    if let Some(line) = etl.drops_line() {
        writeln!(out, "{path}: {line}")?;
    }
    Ok(())
}
