//! From a connection's facts to a verdict: a stable code, the side at fault, a confidence,
//! the evidence frames, a one-line explanation naming the actual values, and a remediation
//! hint. A pure function: the same facts always give the same verdict.

use crate::facts::Facts;
use crate::proto::facts::{
    Alert, Certificate, RecordSeen, Role, TlsFacts, TLS13_ALERT_SIZED, TLS13_CERTIFICATE_MARGIN,
};
use crate::proto::openvpn::{ControlAuth, OpenVpnFacts};
use crate::proto::record_size;
use crate::proto::tds::{Negotiated, Prelogin, TdsFacts};
use crate::proto::values::{AlertDescription, AlertDescription as AD, CipherSuite, TlsVersion};
use crate::verdict::{Code, Confidence, Fault, Risk, RiskCode, Verdict};
use tls_parser::TlsCipherEnc;

mod partial;

fn secs(nanos: i64) -> String {
    format!("{:.1} s", nanos as f64 / 1e9)
}

/// The verdict for one connection.
pub fn classify(c: &Facts) -> Verdict {
    let client_hello = c.tls.as_ref().and_then(|t| t.client_hello.as_ref());
    let refused_prologue = c.tls.as_ref().and_then(|t| prologue_refused(c, t));
    let mut verdict = match (&c.tls, &c.tds) {
        _ if client_hello.is_none() && c.openvpn.as_ref().is_some_and(openvpn_hides_tls) => openvpn_verdict(c),
        _ if let Some(refused) = refused_prologue => refused,
        (_, Some(tds)) if client_hello.is_none() || tds_mismatch_decides(c, tds) => tds_verdict(c, tds),
        (None, _) => tcp_verdict(c),
        (Some(_), _) if c.not_tls => not_tls_verdict(c),
        (Some(tls), _) => tls_verdict(c, tls),
    };
    // "Abandoned before any answer", "closed without a byte of data" and "not TLS" (the first
    // bytes lost) are as open to a lost packet as a failure is.
    let loss_may_explain =
        verdict.is_failure() || matches!(verdict.code, Code::Abandoned | Code::ClosedAfterHandshake | Code::NotTls);
    if let Some(loss) = c.capture_loss.as_ref().filter(|_| loss_may_explain) {
        verdict = lost_packets_may_explain(verdict, loss);
    }
    if let Some(tls) = &c.tls {
        verdict.risks = risks(c, tls);
    }
    if let Some(tds) = &c.tds {
        verdict.risks.extend(tds_risks(tds));
        sql_server_build_hint(&mut verdict, tds);
    }
    if let Some(trace) = &c.windows_trace {
        verdict = windows_trace_words(verdict, c, trace);
    }
    // Evidence reads in capture order, as it would be walked in Wireshark.
    verdict.evidence.sort_by_key(|e| e.frame);
    verdict
}

/// What a Windows trace (ETL) adds to a verdict: packets cut by pktmon's default 128-byte
/// limit are said to be so, with the option that avoids it, rather than guessed at; packets
/// a Windows component dropped are evidence that they went no further than the traced host.
fn windows_trace_words(mut verdict: Verdict, c: &Facts, trace: &crate::facts::WindowsTrace) -> Verdict {
    if verdict.code == Code::IncompleteCapture && c.tcp.truncated_segments > 0 {
        verdict = verdict
            .because(format!(
                "the trace holds only the first bytes of {} packets of this connection, so the handshake cannot be read \
                 (pktmon logs 128 bytes of each packet unless started with --pkt-size 0)",
                c.tcp.truncated_segments
            ))
            .hint(
                "Capture again with whole packets: `pktmon start --capture --pkt-size 0` \
                 (or `netsh trace start capture=yes` without packettruncatebytes).",
            );
    }
    if trace.drops.is_empty() {
        return verdict;
    }
    let frames: Vec<String> = trace.drops.iter().map(|(f, r)| format!("frame {f} (drop reason {r})")).collect();
    for &(frame, reason) in &trace.drops {
        verdict = verdict.frame(Some(frame), format!("dropped by a Windows component (pktmon drop reason {reason})"));
    }
    let note = format!(
        "a Windows component on the traced host dropped {}: those packets went no further than that host",
        frames.join(", ")
    );
    verdict.explanation =
        if verdict.explanation.is_empty() { note } else { format!("{}; {note}", verdict.explanation) };
    let hint = "Look at the traced host's firewall and filter drivers first (`pktmon drop` counters, \
                `pktmon comp list`), before the network.";
    verdict.hint = if verdict.hint.is_empty() { hint.into() } else { format!("{hint} {}", verdict.hint) };
    verdict
}

/// The server ended the connection after the client's prologue and before its ClientHello:
/// it did not expect those bytes (a PROXY header sent to a server without proxy_protocol).
fn prologue_refused(c: &Facts, tls: &TlsFacts) -> Option<Verdict> {
    let prologue = tls.client_prologue.as_ref()?;
    let hello = tls.client_hello.as_ref()?.frame;
    let t = &c.tcp;
    let end = [t.server_fin, t.server_rst].into_iter().flatten().map(|s| s.frame).filter(|&f| f < hello).min()?;
    let preview = tls.non_tls.as_ref().map_or(String::new(), |n| format!(" (\"{}\")", n.preview));
    Some(
        Verdict::new(Code::ClientNotTls, Fault::Client, Confidence::Likely)
            .because(format!(
                "the client sent {} bytes that are not TLS before its ClientHello{preview}, and the server closed the connection after them, before the ClientHello arrived",
                prologue.bytes
            ))
            .hint("The client sends a prologue the server does not expect (a PROXY protocol header: turn it off in the client or the load balancer, or enable proxy_protocol on the server).")
            .frame(Some(prologue.frame), "client's prologue")
            .frame(Some(end), "server's close")
            .frame(Some(hello), "ClientHello, too late"),
    )
}

/// OpenVPN's tls-crypt encrypts the control channel: the TLS inside cannot be read.
fn openvpn_hides_tls(o: &OpenVpnFacts) -> bool {
    o.control_auth == Some(ControlAuth::TlsCrypt)
}

/// An OpenVPN connection whose TLS handshake is hidden (tls-crypt): data-channel packets both
/// ways prove it completed, since their keys come out of it; without them nothing can be said.
fn openvpn_verdict(c: &Facts) -> Verdict {
    let Some(o) = &c.openvpn else { return tcp_verdict(c) };
    let [client_data, server_data] = o.first_data;
    if let (Some(from_client), Some(from_server)) = (client_data, server_data) {
        return Verdict::new(Code::Ok, Fault::None, Confidence::Likely)
            .because(format!(
                "OpenVPN with tls-crypt: the control channel (and the TLS handshake in it) is encrypted, but data-channel packets flowed both ways ({} from the client, {} from the server), whose keys only a completed handshake gives",
                o.data_packets[0], o.data_packets[1]
            ))
            .frame(o.client_reset, "client hard reset")
            .frame(Some(from_client), "first data packet from the client")
            .frame(Some(from_server), "first data packet from the server");
    }
    Verdict::new(Code::IncompleteCapture, Fault::Unknown, Confidence::Possible)
        .because("OpenVPN with tls-crypt: the control channel is encrypted, so the TLS handshake inside cannot be read, and no data-channel packets flowed both ways")
        .hint("Read the OpenVPN logs of both ends (verb 3 or more) for the TLS error; tls-crypt hides it from captures by design.")
        .frame(o.client_reset, "client hard reset")
        .frame(o.server_reset, "server hard reset")
        .frame(c.tcp.client_fin.or(c.tcp.server_fin).or(c.tcp.client_rst).or(c.tcp.server_rst).map(|s| s.frame), "end of the connection")
}

/// A failure seen while the capture lost packets (live capture: kernel drops, a full queue)
/// may be a lost packet: the capture is said to be incomplete, naming the loss and the failure
/// it would otherwise show, whose evidence frames are kept.
fn lost_packets_may_explain(failure: Verdict, loss: &crate::capture::CaptureLoss) -> Verdict {
    let mut verdict = Verdict::new(Code::IncompleteCapture, Fault::Unknown, Confidence::Likely)
        .because(format!(
            "the capture lost {} packet(s) ({} dropped by the kernel, {} by tlsdiag's full queue) between {} and {} while this connection was open, so its apparent `{}` ({}) may be a lost packet",
            loss.packets(),
            loss.kernel,
            loss.queue,
            crate::time::rfc3339_nanos(loss.from),
            crate::time::rfc3339_nanos(loss.to),
            failure.code,
            failure.explanation
        ))
        .hint("Capture with a larger --buffer-size, a narrower filter or --handshakes-only; or save with tcpdump -B and analyze the file.");
    verdict.evidence = failure.evidence;
    verdict
}

