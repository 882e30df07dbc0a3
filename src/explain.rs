//! The symptom index behind `tlsdiag explain`: from what a user arrives with (a verdict code,
//! a TLS alert name or number, a Windows error code, an Schannel event ID) to the verdicts that
//! correspond, what to look for in the capture, and the fix on Windows and on OpenSSL-based
//! peers. The README's verdict table is generated from the same entries (`explain --markdown`).

use crate::names;
pub use crate::verdict::Topic;
use crate::verdict::{Code, FindingCode};

/// What one verdict means, how to fix it, and what a Windows client shows for it.
pub struct VerdictHelp {
    pub meaning: &'static str,
    pub look_for: &'static str,
    pub windows: &'static str,
    pub openssl: &'static str,
    /// Where the TLS stacks other than Schannel and OpenSSL set what the code is about, and
    /// how each one fails (from the stack captures of tests/fixtures); "-" when none differ.
    pub stacks: &'static str,
    /// What a Windows client (Schannel, SqlClient, .NET) typically shows for it, so the error
    /// on the user's screen can be matched to the capture; "-" when nothing failed.
    pub client_error: &'static str,
}

impl Topic {
    pub fn help(self) -> &'static VerdictHelp {
        match self {
            Topic::Verdict(c) => verdict_help(c),
            Topic::Finding(f) => finding_help(f),
        }
    }
}

