//! Many inputs at once: directories walked, lists read, every capture analysed on all cores
//! (one worker thread per core, each taking the next input in order),
//! and connections handed to the [`Session`] in input order whatever the thread timing.

use crate::analyze::Settings;
use crate::analyze::{analyze_merged, analyze_path, analyze_reader, Session};
use crate::capture::open_path;
use crate::record::Connection;
use crate::summary::FileSummary;
use std::collections::BTreeMap;
use std::io::{self, BufRead};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::sync_channel;

/// One thing to analyse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Stdin,
    /// A file named by the user (an error if it is not a capture).
    Named(PathBuf),
    /// A file found in a directory (skipped if it is not a capture).
    Found(PathBuf),
}

impl Input {
    pub fn label(&self) -> String {
        match self {
            Input::Stdin => "-".into(),
            Input::Named(p) | Input::Found(p) => p.to_string_lossy().into_owned(),
        }
    }

    /// Bytes on disk (0 for standard input), for progress.
    pub fn size(&self) -> u64 {
        match self {
            Input::Stdin => 0,
            Input::Named(p) | Input::Found(p) => std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
        }
    }
}

/// Expands arguments (files, directories, `-`) and the lines of `--files-from` into inputs.
/// Directories are walked recursively in name order, so the same tree gives the same order.
pub fn expand(args: &[String], files_from: Option<&str>) -> io::Result<Vec<Input>> {
    let mut names: Vec<String> = args.to_vec();
    if let Some(list) = files_from {
        let reader: Box<dyn BufRead> = if list == "-" {
            Box::new(io::stdin().lock())
        } else {
            Box::new(io::BufReader::new(std::fs::File::open(list)?))
        };
        for line in reader.lines() {
            let line = line?;
            let line = line.trim();
            if !line.is_empty() && !line.starts_with('#') {
                names.push(line.to_string());
            }
        }
    }
    let mut inputs = Vec::new();
    for name in names {
        let path = PathBuf::from(&name);
        if name == "-" {
            inputs.push(Input::Stdin);
        } else if path.is_dir() {
            walk(&path, &mut inputs)?;
        } else {
            inputs.push(Input::Named(path));
        }
    }
    Ok(inputs)
}

fn walk(dir: &Path, out: &mut Vec<Input>) -> io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.is_file() {
            out.push(Input::Found(path));
        }
    }
    Ok(())
}

fn analyze_input(input: &Input, settings: &Settings, emit: &mut dyn FnMut(Connection)) -> FileSummary {
    match input {
        Input::Stdin => analyze_reader("-", Box::new(io::stdin()), settings, emit),
        Input::Named(p) | Input::Found(p) => analyze_path(p, settings, emit),
    }
}

/// What a run over many inputs produced besides the connections.
#[derive(Debug, Default)]
pub struct BatchResult {
    /// One summary per capture, in input order.
    pub files: Vec<FileSummary>,
    /// Files found in directories that are not captures.
    pub skipped: Vec<String>,
    /// What the caller should tell the user: each input's error, in input order, and inputs
    /// left out.
    pub warnings: Vec<String>,
}

/// How far a run over many inputs has come, after each input done.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    pub files_done: usize,
    pub files: usize,
    /// Bytes of the inputs done (their sizes on disk).
    pub bytes: u64,
    pub connections: u64,
    pub failures: u64,
}

/// Counts for the progress bar of what has reached the session.
#[derive(Default)]
struct Tally {
    connections: u64,
    failures: u64,
}

impl Tally {
    fn deliver(&mut self, conn: Connection, session: &mut Session<'_>) {
        self.connections += 1;
        self.failures += conn.verdict.is_failure() as u64;
        session.connection(conn);
    }
}

enum Message {
    // Boxed: a connection record is large and most messages carry one.
    Connection(usize, Box<Connection>),
    Done(usize, Box<FileSummary>),
}

