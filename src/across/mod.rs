//! The passes across connections: what one connection cannot tell and many together can.
//! Each pass sees every settled connection's record (with its own verdict), may ask that a
//! verdict wait for the end, sharpens the verdicts that waited, sees every final verdict,
//! and concludes with findings. They read records only (the DNS answers are in them), so the
//! same passes run over the records of one capture, of an archive, or of many machines
//! merged (`tlsdiag findings`, the Spark job). A new rule across connections is a new file
//! here and one line in [`Passes::new`].
//!
//! - [`profile`]: what each server did with all its clients; names the side at fault of a
//!   refusal from what the server chose for others.
//! - [`revocation`]: a certificate rejected because its CRL or OCSP URL could not be reached.
//! - [`findings`]: server findings (an overloaded listener, intermittent failures, refused
//!   resumption).
//! - [`problems`]: failing connections grouped by code, server and cause.

pub mod findings;
pub mod problems;
pub mod profile;
pub mod revocation;

use crate::record::Connection;
use problems::Problem;
use profile::ServerProfile;
use std::collections::BTreeMap;

/// One rule across connections.
pub trait Pass {
    /// A settled connection with its own verdict, before any pass sharpened it.
    fn observe(&mut self, _c: &Connection) {}
    /// True when this pass may change the connection's verdict once every connection has
    /// been seen: the connection then waits for the end (never in live capture).
    fn may_sharpen(&self, _c: &Connection) -> bool {
        false
    }
    /// Sharpens the verdict of a connection that waited, with what every connection showed.
    fn sharpen(&self, _c: &mut Connection) {}
    /// A connection's final verdict, as reported.
    fn settled(&mut self, _c: &Connection) {}
    /// After the last connection: adds what this pass concludes, in pass order.
    fn conclude(&mut self, _out: &mut Conclusions) {}
}

/// What the passes conclude about a run: the server profiles and the problems.
#[derive(Default)]
pub struct Conclusions {
    pub servers: BTreeMap<String, ServerProfile>,
    pub problems: Vec<Problem>,
}

impl Conclusions {
    /// The problems of the run, largest first.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Server profiles in address order.
    pub fn servers(&self) -> impl Iterator<Item = &ServerProfile> {
        self.servers.values()
    }
}

/// Every pass, in the order they sharpen and conclude (problems last: they group the
/// findings the others drew).
pub struct Passes {
    passes: Vec<Box<dyn Pass + Send>>,
}

impl Default for Passes {
    fn default() -> Self {
        Passes::new()
    }
}

impl Passes {
    pub fn new() -> Self {
        Passes {
            passes: vec![
                Box::<profile::Profiles>::default(),
                Box::<revocation::RevocationChecks>::default(),
                Box::<findings::Collector>::default(),
                Box::<problems::Problems>::default(),
            ],
        }
    }

    pub fn observe(&mut self, c: &Connection) {
        self.passes.iter_mut().for_each(|p| p.observe(c));
    }

    pub fn may_sharpen(&self, c: &Connection) -> bool {
        self.passes.iter().any(|p| p.may_sharpen(c))
    }

    /// Sharpens a connection that waited; keeps its own verdict beside the new one, so that
    /// its record read back (`tlsdiag findings`) starts again from the same point.
    pub fn sharpen(&self, c: &mut Connection) {
        let own = c.verdict.clone();
        self.passes.iter().for_each(|p| p.sharpen(c));
        if c.verdict != own {
            c.unsharpened_verdict = Some(Box::new(own));
        }
    }

    pub fn settled(&mut self, c: &Connection) {
        self.passes.iter_mut().for_each(|p| p.settled(c));
    }

    pub fn conclude(mut self) -> Conclusions {
        let mut out = Conclusions::default();
        self.passes.iter_mut().for_each(|p| p.conclude(&mut out));
        out
    }
}
