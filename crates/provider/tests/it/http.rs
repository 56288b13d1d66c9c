//! The shared HTTP retry policy against a scripted loopback server: attempts are counted and
//! timed by the server.

use std::time::{Duration, SystemTime};

use wildcert_provider::http::{RateLimitBudget, RetryPolicy, Verdict, client, default_verdict};
use wildcert_provider::{Kind, ProviderError};
use wildcert_testkit::{ScriptedHttp, ScriptedReply, http_date};

const OK: &str = r#"{"ok":true}"#;
const TEST: Kind = Kind::plain("test");

fn server() -> ScriptedHttp {
    ScriptedHttp::start(ScriptedReply::status(200, OK)).expect("scripted server")
}

/// A policy whose own backoff is tiny, so a long gap can only be the server's `Retry-After`.
fn policy(budget: Duration) -> RetryPolicy {
    let mut p = RetryPolicy::new(TEST, RateLimitBudget::new(budget, "rate_limit_wait"));
    p.base = Duration::from_millis(10);
    p.cap = Duration::from_millis(20);
    p
}

async fn get(
    p: &RetryPolicy,
    url: &str,
) -> Result<wildcert_provider::http::Response, ProviderError> {
    let http = client(TEST, Duration::from_secs(5)).expect("client");
    p.send_builder(url, http.get(format!("{url}/x")), default_verdict)
        .await
}

fn gaps(s: &ScriptedHttp) -> Vec<Duration> {
    let r = s.requests();
    r.windows(2)
        .map(|w| w[1].at.duration_since(w[0].at))
        .collect()
}

#[tokio::test]
async fn a_429_with_retry_after_seconds_is_waited_out() {
    let s = server();
    s.push([
        ScriptedReply::with_header(429, "Retry-After", "1", ""),
        ScriptedReply::with_header(429, "Retry-After", "1", ""),
    ]);
    let p = policy(Duration::from_secs(60));
    let r = get(&p, &s.url()).await.expect("answered after the waits");
    assert_eq!((r.status, r.attempts, s.count()), (200, 3, 3));
    for g in gaps(&s) {
        assert!(g >= Duration::from_millis(900), "waited as asked: {g:?}");
    }
    assert_eq!(p.budget.waited(), Duration::from_secs(2));
    // The client says who it is.
    let ua = s.requests()[0]
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
        .map(|(_, v)| v.clone());
    assert!(ua.is_some_and(|v| v.starts_with("wildcert/")));
}

#[tokio::test]
async fn a_429_with_retry_after_as_an_http_date_is_waited_out() {
    let s = server();
    let at = http_date(SystemTime::now() + Duration::from_secs(2));
    s.push([ScriptedReply::with_header(429, "Retry-After", &at, "")]);
    let p = policy(Duration::from_secs(60));
    let r = get(&p, &s.url()).await.expect("answered after the wait");
    assert_eq!((r.status, s.count()), (200, 2));
    let g = gaps(&s)[0];
    assert!(
        g >= Duration::from_millis(900) && g < Duration::from_secs(10),
        "waited until {at}: {g:?}"
    );
}

#[tokio::test]
async fn server_errors_are_retried_then_handed_back() {
    let s = ScriptedHttp::start(ScriptedReply::status(503, "down")).expect("server");
    let mut p = policy(Duration::from_secs(60));
    p.max_attempts = 3;
    let r = get(&p, &s.url()).await.expect("the last answer");
    assert_eq!((r.status, r.attempts, s.count()), (503, 3, 3));
    assert_eq!(r.text(), "down");

    // Two 502s, then the answer.
    let s = server();
    s.push([
        ScriptedReply::status(502, ""),
        ScriptedReply::status(500, ""),
    ]);
    let r = get(&p, &s.url()).await.expect("answer");
    assert_eq!((r.status, s.count()), (200, 3));
}

