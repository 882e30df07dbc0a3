//! Verdicts where the capture holds less than the whole conversation: one direction only (a
//! tap or SPAN port that sees one way), bytes lost before the handshake ended, data the other
//! side never acknowledged, and connections the client abandoned. What one side's packets
//! prove about the other (its acknowledgements, and what it did next) decides; a verdict here
//! is `certain` only when a TCP fact seen from the side that did it settles it.

use super::{role_name, secs, Confidence, Fault, Verdict};
use crate::facts::{Facts, OneSided};
use crate::proto::facts::{ClientHello, Role, Seen, SideFacts, TlsFacts, TLS13_ALERT_SIZED};
use crate::proto::values::{AlertDescription, TlsVersion};
use crate::verdict::Code;

/// A client that leaves this soon after its ClientHello, with no answer yet, did not wait for
/// one: browsers close spare and raced connections this way.
const ABANDON_WITHIN: i64 = 500_000_000;

/// Bytes of a plaintext alert record (5-byte header, level, description).
const PLAINTEXT_ALERT_RECORD: u32 = 7;

/// Where a side shows it went past the hellos. In TLS 1.2 a ChangeCipherSpec: a client sends
/// it after the server's hello flight, a server after the client's Finished; or, when the
/// capture lacks it (a client flight with a certificate spans segments, and the one that held
/// the ChangeCipherSpec was lost or left in the kernel by `--handshakes-only`), application
/// data, which only the keys of a finished handshake encrypt. In TLS 1.3 (the compatibility
/// ChangeCipherSpec proves nothing) a first encrypted record too long for an alert, then
/// another one: a Finished and the data after it.
fn went_on(side: &SideFacts, tls13: bool) -> Option<u64> {
    if !tls13 {
        return side.change_cipher_spec.or(side.application_data);
    }
    match side.encrypted_records.as_slice() {
        [first, second, ..] if first.length > TLS13_ALERT_SIZED => Some(second.frame),
        _ => None,
    }
}

/// A client that answered the server's SYN-ACK with a reset gave up on the connection while
/// it was being opened (it won a race on another connection, or its connect() was cancelled).
pub(super) fn abandoned_at_syn_ack(c: &Facts) -> Option<Verdict> {
    let t = &c.tcp;
    let (syn_ack, rst) = (t.syn_ack?, t.client_rst?);
    (t.established.is_none() && rst.frame > syn_ack.frame).then(|| {
        abandoned(
            format!(
                "the client answered the SYN-ACK of {} with a reset {} later: it gave up on this connection while opening it (a client that raced several connections, or a cancelled connect), nothing was refused",
                c.server,
                secs(rst.ts.saturating_sub(syn_ack.ts))
            ),
        )
        .frame(Some(syn_ack.frame), "SYN-ACK")
        .frame(Some(rst.frame), "RST from the client")
    })
}

fn abandoned(explanation: String) -> Verdict {
    Verdict::new(Code::Abandoned, Fault::None, Confidence::Certain)
        .because(explanation)
        .hint("Not a failure: the client left the connection on its own. If the user saw an error, look at the client's other connections at the same time.")
}