/// A connection that carried no payload: the TCP story is the whole story.
fn tcp_verdict(c: &Facts) -> Verdict {
    if let Some(abandoned) = partial::abandoned_at_syn_ack(c) {
        return abandoned;
    }
    let t = &c.tcp;
    // Payload was sent, too little of it captured to tell what it was: the TCP story would
    // claim "before any ClientHello" where the capture cannot say.
    if let Some(data) = t.client_first_data.or(t.server_first_data).filter(|_| t.truncated_segments > 0 || t.gaps > 0) {
        return Verdict::new(Code::IncompleteCapture, Fault::Unknown, Confidence::Certain)
            .because(format!(
                "the connection carried payload ({} bytes from the client, {} from the server) that the capture cut short or lost before it could be read",
                t.client_bytes_seen.saturating_sub(u32::from(t.client_fin.is_some())),
                t.server_bytes_seen.saturating_sub(u32::from(t.server_fin.is_some()))
            ))
            .hint("Capture again with a full snap length (tcpdump -s 0; pktmon --pkt-size 0) and without drops.")
            .frame(Some(data.frame), "first payload")
            .frame(t.first_gap_frame, "first missing bytes");
    }
    let reset = t.server_rst.or(t.client_rst);
    match (t.syn, t.syn_ack, t.established) {
        (Some(syn), None, _) if t.server_rst.is_some() => Verdict::new(Code::ConnectionRefused, Fault::Server, Confidence::Certain)
            .because(format!("{} answered the SYN with a reset: nothing listens on that port (or a firewall rejects it)", c.server))
            .hint("Start the service on that port, check the port number the client uses, or the firewall rules that reject it.")
            .frame(Some(syn.frame), "SYN")
            .frame(t.server_rst.map(|s| s.frame), "RST from the server"),
        (Some(syn), None, _) => {
            let last = t.last_syn.unwrap_or(syn);
            let span = secs(last.ts.saturating_sub(syn.ts));
            let confidence = if t.syn_count > 1 { Confidence::Certain } else { Confidence::Possible };
            let gave_up = match t.client_rst {
                Some(rst) => format!(", until the client reset its attempt after {}", secs(rst.ts.saturating_sub(syn.ts))),
                None => String::new(),
            };
            Verdict::new(Code::SynTimeout, Fault::Network, confidence)
                .because(format!("{} SYN(s) to {} over {span}, never answered{gave_up}", t.syn_count, c.server))
                .hint("A firewall drops the SYNs, the server is down, or its accept backlog is full; capture on the server side to tell which.")
                .frame(Some(syn.frame), "first SYN")
                .frame((t.syn_count > 1).then_some(last.frame), "last SYN retransmission")
                .frame(t.client_rst.map(|r| r.frame), "RST from the client")
        }
        (Some(_), Some(syn_ack), None) => {
            // SYN-ACKs sent again (and SYNs retransmitted) show the answer never arrived.
            let retried = t.syn_ack_count > 1;
            Verdict::new(Code::TcpHandshakeIncomplete,
                Fault::Network,
                if retried { Confidence::Certain } else { Confidence::Likely },
            )
            .because(format!(
                "{} answered with {} SYN-ACK(s) that the client never acknowledged ({} SYN(s) from the client)",
                c.server, t.syn_ack_count, t.syn_count
            ))
            .hint("Look for asymmetric routing or a firewall dropping the SYN-ACK on its way back to the client.")
            .frame(Some(syn_ack.frame), "SYN-ACK")
        }
        (_, _, Some(_)) | (None, _, _) if reset.is_some() && t.syn.is_some() => {
            let who = if t.server_rst.is_some() { "server" } else { "client" };
            Verdict::new(Code::ResetBeforeClientHello, if t.server_rst.is_some() { Fault::Server } else { Fault::Client }, Confidence::Certain)
                .because(format!("the TCP connection opened, then the {who} reset it before any ClientHello"))
                .hint(if t.server_rst.is_some() {
                    "The server accepted and dropped the connection: an overloaded or wrong service on the port (its logs and accept backlog)."
                } else {
                    "The client gave up right after connecting: its logs say why (a timeout, a cancelled request, a health check)."
                })
                .frame(t.established.map(|s| s.frame), "connection established")
                .frame(reset.map(|s| s.frame), "RST")
        }
        (Some(_), _, Some(_)) if t.client_fin.or(t.server_fin).is_some() => {
            let fin = t.server_fin.or(t.client_fin);
            Verdict::new(Code::ClosedBeforeClientHello, Fault::Unknown, Confidence::Certain)
                .because("the TCP connection opened and closed without any ClientHello")
                .hint("The client connected and gave up, or the service on the port closed it at once.")
                .frame(fin.map(|s| s.frame), "FIN")
        }
        _ => Verdict::new(Code::IncompleteCapture, Fault::Unknown, Confidence::Certain)
            .because(if t.syn.is_none() {
                "the capture holds no SYN and no payload of this connection"
            } else {
                "the connection carried no payload before the capture ended"
            })
            .hint("Capture longer, or from the start of the connection."),
    }
}

/// The PRELOGIN options disagree and the server never answered a ClientHello: the mismatch,
/// not the TLS attempt a client may make anyway, is the story.
fn tds_mismatch_decides(c: &Facts, tds: &TdsFacts) -> bool {
    let mismatch =
        matches!(tds.negotiated, Some(Negotiated::ServerRequiresClientCannot | Negotiated::ClientRequiresServerCannot));
    mismatch && !c.tls.as_ref().is_some_and(|t| t.server_hello.is_some())
}

/// "SQL Server 16.0.1000 (encryption REQ)" and the like, for explanations.
fn prelogin_words(who: &str, p: Option<&Prelogin>) -> String {
    match p {
        Some(p) => format!(
            "{who}{} (encryption {})",
            p.version.as_deref().map(|v| format!(" {v}")).unwrap_or_default(),
            p.encryption.map(|e| e.as_str()).unwrap_or("not stated")
        ),
        None => format!("{who} (no PRELOGIN seen)"),
    }
}

/// A SQL Server connection without a ClientHello: the PRELOGIN exchange tells why.
fn tds_verdict(c: &Facts, tds: &TdsFacts) -> Verdict {
    let t = &c.tcp;
    let client = prelogin_words("client", tds.client.as_ref());
    let server = prelogin_words("SQL Server", tds.server.as_ref());
    let client_hello = c.tls.as_ref().and_then(|t| t.client_hello.as_ref()).map(|ch| ch.frame);
    let client_frame = tds.client.as_ref().map(|p| p.frame);
    let server_frame = tds.server.as_ref().map(|p| p.frame);
    let ending = first_ending(c);
    let ended = |v: Verdict| match ending {
        Some((end, who, reset)) => {
            v.frame(Some(end.frame), format!("{} from the {}", if reset { "RST" } else { "FIN" }, role_name(who)))
        }
        None => v,
    };
    match tds.negotiated {
        Some(Negotiated::ServerRequiresClientCannot) => ended(
            Verdict::new(Code::TdsEncryptionMismatch, Fault::Client, Confidence::Certain)
                .because(format!(
                    "the {client} does not support encryption, and the {server} requires it: the server ends the connection after PRELOGIN{}",
                    if client_hello.is_some() { " (the client sent a ClientHello anyway)" } else { "" }
                ))
                .hint("Enable encryption in the client (Encrypt=yes / a driver with TLS support), or turn off Force Encryption on the server.")
                .frame(client_frame, "client PRELOGIN")
                .frame(server_frame, "server PRELOGIN response")
                .frame(client_hello, "ClientHello"),
        ),
        Some(Negotiated::ClientRequiresServerCannot) => ended(
            Verdict::new(Code::TdsEncryptionMismatch, Fault::Server, Confidence::Certain)
                .because(format!(
                    "the {client} requires encryption, and the {server} does not support it: the client ends the connection after PRELOGIN"
                ))
                .hint("Give SQL Server a certificate and enable encryption (SQL Server Configuration Manager, Protocols, Certificate), or let the client connect without Encrypt=yes.")
                .frame(client_frame, "client PRELOGIN")
                .frame(server_frame, "server PRELOGIN response"),
        ),
        Some(Negotiated::None) => Verdict::new(Code::TdsUnencrypted, Fault::None, Confidence::Certain)
            .because(format!("TDS without TLS: the {client} and the {server} agreed on no encryption"))
            .hint("Require encryption on the server (Force Encryption) or in the client (Encrypt=yes).")
            .frame(client_frame, "client PRELOGIN")
            .frame(server_frame, "server PRELOGIN response")
            .frame(tds.plaintext_after_prelogin, "first TDS packet in the clear"),
        _ => {
            let after = if tds.server.is_some() {
                format!("after the PRELOGIN exchange ({client}, {server}), before any ClientHello")
            } else {
                format!("after the {client} PRELOGIN, without a PRELOGIN response")
            };
            let v = match ending {
                Some((end, who, true)) => Verdict::new(Code::ResetBeforeClientHello, fault_of(who), Confidence::Certain)
                    .because(format!("the {} reset the connection {after}", role_name(who)))
                    .hint(if who == Role::Server {
                        "SQL Server (or a device in front of it) dropped the connection during pre-login: check its error log and the TLS settings of the instance (certificate, protocols)."
                    } else {
                        "The client gave up during pre-login: check its driver's TLS support and settings (Encrypt, TrustServerCertificate)."
                    })
                    .frame(Some(end.frame), format!("RST from the {}", role_name(who))),
                Some((end, who, false)) => Verdict::new(Code::ClosedBeforeClientHello, fault_of(who), Confidence::Certain)
                    .because(format!("the {} closed the connection {after}", role_name(who)))
                    .hint("One side ended the pre-login: check the SQL Server error log and the client's encryption settings.")
                    .frame(Some(end.frame), format!("FIN from the {}", role_name(who))),
                None => Verdict::new(Code::IncompleteCapture, Fault::Unknown, Confidence::Possible)
                    .because(format!("nothing followed {after} before the {}", end_words(c)))
                    .hint("Capture longer."),
            };
            v.frame(client_frame, "client PRELOGIN").frame(server_frame, "server PRELOGIN response").frame(
                t.first_gap_frame,
                "gap in the captured bytes",
            )
        }
    }
}

/// Who must change for a version mismatch: the side refused, unless the client that the server
/// refused already offered TLS 1.3, in which case the server supports nothing current.
fn protocol_mismatch_fault(refused_by: Role, ch: &crate::proto::facts::ClientHello) -> Fault {
    match refused_by {
        Role::Server if ch.max_version == TlsVersion::TLS1_3 => Fault::Server,
        Role::Server => Fault::Client,
        Role::Client => Fault::Server,
    }
}

