//! The container of an ETL file: WMI buffers, the event header kinds inside them, and the
//! TRACE_LOGFILE_HEADER that the first event of the first buffer carries.
//!
//! Grammar only: this module says where events are and what their common header fields are;
//! which events are packets is decided in `packets`.

/// Every buffer starts with this many bytes of WMI_BUFFER_HEADER.
pub(crate) const BUFFER_HEADER: usize = 0x48;
/// `BufferFlag` bit of a buffer whose bytes after the header are LZ77-compressed.
pub(crate) const FLAG_COMPRESSED: u16 = 0x40;
/// `BufferType` of the logfile header buffer.
const BUFFER_TYPE_HEADER: u16 = 4;
/// An ETW buffer is at most 16 MiB (the `MaximumBufferSize` ETW accepts is 16 MiB); more is
/// corruption, and the limit bounds what one buffer may cost in memory.
pub(crate) const MAX_BUFFER: usize = 16 * 1024 * 1024 + BUFFER_HEADER;

// Event header kinds (`TRACE_HEADER_TYPE_*`): the third byte of every event.
const SYSTEM32: u8 = 0x01;
const SYSTEM64: u8 = 0x02;
const COMPACT32: u8 = 0x03;
const COMPACT64: u8 = 0x04;
const PERFINFO32: u8 = 0x10;
const PERFINFO64: u8 = 0x11;
pub(crate) const EVENT_HEADER32: u8 = 0x12;
pub(crate) const EVENT_HEADER64: u8 = 0x13;
/// Bits of the fourth byte that every event header has set (`TRACE_HEADER_FLAG`).
const TRACE_HEADER_FLAG: u8 = 0x80;
/// `EVENT_HEADER_FLAG_EXTENDED_INFO`: extended data items follow the EVENT_HEADER.
const EXTENDED_INFO: u16 = 0x0001;
/// Size of an EVENT_HEADER as stored (32- and 64-bit writers alike).
pub(crate) const EVENT_HEADER_LEN: usize = 0x50;

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default())
}

/// The fields of a WMI_BUFFER_HEADER this reader uses.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BufferHeader {
    /// Bytes the buffer takes in the file (compressed size when compressed).
    pub size: usize,
    /// End of the events, relative to the buffer start, once expanded.
    pub filled: usize,
    pub cpu: u8,
    pub flags: u16,
    pub kind: u16,
}

impl BufferHeader {
    /// Reads the header; `Err` says what is wrong with it.
    pub(crate) fn parse(h: &[u8]) -> Result<BufferHeader, String> {
        let size = u32_at(h, 0) as usize;
        let filled = u32_at(h, 0x30) as usize;
        let header = BufferHeader { size, filled, cpu: h[0x28], flags: u16_at(h, 0x34), kind: u16_at(h, 0x36) };
        if !(BUFFER_HEADER..=MAX_BUFFER).contains(&size) {
            return Err(format!("buffer size {size} outside {BUFFER_HEADER}..={MAX_BUFFER}"));
        }
        if !(BUFFER_HEADER..=MAX_BUFFER).contains(&filled) || (!header.compressed() && filled > size) {
            return Err(format!("buffer filled to {filled} of its {size} bytes"));
        }
        Ok(header)
    }

    pub(crate) fn compressed(&self) -> bool {
        self.flags & FLAG_COMPRESSED != 0
    }
}

/// One event inside a buffer's expanded bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EventAt {
    /// Header kind (`TRACE_HEADER_TYPE_*`).
    pub kind: u8,
    /// Start of the event in the buffer.
    pub start: usize,
    pub len: usize,
}