/// What a verdict code means and how to fix it: an exhaustive match, so that a new code
/// cannot exist without its help.
pub fn verdict_help(code: Code) -> &'static VerdictHelp {
    match code {
        Code::Ok => &VerdictHelp {
            meaning: "The handshake completed (both Finished messages seen).",
            look_for: "ServerHello for the version and suite; risks for weak ones.",
            windows: "-",
            openssl: "-",
            stacks: "-",
            client_error: "-",
        },
        Code::OkResumed => &VerdictHelp {
            meaning: "An abbreviated handshake resumed an earlier session.",
            look_for: "The session ID or ticket the ServerHello accepted.",
            windows: "-",
            openssl: "-",
            stacks: "-",
            client_error: "-",
        },
        Code::SynTimeout => &VerdictHelp {
            meaning: "SYNs never answered.",
            look_for: "SYN retransmissions and no SYN-ACK.",
            windows: "Test-NetConnection host -Port N; Windows Firewall and network firewalls; the service is running and listening (netstat -ano).",
            openssl: "Firewall (nft list ruleset, iptables -L), ss -ltn on the server.",
            stacks: "-",
            client_error: "10060 WSAETIMEDOUT \"A connection attempt failed because the connected party did not properly respond after a period of time\"; SqlClient: \"A network-related or instance-specific error occurred while establishing a connection to SQL Server\"",
        },
        Code::ConnectionRefused => &VerdictHelp {
            meaning: "The SYN was answered with a reset: nothing listens on the port.",
            look_for: "SYN then RST-ACK from the server.",
            windows: "The service is stopped or bound to another port/IP (netstat -ano; SQL Server Configuration Manager, TCP/IP properties).",
            openssl: "ss -ltnp on the server; the port in the client's URL or connection string.",
            stacks: "-",
            client_error: "10061 WSAECONNREFUSED \"No connection could be made because the target machine actively refused it\"",
        },
        Code::TcpHandshakeIncomplete => &VerdictHelp {
            meaning: "The SYN-ACK never reached the client (or its ACK never came back).",
            look_for: "Repeated SYN-ACKs without the client's ACK.",
            windows: "Asymmetric routing, a stateful firewall dropping the return path.",
            openssl: "Same: capture on both sides to find where the SYN-ACK is lost.",
            stacks: "-",
            client_error: "10060 WSAETIMEDOUT \"A connection attempt failed because the connected party did not properly respond after a period of time\"",
        },
        Code::ResetBeforeClientHello => &VerdictHelp {
            meaning: "The TCP connection opened and was reset before any ClientHello (after PRELOGIN for SQL Server).",
            look_for: "The RST's sender and how soon it came after the handshake.",
            windows: "An overloaded listener (SQL Server: the error log, connection backlog), a filter driver or a wrong service on the port.",
            openssl: "The listening process's logs and accept backlog (ss -ltn Recv-Q).",
            stacks: "-",
            client_error: "10054 WSAECONNRESET \"An existing connection was forcibly closed by the remote host\"; SqlClient: \"A connection was successfully established with the server, but then an error occurred during the pre-login handshake\"",
        },
        Code::ClosedBeforeClientHello => &VerdictHelp {
            meaning: "The TCP connection opened and closed without a ClientHello.",
            look_for: "Who sent the first FIN.",
            windows: "A client that gave up, or a service that closed at once (its logs).",
            openssl: "Same.",
            stacks: "-",
            client_error: "SqlClient: \"A connection was successfully established with the server, but then an error occurred during the pre-login handshake\"; .NET: \"Authentication failed because the remote party has closed the transport stream\"",
        },
        Code::ClientNotTls => &VerdictHelp {
            meaning: "The client spoke another protocol (plain HTTP, unencrypted TDS) to a TLS service.",
            look_for: "The client's first bytes (shown as text) and the server's answer or silent close.",
            windows: "https:// in the client's URL; Encrypt=strict for a TDS 8.0 SQL Server; the SSTP client's server name and port.",
            openssl: "The client's scheme and port; STARTTLS clients on an implicit-TLS port.",
            stacks: "A Java (JSSE) server answers non-TLS bytes with a 7-byte plaintext unexpected_message alert; nginx answers plain HTTP with 400 \"The plain HTTP request was sent to HTTPS port\"; OpenSSL-based servers close without a byte.",
            client_error: "None from Schannel: the client did not speak TLS; it reports its own protocol's failure (a closed connection, an HTTP 400).",
        },
        Code::ServerNotTls => &VerdictHelp {
            meaning: "The server answered the ClientHello with something that is not TLS.",
            look_for: "The server's answer, shown as text (an HTTP 400 page, a banner).",
            windows: "netstat -ano to find the process holding the port; netsh http show sslcert for HTTP.sys bindings; the IIS site's https binding.",
            openssl: "ss -ltnp for the process on the port; its TLS configuration (listen ... ssl in nginx).",
            stacks: "-",
            client_error: "0x80090326 SEC_E_ILLEGAL_MESSAGE \"The message received was unexpected or badly formatted\"",
        },
        Code::RstWithoutServerHello => &VerdictHelp {
            meaning: "The ClientHello was answered by a reset, without ServerHello or alert.",
            look_for: "ClientHello versions and suites against what the server accepts elsewhere (server profile).",
            windows: "Schannel protocols and cipher suites: Get-TlsCipherSuite, IISCrypto or the SCHANNEL\\Protocols registry keys; System log events 36874/36888.",
            openssl: "openssl s_client -connect host:port -tls1_2 / -cipher to probe; ssl_protocols and ssl_ciphers of the server.",
            stacks: "-",
            client_error: "10054 WSAECONNRESET \"An existing connection was forcibly closed by the remote host\" (SqlClient: during the pre-login handshake)",
        },
        Code::ClosedWithoutServerHello => &VerdictHelp {
            meaning: "The ClientHello was answered by a close, without ServerHello.",
            look_for: "As for rst_without_server_hello.",
            windows: "As for rst_without_server_hello.",
            openssl: "As for rst_without_server_hello.",
            stacks: "-",
            client_error: ".NET: \"Authentication failed because the remote party has closed the transport stream\"; SqlClient: \"... an error occurred during the pre-login handshake\"",
        },
        Code::NoServerHello => &VerdictHelp {
            meaning: "The ClientHello got no answer before the capture or connection ended.",
            look_for: "The server's ACK of the ClientHello, and silence.",
            windows: "A hung or overloaded service; a middlebox swallowing the hello.",
            openssl: "Same.",
            stacks: "-",
            client_error: "SqlClient: \"Connection Timeout Expired. The timeout period elapsed while attempting to consume the pre-login handshake acknowledgement\"; other clients 10060 WSAETIMEDOUT",
        },
        Code::ProtocolMismatch => &VerdictHelp {
            meaning: "No TLS version both sides enable.",
            look_for: "ClientHello supported_versions against the server's protocol_version alert or its versions with other clients.",
            windows: "SCHANNEL\\Protocols\\TLS 1.2\\Client|Server Enabled=1; .NET SchUseStrongCrypto=1 / SystemDefaultTlsVersions=1; SQL Server and driver TLS 1.2 updates.",
            openssl: "MinProtocol in openssl.cnf (system_default), ssl_protocols; openssl s_client -tls1_2.",
            stacks: "Java: jdk.tls.client.protocols, jdk.tls.server.protocols, jdk.tls.disabledAlgorithms in java.security, SSLParameters.setProtocols; Go: tls.Config MinVersion and MaxVersion; Node: minVersion and maxVersion (--tls-min-v1.2); Python: SSLContext.minimum_version; GnuTLS: the priority string (-VERS-ALL:+VERS-TLS1.2), and a GnuTLS server refuses a version it does not serve with handshake_failure (see cipher_mismatch).",
            client_error: "0x80090331 SEC_E_ALGORITHM_MISMATCH \"The client and server cannot communicate, because they do not possess a common algorithm\" (10054 when the server resets instead of answering)",
        },
        Code::CipherMismatch => &VerdictHelp {
            meaning: "No cipher suite both sides enable (0x80090331, \"do not possess a common algorithm\").",
            look_for: "The client's suite list against the server's handshake_failure or its choices with other clients.",
            windows: "Get-TlsCipherSuite / Enable-TlsCipherSuite, the SSL Cipher Suite Order group policy; an ECDSA certificate needs ECDSA suites.",
            openssl: "openssl ciphers -v 'LIST' on both sides; CipherString / ssl_ciphers; SECLEVEL.",
            stacks: "Java: jdk.tls.disabledAlgorithms in java.security, SSLParameters.setCipherSuites; Go: tls.Config CipherSuites (TLS 1.2 suites only; Go's TLS 1.3 suites are fixed); Node: the ciphers option (--tls-cipher-list); GnuTLS: the priority string. A GnuTLS server logs \"No supported cipher suites have been found\" and sends handshake_failure for a version mismatch too.",
            client_error: "0x80090331 SEC_E_ALGORITHM_MISMATCH \"The client and server cannot communicate, because they do not possess a common algorithm\"",
        },
        Code::CertificateRejected => &VerdictHelp {
            meaning: "The client refused the server's certificate (untrusted CA, wrong name, expired, bad EKU, revocation unchecked).",
            look_for: "The client's alert, and the certificate's problems listed in the explanation.",
            windows: "certlm.msc: the chain to a Trusted Root, Server Authentication EKU, the name clients use (SAN); certutil -verify -urlfetch cert.cer; SQL Server: the certificate chosen in Configuration Manager, Force Encryption, TrustServerCertificate.",
            openssl: "openssl s_client -connect host:port -servername name -verify_return_error; openssl verify -CAfile chain.pem cert.pem.",
            stacks: "Java: the trust store (javax.net.ssl.trustStore, keytool -importcert; \"PKIX path building failed\", \"No subject alternative DNS name matching\"); Go: tls.Config RootCAs and ServerName (\"x509: certificate signed by unknown authority\"); Node: the ca option or NODE_EXTRA_CA_CERTS (CERT_HAS_EXPIRED, ERR_TLS_CERT_ALTNAME_INVALID); Python: SSLContext.load_verify_locations; wget (GnuTLS): --ca-certificate.",
            client_error: "0x800B0109 CERT_E_UNTRUSTEDROOT \"The certificate chain was issued by an authority that is not trusted\"; 0x80090322 SEC_E_WRONG_PRINCIPAL \"The target principal name is incorrect\"; 0x80090328 SEC_E_CERT_EXPIRED \"The received certificate has expired\"; .NET: \"The remote certificate is invalid according to the validation procedure\"",
        },
        Code::ClientCertificateRequired => &VerdictHelp {
            meaning: "The server asked for a client certificate and got none or refused the one sent.",
            look_for: "CertificateRequest, the client's Certificate (empty or not), the server's alert.",
            windows: "The client certificate in the user/machine store with its private key and Client Authentication EKU, issued by a CA in the server's list (event 36885 when that list is too long).",
            openssl: "ssl_client_certificate / -CAfile on the server; -cert and -key on the client; openssl verify the client certificate.",
            stacks: "Java: javax.net.ssl.keyStore on the client, SSLParameters.setNeedClientAuth on the server (\"Empty client certificate chain\"); Go: tls.Config Certificates on the client, ClientAuth and ClientCAs on the server; Node: key and cert (or pfx) on the client, requestCert on the server; stunnel: requireCert and verifyChain; nginx: ssl_verify_client, which answers a missing certificate with HTTP 400 inside TLS, not with an alert.",
            client_error: "0x80090326 SEC_E_ILLEGAL_MESSAGE \"The message received was unexpected or badly formatted\" (the server's alert); 0x8009030D SEC_E_UNKNOWN_CREDENTIALS \"The credentials supplied to the package were not recognized\" when the client certificate's private key is unusable",
        },
        Code::AbortedAfterServerHello => &VerdictHelp {
            meaning: "TLS 1.3: one side gave up inside the encrypted handshake (usually the client rejecting the certificate, or the server rejecting the client's).",
            look_for: "Record sizes: a record smaller than any Finished of the suite (an alert: 19 bytes, 35 from Java, which pads) instead of a Finished, or an alert-sized answer to the client's Finished instead of a NewSessionTicket; capture with SSLKEYLOGFILE and --keylog to read it.",
            windows: "The client's error (0x800B0109 untrusted root, 0x800B010F name mismatch, 0x80092013 revocation offline); Schannel events 36882/36884 on the client.",
            openssl: "SSLKEYLOGFILE=/tmp/keys (curl, Python, Firefox, OpenSSL -keylogfile), then tlsdiag --keylog /tmp/keys.",
            stacks: "TLS 1.3 clients that reject the certificate: Java sends a 35-byte (padded) alert, Go, GnuTLS and OpenSSL a 19-byte one, Node closes without an alert and without its Finished. Key logs: Go tls.Config KeyLogWriter, Node the 'keylog' event, Python SSLContext.keylog_filename, curl and GnuTLS SSLKEYLOGFILE; Java has none built in.",
            client_error: "On the client that gave up, the certificate errors of certificate_rejected: 0x800B0109 \"The certificate chain was issued by an authority that is not trusted\", 0x80090322 \"The target principal name is incorrect\"",
        },
        Code::ClosedAfterHandshake => &VerdictHelp {
            meaning: "The handshake completed, then the client closed or reset the connection without a byte of data or an alert: clients that check the certificate after the handshake do this when they reject it (so do health checks).",
            look_for: "The client's FIN or RST right after the Finished messages, no application data from it; in TLS 1.2 the certificate's problems.",
            windows: "The client application's error; a load balancer's health check probing the port.",
            openssl: "The client's error message (wget: \"The certificate's owner does not match hostname\"); SSLKEYLOGFILE to see the TLS 1.3 certificate.",
            stacks: "Node.js tls checks the certificate after the handshake and destroys the socket (TLS 1.2; in TLS 1.3 it closes before its Finished); wget with GnuTLS resets the connection after the handshake; Go, Java and OpenSSL reject inside the handshake with an alert.",
            client_error: "-",
        },
        Code::FailedAfterKeyExchange => &VerdictHelp {
            meaning: "Both sides agreed on parameters, then the Finished did not verify (bad_record_mac, decrypt_error).",
            look_for: "The suite (DHE?), Extended Master Secret in both hellos, a device rewriting traffic.",
            windows: "DHE between Windows versions (leading-zero bug): prefer ECDHE, disable TLS_DHE_*; Extended Master Secret on both ends (Windows updates that bring RFC 7627 to Schannel).",
            openssl: "Prefer ECDHE; a middlebox or broken NIC offload altering bytes.",
            stacks: "-",
            client_error: "0x80090330 SEC_E_DECRYPT_FAILURE \"The specified data could not be decrypted\", or now and then 10054 \"An existing connection was forcibly closed by the remote host\" (the DHE leading-zero fault)",
        },
        Code::FatalAlert => &VerdictHelp {
            meaning: "A fatal alert not covered by a more specific verdict.",
            look_for: "The alert's sender and name (tlsdiag explain ALERT).",
            windows: "Schannel events 36887 (received) and 36888 (generated) carry the same alert number.",
            openssl: "The sender's log; openssl s_client -state -debug.",
            stacks: "A TLS 1.3 server that aborts after its own flight (a second ClientHello on the connection, say) sends one encrypted alert-sized record: 19 bytes, 35 from Java.",
            client_error: "0x80090326 SEC_E_ILLEGAL_MESSAGE \"The message received was unexpected or badly formatted\" (the alert received; the System log's Schannel event 36887 names it)",
        },
        Code::FtpsDataNotResumed => &VerdictHelp {
            meaning: "An FTPS data connection began a new TLS session instead of resuming the control connection's; servers that require reuse refuse it (522 on the encrypted control connection).",
            look_for: "tls.ftps_control (the control connection), tls.resumption (what the client offered) and the ServerHello of a new session.",
            windows: "IIS FTP does not require reuse; with FileZilla Server, its TLS session resumption setting; the client's FTPS library.",
            openssl: "vsftpd require_ssl_reuse; a client that reuses the session (curl, lftp; Python's ftplib does not).",
            stacks: "-",
            client_error: "The server's reply on the control connection, such as \"522 SSL connection failed: session reuse required\"",
        },
        Code::TdsEncryptionMismatch => &VerdictHelp {
            meaning: "SQL Server PRELOGIN: one side requires encryption the other does not support.",
            look_for: "The ENCRYPTION option of both PRELOGIN packets.",
            windows: "Force Encryption and the certificate in SQL Server Configuration Manager; Encrypt= in the connection string; driver TLS support.",
            openssl: "FreeTDS: encryption = require|request|off in freetds.conf.",
            stacks: "-",
            client_error: "SqlClient: \"The instance of SQL Server you attempted to connect to does not support encryption\" (the client requires it); a client that cannot encrypt against a server that requires it: \"... an error occurred during the pre-login handshake\" (10054)",
        },
        Code::TdsUnencrypted => &VerdictHelp {
            meaning: "SQL Server connection that negotiated no encryption: the login travels in the clear (not a failure).",
            look_for: "Both PRELOGIN ENCRYPTION options and the LOGIN7 packet in the clear.",
            windows: "Force Encryption on the server, Encrypt=yes in clients.",
            openssl: "FreeTDS: encryption = require.",
            stacks: "-",
            client_error: "-",
        },
        Code::IncompleteCapture => &VerdictHelp {
            meaning: "The capture cannot tell: it started late, ended early or lost bytes.",
            look_for: "Gaps, a missing SYN or ClientHello.",
            windows: "pktmon / netsh trace from before the connection starts, without drops.",
            openssl: "tcpdump -s 0 -w file, started before the client connects.",
            stacks: "-",
            client_error: "-",
        },
        Code::Abandoned => &VerdictHelp {
            meaning: "The client left on its own before any answer (a reset answering the SYN-ACK, or a close right after its ClientHello): not a failure (shown with --all).",
            look_for: "The client's RST or FIN and the time since its SYN-ACK or ClientHello; its other connections at the same time (a browser racing connections, Happy Eyeballs, QUIC).",
            windows: "-",
            openssl: "-",
            stacks: "-",
            client_error: "-",
        },
        Code::NotTls => &VerdictHelp {
            meaning: "A connection that does not carry TLS (shown with --all).",
            look_for: "Its first bytes.",
            windows: "-",
            openssl: "-",
            stacks: "-",
            client_error: "-",
        },
    }
}