/// A SQL Server connection that failed around TLS: the server's build from its PRELOGIN,
/// named as a release with what it needs for TLS 1.2, goes into the fix (first when the build
/// lacks TLS 1.2, the likely cause). Only the server's version maps: a client's PRELOGIN
/// version is its driver's.
fn sql_server_build_hint(v: &mut Verdict, tds: &TdsFacts) {
    let tls_failure = matches!(
        v.code,
        Code::ProtocolMismatch
            | Code::CipherMismatch
            | Code::RstWithoutServerHello
            | Code::ClosedWithoutServerHello
            | Code::ResetBeforeClientHello
            | Code::ClosedBeforeClientHello
            | Code::FailedAfterKeyExchange
    );
    let build = tds.server.as_ref().and_then(|p| p.version.as_deref()).and_then(crate::sqlserver::build);
    let Some(build) = build.filter(|_| tls_failure) else {
        return;
    };
    v.hint = if build.tls12 == crate::sqlserver::Tls12Support::Yes {
        format!("{} The server is {build}.", v.hint)
    } else {
        format!("The server is {build}. {}", v.hint)
    };
}

fn tds_risks(tds: &TdsFacts) -> Vec<Risk> {
    match tds.negotiated {
        Some(Negotiated::None) => vec![Risk {
            code: RiskCode::LoginUnencrypted,
            explanation: "no encryption was negotiated: the LOGIN7 packet (user name and password) and all data travel in plaintext".into(),
        }],
        Some(Negotiated::LoginOnly) => vec![Risk {
            code: RiskCode::DataUnencrypted,
            explanation: "encryption OFF on both sides: TLS protects the login only; queries and results travel in plaintext".into(),
        }],
        _ => Vec::new(),
    }
}

/// The first FIN or RST, which tells who ended the connection; later ones are reactions to it.
fn first_ending(c: &Facts) -> Option<(crate::proto::facts::Seen, Role, bool)> {
    let t = &c.tcp;
    [
        (t.server_rst, Role::Server, true),
        (t.client_rst, Role::Client, true),
        (t.server_fin, Role::Server, false),
        (t.client_fin, Role::Client, false),
    ]
    .into_iter()
    .filter_map(|(seen, who, reset)| seen.map(|seen| (seen, who, reset)))
    .min_by_key(|(seen, _, _)| seen.frame)
}

fn not_tls_verdict(c: &Facts) -> Verdict {
    let facts = c.tls.as_ref().and_then(|t| t.non_tls.as_ref());
    let (sender, frame, preview) = match facts {
        Some(n) => (n.sender, Some(n.frame), n.preview.as_str()),
        None => (Role::Client, None, ""),
    };
    if c.tcp.midstream {
        return Verdict::new(Code::IncompleteCapture, Fault::Unknown, Confidence::Possible)
            .because("the capture began mid-connection, so the stream could not be lined up with TLS records")
            .hint("Capture from the start of the connection.");
    }
    if let Some(v) = facts.filter(|n| n.sender == Role::Client).and_then(|n| client_not_tls(c, n)) {
        return v;
    }
    Verdict::new(Code::NotTls, Fault::None, Confidence::Certain)
        .because(format!("the {} spoke something other than TLS: \"{preview}\"", role_name(sender)))
        .frame(frame, "first payload")
}

/// Ports IANA assigns to protocols that start with TLS (HTTPS, LDAPS, FTPS, IMAPS, POP3S,
/// SMTPS, DNS over TLS, SIP over TLS, the Global Catalog over TLS, WinRM over HTTPS).
const TLS_PORTS: [u16; 12] = [443, 8443, 636, 989, 990, 993, 995, 465, 853, 5061, 3269, 5986];

/// A client that spoke another protocol to a TLS service: the service answered with a TLS
/// record (an alert, most often), or said nothing and closed on a port assigned to TLS.
fn client_not_tls(c: &Facts, sent: &crate::proto::facts::NonTls) -> Option<Verdict> {
    let server_end = c.tcp.server_fin.or(c.tcp.server_rst).filter(|end| end.frame >= sent.frame);
    let port = c.server_addr().map_or(0, |a| a.port());
    let (confidence, how, frame) = match &sent.answer {
        Some(a) if a.tls_record => (
            Confidence::Certain,
            match &a.alert {
                Some(alert) => format!("the server answered with a TLS alert ({alert})"),
                None => "the server answered with a TLS record".to_string(),
            },
            Some(a.frame),
        ),
        // nginx answers plain HTTP on its TLS port with a 400 page ("The plain HTTP request was
        // sent to HTTPS port").
        Some(a) if TLS_PORTS.contains(&port) && a.preview.starts_with("HTTP/1.1 400") => (
            Confidence::Likely,
            format!(
                "the server on TLS port {port} answered 400 Bad Request, as nginx does to plain HTTP on its HTTPS port"
            ),
            Some(a.frame),
        ),
        None if TLS_PORTS.contains(&port) && server_end.is_some() => (
            Confidence::Likely,
            format!("the server closed the connection without a word, as TLS services on port {port} do"),
            server_end.map(|e| e.frame),
        ),
        _ => return None,
    };
    Some(
        Verdict::new(Code::ClientNotTls, Fault::Client, confidence)
            .because(format!("the client spoke something other than TLS to a TLS service (\"{}\"); {how}", sent.preview))
            .hint("Point the client at the TLS endpoint correctly: https:// rather than http:// (or the plain-text port), TLS enabled in its driver or connection string (SQL: Encrypt=strict for TDS 8.0 listeners).")
            .frame(Some(sent.frame), "client's first bytes")
            .frame(frame, "server's answer"),
    )
}

/// An FTPS data connection that began a new TLS session instead of resuming its control
/// connection's. vsftpd (require_ssl_reuse, on by default) and FileZilla Server refuse such a
/// data connection: its handshake completes, and the refusal (522 or 425) travels on the
/// encrypted control connection, which is why the verdict can only be `possible`.
fn ftps_data_not_resumed(tls: &TlsFacts) -> Option<Verdict> {
    let control = tls.ftps_control.as_ref()?;
    if tls.resumed {
        return None;
    }
    let (side, how) = match &tls.resumption {
        None => (Fault::Client, "the client offered no session to resume".to_string()),
        Some(r) => {
            (Fault::Server, format!("the client offered a session ({}) and the server began a new one", r.offered))
        }
    };
    Some(
        Verdict::new(Code::FtpsDataNotResumed, side, Confidence::Possible)
            .because(format!(
                "FTPS data connection without the control connection's TLS session ({} -> {}): {how}; servers that \
                 require session reuse refuse it with 522 on the control connection",
                control.client, control.server
            ))
            .hint(
                "Make the FTPS client reuse the control connection's TLS session on data connections (curl, lftp and \
                 FileZilla do; Python's ftplib does not); or let the server accept data connections without reuse \
                 (vsftpd: require_ssl_reuse=NO).",
            )
            .frame(Some(control.frame), "the control connection's ServerHello")
            .frame(tls.client_hello.as_ref().map(|ch| ch.frame), "ClientHello")
            .frame(tls.server_hello.as_ref().map(|sh| sh.frame), "ServerHello of a new session"),
    )
}

/// The earlier of two frames, either of which may be missing.
fn min_frame(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        _ => a.or(b),
    }
}

fn alert_what(a: &Alert) -> String {
    match (&a.level, &a.description) {
        (Some(l), Some(d)) => format!("{l} alert {d} from the {:?}", a.sender).to_lowercase(),
        _ => format!("encrypted alert from the {:?}", a.sender).to_lowercase(),
    }
}

