//! The one HTTP client and the one retry policy of the HTTP providers (Cloudflare, PowerDNS,
//! Route53 and its credential endpoints).
//!
//! - [`install_crypto`]: rustls' ring provider, installed once per process.
//! - [`ClientBuilder`] / [`client`]: every provider's `reqwest::Client` (user agent
//!   `wildcert/VERSION`, timeouts, no redirects unless asked for, and then same-origin only).
//! - [`RetryPolicy::send`]: one request, retried on 429 (honouring `Retry-After` in seconds or
//!   as an HTTP date), 5xx and transport errors, with full jitter, bounded in attempts and in
//!   time; rate-limit waits draw on a [`RateLimitBudget`] shared by every request of a run.
//!   A provider-supplied classifier says which other answers are rate limits or worth a retry
//!   (Route53's `400 Throttling`), so no provider's parsing lives here.
//!
//! Errors are [`ProviderError`]s: `RateLimited` once the budget or the rate-limit attempts
//! are used up, `Unreachable` after the last transport error (with the error's source chain,
//! never a header), `Other` for an answer over the size limit. An answer still 5xx after the
//! last attempt is returned as it is, for the provider to phrase.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;

use crate::error::{Kind, ProviderError};

/// The `User-Agent` of every provider request.
pub const USER_AGENT: &str = concat!("wildcert/", env!("CARGO_PKG_VERSION"));
/// Longest connect timeout, whatever the request timeout.
pub const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A progress line at least this often while waiting out a rate limit.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(30);
/// Shortest wait after a rate-limited answer (a `Retry-After: 0` is not an invitation to spin).
pub const MIN_RATE_LIMIT_WAIT: Duration = Duration::from_millis(100);

/// Install rustls' ring crypto provider as the process default, once. Every client this
/// module builds calls it; another provider installed first (by the CLI) is fine.
pub fn install_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err: a provider is installed already, which is all we need.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// How a provider's HTTP client is built; [`client`] is the common case.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    provider: Kind,
    timeout: Duration,
    connect_timeout: Duration,
    redirects: usize,
    no_proxy: bool,
    headers: HeaderMap,
}

impl ClientBuilder {
    /// A client for `provider` with `timeout` per request (connect: at most 10 s), no
    /// redirects followed.
    pub fn new(provider: Kind, timeout: Duration) -> Self {
        ClientBuilder {
            provider,
            timeout,
            connect_timeout: timeout.min(MAX_CONNECT_TIMEOUT),
            redirects: 0,
            no_proxy: false,
            headers: HeaderMap::new(),
        }
    }

    /// Bound on connecting (TCP and TLS handshake).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Follow up to `max` redirects, to the same scheme, host and port only (a header such
    /// as `X-API-Key` must not travel to another host).
    pub fn follow_redirects(mut self, max: usize) -> Self {
        self.redirects = max;
        self
    }

    /// Ignore `HTTP(S)_PROXY` (link-local metadata endpoints).
    pub fn no_proxy(mut self) -> Self {
        self.no_proxy = true;
        self
    }

    /// Headers sent with every request (mark secrets with `set_sensitive`).
    pub fn default_headers(mut self, headers: HeaderMap) -> Self {
        self.headers = headers;
        self
    }