/// The message a Windows client shows for a verdict or finding, or None for one that is not a
/// failure ("-").
pub fn client_error(topic: Topic) -> Option<&'static str> {
    Some(topic.help().client_error).filter(|m| *m != "-")
}

/// What a server finding (the `findings` of a server profile) means, explained like a verdict.
pub fn finding_help(code: FindingCode) -> &'static VerdictHelp {
    match code {
        FindingCode::ListenerOverloaded => &VerdictHelp {
            meaning: "A burst of connections the server never served (SYNs unanswered or refused, resets before the ClientHello, ClientHellos unanswered) while it served others.",
            look_for: "The finding's window and evidence connections; SYN retransmissions; connections to the same host that succeeded meanwhile.",
            windows: "SQL Server: the error log, max worker threads, the clients' connection rate and pooling (IOCP listener starvation); netstat -ano for the listening process; the Windows TCP SYN backlog.",
            openssl: "ss -ltn (Recv-Q against Send-Q), the listen() backlog and net.core.somaxconn, the accepting threads of the service.",
            stacks: "-",
            client_error: "SqlClient: \"Connection Timeout Expired ... pre-login handshake\" or 10054 \"An existing connection was forcibly closed by the remote host\", in bursts",
        },
        FindingCode::IntermittentHandshakeFailure => &VerdictHelp {
            meaning: "The same client and server succeed and fail with the same version and suite; with DHE, failures after the key exchange at about 1 in 256 are the DHE leading-zero fault.",
            look_for: "The failing connections' alerts (bad_record_mac, decrypt_error) and frames; whether Extended Master Secret was negotiated.",
            windows: "Disable TLS_DHE_* (Disable-TlsCipherSuite, the SSL Cipher Suite Order policy); Schannel updates that bring Extended Master Secret and the leading-zero fix to both sides.",
            openssl: "Prefer ECDHE (-cipher without DHE); OpenSSL 1.1.0 or newer on both ends; a load balancer member or proxy that differs.",
            stacks: "-",
            client_error: "Now and then 10054 \"An existing connection was forcibly closed by the remote host\" (SqlClient: during the pre-login handshake), the same client succeeding otherwise",
        },
        FindingCode::ResumptionFallbackCertificateRequest => &VerdictHelp {
            meaning: "Resumption attempts answered with a full handshake that asks for a client certificate, which then failed.",
            look_for: "tls.resumption of the failing connections (what they offered, from which connection) and the CertificateRequest frame.",
            windows: "Peers that do not handle this fallback (Microsoft's Extended Master Secret guidance); the client's certificate selection; one session cache behind a load balancer.",
            openssl: "Session cache and ticket keys shared by all servers behind the name; the client's certificate for full handshakes.",
            stacks: "-",
            client_error: "On reconnects only: 0x80090326 SEC_E_ILLEGAL_MESSAGE \"The message received was unexpected or badly formatted\" or 10054",
        },
    }
}

