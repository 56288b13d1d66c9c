//! Orders, authorizations and challenges (RFC 8555 §7.4, §7.5, §8.4): create, answer,
//! poll, finalize, download.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use tokio::time::Instant;
use tracing::debug;

use crate::account::Account;
use crate::certkey::CertKey;
use crate::chain::{CertificateChain, select_chain};
use crate::client::Repeat;
use crate::csr::csr_der;
use crate::error::{Error, Result};
use crate::http::{CERT_LIMIT, JSON_LIMIT, Response};
use crate::identifier::Identifier;
use crate::key::sha256;
use crate::types::{
    AuthorizationState, AuthorizationStatus, Challenge, ChallengeStatus, ChallengeType, OrderState,
    OrderStatus,
};

/// First pause when polling without `Retry-After`.
const POLL_START: Duration = Duration::from_millis(50);
/// Longest pause between polls without `Retry-After`.
const POLL_CAP: Duration = Duration::from_secs(2);
/// Polls of a pending authorization whose challenge carries an `error` before giving up.
const PENDING_ERROR_POLLS: u32 = 3;

/// Options for `newOrder` (RFC 8555 §7.4).
#[derive(Debug, Clone, Default)]
pub struct NewOrderOptions {
    /// Certificate profile (draft-ietf-acme-profiles); must be offered by the directory.
    pub profile: Option<String>,
    /// ARI CertID of the certificate this order replaces (RFC 9773 §5).
    pub replaces: Option<String>,
}

/// An order: its URL and the last state fetched.
#[derive(Debug, Clone)]
pub struct Order {
    /// The order URL (keep it to resume the order later).
    pub url: String,
    /// The order object as last seen.
    pub state: OrderState,
    /// The server's `Retry-After` on the last fetch.
    pub retry_after: Option<Duration>,
}

impl Order {
    /// The order status.
    pub fn status(&self) -> OrderStatus {
        self.state.status
    }

    /// The names ordered, as the server lists them (`*.` prefix kept).
    pub fn names(&self) -> Vec<String> {
        self.state
            .identifiers
            .iter()
            .map(|i| i.value.clone())
            .collect()
    }

    /// The profile the CA applies to this order, as it reports it (draft-ietf-acme-profiles):
    /// the one asked for, or the CA's choice when none was asked for. `None` when the CA
    /// reports none (no profile support).
    pub fn profile(&self) -> Option<&str> {
        self.state.profile.as_deref().filter(|p| !p.is_empty())
    }

    fn from_response(url: String, resp: &Response) -> Result<Self> {
        Ok(Order {
            url,
            state: resp.json()?,
            retry_after: resp.retry_after(),
        })
    }
}

/// An authorization: its URL and state (RFC 8555 §7.1.4).
#[derive(Debug, Clone)]
pub struct Authorization {
    /// The authorization URL.
    pub url: String,
    /// The authorization object as last seen.
    pub state: AuthorizationState,
    /// The server's `Retry-After` on the last fetch.
    pub retry_after: Option<Duration>,
}

impl Authorization {
    /// The identifier being authorized (no `*.` even for a wildcard).
    pub fn identifier(&self) -> &str {
        &self.state.identifier.value
    }

    /// True when this authorization is for `*.<identifier>`.
    pub fn wildcard(&self) -> bool {
        self.state.wildcard
    }

    /// The name as ordered: `*.<identifier>` for wildcards.
    pub fn name(&self) -> String {
        if self.wildcard() {
            format!("*.{}", self.identifier())
        } else {
            self.identifier().to_owned()
        }
    }

    /// The status.
    pub fn status(&self) -> AuthorizationStatus {
        self.state.status
    }

    /// The `dns-01` challenge, if offered.
    pub fn dns01(&self) -> Option<&Challenge> {
        self.challenge(&ChallengeType::Dns01)
    }

    /// The challenge of a given type, if offered.
    pub fn challenge(&self, kind: &ChallengeType) -> Option<&Challenge> {
        self.state.challenges.iter().find(|c| &c.kind == kind)
    }

    /// Where the dns-01 TXT record goes: `_acme-challenge.<identifier>` (§8.4).
    pub fn dns01_record_name(&self) -> String {
        format!("_acme-challenge.{}", self.identifier())
    }