    /// Build the client.
    pub fn build(self) -> Result<reqwest::Client, ProviderError> {
        install_crypto();
        let max = self.redirects;
        let policy = if max == 0 {
            reqwest::redirect::Policy::none()
        } else {
            reqwest::redirect::Policy::custom(move |attempt| {
                let same = attempt.previous().first().is_some_and(|first| {
                    let next = attempt.url();
                    first.scheme() == next.scheme()
                        && first.host_str() == next.host_str()
                        && first.port_or_known_default() == next.port_or_known_default()
                });
                if !same || attempt.previous().len() > max {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            })
        };
        let mut b = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .redirect(policy)
            .user_agent(USER_AGENT)
            .default_headers(self.headers);
        if self.no_proxy {
            b = b.no_proxy();
        }
        b.build().map_err(|e| ProviderError::Config {
            provider: self.provider,
            message: format!("cannot build the HTTP client: {}", transport_text(&e)),
        })
    }
}

/// The client of `provider`: user agent, `timeout` per request, no redirects.
pub fn client(provider: Kind, timeout: Duration) -> Result<reqwest::Client, ProviderError> {
    ClientBuilder::new(provider, timeout).build()
}

/// Time a run may spend waiting out rate limits, shared by every request (and every clone)
/// that draws on it.
#[derive(Debug, Clone)]
pub struct RateLimitBudget {
    limit: Duration,
    setting: &'static str,
    waited: Arc<Mutex<Duration>>,
}

impl RateLimitBudget {
    /// A budget of `limit`; `setting` names it in messages (e.g. `rate_limit_wait`).
    pub fn new(limit: Duration, setting: &'static str) -> Self {
        RateLimitBudget {
            limit,
            setting,
            waited: Arc::default(),
        }
    }

    /// The whole budget.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// The name of the budget in messages.
    pub fn setting(&self) -> &'static str {
        self.setting
    }

    /// Time waited so far.
    pub fn waited(&self) -> Duration {
        *self.waited.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Time left.
    pub fn left(&self) -> Duration {
        self.limit.saturating_sub(self.waited())
    }

    /// Take `wait` out of the budget: what is left afterwards, or `None` (nothing taken) when
    /// it does not fit.
    pub fn reserve(&self, wait: Duration) -> Option<Duration> {
        let mut w = self.waited.lock().unwrap_or_else(|p| p.into_inner());
        let left = self.limit.saturating_sub(*w);
        if wait > left {
            return None;
        }
        *w += wait;
        Some(left - wait)
    }
}

/// What a classifier makes of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Hand the answer to the caller (success or an error not worth retrying).
    Done,
    /// A passing failure (5xx, "try again"): retry within `max_attempts` and `max_total`.
    Retry,
    /// A rate limit, named for messages (e.g. `HTTP 429`, `Throttling`): wait (`Retry-After`
    /// when given) out of the rate-limit budget, within `max_rate_limited`.
    RateLimited(String),
}

/// An answer read in full (bounded).
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Vec<u8>,
    /// Attempts it took (1 when the first answer is this one).
    pub attempts: u32,
}

impl Response {
    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `Retry-After` as a delay from now (seconds or HTTP date).
    pub fn retry_after(&self) -> Option<Duration> {
        self.headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()))
    }

    /// True for 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The classifier every provider starts from: 429 is a rate limit, 500/502/503/504 are
/// retried, everything else is the caller's.
pub fn default_verdict(r: &Response) -> Verdict {
    match r.status {
        429 => Verdict::RateLimited("HTTP 429".into()),
        500 | 502 | 503 | 504 => Verdict::Retry,
        _ => Verdict::Done,
    }
}

/// The one retry policy. Build with [`RetryPolicy::new`] and adjust the fields.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Provider kind, for errors and log lines.
    pub provider: Kind,
    /// Attempts of one request on [`Verdict::Retry`] answers and transport errors together.
    pub max_attempts: u32,
    /// Attempts of one request that end in transport errors (refused, timed out, cut off);
    /// lower it when an unreachable server is more often a wrong URL than an outage.
    pub max_transport_attempts: u32,
    /// Rate-limited answers one request may see before it reports `RateLimited`.
    pub max_rate_limited: u32,
    /// Bound on the time one request spends on retries after errors (rate-limit waits are
    /// bounded by the budget instead).
    pub max_total: Duration,
    /// Ceiling of the first backoff; doubled per retry up to `cap`, then fully jittered.
    pub base: Duration,
    /// Largest backoff.
    pub cap: Duration,
    /// Largest answer read.
    pub body_limit: usize,
    /// The run's rate-limit budget (clones share it).
    pub budget: RateLimitBudget,
    /// What the provider's rate limit means, appended to the first progress line.
    pub rate_limit_note: Option<&'static str>,
}

