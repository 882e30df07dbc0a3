//! Command line: parses arguments, opens the inputs, runs the pipeline, sets the exit code.

#![forbid(unsafe_code)]

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use tlsdiag::analyze::{Session, Settings};
use tlsdiag::batch;
use tlsdiag::flow::Limits;
use tlsdiag::proto::keylog::KeyLog;
use tlsdiag::report::{reporter, Format, ListMode};

/// Exit code when `--fail-on-failure` is given and a handshake failure was found.
const EXIT_FAILURE_FOUND: u8 = 1;
/// Exit code when an input could not be read (wholly or partly) or the arguments are wrong.
const EXIT_ERROR: u8 = 2;

/// Examples and the exit-code contract, shown under `tlsdiag --help`.
const MAIN_AFTER_HELP: &str = "\
Examples:
  tlsdiag analyze capture.pcapng
  tlsdiag analyze --format lines C:\\captures\\sql01.pcapng
  tcpdump -i eth0 -w - port 1433 | tlsdiag analyze
  tlsdiag explain 0x80090331
  tlsdiag explain \"Schannel 36874\"

Exit codes:
  0  every input was read to its end (whatever the verdicts), or --help/--version/explain answered
  1  analyze --fail-on-failure found a failure: any verdict but ok, ok_resumed, tds_unencrypted,
     incomplete_capture, abandoned and not_tls
  2  an input could not be read wholly (missing, not a capture, truncated, corrupt), a live
     capture failed, an unknown explain symptom, or bad arguments
  A closed standard output (tlsdiag ... | head) ends any command quietly with 0.";

/// Examples under `tlsdiag analyze --help`.
const ANALYZE_AFTER_HELP: &str = "\
Examples:
  tlsdiag analyze capture.pcapng                      a table of connections, then each failure
  tlsdiag analyze --format lines a.pcap b.pcapng.gz   one line per connection
  tlsdiag analyze --format json --fail-on-failure captures\\ > report.json
  tlsdiag analyze --merge ring_00001.pcap ring_00002.pcap
  tlsdiag analyze --keylog sslkeys.log tls13.pcapng
  cat capture.pcap | tlsdiag analyze                  standard input (also: -)

Exit codes: 0 read every input; 1 --fail-on-failure and a verdict other than ok, ok_resumed,
tds_unencrypted, incomplete_capture, abandoned, not_tls; 2 an input unreadable (also partly) or bad arguments.";

/// Examples under `tlsdiag explain --help`.
const EXPLAIN_AFTER_HELP: &str = "\
Examples:
  tlsdiag explain 10054                 WSAECONNRESET: the verdicts it fits, most likely first
  tlsdiag explain WSAECONNRESET
  tlsdiag explain 0x80090331            also 2148074289, -2146893007, SEC_E_ALGORITHM_MISMATCH
  tlsdiag explain \"Schannel 36874\"      also 36874, \"event 36874\"
  tlsdiag explain \"fatal alert 48\"      also 48, unknown_ca
  tlsdiag explain certificate_rejected  a verdict code
  tlsdiag explain --markdown            every table, as in the README

Exit codes: 0 explained; 2 nothing known about the symptom.";