/// The next event of a buffer at `at` (relative to the buffer start, header included), or
/// `None` at its end. Events are 8-byte aligned; 0xFFFFFFFF ends the list early.
#[inline]
pub(crate) fn event_at(buf: &[u8], at: usize) -> Result<Option<EventAt>, String> {
    let Some(word) = buf.get(at..at + 4) else {
        return Ok(None);
    };
    let word = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
    if word == u32::MAX {
        return Ok(None);
    }
    let [size_lo, size_hi, kind, marker] = word.to_le_bytes();
    if marker & TRACE_HEADER_FLAG == 0 {
        return Err(no_marker(kind, marker));
    }
    let (len, min) = match kind {
        // The packet events: their size is in the first two bytes.
        EVENT_HEADER32 | EVENT_HEADER64 => (u16::from_le_bytes([size_lo, size_hi]), EVENT_HEADER_LEN),
        SYSTEM32 | SYSTEM64 | COMPACT32 | COMPACT64 | PERFINFO32 | PERFINFO64 => {
            let Some(size) = buf.get(at + 4..at + 6) else {
                return Err(cut_header());
            };
            let min = match kind {
                SYSTEM32 | SYSTEM64 => 0x20,
                COMPACT32 | COMPACT64 => 0x18,
                _ => 0x10,
            };
            (u16::from_le_bytes([size[0], size[1]]), min)
        }
        // Full, instance, timed, error, message and WNODE headers keep their size in the
        // first two bytes; the smallest of them (a message header) is 8 bytes.
        _ => (u16::from_le_bytes([size_lo, size_hi]), 8),
    };
    let len = len as usize;
    if len < min || at + len > buf.len() {
        return Err(bad_size(kind, len, min));
    }
    Ok(Some(EventAt { kind, start: at, len }))
}

// What is wrong with an event, worded off the hot path.
#[cold]
fn no_marker(kind: u8, marker: u8) -> String {
    format!("no event header marker (bytes {kind:02x} {marker:02x})")
}

#[cold]
fn cut_header() -> String {
    "event header cut by the end of the buffer".to_string()
}

#[cold]
fn bad_size(kind: u8, len: usize, min: usize) -> String {
    if len < min {
        format!("event of kind {kind:#04x} claims {len} bytes, less than its {min}-byte header")
    } else {
        format!("event of {len} bytes runs past the end of its buffer")
    }
}

/// Where the next event starts.
#[inline]
pub(crate) fn next_event(e: &EventAt) -> usize {
    (e.start + e.len + 7) & !7
}

/// The common fields of an EVENT_HEADER (manifest and TraceLogging events).
#[derive(Clone, Copy, Debug)]
pub(crate) struct EventHeader<'a> {
    pub provider: [u8; 16],
    pub id: u16,
    pub keyword: u64,
    /// The user data, after any extended data items.
    pub data: &'a [u8],
}

/// Reads an EVENT_HEADER event; skips its extended data items.
#[inline]
pub(crate) fn event_header(ev: &[u8]) -> Result<EventHeader<'_>, String> {
    let flags = u16_at(ev, 4);
    let mut data_at = EVENT_HEADER_LEN;
    if flags & EXTENDED_INFO != 0 {
        // Each item: total size (8-aligned), type, linkage bit (more follow), data size. The
        // chain ends where the linkage bit is clear; every item moves on by at least 8 bytes,
        // so it cannot loop, and it must end inside the event.
        loop {
            if data_at + 8 > ev.len() {
                return Err("extended data items run past the end of their event".into());
            }
            let size = u16_at(ev, data_at) as usize;
            let linkage = u16_at(ev, data_at + 4) & 1;
            if size < 8 || data_at + size > ev.len() {
                return Err(format!("extended data item of {size} bytes does not fit its event"));
            }
            data_at += size;
            if linkage == 0 {
                break;
            }
        }
    }
    Ok(EventHeader {
        provider: ev[0x18..0x28].try_into().unwrap_or_default(),
        id: u16_at(ev, 0x28),
        keyword: u64_at(ev, 0x30),
        data: &ev[data_at..],
    })
}

/// How event timestamps count time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Clock {
    /// QueryPerformanceCounter ticks at the header's `PerfFreq`.
    Qpc,
    /// FILETIME (100 ns since 1601).
    SystemTime,
    /// CPU cycles at the header's `CpuSpeedInMHz`.
    CpuCycles,
}

impl Clock {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Clock::Qpc => "qpc",
            Clock::SystemTime => "system_time",
            Clock::CpuCycles => "cpu_cycles",
        }
    }
}

/// 100-ns intervals between 1601-01-01 (FILETIME epoch) and 1970-01-01.
pub(crate) const FILETIME_UNIX_EPOCH: i64 = 116_444_736_000_000_000;

