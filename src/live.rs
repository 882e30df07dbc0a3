//! Live capture: libpcap on an interface, each connection's verdict written the moment its
//! handshake outcome is known, a status line on stderr, and optionally everything captured
//! saved as pcapng so the frames named as evidence can be opened in Wireshark.

use crate::analyze::Pipeline;
use crate::analyze::Settings;
use crate::capture::CaptureLoss;
use crate::capture::{Frame, LinkType, Nanos, RotatingWriter, Rotation};
use crate::capture_loss::LossLog;
use crate::record::Connection;
use crate::summary::FileSummary;
use crate::verdict::Code;
#[cfg(unix)]
use nix::poll::{PollFd, PollFlags};
#[cfg(unix)]
use nix::sys::signal::{SigSet, Signal};
#[cfg(unix)]
use nix::sys::signalfd::{SfdFlags, SignalFd};
use pcap::{Capture, Device};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
#[cfg(unix)]
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};
use thiserror::Error;

/// libpcap's read timeout: how long a partly filled kernel block waits before it is handed
/// over (TPACKET_V3), and so the longest a quiet capture waits on the descriptor.
const READ_TIMEOUT_MS: i32 = 100;
/// How long the capture thread waits on the descriptor before looking at the stop flag.
const POLL_TIMEOUT_MS: u16 = 100;
/// A batch goes to the analysis when it holds this many packets or bytes, or is this old.
const BATCH_PACKETS: usize = 1024;
const BATCH_BYTES: usize = 1 << 20;
const BATCH_AGE: Duration = Duration::from_millis(50);
/// Packet bytes waiting for the analysis (a stall of the analysis thread of seconds at a
/// busy server's rate). Beyond it the capture drops whole batches (counted, with their times)
/// rather than wait.
const QUEUE_BYTES: usize = 64 << 20;
/// Batches waiting, whatever their size (a slow trickle makes many small ones).
const QUEUE_BATCHES: usize = 4096;
/// `--handshakes-only`: what the kernel keeps of TCP. Control packets (SYN, FIN, RST) and
/// packets without payload (the ACKs that establish a connection and prove what the peer
/// received); segments that begin with a TLS handshake, alert or ChangeCipherSpec record
/// header, or a small application-data record (TLS 1.3's encrypted handshake and first records,
/// whose sizes tell a refusal from a success); TDS PRELOGIN packets (SQL Server). Bulk data,
/// and the continuation segments of a record larger than one segment, stay in the kernel.
/// The offset of the payload is the TCP header length; `tcp[]` is IPv4 and IPv6 alike.
pub const HANDSHAKES_ONLY_FILTER: &str = "tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0 \
     or (ip and ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2) = 0) \
     or (ip6 and ip6[4:2] - ((tcp[12] & 0xf0) >> 2) = 0) \
     or (tcp[(tcp[12] & 0xf0) >> 2] >= 0x14 and tcp[(tcp[12] & 0xf0) >> 2] <= 0x16 and tcp[((tcp[12] & 0xf0) >> 2) + 1] = 3) \
     or (tcp[(tcp[12] & 0xf0) >> 2] = 0x17 and tcp[((tcp[12] & 0xf0) >> 2) + 1] = 3 and tcp[((tcp[12] & 0xf0) >> 2) + 3 : 2] < 2048) \
     or tcp[(tcp[12] & 0xf0) >> 2] = 0x12";

/// The kernel buffer when none is given: generous, as dumpcap's default is.
pub const DEFAULT_BUFFER_SIZE: usize = 64 << 20;

/// What to capture and when to stop.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    pub interface: String,
    /// BPF filter expression.
    pub filter: String,
    pub write: Option<PathBuf>,
    /// When `write` starts a new part.
    pub rotation: Rotation,
    /// Per-server failure counts by code, every so often (never when None)...
    pub summary_every: Option<Duration>,
    /// ...to this file (appended to, reopened on SIGHUP), else to stderr.
    pub summary_file: Option<PathBuf>,
    pub duration: Option<Duration>,
    pub count: Option<u64>,
    pub snaplen: i32,
    /// Kernel capture buffer in bytes.
    pub buffer_size: usize,
    /// How often the status line is printed on stderr (never when None).
    pub status_every: Option<Duration>,
}