#[derive(Parser)]
#[command(name = "tlsdiag", version, about = "Diagnose TLS handshakes in network captures", after_help = MAIN_AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyse captures (pcap, pcapng, Network Monitor; plain or gzip, zstd, xz, bzip2
    /// compressed): files, directories (walked recursively), `-` for standard input (also read
    /// when no file is given and standard input is not a terminal).
    #[command(after_help = ANALYZE_AFTER_HELP)]
    Analyze(AnalyzeArgs),
    /// Capture on an interface and report each connection as soon as its outcome is known.
    #[cfg(feature = "live")]
    Live(LiveArgs),
    /// List the interfaces live capture can use.
    #[cfg(feature = "live")]
    Interfaces,
    /// Say which verdicts fit a symptom, most likely first, and how to fix it: a verdict code,
    /// a TLS alert name or number, a Windows error code or name (10054, WSAECONNRESET,
    /// 0x80090331, 2148074289, -2146893007, SEC_E_ALGORITHM_MISMATCH) or an Schannel event ID
    /// (36874, "event 36874", "Schannel 36874").
    #[command(after_help = EXPLAIN_AFTER_HELP)]
    Explain {
        /// The symptom; omit it with --markdown. Several words are read as one symptom.
        #[arg(required_unless_present = "markdown", allow_hyphen_values = true, num_args = 0..)]
        symptom: Vec<String>,
        /// Print the whole verdict table and symptom index as Markdown (as in the README).
        #[arg(long)]
        markdown: bool,
    },
    /// Recompute the findings across connections (server profiles, sharpened verdicts,
    /// server findings, problems, revocation matches) from the connection records of separate
    /// runs, in any order: NDJSON files of `analyze --format ndjson --all` (or JSON documents),
    /// `-` for standard input (also read when no file is given and it is not a terminal).
    #[command(after_help = FINDINGS_AFTER_HELP)]
    Findings(FindingsArgs),
    /// Combine JSON documents of separate `analyze --format json` runs into one.
    Merge {
        /// JSON documents written by `analyze --format json`.
        #[arg(required = true)]
        documents: Vec<String>,
    },
}

/// Examples under `tlsdiag findings --help`.
const FINDINGS_AFTER_HELP: &str = "\
Examples:
  tlsdiag analyze --format ndjson --all site-a/ > a.ndjson     (on one machine)
  tlsdiag analyze --format ndjson --all site-b/ > b.ndjson     (on another)
  tlsdiag findings a.ndjson b.ndjson                 problems and findings over both
  tlsdiag findings --format ndjson a.ndjson b.ndjson  the records with verdicts sharpened over both
  cat *.ndjson | tlsdiag findings --format json -

Records written without --all lack the connections that are not TLS or were abandoned, so
server profiles count fewer connections than one analyze run would.

Exit codes: 0 read every record; 2 an input unreadable or a line that is not a record (each named).";

#[derive(clap::Args)]
struct FindingsArgs {
    /// NDJSON files of connection records (or `--format json` documents); `-` for standard
    /// input.
    files: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Also show connections that are not TLS, and those the client abandoned.
    #[arg(long)]
    all: bool,
    /// Which connections the table lists after the problems.
    #[arg(long, value_enum, default_value = "problems")]
    list: ListMode,
    /// Also write the files, totals, problems and servers (with their findings) as one JSON
    /// document, without the connections, to FILE (with `--format ndjson`: the sharpened
    /// records stream while what was found still comes out whole).
    #[arg(long, value_name = "FILE")]
    summary: Option<std::path::PathBuf>,
}

#[derive(clap::Args)]
struct AnalyzeArgs {
    /// Capture files and directories; `-` for standard input (the default when no file is
    /// given and standard input is a pipe or a file).
    files: Vec<String>,
    /// Read all inputs as one capture in time order (the parts of a rotated capture), so that
    /// connections crossing file boundaries stay whole. Frame numbers are then those of
    /// `mergecap -w merged.pcapng` over the same files.
    #[arg(long)]
    merge: bool,
    /// Threads analysing files in parallel (default: one per core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Also analyse the files listed in FILE, one per line (`-`: standard input).
    #[arg(long, value_name = "FILE")]
    files_from: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Also write the HTML report to FILE (the same as `--format html`), beside the format on
    /// standard output.
    #[arg(long, value_name = "FILE")]
    html: Option<std::path::PathBuf>,
    /// Also show connections that are not TLS, and those the client abandoned.
    #[arg(long)]
    all: bool,
    /// Which connections the table lists after the problems: `problems` (the first failing
    /// ones), `failing` (all of them, with details) or `all`.
    #[arg(long, value_enum, default_value = "problems")]
    list: ListMode,
    /// Exit with code 1 when a handshake failure was found: any verdict but ok, ok_resumed,
    /// tds_unencrypted, incomplete_capture, abandoned and not_tls (an unreadable input still gives 2).
    #[arg(long)]
    fail_on_failure: bool,
    /// Connections tracked at once.
    #[arg(long, default_value_t = Limits::default().max_flows)]
    max_flows: usize,
    /// Seconds of packet time after which a silent connection is settled.
    #[arg(long, default_value_t = Limits::default().idle_timeout / 1_000_000_000)]
    idle_timeout: i64,
    /// Out-of-order segments held per connection side.
    #[arg(long, default_value_t = Limits::default().max_out_of_order_segments)]
    max_out_of_order: usize,
    /// Largest TLS handshake message reassembled, in bytes.
    #[arg(long, default_value_t = Limits::default().max_handshake_message)]
    max_handshake_message: usize,
    /// NSS key log (SSLKEYLOGFILE) to decrypt TLS 1.3 handshakes and encrypted alerts with.
    /// Secrets inside pcapng files are used without it.
    #[arg(long, value_name = "FILE")]
    keylog: Option<String>,
}

