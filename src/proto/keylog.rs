//! TLS secrets from NSS key log files (what SSLKEYLOGFILE makes browsers, curl, OpenSSL
//! `-keylogfile` and Python's `ssl` write) and from the Decryption Secrets Blocks of pcapng
//! files, which hold the same text. One store per run, shared by every thread and connection:
//! secrets are looked up once per connection, by the ClientHello's random.

use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use thiserror::Error;

/// The secrets logged for one TLS session (one client random).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Secrets {
    /// TLS 1.2 and older: `CLIENT_RANDOM`.
    pub master_secret: Option<Vec<u8>>,
    pub client_handshake: Option<Vec<u8>>,
    pub server_handshake: Option<Vec<u8>>,
    pub client_traffic: Option<Vec<u8>>,
    pub server_traffic: Option<Vec<u8>>,
}

#[derive(Debug, Error)]
pub enum KeyLogError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} holds no key log lines (CLIENT_RANDOM, CLIENT_HANDSHAKE_TRAFFIC_SECRET, ...)")]
    Empty { path: String },
}

/// The secrets of every session a key log names.
#[derive(Debug, Default)]
pub struct KeyLog {
    sessions: RwLock<FxHashMap<[u8; 32], Secrets>>,
    /// Connections whose client random was found.
    matched: AtomicU64,
}

impl KeyLog {
    /// Reads a key log file; one that holds no key log line at all is an error.
    pub fn from_file(path: &str) -> Result<KeyLog, KeyLogError> {
        let bytes = std::fs::read(path).map_err(|source| KeyLogError::Read { path: path.into(), source })?;
        let log = KeyLog::default();
        if log.add(&String::from_utf8_lossy(&bytes)) == 0 {
            return Err(KeyLogError::Empty { path: path.into() });
        }
        Ok(log)
    }

    /// Adds the lines of a key log text; returns how many lines were taken. Comments, labels
    /// this tool has no use for (exporter and early-data secrets, RSA pre-master secrets) and
    /// malformed lines are skipped, as in Wireshark.
    pub fn add(&self, text: &str) -> usize {
        let mut taken = 0;
        let mut sessions = self.sessions.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        for line in text.lines() {
            let mut fields = line.split_ascii_whitespace();
            let (Some(label), Some(random), Some(secret), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let (Some(random), Some(secret)) = (hex(random), hex(secret)) else {
                continue;
            };
            let Ok(random) = <[u8; 32]>::try_from(random) else {
                continue;
            };
            let slot: fn(&mut Secrets) -> &mut Option<Vec<u8>> = match label {
                "CLIENT_RANDOM" => |s| &mut s.master_secret,
                "CLIENT_HANDSHAKE_TRAFFIC_SECRET" => |s| &mut s.client_handshake,
                "SERVER_HANDSHAKE_TRAFFIC_SECRET" => |s| &mut s.server_handshake,
                "CLIENT_TRAFFIC_SECRET_0" => |s| &mut s.client_traffic,
                "SERVER_TRAFFIC_SECRET_0" => |s| &mut s.server_traffic,
                _ => continue,
            };
            *slot(sessions.entry(random).or_default()) = Some(secret);
            taken += 1;
        }
        taken
    }

    /// The secrets of the session with this client random, counted as a match when found.
    pub fn lookup(&self, client_random: &[u8]) -> Option<Secrets> {
        let random = <[u8; 32]>::try_from(client_random).ok()?;
        let found = self.sessions.read().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&random).cloned();
        if found.is_some() {
            self.matched.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// Sessions (client randoms) the log holds.
    pub fn sessions(&self) -> usize {
        self.sessions.read().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }

    /// Connections that found their secrets here so far.
    pub fn matched(&self) -> u64 {
        self.matched.load(Ordering::Relaxed)
    }
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || s.len() > 2 * 64 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tls12_and_tls13_lines_and_skips_the_rest() {
        let random = "ab".repeat(32);
        let other = "cd".repeat(32);
        let text = format!(
            "# SSL/TLS secrets log file\n\
             CLIENT_RANDOM {other} {}\n\
             CLIENT_HANDSHAKE_TRAFFIC_SECRET {random} {}\n\
             SERVER_HANDSHAKE_TRAFFIC_SECRET {random} {}\n\
             EXPORTER_SECRET {random} {}\n\
             RSA 0102 0304\n\
             CLIENT_TRAFFIC_SECRET_0 {random} zz\n",
            "11".repeat(48),
            "22".repeat(32),
            "33".repeat(32),
            "44".repeat(32),
        );
        let log = KeyLog::default();
        assert_eq!(log.add(&text), 3);
        assert_eq!(log.sessions(), 2);
        let s = log.lookup(&[0xab; 32]).expect("found");
        assert_eq!(s.client_handshake, Some(vec![0x22; 32]));
        assert_eq!(s.server_handshake, Some(vec![0x33; 32]));
        assert_eq!(s.client_traffic, None, "a secret that is not hex is skipped");
        assert_eq!(log.lookup(&[0xcd; 32]).and_then(|s| s.master_secret), Some(vec![0x11; 48]));
        assert!(log.lookup(&[0xef; 32]).is_none());
        assert_eq!(log.matched(), 2);
    }
}
