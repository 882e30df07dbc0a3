//! The plain LZ77 of [MS-XCA] section 2.3/2.4 ("LZXPRESS"), which ETW uses for the buffers
//! of a compressed trace (`pktmon`, `EVENT_TRACE_COMPRESSED_MODE`).
//!
//! Written here rather than taken from a crate: no kept crate on the registry decodes this
//! variant, and the decoder is forty lines. It never writes past `limit` bytes, so a
//! buffer that claims to expand further is an error, not an allocation.

/// Why a compressed buffer could not be expanded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lz77Error {
    /// The output would pass the size the buffer header states.
    TooLong,
    /// A match points before the start of the output.
    BadOffset { at: usize },
    /// The input ends inside a flag word, a match or a length.
    CutShort { at: usize },
}

impl std::fmt::Display for Lz77Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lz77Error::TooLong => write!(f, "compressed buffer expands past its stated size"),
            Lz77Error::BadOffset { at } => {
                write!(f, "compressed buffer refers before its start (input byte {at})")
            }
            Lz77Error::CutShort { at } => write!(f, "compressed buffer ends inside a token (input byte {at})"),
        }
    }
}

fn u16_at(src: &[u8], at: usize) -> Result<usize, Lz77Error> {
    match src.get(at..at + 2) {
        Some(b) => Ok(u16::from_le_bytes([b[0], b[1]]) as usize),
        None => Err(Lz77Error::CutShort { at }),
    }
}

fn byte_at(src: &[u8], at: usize) -> Result<usize, Lz77Error> {
    src.get(at).map(|&b| b as usize).ok_or(Lz77Error::CutShort { at })
}