#[cfg(feature = "live")]
#[derive(clap::Args)]
struct LiveArgs {
    /// Interface to capture on (`tlsdiag interfaces` lists them).
    #[arg(short = 'i', long)]
    interface: String,
    /// BPF capture filter.
    #[arg(short = 'f', long, default_value = "tcp")]
    filter: String,
    /// Keep only what a handshake diagnosis needs, filtered in the kernel (with -f): SYN, FIN,
    /// RST and packets without payload, segments starting a TLS handshake, alert, CCS or small
    /// application-data record, TDS PRELOGIN; bulk data is never copied (see the README for
    /// what it cannot see).
    #[arg(long)]
    handshakes_only: bool,
    /// Output: a line of text per connection, or one NDJSON object, flushed at once.
    #[arg(long, value_enum, default_value = "lines")]
    format: Format,
    /// Also save everything captured to this pcapng file (the frame numbers match the verdicts).
    /// With -C or -G it is saved in parts FILE_00001.pcapng, FILE_00002.pcapng... that
    /// `tlsdiag analyze --merge` reads back as one capture. SIGHUP starts a new part (or the
    /// same file afresh, after log rotation moved it).
    #[arg(short = 'w', long, value_name = "FILE.pcapng")]
    write: Option<std::path::PathBuf>,
    /// A new part of --write when this size is reached (bytes, or K, M, G).
    #[arg(short = 'C', long, value_name = "SIZE", value_parser = parse_size, requires = "write")]
    file_size: Option<usize>,
    /// A new part of --write every this many seconds of packet time.
    #[arg(short = 'G', long, value_name = "SECONDS", requires = "write")]
    rotate_seconds: Option<u64>,
    /// Keep only the newest N parts (a ring); needs -C or -G.
    #[arg(short = 'W', long, value_name = "N")]
    ring: Option<usize>,
    /// Seconds between summary lines of failures per server and code (0: none), so a capture
    /// left running can be looked at later.
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0)]
    summary_every: f64,
    /// Append the summary lines to this file instead of stderr (reopened on SIGHUP).
    #[arg(long, value_name = "FILE")]
    summary_file: Option<std::path::PathBuf>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Stop after this many packets.
    #[arg(long, value_name = "PACKETS")]
    count: Option<u64>,
    /// Bytes kept of each packet.
    #[arg(long, default_value_t = 65535)]
    snaplen: i32,
    /// Kernel capture buffer (as tcpdump's -B): bytes, or with a K, M or G suffix. Bursts that
    /// outrun the reader wait here; when it is full the kernel drops packets (counted, and the
    /// verdicts of connections open then say so).
    #[arg(short = 'B', long, value_name = "SIZE", default_value = "64M", value_parser = parse_size)]
    buffer_size: usize,
    /// Seconds between status lines on stderr (0: none).
    #[arg(long, default_value_t = 10.0)]
    status_every: f64,
    /// Also show connections that are not TLS.
    #[arg(long)]
    all: bool,
    /// Seconds of packet time after which a silent connection is settled.
    #[arg(long, default_value_t = Limits::default().idle_timeout / 1_000_000_000)]
    idle_timeout: i64,
    /// NSS key log (SSLKEYLOGFILE) to decrypt TLS 1.3 handshakes and encrypted alerts with;
    /// read once at start.
    #[arg(long, value_name = "FILE")]
    keylog: Option<String>,
}

