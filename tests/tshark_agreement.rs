//! Decoded handshake facts agree with tshark's on the same files: for every connection with a
//! ClientHello, the frames of the first ClientHello and ServerHello, the negotiated version and
//! suite, the SNI, and every plaintext alert (frame and name). Given the key log of a capture,
//! the decrypted facts as well: alerts that were encrypted, and the frames of the server's
//! Certificate and CertificateRequest inside a TLS 1.3 server's encrypted flight. The JA3 and
//! JA3S fingerprints of the first hellos equal tshark's.
//!
//! Runs tshark itself (the test setup installs it); skips with a message when it is missing.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

#[derive(Clone, Debug, Default, PartialEq)]
struct Expected {
    client_hello: Option<u64>,
    server_hello: Option<u64>,
    version: Option<String>,
    cipher: Option<String>,
    sni: Option<String>,
    alerts: Vec<(u64, String)>,
    /// Compared only with a key log: the server's Certificate and CertificateRequest frames.
    certificate: Option<u64>,
    certificate_request: Option<u64>,
    /// JA3 of the first ClientHello and JA3S of the first ServerHello (tshark's
    /// tls.handshake.ja3 / ja3s).
    ja3: Option<String>,
    ja3s: Option<String>,
}

fn endpoint(ip: &str, port: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

fn parse_hex(s: &str) -> u16 {
    u16::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex")
}

/// tshark's view: per connection (sorted endpoint pair), what the first handshake showed.
fn tshark_view(path: &Path, options: &[&str]) -> BTreeMap<(String, String), Expected> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(path).args(options);
    cmd.args([
        "-Y",
        "tcp && (tls.handshake.type==1 || tls.handshake.type==2 || tls.handshake.type==11 || tls.handshake.type==13 || tls.alert_message)",
        "-T",
        "fields",
    ]);
    cmd.args(["-E", "separator=/t", "-E", "aggregator=,", "-E", "occurrence=a"]);
    for f in [
        "frame.number",
        // The columns show the innermost addresses of a tunnelled packet.
        "_ws.col.Source",
        "tcp.srcport",
        "_ws.col.Destination",
        "tcp.dstport",
        "tls.handshake.type",
        "tls.handshake.version",
        "tls.handshake.extensions.supported_version",
        "tls.handshake.ciphersuite",
        "tls.handshake.extensions_server_name",
        "tls.alert_message.level",
        "tls.alert_message.desc",
        "tls.handshake.random",
        "tls.handshake.ja3",
        "tls.handshake.ja3s",
    ] {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut view: BTreeMap<(String, String), Expected> = BTreeMap::new();
    let mut clients: BTreeMap<(String, String), String> = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 15 {
            continue;
        }
        let frame: u64 = f[0].parse().unwrap();
        // Tunnelled packets carry several TCP ports too; the innermost is the last one.
        let src = endpoint(f[1], f[2].rsplit(',').next().unwrap());
        let dst = endpoint(f[3], f[4].rsplit(',').next().unwrap());
        let key = if src < dst { (src.clone(), dst) } else { (dst, src.clone()) };
        let e = view.entry(key.clone()).or_default();
        let types: Vec<&str> = f[5].split(',').filter(|s| !s.is_empty()).collect();
        if types.contains(&"1") && e.client_hello.is_none() {
            e.client_hello = Some(frame);
            e.sni = Some(f[9].to_string()).filter(|s| !s.is_empty());
            e.ja3 = f[13].split(',').next().map(str::to_string).filter(|s| !s.is_empty());
            clients.insert(key.clone(), src.clone());
        }
        let from_server = clients.get(&key).is_some_and(|client| *client != src);
        if from_server && types.contains(&"11") && e.certificate.is_none() {
            e.certificate = Some(frame);
        }
        if from_server && types.contains(&"13") && e.certificate_request.is_none() {
            e.certificate_request = Some(frame);
        }
        // A HelloRetryRequest is a ServerHello with a fixed random (RFC 8446, 4.1.3); the
        // negotiation goes on, so it is not the ServerHello compared here. SSLv2 hellos carry
        // no version field in tshark's output and are left out as well.
        let retry = f[12].contains("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c");
        if types.contains(&"2") && e.server_hello.is_none() && !retry && !f[6].is_empty() {
            e.server_hello = Some(frame);
            e.ja3s = f[14].split(',').next().map(str::to_string).filter(|s| !s.is_empty());
            let version = f[7].split(',').find(|s| !s.is_empty()).or_else(|| f[6].split(',').next_back()).unwrap();
            e.version = Some(tlsdiag::names::version(parse_hex(version)));
            // In a frame holding only a ServerHello, the suite field is the chosen one.
            let suites: Vec<&str> = f[8].split(',').filter(|s| !s.is_empty()).collect();
            if !types.contains(&"1") {
                e.cipher = suites.last().map(|s| tlsdiag::names::cipher_suite(parse_hex(s)).into_owned());
            }
        }
        let levels: Vec<&str> = f[10].split(',').filter(|s| !s.is_empty()).collect();
        for (i, d) in f[11].split(',').filter(|s| !s.is_empty()).enumerate() {
            if levels.get(i).is_some() {
                e.alerts.push((frame, tlsdiag::names::alert(d.parse().unwrap())));
            }
        }
    }
    view
}