/// Analyses every input, in parallel when there are several (on `threads` threads, or one per
/// core), and feeds the session in input order. Errors of one input are recorded in its
/// summary; the others go on.
pub fn run(
    inputs: &[Input],
    settings: &Settings,
    threads: Option<usize>,
    session: &mut Session<'_>,
    progress: &mut dyn FnMut(Progress),
) -> BatchResult {
    let mut result = BatchResult::default();
    let keep = |input: &Input, summary: FileSummary, result: &mut BatchResult| {
        if matches!(input, Input::Found(_)) && summary.not_a_capture {
            result.skipped.push(summary.path);
        } else {
            if let Some(err) = &summary.error {
                result.warnings.push(format!("{}: {err}", summary.path));
            }
            result.files.push(summary);
        }
    };
    if inputs.len() == 1 {
        // One input streams straight through: no thread, no reordering buffer.
        let summary = analyze_input(&inputs[0], settings, &mut |conn| session.connection(conn));
        keep(&inputs[0], summary, &mut result);
        return result;
    }
    // Bounded, so fast workers wait for the writer instead of filling memory.
    let (tx, rx) = sync_channel::<Message>(4096);
    let next_input = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        // Workers take inputs strictly in order, so at most one input per worker is ahead of
        // the one being written, and what waits in `held` stays bounded by that.
        let workers = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        for _ in 0..workers.clamp(1, inputs.len()) {
            let (tx, next_input) = (tx.clone(), &next_input);
            scope.spawn(move || loop {
                let i = next_input.fetch_add(1, Ordering::Relaxed);
                let Some(input) = inputs.get(i) else { break };
                let summary = analyze_input(input, settings, &mut |conn| {
                    let _ = tx.send(Message::Connection(i, Box::new(conn)));
                });
                let _ = tx.send(Message::Done(i, Box::new(summary)));
            });
        }
        drop(tx);
        // Connections of later inputs wait here until every earlier input is done.
        let mut next = 0;
        let mut held: BTreeMap<usize, (Vec<Connection>, Option<FileSummary>)> = BTreeMap::new();
        let mut bytes = 0u64;
        let mut tally = Tally::default();
        for message in rx {
            match message {
                Message::Connection(i, conn) if i == next => tally.deliver(*conn, session),
                Message::Connection(i, conn) => held.entry(i).or_default().0.push(*conn),
                Message::Done(i, summary) => held.entry(i).or_default().1 = Some(*summary),
            }
            // Release everything the input in turn has, and move on while inputs are done.
            while let Some((conns, summary)) = held.get_mut(&next) {
                for conn in conns.drain(..) {
                    tally.deliver(conn, session);
                }
                let Some(summary) = summary.take() else { break };
                held.remove(&next);
                bytes += inputs[next].size();
                keep(&inputs[next], summary, &mut result);
                next += 1;
                progress(Progress {
                    files_done: next,
                    files: inputs.len(),
                    bytes,
                    connections: tally.connections,
                    failures: tally.failures,
                });
            }
        }
    });
    result
}

/// Reads every input as one time-ordered capture (`--merge`). Files found in directories that
/// are not captures are skipped; standard input cannot take part (it would have to be read
/// whole before the first frame).
pub fn run_merged(inputs: &[Input], settings: &Settings, session: &mut Session<'_>) -> BatchResult {
    let mut result = BatchResult::default();
    let mut paths = Vec::new();
    for input in inputs {
        match input {
            Input::Stdin => result.warnings.push("--merge reads files only; standard input is left out".into()),
            Input::Found(p) if open_path(p).is_err_and(|e| e.is_not_a_capture()) => {
                result.skipped.push(p.to_string_lossy().into_owned())
            }
            Input::Named(p) | Input::Found(p) => paths.push(p.as_path()),
        }
    }
    let summary = analyze_merged(&paths, settings, &mut |conn| session.connection(conn));
    if let Some(err) = &summary.error {
        result.warnings.push(err.clone());
    }
    result.files.push(summary);
    result
}
