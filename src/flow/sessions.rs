//! The session index of one input: which connection issued each TLS 1.2 session id and each
//! ticket, so that a later ClientHello offering one can name where its session came from; and
//! which FTPS control connections are open, so that a data connection between the same hosts
//! is known as one.
//!
//! Filled as hellos and tickets arrive, in capture order: a session is always issued before it
//! is offered, so a connection learns its origin while the origin may still be open (an FTPS
//! control connection outlives its data connections). Bounded: beyond [`MAX_SESSIONS`] the
//! oldest sessions are forgotten.

use super::{Flow, Side};
use crate::fifo_map::FifoMap;
use crate::proto::facts::{Resumption, SessionOrigin, TlsFacts};
use crate::proto::values::TlsVersion;
use rustc_hash::FxHashMap;
use std::net::IpAddr;

/// Sessions remembered at once, per input.
pub const MAX_SESSIONS: usize = 65_536;

/// Ports of FTPS control connections: explicit (AUTH TLS on 21) and implicit (990).
const FTPS_CONTROL_PORTS: [u16; 2] = [21, 990];

/// What the index has already taken from one flow.
#[derive(Clone, Copy, Debug, Default)]
pub struct Indexed {
    client_hello: bool,
    server_hello: bool,
    tickets: usize,
}

/// A session is known by its server's address and its id or ticket fingerprint: caches are
/// per server process, and FTPS data connections go to another port of the same host.
type SessionKey = (IpAddr, String);

pub struct SessionIndex {
    issued: FifoMap<SessionKey, SessionOrigin>,
    /// Open FTPS control connections by (client address, server address), with the id of
    /// their flow so that a closing one removes only itself.
    ftps_controls: FxHashMap<(IpAddr, IpAddr), (u64, SessionOrigin)>,
}

impl SessionIndex {
    /// Takes what is new in a flow's hellos and tickets: links its ClientHello to the session
    /// it offers, records the sessions its server issues.
    pub fn update(&mut self, flow: &mut Flow) {
        let client = flow.client_side();
        let server = 1 - client;
        let (client_ip, server_ip) = (flow.key.addr[client], flow.key.addr[server]);
        let Some(tls) = flow.tls.as_mut() else { return };
        let facts = &mut tls.tls_mut().facts;
        let origin =
            |frame| SessionOrigin { client: flow.key.endpoint(client), server: flow.key.endpoint(server), frame };
        if !flow.indexed.client_hello && facts.client_hello.is_some() {
            flow.indexed.client_hello = true;
            facts.resumption = self.offer(server_ip, facts);
            if !FTPS_CONTROL_PORTS.contains(&flow.key.port[server]) {
                facts.ftps_control = self.ftps_controls.get(&(client_ip, server_ip)).map(|(_, o)| o.clone());
            }
        }
        if let (false, Some(sh)) = (flow.indexed.server_hello, &facts.server_hello) {
            flow.indexed.server_hello = true;
            let tls12 = sh.version.rank() < TlsVersion::TLS1_3.rank();
            if tls12 && !facts.resumed && !sh.session_id.is_empty() {
                self.remember((server_ip, sh.session_id.clone()), origin(sh.frame));
            }
            if FTPS_CONTROL_PORTS.contains(&flow.key.port[server]) {
                self.ftps_controls.insert((client_ip, server_ip), (flow.id, origin(sh.frame)));
            }
        }
        if flow.indexed.tickets < facts.tickets_issued.len() {
            let frame = facts.new_session_ticket.unwrap_or_default();
            for ticket in &facts.tickets_issued[flow.indexed.tickets..] {
                self.remember((server_ip, ticket.clone()), origin(frame));
            }
            flow.indexed.tickets = facts.tickets_issued.len();
        }
    }

    /// A flow is over: an FTPS control connection no longer has data connections.
    pub fn closed(&mut self, flow: &Flow) {
        let client = flow.client_side();
        let server: Side = 1 - client;
        if FTPS_CONTROL_PORTS.contains(&flow.key.port[server]) {
            let key = (flow.key.addr[client], flow.key.addr[server]);
            if self.ftps_controls.get(&key).is_some_and(|(id, _)| *id == flow.id) {
                self.ftps_controls.remove(&key);
            }
        }
    }

