//! SQL Server builds: the VERSION a server's PRELOGIN response carries (major.minor.build), as
//! the product, release (RTM or service pack) and patch level an administrator knows, and what
//! that build needs to speak TLS 1.2. Only the server side maps: a client's PRELOGIN version is
//! its driver's (FreeTDS sends its library version, 9.0.0 say), not a SQL Server's.
//!
//! The TLS 1.2 minimums are Microsoft's public "TLS 1.2 support for Microsoft SQL Server" table
//! (KB3135244): SQL Server 2016 and later have TLS 1.2 from RTM; 2008 to 2014 need a TLS 1.2
//! update (a GDR or a cumulative update) or a later service pack; 2005 and older have none.
//! The service pack builds are those of Microsoft's SQL Server build lists.

use std::fmt;

/// A release (RTM or service pack) of one SQL Server version.
struct Release {
    major: u32,
    minor: u32,
    /// First build of the release.
    build: u32,
    product: &'static str,
    release: &'static str,
    tls12: Tls12,
}

/// What a release needs for TLS 1.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tls12 {
    /// Every build of the release has it.
    Yes,
    /// Builds from the first number on have it (the TLS 1.2 update of the cumulative-update
    /// line); builds from the second (the GDR line's update, lower) to the first may have it,
    /// depending on the line the server follows. `0` when the release has only one line.
    From { cu: u32, gdr: u32, update: &'static str },
    /// No build of the release has it: a later service pack is needed.
    NeedsServicePack(&'static str),
    /// The version never got TLS 1.2.
    Never,
}

const RELEASES: &[Release] = &[
    Release { major: 8, minor: 0, build: 0, product: "SQL Server 2000", release: "", tls12: Tls12::Never },
    Release { major: 9, minor: 0, build: 0, product: "SQL Server 2005", release: "", tls12: Tls12::Never },
    Release { major: 10, minor: 0, build: 1600, product: "SQL Server 2008", release: "RTM", tls12: Tls12::NeedsServicePack("SP4 (10.0.6000) with the TLS 1.2 update 10.0.6547.0") },
    Release { major: 10, minor: 0, build: 2531, product: "SQL Server 2008", release: "SP1", tls12: Tls12::NeedsServicePack("SP4 (10.0.6000) with the TLS 1.2 update 10.0.6547.0") },
    Release { major: 10, minor: 0, build: 4000, product: "SQL Server 2008", release: "SP2", tls12: Tls12::NeedsServicePack("SP4 (10.0.6000) with the TLS 1.2 update 10.0.6547.0") },
    Release { major: 10, minor: 0, build: 5500, product: "SQL Server 2008", release: "SP3", tls12: Tls12::NeedsServicePack("SP4 (10.0.6000) with the TLS 1.2 update 10.0.6547.0 (SP3 had TLS 1.2 updates for IA-64 only)") },
    Release { major: 10, minor: 0, build: 6000, product: "SQL Server 2008", release: "SP4", tls12: Tls12::From { cu: 6547, gdr: 6547, update: "the TLS 1.2 update 10.0.6547.0" } },
    Release { major: 10, minor: 50, build: 1600, product: "SQL Server 2008 R2", release: "RTM", tls12: Tls12::NeedsServicePack("SP3 (10.50.6000) with the TLS 1.2 update 10.50.6542.0") },
    Release { major: 10, minor: 50, build: 2500, product: "SQL Server 2008 R2", release: "SP1", tls12: Tls12::NeedsServicePack("SP3 (10.50.6000) with the TLS 1.2 update 10.50.6542.0") },
    Release { major: 10, minor: 50, build: 4000, product: "SQL Server 2008 R2", release: "SP2", tls12: Tls12::NeedsServicePack("SP3 (10.50.6000) with the TLS 1.2 update 10.50.6542.0 (SP2 had TLS 1.2 updates for IA-64 only)") },
    Release { major: 10, minor: 50, build: 6000, product: "SQL Server 2008 R2", release: "SP3", tls12: Tls12::From { cu: 6542, gdr: 6542, update: "the TLS 1.2 update 10.50.6542.0" } },
    Release { major: 11, minor: 0, build: 2100, product: "SQL Server 2012", release: "RTM", tls12: Tls12::NeedsServicePack("SP2 with the TLS 1.2 update (11.0.5352.0 GDR or 11.0.5644.2 CU10), SP3 with it (11.0.6216.27 GDR or 11.0.6518.0 CU1), or SP4 (11.0.7001)") },
    Release { major: 11, minor: 0, build: 3000, product: "SQL Server 2012", release: "SP1", tls12: Tls12::NeedsServicePack("SP2 with the TLS 1.2 update (11.0.5352.0 GDR or 11.0.5644.2 CU10), SP3 with it (11.0.6216.27 GDR or 11.0.6518.0 CU1), or SP4 (11.0.7001)") },
    Release { major: 11, minor: 0, build: 5058, product: "SQL Server 2012", release: "SP2", tls12: Tls12::From { cu: 5644, gdr: 5352, update: "the TLS 1.2 update (11.0.5352.0 GDR or 11.0.5644.2 CU10)" } },
    Release { major: 11, minor: 0, build: 6020, product: "SQL Server 2012", release: "SP3", tls12: Tls12::From { cu: 6518, gdr: 6216, update: "the TLS 1.2 update (11.0.6216.27 GDR or 11.0.6518.0 CU1)" } },
    Release { major: 11, minor: 0, build: 7001, product: "SQL Server 2012", release: "SP4", tls12: Tls12::Yes },
    Release { major: 12, minor: 0, build: 2000, product: "SQL Server 2014", release: "RTM", tls12: Tls12::From { cu: 2564, gdr: 2271, update: "the TLS 1.2 update (12.0.2271.0 GDR or 12.0.2564.0 CU12)" } },
    Release { major: 12, minor: 0, build: 4100, product: "SQL Server 2014", release: "SP1", tls12: Tls12::From { cu: 4439, gdr: 4219, update: "the TLS 1.2 update (12.0.4219.0 GDR or 12.0.4439.1 CU5)" } },
    Release { major: 12, minor: 0, build: 5000, product: "SQL Server 2014", release: "SP2", tls12: Tls12::Yes },
    Release { major: 12, minor: 0, build: 6024, product: "SQL Server 2014", release: "SP3", tls12: Tls12::Yes },
    Release { major: 13, minor: 0, build: 1601, product: "SQL Server 2016", release: "RTM", tls12: Tls12::Yes },
    Release { major: 13, minor: 0, build: 4001, product: "SQL Server 2016", release: "SP1", tls12: Tls12::Yes },
    Release { major: 13, minor: 0, build: 5026, product: "SQL Server 2016", release: "SP2", tls12: Tls12::Yes },
    Release { major: 13, minor: 0, build: 6300, product: "SQL Server 2016", release: "SP3", tls12: Tls12::Yes },
    Release { major: 14, minor: 0, build: 1000, product: "SQL Server 2017", release: "RTM", tls12: Tls12::Yes },
    Release { major: 15, minor: 0, build: 2000, product: "SQL Server 2019", release: "RTM", tls12: Tls12::Yes },
    Release { major: 16, minor: 0, build: 1000, product: "SQL Server 2022", release: "RTM", tls12: Tls12::Yes },
    Release { major: 17, minor: 0, build: 1000, product: "SQL Server 2025", release: "RTM", tls12: Tls12::Yes },
];

/// A SQL Server build as an administrator names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Build {
    /// `SQL Server 2008 R2`.
    pub product: &'static str,
    /// `RTM`, `SP3`; empty for versions listed without their service packs.
    pub release: &'static str,
    /// True when the build is past the release's first build (a GDR or cumulative update).
    pub updated: bool,
    /// The build as given, `10.50.1600`.
    pub version: String,
    /// Whether this build speaks TLS 1.2, and what it needs otherwise.
    pub tls12: Tls12Support,
}