fn tls_verdict(c: &Facts, tls: &TlsFacts) -> Verdict {
    let t = &c.tcp;
    let Some(ch) = &tls.client_hello else {
        // A TLS record (Java answers with a plaintext unexpected_message alert) in answer to a
        // client that spoke another protocol: a TLS service refusing a non-TLS client.
        let plaintext_client = tls.non_tls.as_ref().filter(|n| n.sender == Role::Client && !t.midstream);
        if let Some(v) = plaintext_client
            .filter(|n| n.answer.as_ref().is_some_and(|a| a.tls_record))
            .and_then(|n| client_not_tls(c, n))
        {
            return v;
        }
        if let Some(one_sided) = partial::server_side_only(c, tls) {
            return one_sided;
        }
        let first_record = [&tls.client, &tls.server]
            .iter()
            .filter_map(|side| {
                side.messages.first().map(|m| m.frame).or(side.encrypted_records.first().map(|r| r.frame))
            })
            .min();
        return Verdict::new(Code::IncompleteCapture, Fault::Unknown, Confidence::Certain)
            .because(if t.midstream {
                "the capture began after the ClientHello"
            } else {
                "TLS records without a ClientHello in the capture"
            })
            .hint("Capture from the start of the connection.")
            .frame(first_record, "first TLS record in the capture")
            .frame(t.first_gap_frame, "gap in the captured bytes");
    };
    let fatal = tls.first_fatal_alert();
    let sh = tls.server_hello.as_ref();
    let sni = ch.sni.as_deref().unwrap_or("no SNI");

    // A client's alert after the server already closed or reset without a ServerHello is a
    // consequence (OpenSSL reports the cut stream as decode_error): the close is the story.
    let server_ended_first = |a: &crate::proto::facts::Alert| {
        sh.is_none() && a.sender == Role::Client && t.server_fin.or(t.server_rst).is_some_and(|end| end.frame < a.frame)
    };
    if let Some(alert) = fatal.filter(|a| !server_ended_first(a)) {
        return alert_verdict(c, tls, alert);
    }
    // TLS 1.3: a server that aborts after its flight, before the client spoke, never takes the
    // client's Finished that may follow.
    if let Some(abort) =
        sh.filter(|sh| sh.version == TlsVersion::TLS1_3 && !tls.decrypted).and_then(|_| tls13_server_abort(c, tls))
    {
        return server_abort_verdict(tls, sh.map(|s| s.frame), abort);
    }
    if tls.handshake_complete.is_some() {
        if let Some(refused) = server_refused_client_flight(c, tls) {
            return refused;
        }
        if let Some(not_resumed) = ftps_data_not_resumed(tls) {
            return not_resumed;
        }
        if let Some(closed) = closed_after_handshake(c, tls) {
            return closed;
        }
        let code = if tls.resumed { Code::OkResumed } else { Code::Ok };
        let sh = sh.expect("complete implies a ServerHello");
        // Finished records read after a hole in the capture (a hole after the handshake's end
        // does not matter) were found by their headers: confirmed when the first segment after
        // the hole began with one, a guess confirmed by the next header when it was searched
        // for inside the bytes. A TLS 1.3 Finished told by its size alone is not confirmed.
        let before_the_end = |frame: Option<u64>| frame.filter(|f| tls.handshake_complete.is_some_and(|c| *f <= c));
        let resynced = before_the_end(min_frame(tls.client.resynced, tls.server.resynced));
        let searched = before_the_end(min_frame(tls.client.resynced_by_search, tls.server.resynced_by_search));
        let unconfirmed = tls13_finished_unconfirmed(tls);
        let confirmed = searched.is_none() && unconfirmed.is_none();
        return Verdict::new(code, Fault::None, if confirmed { Confidence::Certain } else { Confidence::Likely })
            .because(format!(
                "{} {} with {}{}{}",
                sh.version,
                sh.suite_name(),
                sni,
                if tls.resumed { ", session resumed" } else { "" },
                if searched.is_some() {
                    "; bytes of the handshake are missing from the capture (lost, or cut by its snap length), and the Finished messages were found in the records after the hole".to_string()
                } else if resynced.is_some() {
                    "; bytes of the handshake are missing from the capture (lost, cut by its snap length, or left in the kernel by --handshakes-only), and the Finished messages were read from the segments after the hole, which begin with a record header".to_string()
                } else {
                    unconfirmed.map(|r| format!("; the client's last record ({} bytes) has the size of a Finished, but nothing after it confirms it (an alert padded to that size cannot be ruled out)", r.length)).unwrap_or_default()
                }
            ))
            .frame(Some(ch.frame), "ClientHello")
            .frame(Some(sh.frame), "ServerHello")
            .frame(tls.client.gap.or(tls.server.gap), "first missing bytes")
            .frame(tls.handshake_complete, "both Finished seen");
    }
    if let Some(completed) = partial::completed_despite_missing_bytes(c, tls, ch) {
        return completed;
    }
    let gap = tls.client.gap.or(tls.server.gap);
    if gap.is_some() || t.truncated_segments > 0 {
        return Verdict::new(Code::IncompleteCapture, Fault::Unknown, Confidence::Certain)
            .because(
                "bytes of the handshake are missing from the capture (lost by the capture or cut by its snap length)",
            )
            .hint("Capture again with a full snap length (tcpdump -s 0) and without drops.")
            .frame(gap.or(t.first_gap_frame), "first missing bytes")
            .frame(Some(ch.frame), "ClientHello");
    }
    let ending = first_ending(c);
    let Some(sh) = sh else {
        if let Some(answer) = tls.non_tls.as_ref().filter(|n| n.sender == Role::Server && !tls.starttls) {
            // The server's first bytes in the capture are its first bytes only when the capture
            // saw its SYN-ACK; a client that goes on with its key exchange read a ServerHello.
            if t.syn_ack.is_none() || tls.client_key_exchange.is_some() {
                let read_on = tls.client_key_exchange.is_some();
                return Verdict::new(
                    Code::IncompleteCapture,
                    Fault::Unknown,
                    if read_on { Confidence::Likely } else { Confidence::Possible },
                )
                .because(format!(
                    "the server's first bytes in the capture are not the start of a TLS record, as the middle of its handshake flight would not be either: the capture {}{}",
                    if t.syn_ack.is_none() { "holds no SYN-ACK of this connection" } else { "holds the connection's start" },
                    if read_on {
                        ", and the client went on with its key exchange, which it sends only after reading a ServerHello the capture lacks"
                    } else {
                        ", so it cannot tell whether the server's TLS answer came before them"
                    }
                ))
                .hint("Capture from the start of the connection, on a path that sees both directions whole.")
                .frame(Some(ch.frame), "ClientHello")
                .frame(Some(answer.frame), "server's first bytes in the capture")
                .frame(tls.client_key_exchange, "ClientKeyExchange");
            }
            return Verdict::new(Code::ServerNotTls, Fault::Server, Confidence::Certain)
                .because(format!("the server answered the ClientHello with bytes that are not TLS: \"{}\"", answer.preview))
                .hint("Another service holds the port (plain HTTP on 443, say): check which process listens there and its TLS binding.")
                .frame(Some(ch.frame), "ClientHello")
                .frame(Some(answer.frame), "non-TLS answer");
        }
        if let Some(left) = partial::client_left_without_answer(c, tls, ch, ending) {
            return left;
        }
        let offered = format!("{} offering {} suites up to {}", c.client, ch.cipher_suites.len(), ch.max_version);
        return match ending {
            Some((rst, who, true)) => {
                let after = secs(rst.ts.saturating_sub(c.start));
                Verdict::new(Code::RstWithoutServerHello, fault_of(who), Confidence::Certain)
                    .because(format!("ClientHello ({offered}, SNI {sni}) answered by a reset from the {} after {after}, no ServerHello", role_name(who)))
                    .hint(no_server_hello_fix(who, "reset"))
                    .frame(Some(ch.frame), "ClientHello")
                    .frame(Some(rst.frame), format!("RST from the {}", role_name(who)))
            }
            Some((f, who, false)) => Verdict::new(Code::ClosedWithoutServerHello, fault_of(who), Confidence::Certain)
                .because(format!(
                    "ClientHello ({offered}, SNI {sni}) answered by a close from the {}, no ServerHello",
                    role_name(who)
                ))
                .hint(no_server_hello_fix(who, "closed"))
                .frame(Some(ch.frame), "ClientHello")
                .frame(Some(f.frame), format!("FIN from the {}", role_name(who))),
            None => Verdict::new(Code::NoServerHello, Fault::Server, Confidence::Likely)
                .because(format!("ClientHello ({offered}, SNI {sni}) got no answer before the {}", end_words(c)))
                .hint("The server did not answer: check that a TLS service listens on the port and is not overloaded.")
                .frame(Some(ch.frame), "ClientHello"),
        };
    };
    // ServerHello seen, handshake not complete, no plaintext fatal alert.
    let enc_alert = tls.alerts.iter().find(|a| a.is_opaque());
    if let Some(a) = enc_alert {
        return Verdict::new(Code::FatalAlert, fault_of(a.sender), Confidence::Likely)
            .because(format!("{} after the {} ServerHello; its content is encrypted", alert_what(a), sh.version))
            .hint(format!(
                "The alert is encrypted; to read why the {} sent it: {}",
                role_name(a.sender),
                tls13_reading(c, tls)
            ))
            .frame(Some(a.frame), alert_what(a));
    }
    let is13 = sh.version == TlsVersion::TLS1_3;
    if is13 && tls.client.finished.is_none() {
        if let (Some(first), Some(suite)) =
            (tls.client.encrypted_records.iter().find(|r| r.content_type == 23), sh.cipher_suite)
        {
            // At fault: the server whose certificate was refused, as for certificate_rejected
            // when an alert or the key log shows the same failure.
            return Verdict::new(Code::AbortedAfterServerHello, Fault::Server, Confidence::Likely)
                .because(format!(
                    "the client answered the server's encrypted flight with a {}-byte record, smaller than any Finished of {} ({} bytes), and no Finished: {}; most likely it rejected the certificate",
                    first.length,
                    suite,
                    record_size::tls13_min_finished(suite.0),
                    if first.length as usize > record_size::tls13_unpadded_alert(suite.0) {
                        "an alert with padding (Java pads every record by 16 bytes)"
                    } else {
                        "an alert"
                    }
                ))
                .hint(format!("Check the server certificate against the client's trust store and the name it connects with. To read the client's reason: {}", tls13_reading(c, tls)))
                .frame(Some(first.frame), "alert-sized encrypted record from the client");
        }
        // No alert at all: the client hung up on the server's flight (Node, Go and Java
        // clients close without an alert when they reject the certificate).
        if let Some((end, Role::Client, reset)) = ending.filter(|(_, who, _)| *who == Role::Client) {
            let how = if reset { "reset" } else { "closed" };
            return Verdict::new(Code::AbortedAfterServerHello, Fault::Server, Confidence::Likely)
                .because(format!(
                    "the client {how} the connection after the server's encrypted TLS 1.3 flight, without a Finished and without an alert: most likely it rejected the certificate"
                ))
                .hint(format!("Check the server certificate against the client's trust store and the name it connects with (the client's error message names the reason). {}", tls13_reading(c, tls)))
                .frame(Some(sh.frame), "ServerHello")
                .frame(Some(end.frame), format!("{} from the client", if reset { "RST" } else { "FIN" }));
        }
    }
    if let Some((end, who, reset)) = ending {
        let after_kex = tls.client_key_exchange.is_some() || tls.client.change_cipher_spec.is_some();
        if after_kex {
            return failed_after_key_exchange(
                tls,
                Some(end.frame),
                &format!("{} from the {}", if reset { "reset" } else { "close" }, role_name(who)),
                Confidence::Likely,
            );
        }
        if let Some(v) = closed_on_certificate(c, tls, end, who, reset) {
            return v;
        }
        // A client that closes before any answer arrived gave up on the connection itself
        // (browsers close spare and raced connections right after their ClientHello).
        if let Some(abandoned) = partial::left_before_server_hello(c, sh.frame, end, who, reset) {
            return abandoned;
        }
        let when = if end.frame < sh.frame { "before the" } else { "after the" };
        // After the certificate and before its key exchange: a silent rejection or a probe.
        let on_certificate = who == Role::Client
            && tls.server_certificates.as_ref().is_some_and(|chain| chain.frame <= end.frame)
            && tls.client_key_exchange.is_none();
        return Verdict::new(Code::FatalAlert, fault_of(who), Confidence::Possible)
            .because(format!(
                "the {} ended the connection {when} {} ServerHello without an alert{}",
                role_name(who),
                sh.version,
                if on_certificate {
                    ", after the server's certificate and before its key exchange: a client that rejects the certificate without an alert (python-tds with pyOpenSSL does), or a scanner that only wanted the server's hello"
                } else {
                    ""
                }
            ))
            .hint("Look at the logs of that side for the reason it gave up.")
            .frame(Some(sh.frame), "ServerHello")
            .frame(Some(end.frame), "connection ended");
    }
    Verdict::new(Code::IncompleteCapture, Fault::Unknown, Confidence::Possible)
        .because(format!("the handshake was still in progress when the {}", end_words(c)))
        .hint("Capture longer.")
        .frame(Some(sh.frame), "ServerHello")
}

