//! What happened to each input (frames, connections, verdict counts, what stopped its
//! reading) and the sums over all of them: the `files` and `totals` of the JSON schema,
//! filled by the drivers and written by the reports.

use crate::capture::{CaptureFormat, EtlSummary};
use crate::decode::TunnelCounts;
use crate::flow::FlowStats;
use crate::verdict::Code;
use serde::Serialize;
use std::collections::BTreeMap;

/// What happened to one input.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FileSummary {
    pub path: String,
    pub format: Option<CaptureFormat>,
    pub compression: Option<&'static str>,
    pub frames: u64,
    pub tcp_segments: u64,
    /// IP packets that are not TCP (or are IP fragments).
    pub other_ip: u64,
    /// Frames that are not IP, or of a link type this tool does not read.
    pub not_ip: u64,
    /// Frames too short or malformed to reach the TCP header.
    pub malformed: u64,
    /// Frames per tunnel layer crossed, and tunnelled frames whose payload could not be read.
    pub tunnels: TunnelCounts,
    pub connections: u64,
    /// Connection count per final verdict code (filled in by [`Session::finish`]).
    pub verdicts: BTreeMap<Code, u64>,
    pub flow_stats: FlowStats,
    /// UDP datagrams from port 53 (counted in `other_ip` too); their answers name where a
    /// client went for a certificate's revocation URL.
    pub dns_responses: u64,
    /// Key log lines the capture itself carried (pcapng Decryption Secrets Blocks).
    pub secrets_in_capture: u64,
    /// Connections whose encrypted handshake records or alerts were decrypted.
    pub decrypted: u64,
    /// Windows ETL traces only: packet providers, clock, lost events and buffers, packet
    /// copies skipped, pktmon drops.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etl: Option<Box<EtlSummary>>,
    /// Live capture: packets lost (kernel, full queue) and the verdicts the loss changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture_loss: Option<Box<crate::capture_loss::LossSummary>>,
    /// Why reading stopped early; every connection settled before it is still reported.
    pub error: Option<String>,
    /// The input is not a capture at all (skipped quietly when found in a directory).
    #[serde(skip)]
    pub not_a_capture: bool,
}

/// Sums over files, for the summary line and the JSON `totals`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    pub files: usize,
    pub files_with_errors: usize,
    pub frames: u64,
    pub connections: u64,
    pub failures: u64,
    /// Connections settled early to stay within `max_flows`.
    pub evicted: u64,
    /// Connections decrypted with a key log.
    pub decrypted: u64,
    pub verdicts: BTreeMap<Code, u64>,
    /// Packets a live capture lost, and the failure verdicts that became `incomplete_capture`
    /// because a lost packet could explain them.
    #[serde(skip_serializing_if = "is_zero")]
    pub lost_packets: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub verdicts_affected_by_loss: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

pub fn totals(files: &[FileSummary]) -> Totals {
    let mut t = Totals { files: files.len(), ..Default::default() };
    for f in files {
        t.files_with_errors += f.error.is_some() as usize;
        t.frames += f.frames;
        t.connections += f.connections;
        t.evicted += f.flow_stats.connections_evicted;
        t.decrypted += f.decrypted;
        if let Some(loss) = &f.capture_loss {
            t.lost_packets += loss.kernel + loss.queue;
            t.verdicts_affected_by_loss += loss.verdicts_affected;
        }
        for (code, n) in &f.verdicts {
            *t.verdicts.entry(*code).or_default() += n;
        }
    }
    t.failures = Code::failures_in(&t.verdicts);
    t
}
