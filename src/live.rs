//! Live capture: libpcap on an interface, each connection's verdict written the moment its
//! handshake outcome is known, a status line on stderr, and optionally everything captured
//! saved as pcapng so the frames named as evidence can be opened in Wireshark.

use crate::analyze::{FileSummary, Pipeline};
use crate::capture::{Frame, LinkType, Nanos, PcapngWriter};
use crate::capture_loss::{CaptureLoss, LossLog};
use crate::flow::Limits;
use crate::record::Connection;
use pcap::{Capture, Device};
use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};
use thiserror::Error;

/// libpcap's read timeout: how long a partly filled kernel block waits before it is handed
/// over (TPACKET_V3), and so the longest a quiet capture waits on the descriptor.
const READ_TIMEOUT_MS: i32 = 100;
/// A batch goes to the analysis when it holds this many packets or bytes, or is this old.
const BATCH_PACKETS: usize = 1024;
const BATCH_BYTES: usize = 1 << 20;
const BATCH_AGE: Duration = Duration::from_millis(50);
/// Batches waiting for the analysis: with full batches, up to 64 MiB of packets. Beyond it
/// the capture drops whole batches (counted, with their times) rather than wait.
const QUEUE_BATCHES: usize = 64;
/// The kernel buffer when none is given: generous, as dumpcap's default is.
pub const DEFAULT_BUFFER_SIZE: usize = 64 << 20;

/// What to capture and when to stop.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    pub interface: String,
    /// BPF filter expression.
    pub filter: String,
    pub write: Option<PathBuf>,
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

/// The capture thread: reads packets and queues them, never waiting on the analysis. Before a
/// batch is queued the kernel's drop counter is read: new drops are a loss between the
/// previous read and now, sent with the batch.
fn read_packets(mut cap: Capture<pcap::Active>, queue: SyncSender<Batch>, quit: &AtomicBool) {
    let mut batch = Batch::new();
    let mut started = Instant::now();
    let (mut kernel_drops, mut checked) = (0u64, wall_nanos());
    let mut pending_losses: Vec<CaptureLoss> = Vec::new();
    let mut error = None;
    let mut quitting = false;
    loop {
        quitting |= quit.load(Ordering::Relaxed);
        if !quitting {
            match cap.next_packet() {
                Ok(packet) => {
                    let h = packet.header;
                    // time_t and suseconds_t are not 64-bit on every platform.
                    #[allow(clippy::unnecessary_cast)]
                    let ts = h.ts.tv_sec as i64 * 1_000_000_000 + h.ts.tv_usec as i64 * 1000;
                    if batch.packets.is_empty() {
                        started = Instant::now();
                    }
                    batch.data.extend_from_slice(packet.data);
                    batch.packets.push(PacketHeader { ts, caplen: h.caplen, len: h.len, end: batch.data.len() });
                }
                Err(pcap::Error::TimeoutExpired) => {}
                // pcap_breakloop from the analysis thread: the capture is to end.
                Err(pcap::Error::NoMorePackets) => quitting = true,
                Err(e) => error = Some(e.to_string()),
            }
        }
        let last = quitting || error.is_some();
        if !(last || batch.is_full() || started.elapsed() >= BATCH_AGE) {
            continue;
        }
        started = Instant::now();
        let now = wall_nanos();
        if let Ok(stats) = cap.stats() {
            let dropped = u64::from(stats.dropped) + u64::from(stats.if_dropped);
            if dropped > kernel_drops {
                pending_losses.push(CaptureLoss { kernel: dropped - kernel_drops, queue: 0, from: checked, to: now });
                kernel_drops = dropped;
            }
        }
        checked = now;
        let mut full = std::mem::replace(&mut batch, Batch::new());
        full.losses = std::mem::take(&mut pending_losses);
        full.error = error.take();
        if last {
            // The last batch waits for room: the analysis is draining the queue.
            let _ = queue.send(full);
            return;
        }
        match queue.try_send(full) {
            Ok(()) => {}
            Err(TrySendError::Full(dropped)) => {
                let lost = dropped.as_loss();
                pending_losses = dropped.losses;
                pending_losses.extend(lost);
            }
            Err(TrySendError::Disconnected(_)) => return,
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
    limits: &Limits,
    stop: &AtomicBool,
    emit: &mut dyn FnMut(Connection),
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
        .map_err(|e| open_error(iface, e))?;
    cap.filter(&options.filter, true)
        .map_err(|e| LiveError::BadFilter { filter: options.filter.clone(), message: e.to_string() })?;
    let link_type = LinkType(cap.get_datalink().0 as u32);
    let write_error = |source| LiveError::Write {
        path: options.write.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
        source,
    };
    let mut writer = match &options.write {
        Some(path) => Some(PcapngWriter::create(path, link_type, options.snaplen as u32).map_err(write_error)?),
        None => None,
    };
    let label = format!("live:{iface}");
    let mut pipeline = Pipeline::new(&label, limits).reporting_on_outcome();
    let (started, mut last_status) = (Instant::now(), Instant::now());
    let mut frames = 0u64;
    let losses = RefCell::new(LossLog::default());
    // The packet time at which the connections being emitted were settled.
    let settled_at = Cell::new(Nanos::MIN);
    // Cells: the emitting closure counts while the status line reads.
    let (connections, failures) = (Cell::new(0u64), Cell::new(0u64));
    let mut counted_emit = |mut conn: Connection| {
        losses.borrow_mut().judge(&mut conn, settled_at.get());
        connections.set(connections.get() + 1);
        failures.set(failures.get() + conn.verdict.is_failure() as u64);
        emit(conn);
    };
    // libpcap waits on the descriptor without a timeout while no packet comes (with TPACKET_V3
    // the kernel's block timer wakes it when packets do): pcap_breakloop wakes it to end.
    let breaker = cap.breakloop_handle();
    let quit = AtomicBool::new(false);
    let (queue, batches) = sync_channel::<Batch>(QUEUE_BATCHES);
    let result = std::thread::scope(|scope| -> Result<(), LiveError> {
        let quit = &quit;
        let reader = std::thread::Builder::new()
            .name("tlsdiag-capture".into())
            .spawn_scoped(scope, move || read_packets(cap, queue, quit))
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
                    breaker.breakloop();
                }
                let batch = match batches.recv_timeout(Duration::from_millis(READ_TIMEOUT_MS as u64)) {
                    Ok(batch) => batch,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => break,
                };
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
                if options.status_every.is_some_and(|every| last_status.elapsed() >= every) {
                    last_status = Instant::now();
                    eprintln!(
                        "tlsdiag: {iface}: {}",
                        status(frames, connections.get(), failures.get(), &losses.borrow())
                    );
                }
            }
            Ok(())
        };
        let outcome = analyse();
        // On an error too: the reader is woken, and its last send fails once the queue is gone.
        quit.store(true, Ordering::Relaxed);
        breaker.breakloop();
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
    eprintln!("tlsdiag: {iface}: ended: {}", status(frames, connections.get(), failures.get(), &l));
    summary.capture_loss = (l.lost() > 0).then(|| Box::new(l.summary()));
    Ok(summary)
}
