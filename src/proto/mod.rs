//! Stream analyzers: bytes of a TCP connection in, protocol facts out.
//!
//! The flow stage hands each analyzer the in-order bytes of each side (`on_data`) and tells it
//! about holes (`on_gap`); the analyzer says through `wants` whether it still needs a side's
//! bytes, so the flow stops buffering as soon as the handshake outcome is known.

pub mod cert_cache;
pub mod decrypt;
pub mod dns;
pub mod facts;
pub mod fingerprint;
pub mod keylog;
pub mod memo;
pub mod messages;
pub mod openvpn;
pub mod record_size;
pub mod tds;
pub mod tls;
pub mod transport;
pub mod values;
pub mod x509;

/// One end of a connection, by its place in the canonical flow key (0 = lower endpoint).
pub type Side = usize;