/// The capture holds the server's side only: its answers and acknowledgements tell what the
/// client sent and how the handshake ended.
pub(super) fn server_side_only(c: &Facts, tls: &TlsFacts) -> Option<Verdict> {
    if c.tcp.one_sided != Some(OneSided::ServerOnly) && c.tcp.client_bytes_unseen() == 0 {
        return None;
    }
    let acked = c.tcp.client_bytes_acked_by_server;
    let missing = "the client's side of the connection is not in the capture";
    if let Some(alert) = tls.first_fatal_alert().filter(|a| a.sender == Role::Server && !a.is_opaque()) {
        let desc = alert.description.map(|d| d.name()).unwrap_or_default();
        let (code, side, hint) = match (alert.description, tls.server_hello.is_some()) {
            (Some(AlertDescription::PROTOCOL_VERSION), _) => (Code::ProtocolMismatch, Fault::Unknown, "Enable a common TLS version: TLS 1.2 in the client (its driver or framework settings) or on the server."),
            (Some(AlertDescription::HANDSHAKE_FAILURE | AlertDescription::INSUFFICIENT_SECURITY), false) => (Code::CipherMismatch, Fault::Unknown, "Enable a cipher suite both sides share; capture the client's side too to see which suites it offers."),
            _ => (Code::FatalAlert, Fault::Server, "Look up the alert in the server's logs (Schannel event 36888 on Windows carries the same number)."),
        };
        return Some(
            Verdict::new(code, side, Confidence::Certain)
                .because(format!(
                    "the server refused the client's hello ({acked} bytes it acknowledged) with the fatal alert {desc}; {missing}, so what the client offered is unknown"
                ))
                .hint(hint)
                .frame(c.tcp.server_first_data.map(|s| s.frame), "the server's first bytes")
                .frame(Some(alert.frame), format!("fatal alert {desc} from the server")),
        );
    }
    let sh = tls.server_hello.as_ref()?;
    // What the server sends only after the client's Finished: in TLS 1.2 its own
    // ChangeCipherSpec and Finished (a full handshake), in TLS 1.3 records after it
    // acknowledged more of the client's bytes than its hello.
    let later_ack = c.tcp.server_acked_after_data.filter(|a| a.frame > sh.frame);
    let completion = if sh.version == TlsVersion::TLS1_3 {
        // A record of an alert's size there may be the server's close_notify or its refusal.
        later_ack.and_then(|a| {
            tls.server
                .encrypted_records
                .iter()
                .find(|r| r.frame >= a.frame && r.length > TLS13_ALERT_SIZED)
                .map(|r| r.frame)
        })
    } else {
        tls.server.finished.filter(|_| tls.server.change_cipher_spec.is_some())
    };
    let verdict = match completion {
        Some(frame) => Verdict::new(if tls.resumed { Code::OkResumed } else { Code::Ok }, Fault::None, Confidence::Likely)
            .because(format!(
                "{} {}: {missing}, but the server acknowledged {acked} bytes from the client and sent what it sends only after the client's Finished",
                sh.version,
                sh.suite_name()
            ))
            .hint("Capture both directions (on the host itself, or a SPAN port that sees both ways) to see the client's side.")
            .frame(Some(sh.frame), "ServerHello")
            .frame(later_ack.map(|a| a.frame), "the server acknowledges the client's flight")
            .frame(Some(frame), "the server's records after the client's Finished"),
        None => Verdict::new(Code::IncompleteCapture, Fault::Unknown, Confidence::Likely)
            .because(format!(
                "{missing}: the server acknowledged {acked} bytes from the client and answered with a {} ServerHello; how the client went on is not in the capture",
                sh.version
            ))
            .hint("Capture both directions (on the host itself, or a SPAN port that sees both ways).")
            .frame(Some(sh.frame), "ServerHello")
            .frame(c.tcp.server_last_ack.map(|a| a.frame), "the server's last acknowledgement"),
    };
    Some(verdict)
}

