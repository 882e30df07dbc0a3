//! Decryption with a key log: this connection's secrets looked up once its ServerHello names
//! the suite, the TLS 1.2 and 1.3 record keys of each side derived from them (and switched
//! after each Finished in TLS 1.3), and encrypted records opened with them through
//! `proto::decrypt`. A record the keys do not open ends decryption for that side.

use super::problem::TlsProblemKind;
use super::TlsAnalyzer;
use crate::proto::decrypt::{self, Opened, RecordKeys};
use crate::proto::facts::{Role, Seen};
use crate::proto::Side;

impl TlsAnalyzer {
    /// Opens an encrypted record with the key log's keys for this side, if there are any.
    pub(super) fn open(&mut self, side: Side, header: [u8; 5], body: &[u8], seen: Seen) -> Option<Opened> {
        let ctype = header[0];
        let sealed = ctype == 23 || (self.dirs[side].encrypted && ctype != 20);
        let keys = self.dirs[side].keys.as_mut().filter(|_| sealed)?;
        let opened = keys.open(header, body);
        if opened.is_none() {
            // Wrong secrets, or records under keys this tool does not follow (0-RTT data, a
            // KeyUpdate): the rest of this side is read as opaque records.
            self.dirs[side].keys = None;
            self.problem(TlsProblemKind::KeysDoNotDecrypt, seen.frame, side);
        }
        opened
    }

    /// Looks this connection's secrets up once the ServerHello is in (one lookup per
    /// connection), and sets the TLS 1.3 handshake keys of both sides.
    pub(super) fn look_up_secrets(&mut self, server: Side) {
        let (Some(keylog), Some(ch), Some(sh)) =
            (self.keylog.as_ref(), self.facts.client_hello.as_ref(), self.facts.server_hello.as_ref())
        else {
            return;
        };
        let Some(secrets) = keylog.lookup(&ch.random) else {
            return;
        };
        // TLS 1.0 and 1.1 derive their keys with another PRF and chain CBC IVs across records.
        let old_version = !self.tls13 && sh.version_id != 0x0303;
        if !decrypt::supported(sh.cipher_suite_id) || old_version {
            let kind = TlsProblemKind::SuiteNotDecrypted { version: sh.version_id, cipher_suite: sh.cipher_suite_id };
            self.problem(kind, sh.frame, server);
            return;
        }
        if self.tls13 {
            let suite = sh.cipher_suite_id;
            let keys =
                |secret: &Option<Vec<u8>>| secret.as_ref().and_then(|s| RecordKeys::tls13(suite, s)).map(Box::new);
            self.dirs[server].keys = keys(&secrets.server_handshake);
            self.dirs[1 - server].keys = keys(&secrets.client_handshake);
        }
        self.secrets = Some(Box::new(secrets));
    }

    /// TLS 1.2 read keys of one side, from the master secret, when its ChangeCipherSpec comes.
    pub(super) fn tls12_keys(&self, writer: Role) -> Option<Box<RecordKeys>> {
        let (secrets, ch, sh) =
            (self.secrets.as_ref()?, self.facts.client_hello.as_ref()?, self.facts.server_hello.as_ref()?);
        let master = secrets.master_secret.as_ref()?;
        let encrypt_then_mac = sh.extensions.iter().any(|e| e == "encrypt_then_mac");
        RecordKeys::tls12(sh.cipher_suite_id, master, &ch.random, &sh.random, writer == Role::Client, encrypt_then_mac)
            .map(Box::new)
    }

    /// TLS 1.3: after a side's Finished its records are under its application traffic secret.
    pub(super) fn switch_to_application_keys(&mut self, side: Side, role: Role) {
        let (Some(secrets), Some(sh)) = (self.secrets.as_ref(), self.facts.server_hello.as_ref()) else {
            return;
        };
        let secret = match role {
            Role::Client => &secrets.client_traffic,
            Role::Server => &secrets.server_traffic,
        };
        self.dirs[side].keys = secret.as_ref().and_then(|s| RecordKeys::tls13(sh.cipher_suite_id, s)).map(Box::new);
    }
}
