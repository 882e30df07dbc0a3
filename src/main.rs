//! Command line: parses arguments, opens the inputs, runs the pipeline, sets the exit code.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use std::sync::Arc;
use tlsdiag::analyze::Session;
use tlsdiag::batch;
use tlsdiag::flow::Limits;
use tlsdiag::proto::keylog::KeyLog;
use tlsdiag::report::{reporter, Format};

/// Exit code when `--fail-on-failure` is given and a handshake failure was found.
const EXIT_FAILURE_FOUND: u8 = 1;
/// Exit code when an input could not be read (wholly or partly) or the arguments are wrong.
const EXIT_ERROR: u8 = 2;

#[derive(Parser)]
#[command(name = "tlsdiag", version, about = "Diagnose TLS handshakes in network captures")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyse captures (pcap, pcapng, Network Monitor; plain or gzip, zstd, xz, bzip2
    /// compressed): files, directories (walked recursively), `-` for standard input.
    Analyze(AnalyzeArgs),
    /// Capture on an interface and report each connection as soon as its outcome is known.
    #[cfg(feature = "live")]
    Live(LiveArgs),
    /// List the interfaces live capture can use.
    #[cfg(feature = "live")]
    Interfaces,
    /// Say which verdicts fit a symptom and how to fix it: a verdict code, a TLS alert name or
    /// number, a Windows error code (10054, 0x80090331, 2148074289) or an Schannel event ID.
    Explain {
        /// The symptom; omit it with --markdown.
        #[arg(required_unless_present = "markdown")]
        symptom: Option<String>,
        /// Print the whole verdict table and symptom index as Markdown (as in the README).
        #[arg(long)]
        markdown: bool,
    },
    /// Combine JSON documents of separate `analyze --format json` runs into one.
    Merge {
        /// JSON documents written by `analyze --format json`.
        #[arg(required = true)]
        documents: Vec<String>,
    },
}

#[derive(clap::Args)]
struct AnalyzeArgs {
    /// Capture files and directories; `-` for standard input.
    #[arg(required_unless_present = "files_from")]
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
    /// Also show connections that are not TLS.
    #[arg(long)]
    all: bool,
    /// Exit with code 1 when a handshake failure was found.
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

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe))
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Analyze(args) => analyze(args),
        Command::Merge { documents } => merge(&documents),
        Command::Explain { symptom, markdown } => explain(symptom.as_deref(), markdown),
        #[cfg(feature = "live")]
        Command::Live(args) => live(args),
        #[cfg(feature = "live")]
        Command::Interfaces => {
            for i in tlsdiag::live::interfaces()? {
                println!("{}\t{}\t{}", i.name, i.description.unwrap_or_default(), i.addresses.join(" "));
            }
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
    let limits = Limits {
        idle_timeout: args.idle_timeout.saturating_mul(1_000_000_000),
        keylog: keylog.clone(),
        ..Limits::default()
    };
    let stdout = BufWriter::with_capacity(64 * 1024, io::stdout());
    let mut report = reporter(args.format, Box::new(stdout), args.all, true);
    let mut session = Session::streaming(report.as_mut());
    let summary =
        tlsdiag::live::capture(&options, &limits, &stop, Some(&hangup), &mut |conn| session.connection(conn))?;
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
    let limits = Limits {
        keylog: keylog.clone(),
        max_flows: args.max_flows,
        idle_timeout: args.idle_timeout.saturating_mul(1_000_000_000),
        max_out_of_order_segments: args.max_out_of_order,
        max_handshake_message: args.max_handshake_message,
        ..Limits::default()
    };
    let inputs = batch::expand(&args.files, args.files_from.as_deref()).context("listing the inputs")?;
    let stdout = BufWriter::with_capacity(64 * 1024, io::stdout());
    let mut report = reporter(args.format, Box::new(stdout), args.all, false);
    let mut session = Session::new(report.as_mut());
    let mut result = if args.merge {
        batch::run_merged(&inputs, &limits, &mut session)
    } else {
        batch::run(&inputs, &limits, args.threads, &mut session)
    };
    session.finish(&mut result.files)?;
    report_unmatched_keylog(args.keylog.as_deref(), keylog.as_deref());
    if !result.skipped.is_empty() {
        eprintln!("tlsdiag: skipped {} file(s) that are not captures", result.skipped.len());
    }
    let totals = tlsdiag::analyze::totals(&result.files);
    Ok(if totals.files_with_errors > 0 {
        EXIT_ERROR
    } else if args.fail_on_failure && totals.failures > 0 {
        EXIT_FAILURE_FOUND
    } else {
        0
    })
}

fn explain(symptom: Option<&str>, markdown: bool) -> Result<u8> {
    if markdown {
        use tlsdiag::explain::{markdown_symptoms, markdown_table, FINDINGS, VERDICTS};
        print!(
            "{}\n{}\n{}",
            markdown_table("verdict", VERDICTS),
            markdown_table("server finding", FINDINGS),
            markdown_symptoms()
        );
        return Ok(0);
    }
    let symptom = symptom.unwrap_or_default();
    match tlsdiag::explain::explain(symptom) {
        Some(text) => {
            println!("{text}");
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