/// TLS 1.3 without the secrets: a server that answers the client's Finished with one
/// alert-sized record instead of a NewSessionTicket or data, then closes, refused the client's
/// flight. When that flight was larger than a Finished it carried a certificate the server had
/// asked for, and the refusal is most likely of that certificate.
fn server_refused_client_flight(c: &Facts, tls: &TlsFacts) -> Option<Verdict> {
    let sh = tls.server_hello.as_ref()?;
    let reply = tls.server_reply_to_finished?;
    // After a fatal alert its sender sends nothing more: a second record means no refusal
    // (Go's server sends its ticket before the client's Finished, then short data).
    if sh.version != TlsVersion::TLS1_3
        || tls.decrypted
        || reply.length > TLS13_ALERT_SIZED
        || tls.server_records_after_reply > 0
    {
        return None;
    }
    let end = c.tcp.server_fin.or(c.tcp.server_rst).filter(|end| end.frame >= reply.frame)?;
    let flight = tls.client.encrypted_records.first()?;
    let shape = client_flight_shape(tls, sh.cipher_suite?);
    // A client that closed first gets the server's close_notify, of the same size.
    let client_closed_first = c.tcp.client_fin.or(c.tcp.client_rst).is_some_and(|end| end.frame < reply.frame);
    let (code, fault, confidence, cause) = match (shape, client_closed_first) {
        (Flight::Certificate, false) => (Code::AbortedAfterServerHello, Fault::Client, Confidence::Likely, "most likely it rejected the client certificate the flight carried"),
        (Flight::Certificate, true) => (Code::AbortedAfterServerHello, Fault::Client, Confidence::Possible, "it likely rejected the client certificate the flight carried (but the client had closed first, so this may be the server's close_notify)"),
        (Flight::EmptyCertificate, false) => (Code::ClientCertificateRequired, Fault::Client, Confidence::Likely, "the client's flight began with a record of the size of an empty Certificate (sent only when the server asks for one): the server required a client certificate and the client had none"),
        (Flight::EmptyCertificate, true) => (Code::ClientCertificateRequired, Fault::Client, Confidence::Possible, "the client's flight began with a record of the size of an empty Certificate (sent only when the server asks for one), so the server most likely required a certificate the client did not have (but the client had closed first, so this may be the server's close_notify)"),
        (Flight::FinishedOnly, _) => (Code::AbortedAfterServerHello, Fault::Client, Confidence::Possible, "the flight held no certificate: it may have required one, or the client closed first and this is the server's close_notify"),
    };
    Some(
        Verdict::new(code, fault, confidence)
            .because(format!(
                "the server answered the client's encrypted TLS 1.3 flight ({} bytes{}) with one alert-sized record ({} bytes) and no NewSessionTicket, then {}: {cause}",
                flight.length,
                if shape == Flight::Certificate { ", more than a Finished alone" } else { "" },
                reply.length,
                if c.tcp.server_rst.is_some_and(|r| r.frame == end.frame) { "reset the connection" } else { "closed the connection" }
            ))
            .hint(format!("Check the client certificate against the server's trusted CAs and its clientAuth EKU (Windows: the CA in the server's Trusted Root store; OpenSSL: -CAfile / ssl_client_certificate). To read the alert: {}", tls13_reading(c, tls)))
            .frame(Some(flight.frame), "client's encrypted flight")
            .frame(Some(reply.frame), "alert-sized record from the server")
            .frame(Some(end.frame), "server ended the connection"),
    )
}

/// A TLS 1.3 server that aborted after its own flight (see [`tls13_server_abort`]).
fn server_abort_verdict(tls: &TlsFacts, server_hello: Option<u64>, abort: RecordSeen) -> Verdict {
    Verdict::new(Code::FatalAlert, Fault::Server, Confidence::Likely)
        .because(format!(
            "the server sent one alert-sized encrypted record ({} bytes) after its own flight, before any encrypted record of the client: the server aborted the handshake{}",
            abort.length,
            repeated_hello_words(tls)
        ))
        .hint("Look at the server's log for the reason; capture with SSLKEYLOGFILE (on the server) to read the alert.")
        .frame(server_hello, "ServerHello")
        .frame(tls.repeated_client_hello, "second ClientHello")
        .frame(Some(abort.frame), "alert-sized record from the server")
}

/// TLS 1.2 and older: the client hung up after the server's Certificate, without an alert and
/// without its key exchange, and the certificate in the capture has a flaw: clients that reject
/// the certificate silently do this (python-tds with pyOpenSSL). Without a flaw in sight the
/// same shape is as often a scanner that only wanted the hello: left to `fatal_alert`.
fn closed_on_certificate(
    c: &Facts,
    tls: &TlsFacts,
    end: crate::proto::facts::Seen,
    who: Role,
    reset: bool,
) -> Option<Verdict> {
    let chain = tls.server_certificates.as_ref()?;
    let ch = tls.client_hello.as_ref()?;
    if who != Role::Client || end.frame < chain.frame || tls.client_key_exchange.is_some() {
        return None;
    }
    let leaf = chain.certificates.first();
    let mut problems =
        leaf.map(|l| certificate_problems(l, ch.sni.as_deref(), c.start / 1_000_000_000)).unwrap_or_default();
    if problems.iter().all(|p| p == "self-signed") {
        return None;
    }
    problems.extend(leaf.and_then(|l| address_issue(l, ch.sni.as_deref(), c)).map(|i| i.what));
    let found = format!("; the certificate in the capture: {}", problems.join(", "));
    Some(
        Verdict::new(Code::CertificateRejected, Fault::Server, Confidence::Likely)
            .because(format!(
                "the client {} the connection after the server's certificate, without an alert and without its key exchange, as clients that reject the certificate silently do (python-tds with pyOpenSSL){found}",
                if reset { "reset" } else { "closed" }
            ))
            .hint("Check the server certificate against the client's trust store and the name it connects with (the client's error message names the reason).")
            .frame(Some(ch.frame), "ClientHello")
            .frame(Some(chain.frame), "Certificate")
            .frame(Some(end.frame), format!("{} from the client", if reset { "RST" } else { "FIN" })),
    )
}

/// What a client's encrypted TLS 1.3 flight held, from its record sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flight {
    /// One Finished-sized record: no client certificate.
    FinishedOnly,
    /// A record too small for a Finished, then the Finished: an empty Certificate (a client
    /// asked for a certificate that has none sends it without a CertificateVerify).
    EmptyCertificate,
    /// A Certificate and CertificateVerify before the Finished, or one record well over a
    /// Finished's size.
    Certificate,
}

fn client_flight_shape(tls: &TlsFacts, suite: CipherSuite) -> Flight {
    let min = record_size::tls13_min_finished(suite.0);
    let records: Vec<&RecordSeen> = tls.client.encrypted_records.iter().filter(|r| r.content_type == 23).collect();
    let Some(finished) = records.iter().position(|r| r.length as usize >= min) else {
        return Flight::FinishedOnly;
    };
    match &records[..finished] {
        [] if records[finished].length as usize >= min + TLS13_CERTIFICATE_MARGIN as usize => Flight::Certificate,
        [] => Flight::FinishedOnly,
        [_] => Flight::EmptyCertificate,
        _ => Flight::Certificate,
    }
}

/// TLS 1.3 without the secrets: the record taken for the client's Finished is its last, and
/// nothing after it (another client record, a server answer larger than an alert, two server
/// records) shows that it was not an alert padded to a Finished's size.
fn tls13_finished_unconfirmed(tls: &TlsFacts) -> Option<RecordSeen> {
    let sh = tls.server_hello.as_ref()?;
    if sh.version != TlsVersion::TLS1_3 || tls.decrypted || tls.client_record_after_complete.is_some() {
        return None;
    }
    let confirmed_by_server = tls
        .server_reply_to_finished
        .is_some_and(|r| r.length > TLS13_ALERT_SIZED || tls.server_records_after_reply > 0);
    if confirmed_by_server {
        return None;
    }
    let finished = tls.client.finished?;
    tls.client.encrypted_records.iter().find(|r| r.frame == finished && r.content_type == 23).copied()
}

