//! A connection's facts in client/server terms: what its settled flow, its TLS, TDS and
//! OpenVPN analyzers and the evidence beside the flow (DNS answers, a Windows trace's drops,
//! capture loss) show. Everything a verdict is made from, and the fields of the record.

use crate::capture::{CaptureLoss, Nanos};
use crate::flow::{EndReason, Flow};
use crate::proto::dns::DnsLookup;
use crate::proto::facts::{Seen, TlsFacts};
use crate::proto::openvpn::OpenVpnFacts;
use crate::proto::tds::{TdsFacts, ALPN_TDS8};
use crate::proto::tls::Status;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TcpRecord {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syn: Option<Seen>,
    /// SYNs sent by the client, retransmissions included.
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    pub syn_count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_syn: Option<Seen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syn_ack: Option<Seen>,
    /// SYN-ACKs sent by the server, retransmissions included.
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    pub syn_ack_count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub established: Option<Seen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_fin: Option<Seen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_fin: Option<Seen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_rst: Option<Seen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rst: Option<Seen>,
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    pub retransmissions: u32,
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    pub out_of_order: u32,
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    pub overlaps: u32,
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    pub gaps: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_gap_frame: Option<u64>,
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    pub truncated_segments: u32,
    /// The capture began after the connection opened.
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    pub midstream: bool,
    pub ended_by: EndReason,
    /// The first and last packets with payload from each side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_first_data: Option<Seen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_last_data: Option<Seen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_first_data: Option<Seen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_last_data: Option<Seen>,
    /// The packet that carried each side's highest acknowledgement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_last_ack: Option<Seen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_last_ack: Option<Seen>,
    /// The first packet in which the server acknowledged more of the client's bytes after it
    /// had sent data of its own: the client answered the server's first flight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_acked_after_data: Option<Seen>,
    /// Packets the capture holds from each side.
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    pub client_packets: u32,
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    pub server_packets: u32,
    /// Bytes of each side's stream the capture saw it send (its FIN counts one).
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    pub client_bytes_seen: u32,
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    pub server_bytes_seen: u32,
    /// Bytes of the other side's stream that each side acknowledged: what the other side sent,
    /// even where the capture does not hold it.
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    pub server_bytes_acked_by_client: u32,
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    pub client_bytes_acked_by_server: u32,
    /// `client_only` or `server_only` when the capture holds one direction of the connection
    /// (a tap or SPAN port that sees one way, asymmetric routing), null otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub one_sided: Option<OneSided>,
}

/// Which direction of a connection alone is in the capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OneSided {
    ClientOnly,
    ServerOnly,
}

impl TcpRecord {
    /// Bytes the server sent (as the client's acknowledgements prove) that the capture lacks.
    pub fn server_bytes_unseen(&self) -> u32 {
        self.server_bytes_acked_by_client.saturating_sub(self.server_bytes_seen)
    }

    /// Bytes the client sent (as the server's acknowledgements prove) that the capture lacks.
    pub fn client_bytes_unseen(&self) -> u32 {
        self.client_bytes_acked_by_server.saturating_sub(self.client_bytes_seen)
    }
}

/// How a connection carries its TLS handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encapsulation {
    /// TLS from the first byte.
    Tls,
    /// TLS after a plaintext exchange (STARTTLS and similar upgrades).
    Starttls,
    /// SQL Server: inside TDS PRELOGIN packets (TDS 7.x), or TLS first for TDS 8.0.
    Tds,
    /// Inside OpenVPN's control channel (OpenVPN over TCP).
    Openvpn,
    /// After bytes the client sent unanswered before its ClientHello (a proxy header, an
    /// unknown wrapper).
    Prologue,
}

/// What the capture shows of one connection, in client/server terms: everything its verdict
/// is made from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Facts {
    /// `ip:port` of the side that opened the connection / sent the ClientHello.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server: String,
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    pub first_frame: u64,
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    pub last_frame: u64,
    #[serde(serialize_with = "crate::time::ser_ts", deserialize_with = "crate::time::de_ts")]
    pub start: Nanos,
    #[serde(serialize_with = "crate::time::ser_ts", deserialize_with = "crate::time::de_ts")]
    pub end: Nanos,
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    pub packets: u64,
    pub tcp: TcpRecord,
    /// How the TLS handshake travels; absent when no TLS or TDS was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encapsulation: Option<Encapsulation>,
    /// Absent when the connection carried no TLS at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFacts>,
    /// SQL Server's TDS: PRELOGIN options of both sides and how encryption was negotiated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tds: Option<TdsFacts>,
    /// OpenVPN over TCP: how the control channel is protected, its packets, the data channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openvpn: Option<OpenVpnFacts>,
    /// True when the payload was not TLS.
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    pub not_tls: bool,
    /// DNS answers the client got for the hosts of its certificate's CRL and OCSP URLs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revocation_lookups: Vec<DnsLookup>,
    /// Packets a live capture lost while this connection was open (absent when none were).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture_loss: Option<CaptureLoss>,
    /// A Windows trace (ETL) only: the packets of this connection a Windows component
    /// dropped, as (frame, pktmon drop reason). Not in the record: the verdict names them.
    #[serde(skip)]
    pub windows_trace: Option<WindowsTrace>,
}