fn tlsdiag_view(path: &Path, options: &[&str]) -> BTreeMap<(String, String), Expected> {
    // A truncated capture exits with 2 but still reports every connection before the cut.
    let mut args = vec!["analyze", "--format", "ndjson", "--all", path.to_str().unwrap()];
    args.extend_from_slice(options);
    let run = tlsdiag(&args);
    assert!(run.code == 0 || run.code == 2, "tlsdiag failed on {}: {}", path.display(), run.stderr);
    let mut view = BTreeMap::new();
    for line in run.stdout.lines() {
        let c: Value = serde_json::from_str(line).expect("valid NDJSON line");
        let tls = &c["tls"];
        let ch = &tls["client_hello"];
        if ch.is_null() {
            continue;
        }
        let (a, b) = (c["client"].as_str().unwrap().to_string(), c["server"].as_str().unwrap().to_string());
        let key = if a < b { (a, b) } else { (b, a) };
        let sh = &tls["server_hello"];
        let s = |v: &Value| v.as_str().map(str::to_string);
        let alerts = list(&tls["alerts"])
            .iter()
            .filter(|a| !a["description"].is_null())
            .map(|a| (a["frame"].as_u64().unwrap(), a["description"].as_str().unwrap().to_string()))
            .collect();
        view.insert(
            key,
            Expected {
                client_hello: ch["frame"].as_u64(),
                server_hello: sh["frame"].as_u64(),
                version: s(&sh["version"]),
                cipher: s(&sh["cipher_suite"]),
                sni: s(&ch["sni"]),
                alerts,
                certificate: tls["server_certificates"]["frame"].as_u64(),
                certificate_request: tls["certificate_request"].as_u64(),
                ja3: s(&ch["ja3"]).filter(|s| !s.is_empty()),
                ja3s: s(&sh["ja3s"]),
            },
        );
    }
    view
}

/// Captures where tshark misses a ServerHello that tlsdiag reads, each checked by hand in
/// Wireshark: tshark then shows no ServerHello, tlsdiag shows one, and everything else agrees.
const TSHARK_MISSES_SERVER_HELLO: &[(&str, &str)] = &[
    ("ndpi--teams.pcap", "server flight reordered behind a lost segment; tshark does not reassemble it"),
    ("ndpi--tls_multiple_synack_different_seq.pcapng", "two SYN-ACKs with different ISNs; the data follows the second"),
    ("ndpi--KakaoTalk_chat.pcap", "two SYN-ACKs with different ISNs; the data follows the second"),
    ("suricata-verify--tls-subjectaltname.pcap", "port reuse after a reset confuses tshark's sequence analysis"),
];

/// Captures where tshark's JA3 is not the fingerprint of the hello as sent, checked by hand.
const TSHARK_JA3_DIFFERS: &[(&str, &str)] = &[(
    "ndpi--tls_invalid_reads.pcap",
    "a ClientHello with no compression method: tshark's dissector stops there and hashes \"769,4-5-...-37,\"",
)];

