//! X.509 certificates from a Certificate message, reduced to the facts a diagnosis needs.

use super::facts::Certificate;
use crate::time::rfc3339_secs;
use x509_parser::prelude::*;
use x509_parser::public_key::PublicKey;

/// Decodes one DER certificate; broken DER gives a certificate with `parse_error` set.
pub fn certificate_facts(der: &[u8]) -> Certificate {
    let cert = match X509Certificate::from_der(der) {
        Ok((_, cert)) => cert,
        Err(e) => return Certificate { parse_error: Some(e.to_string()), ..Default::default() },
    };
    let registry = oid_registry();
    let name_of = |oid: &x509_parser::der_parser::oid::Oid| {
        x509_parser::objects::oid2sn(oid, registry).map(str::to_string).unwrap_or_else(|_| oid.to_id_string())
    };
    let validity = cert.validity();
    let mut san = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(n) => san.push(n.to_string()),
                GeneralName::IPAddress(ip) => san.push(ip_to_string(ip)),
                _ => {}
            }
        }
    }
    let mut extended_key_usage = Vec::new();
    if let Ok(Some(ext)) = cert.extended_key_usage() {
        let eku = ext.value;
        for (present, name) in [
            (eku.any, "anyExtendedKeyUsage"),
            (eku.server_auth, "serverAuth"),
            (eku.client_auth, "clientAuth"),
            (eku.code_signing, "codeSigning"),
            (eku.email_protection, "emailProtection"),
            (eku.time_stamping, "timeStamping"),
            (eku.ocsp_signing, "OCSPSigning"),
        ] {
            if present {
                extended_key_usage.push(name.to_string());
            }
        }
        extended_key_usage.extend(eku.other.iter().map(|o| o.to_id_string()));
    }
    // Where a client checks revocation: CRL distribution points and OCSP responders.
    let mut revocation_urls = Vec::new();
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::CRLDistributionPoints(points) => {
                for point in points.iter() {
                    if let Some(DistributionPointName::FullName(names)) = &point.distribution_point {
                        revocation_urls.extend(names.iter().filter_map(uri));
                    }
                }
            }
            ParsedExtension::AuthorityInfoAccess(aia) => {
                revocation_urls.extend(
                    aia.accessdescs
                        .iter()
                        .filter(|d| d.access_method == oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_OCSP)
                        .filter_map(|d| uri(&d.access_location)),
                );
            }
            _ => {}
        }
    }
    let spki = cert.public_key();
    let (key_type, key_bits) = match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => ("RSA".to_string(), Some(rsa.key_size() as u32)),
        Ok(PublicKey::EC(ec)) => ("EC".to_string(), Some(ec.key_size() as u32)),
        Ok(PublicKey::DSA(_)) => ("DSA".to_string(), None),
        _ => (name_of(&spki.algorithm.algorithm), None),
    };
    let subject = cert.subject().to_string();
    let issuer = cert.issuer().to_string();
    Certificate {
        self_signed: subject == issuer,
        subject,
        issuer,
        san,
        not_before: rfc3339_secs(validity.not_before.timestamp()),
        not_after: rfc3339_secs(validity.not_after.timestamp()),
        not_before_unix: validity.not_before.timestamp(),
        not_after_unix: validity.not_after.timestamp(),
        signature_algorithm: name_of(&cert.signature_algorithm.algorithm),
        key_type,
        key_bits,
        extended_key_usage,
        is_ca: cert.is_ca(),
        revocation_urls,
        parse_error: None,
    }
}

fn uri(name: &GeneralName<'_>) -> Option<String> {
    match name {
        GeneralName::URI(u) => Some(u.to_string()),
        _ => None,
    }
}

fn ip_to_string(raw: &[u8]) -> String {
    match raw.len() {
        4 => std::net::Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]).to_string(),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(raw);
            std::net::Ipv6Addr::from(a).to_string()
        }
        _ => format!("{raw:02x?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_der_is_a_parse_error_not_a_panic() {
        let c = certificate_facts(&[0x30, 0x82, 0xff, 0xff, 0x01]);
        assert!(c.parse_error.is_some());
        assert!(c.subject.is_empty());
    }
}