/// Bytes of the handshake are missing (one direction not captured, a flight lost, a segment
/// cut by the snap length), and what the sides did next shows the handshake completed: the
/// client went on past the hellos, and the server did too or its answer is what is missing.
pub(super) fn completed_despite_missing_bytes(c: &Facts, tls: &TlsFacts, ch: &ClientHello) -> Option<Verdict> {
    let unseen = c.tcp.server_bytes_unseen();
    let lost = unseen > 0
        || c.tcp.client_bytes_unseen() > 0
        || tls.client.gap.or(tls.server.gap).is_some()
        || c.tcp.one_sided.is_some();
    if !lost {
        return None;
    }
    let tls13 = match &tls.server_hello {
        Some(sh) => sh.version == TlsVersion::TLS1_3,
        None => ch.max_version == TlsVersion::TLS1_3,
    };
    let client_on = went_on(&tls.client, tls13)?;
    let server_on = went_on(&tls.server, tls13);
    // Without the server's records, its acknowledged bytes must be more than an alert.
    if server_on.is_none() && c.tcp.server_bytes_acked_by_client <= PLAINTEXT_ALERT_RECORD + 1 {
        return None;
    }
    let what = match tls.server_hello.as_ref() {
        Some(sh) => format!("{} {} with {}", sh.version, sh.suite_name(), ch.sni.as_deref().unwrap_or("no SNI")),
        None => format!("handshake with {}", ch.sni.as_deref().unwrap_or("no SNI")),
    };
    let how = match server_on {
        Some(_) => "both sides went on past the hellos (ChangeCipherSpec or encrypted records)".to_string(),
        None => format!(
            "the client acknowledged {} bytes from the server and went on past the hellos, which it does only after the server's hello flight",
            c.tcp.server_bytes_acked_by_client
        ),
    };
    let missing = match (c.tcp.one_sided, unseen) {
        (Some(OneSided::ClientOnly), _) => "the server's side of the connection is not in the capture".to_string(),
        (_, 0) => "bytes of the handshake are missing from the capture".to_string(),
        (_, n) => format!("{n} bytes the server sent are missing from the capture"),
    };
    Some(
        Verdict::new(if tls.resumed { Code::OkResumed } else { Code::Ok }, Fault::None, Confidence::Likely)
            .because(format!("{what}: {missing}, but {how}"))
            .hint("Capture both directions, with a full snap length (tcpdump -s 0), to read the server's hello and certificate.")
            .frame(Some(ch.frame), "ClientHello")
            .frame(c.tcp.client_last_ack.map(|a| a.frame).filter(|_| server_on.is_none()), "the client acknowledges the server's bytes")
            .frame(Some(client_on), "the client goes on past the hellos")
            .frame(server_on, "the server goes on past the hellos"),
    )
}