/// Captures left out of the comparison, with the reason.
const NOT_COMPARED: &[(&str, &str)] = &[
    ("mercury--capture2.pcap", "every frame twice in two sequence spaces: either copy is the ServerHello"),
    ("mercury--tls_sgt.pcap", "Cisco SGT (EtherType 0x8909) framing is not decoded"),
    ("libpcap--pcap-invalid-version-1.pcap", "corrupt on purpose: tests/errors.rs"),
    ("libpcap--shb-option-too-long.pcapng", "corrupt on purpose: tests/errors.rs"),
    ("pcap-parser--err-eof.bin", "not a capture file"),
];

/// Differences between the two views of one file, as text.
fn compare(path: &Path, name: &str, options: &[&str]) -> Vec<String> {
    compare_with(path, name, options, &[], false)
}

/// As [`compare`], with tlsdiag given `ours` as well; `decrypted` when both tools have the
/// capture's key log, and the decrypted facts are compared too.
fn compare_with(path: &Path, name: &str, options: &[&str], ours: &[&str], decrypted: bool) -> Vec<String> {
    let mut theirs = tshark_view(path, options);
    let ours = tlsdiag_view(path, ours);
    if decrypted {
        // tlsdiag stops reading a connection once its outcome is known (after the first record
        // of each side that follows the handshake), and tshark decrypts what it can: the
        // close_notify that ends a good one says nothing about the handshake, on either side.
        for e in theirs.values_mut() {
            e.alerts.retain(|(_, name)| name != "close_notify");
        }
    }
    let tshark_misses = TSHARK_MISSES_SERVER_HELLO.iter().any(|(n, _)| *n == name);
    let mut problems = Vec::new();
    for (key, expected) in &theirs {
        if expected.client_hello.is_none() {
            continue; // tshark saw only a ServerHello or alert: a capture cut before the hello
        }
        let Some(got) = ours.get(key) else {
            problems.push(format!("{name}: no connection {key:?} in tlsdiag output"));
            continue;
        };
        let mut alerts = got.alerts.clone();
        if decrypted {
            alerts.retain(|(_, name)| name != "close_notify");
        }
        let mut got_cmp = Expected { alerts, sni: got.sni.clone(), ja3: got.ja3.clone(), ..Default::default() };
        if TSHARK_JA3_DIFFERS.iter().any(|(n, _)| *n == name) {
            got_cmp.ja3 = expected.ja3.clone();
        }
        got_cmp.client_hello = got.client_hello;
        let mut expected_cmp = expected.clone();
        if decrypted {
            got_cmp.certificate = got.certificate;
            got_cmp.certificate_request = got.certificate_request;
        } else {
            (expected_cmp.certificate, expected_cmp.certificate_request) = (None, None);
        }
        // SSLv2 server hellos have no TLS fields in tshark; tshark-missed ServerHellos are listed.
        let compare_server =
            !(got.version.as_deref() == Some("SSL2.0") || (tshark_misses && expected.server_hello.is_none()));
        if compare_server {
            got_cmp.server_hello = got.server_hello;
            got_cmp.version = got.version.clone();
            got_cmp.cipher = got.cipher.clone();
            got_cmp.ja3s = got.ja3s.clone();
        } else {
            expected_cmp.ja3s = None;
        }
        if got_cmp != expected_cmp {
            problems.push(format!("{name}: connection {key:?}\n  tlsdiag {got_cmp:?}\n  tshark  {expected_cmp:?}"));
        }
    }
    problems
}

fn corpus_files_with_client_hellos() -> Vec<String> {
    let manifest = std::fs::read_to_string(corpus("MANIFEST.tsv")).expect("../shared/corpus/MANIFEST.tsv");
    let header: Vec<&str> = manifest.lines().next().unwrap().split('\t').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (file, format, hellos) = (column("file"), column("format"), column("client_hellos"));
    manifest
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|f| f[hellos] != "0" && !f[format].contains("lz4"))
        .map(|f| f[file].to_string())
        .filter(|name| !NOT_COMPARED.iter().any(|(n, _)| n == name))
        .collect()
}

/// Every public capture of ../shared/corpus that holds a ClientHello.
#[test]
fn whole_corpus_agrees_with_tshark() {
    if !has_corpus() {
        return;
    }
    if !has_tshark() {
        return;
    }
    let files = corpus_files_with_client_hellos();
    assert!(files.len() > 100, "the corpus lists {} captures with a ClientHello", files.len());
    let mut problems = Vec::new();
    for name in &files {
        problems.extend(compare(&corpus(name), name, &[]));
    }
    assert!(
        problems.is_empty(),
        "{} differences in {} captures:\n{}",
        problems.len(),
        files.len(),
        problems.join("\n")
    );
}