#[derive(Debug, Error)]
pub enum LiveError {
    #[error(
        "no permission to capture on {interface} ({message}): run as root, or grant the capability once with \
         `sudo setcap cap_net_raw,cap_net_admin=eip $(command -v tlsdiag)`"
    )]
    Permission { interface: String, message: String },
    #[error("no such interface: {interface} (`tlsdiag interfaces` lists them)")]
    NoSuchInterface { interface: String },
    #[error("bad filter expression '{filter}': {message}")]
    BadFilter { filter: String, message: String },
    #[error("capture on {interface} failed: {message}")]
    Capture { interface: String, message: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// An interface libpcap can capture on.
pub struct Interface {
    pub name: String,
    pub description: Option<String>,
    pub addresses: Vec<String>,
}

/// Interfaces libpcap can capture on.
pub fn interfaces() -> Result<Vec<Interface>, LiveError> {
    let devices =
        Device::list().map_err(|e| LiveError::Capture { interface: "(listing)".into(), message: e.to_string() })?;
    Ok(devices
        .into_iter()
        .map(|d| Interface {
            addresses: d.addresses.iter().map(|a| a.addr.to_string()).collect(),
            name: d.name,
            description: d.desc,
        })
        .collect())
}

fn open_error(interface: &str, e: pcap::Error) -> LiveError {
    let message = e.to_string();
    let lower = message.to_lowercase();
    if lower.contains("permission") || lower.contains("not permitted") {
        LiveError::Permission { interface: interface.into(), message }
    } else if lower.contains("no such device") || lower.contains("doesn't exist") {
        LiveError::NoSuchInterface { interface: interface.into() }
    } else {
        LiveError::Capture { interface: interface.into(), message }
    }
}

/// Packets read by the capture thread, handed to the analysis in one piece.
struct Batch {
    /// Packet bytes, back to back.
    data: Vec<u8>,
    packets: Vec<PacketHeader>,
    /// Losses found since the previous batch that reached the analysis; they come before this
    /// batch's packets so that no connection is judged before the losses of its time are known.
    losses: Vec<CaptureLoss>,
    /// Why the capture ended, on the last batch.
    error: Option<String>,
}

struct PacketHeader {
    ts: Nanos,
    caplen: u32,
    len: u32,
    end: usize,
}

impl Batch {
    fn new() -> Self {
        Batch { data: Vec::new(), packets: Vec::new(), losses: Vec::new(), error: None }
    }
    fn is_full(&self) -> bool {
        self.packets.len() >= BATCH_PACKETS || self.data.len() >= BATCH_BYTES
    }
    /// Memory the batch holds while queued.
    fn weight(&self) -> usize {
        self.data.len() + self.packets.len() * std::mem::size_of::<PacketHeader>()
    }
    /// The packets of a batch that could not be queued, as a loss.
    fn as_loss(&self) -> Option<CaptureLoss> {
        let (first, last) = (self.packets.first()?, self.packets.last()?);
        Some(CaptureLoss { kernel: 0, queue: self.packets.len() as u64, from: first.ts, to: last.ts })
    }
}

/// The wall clock as packet time (the kernel stamps packets with the same clock).
fn wall_nanos() -> Nanos {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos().min(i64::MAX as u128) as Nanos)
        .unwrap_or(0)
}

/// The capture thread's side of the queue: the batch being filled, and the losses not yet
/// told to the analysis.
struct Reader<'q> {
    queue: SyncSender<Batch>,
    /// Bytes queued and not yet taken by the analysis.
    queued: &'q AtomicUsize,
    batch: Batch,
    /// When the batch got its first packet (or was last handed over).
    started: Instant,
    kernel_drops: u64,
    /// When the kernel's drop counter was last read.
    checked: Nanos,
    pending_losses: Vec<CaptureLoss>,
}

