//! The plain LZ77 of [MS-XCA] section 2.3/2.4 ("LZXPRESS"), which ETW uses for the buffers
//! of a compressed trace (`pktmon`, `EVENT_TRACE_COMPRESSED_MODE`).
//!
//! Written here rather than taken from a crate: no kept crate on the registry decodes this
//! variant. It writes into a slice of the size the buffer header states, so a buffer that
//! claims to expand further is an error, not an allocation; it is as fast as the format
//! lets a safe decoder be (fixed-size copies for the short literal runs and matches that
//! make up most of a packet trace), because every compressed pktmon buffer goes through it.

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

/// Bytes moved at once by the fast paths: a literal run is at most 32 bytes (one flag word),
/// and most matches are at most 32 bytes long. Fixed-size copies compile to a few vector
/// moves where a copy of the exact length would call `memcpy`; the bytes written past the
/// run or match are overwritten by what comes next (or left past the end, which the caller
/// never reads).
const WIDE: usize = 32;

/// The flag bits not used yet sit at the top of a 64-bit word, followed by one set bit: when
/// that bit reaches the top, the 32 flags of the word are used up.
const FLAGS_USED: u64 = 1 << 63;

/// Input bytes one step of the fast loop may read: a flag word, a wide literal copy, a match
/// token with every length extension (2 + 1 + 1 + 2 + 4).
const STEP_IN: usize = 4 + WIDE + 10;

/// Expands `src` into `out`, whose length is the most the buffer may expand to; returns how
/// many bytes were written (`out[..n]`, every one of them). Matches refer only to bytes
/// written by this call.
pub(crate) fn decompress(src: &[u8], out: &mut [u8]) -> Result<usize, Lz77Error> {
    let mut state = State { at: 0, pos: 0, flags: FLAGS_USED, half_byte: None };
    fast(src, out, &mut state)?;
    careful(src, out, state)
}

/// Where a decoding stands, handed from the fast loop to the careful one.
#[derive(Clone, Copy)]
struct State {
    at: usize,
    pos: usize,
    flags: u64,
    /// Where the shared half-byte of the last 4-bit length extension sits.
    half_byte: Option<usize>,
}

/// The bulk of a buffer: while a whole step fits in the input and a wide copy in the
/// output, literals are copied 32 at a time whatever their number (no branch on it), and
/// nothing checks for the end of the input.
fn fast(src: &[u8], out: &mut [u8], s: &mut State) -> Result<(), Lz77Error> {
    let limit = out.len();
    let State { mut at, mut pos, mut flags, mut half_byte } = *s;
    while at + STEP_IN <= src.len() && pos + WIDE <= limit {
        if flags == FLAGS_USED {
            flags = (u32::from_le_bytes(src[at..at + 4].try_into().unwrap_or_default()) as u64) << 32 | 1 << 31;
            at += 4;
        }
        let literals = flags.leading_zeros() as usize;
        out[pos..pos + WIDE].copy_from_slice(&src[at..at + WIDE]);
        at += literals;
        pos += literals;
        flags <<= literals;
        if flags == FLAGS_USED {
            continue;
        }
        // A set flag: a match.
        flags <<= 1;
        let token = u16::from_le_bytes([src[at], src[at + 1]]) as usize;
        at += 2;
        let offset = (token >> 3) + 1;
        let mut length = token & 7;
        if length == 7 {
            length = match half_byte.take() {
                None => {
                    half_byte = Some(at);
                    at += 1;
                    src[at - 1] as usize & 15
                }
                Some(h) => src[h] as usize >> 4,
            };
            if length == 15 {
                length = src[at] as usize;
                at += 1;
                if length == 255 {
                    length = u16::from_le_bytes([src[at], src[at + 1]]) as usize;
                    at += 2;
                    if length == 0 {
                        length = u32::from_le_bytes(src[at..at + 4].try_into().unwrap_or_default()) as usize;
                        at += 4;
                    }
                    length = length.checked_sub(15 + 7).ok_or(Lz77Error::CutShort { at })?;
                }
                length += 15;
            }
            length += 7;
        }
        length += 3;
        if offset > pos {
            return Err(Lz77Error::BadOffset { at });
        }
        if length > limit - pos {
            return Err(Lz77Error::TooLong);
        }
        copy_match(out, pos, offset, length);
        pos += length;
    }
    *s = State { at, pos, flags, half_byte };
    Ok(())
}