/// The stems of the files in tests/fixtures whose names end in `suffix`, sorted.
fn fixtures_ending(suffix: &str) -> Vec<String> {
    let mut stems: Vec<String> = std::fs::read_dir(repo().join("tests/fixtures"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(suffix).map(str::to_string))
        .collect();
    stems.sort();
    stems
}

/// The captures made with real peers for this project (tests/fixtures), with tshark told to
/// reassemble out-of-order segments as tlsdiag does.
#[test]
fn fixtures_agree_with_tshark() {
    if !has_tshark() {
        return;
    }
    let names: Vec<String> = fixtures_ending(".pcap").into_iter().map(|stem| format!("{stem}.pcap")).collect();
    assert!(names.len() >= 15, "{names:?}");
    let mut problems = Vec::new();
    for name in &names {
        // SQL Server captures: TDS 7.x on 1433 needs "Decode As" TDS; TDS 8.0 is TLS from the
        // first byte. tshark's TDS dissector unwraps TLS only from PRELOGIN (0x12) packets, not
        // from the 0x04 packets some servers answer in, so that capture is left to fixtures.rs.
        if name == "tds-tls12-packet-type-4.pcap" {
            continue;
        }
        let decode_as = match name {
            n if n.starts_with("tds8-") => "tcp.port==1433,tls",
            n if n.starts_with("tds-") => "tcp.port==1433,tds",
            n if n.starts_with("openvpn-") => "tcp.port==1194,openvpn",
            _ => "tcp.port==4434,tls",
        };
        let mut options = vec!["-o", "tcp.reassemble_out_of_order:TRUE", "-d", decode_as];
        // tshark guesses tls-auth poorly: it is told, with the HMAC size the scenario set.
        if name.contains("-tls-auth-") {
            options.extend(["-o", "openvpn.tls_auth_detection_override:TRUE", "-o", "openvpn.tls_auth:TRUE"]);
            if name.contains("version-mismatch") {
                options.extend(["-o", "openvpn.tls_auth_hmac_size:32"]);
            }
        }
        problems.extend(compare(&fixture(name), name, &options));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The fixtures made with a key log (`NAME.keylog` beside `NAME.pcap`), decrypted by both
/// tools with the same file, and the pcapng copy that carries its key log inside.
#[test]
fn decrypted_fixtures_agree_with_tshark() {
    if !has_tshark() {
        return;
    }
    let names = fixtures_ending(".keylog");
    assert!(names.len() >= 5, "{names:?}");
    let mut problems = Vec::new();
    for stem in &names {
        let keylog = fixture(&format!("{stem}.keylog"));
        let keylog = keylog.to_str().unwrap();
        let tshark_keylog = format!("tls.keylog_file:{keylog}");
        let name = format!("{stem}.pcap");
        problems.extend(compare_with(&fixture(&name), &name, &["-o", &tshark_keylog], &["--keylog", keylog], true));
    }
    // Both tools read the key log out of the pcapng file itself.
    let dsb = "tls13-cert-unknown-ca-dsb.pcapng";
    problems.extend(compare_with(&fixture(dsb), dsb, &[], &[], true));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The SHA-256 prefix that names a ticket or PSK identity in tlsdiag's output, from tshark's hex.
fn fingerprint_of_hex(hex: &str) -> String {
    use sha2::Digest;
    let bytes: Vec<u8> =
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex from tshark")).collect();
    sha2::Sha256::digest(&bytes)[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Session tickets a server issued (NewSessionTicket, decrypted in TLS 1.3) and PSK identities a
/// client offered: tlsdiag's fingerprints are those of the bytes tshark shows, connection by
/// connection (by the client's port).
#[test]
fn ticket_fingerprints_agree_with_tshark() {
    if !has_tshark() {
        return;
    }
    let cases = [
        ("tls12-resumed", false),
        ("tls12-resumption-refused-client-cert", false),
        ("tls12-keylog-ok", true),
        ("tls13-chacha-python", true),
        ("ftps-data-not-resumed", true),
    ];
    let mut compared = 0;
    for (stem, keylogged) in cases {
        let path = fixture(&format!("{stem}.pcap"));
        let keylog = fixture(&format!("{stem}.keylog"));
        let keylog_option = format!("tls.keylog_file:{}", keylog.display());
        let mut args = vec!["-r", path.to_str().unwrap(), "-d", "tcp.port==4433,tls", "-T", "fields"];
        if keylogged {
            args.extend(["-o", &keylog_option]);
        }
        args.extend(["-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tls.handshake.session_ticket"]);
        args.extend(["-e", "tls.handshake.extensions.psk.identity.identity"]);
        let out = Command::new("tshark").args(&args).output().expect("run tshark");
        // Client port -> (tickets issued to it, first PSK identity it offered).
        let mut theirs: BTreeMap<String, (Vec<String>, Option<String>)> = BTreeMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() < 4 {
                continue;
            }
            for ticket in f[2].split(',').filter(|t| !t.is_empty()) {
                theirs.entry(f[1].to_string()).or_default().0.push(fingerprint_of_hex(ticket));
            }
            if let Some(identity) = f[3].split(',').find(|i| !i.is_empty()) {
                theirs.entry(f[0].to_string()).or_default().1.get_or_insert(fingerprint_of_hex(identity));
            }
        }
        let mut ours_args = vec!["analyze", "--format", "ndjson", path.to_str().unwrap()];
        let keylog_path = keylog.to_str().unwrap().to_string();
        if keylogged {
            ours_args.extend(["--keylog", &keylog_path]);
        }
        let run = tlsdiag(&ours_args);
        for conn in run.stdout.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()) {
            let port = conn["client"].as_str().unwrap().rsplit(':').next().unwrap().to_string();
            let Some((tickets, identity)) = theirs.get(&port) else { continue };
            let ours: Vec<String> = conn["tls"]["tickets_issued"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_string())
                .collect();
            assert_eq!(&ours, tickets, "{stem}: tickets issued to port {port}");
            let offered = conn["tls"]["client_hello"]["psk_identity_id"].as_str().map(String::from);
            assert_eq!(&offered, identity, "{stem}: PSK identity from port {port}");
            compared += 1;
        }
    }
    // Not compared: connections tshark shows no ticket in, among them ftplib's FTPS data
    // connection, which tshark reads as FTP-DATA (it found the PASV reply in the decrypted
    // control connection, and that conversation wins over Decode As).
    assert!(compared >= 6, "only {compared} connections compared");
}

/// DNS responses: the name, response code and addresses tlsdiag reads for a certificate's CRL
/// host are those tshark shows in the same frame.
#[test]
fn dns_answers_agree_with_tshark() {
    if !has_tshark() {
        return;
    }
    let mut compared = 0;
    for name in ["tls12-crl-host-unreachable.pcap", "tls12-crl-host-nxdomain.pcap"] {
        let path = fixture(name);
        let out = Command::new("tshark")
            .args(["-r", path.to_str().unwrap(), "-Y", "dns.flags.response==1", "-T", "fields"])
            .args(["-e", "frame.number", "-e", "dns.qry.name", "-e", "dns.flags.rcode", "-e", "dns.a"])
            .output()
            .expect("run tshark");
        let theirs: BTreeMap<u64, (String, u64, String)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f[0].parse().unwrap(), (f[1].to_string(), f[2].parse().unwrap(), f.get(3).unwrap_or(&"").to_string()))
            })
            .collect();
        for conn in connections(&path) {
            for lookup in list(&conn["revocation_lookups"]) {
                let frame = lookup["frame"].as_u64().unwrap();
                let (qname, rcode, addresses) =
                    theirs.get(&frame).unwrap_or_else(|| panic!("{name}: no DNS response in {frame}"));
                assert_eq!(lookup["name"], qname.as_str(), "{name} frame {frame}");
                let ours_rcode = match lookup["rcode"].as_str().unwrap() {
                    "NOERROR" => 0,
                    "NXDOMAIN" => 3,
                    other => panic!("unexpected {other}"),
                };
                assert_eq!(ours_rcode, *rcode, "{name} frame {frame}");
                let ours: Vec<&str> = list(&lookup["addresses"]).iter().map(|a| a.as_str().unwrap()).collect();
                assert_eq!(ours.join(","), *addresses, "{name} frame {frame}");
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 2);
}
