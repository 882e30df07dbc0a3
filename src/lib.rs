//! tlsdiag: reads network captures and tells, for every TCP connection, whether its TLS
//! handshake worked and, if not, why.
//!
//! The pipeline runs one way, one stage per module (see DESIGN.md and the README's Layout;
//! `tests/layers.rs` checks it): [`capture`] -> [`decode`] -> [`flow`] -> [`proto`] ->
//! [`facts`] -> [`classify`] -> [`across`] -> [`report`], over the base modules ([`verdict`],
//! [`schema`], [`time`], [`names`], [`text`]). [`analyze`] wires the stages together for one
//! input, [`batch`] for many, [`records`] for records read back.

#![forbid(unsafe_code)]

pub mod across;
pub mod analyze;
pub mod batch;
pub mod capture;
pub mod capture_loss;
pub mod classify;
pub mod decode;
pub mod dns_log;
pub mod etl_evidence;
pub mod explain;
pub mod facts;
pub mod fifo_map;
pub mod flow;
#[cfg(feature = "live")]
pub mod live;
pub mod names;
pub mod proto;
pub mod record;
pub mod records;
pub mod report;
pub mod schema;
pub mod sqlserver;
pub mod suite_names;
pub mod summary;
pub mod text;
pub mod time;
pub mod verdict;
