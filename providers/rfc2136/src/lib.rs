//! RFC 2136 DNS UPDATE provider with TSIG (RFC 8945), for BIND, Knot, PowerDNS and any server
//! that takes dynamic updates.
//!
//! One UPDATE message per zone carries every record (split into several when it would not fit
//! one message): values are *added* to their RRsets (RFC 2136 §2.5.1), never replacing what is
//! there, and cleanup deletes exactly our values (§2.5.4), so a wildcard's and an apex's tokens
//! at one name live side by side. Requests are signed and answers checked here (TSIG, RFC
//! 8945), so every refusal is named: policy, wrong secret, unknown key, clock, secondary.

pub mod settings;
pub mod tsig;

use std::net::SocketAddr;

use async_trait::async_trait;
use hickory_proto::op::update_message::UpdateMessage;
use hickory_proto::op::{Edns, Message, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};
use tokio::sync::OnceCell;
use wildcert_dns::query::{self, QueryError, Transport, rcode_name, to_hickory};
use wildcert_provider::{Applied, DnsName, DnsProvider, ProviderError, TxtSet, Zone, ZoneCache};

pub use settings::{KIND, Nameserver, PROVIDER, Rfc2136Config, Rfc2136Settings};
pub use tsig::{Algorithm, AnswerAuth, TsigKey};

/// Above this size (bytes, TSIG included) an update goes over TCP.
const UDP_LIMIT: usize = 1200;
/// Room for the TSIG record added when signing (name, algorithm, 64-byte MAC, fields).
const TSIG_OVERHEAD: usize = 400;
/// Largest UPDATE message we build (bytes, an upper bound before name compression): a larger
/// set goes in several messages. Well under the 65,535 bytes of a DNS message over TCP.
pub const MAX_UPDATE_BYTES: usize = 16 * 1024;

/// The RFC 2136 provider.
#[derive(Debug)]
pub struct Rfc2136Provider {
    config: Rfc2136Config,
    server: OnceCell<SocketAddr>,
    zones: ZoneCache,
    /// Sets whose publish the server refused as a whole (an UPDATE is all or nothing, RFC 2136
    /// §3.7): nothing of them was written, so removing them sends nothing.
    refused: std::sync::Mutex<Vec<(DnsName, TxtSet)>>,
}

/// Times an UPDATE answered SERVFAIL is sent in all (a server that failed for a moment, e.g.
/// while it writes its journal or reloads, usually takes it the next time).
const SERVFAIL_TRIES: u32 = 3;
/// Pause before the first retry after SERVFAIL; doubled for each next one.
const SERVFAIL_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);
/// The default of BIND's `max-records-per-type` (9.18.28+, 9.20): an RRset of more records is
/// refused (with SERVFAIL on an UPDATE).
const BIND_MAX_RECORDS_PER_TYPE: usize = 100;

/// Why an UPDATE was not taken, and whether the server said so (then nothing was applied).
struct SendFailure {
    error: ProviderError,
    /// The server answered with an error: it applied nothing of this message.
    nothing_applied: bool,
}

/// What a signed SOA query says about our key: the server's view of it, without an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyCheck {
    /// The answer is signed with our key: the server knows the key and the secret matches.
    Accepted,
    /// TSIG error BADSIG: the server knows the key, the secret differs.
    BadSig,
    /// TSIG error BADKEY: the server has no key of this name and algorithm.
    BadKey,
    /// NOTAUTH without any TSIG to a signed query: the server rejects the key without saying
    /// why (PowerDNS does so for an unknown key, a wrong secret or a wrong algorithm).
    RejectedSilently,
    /// No answer, or one that says nothing about the key (a server that ignores TSIG on queries).
    Unknown,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Delete,
}

impl Rfc2136Provider {
    /// Build from settings (reads key files; the nameserver name is resolved on first use).
    pub fn new(settings: &Rfc2136Settings) -> Result<Self, ProviderError> {
        Ok(Self::from_config(settings.validate()?))
    }