/// Whether a build speaks TLS 1.2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tls12Support {
    Yes,
    /// It may: the GDR line's update is in, the cumulative-update line's is not.
    Depends(String),
    /// It does not; the string says what it needs.
    Needs(String),
    Never,
}

/// The build of a server's PRELOGIN VERSION (`major.minor.build`, a fourth part ignored), or
/// None for a version this table does not know (a newer major version, a non-SQL Server peer).
pub fn build(version: &str) -> Option<Build> {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    let (major, minor, number) = (parts.next()??, parts.next()??, parts.next()??);
    let release = RELEASES.iter().rev().find(|r| r.major == major && r.minor == minor && r.build <= number)?;
    let tls12 = match release.tls12 {
        Tls12::Yes => Tls12Support::Yes,
        Tls12::Never => Tls12Support::Never,
        Tls12::NeedsServicePack(what) => Tls12Support::Needs(what.to_string()),
        Tls12::From { cu, .. } if number >= cu => Tls12Support::Yes,
        Tls12::From { cu, gdr, .. } if number >= gdr => Tls12Support::Depends(format!(
            "the GDR line has it from {major}.{minor}.{gdr}, the cumulative-update line only from {major}.{minor}.{cu}"
        )),
        Tls12::From { update, .. } => Tls12Support::Needs(update.to_string()),
    };
    Some(Build {
        product: release.product,
        release: release.release,
        updated: number > release.build && !release.release.is_empty(),
        version: version.to_string(),
        tls12,
    })
}