/// The rest, near either end: every read checked, exact copies, and the input may end on
/// a flag boundary, inside a literal run, or where a match flag finds no token.
fn careful(src: &[u8], out: &mut [u8], s: State) -> Result<usize, Lz77Error> {
    let limit = out.len();
    let State { mut at, mut pos, mut flags, mut half_byte } = s;
    loop {
        if flags == FLAGS_USED {
            let Some(b) = src.get(at..at + 4) else {
                // Input ends on a flag boundary: only trailing padding can follow.
                return Ok(pos);
            };
            flags = (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64) << 32 | 1 << 31;
            at += 4;
        }
        // Flags are read from the top bit down; a run of clear bits is a run of literals,
        // copied at once.
        let literals = flags.leading_zeros() as usize;
        if literals > 0 {
            let n = literals.min(src.len() - at);
            if pos + n > limit {
                return Err(Lz77Error::TooLong);
            }
            out[pos..pos + n].copy_from_slice(&src[at..at + n]);
            if n < literals {
                return Ok(pos + n);
            }
            at += literals;
            pos += literals;
            flags <<= literals;
            if flags == FLAGS_USED {
                continue;
            }
        }
        // A set flag: a match.
        flags <<= 1;
        if at == src.len() {
            return Ok(pos);
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
        if offset > pos {
            return Err(Lz77Error::BadOffset { at });
        }
        if length > limit - pos {
            return Err(Lz77Error::TooLong);
        }
        copy_match(out, pos, offset, length);
        pos += length;
    }
}

/// Copies `length` bytes from `offset` back to `pos`; both are checked to lie in `out`.
#[inline(always)]
fn copy_match(out: &mut [u8], pos: usize, offset: usize, length: usize) {
    let from = pos - offset;
    let limit = out.len();
    if offset >= length {
        // The source lies wholly before the destination. A fixed-size copy may read past
        // `pos` (a memmove, so what it reads is the old bytes), but those land at or past
        // `pos + offset`, beyond the match.
        if length <= WIDE && pos + WIDE <= limit {
            out.copy_within(from..from + WIDE, pos);
        } else if offset >= WIDE && pos + length.next_multiple_of(WIDE) <= limit {
            // Each block reads only finished bytes: it ends at least `WIDE` bytes before
            // the one it writes.
            for k in (0..length).step_by(WIDE) {
                out.copy_within(from + k..from + k + WIDE, pos + k);
            }
        } else {
            out.copy_within(from..from + length, pos);
        }
    } else if offset == 1 {
        let b = out[from];
        out[pos..pos + length].fill(b);
    } else {
        // The match overlaps its own output: a pattern of period `offset`. Each copy takes
        // only finished bytes, and doubles what the next may take (its distance stays a
        // multiple of the period).
        let mut done = 0;
        while done < length {
            let n = (offset + done).min(length - done);
            out.copy_within(from..from + n, pos + done);
            done += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(src: &[u8], limit: usize) -> Result<Vec<u8>, Lz77Error> {
        let mut out = vec![0; limit];
        let n = decompress(src, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    /// The format read one byte at a time, as [MS-XCA] 2.4 states it: what the fast copies
    /// of `decompress` must agree with, output and errors alike.
    fn reference(src: &[u8], limit: usize) -> Result<Vec<u8>, Lz77Error> {
        let mut out = Vec::new();
        let (mut at, mut flags, mut flag_count, mut half_byte) = (0, 0u32, 0, None);
        loop {
            if flag_count == 0 {
                let Some(b) = src.get(at..at + 4) else { return Ok(out) };
                flags = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                at += 4;
                flag_count = 32;
            }
            flag_count -= 1;
            let is_match = flags & (1 << flag_count) != 0;
            if at == src.len() {
                return Ok(out);
            }
            if !is_match {
                if out.len() == limit {
                    return Err(Lz77Error::TooLong);
                }
                out.push(src[at]);
                at += 1;
                continue;
            }
            let token = u16_at(src, at)?;
            at += 2;
            let offset = (token >> 3) + 1;
            let mut length = token & 7;
            if length == 7 {
                length = match half_byte.take() {
                    None => {
                        half_byte = Some(at);
                        at += 1;
                        byte_at(src, at - 1)? & 15
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
                        length = length.checked_sub(22).ok_or(Lz77Error::CutShort { at })?;
                    }
                    length += 15;
                }
                length += 7;
            }
            length += 3;
            if offset > out.len() {
                return Err(Lz77Error::BadOffset { at });
            }
            if out.len() + length > limit {
                return Err(Lz77Error::TooLong);
            }
            for _ in 0..length {
                out.push(out[out.len() - offset]);
            }
        }
    }

    enum Item {
        Literal(u8),
        Match { offset: usize, length: usize },
    }

    /// Encodes a plan of literals and matches ([MS-XCA] 2.3), shared half-bytes included.
    fn encode(plan: &[Item]) -> Vec<u8> {
        let mut out = vec![0; 4];
        let (mut flags, mut count, mut flag_at, mut half_byte) = (0u32, 0, 0, None::<usize>);
        for item in plan {
            let bit = match *item {
                Item::Literal(b) => {
                    out.push(b);
                    0
                }
                Item::Match { offset, length } => {
                    let l = length - 3;
                    out.extend_from_slice(&((((offset - 1) << 3) | l.min(7)) as u16).to_le_bytes());
                    if l >= 7 {
                        let nibble = (l - 7).min(15) as u8;
                        match half_byte.take() {
                            None => {
                                half_byte = Some(out.len());
                                out.push(nibble);
                            }
                            Some(h) => out[h] |= nibble << 4,
                        }
                        if l >= 22 {
                            if l - 22 < 255 {
                                out.push((l - 22) as u8);
                            } else if l <= 0xffff {
                                out.push(255);
                                out.extend_from_slice(&(l as u16).to_le_bytes());
                            } else {
                                out.push(255);
                                out.extend_from_slice(&[0, 0]);
                                out.extend_from_slice(&(l as u32).to_le_bytes());
                            }
                        }
                    }
                    1
                }
            };
            flags = flags << 1 | bit;
            count += 1;
            if count == 32 {
                out[flag_at..flag_at + 4].copy_from_slice(&flags.to_le_bytes());
                flag_at = out.len();
                out.extend_from_slice(&[0; 4]);
                (flags, count) = (0, 0);
            }
        }
        // Remaining flag bits set: the decoder meets a match flag at the end of the input.
        let word = if count == 0 { u32::MAX } else { flags << (32 - count) | (u32::MAX >> count) };
        out[flag_at..flag_at + 4].copy_from_slice(&word.to_le_bytes());
        out
    }

    /// A small deterministic generator (xorshift), so that a failure repeats.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// A plan like a trace's: runs of literals, short matches at all distances (overlapping
    /// ones too), runs of one byte, and now and then a long or very long match.
    fn plan(rng: &mut Rng, items: usize) -> (Vec<Item>, Vec<u8>) {
        let (mut plan, mut out) = (Vec::new(), Vec::new());
        while plan.len() < items {
            if out.is_empty() || rng.below(3) == 0 {
                for _ in 0..1 + rng.below(40) {
                    let b = b"abcdefgh\x00\xff"[rng.below(10)];
                    plan.push(Item::Literal(b));
                    out.push(b);
                }
                continue;
            }
            let offset = 1 + rng.below(out.len().min(8192));
            let length = match rng.below(20) {
                0 => 3 + rng.below(300),
                1 if rng.below(10) == 0 => 65_000 + rng.below(2_000),
                2..=4 => 3 + rng.below(40),
                _ => 3 + rng.below(14),
            };
            for _ in 0..length {
                out.push(out[out.len() - offset]);
            }
            plan.push(Item::Match { offset, length });
        }
        (plan, out)
    }

    #[test]
    fn fast_copies_agree_with_the_byte_at_a_time_reading() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..300 {
            let items = 1 + rng.below(400);
            let (plan, expected) = plan(&mut rng, items);
            let src = encode(&plan);
            // The exact size, a larger one, and one too small (each end of the fast paths).
            assert_eq!(expand(&src, expected.len()).as_deref(), Ok(&expected[..]), "round {round}");
            assert_eq!(expand(&src, expected.len() + 100).as_deref(), Ok(&expected[..]), "round {round}");
            let short = rng.below(expected.len());
            assert_eq!(expand(&src, short), Err(Lz77Error::TooLong), "round {round}, limit {short}");
            // Damaged input: cut anywhere, bytes changed anywhere; same answer either way.
            let mut bad = src.clone();
            bad.truncate(rng.below(src.len() + 1));
            for _ in 0..rng.below(4) {
                if !bad.is_empty() {
                    let i = rng.below(bad.len());
                    bad[i] = rng.below(256) as u8;
                }
            }
            let limit = expected.len() + rng.below(64);
            assert_eq!(expand(&bad, limit), reference(&bad, limit), "round {round}");
        }
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