impl RetryPolicy {
    /// Defaults: 4 attempts, 100 rate-limited answers, 180 s of error retries, backoff from
    /// 0.5 s to 5 s, 4 MiB answers, a budget of `budget`.
    pub fn new(provider: Kind, budget: RateLimitBudget) -> Self {
        RetryPolicy {
            provider,
            max_attempts: 4,
            max_transport_attempts: 4,
            max_rate_limited: 100,
            max_total: Duration::from_secs(180),
            base: Duration::from_millis(500),
            cap: Duration::from_secs(5),
            body_limit: 4 << 20,
            budget,
            rate_limit_note: None,
        }
    }

    /// Send a request that can be cloned (no streaming body), as [`RetryPolicy::send`] does.
    pub async fn send_builder(
        &self,
        target: &str,
        req: reqwest::RequestBuilder,
        classify: impl Fn(&Response) -> Verdict,
    ) -> Result<Response, ProviderError> {
        self.send(
            target,
            |_| {
                let r = req.try_clone().ok_or_else(|| ProviderError::Other {
                    provider: self.provider,
                    message: format!("{target}: the request cannot be repeated"),
                });
                async move { r }
            },
            classify,
        )
        .await
    }

    /// One request: `make(attempt)` (from 1) builds it afresh for every attempt (signatures,
    /// pacing); `classify` judges each answer; `target` names the server in errors.
    pub async fn send<F, Fut>(
        &self,
        target: &str,
        mut make: F,
        classify: impl Fn(&Response) -> Verdict,
    ) -> Result<Response, ProviderError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<reqwest::RequestBuilder, ProviderError>>,
    {
        let start = Instant::now();
        let mut rate_waited = Duration::ZERO;
        let (mut attempts, mut failures, mut transport, mut rate_limited) =
            (0u32, 0u32, 0u32, 0u32);
        loop {
            attempts += 1;
            let req = make(attempts).await?;
            let outcome = match req.send().await {
                Err(e) => Err(transport_text(&e)),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    match read_limited(resp, self.body_limit).await {
                        Ok(body) => Ok(Response {
                            status,
                            headers,
                            body,
                            attempts,
                        }),
                        Err(ReadError::TooLarge) => {
                            return Err(ProviderError::Other {
                                provider: self.provider,
                                message: format!(
                                    "{target}: the answer exceeds {} bytes",
                                    self.body_limit
                                ),
                            });
                        }
                        Err(ReadError::Transport(m)) => Err(format!("reading the answer: {m}")),
                    }
                }
            };
            let error_time = start.elapsed().saturating_sub(rate_waited);
            let resp = match outcome {
                Ok(r) => r,
                Err(msg) => {
                    failures += 1;
                    transport += 1;
                    let wait = backoff(failures, self.base, self.cap);
                    if failures >= self.max_attempts
                        || transport >= self.max_transport_attempts
                        || error_time.saturating_add(wait) > self.max_total
                    {
                        return Err(ProviderError::Unreachable {
                            provider: self.provider,
                            target: target.to_string(),
                            message: format!("{msg} (after {attempts} attempts)"),
                        });
                    }
                    tracing::debug!(provider = self.provider.name, %target, attempts,
                        "transport error ({msg}); retrying in {wait:?}");
                    tokio::time::sleep(wait).await;
                    continue;
                }
            };
            match classify(&resp) {
                Verdict::Done => return Ok(resp),
                Verdict::Retry => {
                    failures += 1;
                    let wait = resp
                        .retry_after()
                        .unwrap_or_else(|| backoff(failures, self.base, self.cap));
                    if failures >= self.max_attempts
                        || error_time.saturating_add(wait) > self.max_total
                    {
                        return Ok(resp);
                    }
                    tracing::debug!(provider = self.provider.name, %target, status = resp.status,
                        attempts, "server error; retrying in {wait:?}");
                    tokio::time::sleep(wait).await;
                }
                Verdict::RateLimited(what) => {
                    rate_limited += 1;
                    let after = resp.retry_after();
                    let wait = after
                        .unwrap_or_else(|| backoff(rate_limited, self.base, self.cap))
                        .max(MIN_RATE_LIMIT_WAIT);
                    let left = if rate_limited >= self.max_rate_limited {
                        Err(format!(
                            "{rate_limited} rate-limited answers to one request"
                        ))
                    } else {
                        self.budget.reserve(wait).ok_or_else(|| {
                            format!(
                                "waiting {} s more does not fit: {} ({} s) is used up",
                                wait.as_secs_f32().ceil(),
                                self.budget.setting(),
                                self.budget.limit().as_secs()
                            )
                        })
                    };
                    let left = match left {
                        Ok(left) => left,
                        Err(why) => {
                            tracing::warn!(
                                "{}: still rate limited ({what}) after waiting {} s in this run; {why}",
                                self.provider,
                                self.budget.waited().as_secs(),
                            );
                            return Err(ProviderError::RateLimited {
                                provider: self.provider,
                                retry_after: after,
                            });
                        }
                    };
                    let note = self
                        .rate_limit_note
                        .map(|n| format!(": {n}"))
                        .unwrap_or_default();
                    let how = if after.is_some() {
                        "as the server asks"
                    } else {
                        "(backing off)"
                    };
                    tracing::info!(
                        "{}: rate limited ({what}{note}); waiting {} s {how} ({} s of {} left after that)",
                        self.provider,
                        wait.as_secs_f32().ceil(),
                        left.as_secs(),
                        self.budget.setting()
                    );
                    wait_out(self.provider, wait).await;
                    rate_waited += wait;
                }
            }
        }
    }
}