/// Alert numbers with the verdicts they lead to.
const ALERT_VERDICTS: &[(u8, &[&str], &str)] = &[
    (10, &["fatal_alert", "client_not_tls"], "A message arrived out of order: an implementation bug or a middlebox; a Java server's answer to a client that does not speak TLS (plain HTTP to an HTTPS port); a server's answer to a second ClientHello."),
    (20, &["failed_after_key_exchange"], "The Finished or a record did not verify: DHE leading-zero bug, missing EMS support, or bytes altered in transit."),
    (40, &["cipher_mismatch", "protocol_mismatch", "client_certificate_required"], "No acceptable parameters: no shared suite (before ServerHello; from a GnuTLS server also no shared version), or a required client certificate missing."),
    (42, &["certificate_rejected", "client_certificate_required"], "A certificate was refused; from the client it is the server's, from the server the client's."),
    (43, &["certificate_rejected"], "Certificate type or algorithm not supported (key type, signature, EKU)."),
    (44, &["certificate_rejected"], "The certificate is revoked."),
    (45, &["certificate_rejected"], "The certificate is expired or not yet valid."),
    (46, &["certificate_rejected"], "Any other certificate problem, often a name mismatch or a failed revocation check."),
    (47, &["fatal_alert"], "A field out of range: an implementation bug or mismatch."),
    (48, &["certificate_rejected", "client_certificate_required"], "The chain does not lead to a trusted root (0x800B0109)."),
    (49, &["certificate_rejected"], "Access denied by policy after the certificate was checked."),
    (50, &["fatal_alert"], "A message could not be parsed (also sent when the peer cut the stream)."),
    (51, &["failed_after_key_exchange"], "A signature or Finished did not verify."),
    (70, &["protocol_mismatch"], "No common TLS version."),
    (71, &["cipher_mismatch"], "Only suites weaker than the server allows."),
    (80, &["fatal_alert"], "The sender failed internally (Schannel: often the private key or credential)."),
    (86, &["protocol_mismatch"], "A version fallback the server detected (TLS_FALLBACK_SCSV)."),
    (109, &["fatal_alert"], "A required extension (key_share, supported_versions) is missing."),
    (112, &["certificate_rejected"], "The server has no certificate for the SNI name sent."),
    (116, &["client_certificate_required"], "TLS 1.3: the server requires a client certificate."),
    (120, &["fatal_alert"], "No common ALPN protocol (h2, http/1.1, tds/8.0)."),
];