/// The key log named on the command line, shared by every input.
fn read_keylog(path: Option<&str>) -> Result<Option<Arc<KeyLog>>> {
    path.map(|p| KeyLog::from_file(p).map(Arc::new)).transpose().context("reading the key log")
}

/// Says on stderr when the key log decrypted nothing: a wrong file is a common mistake.
fn report_unmatched_keylog(path: Option<&str>, keylog: Option<&KeyLog>) {
    if let (Some(path), Some(keylog)) = (path, keylog) {
        if keylog.matched() == 0 {
            eprintln!(
                "tlsdiag: the key log {path} ({} session(s)) matches no connection in the capture: \
                 it was written for other connections (compare its CLIENT_RANDOM values with the ClientHello randoms)",
                keylog.sessions()
            );
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tlsdiag: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// A closed standard output (`tlsdiag ... | head`), however the error reached here: straight
/// from a write, or inside serde_json's error. On Windows a closed pipe (ERROR_NO_DATA) is
/// also BrokenPipe.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>().and_then(|j| j.io_error_kind()) == Some(io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Analyze(args) => analyze(args),
        Command::Findings(args) => findings(args),
        Command::Merge { documents } => merge(&documents),
        Command::Explain { symptom, markdown } => explain(&symptom.join(" "), markdown),
        #[cfg(feature = "live")]
        Command::Live(args) => live(args),
        #[cfg(feature = "live")]
        Command::Interfaces => {
            // Written, not println!ed: a closed pipe must end the run quietly, not panic.
            let mut out = io::stdout().lock();
            for i in tlsdiag::live::interfaces()? {
                writeln!(out, "{}\t{}\t{}", i.name, i.description.unwrap_or_default(), i.addresses.join(" "))?;
            }
            out.flush()?;
            Ok(0)
        }
    }
}

#[cfg(feature = "live")]
fn live(args: LiveArgs) -> Result<u8> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;
    // Before any thread starts (the signal handler's included), so SIGHUP is blocked in all.
    let hangup = tlsdiag::live::Hangup::install().context("setting up SIGHUP")?;
    if args.ring.is_some() && args.file_size.is_none() && args.rotate_seconds.is_none() {
        anyhow::bail!("--ring needs --file-size (-C) or --rotate-seconds (-G)");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    // SIGINT and SIGTERM end the capture; the summary is still written and the exit code is 0.
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed)).context("installing the signal handler")?;
    let options = tlsdiag::live::LiveOptions {
        interface: args.interface,
        filter: if args.handshakes_only {
            format!("({}) and tcp and ({})", args.filter, tlsdiag::live::HANDSHAKES_ONLY_FILTER)
        } else {
            args.filter
        },
        write: args.write,
        rotation: tlsdiag::capture::Rotation {
            max_bytes: args.file_size.map(|n| n as u64),
            every: args.rotate_seconds.map(|s| s.saturating_mul(1_000_000_000) as i64),
            ring: args.ring,
        },
        summary_every: (args.summary_every > 0.0).then(|| Duration::from_secs_f64(args.summary_every)),
        summary_file: args.summary_file,
        duration: args.duration.map(Duration::from_secs_f64),
        count: args.count,
        snaplen: args.snaplen,
        buffer_size: args.buffer_size,
        status_every: (args.status_every > 0.0).then(|| Duration::from_secs_f64(args.status_every)),
    };
    let keylog = read_keylog(args.keylog.as_deref())?;
    let settings = Settings {
        limits: Limits { idle_timeout: args.idle_timeout.saturating_mul(1_000_000_000), ..Limits::default() },
        keylog: keylog.clone(),
    };
    let stdout = BufWriter::with_capacity(64 * 1024, io::stdout());
    let mut report = reporter(args.format, Box::new(stdout), args.all, ListMode::default(), true);
    let mut session = Session::streaming(report.as_mut());
    let mut emit = |conn| {
        session.connection(conn);
        // `tlsdiag live ... | head -3`: nobody reads any more, so the capture ends.
        if session.write_failed() {
            stop.store(true, Ordering::Relaxed);
        }
    };
    let mut notice = |line: &str| eprintln!("tlsdiag: {line}");
    let summary = tlsdiag::live::capture(&options, &settings, &stop, Some(&hangup), &mut emit, &mut notice)?;
    let failed = summary.error.clone();
    let mut files = vec![summary];
    session.finish(&mut files)?;
    report_unmatched_keylog(args.keylog.as_deref(), keylog.as_deref());
    if let Some(e) = failed {
        eprintln!("tlsdiag: {}: {e}", options.interface);
        return Ok(EXIT_ERROR);
    }
    Ok(0)
}