/// TLS 1.3: the server's last encrypted record is alert-sized, came in a later segment than the
/// Finished-sized record of its flight, before any encrypted record of the client and before the
/// client ended the connection (else it is the server's close_notify answering the close): the
/// server aborted (the client's second ClientHello is one reason).
fn tls13_server_abort(c: &Facts, tls: &TlsFacts) -> Option<RecordSeen> {
    let flight_end = tls.server.finished?;
    let last = *tls.server.encrypted_records.iter().rev().find(|r| r.content_type == 23)?;
    let client_spoke_first = tls.client.encrypted_records.iter().any(|r| r.content_type == 23 && r.frame < last.frame);
    let client_ended_first = c.tcp.client_fin.or(c.tcp.client_rst).is_some_and(|end| end.frame < last.frame);
    let aborted =
        last.frame > flight_end && last.length <= TLS13_ALERT_SIZED && !client_spoke_first && !client_ended_first;
    aborted.then_some(last)
}

/// ", after the client's second ClientHello (frame N) ..." when there was one.
fn repeated_hello_words(tls: &TlsFacts) -> String {
    tls.repeated_client_hello
        .map(|frame| format!(", after the client's second ClientHello on the same connection (frame {frame}), which no HelloRetryRequest asked for"))
        .unwrap_or_default()
}

/// A completed handshake that the client ended at once, without sending a byte of data or an
/// alert: clients that check the server's certificate only after the handshake (Node.js tls,
/// wget with GnuTLS) close like that when they reject it. With the certificate in the capture
/// (TLS 1.2) and a flaw in it, that is the likely story; without it, only a possibility (health
/// checks close like that too).
fn closed_after_handshake(c: &Facts, tls: &TlsFacts) -> Option<Verdict> {
    // A resumed session carries no certificate to reject.
    if tls.client_record_after_complete.is_some() || tls.resumed {
        return None;
    }
    let (end, who, reset) = first_ending(c)?;
    let complete = tls.handshake_complete?;
    // A client that rejects the certificate hangs up at once; one that leaves later went idle.
    let at_once = tls.handshake_complete_ts.is_some_and(|ts| end.ts.saturating_sub(ts) <= 1_000_000_000);
    if who != Role::Client || end.frame < complete || !at_once {
        return None;
    }
    let ch = tls.client_hello.as_ref()?;
    let sh = tls.server_hello.as_ref()?;
    let how = if reset { "reset" } else { "closed" };
    let what = format!("{} from the client", if reset { "RST" } else { "FIN" });
    let leaf = tls.server_certificates.as_ref().and_then(|chain| chain.certificates.first());
    let mut problems =
        leaf.map(|l| certificate_problems(l, ch.sni.as_deref(), c.start / 1_000_000_000)).unwrap_or_default();
    // Clients that connect by address often check no name at all, and services with a
    // self-signed certificate often have it pinned: only a possibility then.
    let confidence =
        if problems.iter().all(|p| p == "self-signed") { Confidence::Possible } else { Confidence::Likely };
    problems.extend(leaf.and_then(|l| address_issue(l, ch.sni.as_deref(), c)).map(|i| i.what));
    if !problems.is_empty() {
        return Some(
            Verdict::new(Code::CertificateRejected, Fault::Server, confidence)
                .because(format!(
                    "the handshake completed ({} {}), then the client {how} the connection without sending data or an alert, as clients that check the certificate after the handshake do (Node.js tls, wget with GnuTLS); the certificate in the capture: {}",
                    sh.version,
                    sh.suite_name(),
                    problems.join(", ")
                ))
                .hint("Install a certificate the client trusts: valid now, naming the host the client uses, from a CA in the client's store (Node: NODE_EXTRA_CA_CERTS or the ca option; Java: the trust store; Go: tls.Config RootCAs).")
                .frame(Some(ch.frame), "ClientHello")
                .frame(tls.server_certificates.as_ref().map(|c| c.frame), "Certificate")
                .frame(Some(complete), "both Finished seen")
                .frame(Some(end.frame), what),
        );
    }
    Some(
        Verdict::new(Code::ClosedAfterHandshake, Fault::Unknown, Confidence::Possible)
            .because(format!(
                "the handshake completed ({} {}), then the client {how} the connection without sending data or an alert: clients that check the certificate after the handshake (Node.js tls, wget with GnuTLS) do this when they reject it{}; so do health checks and scanners",
                sh.version,
                sh.suite_name(),
                if sh.version == TlsVersion::TLS1_3 { " (the certificate is encrypted in TLS 1.3)" } else { "" }
            ))
            .hint("Read the client's error message or log; capture with SSLKEYLOGFILE to see the certificate in TLS 1.3.")
            .frame(Some(ch.frame), "ClientHello")
            .frame(Some(complete), "both Finished seen")
            .frame(Some(end.frame), what),
    )
}

/// The fix for a ClientHello answered by a reset or a close, naming the side that did it: a
/// client ending its own attempt is not the server refusing it.
fn no_server_hello_fix(who: Role, how: &str) -> String {
    match who {
        Role::Server => format!(
            "The server (or a device in front of it) {how} the connection on the ClientHello without an alert: compare the TLS versions and suites it accepts with the ones offered (Windows: the System log's Schannel events 36874/36888 on the server)."
        ),
        Role::Client => format!(
            "The client {how} its own connection after sending the ClientHello, before any answer: its logs or error message say why (a timeout, a cancelled attempt); the server did not refuse it."
        ),
    }
}

/// Where to read why a TLS 1.3 peer gave up when the capture cannot show it, the client's
/// likely platform first. Schannel clients (SqlClient, ODBC, .NET, PowerShell) cannot write a
/// key log but log the cause; browsers, curl, Python, OpenSSL and GnuTLS write SSLKEYLOGFILE.
/// A SQL Server client is most often Schannel; GREASE values in the ClientHello mark a
/// Chromium-based browser, which writes a key log.
fn tls13_reading(c: &Facts, tls: &TlsFacts) -> String {
    let windows = "Windows clients (Schannel: SqlClient, ODBC, .NET, PowerShell) cannot write a key log: read the client's System log Schannel events (36882 untrusted CA, 36884 wrong name, 36887/36888 alerts) and the CAPI2 Operational log (Event Viewer, Applications and Services Logs, Microsoft, Windows, CAPI2; enable it first).";
    let keylog = "Browsers, curl, Python, OpenSSL and GnuTLS clients: set SSLKEYLOGFILE before the client starts, capture again and pass --keylog.";
    let browser = tls.client_hello.as_ref().is_some_and(|ch| ch.cipher_suites.iter().any(|s| s.is_grease()));
    if c.tds.is_some() && !browser {
        format!("{windows} {keylog}")
    } else {
        format!("{keylog} {windows}")
    }
}

fn end_words(c: &Facts) -> &'static str {
    match c.tcp.ended_by {
        crate::flow::EndReason::IdleTimeout => "connection went idle",
        crate::flow::EndReason::Evicted => "connection was evicted to make room (--max-flows)",
        _ => "capture ended",
    }
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Client => "client",
        Role::Server => "server",
    }
}

fn fault_of(r: Role) -> Fault {
    match r {
        Role::Client => Fault::Client,
        Role::Server => Fault::Server,
    }
}

fn failed_after_key_exchange(tls: &TlsFacts, frame: Option<u64>, what: &str, confidence: Confidence) -> Verdict {
    let sh = tls.server_hello.as_ref();
    let suite = sh.map_or("?".into(), |s| s.suite_name());
    let mut explanation = format!("the handshake failed after the key exchange ({what}) with {suite}");
    let mut hint = String::from("Both sides agreed on parameters but disagree on the keys: check for a device that alters the traffic, and the peers' logs.");
    if sh.and_then(|s| s.cipher_suite).is_some_and(CipherSuite::is_dhe) {
        let ems = sh.is_some_and(|s| s.extended_master_secret);
        explanation.push_str(if ems {
            "; the suite is DHE: the DHE leading-zero bug between Windows versions fits"
        } else {
            "; the suite is DHE without Extended Master Secret: the DHE leading-zero bug and a peer without RFC 7627 support both fit"
        });
        hint = "Prefer ECDHE suites over DHE on the server (or disable DHE), and enable Extended Master Secret on both sides.".into();
    }
    Verdict::new(Code::FailedAfterKeyExchange, Fault::Unknown, confidence)
        .because(explanation)
        .hint(hint)
        .frame(tls.client_key_exchange, "ClientKeyExchange")
        .frame(frame, what.to_string())
}

fn alert_verdict(c: &Facts, tls: &TlsFacts, alert: &Alert) -> Verdict {
    let mut verdict = alert_verdict_by_name(c, tls, alert);
    let ch = tls.client_hello.as_ref().expect("alert verdicts need a ClientHello");
    // GnuTLS (and appliances) answer a version they do not serve with handshake_failure, not
    // protocol_version: unless the client offered both current versions, the alert does not
    // tell a suite refusal from a version refusal.
    let both_current = [TlsVersion::TLS1_2, TlsVersion::TLS1_3].iter().all(|v| ch.supported_versions.contains(v));
    if verdict.code == Code::CipherMismatch && alert.description == Some(AD::HANDSHAKE_FAILURE) && !both_current {
        verdict.confidence = Confidence::Likely;
        verdict.explanation.push_str(&format!(
            ", or none of its versions ({}): GnuTLS servers answer a version they do not serve with handshake_failure too",
            versions_offered(ch)
        ));
        verdict.hint = "Enable a cipher suite and a TLS version both sides share (Java: jdk.tls.client.protocols and jdk.tls.disabledAlgorithms; Go: tls.Config MinVersion, MaxVersion and CipherSuites; Node: minVersion and ciphers; GnuTLS: its priority string).".into();
    }
    // A second ClientHello on the connection is the likely reason for an unexplained alert.
    if verdict.code == Code::FatalAlert && tls.repeated_client_hello.is_some() {
        verdict.explanation.push_str(&repeated_hello_words(tls));
        verdict = verdict.frame(tls.repeated_client_hello, "second ClientHello");
    }
    verdict
}