/// Windows error codes (HRESULTs and Winsock), with the verdicts that show them, most likely
/// first. The text starts with the code's symbolic name (`explain` takes the name too). The
/// order follows what the code most often means in the field guides (Microsoft's SQL Server
/// connectivity and TLS troubleshooting articles): for 10054 during a SQL Server login a TLS
/// version or suite the two sides do not share comes first, an overloaded listener last.
const WINDOWS_CODES: &[(u32, &str, &[&str])] = &[
    (10054, "WSAECONNRESET: an existing connection was forcibly closed by the remote host", &["protocol_mismatch", "cipher_mismatch", "rst_without_server_hello", "tds_encryption_mismatch", "intermittent_handshake_failure", "reset_before_client_hello", "listener_overloaded"]),
    (10060, "WSAETIMEDOUT: the connection attempt timed out", &["syn_timeout"]),
    (10061, "WSAECONNREFUSED: the target machine actively refused it", &["connection_refused"]),
    (809, "VPN error 809: the VPN server did not respond (SSTP: port 443 blocked or not SSTP)", &["syn_timeout", "rst_without_server_hello", "server_not_tls"]),
    (0x8009_0331, "SEC_E_ALGORITHM_MISMATCH: the client and server cannot communicate, because they do not possess a common algorithm", &["cipher_mismatch", "protocol_mismatch"]),
    (0x8009_0326, "SEC_E_ILLEGAL_MESSAGE: the message received was unexpected or badly formatted (often a fatal alert received)", &["certificate_rejected", "client_certificate_required", "fatal_alert"]),
    (0x8009_0325, "SEC_E_UNTRUSTED_ROOT: the certificate chain was issued by an authority that is not trusted", &["certificate_rejected"]),
    (0x8009_0322, "SEC_E_WRONG_PRINCIPAL: the target principal name is incorrect", &["certificate_rejected"]),
    (0x8009_0327, "SEC_E_CERT_UNKNOWN: an unknown error occurred while processing the certificate", &["certificate_rejected"]),
    (0x8009_0328, "SEC_E_CERT_EXPIRED: the received certificate has expired", &["certificate_rejected"]),
    (0x8009_030E, "SEC_E_NO_CREDENTIALS: no credentials are available (no usable certificate or private key)", &["rst_without_server_hello", "client_certificate_required", "reset_before_client_hello"]),
    (0x8009_0304, "SEC_E_INTERNAL_ERROR: the Local Security Authority cannot be contacted (often the certificate's private key)", &["rst_without_server_hello", "fatal_alert"]),
    (0x800B_0109, "CERT_E_UNTRUSTEDROOT: a certificate chain processed, but terminated in a root certificate which is not trusted", &["certificate_rejected", "aborted_after_server_hello"]),
    (0x800B_010F, "CERT_E_CN_NO_MATCH: the certificate's CN name does not match the passed value", &["certificate_rejected", "aborted_after_server_hello"]),
    (0x800B_0101, "CERT_E_EXPIRED: a required certificate is not within its validity period", &["certificate_rejected", "aborted_after_server_hello"]),
    (0x800B_010E, "CERT_E_REVOCATION_FAILURE: the revocation process could not continue", &["certificate_rejected"]),
    (0x8009_2013, "CRYPT_E_REVOCATION_OFFLINE: the revocation function was unable to check revocation because the revocation server was offline", &["certificate_rejected"]),
    (0x8009_2012, "CRYPT_E_NO_REVOCATION_CHECK: the revocation function was unable to check revocation for the certificate", &["certificate_rejected"]),
];