/// Appends the expansion of `src` to `out`, which must not grow past `limit` bytes in all.
pub(crate) fn decompress(src: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), Lz77Error> {
    let base = out.len();
    out.reserve(limit.saturating_sub(base));
    let mut at = 0;
    let mut flags: u32 = 0;
    let mut flag_count: u32 = 0;
    // Where the shared half-byte of the last 4-bit length extension sits.
    let mut half_byte: Option<usize> = None;
    loop {
        if flag_count == 0 {
            let Some(b) = src.get(at..at + 4) else {
                // Input ends on a flag boundary: only trailing padding can follow.
                return Ok(());
            };
            flags = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            at += 4;
            flag_count = 32;
        }
        // Flags are read from the top bit down; a run of clear bits is a run of literals,
        // copied at once.
        let literals = (flags << (32 - flag_count)).leading_zeros().min(flag_count);
        if literals > 0 {
            let n = (literals as usize).min(src.len() - at);
            if out.len() + n > limit {
                return Err(Lz77Error::TooLong);
            }
            out.extend_from_slice(&src[at..at + n]);
            at += n;
            if n < literals as usize {
                return Ok(());
            }
            flag_count -= literals;
            continue;
        }
        flag_count -= 1;
        if at == src.len() {
            return Ok(());
        }
        let token = u16_at(src, at)?;
        at += 2;
        let offset = (token >> 3) + 1;
        let mut length = token & 7;
        if length == 7 {
            length = match half_byte.take() {
                None => {
                    let b = byte_at(src, at)?;
                    half_byte = Some(at);
                    at += 1;
                    b & 15
                }
                Some(h) => byte_at(src, h)? >> 4,
            };
            if length == 15 {
                length = byte_at(src, at)?;
                at += 1;
                if length == 255 {
                    length = u16_at(src, at)?;
                    at += 2;
                    if length == 0 {
                        let b = src.get(at..at + 4).ok_or(Lz77Error::CutShort { at })?;
                        length = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
                        at += 4;
                    }
                    length = length.checked_sub(15 + 7).ok_or(Lz77Error::CutShort { at })?;
                }
                length += 15;
            }
            length += 7;
        }
        length += 3;
        if offset > out.len() - base {
            return Err(Lz77Error::BadOffset { at });
        }
        if length > limit - out.len().min(limit) {
            return Err(Lz77Error::TooLong);
        }
        if offset == 1 {
            let b = out[out.len() - 1];
            out.resize(out.len() + length, b);
        } else {
            // A match may overlap its own output (a repeating pattern of period `offset`):
            // copy at most `offset` bytes at a time, each from exactly `offset` back.
            let mut left = length;
            while left > 0 {
                let n = left.min(offset);
                let from = out.len() - offset;
                out.extend_from_within(from..from + n);
                left -= n;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(src: &[u8], limit: usize) -> Result<Vec<u8>, Lz77Error> {
        let mut out = Vec::new();
        decompress(src, &mut out, limit).map(|()| out)
    }

    #[test]
    fn a_match_repeats_earlier_output() {
        // "abc" then a match of offset 3, length 6 gives "abcabcabc".
        // Flags: 3 literals (0), 1 match (1) -> bit pattern 0001 followed by zeros.
        let flags: u32 = 1 << (31 - 3);
        let mut src = flags.to_le_bytes().to_vec();
        src.extend_from_slice(b"abc");
        // offset 3 -> (3-1)<<3, length 6 -> 6-3 = 3.
        src.extend_from_slice(&(((3 - 1) << 3) | 3u16).to_le_bytes());
        assert_eq!(expand(&src, 100).unwrap(), b"abcabcabc");
    }

    #[test]
    fn long_lengths_use_the_shared_half_byte_then_extra_bytes() {
        // Two matches of length 7+3+5=15 and 7+3+9=19 share one half-byte (low 5, high 9);
        // a third of length 7+3+15+40=65 takes the extra byte.
        let flags: u32 = (1 << 31) >> 1 | (1 << 31) >> 2 | (1 << 31) >> 3;
        let mut src = flags.to_le_bytes().to_vec();
        src.push(b'x');
        src.extend_from_slice(&7u16.to_le_bytes()); // offset 1, length 7: extension follows
        src.push(0x95);
        src.extend_from_slice(&7u16.to_le_bytes()); // uses the high half (9)
        src.extend_from_slice(&7u16.to_le_bytes());
        src.push(0x0f); // new half-byte: 15, then one extra byte
        src.push(40);
        let out = expand(&src, 1000).unwrap();
        assert_eq!(out.len(), 1 + 15 + 19 + 65);
        assert!(out.iter().all(|&b| b == b'x'));
    }

    #[test]
    fn an_overlapping_match_repeats_its_period() {
        // "ab", then offset 2 length 7: "ab" + "ababab" + "a"; then 4 literals after it.
        let flags: u32 = 1 << (31 - 2);
        let mut src = flags.to_le_bytes().to_vec();
        src.extend_from_slice(b"ab");
        src.extend_from_slice(&(((2 - 1) << 3) | 4u16).to_le_bytes());
        src.extend_from_slice(b"wxyz");
        assert_eq!(expand(&src, 100).unwrap(), b"ababababawxyz");
    }

    #[test]
    fn expansion_past_the_limit_is_an_error() {
        let flags: u32 = 1 << 30;
        let mut src = flags.to_le_bytes().to_vec();
        src.push(b'x');
        src.extend_from_slice(&7u16.to_le_bytes());
        src.push(0x0f);
        src.push(255);
        src.extend_from_slice(&0u16.to_le_bytes());
        src.extend_from_slice(&1_000_000u32.to_le_bytes());
        assert_eq!(expand(&src, 4096), Err(Lz77Error::TooLong));
    }

    #[test]
    fn a_match_before_the_start_is_an_error() {
        let flags: u32 = 1 << 31;
        let mut src = flags.to_le_bytes().to_vec();
        src.extend_from_slice(&0u16.to_le_bytes());
        assert_eq!(expand(&src, 100), Err(Lz77Error::BadOffset { at: 6 }));
    }
}
