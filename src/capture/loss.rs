//! Packets a capture lost between two times, as a fact a connection can carry: a live
//! capture's kernel drops and the batches tlsdiag dropped from its own full queue.

use crate::time::Nanos;
use serde::{Deserialize, Serialize};

/// Packets lost between two times (packet clock: the kernel's wall clock).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CaptureLoss {
    /// Packets the kernel dropped (its ring buffer was full).
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub kernel: u64,
    /// Packets tlsdiag dropped because its analysis queue was full.
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub queue: u64,
    #[serde(serialize_with = "crate::time::ser_ts", deserialize_with = "crate::time::de_ts")]
    pub from: Nanos,
    #[serde(serialize_with = "crate::time::ser_ts", deserialize_with = "crate::time::de_ts")]
    pub to: Nanos,
}

impl CaptureLoss {
    pub fn packets(&self) -> u64 {
        self.kernel + self.queue
    }

    pub fn absorb(&mut self, other: &CaptureLoss) {
        self.kernel += other.kernel;
        self.queue += other.queue;
        self.from = self.from.min(other.from);
        self.to = self.to.max(other.to);
    }
}