/// Schannel event IDs of the System log, with their verdicts most likely first. 36874 names
/// the TLS version the client asked for: with that version disabled on the server it stands
/// for a protocol mismatch as well as a suite mismatch.
const SCHANNEL_EVENTS: &[(u32, &str, &[&str])] = &[
    (
        36874,
        "a TLS connection request was received, but none of the client's cipher suites is supported by the server (also logged when the TLS version the event names is disabled on the server)",
        &["cipher_mismatch", "protocol_mismatch"],
    ),
    (
        36887,
        "a fatal alert was received from the remote endpoint (the event names the alert number: tlsdiag explain N)",
        &["certificate_rejected", "cipher_mismatch", "protocol_mismatch", "fatal_alert"],
    ),
    (
        36888,
        "a fatal alert was generated and sent to the remote endpoint (the event names the alert number)",
        &["cipher_mismatch", "protocol_mismatch", "client_certificate_required", "fatal_alert"],
    ),
    (
        36882,
        "the certificate received from the remote server was issued by an untrusted certificate authority",
        &["certificate_rejected"],
    ),
    (
        36884,
        "the certificate received from the remote server does not contain the expected name",
        &["certificate_rejected"],
    ),
    (
        36870,
        "a fatal error occurred when attempting to access the TLS server credential private key",
        &["rst_without_server_hello", "reset_before_client_hello"],
    ),
    (
        36871,
        "a fatal error occurred while creating a TLS credential (certificate or private key)",
        &["rst_without_server_hello", "reset_before_client_hello"],
    ),
    (
        36885,
        "the list of trusted certification authorities the server sends for client authentication is too long",
        &["client_certificate_required"],
    ),
];

