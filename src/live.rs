//! Live capture: libpcap on an interface, each connection's verdict written the moment its
//! handshake outcome is known, a status line on stderr, and optionally everything captured
//! saved as pcapng so the frames named as evidence can be opened in Wireshark.

use crate::analyze::{FileSummary, Pipeline};
use crate::capture::{Frame, LinkType, PcapngWriter};
use crate::flow::Limits;
use crate::record::Connection;
use pcap::{Capture, Device};
use std::cell::Cell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use thiserror::Error;

/// How long to wait before asking again when no packet is ready.
const IDLE_POLL: Duration = Duration::from_millis(20);

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
        .immediate_mode(true)
        .open()
        .map_err(|e| open_error(iface, e))?
        // Non-blocking, so a quiet interface still lets the loop see a stop request or the end
        // of the duration (with immediate mode, libpcap's read timeout is not applied).
        .setnonblock()
        .map_err(|e| open_error(iface, e))?;
    cap.filter(&options.filter, true)
        .map_err(|e| LiveError::BadFilter { filter: options.filter.clone(), message: e.to_string() })?;
    let link_type = LinkType(cap.get_datalink().0 as u32);
    let mut writer = match &options.write {
        Some(path) => Some(
            PcapngWriter::create(path, link_type, options.snaplen as u32)
                .map_err(|source| LiveError::Write { path: path.display().to_string(), source })?,
        ),
        None => None,
    };
    let label = format!("live:{iface}");
    let mut pipeline = Pipeline::new(&label, limits).reporting_on_outcome();
    let (started, mut last_status) = (Instant::now(), Instant::now());
    let mut frames = 0u64;
    // Cells: the emitting closure counts while the status line reads.
    let (connections, failures) = (Cell::new(0u64), Cell::new(0u64));
    let mut counted_emit = |conn: Connection| {
        connections.set(connections.get() + 1);
        failures.set(failures.get() + conn.verdict.is_failure() as u64);
        emit(conn);
    };
    loop {
        if stop.load(Ordering::Relaxed)
            || options.duration.is_some_and(|d| started.elapsed() >= d)
            || options.count.is_some_and(|c| frames >= c)
        {
            break;
        }
        match cap.next_packet() {
            Ok(packet) => {
                frames += 1;
                let h = packet.header;
                // time_t and suseconds_t are not 64-bit on every platform.
                #[allow(clippy::unnecessary_cast)]
                let ts = h.ts.tv_sec as i64 * 1_000_000_000 + h.ts.tv_usec as i64 * 1000;
                let frame =
                    Frame { ts, link_type, caplen: h.caplen, orig_len: h.len, index: frames, data: packet.data };
                if let Some(w) = writer.as_mut() {
                    w.write(&frame).map_err(|source| LiveError::Write {
                        path: options.write.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
                        source,
                    })?;
                }
                pipeline.on_frame(&frame, &mut counted_emit);
            }
            Err(pcap::Error::TimeoutExpired) => std::thread::sleep(IDLE_POLL),
            Err(e) => {
                pipeline.summary.error = Some(e.to_string());
                break;
            }
        }
        if options.status_every.is_some_and(|every| last_status.elapsed() >= every) {
            last_status = Instant::now();
            let drops = cap.stats().map(|s| s.dropped + s.if_dropped).unwrap_or(0);
            eprintln!(
                "tlsdiag: {iface}: {frames} packets, {} connections, {} failures, {drops} dropped by the kernel",
                connections.get(),
                failures.get()
            );
        }
    }
    if let Some(w) = writer.as_mut() {
        w.flush().map_err(|source| LiveError::Write {
            path: options.write.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            source,
        })?;
    }
    pipeline.summary.frames = frames;
    Ok(pipeline.finish(&mut counted_emit))
}