/// "65536", "64K", "64M", "1G": a size in bytes.
#[cfg(feature = "live")]
fn parse_size(text: &str) -> std::result::Result<usize, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_uppercase()),
        _ => (text, 'B'),
    };
    let shift = match unit {
        'B' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        _ => return Err(format!("unknown unit '{unit}' (use K, M or G)")),
    };
    let n: usize = digits.trim().parse().map_err(|_| format!("'{text}' is not a size (e.g. 65536, 64K, 64M)"))?;
    n.checked_mul(1 << shift).filter(|&n| n > 0).ok_or_else(|| format!("'{text}' is not a usable size"))
}

fn analyze(args: AnalyzeArgs) -> Result<u8> {
    let keylog = read_keylog(args.keylog.as_deref())?;
    let settings = Settings {
        limits: Limits {
            max_flows: args.max_flows,
            idle_timeout: args.idle_timeout.saturating_mul(1_000_000_000),
            max_out_of_order_segments: args.max_out_of_order,
            max_handshake_message: args.max_handshake_message,
            ..Limits::default()
        },
        keylog: keylog.clone(),
    };
    let mut files = args.files;
    let mut stdin_by_default = false;
    if files.is_empty() && args.files_from.is_none() {
        // A capture piped in (`cat x.pcap | tlsdiag analyze`) needs no `-`; a terminal on
        // standard input means the user forgot the file, which is said rather than waited on.
        if io::stdin().is_terminal() {
            anyhow::bail!(
                "no capture given: name a file or directory, `-` for standard input, or pipe a capture in \
                 (tlsdiag analyze capture.pcapng)"
            );
        }
        files.push("-".into());
        stdin_by_default = true;
    }
    let inputs = batch::expand(&files, args.files_from.as_deref()).context("listing the inputs")?;
    let stdout = BufWriter::with_capacity(64 * 1024, io::stdout());
    let mut report = reporter(args.format, Box::new(stdout), args.all, args.list, false);
    if let Some(path) = &args.html {
        // Created before reading: a path that cannot be written is said before minutes of work.
        let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let html =
            reporter(Format::Html, Box::new(BufWriter::with_capacity(1 << 20, file)), args.all, args.list, false);
        report = Box::new(tlsdiag::report::Both::new(report, html));
    }
    let mut session = Session::new(report.as_mut());
    let mut result = if args.merge {
        batch::run_merged(&inputs, &settings, &mut session)
    } else {
        let bar = progress_bar(&inputs);
        let mut show = |p: batch::Progress| {
            if let Some(bar) = &bar {
                bar.set_position(p.bytes);
                bar.set_message(format!(
                    "{}/{} files, {} connections, {} failures",
                    p.files_done, p.files, p.connections, p.failures
                ));
            }
        };
        let result = batch::run(&inputs, &settings, args.threads, &mut session, &mut show);
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        result
    };
    for warning in &result.warnings {
        eprintln!("tlsdiag: {warning}");
    }
    // No input opened as a capture (a missing file, a text file): the errors are the whole
    // answer, without an empty table or document after them.
    let nothing_read = !result.files.is_empty() && result.files.iter().all(|f| f.format.is_none());
    if !nothing_read {
        session.finish(&mut result.files)?;
        report_unmatched_keylog(args.keylog.as_deref(), keylog.as_deref());
    }
    if stdin_by_default && result.files.iter().any(|f| f.frames == 0 && f.error.is_some()) {
        eprintln!("tlsdiag: no capture was named, so standard input was read; name a capture file (tlsdiag analyze capture.pcapng)");
    }
    if !result.skipped.is_empty() {
        eprintln!("tlsdiag: skipped {} file(s) that are not captures:", result.skipped.len());
        for path in &result.skipped {
            eprintln!("  {path}");
        }
    }
    let totals = tlsdiag::summary::totals(&result.files);
    Ok(if totals.files_with_errors > 0 {
        EXIT_ERROR
    } else if args.fail_on_failure && totals.failures > 0 {
        EXIT_FAILURE_FOUND
    } else {
        0
    })
}