/// An HRESULT as Windows prints it, with its decimal form; a Winsock or RAS code as is.
fn windows_code(code: u32) -> String {
    if code > 0xffff {
        format!("0x{code:08X} ({code})")
    } else {
        code.to_string()
    }
}

/// The verdicts a symptom fits, numbered: the first is the one it most often means.
fn describe_verdicts(out: &mut String, codes: &[&str]) {
    if codes.len() > 1 {
        out.push_str("\n  verdicts that fit, most likely first:");
    }
    for (i, topic) in codes.iter().filter_map(|c| Topic::from_name(c)).enumerate() {
        let v = topic.help();
        {
            let rank = if codes.len() > 1 { format!("{}. ", i + 1) } else { String::new() };
            out.push_str(&format!(
                "\n  {rank}{}: {}\n    look for: {}\n    Windows:  {}\n    OpenSSL:  {}\n",
                topic.name(),
                v.meaning,
                v.look_for,
                v.windows,
                v.openssl
            ));
            if v.stacks != "-" {
                out.push_str(&format!("    Java, Go, Node, GnuTLS: {}\n", v.stacks));
            }
            if v.client_error != "-" {
                out.push_str(&format!("    Windows client shows: {}\n", v.client_error));
            }
        }
    }
}

/// The symbolic name a Windows code's text starts with (`WSAECONNRESET`, `SEC_E_...`).
fn code_name(text: &str) -> Option<&str> {
    text.split_once(':').map(|(name, _)| name).filter(|name| !name.contains(' '))
}

fn windows_entry(code: u32, text: &str, verdicts: &[&str]) -> String {
    let mut out = format!("Windows error {}: {text}", windows_code(code));
    describe_verdicts(&mut out, verdicts);
    out
}

fn schannel_entry(id: u32, text: &str, verdicts: &[&str]) -> String {
    let mut out = format!("Schannel event {id}: {text}");
    describe_verdicts(&mut out, verdicts);
    out
}

/// A number as the user may type it: decimal, 0x-hex, or a negative HRESULT as printed by .NET.
fn parse_number(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok();
    }
    if let Some(negative) = s.strip_prefix('_').or_else(|| s.strip_prefix('-')) {
        return negative.parse::<u32>().ok().map(|n| (n as i64).wrapping_neg() as u32 as u64);
    }
    s.parse().ok()
}