    fn failure(&self) -> Error {
        // The failed challenge's error explains the failure best (§7.5.1).
        let problem = self
            .state
            .challenges
            .iter()
            .filter(|c| c.status == ChallengeStatus::Invalid)
            .find_map(|c| c.error.clone())
            .or_else(|| self.state.challenges.iter().find_map(|c| c.error.clone()));
        Error::AuthorizationFailed {
            identifier: self.name(),
            status: self.status(),
            problem: problem.map(Box::new),
        }
    }
}

/// What became of one authorization of a failed order (see
/// [`Account::deactivate_pending_authorizations`]).
#[derive(Debug)]
pub struct AuthzDeactivation {
    /// The authorization URL.
    pub url: String,
    /// The name it is for (`*.` prefixed for wildcards), when it could be fetched.
    pub name: Option<String>,
    /// Its status before: only `pending` ones are deactivated.
    pub before: Option<AuthorizationStatus>,
    /// Its status after (`deactivated`, or `before` when left alone), or why it could not be
    /// fetched or deactivated.
    pub after: Result<AuthorizationStatus>,
}

impl AuthzDeactivation {
    /// True when this call deactivated it.
    pub fn deactivated(&self) -> bool {
        self.before == Some(AuthorizationStatus::Pending)
            && matches!(self.after, Ok(AuthorizationStatus::Deactivated))
    }
}

/// A preferred chain the CA does not offer: the default chain was kept. Log it; nothing
/// else changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainWarning {
    /// The issuer common name asked for.
    pub preferred: String,
    /// The topmost issuer CN of each chain the CA offered, default first.
    pub offered: Vec<String>,
}

impl std::fmt::Display for ChainWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let offered: Vec<String> = self.offered.iter().map(|s| format!("{s:?}")).collect();
        write!(
            f,
            "preferred chain {:?} is not offered by the CA (it offers {}); using the default chain",
            self.preferred,
            offered.join(", ")
        )
    }
}

/// Exponential backoff that honours `Retry-After` and never runs past a deadline.
struct Poll {
    next: Duration,
    started: Instant,
    deadline: Instant,
}

impl Poll {
    fn new(deadline: Instant) -> Self {
        Self::since(deadline, Instant::now())
    }

    /// A poll whose wait began at `started` (earlier pauses count in what a timeout reports).
    fn since(deadline: Instant, started: Instant) -> Self {
        Poll {
            next: POLL_START,
            started,
            deadline,
        }
    }

    /// Sleep before the next poll, or fail with `Timeout` when the deadline has passed.
    async fn wait(
        &mut self,
        retry_after: Option<Duration>,
        what: &str,
        status: &str,
    ) -> Result<()> {
        let now = Instant::now();
        if now >= self.deadline {
            return Err(Error::Timeout {
                what: what.to_owned(),
                waited: now - self.started,
                last_status: status.to_owned(),
            });
        }
        let pause = match retry_after {
            // Sleeping to the deadline would only end in a timeout: say so now.
            Some(d) if d > self.deadline - now => {
                return Err(Error::RetryAfterTooLong {
                    what: what.to_owned(),
                    retry_after: d,
                    limit: self.deadline - self.started,
                    waited: now - self.started,
                    last_status: status.to_owned(),
                });
            }
            Some(d) => d,
            None => {
                let d = self.next;
                self.next = self.next.mul_f32(1.6).min(POLL_CAP);
                d
            }
        };
        tokio::time::sleep(pause.min(self.deadline - now)).await;
        Ok(())
    }
}

impl Account {
    /// Create an order for DNS names, wildcards included (RFC 8555 §7.4).
    ///
    /// Never resent automatically once the server may have seen it (no duplicate orders).
    pub async fn new_order(&self, names: &[String], opts: &NewOrderOptions) -> Result<Order> {
        if names.is_empty() {
            return Err(Error::InvalidArgument(
                "an order needs at least one name".into(),
            ));
        }
        let identifiers: Vec<Identifier> = names.iter().map(Identifier::dns).collect();
        let mut payload = json!({ "identifiers": identifiers });
        if let Some(profile) = &opts.profile {
            let dir = self.client().directory();
            if !dir.offers_profile(profile) {
                let offered: Vec<&str> = dir.meta.profiles.keys().map(String::as_str).collect();
                return Err(Error::Unsupported(if offered.is_empty() {
                    format!("profile {profile:?} requested, but this CA offers no profiles")
                } else {
                    format!(
                        "profile {profile:?} is not offered (offered: {})",
                        offered.join(", ")
                    )
                }));
            }
            payload["profile"] = json!(profile);
        }
        if let Some(replaces) = &opts.replaces {
            payload["replaces"] = json!(replaces);
        }
        let url = self.client().directory().new_order.clone();
        let resp = self
            .post(
                &url,
                payload.to_string().as_bytes(),
                Repeat::Once,
                JSON_LIMIT,
            )
            .await?;
        let order = Order::from_response(resp.location()?, &resp)?;
        debug!(order = %order.url, status = %order.status(), "created order");
        Ok(order)
    }

