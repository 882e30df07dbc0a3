//! Several captures read as one, in time order: the parts of a rotated capture (`tcpdump -C`
//! or `-G`, a dumpcap ring buffer), so connections that cross file boundaries stay whole.
//!
//! Frames are numbered in merged order, as `mergecap -w merged.pcapng PARTS...` numbers them
//! (ties in time go to the earlier part). A part that fails is reported once the others are
//! read to their end.

use super::{CaptureError, Frame, LinkType, Nanos, Opened, PacketSource};

/// The head frame of a part, copied out of its reader's buffer.
struct Head {
    ts: Nanos,
    link_type: LinkType,
    caplen: u32,
    orig_len: u32,
    data: Vec<u8>,
}

struct Part {
    label: String,
    source: Box<dyn PacketSource + Send>,
    head: Option<Head>,
    done: bool,
}

pub struct MergedSource {
    parts: Vec<Part>,
    current: Option<Head>,
    frames: u64,
    first_error: Option<CaptureError>,
}

impl MergedSource {
    /// `open_error` is the first part that could not be opened at all, reported at the end.
    pub fn new(parts: Vec<(String, Opened)>, open_error: Option<CaptureError>) -> Self {
        MergedSource {
            parts: parts
                .into_iter()
                .map(|(label, opened)| Part { label, source: opened.source, head: None, done: false })
                .collect(),
            current: None,
            frames: 0,
            first_error: open_error,
        }
    }

    /// Makes sure every part that still has frames has its next one buffered.
    fn fill_heads(&mut self) {
        for part in self.parts.iter_mut().filter(|p| p.head.is_none() && !p.done) {
            // Reuse the buffer of the frame handed out last time when there is one.
            let mut data = self.current.take().map(|h| h.data).unwrap_or_default();
            match part.source.next_frame() {
                Ok(Some(frame)) => {
                    data.clear();
                    data.extend_from_slice(frame.data);
                    part.head = Some(Head {
                        ts: frame.ts,
                        link_type: frame.link_type,
                        caplen: frame.caplen,
                        orig_len: frame.orig_len,
                        data,
                    });
                }
                Ok(None) => part.done = true,
                Err(e) => {
                    part.done = true;
                    let wrapped = CaptureError::InPart { part: part.label.clone(), source: Box::new(e) };
                    self.first_error.get_or_insert(wrapped);
                }
            }
        }
    }
}

impl PacketSource for MergedSource {
    fn frames_read(&self) -> u64 {
        self.frames
    }

    fn take_secrets(&mut self) -> Option<String> {
        let found: Vec<String> = self.parts.iter_mut().filter_map(|p| p.source.take_secrets()).collect();
        (!found.is_empty()).then(|| found.concat())
    }

    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        self.fill_heads();
        // The earliest head; `min_by_key` keeps the first of equal keys, so ties go to the
        // earlier part, as mergecap does.
        let next = self
            .parts
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.head.as_ref().map(|h| (h.ts, i)))
            .min_by_key(|(ts, _)| *ts);
        let Some((_, i)) = next else {
            return match self.first_error.take() {
                Some(e) => Err(e),
                None => Ok(None),
            };
        };
        self.current = self.parts[i].head.take();
        self.frames += 1;
        let head = self.current.as_ref().expect("just taken");
        Ok(Some(Frame {
            ts: head.ts,
            link_type: head.link_type,
            caplen: head.caplen,
            orig_len: head.orig_len,
            index: self.frames,
            data: &head.data,
        }))
    }
}