/// No ServerHello, and the client ended the connection first (or the capture holds the
/// client's side only): who gave up on what, from the server's acknowledgements.
pub(super) fn client_left_without_answer(
    c: &Facts,
    tls: &TlsFacts,
    ch: &ClientHello,
    ending: Option<(Seen, Role, bool)>,
) -> Option<Verdict> {
    let t = &c.tcp;
    let client_end = match ending {
        Some((end, Role::Client, reset)) => Some((end, reset)),
        Some(_) => return None,
        None => None,
    };
    let how = |reset: bool| if reset { "reset" } else { "closed" };
    if t.one_sided == Some(OneSided::ClientOnly) {
        let acked = t.server_bytes_acked_by_client;
        let answer = match acked {
            0 => "no byte of an answer".to_string(),
            n if n <= PLAINTEXT_ALERT_RECORD + 1 => format!(
                "{} bytes of an answer{}, the size of a plaintext alert record (a refusal, most likely)",
                PLAINTEXT_ALERT_RECORD.min(n),
                if n > PLAINTEXT_ALERT_RECORD { " and its FIN" } else { "" }
            ),
            n => format!("{n} bytes of an answer"),
        };
        return Some(
            Verdict::new(Code::IncompleteCapture, Fault::Unknown, Confidence::Likely)
                .because(format!(
                    "the server's side of the connection is not in the capture: the client acknowledged {answer}{}",
                    client_end.map(|(_, reset)| format!(", then {} the connection", how(reset))).unwrap_or_default()
                ))
                .hint("Capture both directions (on the host itself, or a SPAN port that sees both ways) to see the server's answer.")
                .frame(Some(ch.frame), "ClientHello")
                .frame(t.client_last_ack.map(|a| a.frame), "the client's last acknowledgement")
                .frame(client_end.map(|(e, _)| e.frame), "the client ends the connection"),
        );
    }
    let hello_at = t.client_first_data.unwrap_or(Seen { frame: ch.frame, ts: c.start });
    // Payload from the server (a FIN alone is no answer), and whether it came before the
    // client ended the connection.
    let server_data = t.server_first_data.map(|d| d.frame).or(tls.server.messages.first().map(|m| m.frame));
    // The server's TCP never acknowledged the hello: it did not reach the server (or not its
    // listening socket). The client's retransmissions are the proof.
    if t.client_bytes_acked_by_server == 0 && t.server_packets > 0 && server_data.is_none() {
        let retried = t.retransmissions;
        let span = secs(t.client_last_data.map_or(0, |l| l.ts.saturating_sub(hello_at.ts)));
        return Some(
            Verdict::new(Code::NoServerHello, Fault::Network, if retried > 0 { Confidence::Certain } else { Confidence::Likely })
                .because(format!(
                    "the server's TCP never acknowledged the ClientHello ({} offering {} suites up to {}): the client sent it {} time(s) over {span}{}",
                    c.client,
                    ch.cipher_suites.len(),
                    ch.max_version,
                    retried + 1,
                    client_end.map(|(_, reset)| format!(", then {} the connection", how(reset))).unwrap_or_default()
                ))
                .hint("The hello never reached the server's TCP: a firewall or IPS dropping TLS payloads (not the SYNs), an MTU black hole (check the path MTU and MSS clamping), or a load balancer without a healthy backend.")
                .frame(Some(ch.frame), "ClientHello")
                .frame(t.client_last_data.filter(|_| retried > 0).map(|l| l.frame), "last retransmission")
                .frame(client_end.map(|(e, _)| e.frame), "the client ends the connection"),
        );
    }
    let (end, reset) = client_end?;
    let waited = end.ts.saturating_sub(hello_at.ts);
    let server_spoke = server_data.is_some_and(|frame| frame < end.frame);
    if !server_spoke && waited < ABANDON_WITHIN {
        return Some(
            abandoned(format!(
                "the client {} the connection {} after its ClientHello, before any answer: it did not wait for the server",
                how(reset),
                secs(waited)
            ))
            .frame(Some(ch.frame), "ClientHello")
            .frame(Some(end.frame), format!("{} from the client", if reset { "RST" } else { "FIN" })),
        );
    }
    if server_spoke {
        return None;
    }
    Some(
        Verdict::new(Code::NoServerHello, Fault::Server, Confidence::Likely)
            .because(format!(
                "the server acknowledged the ClientHello ({} offering {} suites up to {}) and said nothing for {}, until the client {} the connection",
                c.client,
                ch.cipher_suites.len(),
                ch.max_version,
                secs(waited),
                how(reset)
            ))
            .hint("The server's TLS stack received the hello and did not answer: an overloaded or hung service, or one that waits for something else (a proxy protocol header, a different protocol); check its logs and that TLS is enabled on the port.")
            .frame(Some(ch.frame), "ClientHello")
            .frame(Some(end.frame), format!("{} from the client", if reset { "RST" } else { "FIN" })),
    )
}

/// A client that closed or reset before the server's hello arrived left before the answer.
pub(super) fn left_before_server_hello(c: &Facts, sh_frame: u64, end: Seen, who: Role, reset: bool) -> Option<Verdict> {
    if who != Role::Client || end.frame >= sh_frame {
        return None;
    }
    let hello_at = c.tcp.client_first_data?;
    let waited = end.ts.saturating_sub(hello_at.ts);
    Some(
        abandoned(format!(
            "the client {} the connection {} after its ClientHello, before the server's hello arrived: it did not wait for the answer",
            if reset { "reset" } else { "closed" },
            secs(waited)
        ))
        .frame(Some(hello_at.frame), "ClientHello")
        .frame(Some(end.frame), format!("{} from the {}", if reset { "RST" } else { "FIN" }, role_name(who)))
        .frame(Some(sh_frame), "the server's hello, after the client left"),
    )
}