    /// What the ClientHello offers to resume, and where that session came from. A session id
    /// alone is an offer only when it names a known session or the client cannot do TLS 1.3
    /// (TLS 1.3 clients send a random one for middlebox compatibility).
    fn offer(&self, server_ip: IpAddr, facts: &TlsFacts) -> Option<Resumption> {
        let ch = facts.client_hello.as_ref()?;
        let lookup = |id: &String| self.issued.get(&(server_ip, id.clone())).cloned();
        if let Some(id) = &ch.psk_identity_id {
            return Some(Resumption { offered: "psk", from: lookup(id) });
        }
        if ch.psk {
            return Some(Resumption { offered: "psk", from: None });
        }
        if let Some(id) = &ch.ticket_id {
            return Some(Resumption { offered: "ticket", from: lookup(id) });
        }
        if ch.session_id.is_empty() {
            return None;
        }
        let from = lookup(&ch.session_id);
        let tls13_client = ch.supported_versions.iter().any(|v| v.is_tls13_or_draft());
        (from.is_some() || !tls13_client || facts.resumed).then_some(Resumption { offered: "session_id", from })
    }

    fn remember(&mut self, key: SessionKey, origin: SessionOrigin) {
        self.issued.insert(key, origin);
    }
}

impl Default for SessionIndex {
    fn default() -> Self {
        SessionIndex { issued: FifoMap::new(MAX_SESSIONS), ftps_controls: FxHashMap::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::facts::ClientHello;

    fn hello(session_id: &str, ticket: Option<&str>, tls13: bool) -> TlsFacts {
        TlsFacts {
            client_hello: Some(ClientHello {
                session_id: session_id.into(),
                ticket_id: ticket.map(String::from),
                session_ticket: ticket.is_some(),
                supported_versions: if tls13 { vec![TlsVersion::TLS1_3, TlsVersion::TLS1_2] } else { vec![] },
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn origin(frame: u64) -> SessionOrigin {
        SessionOrigin { client: "10.0.0.1:50000".into(), server: "10.0.0.2:443".into(), frame }
    }

    #[test]
    fn a_tls13_clients_random_session_id_is_no_offer_unless_it_names_a_session() {
        let server: IpAddr = "10.0.0.2".parse().unwrap();
        let mut index = SessionIndex::default();
        assert!(index.offer(server, &hello("aa", None, true)).is_none());
        let offer = index.offer(server, &hello("aa", None, false)).expect("a TLS 1.2 client's session id is an offer");
        assert_eq!((offer.offered, offer.from), ("session_id", None));
        index.remember((server, "aa".into()), origin(6));
        let offer = index.offer(server, &hello("aa", None, true)).expect("names a known session");
        assert_eq!(offer.from, Some(origin(6)));
    }

    #[test]
    fn a_ticket_is_looked_up_at_the_same_server_address_only() {
        let server: IpAddr = "10.0.0.2".parse().unwrap();
        let other: IpAddr = "10.0.0.3".parse().unwrap();
        let mut index = SessionIndex::default();
        index.remember((server, "t1".into()), origin(9));
        let facts = hello("bb", Some("t1"), true);
        assert_eq!(index.offer(server, &facts).unwrap().from, Some(origin(9)));
        let elsewhere = index.offer(other, &facts).unwrap();
        assert_eq!((elsewhere.offered, elsewhere.from), ("ticket", None));
    }

    #[test]
    fn the_oldest_sessions_are_forgotten_beyond_the_bound() {
        let server: IpAddr = "10.0.0.2".parse().unwrap();
        let mut index = SessionIndex::default();
        for i in 0..=MAX_SESSIONS {
            index.remember((server, i.to_string()), origin(i as u64));
        }
        assert_eq!(index.issued.len(), MAX_SESSIONS);
        assert!(index.issued.get(&(server, "0".into())).is_none());
        assert!(index.issued.get(&(server, MAX_SESSIONS.to_string())).is_some());
    }
}