/// What the logfile header says about the whole trace.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LogfileHeader {
    pub clock: Clock,
    /// Ticks per second of the event timestamps (unused for system time).
    pub frequency: u64,
    /// The trace start as FILETIME, and the event timestamp at that moment.
    pub start_filetime: i64,
    pub start_ticks: i64,
    pub processors: u32,
    /// Buffers in the file, the header buffer included, unless the log is circular.
    pub buffers_written: Option<u32>,
    pub events_lost: u32,
    pub buffers_lost: u32,
}

impl LogfileHeader {
    /// Nanoseconds since the Unix epoch of an event timestamp. FILETIME precision (100 ns),
    /// computed as `StartTime + (ticks - start) * 10^7 / frequency` like Windows' own
    /// conversion, so that microseconds agree with `etl2pcapng` and `pktmon etl2pcap`.
    pub(crate) fn unix_nanos(&self, ticks: i64) -> i64 {
        let filetime = match self.clock {
            Clock::SystemTime => ticks as i128,
            Clock::Qpc | Clock::CpuCycles => {
                let frequency = self.frequency.clamp(1, i64::MAX as u64) as i64;
                // QPC at 10 MHz (current Windows) counts in FILETIME units already: no
                // division, once per packet.
                if frequency == 10_000_000 {
                    if let Some(delta) = ticks.checked_sub(self.start_ticks) {
                        return self.filetime_to_unix_nanos(self.start_filetime as i128 + delta as i128);
                    }
                }
                // 64-bit arithmetic while it fits (hours of QPC ticks): 128-bit division costs
                // several times more, once per packet.
                match ticks.checked_sub(self.start_ticks).and_then(|d| d.checked_mul(10_000_000)) {
                    Some(scaled) => self.start_filetime as i128 + scaled.div_euclid(frequency) as i128,
                    None => {
                        let delta = (ticks as i128 - self.start_ticks as i128) * 10_000_000;
                        self.start_filetime as i128 + delta.div_euclid(frequency as i128)
                    }
                }
            }
        };
        self.filetime_to_unix_nanos(filetime)
    }

    fn filetime_to_unix_nanos(&self, filetime: i128) -> i64 {
        ((filetime - FILETIME_UNIX_EPOCH as i128) * 100).clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }
}

/// Checks that `first` (at least the first 0x48 + 0x20 bytes of the input) looks like the
/// logfile header buffer of an ETL file: there is no magic number, so the buffer header and
/// the kind, hook and size of its first event must all fit.
pub(crate) fn looks_like_etl(first: &[u8]) -> bool {
    if first.len() < BUFFER_HEADER + 0x20 {
        return false;
    }
    let Ok(h) = BufferHeader::parse(first) else {
        return false;
    };
    let ev = &first[BUFFER_HEADER..];
    h.kind == BUFFER_TYPE_HEADER
        && !h.compressed()
        && matches!(ev[2], SYSTEM32 | SYSTEM64)
        && ev[3] & 0xC0 == 0xC0
        // Hook id 0: EVENT_TRACE_GROUP_HEADER, type EVENT_TRACE_TYPE_INFO.
        && u16_at(ev, 6) == 0
        && (u16_at(ev, 4) as usize) >= 0x20 + LOGFILE_MIN
        && BUFFER_HEADER + u16_at(ev, 4) as usize <= h.filled
}

/// The fixed part of TRACE_LOGFILE_HEADER up to `BuffersLost`, 32-bit layout.
const LOGFILE_MIN: usize = 0x110;

