//! The plain-LZ77 decoder of compressed ETL buffers against a reading of MS-XCA 2.4 one
//! byte at a time: the fast copies must give the same bytes, and the same error, for any
//! input. The first two bytes of the fuzz input are the output size allowed (the buffer
//! header's), the rest is the compressed body.
#![no_main]
use libfuzzer_sys::fuzz_target;

/// The straightforward decoder: literal by literal, match byte by byte. `Err` carries the
/// message the library's error prints.
fn reference(src: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    let too_long = || "compressed buffer expands past its stated size".to_string();
    let cut = |at: usize| format!("compressed buffer ends inside a token (input byte {at})");
    let u16_at = |at: usize| src.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize).ok_or(cut(at));
    let byte_at = |at: usize| src.get(at).map(|&b| b as usize).ok_or(cut(at));
    let mut out = Vec::new();
    let (mut at, mut flags, mut count, mut half_byte) = (0, 0u32, 0, None);
    loop {
        if count == 0 {
            let Some(b) = src.get(at..at + 4) else { return Ok(out) };
            flags = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            at += 4;
            count = 32;
        }
        count -= 1;
        if at == src.len() {
            return Ok(out);
        }
        if flags & (1 << count) == 0 {
            if out.len() == limit {
                return Err(too_long());
            }
            out.push(src[at]);
            at += 1;
            continue;
        }
        let token = u16_at(at)?;
        at += 2;
        let offset = (token >> 3) + 1;
        let mut length = token & 7;
        if length == 7 {
            length = match half_byte.take() {
                None => {
                    half_byte = Some(at);
                    at += 1;
                    byte_at(at - 1)? & 15
                }
                Some(h) => byte_at(h)? >> 4,
            };
            if length == 15 {
                length = byte_at(at)?;
                at += 1;
                if length == 255 {
                    length = u16_at(at)?;
                    at += 2;
                    if length == 0 {
                        let b = src.get(at..at + 4).ok_or(cut(at))?;
                        length = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
                        at += 4;
                    }
                    length = length.checked_sub(22).ok_or(cut(at))?;
                }
                length += 15;
            }
            length += 7;
        }
        length += 3;
        if offset > out.len() {
            return Err(format!("compressed buffer refers before its start (input byte {at})"));
        }
        if out.len() + length > limit {
            return Err(too_long());
        }
        for _ in 0..length {
            out.push(out[out.len() - offset]);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((size, body)) = data.split_first_chunk::<2>() else { return };
    let limit = u16::from_le_bytes(*size) as usize;
    assert_eq!(tlsdiag::capture::expand_lz77(body, limit), reference(body, limit));
});