/// What `tlsdiag explain SYMPTOM` prints, or None when nothing matches.
pub fn explain(symptom: &str) -> Option<String> {
    let key = symptom.trim().to_ascii_lowercase().replace([' ', '-'], "_");
    // "fatal alert 20", as Schannel's event text puts it.
    let key = key.strip_prefix("fatal_alert_").or_else(|| key.strip_prefix("alert_")).unwrap_or(&key).to_string();
    let mut out = String::new();
    if let Some(topic) = Topic::from_name(&key) {
        let kind = if matches!(topic, Topic::Finding(_)) { "server finding" } else { "verdict" };
        out.push_str(&format!("{kind} {}", topic.name()));
        describe_verdicts(&mut out, &[topic.name()]);
        return Some(out);
    }
    // An alert by name ("unknown_ca") or number (0-255).
    let alert_number = parse_number(&key)
        .filter(|n| *n < 256)
        .map(|n| n as u8)
        .or_else(|| (0..=255u8).find(|n| names::alert(*n) == key));
    if let Some(n) = alert_number.filter(|n| !names::alert(*n).starts_with("alert_")) {
        out.push_str(&format!("TLS alert {n} {} (Schannel events 36887/36888 show this number)", names::alert(n)));
        if let Some((_, verdicts, meaning)) = ALERT_VERDICTS.iter().find(|(a, _, _)| *a == n) {
            out.push_str(&format!("\n  {meaning}\n"));
            describe_verdicts(&mut out, verdicts);
        } else {
            describe_verdicts(&mut out, &["fatal_alert"]);
        }
        return Some(out);
    }
    // A Windows code by its name: WSAECONNRESET, SEC_E_ALGORITHM_MISMATCH, CERT_E_UNTRUSTEDROOT.
    if let Some((code, text, verdicts)) =
        WINDOWS_CODES.iter().find(|(_, text, _)| code_name(text).is_some_and(|n| n.eq_ignore_ascii_case(&key)))
    {
        return Some(windows_entry(*code, text, verdicts));
    }
    // "event 36874", "Schannel 36874", "Schannel event 36874", "event id 36874": an event ID
    // for sure, whatever else the number could be.
    let event = ["schannel_event_id_", "schannel_event_", "schannel_", "event_id_", "event_"]
        .iter()
        .find_map(|prefix| key.strip_prefix(prefix));
    if let Some(number) = event {
        let number = parse_number(number)?;
        let (id, text, verdicts) = SCHANNEL_EVENTS.iter().find(|(id, _, _)| *id as u64 == number)?;
        return Some(schannel_entry(*id, text, verdicts));
    }
    let number = parse_number(&key)?;
    if let Some((code, text, verdicts)) = WINDOWS_CODES.iter().find(|(c, _, _)| *c as u64 == number) {
        return Some(windows_entry(*code, text, verdicts));
    }
    if let Some((id, text, verdicts)) = SCHANNEL_EVENTS.iter().find(|(id, _, _)| *id as u64 == number) {
        return Some(schannel_entry(*id, text, verdicts));
    }
    None
}

/// The README's verdict table (`verdict`) or server findings table (`finding`): one row per
/// code with both platforms' checks.
pub fn markdown_table(kind: &str, topics: impl Iterator<Item = Topic>) -> String {
    let mut out = format!(
        "| {kind} | meaning | look for in the capture | Windows / SQL Server | OpenSSL-based peers | Java, Go, Node, GnuTLS | what the Windows client shows |\n|---|---|---|---|---|---|---|\n"
    );
    for topic in topics {
        let v = topic.help();
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} |\n",
            topic.name(),
            v.meaning,
            v.look_for,
            v.windows,
            v.openssl,
            v.stacks,
            v.client_error
        ));
    }
    out
}

/// The README's symptom index: Windows error codes and Schannel events with their verdicts.
pub fn markdown_symptoms() -> String {
    let mut out = String::from("| symptom | what it says | verdicts |\n|---|---|---|\n");
    for (code, text, verdicts) in WINDOWS_CODES {
        out.push_str(&format!("| {} | {text} | {} |\n", windows_code(*code), verdicts.join(", ")));
    }
    for (id, text, verdicts) in SCHANNEL_EVENTS {
        out.push_str(&format!("| Schannel event {id} | {text} | {} |\n", verdicts.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_every_spelling() {
        assert_eq!(parse_number("0x80090331"), Some(0x8009_0331));
        assert_eq!(parse_number("2148074289"), Some(0x8009_0331));
        assert_eq!(parse_number("-2146893007"), Some(0x8009_0331));
        assert_eq!(parse_number("10054"), Some(10054));
    }

    #[test]
    fn every_code_a_symptom_names_is_a_verdict_or_finding() {
        let named = ALERT_VERDICTS
            .iter()
            .flat_map(|(_, codes, _)| codes.iter())
            .chain(WINDOWS_CODES.iter().flat_map(|(_, _, codes)| codes.iter()))
            .chain(SCHANNEL_EVENTS.iter().flat_map(|(_, _, codes)| codes.iter()));
        for name in named {
            assert!(Topic::from_name(name).is_some(), "{name}");
        }
    }

    #[test]
    fn every_topic_has_its_help_and_is_explained() {
        for topic in Topic::all() {
            let help = topic.help();
            assert!(!help.meaning.is_empty() && !help.look_for.is_empty(), "{}", topic.name());
            let text = explain(topic.name()).unwrap();
            assert!(text.contains(help.meaning), "{}: {text}", topic.name());
        }
    }
}