#[tokio::test]
async fn connection_refused_is_retried_then_unreachable() {
    let port = wildcert_testkit::free_tcp_port().expect("port");
    let mut p = policy(Duration::from_secs(60));
    p.max_attempts = 3;
    let e = get(&p, &format!("http://127.0.0.1:{port}"))
        .await
        .expect_err("nobody listens");
    let ProviderError::Unreachable {
        provider,
        target,
        message,
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(provider.name, "test");
    assert!(target.contains(&port.to_string()), "{target}");
    assert!(message.contains("after 3 attempts"), "{message}");
    assert!(
        message.to_lowercase().contains("refused"),
        "the source chain: {message}"
    );
}

#[tokio::test]
async fn dropped_connections_are_retried_and_bounded() {
    let s = server();
    s.push([ScriptedReply::HangUp, ScriptedReply::HangUp]);
    let p = policy(Duration::from_secs(60));
    let r = get(&p, &s.url()).await.expect("third time lucky");
    assert_eq!((r.status, s.count()), (200, 3));

    let s = ScriptedHttp::start(ScriptedReply::HangUp).expect("server");
    let mut p = policy(Duration::from_secs(60));
    p.max_transport_attempts = 2;
    let e = get(&p, &s.url()).await.expect_err("always hangs up");
    assert!(matches!(e, ProviderError::Unreachable { .. }), "{e:?}");
    assert_eq!(s.count(), 2, "bounded by max_transport_attempts");
}

#[tokio::test]
async fn retries_are_bounded_in_time() {
    // Each 503 asks for 1 s; 2.5 s of retrying allow two waits, not a hundred.
    let s = ScriptedHttp::start(ScriptedReply::with_header(503, "Retry-After", "1", ""))
        .expect("server");
    let mut p = policy(Duration::from_secs(60));
    p.max_attempts = 100;
    p.max_total = Duration::from_millis(2500);
    let r = get(&p, &s.url()).await.expect("the last answer");
    assert_eq!(r.status, 503);
    assert!((2..=4).contains(&s.count()), "{} attempts", s.count());
}

#[tokio::test]
async fn rate_limited_answers_are_bounded_in_count() {
    let s = ScriptedHttp::start(ScriptedReply::status(429, "")).expect("server");
    let mut p = policy(Duration::from_secs(600));
    p.max_rate_limited = 3;
    let e = get(&p, &s.url()).await.expect_err("still limited");
    assert!(
        matches!(
            e,
            ProviderError::RateLimited {
                retry_after: None,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(s.count(), 3);
}

#[tokio::test]
async fn the_rate_limit_budget_is_shared_by_the_run() {
    let s = ScriptedHttp::start(ScriptedReply::with_header(429, "Retry-After", "1", ""))
        .expect("server");
    let p = policy(Duration::from_secs(2));
    let other = p.clone();
    let e = get(&p, &s.url()).await.expect_err("budget used up");
    assert!(
        matches!(e, ProviderError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(1)),
        "{e:?}"
    );
    assert_eq!(s.count(), 3, "two waits of 1 s fit in 2 s");
    // A second request of the same run (a clone of the policy) has nothing left to wait with.
    let e = get(&other, &s.url()).await.expect_err("no budget left");
    assert!(matches!(e, ProviderError::RateLimited { .. }), "{e:?}");
    assert_eq!(s.count(), 4, "one attempt, no wait");
    assert_eq!(other.budget.waited(), Duration::from_secs(2));
}

#[tokio::test]
async fn a_provider_classifier_turns_a_400_into_a_rate_limit() {
    let s = server();
    let throttled = "<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>";
    s.push([ScriptedReply::status(400, throttled)]);
    let p = policy(Duration::from_secs(60));
    let http = client(TEST, Duration::from_secs(5)).expect("client");
    let classify = |r: &wildcert_provider::http::Response| {
        if r.status == 400 && r.text().contains("<Code>Throttling</Code>") {
            Verdict::RateLimited("Throttling".into())
        } else {
            default_verdict(r)
        }
    };
    let r = p
        .send_builder(&s.url(), http.get(format!("{}/x", s.url())), classify)
        .await
        .expect("retried");
    assert_eq!((r.status, s.count()), (200, 2));
    // Without the hook the 400 is the caller's.
    s.push([ScriptedReply::status(400, throttled)]);
    let r = get(&p, &s.url()).await.expect("answer");
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn an_answer_over_the_limit_is_refused() {
    let big = "x".repeat(5000);
    let s = ScriptedHttp::start(ScriptedReply::status(200, &big)).expect("server");
    let mut p = policy(Duration::from_secs(60));
    p.body_limit = 1000;
    let e = get(&p, &s.url()).await.expect_err("too large");
    assert!(
        matches!(&e, ProviderError::Other { message, .. } if message.contains("exceeds 1000 bytes")),
        "{e:?}"
    );
    assert_eq!(s.count(), 1, "not retried");
}

#[tokio::test]
async fn an_absurd_retry_after_ends_the_request_at_once() {
    let huge = "99999999999999999999";
    let s = ScriptedHttp::start(ScriptedReply::with_header(503, "Retry-After", huge, ""))
        .expect("server");
    let p = policy(Duration::from_secs(60));
    let r = get(&p, &s.url()).await.expect("the answer");
    assert_eq!((r.status, s.count()), (503, 1), "no wait beyond max_total");

    let s = ScriptedHttp::start(ScriptedReply::with_header(429, "Retry-After", huge, ""))
        .expect("server");
    let e = get(&p, &s.url()).await.expect_err("beyond the budget");
    assert!(matches!(e, ProviderError::RateLimited { .. }), "{e:?}");
    assert_eq!(s.count(), 1);
    assert_eq!(
        p.budget.waited(),
        Duration::ZERO,
        "nothing taken from the budget"
    );
}

#[tokio::test]
async fn json_api_sends_per_request_headers_beside_its_fixed_ones() {
    use reqwest::header::HeaderMap;
    use wildcert_provider::Secret;
    use wildcert_provider::api::{JsonApi, secret_header};
    let s = server();
    let mut fixed = HeaderMap::new();
    fixed.insert("x-fixed", "f".parse().expect("header"));
    let api = JsonApi::new(
        TEST,
        reqwest::Url::parse(&s.url()).expect("url"),
        fixed,
        Duration::from_secs(5),
        RateLimitBudget::new(Duration::from_secs(1), "rate_limit_wait"),
    )
    .expect("api");
    let mut own = HeaderMap::new();
    let (name, value) = secret_header(
        TEST,
        "authorization",
        "Bearer ",
        &Secret::new("t1"),
        "token",
    )
    .expect("header");
    own.insert(name, value);
    let header = |i: usize, name: &str| {
        s.requests()[i]
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let r = api
        .send_with(reqwest::Method::GET, api.url(&["a"]), None, &own)
        .await
        .expect("answer");
    assert_eq!(r.status, 200);
    assert_eq!(header(0, "authorization").as_deref(), Some("Bearer t1"));
    assert_eq!(header(0, "x-fixed").as_deref(), Some("f"));
    // The next request carries only the fixed headers.
    api.send(reqwest::Method::GET, api.url(&["b"]), None)
        .await
        .expect("answer");
    assert_eq!(header(1, "authorization"), None);
    assert_eq!(header(1, "x-fixed").as_deref(), Some("f"));
}
