//! The offline pipeline for one input: capture -> decode -> flow -> proto -> classify, with
//! each settled connection handed to the caller as soon as it is known.

use crate::across::Passes;
use crate::capture::{open_path, open_reader, CaptureError, CaptureFormat, Frame, HostDrop, MergedSource, Opened};
use crate::decode::{decode_counted, Decoded};
use crate::dns_log::DnsLog;
use crate::etl_evidence::EtlEvidence;
use crate::facts::Facts;
use crate::flow::{Flow, FlowTable, Limits};
use crate::proto::dns::parse_response;
use crate::proto::facts::Seen;
use crate::proto::keylog::KeyLog;
use crate::record::Connection;
use crate::report::Reporter;
use crate::summary::FileSummary;
use crate::verdict::Code;
use std::collections::BTreeMap;
use std::io;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// How a run reads its inputs: the bounds on what it holds, and the TLS secrets to decrypt
/// handshakes with (`--keylog`).
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub limits: Limits,
    pub keylog: Option<Arc<KeyLog>>,
}

impl From<Limits> for Settings {
    fn from(limits: Limits) -> Self {
        Settings { limits, keylog: None }
    }
}

/// Runs the whole pipeline over a stream (standard input, a pipe). See [`analyze_opened`].
pub fn analyze_reader(
    label: &str,
    input: Box<dyn Read + Send>,
    settings: &Settings,
    emit: &mut dyn FnMut(Connection),
) -> FileSummary {
    analyze_opened(label, open_reader(input), settings, emit)
}

/// Runs the whole pipeline over a capture file. See [`analyze_opened`].
pub fn analyze_path(path: &Path, settings: &Settings, emit: &mut dyn FnMut(Connection)) -> FileSummary {
    analyze_opened(&path.to_string_lossy(), open_path(path), settings, emit)
}

/// Runs the whole pipeline over several captures read as one time-ordered capture (the parts
/// of a rotated capture). Frame numbers are those of the merged stream.
pub fn analyze_merged(paths: &[&Path], settings: &Settings, emit: &mut dyn FnMut(Connection)) -> FileSummary {
    let label = format!("merged({})", paths.iter().map(|p| p.to_string_lossy()).collect::<Vec<_>>().join(","));
    let mut parts = Vec::new();
    let mut open_error = None;
    for path in paths {
        let part = path.to_string_lossy().into_owned();
        match open_path(path) {
            Ok(opened) => parts.push((part, opened)),
            // The other parts go on; the error is reported when they are done.
            Err(e) => {
                open_error.get_or_insert(CaptureError::InPart { part, source: Box::new(e) });
            }
        }
    }
    let format = parts.first().map(|(_, o)| o.format).unwrap_or(CaptureFormat::Pcap);
    let merged = Opened { source: Box::new(MergedSource::new(parts, open_error)), format, compression: None };
    analyze_opened(&label, Ok(merged), settings, emit)
}

/// Runs the pipeline over an opened input. `emit` receives each connection once settled; an
/// error while reading ends this input only, after settling every connection seen so far.
fn analyze_opened(
    label: &str,
    opened: Result<Opened, CaptureError>,
    settings: &Settings,
    emit: &mut dyn FnMut(Connection),
) -> FileSummary {
    let (mut source, format, compression) = match opened {
        Ok(Opened { source, format, compression }) => (source, format, compression),
        Err(e) => {
            return FileSummary {
                path: label.to_string(),
                not_a_capture: e.is_not_a_capture(),
                error: Some(e.to_string()),
                ..Default::default()
            };
        }
    };
    let mut pipeline = Pipeline::new(label, settings);
    pipeline.summary.format = Some(format);
    pipeline.summary.compression = compression;
    loop {
        match source.next_frame() {
            Ok(Some(frame)) => {
                pipeline.on_frame(&frame, emit);
                if let Some(text) = source.take_secrets() {
                    pipeline.add_secrets(&text);
                }
                for drop in source.take_host_drops() {
                    pipeline.add_host_drop(&drop);
                }
            }
            Ok(None) => {
                for drop in source.take_host_drops() {
                    pipeline.add_host_drop(&drop);
                }
                break;
            }
            Err(e) => {
                pipeline.summary.error = Some(e.to_string());
                break;
            }
        }
    }
    pipeline.summary.frames = source.frames_read();
    pipeline.summary.etl = source.etl_summary().map(Box::new);
    pipeline.finish(emit)
}

/// Decode, flow table and settling for one input, frame by frame: shared by files and live
/// capture.
pub struct Pipeline {
    label: String,
    table: FlowTable,
    dns: DnsLog,
    /// Drops a Windows trace reported, for the connections they belong to.
    etl: EtlEvidence,
    pub summary: FileSummary,
}

impl Pipeline {
    pub fn new(label: &str, settings: &Settings) -> Self {
        Pipeline {
            label: label.to_string(),
            table: FlowTable::new(settings.limits.clone()).with_keylog(settings.keylog.clone()),
            dns: DnsLog::default(),
            etl: EtlEvidence::default(),
            summary: FileSummary { path: label.to_string(), ..Default::default() },
        }
    }

