//! Decryption with a key log: this connection's secrets looked up once its ServerHello names
//! the suite, the TLS 1.2 and 1.3 record keys of each side derived from them (and switched
//! after each Finished in TLS 1.3), and encrypted records opened with them through
//! `proto::decrypt`. A record the keys do not open ends decryption for that side.

use super::problem::TlsProblemKind;
use super::TlsAnalyzer;
use crate::proto::decrypt::{self, Opened, RecordKeys};
use crate::proto::facts::{Role, Seen};
use crate::proto::keylog::{KeyLog, Secrets};
use crate::proto::values::TlsVersion;
use crate::proto::Side;
use std::sync::Arc;

/// The key log's part in one connection.
#[derive(Default)]
pub(super) struct KeySchedule {
    /// Where this connection's secrets may be found (`--keylog`, pcapng secrets blocks).
    keylog: Option<Arc<KeyLog>>,
    /// This connection's secrets, once the ServerHello named the suite.
    secrets: Option<Box<Secrets>>,
    /// Each side's read keys: its encrypted records are opened with them.
    read: [Option<Box<RecordKeys>>; 2],
}

impl KeySchedule {
    pub(super) fn set_keylog(&mut self, keylog: Option<Arc<KeyLog>>) {
        self.keylog = keylog;
    }

    /// This side's encrypted records are read with keys from the key log.
    pub(super) fn has_keys(&self, side: Side) -> bool {
        self.read[side].is_some()
    }
}

impl TlsAnalyzer {
    /// Opens an encrypted record with the key log's keys for this side, if there are any.
    pub(super) fn open(&mut self, side: Side, header: [u8; 5], body: &[u8], seen: Seen) -> Option<Opened> {
        let ctype = header[0];
        let sealed = ctype == 23 || (self.dirs[side].encrypted && ctype != 20);
        let keys = self.keys.read[side].as_mut().filter(|_| sealed)?;
        let opened = keys.open(header, body);
        if opened.is_none() {
            // Wrong secrets, or records under keys this tool does not follow (0-RTT data, a
            // KeyUpdate): the rest of this side is read as opaque records.
            self.keys.read[side] = None;
            self.problem(TlsProblemKind::KeysDoNotDecrypt, seen.frame, side);
        }
        opened
    }

    /// Looks this connection's secrets up once the ServerHello is in (one lookup per
    /// connection), and sets the TLS 1.3 handshake keys of both sides.
    pub(super) fn look_up_secrets(&mut self, server: Side) {
        let (Some(keylog), Some(ch), Some(sh)) =
            (self.keys.keylog.as_ref(), self.facts.client_hello.as_ref(), self.facts.server_hello.as_ref())
        else {
            return;
        };
        let Some(secrets) = keylog.lookup(&ch.random) else {
            return;
        };
        // TLS 1.0 and 1.1 derive their keys with another PRF and chain CBC IVs across records.
        let old_version = !self.tls13 && sh.version != TlsVersion::TLS1_2;
        let suite = match sh.cipher_suite {
            Some(suite) if decrypt::supported(suite.0) && !old_version => suite.0,
            _ => {
                let kind = TlsProblemKind::SuiteNotDecrypted { version: sh.version, cipher_suite: sh.suite_name() };
                self.problem(kind, sh.frame, server);
                return;
            }
        };
        if self.tls13 {
            let keys =
                |secret: &Option<Vec<u8>>| secret.as_ref().and_then(|s| RecordKeys::tls13(suite, s)).map(Box::new);
            self.keys.read[server] = keys(&secrets.server_handshake);
            self.keys.read[1 - server] = keys(&secrets.client_handshake);
        }
        self.keys.secrets = Some(Box::new(secrets));
    }

    /// TLS 1.2: a side's ChangeCipherSpec puts its records under keys from the master secret
    /// (none when the key log had no secrets for this connection).
    pub(super) fn switch_to_tls12_keys(&mut self, side: Side, writer: Role) {
        self.keys.read[side] = self.tls12_keys(writer);
    }

    fn tls12_keys(&self, writer: Role) -> Option<Box<RecordKeys>> {
        let (secrets, ch, sh) =
            (self.keys.secrets.as_ref()?, self.facts.client_hello.as_ref()?, self.facts.server_hello.as_ref()?);
        let master = secrets.master_secret.as_ref()?;
        let encrypt_then_mac = sh.extensions.iter().any(|e| e == "encrypt_then_mac");
        RecordKeys::tls12(sh.cipher_suite?.0, master, &ch.random, &sh.random, writer == Role::Client, encrypt_then_mac)
            .map(Box::new)
    }

    /// TLS 1.3: after a side's Finished its records are under its application traffic secret.
    pub(super) fn switch_to_application_keys(&mut self, side: Side, role: Role) {
        let (Some(secrets), Some(sh)) = (self.keys.secrets.as_ref(), self.facts.server_hello.as_ref()) else {
            return;
        };
        let secret = match role {
            Role::Client => &secrets.client_traffic,
            Role::Server => &secrets.server_traffic,
        };
        let suite = sh.cipher_suite.map_or(0, |s| s.0);
        self.keys.read[side] = secret.as_ref().and_then(|s| RecordKeys::tls13(suite, s)).map(Box::new);
    }
}
