//! Packet timestamps as text (RFC 3339, UTC), without a date-time dependency.

use crate::capture::Nanos;

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
}