    /// Fetch an order by URL (POST-as-GET), e.g. to resume a pending one.
    pub async fn order(&self, url: &str) -> Result<Order> {
        let resp = self.post(url, b"", Repeat::Safe, JSON_LIMIT).await?;
        Order::from_response(url.to_owned(), &resp)
    }

    /// Fetch one authorization (POST-as-GET).
    pub async fn authorization(&self, url: &str) -> Result<Authorization> {
        let resp = self.post(url, b"", Repeat::Safe, JSON_LIMIT).await?;
        Ok(Authorization {
            url: url.to_owned(),
            state: resp.json()?,
            retry_after: resp.retry_after(),
        })
    }

    /// Fetch every authorization of an order, concurrently, in the order's order.
    pub async fn authorizations(&self, order: &Order) -> Result<Vec<Authorization>> {
        let mut set = tokio::task::JoinSet::new();
        for (i, url) in order.state.authorizations.iter().enumerate() {
            let account = self.clone();
            let url = url.clone();
            set.spawn(async move { (i, account.authorization(&url).await) });
        }
        let mut out: Vec<Option<Authorization>> = vec![None; order.state.authorizations.len()];
        while let Some(joined) = set.join_next().await {
            let (i, res) = joined.map_err(|e| Error::Http {
                url: order.url.clone(),
                message: format!("authorization fetch task failed: {e}"),
                kind: crate::error::TransportKind::Other,
            })?;
            if let Some(slot) = out.get_mut(i) {
                *slot = Some(res?);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// The key authorization `token.thumbprint` (RFC 8555 §8.1).
    pub fn key_authorization(&self, challenge: &Challenge) -> Result<String> {
        let token = challenge
            .token
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Error::InvalidArgument(format!("challenge {} has no token", challenge.url))
            })?;
        Ok(format!("{token}.{}", self.key().thumbprint()))
    }

    /// The dns-01 TXT value: base64url(SHA-256(key authorization)) (RFC 8555 §8.4).
    pub fn dns01_txt_value(&self, challenge: &Challenge) -> Result<String> {
        Ok(URL_SAFE_NO_PAD.encode(sha256(self.key_authorization(challenge)?.as_bytes())))
    }

    /// Tell the server the challenge is ready: POST `{}` (RFC 8555 §7.5.1).
    pub async fn respond(&self, challenge: &Challenge) -> Result<Challenge> {
        if challenge.status != ChallengeStatus::Pending {
            debug!(challenge = %challenge.url, status = %challenge.status, "not pending, not responding");
            return Ok(challenge.clone());
        }
        let resp = self
            .post(&challenge.url, b"{}", Repeat::Safe, JSON_LIMIT)
            .await?;
        resp.json()
    }

    /// Poll an authorization until it is valid; invalid (or expired, …) is an
    /// [`Error::AuthorizationFailed`] naming the identifier.
    pub async fn wait_authorization(&self, url: &str, deadline: Instant) -> Result<Authorization> {
        let mut poll = Poll::new(deadline);
        let mut polls_with_error = 0;
        loop {
            let authz = self.authorization(url).await?;
            debug!(authz = url, status = %authz.status(), "polled authorization");
            match authz.status() {
                AuthorizationStatus::Valid => return Ok(authz),
                AuthorizationStatus::Pending => {}
                _ => return Err(authz.failure()),
            }
            // RFC 8555 §8.2 lets a CA report a failed attempt in the challenge's `error` while
            // the challenge stays pending (it may retry). Some CAs never retry: after a few
            // polls showing an error, stop with the CA's own words instead of waiting it out.
            if authz.state.challenges.iter().any(|c| c.error.is_some()) {
                polls_with_error += 1;
                if polls_with_error >= PENDING_ERROR_POLLS {
                    return Err(authz.failure());
                }
            }
            let what = format!("authorization of {}", authz.name());
            poll.wait(authz.retry_after, &what, authz.status().as_str())
                .await?;
        }
    }

    /// Deactivate an authorization we will not complete (RFC 8555 §7.5.2).
    pub async fn deactivate_authorization(&self, url: &str) -> Result<Authorization> {
        let resp = self
            .post(
                url,
                br#"{"status":"deactivated"}"#,
                Repeat::Safe,
                JSON_LIMIT,
            )
            .await?;
        Ok(Authorization {
            url: url.to_owned(),
            state: resp.json()?,
            retry_after: resp.retry_after(),
        })
    }

    /// After a failed or abandoned order: deactivate each of its authorizations that is
    /// still `pending` (RFC 8555 §7.5.2), so none is left waiting for a response; valid and
    /// invalid ones are left as they are. One entry per authorization, in the order's order;
    /// a failure on one does not stop the others.
    pub async fn deactivate_pending_authorizations(&self, order: &Order) -> Vec<AuthzDeactivation> {
        let mut out = Vec::with_capacity(order.state.authorizations.len());
        for url in &order.state.authorizations {
            let current = match self.authorization(url).await {
                Ok(a) => a,
                Err(e) => {
                    out.push(AuthzDeactivation {
                        url: url.clone(),
                        name: None,
                        before: None,
                        after: Err(e),
                    });
                    continue;
                }
            };
            let before = current.status();
            let after = if before == AuthorizationStatus::Pending {
                self.deactivate_authorization(url).await.map(|a| a.status())
            } else {
                Ok(before)
            };
            match &after {
                Ok(s) => {
                    debug!(authz = %url, name = %current.name(), %before, after = %s, "authorization after failed order")
                }
                Err(e) => {
                    debug!(authz = %url, name = %current.name(), error = %e, "could not deactivate authorization")
                }
            }
            out.push(AuthzDeactivation {
                url: url.clone(),
                name: Some(current.name()),
                before: Some(before),
                after,
            });
        }
        out
    }

    async fn wait_order(
        &self,
        url: &str,
        deadline: Instant,
        done: fn(OrderStatus) -> Option<bool>,
        expected: &'static str,
    ) -> Result<Order> {
        self.wait_order_since(url, deadline, Instant::now(), done, expected)
            .await
    }

    /// [`Self::wait_order`] for a wait that began at `started`.
    async fn wait_order_since(
        &self,
        url: &str,
        deadline: Instant,
        started: Instant,
        done: fn(OrderStatus) -> Option<bool>,
        expected: &'static str,
    ) -> Result<Order> {
        let mut poll = Poll::since(deadline, started);
        loop {
            let order = self.order(url).await?;
            debug!(order = url, status = %order.status(), "polled order");
            if order.status() == OrderStatus::Invalid {
                return Err(Error::OrderFailed {
                    url: url.to_owned(),
                    problem: order.state.error.clone().map(Box::new),
                });
            }
            match done(order.status()) {
                Some(true) => return Ok(order),
                Some(false) => {
                    return Err(Error::UnexpectedStatus {
                        what: format!("order {url}"),
                        status: order.status().to_string(),
                        expected,
                    });
                }
                None => {}
            }
            poll.wait(
                order.retry_after,
                &format!("order {url}"),
                order.status().as_str(),
            )
            .await?;
        }
    }

    /// Poll an order until it is `ready` (every authorization valid).
    pub async fn wait_order_ready(&self, url: &str, deadline: Instant) -> Result<Order> {
        self.wait_order(
            url,
            deadline,
            |s| match s {
                OrderStatus::Ready | OrderStatus::Valid | OrderStatus::Processing => Some(true),
                OrderStatus::Pending => None,
                _ => Some(false),
            },
            "ready",
        )
        .await
    }

    /// Poll a finalized order through `processing` until it is `valid`.
    pub async fn wait_order_valid(&self, url: &str, deadline: Instant) -> Result<Order> {
        self.wait_order(
            url,
            deadline,
            |s| match s {
                OrderStatus::Valid => Some(true),
                OrderStatus::Processing => None,
                _ => Some(false),
            },
            "processing or valid",
        )
        .await
    }

    /// Finalize a `ready` order with a CSR for its names, made from `key` (RFC 8555 §7.4).
    pub async fn finalize(&self, order: &Order, key: &CertKey) -> Result<Order> {
        let csr = csr_der(&order.names(), key)?;
        self.finalize_with_csr(order, &csr).await
    }

    /// Finalize, then poll only if the CA is still `processing`: one request saved when
    /// it issues at once.
    pub async fn finalize_and_wait(
        &self,
        order: &Order,
        key: &CertKey,
        deadline: Instant,
    ) -> Result<Order> {
        let finalized = self.finalize(order, key).await?;
        match finalized.status() {
            OrderStatus::Valid if finalized.state.certificate.is_some() => Ok(finalized),
            OrderStatus::Invalid => Err(Error::OrderFailed {
                url: finalized.url.clone(),
                problem: finalized.state.error.clone().map(Box::new),
            }),
            _ => {
                // The CA says when the certificate will be ready: don't ask before (§7.4).
                let started = Instant::now();
                let mut poll = Poll::since(deadline, started);
                poll.wait(
                    finalized.retry_after,
                    &format!("order {}", order.url),
                    finalized.status().as_str(),
                )
                .await?;
                self.wait_order_since(
                    &order.url,
                    deadline,
                    started,
                    |s| match s {
                        OrderStatus::Valid => Some(true),
                        OrderStatus::Processing => None,
                        _ => Some(false),
                    },
                    "processing or valid",
                )
                .await
            }
        }
    }

    /// Finalize a `ready` order with a DER CSR made elsewhere.
    pub async fn finalize_with_csr(&self, order: &Order, csr_der: &[u8]) -> Result<Order> {
        let body = json!({ "csr": URL_SAFE_NO_PAD.encode(csr_der) }).to_string();
        let resp = self
            .post(
                &order.state.finalize,
                body.as_bytes(),
                Repeat::Once,
                JSON_LIMIT,
            )
            .await?;
        let finalized = Order::from_response(order.url.clone(), &resp)?;
        debug!(order = %order.url, status = %finalized.status(), "finalized");
        Ok(finalized)
    }

    /// Download one chain by URL (POST-as-GET, `application/pem-certificate-chain`).
    async fn fetch_chain(&self, url: &str) -> Result<(CertificateChain, Vec<String>)> {
        let resp = self.post(url, b"", Repeat::Safe, CERT_LIMIT).await?;
        let ct = resp.content_type();
        if ct != "application/pem-certificate-chain" {
            return Err(Error::UnexpectedContentType {
                url: url.to_owned(),
                expected: "application/pem-certificate-chain",
                got: ct,
            });
        }
        let pem = String::from_utf8(resp.body.clone())
            .map_err(|_| Error::Certificate(format!("{url}: chain is not UTF-8 PEM")))?;
        Ok((
            CertificateChain::from_pem(url, pem)?,
            resp.links("alternate"),
        ))
    }

    /// Download the default chain and every alternate (`Link: rel="alternate"`, §7.4.2).
    pub async fn certificate_chains(&self, order: &Order) -> Result<Vec<CertificateChain>> {
        let url = self.certificate_url(order)?;
        let (first, alternates) = self.fetch_chain(url).await?;
        let mut chains = vec![first];
        for alt in alternates.iter().take(8) {
            chains.push(self.fetch_chain(alt).await?.0);
        }
        Ok(chains)
    }

    /// Download the certificate, choosing the chain whose topmost issuer's CN is
    /// `preferred_chain` (see [`select_chain`]); the default chain otherwise.
    pub async fn download_certificate(
        &self,
        order: &Order,
        preferred_chain: Option<&str>,
    ) -> Result<CertificateChain> {
        let Some(preferred) = preferred_chain else {
            return Ok(self.fetch_chain(self.certificate_url(order)?).await?.0);
        };
        let chains = self.certificate_chains(order).await?;
        select_chain(chains, Some(preferred))
            .ok_or_else(|| Error::Certificate("the server returned no certificate".into()))
    }

    /// Like [`Account::download_certificate`], but says when `preferred_chain` is not
    /// offered: the default chain comes with a [`ChainWarning`] listing the chains the CA
    /// offered (their topmost issuer CNs), for the caller to log.
    pub async fn download_certificate_checked(
        &self,
        order: &Order,
        preferred_chain: Option<&str>,
    ) -> Result<(CertificateChain, Option<ChainWarning>)> {
        let Some(preferred) = preferred_chain else {
            return Ok((
                self.fetch_chain(self.certificate_url(order)?).await?.0,
                None,
            ));
        };
        let chains = self.certificate_chains(order).await?;
        let offered: Vec<String> = chains
            .iter()
            .map(|c| c.top_issuer_cn().unwrap_or_else(|| "(no issuer CN)".into()))
            .collect();
        let matched = chains.iter().any(|c| {
            c.top_issuer_cn().as_deref() == Some(preferred)
                || c.issuer_cns().iter().any(|cn| cn == preferred)
        });
        let chain = select_chain(chains, Some(preferred))
            .ok_or_else(|| Error::Certificate("the server returned no certificate".into()))?;
        let warning = (!matched).then(|| ChainWarning {
            preferred: preferred.to_owned(),
            offered,
        });
        if let Some(w) = &warning {
            tracing::warn!(order = %order.url, "{w}");
        }
        Ok((chain, warning))
    }

    fn certificate_url<'a>(&self, order: &'a Order) -> Result<&'a str> {
        order
            .state
            .certificate
            .as_deref()
            .filter(|_| order.status() == OrderStatus::Valid)
            .ok_or_else(|| Error::UnexpectedStatus {
                what: format!("order {}", order.url),
                status: order.status().to_string(),
                expected: "valid (with a certificate URL)",
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn poll_backs_off_and_times_out() {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut poll = Poll::new(deadline);
        let t0 = Instant::now();
        poll.wait(None, "x", "pending").await.expect("waits");
        let ms = |d: Duration| d.as_millis();
        assert!(ms(Instant::now() - t0).abs_diff(50) <= 1);
        poll.wait(None, "x", "pending").await.expect("waits");
        assert!(ms(Instant::now() - t0).abs_diff(130) <= 2);
        // A Retry-After past the deadline ends the wait at once, naming it and the real wait.
        let e = poll
            .wait(Some(Duration::from_secs(999_999)), "order x", "processing")
            .await
            .expect_err("gives up");
        assert!(matches!(e, Error::RetryAfterTooLong { .. }), "{e}");
        assert!(
            e.to_string().starts_with(
                "the CA asks to wait 999999 s (11 d 13 h) (Retry-After) before asking again about \
                 order x (processing), longer than the 5.0 s this run waits for it (waited 13"
            ),
            "{e}"
        );
        assert!(ms(Instant::now() - t0).abs_diff(130) <= 2);
        // One within the deadline wins over the backoff.
        poll.wait(Some(Duration::from_secs(4)), "x", "pending")
            .await
            .expect("waits");
        assert!(ms(Instant::now() - t0).abs_diff(4130) <= 2);
        for _ in 0..20 {
            if Instant::now() >= deadline {
                break;
            }
            poll.wait(None, "x", "pending").await.expect("waits");
        }
        assert_eq!(Instant::now(), deadline);
        let e = poll
            .wait(None, "order x", "processing")
            .await
            .expect_err("times out");
        assert!(matches!(e, Error::Timeout { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "timed out after 5.0 s waiting for order x (last status: processing)"
        );
    }

    #[test]
    fn authorization_failure_names_identifier() {
        let state: AuthorizationState = serde_json::from_str(
            r#"{"status":"invalid","identifier":{"type":"dns","value":"example.org"},"wildcard":true,
                "challenges":[{"type":"dns-01","url":"https://x/c","status":"invalid","token":"t",
                "error":{"type":"urn:ietf:params:acme:error:unauthorized","detail":"Incorrect TXT record"}}]}"#,
        )
        .expect("parses");
        let a = Authorization {
            url: "https://x/a".into(),
            state,
            retry_after: None,
        };
        let e = a.failure();
        assert_eq!(
            e.to_string(),
            "authorization for *.example.org failed (invalid): unauthorized: Incorrect TXT record"
        );
        assert_eq!(a.dns01_record_name(), "_acme-challenge.example.org");
    }
}
