//! Numbers and IPv4 addresses written into strings by hand, for the paths that run once per
//! connection or more: through `format!` an address and a port cost more than a hello's parse.
//! Each writes exactly what `Display` writes.

use std::net::Ipv4Addr;

/// Decimal digits of `v`.
pub fn push_decimal(out: &mut String, mut v: u32) {
    let mut digits = [0u8; 10];
    let mut n = 0;
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend(digits[..n].iter().rev().map(|&d| d as char));
}

/// Dotted decimal, as `Ipv4Addr`'s `Display`.
pub fn push_ipv4(out: &mut String, addr: Ipv4Addr) {
    for (i, octet) in addr.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        push_decimal(out, octet.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_as_display() {
        for v in [0u32, 7, 10, 99, 100, 65535, u32::MAX] {
            let mut out = String::new();
            push_decimal(&mut out, v);
            assert_eq!(out, v.to_string());
        }
        for a in [Ipv4Addr::new(0, 0, 0, 0), Ipv4Addr::new(10, 1, 200, 255), Ipv4Addr::new(255, 255, 255, 255)] {
            let mut out = String::new();
            push_ipv4(&mut out, a);
            assert_eq!(out, a.to_string());
        }
    }
}