impl Reader<'_> {
    /// Reads the kernel's drop counter (new drops are a loss between the previous read and
    /// now) and queues the batch with the losses not yet told; a full queue drops the batch,
    /// which becomes a loss told with the next one. The last batch waits for room. False when
    /// the analysis is gone.
    fn hand_over(&mut self, cap: &mut Capture<pcap::Active>, error: Option<String>, last: bool) -> bool {
        self.started = Instant::now();
        let now = wall_nanos();
        if let Ok(stats) = cap.stats() {
            let dropped = u64::from(stats.dropped) + u64::from(stats.if_dropped);
            if dropped > self.kernel_drops {
                let kernel = dropped - self.kernel_drops;
                self.pending_losses.push(CaptureLoss { kernel, queue: 0, from: self.checked, to: now });
                self.kernel_drops = dropped;
            }
        }
        self.checked = now;
        let mut batch = std::mem::replace(&mut self.batch, Batch::new());
        batch.losses = std::mem::take(&mut self.pending_losses);
        batch.error = error;
        let weight = batch.weight();
        if last {
            self.queued.fetch_add(weight, Ordering::AcqRel);
            return self.queue.send(batch).is_ok();
        }
        let sent = if self.queued.load(Ordering::Acquire) + weight > QUEUE_BYTES {
            Err(TrySendError::Full(batch))
        } else {
            self.queued.fetch_add(weight, Ordering::AcqRel);
            self.queue.try_send(batch).inspect_err(|_| {
                self.queued.fetch_sub(weight, Ordering::AcqRel);
            })
        };
        match sent {
            Ok(()) => true,
            Err(TrySendError::Full(dropped)) => {
                let lost = dropped.as_loss();
                self.pending_losses = dropped.losses;
                self.pending_losses.extend(lost);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

/// The capture thread: reads packets and queues them, never waiting on the analysis; when the
/// kernel ring is empty it hands over what it has (so a verdict waits no longer than the
/// kernel's block timeout) and waits on libpcap's descriptor.
fn read_packets(mut cap: Capture<pcap::Active>, queue: SyncSender<Batch>, queued: &AtomicUsize, quit: &AtomicBool) {
    let mut r = Reader {
        queue,
        queued,
        batch: Batch::new(),
        started: Instant::now(),
        kernel_drops: 0,
        checked: wall_nanos(),
        pending_losses: Vec::new(),
    };
    loop {
        if quit.load(Ordering::Relaxed) {
            r.hand_over(&mut cap, None, true);
            return;
        }
        match cap.next_packet() {
            Ok(packet) => {
                let h = packet.header;
                // time_t and suseconds_t are not 64-bit on every platform.
                #[allow(clippy::unnecessary_cast)]
                let ts = h.ts.tv_sec as i64 * 1_000_000_000 + h.ts.tv_usec as i64 * 1000;
                if r.batch.packets.is_empty() {
                    r.started = Instant::now();
                }
                r.batch.data.extend_from_slice(packet.data);
                r.batch.packets.push(PacketHeader { ts, caplen: h.caplen, len: h.len, end: r.batch.data.len() });
                if (r.batch.is_full() || r.started.elapsed() >= BATCH_AGE) && !r.hand_over(&mut cap, None, false) {
                    return;
                }
            }
            Err(pcap::Error::TimeoutExpired) => {
                let due = !r.batch.packets.is_empty() || r.started.elapsed() >= BATCH_AGE;
                if due && !r.hand_over(&mut cap, None, false) {
                    return;
                }
                wait_for_packets(&cap);
            }
            Err(e) => {
                r.hand_over(&mut cap, Some(e.to_string()), true);
                return;
            }
        }
    }
}

/// Waits on libpcap's descriptor until packets are there or the poll timeout passes.
#[cfg(unix)]
fn wait_for_packets(cap: &Capture<pcap::Active>) {
    let mut fds = [PollFd::new(cap.as_fd(), PollFlags::POLLIN)];
    let _ = nix::poll::poll(&mut fds, POLL_TIMEOUT_MS);
}

/// Windows (Npcap) has no descriptor to poll: a short sleep before the next read.
#[cfg(not(unix))]
fn wait_for_packets(_cap: &Capture<pcap::Active>) {
    std::thread::sleep(Duration::from_millis(1));
}

/// SIGHUP, read from a signalfd: the signal is blocked in every thread (so it neither kills
/// the process nor needs a handler) and the analysis loop asks whether it came.
#[cfg(unix)]
pub struct Hangup(SignalFd);

/// Windows has no SIGHUP: rotation is by size (-C) and time (-G) only.
#[cfg(not(unix))]
pub struct Hangup;

#[cfg(not(unix))]
impl Hangup {
    pub fn install() -> std::io::Result<Hangup> {
        Ok(Hangup)
    }

    pub fn received(&self) -> bool {
        false
    }
}

#[cfg(unix)]
impl Hangup {
    /// Blocks SIGHUP in this thread and the threads it starts later: call it first thing.
    pub fn install() -> std::io::Result<Hangup> {
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGHUP);
        mask.thread_block().map_err(std::io::Error::from)?;
        SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map(Hangup)
            .map_err(std::io::Error::from)
    }

    pub fn received(&self) -> bool {
        let mut any = false;
        while let Ok(Some(_)) = self.0.read_signal() {
            any = true;
        }
        any
    }
}

/// Failures per server and code over one summary period; bounded by the servers that failed
/// in that period.
#[derive(Default)]
struct FailureCounts(BTreeMap<String, BTreeMap<Code, u64>>);

impl FailureCounts {
    fn add(&mut self, server: &str, code: Code) {
        *self.0.entry(server.to_string()).or_default().entry(code).or_default() += 1;
    }
    fn merge(&mut self, other: FailureCounts) {
        for (server, codes) in other.0 {
            for (code, n) in codes {
                *self.0.entry(server.clone()).or_default().entry(code).or_default() += n;
            }
        }
    }
    /// "2026-11-27T18:00:00Z failures: 10.0.0.5:443 cipher_mismatch=3 no_server_hello=1; ..."
    fn line(&self, now: Nanos) -> String {
        let mut line = format!("{} failures since the last summary:", crate::time::rfc3339_nanos(now));
        if self.0.is_empty() {
            line.push_str(" none");
        }
        for (i, (server, codes)) in self.0.iter().enumerate() {
            line.push_str(if i == 0 { " " } else { "; " });
            line.push_str(server);
            for (code, n) in codes {
                line.push_str(&format!(" {code}={n}"));
            }
        }
        line
    }
}

/// Where the periodic summary goes.
enum SummaryOut {
    /// To the caller's notices (the command line prints them on stderr).
    Notices,
    File(PathBuf, std::fs::File),
}

impl SummaryOut {
    fn open(path: Option<&std::path::Path>) -> Result<SummaryOut, LiveError> {
        let Some(path) = path else { return Ok(SummaryOut::Notices) };
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(|f| SummaryOut::File(path.to_path_buf(), f))
            .map_err(|source| LiveError::Write { path: path.display().to_string(), source })
    }
    fn line(&mut self, line: &str, notice: &mut dyn FnMut(&str)) -> Result<(), LiveError> {
        use std::io::Write;
        match self {
            SummaryOut::Notices => {
                notice(line);
                Ok(())
            }
            SummaryOut::File(path, f) => {
                writeln!(f, "{line}").map_err(|source| LiveError::Write { path: path.display().to_string(), source })
            }
        }
    }
}

/// The status line: what was seen, what was lost, and how many verdicts the loss changed.
fn status(frames: u64, connections: u64, failures: u64, losses: &LossLog) -> String {
    format!(
        "{frames} packets, {connections} connections, {failures} failures, {} dropped by the kernel, {} dropped by a full queue, {} verdicts incomplete_capture because of the loss",
        losses.kernel, losses.queue, losses.verdicts_affected
    )
}

/// Captures until `stop` is set, the duration or the count is reached, or the interface goes
/// away; every settled connection goes to `emit` at once.
pub fn capture(
    options: &LiveOptions,
    settings: &Settings,
    stop: &AtomicBool,
    hangup: Option<&Hangup>,
    emit: &mut dyn FnMut(Connection),
    notice: &mut dyn FnMut(&str),
) -> Result<FileSummary, LiveError> {
    let iface = options.interface.as_str();
    let mut cap = Capture::from_device(iface)
        .map_err(|e| open_error(iface, e))?
        .promisc(false)
        .snaplen(options.snaplen)
        .buffer_size(options.buffer_size.min(i32::MAX as usize) as i32)
        // Not immediate mode: libpcap then uses the kernel's TPACKET_V3 ring, whose blocks hold
        // packets back to back (immediate mode reserves a full snap length per packet, so the
        // same buffer holds a few hundred packets); a block partly filled is handed over after
        // the read timeout, which bounds the delay of a verdict.
        .immediate_mode(false)
        .timeout(READ_TIMEOUT_MS)
        .open()
        .map_err(|e| open_error(iface, e))?
        // Non-blocking: the capture thread waits on the descriptor itself, with a timeout, so
        // it can hand over a batch and see a stop request while no packet comes.
        .setnonblock()
        .map_err(|e| open_error(iface, e))?;
    cap.filter(&options.filter, true)
        .map_err(|e| LiveError::BadFilter { filter: options.filter.clone(), message: e.to_string() })?;
    let link_type = LinkType(cap.get_datalink().0 as u32);
    let write_error = |source| LiveError::Write {
        path: options.write.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
        source,
    };
    let mut writer = match &options.write {
        Some(path) => Some(
            RotatingWriter::create(path, options.rotation.clone(), link_type, options.snaplen as u32)
                .map_err(write_error)?,
        ),
        None => None,
    };
    let mut summary_out = SummaryOut::open(options.summary_file.as_deref())?;
    let (mut last_summary, mut period) = (Instant::now(), FailureCounts::default());
    let label = format!("live:{iface}");
    let mut pipeline = Pipeline::new(&label, settings).reporting_on_outcome();
    let (started, mut last_status) = (Instant::now(), Instant::now());
    let mut frames = 0u64;
    let losses = RefCell::new(LossLog::default());
    // The packet time at which the connections being emitted were settled.
    let settled_at = Cell::new(Nanos::MIN);
    // Cells: the emitting closure counts while the status line reads.
    let (connections, failures) = (Cell::new(0u64), Cell::new(0u64));
    let failed_here = RefCell::new(FailureCounts::default());
    let mut counted_emit = |mut conn: Connection| {
        losses.borrow_mut().judge(&mut conn, settled_at.get());
        connections.set(connections.get() + 1);
        if conn.verdict.is_failure() {
            failures.set(failures.get() + 1);
            if options.summary_every.is_some() {
                failed_here.borrow_mut().add(&conn.facts.server, conn.verdict.code);
            }
        }
        emit(conn);
    };
    let quit = AtomicBool::new(false);
    let queued = AtomicUsize::new(0);
    let (queue, batches) = sync_channel::<Batch>(QUEUE_BATCHES);
    let result = std::thread::scope(|scope| -> Result<(), LiveError> {
        let (quit, queued) = (&quit, &queued);
        let reader = std::thread::Builder::new()
            .name("tlsdiag-capture".into())
            .spawn_scoped(scope, move || read_packets(cap, queue, queued, quit))
            .map_err(|e| LiveError::Capture { interface: iface.into(), message: e.to_string() })?;
        let mut counted = false;
        let mut analyse = || -> Result<(), LiveError> {
            loop {
                if !quit.load(Ordering::Relaxed)
                    && (stop.load(Ordering::Relaxed)
                        || options.duration.is_some_and(|d| started.elapsed() >= d)
                        || counted)
                {
                    quit.store(true, Ordering::Relaxed);
                }
                let batch = match batches.recv_timeout(Duration::from_millis(READ_TIMEOUT_MS as u64)) {
                    Ok(batch) => batch,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => break,
                };
                queued.fetch_sub(batch.weight(), Ordering::AcqRel);
                for loss in batch.losses {
                    losses.borrow_mut().add(loss);
                }
                let mut begin = 0;
                for h in &batch.packets {
                    let data = &batch.data[begin..h.end];
                    begin = h.end;
                    if counted || options.count.is_some_and(|c| frames >= c) {
                        counted = true;
                        continue;
                    }
                    frames += 1;
                    let frame = Frame { ts: h.ts, link_type, caplen: h.caplen, orig_len: h.len, index: frames, data };
                    if let Some(w) = writer.as_mut() {
                        w.write(&frame).map_err(write_error)?;
                    }
                    settled_at.set(h.ts);
                    pipeline.on_frame(&frame, &mut counted_emit);
                }
                if batch.error.is_some() {
                    pipeline.summary.error = batch.error;
                }
                if hangup.is_some_and(Hangup::received) {
                    if let Some(w) = writer.as_mut() {
                        w.reopen().map_err(write_error)?;
                    }
                    summary_out = SummaryOut::open(options.summary_file.as_deref())?;
                }
                if options.summary_every.is_some_and(|every| last_summary.elapsed() >= every) {
                    last_summary = Instant::now();
                    period.merge(std::mem::take(&mut *failed_here.borrow_mut()));
                    summary_out.line(&std::mem::take(&mut period).line(wall_nanos()), notice)?;
                }
                if options.status_every.is_some_and(|every| last_status.elapsed() >= every) {
                    last_status = Instant::now();
                    notice(&format!(
                        "{iface}: {}",
                        status(frames, connections.get(), failures.get(), &losses.borrow())
                    ));
                }
            }
            Ok(())
        };
        let outcome = analyse();
        // On an error too: the reader stops, and its last send fails once the queue is gone.
        quit.store(true, Ordering::Relaxed);
        drop(batches);
        let _ = reader.join();
        outcome
    });
    result?;
    if let Some(w) = writer.as_mut() {
        w.flush().map_err(write_error)?;
    }
    pipeline.summary.frames = frames;
    // Connections still open at the end were open during every loss after their start.
    settled_at.set(Nanos::MAX);
    let mut summary = pipeline.finish(&mut counted_emit);
    let l = losses.into_inner();
    notice(&format!("{iface}: ended: {}", status(frames, connections.get(), failures.get(), &l)));
    summary.capture_loss = (l.lost() > 0).then(|| Box::new(l.summary()));
    Ok(summary)
}
