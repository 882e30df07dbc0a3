//! Packet timestamps as text (RFC 3339, UTC), without a date-time dependency, and back (to
//! read records written by another run).

use serde::{Deserialize, Deserializer, Serializer};

/// Packet time in nanoseconds since the Unix epoch. The analysis clock: never the wall clock.
pub type Nanos = i64;

/// `2024-05-01T12:00:00.123456Z` for a timestamp in nanoseconds (microsecond precision).
pub fn rfc3339_nanos(ts: Nanos) -> String {
    let secs = ts.div_euclid(1_000_000_000);
    let micros = ts.rem_euclid(1_000_000_000) / 1000;
    let mut out = String::with_capacity(27);
    push_date_time(&mut out, secs);
    out.push('.');
    push_digits(&mut out, micros, 6);
    out.push('Z');
    out
}

/// `2024-05-01T12:00:00Z` for seconds since the epoch.
pub fn rfc3339_secs(secs: i64) -> String {
    let mut out = String::with_capacity(20);
    push_date_time(&mut out, secs);
    out.push('Z');
    out
}

/// The last `width` decimal digits of `v` (0 <= v), zero-padded. Written by hand: every
/// record carries a dozen timestamps, and through `format!` they were a quarter of the work of
/// writing NDJSON.
fn push_digits(out: &mut String, mut v: i64, width: usize) {
    let mut digits = [b'0'; 6];
    for d in digits[..width].iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend(digits[..width].iter().map(|&d| d as char));
}

fn push_date_time(out: &mut String, secs: i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    if (0..=9999).contains(&y) {
        push_digits(out, y, 4);
    } else {
        // Outside four digits `format!` decides the width and the sign, as it always did.
        out.push_str(&format!("{y:04}"));
    }
    for (sep, value) in
        [('-', i64::from(m)), ('-', i64::from(d)), ('T', rem / 3600), (':', rem % 3600 / 60), (':', rem % 60)]
    {
        out.push(sep);
        push_digits(out, value, 2);
    }
}

/// The timestamp of `2024-05-01T12:00:00.123456Z` (as [`rfc3339_nanos`] writes it, with 0 to 9
/// fraction digits; `Z` or `+00:00`): None for anything else.
pub fn parse_rfc3339(text: &str) -> Option<Nanos> {
    let b = text.as_bytes();
    let digits = |from: usize, n: usize| -> Option<i64> {
        let part = b.get(from..from + n)?;
        part.iter().all(u8::is_ascii_digit).then(|| part.iter().fold(0i64, |v, d| v * 10 + i64::from(d - b'0')))
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(i, c)| b.get(i).map(u8::to_ascii_uppercase) != Some(c)) {
        return None;
    }
    let (y, m, d) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    let (hh, mm, ss) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let n = i - start;
        if n == 0 || n > 9 {
            return None;
        }
        nanos = digits(start, n)? * 10i64.pow(9 - n as u32);
    }
    if !matches!(&text[i..], "Z" | "z" | "+00:00") {
        return None;
    }
    let secs = days_from_civil(y, m as u32, d as u32) * 86_400 + hh * 3600 + mm * 60 + ss;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Writes a timestamp as RFC 3339 text (the JSON schema's times).
pub fn ser_ts<S: Serializer>(ts: &Nanos, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339_nanos(*ts))
}

/// Reads a timestamp written by [`ser_ts`].
pub fn de_ts<'de, D: Deserializer<'de>>(d: D) -> Result<Nanos, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    parse_rfc3339(&text).ok_or_else(|| {
        serde::de::Error::custom(format!("{text:?} is not an RFC 3339 UTC time (2024-05-01T12:00:00.123456Z)"))
    })
}

/// (year, month, day) of the proleptic Gregorian calendar to days since 1970-01-01 (Howard
/// Hinnant's days_from_civil, the inverse of [`civil_from_days`]).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's civil_from_days algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339_secs(0), "1970-01-01T00:00:00Z");
        // 2000-02-29 (leap day) 12:34:56 UTC = 951827696
        assert_eq!(rfc3339_secs(951_827_696), "2000-02-29T12:34:56Z");
        assert_eq!(rfc3339_nanos(1_700_000_000_123_456_789), "2023-11-14T22:13:20.123456Z");
        assert_eq!(rfc3339_secs(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339_nanos(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(rfc3339_nanos(1_000), "1970-01-01T00:00:00.000001Z");
        // Years beyond four digits, and before year 0, as `format!("{y:04}")` writes them.
        assert_eq!(rfc3339_secs(253_402_300_800), "10000-01-01T00:00:00Z");
        assert_eq!(rfc3339_secs(-62_167_219_201), "-001-12-31T23:59:59Z");
    }

    #[test]
    fn parses_what_it_writes() {
        for ts in [0, 951_827_696_000_000_000, 1_700_000_000_123_456_000, -1_000_000, 4_102_444_799_999_999_000] {
            assert_eq!(parse_rfc3339(&rfc3339_nanos(ts)), Some(ts), "{ts}");
        }
        for secs in [0, 951_827_696, -1, 4_102_444_799] {
            assert_eq!(parse_rfc3339(&rfc3339_secs(secs)), Some(secs * 1_000_000_000));
        }
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20.123456789Z"), Some(1_700_000_000_123_456_789));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20.1+00:00"), Some(1_700_000_000_100_000_000));
        // Beyond what nanoseconds in an i64 hold (2262): no time rather than a wrong one.
        assert_eq!(parse_rfc3339("9999-12-31T23:59:59Z"), None);
        for bad in [
            "",
            "2023-11-14",
            "2023-11-14T22:13:20",
            "2023-11-14T22:13:20.Z",
            "2023-13-14T22:13:20Z",
            "2023-11-14T22:13:20+01:00",
            "2023-11-14 22:13:20Z",
            "2023-11-14T22:13:20.1234567890Z",
            "２023-11-14T22:13:20Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