/// Reads the logfile header event at the start of the first buffer's events.
pub(crate) fn logfile_header(ev: &[u8]) -> Result<LogfileHeader, String> {
    if ev.len() < 0x20 + LOGFILE_MIN {
        return Err(format!("logfile header event of {} bytes is too short", ev.len()));
    }
    let kind = ev[2];
    // Header event: SYSTEM header (0x20 bytes), then TRACE_LOGFILE_HEADER.
    let start_ticks = u64_at(ev, 0x10) as i64;
    let lh = &ev[0x20..];
    let pointer_size = u32_at(lh, 0x2c);
    // The two string pointers (LoggerName, LogFileName) take the writer's pointer size;
    // what follows them (time zone, then 8-aligned times) moves with them.
    let wide = match (pointer_size, kind) {
        (8, _) => true,
        (4, _) => false,
        (_, SYSTEM64) => true,
        _ => false,
    };
    let after_pointers = if wide { 0x48 } else { 0x40 };
    // TIME_ZONE_INFORMATION is 172 bytes; the LARGE_INTEGERs after it are 8-aligned.
    let times = (after_pointers + 172 + 7) & !7;
    if lh.len() < times + 0x20 {
        return Err(format!("logfile header of {} bytes is too short", lh.len()));
    }
    let perf_freq = u64_at(lh, times + 8);
    let start_filetime = u64_at(lh, times + 16) as i64;
    let reserved_flags = u32_at(lh, times + 24);
    let buffers_lost = u32_at(lh, times + 28);
    let cpu_mhz = u32_at(lh, 0x34) as u64;
    let (clock, frequency) = match reserved_flags {
        2 => (Clock::SystemTime, 10_000_000),
        3 => (Clock::CpuCycles, cpu_mhz * 1_000_000),
        _ => (Clock::Qpc, perf_freq),
    };
    if clock != Clock::SystemTime && frequency == 0 {
        return Err(format!("{} clock with a frequency of 0", clock.name()));
    }
    Ok(LogfileHeader {
        clock,
        frequency,
        start_filetime,
        start_ticks,
        processors: u32_at(lh, 0x0c),
        // EVENT_TRACE_FILE_MODE_CIRCULAR: buffers are overwritten, the count says nothing.
        buffers_written: (u32_at(lh, 0x20) & 0x2 == 0).then(|| u32_at(lh, 0x24)),
        events_lost: u32_at(lh, 0x30),
        buffers_lost,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(clock: Clock, frequency: u64) -> LogfileHeader {
        LogfileHeader {
            clock,
            frequency,
            start_filetime: FILETIME_UNIX_EPOCH + 10_000_000,
            start_ticks: 1_000,
            processors: 1,
            buffers_written: None,
            events_lost: 0,
            buffers_lost: 0,
        }
    }

    #[test]
    fn timestamps_convert_from_each_clock() {
        // Start: one second after the epoch, at tick 1000.
        let qpc = header(Clock::Qpc, 10_000_000);
        assert_eq!(qpc.unix_nanos(1_000), 1_000_000_000);
        assert_eq!(qpc.unix_nanos(1_000 + 15), 1_000_001_500);
        // Another frequency goes through the division: 3 ticks of 3 MHz are one microsecond.
        let odd = header(Clock::Qpc, 3_000_000);
        assert_eq!(odd.unix_nanos(1_000 + 3), 1_000_001_000);
        assert_eq!(odd.unix_nanos(1_000 + 1), 1_000_000_300);
        // Before the start (another CPU's buffer) goes back in time, rounding down.
        assert_eq!(qpc.unix_nanos(999), 999_999_900);
        let cycles = header(Clock::CpuCycles, 3_000_000_000);
        assert_eq!(cycles.unix_nanos(1_000 + 3_000_000_000), 2_000_000_000);
        let system = header(Clock::SystemTime, 0);
        assert_eq!(system.unix_nanos(FILETIME_UNIX_EPOCH + 7), 700);
    }

    #[test]
    fn other_formats_are_not_taken_for_etl() {
        let mut pcap = vec![0u8; 0x80];
        pcap[..4].copy_from_slice(&[0xd4, 0xc3, 0xb2, 0xa1]);
        assert!(!looks_like_etl(&pcap));
        assert!(!looks_like_etl(&[0u8; 0x80]));
        assert!(!looks_like_etl(b"GMBU"));
    }

    #[test]
    fn an_event_running_past_its_buffer_is_an_error() {
        let mut buf = vec![0u8; 0x48 + 0x20];
        buf[0x48 + 2] = SYSTEM64;
        buf[0x48 + 3] = 0xc0;
        buf[0x48 + 4..0x48 + 6].copy_from_slice(&0x40u16.to_le_bytes());
        let err = event_at(&buf, 0x48).unwrap_err();
        assert!(err.contains("runs past the end"), "{err}");
    }
}