    /// Build from a validated configuration.
    pub fn from_config(config: Rfc2136Config) -> Self {
        Rfc2136Provider {
            config,
            server: OnceCell::new(),
            zones: ZoneCache::default(),
            refused: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &Rfc2136Config {
        &self.config
    }

    /// The nameserver's socket address (resolved once).
    pub async fn server_addr(&self) -> Result<SocketAddr, ProviderError> {
        let ns = &self.config.nameserver;
        self.server
            .get_or_try_init(|| async {
                if let Ok(ip) = ns.host.parse::<std::net::IpAddr>() {
                    return Ok(SocketAddr::new(ip, ns.port));
                }
                let found = tokio::time::timeout(
                    self.config.timeout,
                    tokio::net::lookup_host((ns.host.as_str(), ns.port)),
                )
                .await
                .map_err(|_| unreachable(ns.to_string(), "name lookup timed out".into()))?
                .map_err(|e| {
                    unreachable(ns.to_string(), format!("cannot resolve the name: {e}"))
                })?;
                let addrs: Vec<SocketAddr> = found.collect();
                // Prefer IPv4: loopback and most server setups listen there for sure.
                addrs
                    .iter()
                    .find(|a| a.is_ipv4())
                    .or_else(|| addrs.first())
                    .copied()
                    .ok_or_else(|| unreachable(ns.to_string(), "the name has no address".into()))
            })
            .await
            .copied()
    }

    fn transport(&self, size: usize) -> Transport {
        if self.config.tcp || size > UDP_LIMIT {
            Transport::Tcp
        } else {
            Transport::Udp
        }
    }

    /// Build one UPDATE message carrying every (name, value) of `set` (RFC 2136 §2.5.1 / §2.5.4).
    fn update_message(zone: &Zone, set: &TxtSet, op: Op) -> Result<Message, ProviderError> {
        let mut msg = Self::empty_update(zone);
        for (name, value) in set.pairs() {
            if !name.is_within(&zone.name) {
                return Err(ProviderError::Other {
                    provider: KIND,
                    message: format!("{name} is not inside zone {}", zone.name),
                });
            }
            let mut r = Record::from_rdata(
                to_hickory(name),
                set.ttl,
                RData::TXT(TXT::new(txt_strings(value))),
            );
            match op {
                Op::Add => r.dns_class = DNSClass::IN,
                Op::Delete => {
                    r.dns_class = DNSClass::NONE;
                    r.ttl = 0;
                }
            }
            msg.add_update(r);
        }
        Ok(msg)
    }

    /// An UPDATE of `zone` with nothing in it yet.
    fn empty_update(zone: &Zone) -> Message {
        let mut msg = Message::query();
        msg.metadata.op_code = OpCode::Update;
        msg.metadata.recursion_desired = false;
        let mut zq = Query::new();
        zq.set_name(to_hickory(&zone.name))
            .set_query_class(DNSClass::IN)
            .set_query_type(RecordType::SOA);
        msg.add_zone(zq);
        let mut edns = Edns::new();
        edns.set_max_payload(1232).set_version(0);
        msg.edns = Some(edns);
        msg
    }

    /// An UPDATE that changes nothing: one prerequisite, "the zone's SOA exists" (RFC 2136
    /// §2.4.1). A primary that takes our key answers NOERROR whatever its update-policy says
    /// about records; a server that refuses every update (a secondary, an ACL) refuses it too.
    fn probe_message(zone: &Zone) -> Message {
        let mut msg = Self::empty_update(zone);
        let mut r = Record::update0(to_hickory(&zone.name), 0, RecordType::SOA);
        r.dns_class = DNSClass::ANY;
        msg.add_pre_requisite(r);
        msg
    }

    /// Split `set` into sets whose UPDATE messages each stay under [`MAX_UPDATE_BYTES`].
    fn split(zone: &Zone, set: &TxtSet) -> Vec<TxtSet> {
        let base = 12 + wire_len(&zone.name) + 4 + 11 + TSIG_OVERHEAD;
        let mut parts = Vec::new();
        let mut cur = TxtSet::with_ttl(set.ttl);
        let mut size = base;
        for (name, value) in set.pairs() {
            let rr = wire_len(name)
                + 10
                + txt_strings(value)
                    .iter()
                    .map(|s| 1 + s.len())
                    .sum::<usize>();
            if !cur.is_empty() && size + rr > MAX_UPDATE_BYTES {
                parts.push(std::mem::replace(&mut cur, TxtSet::with_ttl(set.ttl)));
                size = base;
            }
            cur.insert(name.clone(), value);
            size += rr;
        }
        if !cur.is_empty() {
            parts.push(cur);
        }
        parts
    }

    /// Send every value of `set`, in as many UPDATE messages as it takes for each to fit.
    /// Adding is all or nothing: when one message is refused, the messages the server took
    /// already are removed again, and the error says so. Deleting tries every message.
    async fn send_update(&self, zone: &Zone, set: &TxtSet, op: Op) -> Result<(), SendFailure> {
        if set.is_empty() {
            return Ok(());
        }
        let server = self.server_addr().await.map_err(unknown_outcome)?;
        let parts = Self::split(zone, set);
        if parts.len() > 1 {
            tracing::info!(%server, zone = %zone, values = set.len(), messages = parts.len(),
                "the update is too large for one DNS message; sending it in parts");
        }
        match op {
            Op::Add => {
                for (i, part) in parts.iter().enumerate() {
                    let Err(e) = self.send_one(server, zone, part, op).await else {
                        continue;
                    };
                    if i == 0 {
                        return Err(e);
                    }
                    let accepted: usize = parts[..i].iter().map(TxtSet::len).sum();
                    let mut undo_failed = None;
                    for done in &parts[..i] {
                        if let Err(u) = self.send_one(server, zone, done, Op::Delete).await {
                            undo_failed.get_or_insert(u);
                        }
                    }
                    let nothing_applied = undo_failed.is_none() && e.nothing_applied;
                    let note = match undo_failed {
                        None => format!(
                            " (message {} of {}; the {accepted} value(s) the server had taken \
                             are removed again, so nothing of this set is published)",
                            i + 1,
                            parts.len()
                        ),
                        Some(u) => format!(
                            " (message {} of {}; removing the {accepted} value(s) the server had \
                             taken failed too: {})",
                            i + 1,
                            parts.len(),
                            u.error
                        ),
                    };
                    return Err(SendFailure {
                        error: with_note(e.error, &note),
                        nothing_applied,
                    });
                }
                Ok(())
            }
            Op::Delete => {
                let mut first = None;
                for part in &parts {
                    if let Err(e) = self.send_one(server, zone, part, op).await {
                        first.get_or_insert(e);
                    }
                }
                first.map_or(Ok(()), Err)
            }
        }
    }

    /// Sign (when a key is set) and send one message; the answer's bytes and what its TSIG says.
    async fn exchange(
        &self,
        server: SocketAddr,
        mut msg: Message,
    ) -> Result<(Message, Option<AnswerAuth>), ProviderError> {
        let now = unix_now();
        let (bytes, mac) = match &self.config.key {
            Some(k) => {
                let signed = k.sign(&mut msg, now).map_err(|m| ProviderError::Config {
                    provider: KIND,
                    message: format!("cannot sign the update: {m}"),
                })?;
                (signed.bytes, Some(signed.mac))
            }
            None => (
                msg.to_vec().map_err(|e| ProviderError::Other {
                    provider: KIND,
                    message: format!("cannot encode the update: {e}"),
                })?,
                None,
            ),
        };
        let transport = self.transport(bytes.len());
        tracing::debug!(%server, bytes = bytes.len(), ?transport,
            key = self.config.key.as_ref().map(|k| k.name.as_str()).unwrap_or("(unsigned)"), "sending UPDATE");
        let answer = query::exchange_bytes(server, &bytes, transport, self.config.timeout)
            .await
            .map_err(|e| self.map_query_error(e))?;
        let auth = match (&self.config.key, &mac) {
            (Some(k), Some(mac)) => Some(k.check_answer(&answer, mac, unix_now())),
            _ => None,
        };
        let parsed = Message::from_vec(&answer).map_err(|e| ProviderError::Other {
            provider: KIND,
            message: format!("{}: bad answer: {e}", self.config.nameserver),
        })?;
        Ok((parsed, auth))
    }

    /// Send one UPDATE; an answer of SERVFAIL is retried ([`SERVFAIL_TRIES`] times in all,
    /// with a growing pause, within the configured timeout per try).
    async fn send_one(
        &self,
        server: SocketAddr,
        zone: &Zone,
        set: &TxtSet,
        op: Op,
    ) -> Result<(), SendFailure> {
        let verb = if op == Op::Add { "add" } else { "delete" };
        let mut pause = SERVFAIL_PAUSE;
        let mut tries = 0;
        loop {
            tries += 1;
            let msg = Self::update_message(zone, set, op).map_err(unknown_outcome)?;
            tracing::debug!(%server, zone = %zone, values = set.len(), "UPDATE ({verb})");
            let (answer, auth) = self.exchange(server, msg).await.map_err(unknown_outcome)?;
            let code = answer.metadata.response_code;
            if code == ResponseCode::NoError && matches!(auth, None | Some(AnswerAuth::Valid)) {
                tracing::debug!(%server, zone = %zone, "UPDATE ({verb}) accepted");
                return Ok(());
            }
            let auth_ok = matches!(auth, None | Some(AnswerAuth::Valid | AnswerAuth::Unsigned));
            if code == ResponseCode::ServFail && auth_ok && tries < SERVFAIL_TRIES {
                tracing::info!(%server, zone = %zone, try_ = tries, "the server answered SERVFAIL to the UPDATE ({verb}); trying again in {} ms", pause.as_millis());
                tokio::time::sleep(pause).await;
                pause *= 2;
                continue;
            }
            // An answer with an error rcode: the server applied nothing of this message
            // (RFC 2136 §3.7). NOERROR with a signature that does not check out may have been.
            let nothing_applied = code != ResponseCode::NoError;
            let error = self.explain(server, code, auth, zone, set, tries).await;
            return Err(SendFailure {
                error,
                nothing_applied,
            });
        }
    }

    fn key_desc(&self) -> String {
        match &self.config.key {
            Some(k) => format!("key `{}` ({})", k.name, k.algorithm),
            None => "no key (unsigned)".into(),
        }
    }

    fn map_query_error(&self, e: QueryError) -> ProviderError {
        let target = self.config.nameserver.to_string();
        match e {
            QueryError::Timeout { after, .. } => {
                unreachable(target, format!("no answer within {} s", after.as_secs()))
            }
            QueryError::Io { message, .. } => unreachable(target, message),
            QueryError::Protocol { message, .. } => ProviderError::Other {
                provider: KIND,
                message: format!("{target}: bad answer: {message}"),
            },
            other => ProviderError::Other {
                provider: KIND,
                message: other.to_string(),
            },
        }
    }

    /// Say why the server did not take an update, from its rcode, its TSIG and, for a refusal,
    /// two probes: does it take an update that changes nothing, and does it serve the zone.
    async fn explain(
        &self,
        server: SocketAddr,
        code: ResponseCode,
        auth: Option<AnswerAuth>,
        zone: &Zone,
        set: &TxtSet,
        tries: u32,
    ) -> ProviderError {
        let ns = self.config.nameserver.to_string();
        let rc = rcode_name(code);
        let key = self.key_desc();
        let auth_error = |message: String| ProviderError::Auth {
            provider: KIND,
            message,
        };
        match auth {
            Some(AnswerAuth::BadSig) => {
                return self.wrong_secret(&format!("{rc}/BADSIG"));
            }
            Some(AnswerAuth::BadKey) => {
                // Knot answers an ACL refusal exactly like an unknown key (NOTAUTH/BADKEY,
                // unsigned): ask whether the server takes the key on a query before blaming it.
                return match self.check_key(server, zone).await {
                    KeyCheck::Accepted => ProviderError::Rejected {
                        provider: KIND,
                        message: format!(
                            "the server refused the update by its policy ({rc}/BADKEY): {ns} knows TSIG {key} (it signed \
                             its answer to a query signed with it), yet answered this update with BADKEY, as Knot does \
                             when its ACL refuses: no ACL of zone {zone} lets this key update TXT records at {}; allow \
                             it (Knot: an acl with `key: {}`, `action: update`, and `update-type` including TXT; BIND: \
                             update-policy)",
                            self.names(set),
                            self.key_name()
                        ),
                    },
                    KeyCheck::BadSig => self.wrong_secret(&format!("{rc}/BADKEY to the update and BADSIG to a signed query")),
                    KeyCheck::BadKey | KeyCheck::RejectedSilently => auth_error(format!(
                        "unknown key: {ns} answered {rc}/BADKEY, to the update and to a signed query alike: it has no \
                         TSIG {key}, neither that name nor that algorithm; compare tsig_key and tsig_algorithm with \
                         the server's `key \"NAME\" {{ algorithm ...; }}` statement"
                    )),
                    KeyCheck::Unknown => ProviderError::Named {
                        provider: KIND,
                        message: format!(
                            "{ns} answered {rc}/BADKEY for TSIG {key}: either it has no such key (name and algorithm), \
                             or its ACL refuses this key the update of TXT records at {} (Knot answers both alike); \
                             it did not answer a signed query in a way that tells which",
                            self.names(set)
                        ),
                        hint: "compare tsig_key and tsig_algorithm with the server's key statement; if they match, \
                               let the server's ACL / update-policy allow this key to update TXT records there"
                            .into(),
                    },
                };
            }
            Some(AnswerAuth::BadTime {
                server_time,
                our_time,
            }) => {
                let diff = server_time
                    .map(|t| {
                        format!(
                            " (ours {our_time}, the server's {t}: {} s apart)",
                            t.abs_diff(our_time)
                        )
                    })
                    .unwrap_or_default();
                return auth_error(format!(
                    "clock problem: {ns} answered {rc}/BADTIME: this machine's clock and the server's differ by more \
                     than the {} s TSIG allows{diff}; fix the clock (NTP) on this machine or the server",
                    tsig::FUDGE
                ));
            }
            Some(AnswerAuth::OtherError(e)) => {
                return auth_error(format!("{ns} answered {rc} with TSIG error {e} for {key}"));
            }
            _ => {}
        }
        let signed = match auth {
            None => "unsigned update",
            Some(AnswerAuth::Valid) => "signed",
            Some(_) => "unsigned",
        };
        if code == ResponseCode::NoError {
            return auth_error(format!(
                "{ns} answered NOERROR, but its answer is not signed with {key} or its signature does not check \
                 out, so it cannot be trusted (a middlebox rewriting DNS?); the change may have been applied"
            ));
        }
        let names = self.names(set);
        match code {
            ResponseCode::NotAuth | ResponseCode::Refused => {}
            ResponseCode::NotZone => {
                return ProviderError::ZoneNotFound {
                    provider: KIND,
                    zone: zone.to_string(),
                    message: format!(
                        "{ns} answered NOTZONE: {names} is not inside zone {zone} on that server; set `zone` correctly"
                    ),
                };
            }
            ResponseCode::ServFail => {
                return self.server_failed(server, zone, set, tries).await;
            }
            ResponseCode::NotImp => {
                return ProviderError::Rejected {
                    provider: KIND,
                    message: format!(
                        "{ns} answered NOTIMP: it does not support dynamic updates (RFC 2136)"
                    ),
                };
            }
            ResponseCode::FormErr => {
                return ProviderError::Rejected {
                    provider: KIND,
                    message: format!("{ns} answered FORMERR: it could not parse the update"),
                };
            }
            other => {
                return ProviderError::Rejected {
                    provider: KIND,
                    message: format!("{ns} answered {} for zone {zone}", rcode_name(other)),
                };
            }
        }
        // NOTAUTH or REFUSED without a TSIG error: is the server authoritative for the zone,
        // and does it take an update that changes nothing?
        let serves = self.serves_zone(server, zone).await;
        if serves == Some(false) {
            return ProviderError::ZoneNotFound {
                provider: KIND,
                zone: zone.to_string(),
                message: format!(
                    "{ns} answered {rc} ({signed}): it is not authoritative for zone {zone} (check the zone name, and \
                     send updates to the zone's primary)"
                ),
            };
        }
        // A signed update refused without a word about TSIG: PowerDNS answers so (NOTAUTH,
        // unsigned) when the key name, secret or algorithm differ from its key. A signed query
        // tells a key problem from a secondary or a policy.
        if self.config.key.is_some() && !matches!(auth, Some(AnswerAuth::Valid)) {
            match self.check_key(server, zone).await {
                KeyCheck::BadSig => {
                    return self
                        .wrong_secret(&format!("{rc} to the update and BADSIG to a signed query"));
                }
                KeyCheck::BadKey => {
                    return auth_error(format!(
                        "unknown key: {ns} answered {rc} to the update and BADKEY to a signed query: it has no \
                         TSIG {key}, neither that name nor that algorithm; compare tsig_key and tsig_algorithm \
                         with the server's key"
                    ));
                }
                KeyCheck::RejectedSilently => {
                    return auth_error(format!(
                        "{ns} does not accept TSIG {key}: it answered {rc}, unsigned, to the update and NOTAUTH, \
                         unsigned, to a query signed with the key, so the key name, the secret or the algorithm \
                         differs from the server's key (PowerDNS answers all three so; its log names which, \
                         e.g. `Signature with TSIG key ... failed to validate`)"
                    ));
                }
                KeyCheck::Accepted | KeyCheck::Unknown => {}
            }
        }
        if self.config.key.is_none() {
            return ProviderError::Rejected {
                provider: KIND,
                message: format!(
                    "the server refused the update by its policy ({rc}, unsigned update): {ns} does not take \
                     unsigned updates of zone {zone} from this address; set a TSIG key (tsig_file), or allow this \
                     address in the zone's allow-update"
                ),
            };
        }
        let probe = match self.exchange(server, Self::probe_message(zone)).await {
            Ok((m, a)) => Some((m.metadata.response_code, a)),
            Err(e) => {
                tracing::debug!(%server, "probe UPDATE failed: {e}");
                None
            }
        };
        if let Some((ResponseCode::NoError, _)) = probe {
            return ProviderError::Rejected {
                provider: KIND,
                message: format!(
                    "the server refused the update by its policy ({rc}, {signed}): {ns} takes updates of zone {zone} \
                     signed with {key}, but its update-policy (or allow-update ACL) does not let this key change \
                     TXT records at {names}; grant it, e.g. update-policy {{ grant \"{}\" zonesub TXT; }}",
                    self.config
                        .key
                        .as_ref()
                        .map(|k| k.name.as_str())
                        .unwrap_or("KEY")
                ),
            };
        }
        if let Some(listed) = self.listed_nameserver(server, zone).await {
            return ProviderError::Rejected {
                provider: KIND,
                message: format!(
                    "update sent to a secondary: {ns} answered {rc} ({signed}) even to an update that changes \
                     nothing; it serves zone {zone} as its nameserver {listed}, and secondaries do not take updates \
                     (BIND forwards them only with allow-update-forwarding): set `nameserver` to the zone's primary"
                ),
            };
        }
        ProviderError::Rejected {
            provider: KIND,
            message: format!(
                "the server refused the update by its policy ({rc}, {signed}): {ns} refuses every update of zone \
                 {zone} from {key}, even one that changes nothing: its allow-update / update-policy gives this key \
                 (or this address) nothing there, the zone is not dynamic there, or the server is a secondary \
                 (send updates to the primary)"
            ),
        }
    }

    /// The names of `set`, listed (or counted when the list would be long).
    fn names(&self, set: &TxtSet) -> String {
        let names = set
            .names()
            .map(DnsName::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        if names.len() > 300 {
            format!("{} name(s)", set.names().count())
        } else {
            names
        }
    }

    fn key_name(&self) -> &str {
        self.config
            .key
            .as_ref()
            .map(|k| k.name.as_str())
            .unwrap_or("KEY")
    }

    /// `answered`: what the server answered, e.g. `NOTAUTH/BADSIG`.
    fn wrong_secret(&self, answered: &str) -> ProviderError {
        ProviderError::Auth {
            provider: KIND,
            message: format!(
                "wrong secret: {} answered {answered}: it knows TSIG {} but the signature does not match, so \
                 the secret differs from the server's; copy the `secret` of the server's key statement \
                 (tsig_file, tsig_secret_file)",
                self.config.nameserver,
                self.key_desc()
            ),
        }
    }

    /// Ask the zone's SOA with a query signed with our key: does the server take the key?
    async fn check_key(&self, server: SocketAddr, zone: &Zone) -> KeyCheck {
        let mut msg = Message::query();
        msg.metadata.recursion_desired = false;
        let mut q = Query::new();
        q.set_name(to_hickory(&zone.name))
            .set_query_class(DNSClass::IN)
            .set_query_type(RecordType::SOA);
        msg.add_query(q);
        let (answer, auth) = match self.exchange(server, msg).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(%server, "signed SOA query failed: {e}");
                return KeyCheck::Unknown;
            }
        };
        let code = answer.metadata.response_code;
        let verdict = match auth {
            Some(AnswerAuth::Valid) => KeyCheck::Accepted,
            Some(AnswerAuth::BadSig) => KeyCheck::BadSig,
            Some(AnswerAuth::BadKey) => KeyCheck::BadKey,
            Some(AnswerAuth::Unsigned) if code == ResponseCode::NotAuth => {
                KeyCheck::RejectedSilently
            }
            _ => KeyCheck::Unknown,
        };
        tracing::debug!(%server, rcode = %rcode_name(code), ?verdict, "signed SOA query");
        verdict
    }

    /// SERVFAIL after every try: the server failed, not its policy. A name that already holds
    /// many TXT records points at a per-name limit (BIND's `max-records-per-type`).
    async fn server_failed(
        &self,
        server: SocketAddr,
        zone: &Zone,
        set: &TxtSet,
        tries: u32,
    ) -> ProviderError {
        let ns = &self.config.nameserver;
        let mut crowded = Vec::new();
        for name in set.names() {
            let Some(m) = self.ask(server, name, RecordType::TXT).await else {
                continue;
            };
            let held = m
                .answers
                .iter()
                .filter(|r| r.record_type() == RecordType::TXT)
                .count();
            let ours = set.pairs().filter(|(n, _)| *n == name).count();
            if held > 0 {
                crowded.push((name.clone(), held, ours));
            }
        }
        let answered = if tries > 1 {
            format!("SERVFAIL {tries} times in a row")
        } else {
            "SERVFAIL".into()
        };
        if let Some((name, held, ours)) = crowded
            .iter()
            .find(|(_, held, ours)| held + ours > BIND_MAX_RECORDS_PER_TYPE)
        {
            return ProviderError::Named {
                provider: KIND,
                message: format!(
                    "{ns} answered {answered} to adding {ours} TXT value(s) at {name}, which already holds {held} TXT \
                     records: more than the {BIND_MAX_RECORDS_PER_TYPE} records per name and type that BIND \
                     (9.18.28 and later, 9.20) allows by default (`max-records-per-type`; `max-types-per-name` \
                     limits the types)"
                ),
                hint: format!(
                    "remove the stale TXT values at {name} (old challenge values another client left), or raise \
                     `max-records-per-type` in the server's options or zone; named's log says `too many records`"
                ),
            };
        }
        let note = match crowded.first() {
            Some((name, held, _)) => format!(
                "; {name} already holds {held} TXT record(s): if the server limits records per name (BIND's \
                 `max-records-per-type`, its log then says `too many records`), remove stale values there"
            ),
            None => String::new(),
        };
        ProviderError::Named {
            provider: KIND,
            message: format!(
                "the server failed: {ns} answered {answered} to the update of zone {zone}, so it could not apply \
                 it (a fault of the server, not a refusal by its policy){note}"
            ),
            hint: "see the server's log for the cause (BIND says `journal ... permission denied` when named \
                   cannot write the zone's directory), fix it, and run again"
                .into(),
        }
    }

    /// Whether `server` answers authoritatively for `zone`'s SOA; `None` when it does not answer.
    async fn serves_zone(&self, server: SocketAddr, zone: &Zone) -> Option<bool> {
        let m = self.ask(server, &zone.name, RecordType::SOA).await?;
        let apex = to_hickory(&zone.name);
        Some(
            m.metadata.authoritative
                && m.answers
                    .iter()
                    .any(|r| r.record_type() == RecordType::SOA && r.name == apex),
        )
    }

    /// The zone's NS name that has `server`'s address (asked of the server itself), if any: a
    /// published nameserver that refuses every update is a secondary.
    async fn listed_nameserver(&self, server: SocketAddr, zone: &Zone) -> Option<DnsName> {
        let m = self.ask(server, &zone.name, RecordType::NS).await?;
        let apex = to_hickory(&zone.name);
        let names: Vec<DnsName> = m
            .answers
            .iter()
            .filter(|r| r.name == apex)
            .filter_map(|r| match &r.data {
                RData::NS(ns) => query::from_hickory(&ns.0),
                _ => None,
            })
            .collect();
        for n in names {
            let rtype = if server.is_ipv4() {
                RecordType::A
            } else {
                RecordType::AAAA
            };
            let Some(a) = self.ask(server, &n, rtype).await else {
                continue;
            };
            let hit = a.answers.iter().any(|r| match &r.data {
                RData::A(ip) => std::net::IpAddr::V4(ip.0) == server.ip(),
                RData::AAAA(ip) => std::net::IpAddr::V6(ip.0) == server.ip(),
                _ => false,
            });
            if hit {
                return Some(n);
            }
        }
        None
    }

    async fn ask(&self, server: SocketAddr, name: &DnsName, rtype: RecordType) -> Option<Message> {
        let timeout = self.config.timeout.min(query::DEFAULT_QUERY_TIMEOUT);
        query::query(server, name, rtype, false, timeout).await.ok()
    }

    /// Ask the nameserver itself for the SOA of `fqdn` and its parents.
    async fn discover_zone(&self, fqdn: &DnsName) -> Result<Zone, ProviderError> {
        let server = self.server_addr().await?;
        let transport = if self.config.tcp {
            Transport::Tcp
        } else {
            Transport::Udp
        };
        let timeout = self.config.timeout.min(query::DEFAULT_QUERY_TIMEOUT * 2);
        let mut last = String::new();
        for candidate in fqdn.ancestors() {
            let m = query::query_over(
                transport,
                server,
                &candidate,
                RecordType::SOA,
                false,
                timeout,
            )
            .await
            .map_err(|e| self.map_query_error(e))?;
            let code = m.metadata.response_code;
            if matches!(code, ResponseCode::NoError | ResponseCode::NXDomain) {
                let cand = to_hickory(&candidate);
                if m.answers
                    .iter()
                    .any(|r| r.record_type() == RecordType::SOA && r.name == cand)
                {
                    return Ok(Zone::new(candidate));
                }
                if let Some(owner) = m
                    .authorities
                    .iter()
                    .filter(|r| r.record_type() == RecordType::SOA && r.name.zone_of(&cand))
                    .find_map(|r| query::from_hickory(&r.name))
                {
                    return Ok(Zone::new(owner));
                }
            }
            last = format!("{candidate}: {}", rcode_name(code));
        }
        Err(ProviderError::ZoneNotFound {
            provider: KIND,
            zone: fqdn.to_string(),
            message: format!(
                "{} serves no zone containing {fqdn} (last answer: {last}); check the name, or set `zone`",
                self.config.nameserver
            ),
        })
    }
}

/// Split a value into TXT character-strings of at most 255 bytes (RFC 1035 §3.3.14).
fn txt_strings(value: &str) -> Vec<String> {
    if value.len() <= 255 {
        return vec![value.to_string()];
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in value.chars() {
        if cur.len() + c.len_utf8() > 255 {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Length of `name` in uncompressed wire form.
fn wire_len(name: &DnsName) -> usize {
    name.as_str().len() + 2
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `e` with `note` added to its message.
fn with_note(mut e: ProviderError, note: &str) -> ProviderError {
    match &mut e {
        ProviderError::Auth { message, .. }
        | ProviderError::ZoneNotFound { message, .. }
        | ProviderError::Rejected { message, .. }
        | ProviderError::Unreachable { message, .. }
        | ProviderError::Config { message, .. }
        | ProviderError::Named { message, .. }
        | ProviderError::Other { message, .. } => message.push_str(note),
        _ => {}
    }
    e
}

/// A failure after which the server may have applied the message (no answer, a bad one).
fn unknown_outcome(error: ProviderError) -> SendFailure {
    SendFailure {
        error,
        nothing_applied: false,
    }
}

fn unreachable(target: String, message: String) -> ProviderError {
    ProviderError::Unreachable {
        provider: KIND,
        target,
        message,
    }
}

#[async_trait]
impl DnsProvider for Rfc2136Provider {
    fn name(&self) -> &'static str {
        KIND.name
    }

    async fn zone_for(&self, fqdn: &DnsName) -> Result<Option<Zone>, ProviderError> {
        if let Some(z) = &self.config.zone {
            if fqdn.is_within(z) {
                return Ok(Some(Zone::new(z.clone())));
            }
            return Err(ProviderError::ZoneNotFound {
                provider: KIND,
                zone: z.to_string(),
                message: format!("{fqdn} is not inside the configured zone {z}"),
            });
        }
        if let Some(z) = self.zones.get(fqdn) {
            return Ok(Some(z));
        }
        let zone = self.discover_zone(fqdn).await?;
        tracing::debug!(%fqdn, zone = %zone, server = %self.config.nameserver, "zone from the nameserver's SOA");
        self.zones.insert(fqdn, &zone);
        Ok(Some(zone))
    }

    async fn publish(&self, zone: &Zone, set: &TxtSet) -> Result<Applied, ProviderError> {
        match self.send_update(zone, set, Op::Add).await {
            Ok(()) => Ok(Applied::default()),
            Err(f) => {
                if f.nothing_applied
                    && let Ok(mut refused) = self.refused.lock()
                {
                    refused.push((zone.name.clone(), set.clone()));
                }
                Err(f.error)
            }
        }
    }

    async fn unpublish(&self, zone: &Zone, set: &TxtSet) -> Result<(), ProviderError> {
        // A set the server refused as a whole in this process was never written: nothing to
        // remove (and a server that refused our key would refuse the removal too).
        if let Ok(mut refused) = self.refused.lock()
            && let Some(i) = refused
                .iter()
                .position(|(z, s)| *z == zone.name && s == set)
        {
            refused.remove(i);
            tracing::debug!(zone = %zone, values = set.len(), "nothing to remove: the server refused the publish as a whole");
            return Ok(());
        }
        self.send_update(zone, set, Op::Delete)
            .await
            .map_err(|f| f.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_message_for_all_names() {
        let zone = Zone::new(DnsName::parse("example.test").expect("name"));
        let mut set = TxtSet::new();
        let a = DnsName::parse("_acme-challenge.example.test").expect("name");
        let b = DnsName::parse("_acme-challenge.www.example.test").expect("name");
        set.insert(a.clone(), "v1");
        set.insert(a, "v2");
        set.insert(b, "v3");
        let add = Rfc2136Provider::update_message(&zone, &set, Op::Add).expect("msg");
        assert_eq!(add.metadata.op_code, OpCode::Update);
        assert_eq!(add.authorities.len(), 3);
        assert!(
            add.authorities
                .iter()
                .all(|r| r.dns_class == DNSClass::IN && r.ttl == 60)
        );
        let del = Rfc2136Provider::update_message(&zone, &set, Op::Delete).expect("msg");
        assert!(
            del.authorities
                .iter()
                .all(|r| r.dns_class == DNSClass::NONE && r.ttl == 0)
        );
        let outside = Zone::new(DnsName::parse("other.test").expect("name"));
        assert!(Rfc2136Provider::update_message(&outside, &set, Op::Add).is_err());
    }

    #[test]
    fn large_sets_split_into_messages_that_fit() {
        let zone = Zone::new(DnsName::parse("example.test").expect("name"));
        let mut set = TxtSet::new();
        for i in 0..1000 {
            set.insert(
                DnsName::parse(&format!("_acme-challenge.host-{i:04}.example.test")).expect("name"),
                format!("{i:04}-{}", "v".repeat(39)),
            );
        }
        let parts = Rfc2136Provider::split(&zone, &set);
        assert!(parts.len() > 1, "{}", parts.len());
        let mut all = TxtSet::new();
        for p in &parts {
            let bytes = Rfc2136Provider::update_message(&zone, p, Op::Add)
                .expect("msg")
                .to_vec()
                .expect("encode");
            assert!(
                bytes.len() + TSIG_OVERHEAD <= MAX_UPDATE_BYTES,
                "{}",
                bytes.len()
            );
            all.extend(p);
        }
        assert_eq!(all, set);
        // A small set stays one message.
        let mut one = TxtSet::new();
        one.insert(
            DnsName::parse("_acme-challenge.example.test").expect("name"),
            "v",
        );
        assert_eq!(Rfc2136Provider::split(&zone, &one).len(), 1);
    }

    fn test_provider() -> Rfc2136Provider {
        Rfc2136Provider::new(&Rfc2136Settings {
            nameserver: Some("127.0.0.1:9".into()),
            tsig_key: Some("k".into()),
            tsig_secret: Some(wildcert_provider::Secret::new("c2VjcmV0")),
            ..Rfc2136Settings::default()
        })
        .expect("provider")
    }

    #[tokio::test]
    async fn badtime_is_a_clock_problem() {
        let p = test_provider();
        let key = p.config().key.clone().expect("key");
        // The server's BADTIME answer: TSIG error 18, its own time in "other data".
        let mut request = Rfc2136Provider::empty_update(&Zone::new(
            DnsName::parse("example.test").expect("name"),
        ));
        let signed = key.sign(&mut request, 1_000_000).expect("sign");
        let mut answer = Message::from_vec(&signed.bytes).expect("parse");
        answer.metadata.message_type = hickory_proto::op::MessageType::Response;
        answer.metadata.response_code = ResponseCode::NotAuth;
        let mut sig = answer.take_signature().expect("tsig");
        let server_time: u64 = 1_000_900;
        sig.data.error = Some(hickory_proto::rr::rdata::tsig::TsigError::BadTime);
        sig.data.other = server_time.to_be_bytes()[2..].to_vec();
        answer.set_signature(sig);
        let bytes = answer.to_vec().expect("encode");
        let auth = key.check_answer(&bytes, &signed.mac, 1_000_000);
        assert_eq!(
            auth,
            AnswerAuth::BadTime {
                server_time: Some(server_time),
                our_time: 1_000_000
            }
        );
        let zone = Zone::new(DnsName::parse("example.test").expect("name"));
        let err = p
            .explain(
                "127.0.0.1:9".parse().expect("addr"),
                ResponseCode::NotAuth,
                Some(auth),
                &zone,
                &TxtSet::new(),
                1,
            )
            .await;
        let text = err.to_string();
        assert!(matches!(err, ProviderError::Auth { .. }), "{err:?}");
        assert!(
            text.contains("clock problem")
                && text.contains("BADTIME")
                && text.contains("900 s apart"),
            "{text}"
        );
        // An unsigned answer to a signed request is never taken as valid.
        answer.take_signature();
        let bytes = answer.to_vec().expect("encode");
        assert_eq!(
            key.check_answer(&bytes, &signed.mac, 1_000_000),
            AnswerAuth::Unsigned
        );
    }

    #[test]
    fn long_values_are_split() {
        let v = "x".repeat(600);
        let parts = txt_strings(&v);
        assert_eq!(
            parts.iter().map(String::len).collect::<Vec<_>>(),
            [255, 255, 90]
        );
        assert_eq!(txt_strings("short"), ["short"]);
    }
}