/// The verdict an alert's name and sender give.
fn alert_verdict_by_name(c: &Facts, tls: &TlsFacts, alert: &Alert) -> Verdict {
    let ch = tls.client_hello.as_ref().expect("alert verdicts need a ClientHello");
    let desc = alert.description;
    // The alert's name, for the words ("" for an encrypted alert).
    let name = desc.map(|d| d.name()).unwrap_or_default();
    let sh = tls.server_hello.as_ref();
    let what = alert_what(alert);
    let base = |code, side, expl: String, hint: &str| {
        Verdict::new(code, side, Confidence::Certain)
            .because(expl)
            .hint(hint)
            .frame(Some(ch.frame), "ClientHello")
            .frame(sh.map(|s| s.frame), "ServerHello")
            .frame(Some(alert.frame), what.clone())
    };
    match (desc, alert.sender, sh) {
        (Some(AD::PROTOCOL_VERSION), _, _) => base(
            Code::ProtocolMismatch,
            protocol_mismatch_fault(alert.sender, ch),
            format!(
                "no common TLS version: the client offered {} (up to {}){}, and the {} refused with protocol_version",
                versions_offered(ch),
                ch.max_version,
                sh.map(|s| format!(", the server chose {}", s.version)).unwrap_or_default(),
                role_name(alert.sender)
            ),
            "Enable a common TLS version: TLS 1.2 in the client (its driver or framework settings) or on the server.",
        ),
        (Some(AD::HANDSHAKE_FAILURE | AD::INSUFFICIENT_SECURITY), Role::Server, None) => base(
            Code::CipherMismatch,
            Fault::Unknown,
            format!(
                "the server refused the ClientHello with {name}: none of the client's {} suites ({}) is acceptable to it",
                ch.cipher_suites.len(),
                abbreviated(&ch.cipher_suites)
            ),
            "Enable a cipher suite both sides share: add one of the client's suites on the server, or a server suite to the client.",
        ),
        (Some(AD::CERTIFICATE_REQUIRED), Role::Server, _)
        | (Some(AD::HANDSHAKE_FAILURE | AD::BAD_CERTIFICATE | AD::UNKNOWN_CA | AD::CERTIFICATE_UNKNOWN | AD::UNSUPPORTED_CERTIFICATE | AD::CERTIFICATE_EXPIRED | AD::CERTIFICATE_REVOKED | AD::ACCESS_DENIED),
            Role::Server,
            Some(_),
        // A client sends a Certificate message only when the server asked for one: it stands
        // for a CertificateRequest the capture lacks (a lost segment of the server's flight, or
        // one `--handshakes-only` left in the kernel).
        ) if tls.certificate_request.is_some() || tls.client_certificates.is_some() => {
            let sent = tls.client_certificates.as_ref().map(|c| c.certificates.len()).unwrap_or(0);
            let asked = if tls.certificate_request.is_some() {
                "the server asked for a client certificate"
            } else {
                "the server asked for a client certificate (the client's Certificate message answers a CertificateRequest the capture lacks)"
            };
            base(
                Code::ClientCertificateRequired,
                Fault::Client,
                if sent == 0 {
                    format!("{asked}, the client sent none, and the server refused with {name}")
                } else {
                    format!("{asked} and refused the one sent with {name}")
                },
                "Give the client a certificate the server trusts (with clientAuth EKU), or stop requiring one on the server.",
            )
            .frame(tls.certificate_request, "CertificateRequest")
            .frame(
                tls.client_certificates.as_ref().map(|c| c.frame).filter(|_| tls.certificate_request.is_none()),
                "the client's Certificate",
            )
        }
        (Some(AD::BAD_CERTIFICATE | AD::UNSUPPORTED_CERTIFICATE | AD::CERTIFICATE_REVOKED | AD::CERTIFICATE_EXPIRED | AD::CERTIFICATE_UNKNOWN | AD::UNKNOWN_CA | AD::ACCESS_DENIED),
            Role::Client,
            _,
        ) => {
            let leaf = tls.server_certificates.as_ref().and_then(|chain| chain.certificates.first());
            let mut issues = leaf
                .map(|leaf| {
                    let mut found = certificate_issues(leaf, ch.sni.as_deref(), c.start / 1_000_000_000);
                    found.extend(address_issue(leaf, ch.sni.as_deref(), c));
                    found
                })
                .unwrap_or_default();
            // A self-signed leaf refused as unknown is the trust problem itself; refused for
            // its name or date, being self-signed is beside the point of the fix.
            if issues.iter().any(|i| i.code != RiskCode::SelfSignedCertificate) {
                issues.retain(|i| i.code != RiskCode::SelfSignedCertificate || desc == Some(AD::UNKNOWN_CA));
            }
            let notes = leaf.map(|leaf| compatibility_notes(leaf)).unwrap_or_default();
            let words: Vec<String> = issues.iter().map(|i| i.what.clone()).chain(notes.iter().cloned()).collect();
            let found = if words.is_empty() {
                String::new()
            } else {
                format!("; the certificate in the capture: {}", words.join(", "))
            };
            let mut fixes: Vec<String> = issues.iter().map(|i| i.fix.clone()).collect();
            if !notes.is_empty() {
                fixes.push("Install KB2973337 on Windows 7 / Server 2008 R2 clients, or reissue the certificate signed with SHA-256.".into());
            }
            if fixes.is_empty() {
                fixes.push(certificate_alert_fix(desc).into());
            }
            base(Code::CertificateRejected, Fault::Server, format!("the client rejected the server's certificate with {name}{found}"), &fixes.join(" "))
            .frame(tls.server_certificates.as_ref().map(|c| c.frame), "Certificate")
        }
        (Some(AD::BAD_RECORD_MAC | AD::DECRYPT_ERROR | AD::DECRYPTION_FAILED), _, Some(_)) => {
            failed_after_key_exchange(tls, Some(alert.frame), &what, Confidence::Certain)
        }
        // The client could not parse what the server sent: the fault is in the server's message
        // (or in a device that altered it), which the capture shows malformed too.
        (Some(AD::DECODE_ERROR | AD::ILLEGAL_PARAMETER), Role::Client, _) if malformed_server_message(tls).is_some() => base(
            Code::FatalAlert,
            Fault::Server,
            format!(
                "the client ended the handshake with the fatal alert {name}: the server's message is malformed in the capture too ({})",
                malformed_server_message(tls).unwrap_or_default()
            ),
            "The server sent a message its clients cannot parse: check its certificate files (a damaged chain), and any device between the two that rewrites TLS (a proxy, an IPS).",
        ),
        _ => base(
            Code::FatalAlert,
            fault_of(alert.sender),
            format!(
                "the {} ended the handshake with the fatal alert {}",
                role_name(alert.sender),
                if name.is_empty() { "(encrypted)" } else { &name }
            ),
            "Look up the alert in the sender's logs (Schannel event 36887 on Windows carries the same number).",
        ),
    }
}

/// The analyzer's complaint about a handshake message the server sent, if it made one.
fn malformed_server_message(tls: &TlsFacts) -> Option<&str> {
    tls.errors.iter().map(String::as_str).find(|e| e.starts_with("malformed") && e.contains("from the Server"))
}

fn versions_offered(ch: &crate::proto::facts::ClientHello) -> String {
    if ch.supported_versions.is_empty() {
        ch.legacy_version.to_string()
    } else {
        crate::proto::values::joined(&ch.supported_versions)
    }
}

fn abbreviated(list: &[CipherSuite]) -> String {
    let shown: Vec<crate::names::Name> = list.iter().filter(|s| !s.is_grease()).take(4).map(|s| s.name()).collect();
    let more = list.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// One thing wrong with a server certificate: the risk code it is reported under, what is
/// wrong (with the names, dates and usages involved) and the fix for that cause alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertIssue {
    pub code: RiskCode,
    pub what: String,
    pub fix: String,
}

/// What is wrong with a server certificate by itself, at the time of the capture, each cause
/// under its own code (README, "Risks"): `certificate_unparsable`, `certificate_expired`,
/// `certificate_not_yet_valid`, `certificate_name_mismatch`, `certificate_wrong_usage`,
/// `weak_signature`, `self_signed_certificate`, `short_key`.
pub fn certificate_issues(cert: &Certificate, sni: Option<&str>, now_secs: i64) -> Vec<CertIssue> {
    let issue = |code, what: String, fix: String| CertIssue { code, what, fix };
    let mut out = Vec::new();
    if cert.parse_error.is_some() {
        out.push(issue(
            RiskCode::CertificateUnparsable,
            "certificate could not be parsed".into(),
            "Reissue the certificate: clients cannot parse the one the server sends.".into(),
        ));
        return out;
    }
    if now_secs > cert.not_after_unix {
        out.push(issue(
            RiskCode::CertificateExpired,
            format!("expired on {}", cert.not_after),
            format!(
                "Renew the certificate (it expired on {}) and install the new one on the server (SQL Server: select it in Configuration Manager, restart the service).",
                cert.not_after
            ),
        ));
    }
    if now_secs < cert.not_before_unix {
        out.push(issue(
            RiskCode::CertificateNotYetValid,
            format!("not valid before {}", cert.not_before),
            format!(
                "The certificate is valid only from {}: correct the client's or the server's clock, or issue one valid now.",
                cert.not_before
            ),
        ));
    }
    if let Some(name) = sni {
        if !name_matches(cert, name) {
            let names = cert_names(cert).join(", ");
            out.push(issue(
                RiskCode::CertificateNameMismatch,
                format!("does not name {name} (names: {names})"),
                format!(
                    "Add {name} to the certificate's subjectAltName (it names {names}), or connect with a name it has."
                ),
            ));
        }
    }
    if !cert.extended_key_usage.is_empty()
        && !cert.extended_key_usage.iter().any(|e| e == "serverAuth" || e == "anyExtendedKeyUsage")
    {
        let usages = cert.extended_key_usage.join(", ");
        out.push(issue(
            RiskCode::CertificateWrongUsage,
            format!("extended key usage without serverAuth ({usages})"),
            format!(
                "Issue a certificate with the Server Authentication EKU (serverAuth, 1.3.6.1.5.5.7.3.1); this one allows only {usages}."
            ),
        ));
    }
    let sig = cert.signature_algorithm.to_ascii_lowercase();
    if sig.contains("md5") || sig.contains("sha1") {
        out.push(issue(
            RiskCode::WeakSignature,
            format!("signed with {}", cert.signature_algorithm),
            format!(
                "Reissue the certificate signed with SHA-256 or better ({} is refused by current clients).",
                cert.signature_algorithm
            ),
        ));
    }
    if cert.self_signed {
        out.push(issue(
            RiskCode::SelfSignedCertificate,
            "self-signed".into(),
            "Use a certificate from a CA the clients trust, or put this self-signed one in the clients' Trusted Root store (certlm.msc; update-ca-certificates); TrustServerCertificate=yes only for tests.".into(),
        ));
    }
    if cert.key_type == "RSA" && cert.key_bits.is_some_and(|b| b < 2048) {
        let bits = cert.key_bits.unwrap_or(0);
        out.push(issue(
            RiskCode::ShortKey,
            format!("RSA key of {bits} bits"),
            format!("Reissue the certificate with an RSA key of 2048 bits or more (this one has {bits})."),
        ));
    }
    out
}

