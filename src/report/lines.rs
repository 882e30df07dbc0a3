//! `--format lines`: one line of text per connection, flushed as soon as it is written (for
//! live capture and for `grep`), then the counts per verdict.

use super::{is_shown, Reporter};
use crate::across::Conclusions;
use crate::facts::Encapsulation;
use crate::record::Connection;
use crate::summary::{totals, FileSummary};
use crate::time::rfc3339_nanos;
use std::io::{self, Write};

pub struct LineReporter {
    out: Box<dyn Write>,
    all: bool,
}

impl LineReporter {
    pub fn new(out: Box<dyn Write>, all: bool) -> Self {
        LineReporter { out, all }
    }
}

impl Reporter for LineReporter {
    fn connection(&mut self, c: Connection) -> io::Result<()> {
        if !is_shown(&c, self.all) {
            return Ok(());
        }
        let v = &c.verdict;
        let frames: Vec<String> = v.evidence.iter().map(|e| format!("{} {}", e.frame, e.what)).collect();
        writeln!(
            self.out,
            "{} {} -> {} {}{} ({}, at fault: {}): {} [frames: {}]",
            rfc3339_nanos(c.facts.start),
            c.facts.client,
            c.facts.server,
            v.code,
            match c.facts.encapsulation {
                Some(Encapsulation::Tds) => " [tds]",
                Some(Encapsulation::Openvpn) => " [openvpn]",
                Some(Encapsulation::Prologue) => " [prologue]",
                _ => "",
            },
            v.confidence.as_str(),
            v.side.as_str(),
            v.explanation,
            frames.join("; ")
        )?;
        self.out.flush()
    }

    fn finish(&mut self, files: &[FileSummary], profiles: &Conclusions) -> io::Result<()> {
        // The lines come as connections settle; the summary leads with the problems.
        writeln!(self.out)?;
        super::write_problems(&mut self.out, profiles.problems())?;
        writeln!(self.out)?;
        let t = totals(files);
        writeln!(self.out, "{} connection(s), {} frame(s)", t.connections, t.frames)?;
        if t.evicted > 0 {
            writeln!(self.out, "{}", super::evicted_words(t.evicted))?;
        }
        if t.lost_packets > 0 {
            writeln!(self.out, "{}", super::loss_words(t.lost_packets, t.verdicts_affected_by_loss))?;
        }
        for (code, n) in &t.verdicts {
            writeln!(self.out, "  {code:<28} {n}")?;
        }
        self.out.flush()
    }
}