/// What a Windows trace (ETL) adds to a connection's facts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WindowsTrace {
    /// Packets a Windows component dropped: frame number and pktmon drop reason.
    pub drops: Vec<(u64, u32)>,
}

/// One direction alone is in the capture when a side sent nothing that the capture holds while
/// the other side's acknowledgements prove it was there (an ACK flag answers a SYN or data).
fn one_sided(client: &crate::flow::Extent, server: &crate::flow::Extent) -> Option<OneSided> {
    match (client.packets, server.packets) {
        (0, n) if n > 0 && server.max_ack_seen.is_some() => Some(OneSided::ServerOnly),
        (n, 0) if n > 0 && client.max_ack_seen.is_some() => Some(OneSided::ClientOnly),
        _ => None,
    }
}

impl Facts {
    /// The revocation URLs of the server's leaf certificate.
    pub fn revocation_urls(&self) -> &[String] {
        self.tls
            .as_ref()
            .and_then(|t| t.server_certificates.as_ref())
            .and_then(|chain| chain.certificates.first())
            .map(|leaf| leaf.revocation_urls.as_slice())
            .unwrap_or(&[])
    }

    /// The client's address, parsed back from `client` (written as `SocketAddr` prints).
    pub fn client_addr(&self) -> Option<std::net::SocketAddr> {
        self.client.parse().ok()
    }

    /// The server's address, parsed back from `server`.
    pub fn server_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.parse().ok()
    }

    /// A settled flow's facts, before anything beside the flow (DNS answers, a trace's
    /// drops, capture loss) is added.
    pub fn from_flow(mut flow: Box<Flow>) -> Facts {
        let client = flow.client_side();
        let server = 1 - client;
        let t = &flow.tcp;
        let tcp = TcpRecord {
            syn: t.syn,
            syn_count: t.syn_count,
            last_syn: t.last_syn,
            syn_ack: t.syn_ack,
            syn_ack_count: t.syn_ack_count,
            established: t.established,
            client_fin: t.fin[client],
            server_fin: t.fin[server],
            client_rst: t.rst[client],
            server_rst: t.rst[server],
            retransmissions: t.retransmissions,
            out_of_order: t.out_of_order,
            overlaps: t.overlaps,
            gaps: t.gaps,
            first_gap_frame: t.first_gap_frame,
            truncated_segments: t.truncated_segments,
            midstream: t.midstream,
            ended_by: flow.end,
            client_first_data: t.extent[client].first_data,
            client_last_data: t.extent[client].last_data,
            server_first_data: t.extent[server].first_data,
            server_last_data: t.extent[server].last_data,
            client_last_ack: t.extent[client].max_ack_seen,
            server_last_ack: t.extent[server].max_ack_seen,
            server_acked_after_data: t.extent[server].acked_after_data,
            client_packets: t.extent[client].packets,
            server_packets: t.extent[server].packets,
            client_bytes_seen: t.extent[client].sent_seen(),
            server_bytes_seen: t.extent[server].sent_seen(),
            server_bytes_acked_by_client: t.extent[client].acked_of(&t.extent[server]),
            client_bytes_acked_by_server: t.extent[server].acked_of(&t.extent[client]),
            one_sided: one_sided(&t.extent[client], &t.extent[server]),
        };
        let mut analyzer = flow.take_tls();
        let status = analyzer.status();
        let not_tls = status == Status::NotTls;
        let prelogin = analyzer.take_tds();
        let openvpn = analyzer.take_openvpn();
        // A SQL Server connection that negotiated no encryption, or an OpenVPN one whose control
        // channel is encrypted, has nothing to say about TLS.
        let saw_tls = (prelogin.is_none() && openvpn.is_none()) || analyzer.saw_records();
        let tls = (status != Status::Waiting && saw_tls).then_some(analyzer.facts);
        let tds = prelogin.or_else(|| {
            let offered = tls.as_ref()?.client_hello.as_ref()?.alpn.iter().any(|p| p == ALPN_TDS8);
            offered.then(TdsFacts::strict)
        });
        let encapsulation = match (&tds, &tls) {
            _ if openvpn.is_some() => Some(Encapsulation::Openvpn),
            (Some(_), _) => Some(Encapsulation::Tds),
            (None, Some(t)) if t.starttls => Some(Encapsulation::Starttls),
            (None, Some(t)) if t.client_prologue.is_some() => Some(Encapsulation::Prologue),
            (None, Some(_)) if !not_tls => Some(Encapsulation::Tls),
            _ => None,
        };
        Facts {
            client: flow.key.endpoint(client),
            server: flow.key.endpoint(server),
            first_frame: flow.first.frame,
            last_frame: flow.last.frame,
            start: flow.first.ts,
            end: flow.last.ts,
            packets: flow.packets,
            tcp,
            encapsulation,
            tls,
            tds,
            openvpn,
            not_tls,
            revocation_lookups: Vec::new(),
            capture_loss: None,
            windows_trace: None,
        }
    }
}