impl Build {
    /// `SQL Server 2008 R2 RTM`, `SQL Server 2014 SP1 with updates`.
    pub fn name(&self) -> String {
        let mut out = self.product.to_string();
        if !self.release.is_empty() {
            out.push(' ');
            out.push_str(self.release);
        }
        if self.updated {
            out.push_str(" with updates");
        }
        out
    }

    /// `TLS 1.2 supported`, `TLS 1.2 needs ...`.
    pub fn tls12_words(&self) -> String {
        match &self.tls12 {
            Tls12Support::Yes => "TLS 1.2 supported".into(),
            Tls12Support::Depends(what) => format!("TLS 1.2 depends on the update line ({what})"),
            Tls12Support::Needs(what) => format!("TLS 1.2 needs {what}"),
            Tls12Support::Never => "no TLS 1.2 in any build (upgrade to SQL Server 2016 or later)".into(),
        }
    }
}

impl fmt::Display for Build {
    /// `SQL Server 2008 R2 RTM (10.50.1600): TLS 1.2 needs SP3 (10.50.6000) with the TLS 1.2
    /// update 10.50.6542.0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.name(), self.version, self.tls12_words())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(version: &str) -> String {
        build(version).unwrap_or_else(|| panic!("{version} unknown")).to_string()
    }

    #[test]
    fn rtm_builds_of_each_version() {
        // RTM builds as Microsoft's build lists give them.
        assert_eq!(
            named("10.50.1600"),
            "SQL Server 2008 R2 RTM (10.50.1600): TLS 1.2 needs SP3 (10.50.6000) with the TLS 1.2 update 10.50.6542.0"
        );
        assert!(named("11.0.2100").starts_with("SQL Server 2012 RTM (11.0.2100): TLS 1.2 needs SP2 with"));
        assert_eq!(named("13.0.1601"), "SQL Server 2016 RTM (13.0.1601): TLS 1.2 supported");
        assert_eq!(named("14.0.1000"), "SQL Server 2017 RTM (14.0.1000): TLS 1.2 supported");
        assert_eq!(named("15.0.2000"), "SQL Server 2019 RTM (15.0.2000): TLS 1.2 supported");
        assert_eq!(named("16.0.1000"), "SQL Server 2022 RTM (16.0.1000): TLS 1.2 supported");
        // A fourth part (the revision some tools print) does not change the release.
        assert_eq!(build("10.0.1600.22").map(|b| b.release), Some("RTM"));
        assert!(named("10.0.1600").starts_with("SQL Server 2008 RTM"));
    }

    #[test]
    fn service_packs_and_updates_against_the_tls12_table() {
        // KB3135244's builds: 2014 SP1 CU5 12.0.4439.1 and GDR 12.0.4219.0; 2012 SP3 GDR
        // 11.0.6216.27 and CU1 11.0.6518.0; 2008 R2 SP3 10.50.6542.0; 2008 SP4 10.0.6547.0.
        assert_eq!(
            build("12.0.4100").unwrap().tls12,
            Tls12Support::Needs("the TLS 1.2 update (12.0.4219.0 GDR or 12.0.4439.1 CU5)".into())
        );
        assert!(matches!(build("12.0.4300").unwrap().tls12, Tls12Support::Depends(_)));
        assert_eq!(build("12.0.4439").unwrap().tls12, Tls12Support::Yes);
        assert_eq!(named("12.0.4439"), "SQL Server 2014 SP1 with updates (12.0.4439): TLS 1.2 supported");
        assert_eq!(build("12.0.5000").unwrap().release, "SP2");
        assert_eq!(build("12.0.5000").unwrap().tls12, Tls12Support::Yes);
        assert_eq!(build("11.0.6518").unwrap().tls12, Tls12Support::Yes);
        assert_eq!(build("11.0.6020").unwrap().release, "SP3");
        assert!(matches!(build("11.0.6020").unwrap().tls12, Tls12Support::Needs(_)));
        assert_eq!(build("11.0.7001").unwrap().tls12, Tls12Support::Yes);
        assert_eq!(build("10.50.6542").unwrap().tls12, Tls12Support::Yes);
        assert!(matches!(build("10.50.6000").unwrap().tls12, Tls12Support::Needs(_)));
        assert_eq!(build("10.0.6547").unwrap().tls12, Tls12Support::Yes);
        assert!(named("10.50.4000").contains("SP2") && named("10.50.4000").contains("IA-64 only"));
        assert_eq!(build("9.0.5000").unwrap().tls12, Tls12Support::Never);
    }

    #[test]
    fn unknown_versions_are_not_guessed() {
        assert_eq!(build("18.0.100"), None);
        assert_eq!(build("10.25.1600"), None);
        assert_eq!(build("16.0"), None);
        assert_eq!(build("x.y.z"), None);
    }
}