/// Sleep `wait`, with a progress line every [`PROGRESS_EVERY`].
async fn wait_out(provider: Kind, wait: Duration) {
    let until = Instant::now() + wait;
    loop {
        let rest = until.saturating_duration_since(Instant::now());
        if rest.is_zero() {
            return;
        }
        tokio::time::sleep(rest.min(PROGRESS_EVERY)).await;
        let rest = until.saturating_duration_since(Instant::now());
        if !rest.is_zero() {
            tracing::info!(
                "{provider}: waiting out the rate limit, {} s to go",
                rest.as_secs_f32().ceil()
            );
        }
    }
}

/// The backoff before retry `n` (from 1): "full jitter" over `min(cap, base · 2^(n-1))`, with a
/// floor of a tenth of that ceiling; the randomness comes from [`random`].
pub fn backoff(n: u32, base: Duration, cap: Duration) -> Duration {
    backoff_with(n, base, cap, random())
}

/// [`backoff`] with the random number given: `random` spread over the upper nine tenths of
/// the ceiling (pure, for tests).
pub fn backoff_with(n: u32, base: Duration, cap: Duration, random: u64) -> Duration {
    let ceiling = base
        .saturating_mul(1u32 << n.saturating_sub(1).min(20))
        .min(cap);
    let floor = ceiling / 10;
    let frac = (random >> 11) as f64 / (1u64 << 53) as f64;
    floor + (ceiling - floor).mul_f64(frac)
}

/// A pseudo-random number: splitmix64 over a process-wide counter seeded from the clock (good
/// enough to spread retries, not for secrets).
pub fn random() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    static SEED: Once = Once::new();
    SEED.call_once(|| {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5eed);
        STATE.store(
            t ^ u64::from(std::process::id()).rotate_left(32),
            Ordering::Relaxed,
        );
    });
    let mut z = STATE
        .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `Retry-After` (RFC 9110 §10.2.3) as a delay from `now`: delta-seconds, or an HTTP date
