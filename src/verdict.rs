//! What a verdict is: its code (one enum, every code listed once, in the order of a
//! handshake), who has to act, how sure it is, the frames that back it, its wording and the
//! risks seen on the way. The rules that choose a code live in `classify`; the help for each
//! code (`explain`, the README's verdict table) is reached from the enum by an exhaustive
//! match there, so a code cannot be added without its help.

use serde::{Deserialize, Serialize};

/// Declares an enum of stable snake_case codes: the enum, `ALL` in declaration order,
/// `as_str`, `from_name`, and serde through the spelling (an unknown code read back is an
/// error naming it). Ordered by spelling, as the reports list codes.
macro_rules! codes {
    ($(#[$meta:meta])* pub enum $name:ident ($what:literal) { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every code, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The code of that exact spelling.
            pub fn from_name(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl Ord for $name {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.as_str().cmp(other.as_str())
            }
        }

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::from_name(&text)
                    .ok_or_else(|| serde::de::Error::custom(format!("unknown {} {:?}", $what, text)))
            }
        }
    };
}

codes! {
    /// A connection's verdict code (README, "Verdicts").
    pub enum Code ("verdict code") {
        Ok = "ok",
        OkResumed = "ok_resumed",
        SynTimeout = "syn_timeout",
        ConnectionRefused = "connection_refused",
        TcpHandshakeIncomplete = "tcp_handshake_incomplete",
        ResetBeforeClientHello = "reset_before_client_hello",
        ClosedBeforeClientHello = "closed_before_client_hello",
        ClientNotTls = "client_not_tls",
        ServerNotTls = "server_not_tls",
        RstWithoutServerHello = "rst_without_server_hello",
        ClosedWithoutServerHello = "closed_without_server_hello",
        NoServerHello = "no_server_hello",
        ProtocolMismatch = "protocol_mismatch",
        CipherMismatch = "cipher_mismatch",
        CertificateRejected = "certificate_rejected",
        ClientCertificateRequired = "client_certificate_required",
        AbortedAfterServerHello = "aborted_after_server_hello",
        ClosedAfterHandshake = "closed_after_handshake",
        FailedAfterKeyExchange = "failed_after_key_exchange",
        FatalAlert = "fatal_alert",
        FtpsDataNotResumed = "ftps_data_not_resumed",
        TdsEncryptionMismatch = "tds_encryption_mismatch",
        TdsUnencrypted = "tds_unencrypted",
        IncompleteCapture = "incomplete_capture",
        Abandoned = "abandoned",
        NotTls = "not_tls",
    }
}

impl Code {
    /// True for every code that means the handshake worked.
    pub fn is_ok(self) -> bool {
        matches!(self, Code::Ok | Code::OkResumed)
    }

    /// True for a code that means the handshake failed: not ok, not "cannot tell", not "not
    /// TLS". A handshake that completed before the client hung up (`closed_after_handshake`)
    /// did not fail as far as the packets prove.
    pub fn is_failure(self) -> bool {
        !matches!(
            self,
            Code::Ok
                | Code::OkResumed
                | Code::IncompleteCapture
                | Code::NotTls
                | Code::TdsUnencrypted
                | Code::Abandoned
                | Code::ClosedAfterHandshake
        )
    }

    /// The failure counts of per-code totals.
    pub fn failures_in<'a>(counts: impl IntoIterator<Item = (&'a Code, &'a u64)>) -> u64 {
        counts.into_iter().filter(|(code, _)| code.is_failure()).map(|(_, n)| n).sum()
    }
}

codes! {
    /// A weakness reported even on a successful handshake (README, "Risks").
    pub enum RiskCode ("risk code") {
        DeprecatedProtocol = "deprecated_protocol",
        WeakCipher = "weak_cipher",
        DheWithoutEms = "dhe_without_ems",
        ResumptionWithoutEms = "resumption_without_ems",
        CertificateExpired = "certificate_expired",
        CertificateNotYetValid = "certificate_not_yet_valid",
        CertificateNameMismatch = "certificate_name_mismatch",
        CertificateWrongUsage = "certificate_wrong_usage",
        WeakSignature = "weak_signature",
        ShortKey = "short_key",
        SelfSignedCertificate = "self_signed_certificate",
        CertificateUnparsable = "certificate_unparsable",
        CertificateExpiringSoon = "certificate_expiring_soon",
        LoginUnencrypted = "login_unencrypted",
        DataUnencrypted = "data_unencrypted",
    }
}

codes! {
    /// A finding about a server over many connections (README, "Server findings").
    pub enum FindingCode ("finding code") {
        ListenerOverloaded = "listener_overloaded",
        IntermittentHandshakeFailure = "intermittent_handshake_failure",
        ResumptionFallbackCertificateRequest = "resumption_fallback_certificate_request",
    }
}