    /// For live capture: each connection is reported as soon as its outcome is known.
    pub fn reporting_on_outcome(mut self) -> Self {
        self.table = self.table.reporting_on_outcome();
        self
    }

    /// A packet a Windows component dropped (pktmon): evidence for its connection.
    pub fn add_host_drop(&mut self, drop: &HostDrop) {
        self.etl.note_drop(drop);
    }

    /// Key log text found in the capture: used for the connections of this input.
    pub fn add_secrets(&mut self, text: &str) {
        self.summary.secrets_in_capture += self.table.add_secrets(text) as u64;
    }

    /// One frame; connections it settles go to `emit` at once.
    pub fn on_frame(&mut self, frame: &Frame<'_>, emit: &mut dyn FnMut(Connection)) {
        match decode_counted(frame, &mut self.summary.tunnels) {
            Decoded::Tcp(seg) => {
                self.summary.tcp_segments += 1;
                self.table.on_segment(&seg, Seen { frame: frame.index, ts: frame.ts });
                for flow in self.table.take_finished() {
                    settled(&mut self.summary, &self.label, (&self.dns, &self.etl), flow, emit);
                }
            }
            Decoded::DnsResponse { client, payload } => {
                self.summary.other_ip += 1;
                self.summary.dns_responses += 1;
                if let Some(response) = parse_response(payload) {
                    self.dns.note(client, response, Seen { frame: frame.index, ts: frame.ts });
                }
            }
            Decoded::OtherIp => self.summary.other_ip += 1,
            Decoded::NotIp => self.summary.not_ip += 1,
            Decoded::Malformed => self.summary.malformed += 1,
            Decoded::Skipped => {}
        }
    }

    /// The end of the input: every open connection is settled.
    pub fn finish(mut self, emit: &mut dyn FnMut(Connection)) -> FileSummary {
        self.table.finish_all();
        for flow in self.table.take_finished() {
            settled(&mut self.summary, &self.label, (&self.dns, &self.etl), flow, emit);
        }
        self.summary.flow_stats = self.table.stats.clone();
        self.summary
    }
}

/// A connection's record, with the DNS answers about its revocation URLs, counted in its
/// input's summary and handed on.
fn settled(
    summary: &mut FileSummary,
    label: &str,
    (dns, etl): (&DnsLog, &EtlEvidence),
    flow: Box<Flow>,
    emit: &mut dyn FnMut(Connection),
) {
    let mut facts = Facts::from_flow(flow);
    if summary.format == Some(CaptureFormat::Etl) {
        facts.windows_trace = Some(etl.trace_of(&facts));
    }
    dns.annotate(&mut facts);
    let conn = Connection::new(label, facts);
    summary.connections += 1;
    summary.decrypted += conn.facts.tls.as_ref().is_some_and(|t| t.decrypted) as u64;
    emit(conn);
}

/// One run over any number of inputs: connections go to the reporter as soon as they are
/// settled, except those a pass across connections may still sharpen, which wait for the end.
pub struct Session<'r> {
    report: &'r mut dyn Reporter,
    passes: Passes,
    pending: Vec<Connection>,
    verdicts: BTreeMap<String, BTreeMap<Code, u64>>,
    error: Option<io::Error>,
    /// Hold connections a pass may sharpen until the end (not in live capture).
    defer_sharpenable: bool,
}

impl<'r> Session<'r> {
    pub fn new(report: &'r mut dyn Reporter) -> Self {
        Session {
            report,
            passes: Passes::new(),
            pending: Vec::new(),
            verdicts: BTreeMap::new(),
            error: None,
            defer_sharpenable: true,
        }
    }

    /// A session that writes every connection at once (live capture), unsharpened.
    pub fn streaming(report: &'r mut dyn Reporter) -> Self {
        Session { defer_sharpenable: false, ..Session::new(report) }
    }

    /// Takes one settled connection.
    pub fn connection(&mut self, conn: Connection) {
        self.passes.observe(&conn);
        if self.defer_sharpenable && self.passes.may_sharpen(&conn) {
            self.pending.push(conn);
        } else {
            self.emit(conn);
        }
    }

    fn emit(&mut self, conn: Connection) {
        self.passes.settled(&conn);
        *self.verdicts.entry(conn.file.clone()).or_default().entry(conn.verdict.code).or_default() += 1;
        if self.error.is_none() {
            self.error = self.report.connection(conn).err();
        }
    }

    /// True once writing the report failed (a closed pipe): live capture stops then.
    pub fn write_failed(&self) -> bool {
        self.error.is_some()
    }

    /// Sharpens the waiting verdicts, fills in the per-file verdict counts, writes the end.
    pub fn finish(mut self, files: &mut [FileSummary]) -> io::Result<()> {
        for mut conn in std::mem::take(&mut self.pending) {
            self.passes.sharpen(&mut conn);
            self.emit(conn);
        }
        for f in files.iter_mut() {
            f.verdicts = self.verdicts.remove(&f.path).unwrap_or_default();
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        let conclusions = self.passes.conclude();
        self.report.finish(files, &conclusions)
    }
}