/// The fix for a certificate the client refused when the certificate in the capture shows no
/// cause (or is encrypted): what the alert itself points at.
fn certificate_alert_fix(alert: Option<AlertDescription>) -> &'static str {
    match alert {
        Some(AD::UNKNOWN_CA) => "The chain does not lead to a root the client trusts: put the issuing CA's root in the client's Trusted Root store (certlm.msc; update-ca-certificates) and have the server send its intermediates.",
        Some(AD::CERTIFICATE_EXPIRED) => "The client found a certificate of the chain outside its validity dates: check the intermediates' dates and the client's clock.",
        Some(AD::CERTIFICATE_REVOKED) => "The certificate is revoked: issue and install a new one.",
        Some(AD::UNSUPPORTED_CERTIFICATE) => "The client does not accept the certificate's key type, signature or key usage: reissue it with an RSA 2048-bit or ECDSA P-256 key, a SHA-256 signature and the serverAuth EKU.",
        Some(AD::ACCESS_DENIED) => "The client's policy refused the certificate after checking it: its logs say which rule.",
        _ => "Check the certificate against what the client expects: a CA it trusts (intermediates sent), the host name it uses in the subjectAltName, valid dates, the serverAuth EKU, a reachable revocation check (the client's error names the cause: tlsdiag explain CODE).",
    }
}

/// What is wrong with a server certificate by itself, at the time of the capture, in words.
pub fn certificate_problems(cert: &Certificate, sni: Option<&str>, now_secs: i64) -> Vec<String> {
    certificate_issues(cert, sni, now_secs).into_iter().map(|i| i.what).collect()
}

/// Without SNI the client most likely connected by IP address (SSTP, SQL Server clients, a
/// script with an address in it), and checks the address against the certificate's names.
fn address_issue(cert: &Certificate, sni: Option<&str>, c: &Facts) -> Option<CertIssue> {
    if sni.is_some() || cert.parse_error.is_some() {
        return None;
    }
    let address = c.server_addr()?.ip();
    let names = cert_names(cert);
    // IP addresses match subjectAltName iPAddress entries exactly (RFC 6125 section 6.2.1).
    let named = cert.san.iter().chain(names.iter()).any(|n| n.parse::<std::net::IpAddr>().ok() == Some(address));
    let names = names.join(", ");
    (!named).then(|| CertIssue {
        code: RiskCode::CertificateNameMismatch,
        what: format!(
            "the client sent no SNI (it connected by address) and the certificate does not name {address} (names: {names})"
        ),
        fix: format!(
            "Connect with a name the certificate has ({names}; SQL Server: the server name in the connection string), or add the IP address {address} to its subjectAltName."
        ),
    })
}

/// Certificate properties that are sound but that some peers refuse: named when a client
/// rejected the certificate, not reported as risks.
pub fn compatibility_notes(cert: &Certificate) -> Vec<String> {
    let sig = cert.signature_algorithm.to_ascii_lowercase();
    if sig.contains("sha224") || sig.contains("sha512") {
        vec![format!(
            "signed with {}, which Schannel TLS 1.2 on Windows 7 / Server 2008 R2 without KB2973337 (and SQL Server clients there) does not accept",
            cert.signature_algorithm
        )]
    } else {
        Vec::new()
    }
}

fn cert_names(cert: &Certificate) -> Vec<String> {
    if !cert.san.is_empty() {
        return cert.san.clone();
    }
    common_name(&cert.subject).into_iter().collect()
}

fn common_name(subject: &str) -> Option<String> {
    subject.split(", ").find_map(|part| part.strip_prefix("CN=")).map(str::to_string)
}

/// RFC 6125 matching: subjectAltName DNS names (CN only when there are none), one leading
/// wildcard label.
pub fn name_matches(cert: &Certificate, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    cert_names(cert).iter().any(|pattern| {
        let pattern = pattern.to_ascii_lowercase();
        match pattern.strip_prefix("*.") {
            Some(suffix) => host.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
            None => pattern == host,
        }
    })
}

fn risks(c: &Facts, tls: &TlsFacts) -> Vec<Risk> {
    let mut out = Vec::new();
    let Some(sh) = &tls.server_hello else {
        return out;
    };
    if matches!(sh.version, TlsVersion::SSL2 | TlsVersion::SSL3 | TlsVersion::TLS1_0 | TlsVersion::TLS1_1) {
        out.push(Risk { code: RiskCode::DeprecatedProtocol, explanation: format!("{} was negotiated", sh.version) });
    }
    // An SSL 2.0 server chooses no TLS suite (its cipher kinds are another list): the
    // deprecated protocol is its risk, not a suite it did not negotiate.
    if let Some(suite) = sh.cipher_suite.and_then(CipherSuite::info) {
        let weak = matches!(
            suite.enc,
            TlsCipherEnc::Rc4 | TlsCipherEnc::TripleDes | TlsCipherEnc::Des | TlsCipherEnc::Null | TlsCipherEnc::Rc2
        ) || suite.name.contains("EXPORT")
            || suite.name.contains("_anon_");
        if weak {
            out.push(Risk { code: RiskCode::WeakCipher, explanation: format!("{} was negotiated", suite.name) });
        }
    }
    let tls12_or_older = sh.version.rank() < TlsVersion::TLS1_3.rank();
    if tls12_or_older && !sh.extended_master_secret {
        if sh.cipher_suite.is_some_and(CipherSuite::is_dhe) {
            out.push(Risk {
                code: RiskCode::DheWithoutEms,
                explanation: format!("{} without Extended Master Secret (RFC 7627)", sh.suite_name()),
            });
        }
        if tls.resumed {
            out.push(Risk {
                code: RiskCode::ResumptionWithoutEms,
                explanation: "session resumed without Extended Master Secret (RFC 7627 triple handshake)".into(),
            });
        }
    }
    if let Some(leaf) = tls.server_certificates.as_ref().and_then(|ch| ch.certificates.first()) {
        let now = c.start / 1_000_000_000;
        let sni = tls.client_hello.as_ref().and_then(|ch| ch.sni.as_deref());
        // Each cause under its own code: an expired or misnamed certificate is not weak.
        for issue in certificate_issues(leaf, sni, now) {
            out.push(Risk { code: issue.code, explanation: issue.what });
        }
        if leaf.parse_error.is_none()
            && now <= leaf.not_after_unix
            && leaf.not_after_unix.saturating_sub(now) < 30 * 86_400
        {
            out.push(Risk {
                code: RiskCode::CertificateExpiringSoon,
                explanation: format!("expires on {}", leaf.not_after),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(names: &[&str]) -> Certificate {
        Certificate {
            subject: "CN=fallback.example".into(),
            san: names.iter().map(|n| n.to_string()).collect(),
            not_before_unix: 0,
            not_after_unix: i64::MAX,
            signature_algorithm: "sha256WithRSAEncryption".into(),
            key_type: "RSA".into(),
            key_bits: Some(2048),
            ..Default::default()
        }
    }

    #[test]
    fn wildcards_match_one_label_only() {
        let c = cert(&["*.example.com"]);
        assert!(name_matches(&c, "www.example.com"));
        assert!(name_matches(&c, "WWW.Example.com."));
        assert!(!name_matches(&c, "a.b.example.com"));
        assert!(!name_matches(&c, "example.com"));
    }

    #[test]
    fn common_name_counts_only_without_subject_alt_names() {
        assert!(name_matches(&cert(&[]), "fallback.example"));
        assert!(!name_matches(&cert(&["other.example"]), "fallback.example"));
    }

    #[test]
    fn sha512_signatures_are_a_compatibility_note_not_a_weakness() {
        let mut c = cert(&["a.example"]);
        c.signature_algorithm = "sha512WithRSAEncryption".into();
        assert!(certificate_problems(&c, Some("a.example"), 0).is_empty());
        assert_eq!(compatibility_notes(&c).len(), 1);
    }

    #[test]
    fn small_rsa_keys_and_sha1_are_problems() {
        let mut c = cert(&["a.example"]);
        c.key_bits = Some(1024);
        c.signature_algorithm = "sha1WithRSAEncryption".into();
        let problems = certificate_problems(&c, Some("a.example"), 0);
        assert_eq!(problems, ["signed with sha1WithRSAEncryption", "RSA key of 1024 bits"]);
    }
}