/// What `explain` and the README explain: a verdict code or a server finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    Verdict(Code),
    Finding(FindingCode),
}

impl std::fmt::Display for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// Topics sort by their spelling, as the reports list them.
impl Ord for Topic {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name().cmp(other.name())
    }
}

impl PartialOrd for Topic {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl serde::Serialize for Topic {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl Topic {
    /// Every topic: the verdicts in the order of a handshake, then the server findings.
    pub fn all() -> impl Iterator<Item = Topic> {
        Code::ALL.iter().map(|&c| Topic::Verdict(c)).chain(FindingCode::ALL.iter().map(|&f| Topic::Finding(f)))
    }

    pub fn from_name(name: &str) -> Option<Topic> {
        Code::from_name(name).map(Topic::Verdict).or_else(|| FindingCode::from_name(name).map(Topic::Finding))
    }

    pub fn name(self) -> &'static str {
        match self {
            Topic::Verdict(c) => c.as_str(),
            Topic::Finding(f) => f.as_str(),
        }
    }
}

/// Who has to change something.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fault {
    #[default]
    None,
    Client,
    Server,
    Network,
    Unknown,
}

impl Fault {
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Client => "client",
            Fault::Server => "server",
            Fault::Network => "network",
            Fault::Unknown => "unknown",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// An explicit alert or TCP fact.
    #[default]
    Certain,
    /// Inferred (from other connections or from record sizes).
    Likely,
    Possible,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Certain => "certain",
            Confidence::Likely => "likely",
            Confidence::Possible => "possible",
        }
    }
}

/// A frame that backs the verdict, with what it shows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Evidence {
    #[serde(skip_serializing_if = "crate::schema::is_default")]
    pub frame: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub what: String,
}

/// A weakness reported even on a successful handshake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Risk {
    pub code: RiskCode,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub explanation: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub code: Code,
    pub side: Fault,
    pub confidence: Confidence,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub explanation: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hint: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub risks: Vec<Risk>,
}

impl Verdict {
    pub fn new(code: Code, side: Fault, confidence: Confidence) -> Self {
        Verdict {
            code,
            side,
            confidence,
            evidence: Vec::new(),
            explanation: String::new(),
            hint: String::new(),
            risks: Vec::new(),
        }
    }

    pub fn because(mut self, explanation: impl Into<String>) -> Self {
        self.explanation = explanation.into();
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = hint.into();
        self
    }

    /// Adds an evidence frame, when there is one.
    pub fn frame(mut self, frame: Option<u64>, what: impl Into<String>) -> Self {
        if let Some(frame) = frame {
            self.evidence.push(Evidence { frame, what: what.into() });
        }
        self
    }

    /// This verdict sharpened by what other connections showed: a code, side and confidence
    /// of its own, this verdict's evidence and risks kept; its words are the caller's.
    pub fn sharpened(&self, code: Code, side: Fault, confidence: Confidence) -> Verdict {
        Verdict { evidence: self.evidence.clone(), risks: self.risks.clone(), ..Verdict::new(code, side, confidence) }
    }

    /// Adds evidence from other connections, keeping capture order.
    pub fn with_evidence(mut self, more: Vec<Evidence>) -> Self {
        self.evidence.extend(more);
        self.evidence.sort_by_key(|e| e.frame);
        self
    }

    pub fn is_ok(&self) -> bool {
        self.code.is_ok()
    }

    pub fn is_failure(&self) -> bool {
        self.code.is_failure()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_from_its_spelling_and_nothing_else_does() {
        for &code in Code::ALL {
            assert_eq!(Code::from_name(code.as_str()), Some(code));
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(serde_json::from_str::<Code>(&json).unwrap(), code);
        }
        assert_eq!(Code::from_name("Cipher_Mismatch"), None);
        let err = serde_json::from_str::<Code>("\"cipher_mismatched\"").unwrap_err().to_string();
        assert!(err.contains("unknown verdict code \"cipher_mismatched\""), "{err}");
        for &risk in RiskCode::ALL {
            assert_eq!(RiskCode::from_name(risk.as_str()), Some(risk));
        }
    }

    #[test]
    fn codes_sort_by_spelling_as_reports_list_them() {
        let mut codes = Code::ALL.to_vec();
        codes.sort();
        let spellings: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
        let mut sorted = spellings.clone();
        sorted.sort_unstable();
        assert_eq!(spellings, sorted);
    }

    #[test]
    fn ok_codes_are_never_failures_and_mismatches_always_are() {
        for &code in Code::ALL {
            assert!(!(code.is_ok() && code.is_failure()), "{code}");
        }
        assert!(Code::CipherMismatch.is_failure() && Code::SynTimeout.is_failure());
        assert!(!Code::ClosedAfterHandshake.is_failure() && !Code::IncompleteCapture.is_failure());
    }
}