fn findings(args: FindingsArgs) -> Result<u8> {
    use std::io::BufRead;
    let mut names = args.files;
    if names.is_empty() {
        if io::stdin().is_terminal() {
            anyhow::bail!("no records given: name NDJSON files, `-` for standard input, or pipe records in");
        }
        names.push("-".into());
    }
    let mut inputs = names.into_iter().map(|name| {
        let input: io::Result<Box<dyn BufRead>> = if name == "-" {
            Ok(Box::new(io::BufReader::with_capacity(256 * 1024, io::stdin())))
        } else {
            std::fs::File::open(&name)
                .map(|f| Box::new(io::BufReader::with_capacity(256 * 1024, f)) as Box<dyn BufRead>)
        };
        (name, input)
    });
    let stdout = BufWriter::with_capacity(64 * 1024, io::stdout());
    let mut report = reporter(args.format, Box::new(stdout), args.all, args.list, false);
    let mut with_summary;
    let report: &mut dyn tlsdiag::report::Reporter = match &args.summary {
        Some(path) => {
            with_summary = tlsdiag::records::WithSummary::new(report.as_mut(), path);
            &mut with_summary
        }
        None => report.as_mut(),
    };
    let mut session = Session::new(report);
    let (read, errors) = tlsdiag::records::recompute(&mut inputs, &mut session);
    for line in &read.bad_shown {
        eprintln!("tlsdiag: {line}");
    }
    session.finish(&mut read.file_summaries())?;
    for e in &errors {
        eprintln!("tlsdiag: {e}");
    }
    Ok(if errors.is_empty() && read.bad == 0 { 0 } else { EXIT_ERROR })
}

/// A progress bar on stderr over the inputs' bytes, only when stderr is a terminal and there
/// is more than one input.
fn progress_bar(inputs: &[batch::Input]) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if inputs.len() < 2 || !io::stderr().is_terminal() {
        return None;
    }
    let total: u64 = inputs.iter().map(batch::Input::size).sum();
    let bar = indicatif::ProgressBar::new(total);
    let style = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    Some(bar)
}

fn explain(symptom: &str, markdown: bool) -> Result<u8> {
    // Written, not print!ed: print! panics on a closed pipe (`tlsdiag explain 10054 | head -1`).
    let mut out = io::stdout().lock();
    if markdown {
        use tlsdiag::explain::{markdown_symptoms, markdown_table, Topic};
        write!(
            out,
            "{}\n{}\n{}",
            markdown_table("verdict", Topic::all().filter(|t| matches!(t, Topic::Verdict(_)))),
            markdown_table("server finding", Topic::all().filter(|t| matches!(t, Topic::Finding(_)))),
            markdown_symptoms()
        )?;
        out.flush()?;
        return Ok(0);
    }
    match tlsdiag::explain::explain(symptom) {
        Some(text) => {
            writeln!(out, "{text}")?;
            out.flush()?;
            Ok(0)
        }
        None => {
            eprintln!(
                "tlsdiag: nothing known about {symptom:?}: give a verdict code, a TLS alert name or number, a Windows error code or an Schannel event ID (tlsdiag explain --markdown lists them)"
            );
            Ok(EXIT_ERROR)
        }
    }
}

fn merge(documents: &[String]) -> Result<u8> {
    let mut parsed = Vec::new();
    for path in documents {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
        parsed.push(serde_json::from_str(&text).with_context(|| format!("{path} is not a tlsdiag JSON document"))?);
    }
    let merged = tlsdiag::report::merge::merge(&parsed).map_err(anyhow::Error::msg)?;
    let mut out = BufWriter::new(io::stdout());
    serde_json::to_writer_pretty(&mut out, &merged)?;
    writeln!(out)?;
    out.flush()?;
    Ok(0)
}