/// (IMF-fixdate, RFC 850 or asctime form). A date in the past is zero.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let at = parse_http_date(v)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// An HTTP date: `Sun, 06 Nov 1994 08:49:37 GMT`, `Sunday, 06-Nov-94 08:49:37 GMT` or
/// `Sun Nov  6 08:49:37 1994`.
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let tokens: Vec<&str> = s
        .split([' ', ',', '-', ':'])
        .filter(|t| !t.is_empty())
        .collect();
    // Weekday first in every form.
    let rest = tokens.get(1..)?;
    let month_of = |t: &str| {
        MONTHS
            .iter()
            .position(|m| t.eq_ignore_ascii_case(m))
            .map(|i| i as u32 + 1)
    };
    let num = |t: &str| t.parse::<u32>().ok();
    let (day, month, year, h, m, sec) = match rest {
        // IMF-fixdate and RFC 850: day month year h m s GMT
        [d, mo, y, h, m, s, z] if z.eq_ignore_ascii_case("GMT") => {
            let mut y = num(y)?;
            if y < 100 {
                y += if y < 70 { 2000 } else { 1900 };
            }
            (num(d)?, month_of(mo)?, y, num(h)?, num(m)?, num(s)?)
        }
        // asctime: month day h m s year
        [mo, d, h, m, s, y] => (num(d)?, month_of(mo)?, num(y)?, num(h)?, num(m)?, num(s)?),
        _ => return None,
    };
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 || year < 1970 {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(h * 3600 + m * 60 + sec);
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A transport error on one line: what failed and its source chain (refused, DNS, TLS,
/// timed out). No URL (the caller names the target) and never a header.
pub fn transport_text(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "no answer in time"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "the answer was cut off"
    } else {
        "request failed"
    };
    let mut out = what.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        src = s.source();
    }
    out
}

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// Over the limit.
    TooLarge,
    /// The connection failed mid-body.
    Transport(String),
}

/// Read a body, at most `limit` bytes.
pub async fn read_limited(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, ReadError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(ReadError::TooLarge);
    }
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if out.len() + c.len() > limit {
                    return Err(ReadError::TooLarge);
                }
                out.extend_from_slice(&c);
            }
            Ok(None) => return Ok(out),
            Err(e) => return Err(ReadError::Transport(transport_text(&e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun Nov  6 08:49:42 1994", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now),
            Some(Duration::ZERO),
            "a date in the past"
        );
        for bad in [
            "",
            "soon",
            "-1",
            "1.5",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
        assert_eq!(
            parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(UNIX_EPOCH)
        );
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2000 12:00:00 GMT"),
            Some(UNIX_EPOCH + Duration::from_secs(951_825_600))
        );
    }

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let (base, cap) = (Duration::from_millis(500), Duration::from_secs(5));
        for n in 1..40 {
            let ceiling = base.saturating_mul(1 << (n - 1).min(20)).min(cap);
            for r in [0, 1, u64::MAX / 3, u64::MAX / 2, u64::MAX] {
                let d = backoff_with(n, base, cap, r);
                assert!(d >= ceiling / 10 && d <= ceiling, "{n} {r}: {d:?}");
            }
        }
        assert!(backoff_with(1, base, cap, 0) < backoff_with(1, base, cap, u64::MAX));
        // The waits actually vary: 200 draws of the same retry give many different values.
        let mut seen: Vec<Duration> = (0..200).map(|_| backoff(3, base, cap)).collect();
        seen.sort();
        seen.dedup();
        assert!(seen.len() > 150, "{} distinct waits", seen.len());
        assert!(seen.iter().all(|d| *d <= Duration::from_secs(2)));
    }

    #[test]
    fn budget_is_shared_by_clones() {
        let a = RateLimitBudget::new(Duration::from_secs(10), "rate_limit_wait");
        let b = a.clone();
        assert_eq!(
            a.reserve(Duration::from_secs(6)),
            Some(Duration::from_secs(4))
        );
        assert_eq!(b.reserve(Duration::from_secs(6)), None, "nothing taken");
        assert_eq!(b.reserve(Duration::from_secs(4)), Some(Duration::ZERO));
        assert_eq!(a.waited(), Duration::from_secs(10));
        assert_eq!(a.left(), Duration::ZERO);
    }

    #[test]
    fn clients_build_once_crypto_is_installed() {
        install_crypto();
        install_crypto();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
        assert!(client(Kind::plain("test"), Duration::from_secs(1)).is_ok());
        assert!(
            ClientBuilder::new(Kind::plain("test"), Duration::from_secs(1))
                .follow_redirects(3)
                .no_proxy()
                .build()
                .is_ok()
        );
    }
}
