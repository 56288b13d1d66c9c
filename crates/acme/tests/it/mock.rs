//! Transport behaviours against a scripted plain-HTTP ACME server on loopback: badNonce
//! retries, 5xx retries only where safe, body limits, content types, Retry-After.
//!
//! Pebble cannot be made to answer 5xx or oversized bodies, so these use a tiny HTTP/1.1
//! server. Everything else is tested against Pebble.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use wildcert_acme::{
    AccountKey, AccountKeyType, AcmeClient, CertId, ClientConfig, Error, Instant, NewAccount,
    NewOrderOptions, OrderStatus, ProblemType,
};

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Seen {
    /// The protected header of a JWS body.
    fn jws_header(&self) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        let p = URL_SAFE_NO_PAD
            .decode(v["protected"].as_str().unwrap_or_default())
            .unwrap_or_default();
        serde_json::from_slice(&p).unwrap_or_default()
    }
}

/// A response: status, content type, extra headers, body.
struct Reply {
    status: u16,
    content_type: &'static str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, body: serde_json::Value) -> Self {
        Reply {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        }
    }

    fn problem(status: u16, ty: &str, detail: &str) -> Self {
        Reply {
            status,
            content_type: "application/problem+json",
            headers: Vec::new(),
            body: serde_json::json!({
                "type": format!("urn:ietf:params:acme:error:{ty}"),
                "detail": detail,
                "status": status,
            })
            .to_string()
            .into_bytes(),
        }
    }

    fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }
}

type Handler = Arc<dyn Fn(&Seen, usize) -> Reply + Send + Sync>;

/// A scripted server: `handler(request, how many requests to this path before)`.
struct Mock {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Mock {
    async fn start(handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Mock {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let handler: Handler = Arc::new(handler);
        let nonce = Arc::new(AtomicU64::new(0));
        let (seen2, base2) = (seen.clone(), base.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (seen, handler, nonce, base) =
                    (seen2.clone(), handler.clone(), nonce.clone(), base2.clone());
                tokio::spawn(async move {
                    let (r, mut w) = stream.into_split();
                    let mut r = BufReader::new(r);
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let mut parts = line.split_whitespace();
                        let method = parts.next().unwrap_or_default().to_owned();
                        let path = parts.next().unwrap_or_default().to_owned();
                        let mut headers = HashMap::new();
                        loop {
                            let mut h = String::new();
                            if r.read_line(&mut h).await.unwrap_or(0) == 0 {
                                return;
                            }
                            let h = h.trim_end();
                            if h.is_empty() {
                                break;
                            }
                            if let Some((k, v)) = h.split_once(':') {
                                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                            }
                        }
                        let len: usize = headers
                            .get("content-length")
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0);
                        let mut body = vec![0; len];
                        if r.read_exact(&mut body).await.is_err() {
                            return;
                        }
                        let req = Seen {
                            method,
                            path,
                            headers,
                            body,
                        };
                        let (reply, is_head) = {
                            let mut all = seen.lock().expect("lock");
                            let before = all.iter().filter(|s| s.path == req.path).count();
                            all.push(req.clone());
                            drop(all);
                            let reply = if req.path == "/dir" {
                                Reply::json(200, directory(&base))
                            } else if req.path == "/nonce" {
                                Reply::json(200, serde_json::json!({}))
                            } else {
                                handler(&req, before)
                            };
                            (reply, req.method == "HEAD")
                        };
                        let n = nonce.fetch_add(1, Ordering::Relaxed);
                        let mut out = format!(
                            "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\nReplay-Nonce: nonce{n}\r\n",
                            reply.status,
                            reply.content_type,
                            if is_head { 0 } else { reply.body.len() }
                        );
                        for (k, v) in &reply.headers {
                            out.push_str(&format!("{k}: {v}\r\n"));
                        }
                        out.push_str("\r\n");
                        let mut bytes = out.into_bytes();
                        if !is_head {
                            bytes.extend_from_slice(&reply.body);
                        }
                        if w.write_all(&bytes).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Mock { base, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn seen(&self, path: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .expect("lock")
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }

    async fn client(&self) -> AcmeClient {
        AcmeClient::new(ClientConfig {
            directory_url: self.url("/dir"),
            allow_insecure_http: true,
            ..Default::default()
        })
        .await
        .expect("client")
    }

    /// A client and a fresh account on it (the scripted `/new-acct` must answer 201).
    async fn account(&self) -> wildcert_acme::Account {
        self.client()
            .await
            .new_account(key(), &NewAccount::default())
            .await
            .expect("account")
    }
}

fn directory(base: &str) -> serde_json::Value {
    serde_json::json!({
        "newNonce": format!("{base}/nonce"),
        "newAccount": format!("{base}/new-acct"),
        "newOrder": format!("{base}/new-order"),
        "revokeCert": format!("{base}/revoke"),
        "keyChange": format!("{base}/key-change"),
        "renewalInfo": format!("{base}/ari"),
        "meta": {"profiles": {"classic": "the usual", "shortlived": "six days"}},
    })
}

fn account_created(base: &str) -> Reply {
    Reply::json(201, serde_json::json!({"status": "valid"}))
        .header("Location", &format!("{base}/acct/1"))
}

fn order_json(base: &str, status: &str) -> serde_json::Value {
    serde_json::json!({
        "status": status,
        "identifiers": [{"type": "dns", "value": "example.com"}],
        "authorizations": [],
        "finalize": format!("{base}/finalize/1"),
    })
}

fn key() -> AccountKey {
    AccountKey::generate(AccountKeyType::EcdsaP256).expect("key")
}

#[tokio::test]
async fn bad_nonce_is_retried_with_the_fresh_nonce() {
    let mock = Mock::start(|req, before| {
        if req.path == "/new-acct" && before < 3 {
            Reply::problem(400, "badNonce", "stale")
        } else {
            account_created("http://x")
        }
    })
    .await;
    let client = mock.client().await;
    let account = client
        .new_account(key(), &NewAccount::default())
        .await
        .expect("succeeds after badNonce");
    assert_eq!(account.url(), "http://x/acct/1");
    let posts = mock.seen("/new-acct");
    assert_eq!(posts.len(), 4);
    // The directory GET gave nonce0 (pooled), so attempt 1 uses it; every retry uses the
    // nonce from the badNonce response that preceded it.
    let nonces: Vec<String> = posts
        .iter()
        .map(|p| {
            p.jws_header()["nonce"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(nonces[0], "nonce0");
    for w in nonces.windows(2) {
        assert_ne!(w[0], w[1], "each attempt uses a new nonce");
    }
    assert!(mock.seen("/nonce").is_empty(), "no HEAD newNonce needed");
    let ua = posts[0]
        .headers
        .get("user-agent")
        .cloned()
        .unwrap_or_default();
    assert!(ua.starts_with("wildcert/"), "{ua}");
    assert_eq!(
        posts[0].headers.get("content-type").map(String::as_str),
        Some("application/jose+json")
    );
}

#[tokio::test]
async fn bad_nonce_retries_are_bounded() {
    let mock = Mock::start(|_, _| Reply::problem(400, "badNonce", "always")).await;
    let client = mock.client().await;
    let err = client
        .new_account(key(), &NewAccount::default())
        .await
        .expect_err("gives up");
    assert!(err.is_problem(&ProblemType::BadNonce), "{err}");
    // Bounded: 20 signed attempts, then the error (see BAD_NONCE_ATTEMPTS).
    assert_eq!(mock.seen("/new-acct").len(), 20);
}

#[tokio::test]
async fn server_errors_are_retried_only_when_safe() {
    let mock = Mock::start(|req, before| match req.path.as_str() {
        "/new-acct" => account_created("http://x"),
        "/order/1" if before < 2 => Reply::problem(503, "serverInternal", "busy"),
        "/order/1" => Reply::json(200, order_json("http://x", "pending")),
        "/new-order" => Reply::problem(500, "serverInternal", "oops"),
        _ => Reply::json(404, serde_json::json!({})),
    })
    .await;
    let account = mock.account().await;
    // POST-as-GET: retried.
    let order = account
        .order(&mock.url("/order/1"))
        .await
        .expect("retried to success");
    assert_eq!(order.status(), OrderStatus::Pending);
    assert_eq!(mock.seen("/order/1").len(), 3);
    // newOrder: never resent, so no duplicate orders.
    let err = account
        .new_order(&["example.com".into()], &NewOrderOptions::default())
        .await
        .expect_err("500");
    assert!(err.is_problem(&ProblemType::ServerInternal), "{err}");
    assert_eq!(mock.seen("/new-order").len(), 1);
}

#[tokio::test]
async fn bodies_and_content_types_are_checked() {
    let mock = Mock::start(|req, _| match req.path.as_str() {
        "/new-acct" => account_created("http://x"),
        "/big" => Reply::json(
            200,
            serde_json::json!({ "pad": "x".repeat(2 * 1024 * 1024) }),
        ),
        "/html" => Reply {
            status: 200,
            content_type: "text/html",
            headers: Vec::new(),
            body: b"<html>hi</html>".to_vec(),
        },
        "/new-order" => Reply {
            status: 502,
            content_type: "text/plain",
            headers: Vec::new(),
            body: b"Bad gateway\nfrom proxy".to_vec(),
        },
        "/limited" => {
            Reply::problem(429, "rateLimited", "too many new orders").header("Retry-After", "120")
        }
        _ => Reply::json(404, serde_json::json!({})),
    })
    .await;
    let account = mock.account().await;

    let err = account.order(&mock.url("/big")).await.expect_err("too big");
    assert!(matches!(err, Error::BodyTooLarge { .. }), "{err}");

    let err = account
        .order(&mock.url("/html"))
        .await
        .expect_err("not JSON");
    assert!(matches!(err, Error::UnexpectedContentType { .. }), "{err}");

    let err = account
        .new_order(&["example.com".into()], &NewOrderOptions::default())
        .await
        .expect_err("502");
    match &err {
        Error::HttpStatus {
            status, snippet, ..
        } => {
            assert_eq!(*status, 502);
            assert!(snippet.contains("Bad gateway"), "{snippet}");
        }
        other => panic!("unexpected {other}"),
    }
    assert!(!err.to_string().contains('\n'));

    let err = account.order(&mock.url("/limited")).await.expect_err("429");
    assert!(err.is_problem(&ProblemType::RateLimited), "{err}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
}

#[tokio::test]
async fn polling_honours_retry_after() {
    let mock = Mock::start(|req, before| match req.path.as_str() {
        "/new-acct" => account_created("http://x"),
        "/order/1" if before == 0 => {
            Reply::json(200, order_json("http://x", "processing")).header("Retry-After", "1")
        }
        "/order/1" => Reply::json(200, order_json("http://x", "valid")),
        _ => Reply::json(404, serde_json::json!({})),
    })
    .await;
    let account = mock.account().await;
    let started = std::time::Instant::now();
    let order = account
        .wait_order_valid(
            &mock.url("/order/1"),
            Instant::now() + Duration::from_secs(10),
        )
        .await
        .expect("valid");
    assert_eq!(order.status(), OrderStatus::Valid);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(mock.seen("/order/1").len(), 2);
}

#[tokio::test]
async fn plain_http_needs_the_explicit_flag() {
    let err = AcmeClient::new(ClientConfig::new("http://127.0.0.1:9/dir"))
        .await
        .expect_err("refused");
    assert!(matches!(err, Error::InvalidDirectoryUrl { .. }), "{err}");
}

#[tokio::test]
async fn renewal_info_profiles_and_replaces_on_the_wire() {
    let mock = Mock::start(|req, _| match req.path.as_str() {
        "/new-acct" => account_created("http://x"),
        "/ari/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE" => Reply::json(
            200,
            serde_json::json!({
                "suggestedWindow": {"start": "2025-01-02T04:00:00Z", "end": "2025-01-03T04:00:00Z"},
                "explanationURL": "https://ca.example/why"
            }),
        )
        .header("Retry-After", "21600"),
        "/new-order" => Reply::json(201, order_json("http://x", "pending"))
            .header("Location", "http://x/order/9"),
        _ => Reply::json(404, serde_json::json!({})),
    })
    .await;
    let client = mock.client().await;
    let id = CertId::from_parts(
        &[
            0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0,
            0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4,
        ],
        &[0x00, 0x87, 0x65, 0x43, 0x21],
    );
    let info = client.renewal_info(&id).await.expect("renewal info");
    assert_eq!(info.retry_after, Some(Duration::from_secs(21600)));
    assert_eq!(
        info.explanation_url.as_deref(),
        Some("https://ca.example/why")
    );
    let at = info.suggested_window.random_time();
    assert!(at >= info.suggested_window.start && at <= info.suggested_window.end);
    let ari_get = &mock.seen("/ari/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")[0];
    assert_eq!(ari_get.method, "GET", "ARI is a plain GET");

    let account = client
        .new_account(key(), &NewAccount::default())
        .await
        .expect("account");
    let order = account
        .new_order(
            &["*.example.com".into(), "example.com".into()],
            &NewOrderOptions {
                profile: Some("shortlived".into()),
                replaces: Some(id.to_string()),
            },
        )
        .await
        .expect("order");
    assert_eq!(order.url, "http://x/order/9");
    let post = &mock.seen("/new-order")[0];
    let v: serde_json::Value = serde_json::from_slice(&post.body).expect("jws");
    let payload: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(v["payload"].as_str().unwrap_or_default())
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(payload["profile"], "shortlived");
    assert_eq!(payload["replaces"], id.as_str());
    assert_eq!(payload["identifiers"][0]["value"], "*.example.com");
    assert_eq!(post.jws_header()["kid"], "http://x/acct/1");

    // What the CA does with them (profile applied and reported, a window it moves,
    // `replaces` honoured, an unoffered profile refused) is tested against the real upstream
    // Pebble in `upstream.rs`; this mock pins the request's wire format only.
}

#[tokio::test]
async fn short_rate_limit_on_a_safe_request_is_waited_out() {
    let mock = Mock::start(|req, before| match req.path.as_str() {
        "/new-acct" => account_created("http://x"),
        "/order/1" if before == 0 => {
            Reply::problem(429, "rateLimited", "slow down").header("Retry-After", "1")
        }
        "/order/1" => Reply::json(200, order_json("http://x", "valid")),
        _ => Reply::json(404, serde_json::json!({})),
    })
    .await;
    let account = mock.account().await;
    let started = std::time::Instant::now();
    let order = account
        .order(&mock.url("/order/1"))
        .await
        .expect("retried after 1 s");
    assert_eq!(order.status(), OrderStatus::Valid);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn redirects_are_never_followed() {
    let mock = Mock::start(|req, _| match req.path.as_str() {
        "/new-acct" => account_created("http://x"),
        "/order/elsewhere" => Reply {
            status: 302,
            content_type: "text/html",
            headers: vec![("Location".into(), "https://attacker.invalid/order/1".into())],
            body: b"moved".to_vec(),
        },
        _ => Reply::json(404, serde_json::json!({})),
    })
    .await;
    let account = mock.account().await;
    let err = account
        .order(&mock.url("/order/elsewhere"))
        .await
        .expect_err("a redirect is an error, not followed");
    assert!(
        matches!(
            err,
            Error::HttpStatus { status: 302, .. } | Error::UnexpectedContentType { .. }
        ),
        "{err}"
    );
    assert!(!err.to_string().contains('\n'));
    // The mock saw no request for the redirect target (it could not have: another host), and
    // the client made no second request to itself either.
    assert_eq!(mock.seen("/order/elsewhere").len(), 1);
}

/// A CA that reports a failed attempt in the challenge's `error` but leaves the challenge and
/// the authorization `pending` (RFC 8555 §8.2 allows it; some private CAs never retry): the
/// wait ends within a few polls with the CA's own words, not after the whole deadline.
#[tokio::test]
async fn pending_challenge_with_an_error_ends_with_the_cas_words() {
    let mock = Mock::start(|req, _| match req.path.as_str() {
        "/new-acct" => account_created("http://x"),
        "/authz/1" => Reply::json(
            200,
            serde_json::json!({
                "status": "pending",
                "identifier": {"type": "dns", "value": "example.com"},
                "challenges": [{
                    "type": "dns-01",
                    "url": "http://x/chall/1",
                    "status": "pending",
                    "token": "tok",
                    "error": {
                        "type": "urn:ietf:params:acme:error:dns",
                        "detail": "dns: There was a problem with a DNS query during identifier validation",
                        "status": 400
                    }
                }]
            }),
        ),
        _ => Reply::problem(404, "malformed", "no such thing"),
    })
    .await;
    let account = mock.account().await;
    let started = std::time::Instant::now();
    let deadline = Instant::now() + Duration::from_secs(300);
    let err = account
        .wait_authorization(&mock.url("/authz/1"), deadline)
        .await
        .expect_err("the error is reported");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "waited {:?}",
        started.elapsed()
    );
    let text = err.to_string();
    assert!(
        text.contains("There was a problem with a DNS query") && text.contains("example.com"),
        "{text}"
    );
    assert!(mock.seen("/authz/1").len() <= 4, "polled too often");
}

/// The finalize reply's `Retry-After` is honoured before the first order poll (RFC 8555 §7.4).
#[tokio::test]
async fn finalize_retry_after_is_waited_before_the_first_poll() {
    let mock = Mock::start(|req, _| match req.path.as_str() {
        "/new-acct" => account_created("http://x"),
        "/finalize/1" => {
            Reply::json(200, order_json("http://x", "processing")).header("Retry-After", "1")
        }
        "/order/1" => Reply::json(200, order_json("http://x", "invalid")),
        _ => Reply::problem(404, "malformed", "no such thing"),
    })
    .await;
    let account = mock.account().await;
    let order = wildcert_acme::Order {
        url: mock.url("/order/1"),
        state: serde_json::from_value(order_json(&mock.base, "ready")).expect("order"),
        retry_after: None,
    };
    let key = wildcert_acme::CertKey::generate(wildcert_acme::CertKeyType::default()).expect("key");
    let started = std::time::Instant::now();
    let _ = account
        .finalize_and_wait(&order, &key, Instant::now() + Duration::from_secs(30))
        .await;
    let polls = mock.seen("/order/1");
    assert!(!polls.is_empty(), "the order was never polled");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "polled after {:?}, before the Retry-After of 1 s",
        started.elapsed()
    );
}

/// A CA that stops answering (connections accepted, nothing sent back): after three requests
/// in a row without an answer the client sends nothing more, and requests that are waiting
/// end at once.
#[tokio::test]
async fn a_ca_that_stops_answering_is_given_up_on() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let accepted = Arc::new(AtomicU64::new(0));
    let (b, acc) = (base.clone(), accepted.clone());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            // The first connection serves the directory; every later one hangs.
            if acc.fetch_add(1, Ordering::Relaxed) == 0 {
                let mut buf = vec![0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let body = directory(&b).to_string();
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nReplay-Nonce: n0\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            } else {
                held.push(stream);
            }
        }
    });
    let client = AcmeClient::new(ClientConfig {
        directory_url: format!("{base}/dir"),
        allow_insecure_http: true,
        request_timeout: Some(Duration::from_millis(300)),
        ..Default::default()
    })
    .await
    .expect("directory");
    let account = client.account(key(), format!("{base}/acct/1"));
    let started = std::time::Instant::now();
    let url = format!("{base}/order/1");
    let tries: Vec<_> = (0..8)
        .map(|_| {
            let (account, url) = (account.clone(), url.clone());
            tokio::spawn(async move { account.order(&url).await })
        })
        .collect();
    for t in tries {
        assert!(t.await.map(|r| r.is_err()).unwrap_or(true));
    }
    assert!(client.is_not_answering(), "the breaker did not trip");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let sent_before = client.requests_sent();
    let e = account
        .order(&format!("{base}/order/2"))
        .await
        .expect_err("nothing is sent any more");
    assert!(matches!(e, Error::CaNotAnswering { .. }), "{e}");
    assert!(e.to_string().contains("not answering"), "{e}");
    assert_eq!(
        client.requests_sent(),
        sent_before,
        "a request was sent anyway"
    );
}

#[tokio::test]
async fn directory_entries_must_be_https() {
    let mock = Mock::start(|req, _| match req.path.as_str() {
        "/other-dir" => {
            let mut d = directory("http://127.0.0.1:9");
            d["newAccount"] = "http://ca.example/new-acct".into();
            Reply::json(200, d)
        }
        _ => Reply::json(404, serde_json::json!({})),
    })
    .await;
    let err = AcmeClient::new(ClientConfig {
        directory_url: mock.url("/other-dir"),
        allow_insecure_http: true,
        ..Default::default()
    })
    .await
    .expect_err("an http:// entry to a non-loopback host is refused");
    match &err {
        Error::InsecureUrl { url, .. } => assert_eq!(url, "http://ca.example/new-acct"),
        other => panic!("expected InsecureUrl, got {other}"),
    }
    assert!(
        err.to_string().contains("http://ca.example/new-acct"),
        "{err}"
    );
}

#[tokio::test]
async fn urls_from_the_ca_must_be_https_before_any_request() {
    // The CA hands out order, authorization and finalize URLs in clear text to a routable
    // host (TEST-NET-3): nothing may be sent there, signed or not.
    let far = "http://203.0.113.9";
    let mock = Mock::start(move |req, _| match req.path.as_str() {
        "/new-acct" => account_created(far),
        "/new-order" => Reply::json(
            201,
            serde_json::json!({
                "status": "pending",
                "identifiers": [{"type": "dns", "value": "example.com"}],
                "authorizations": [format!("{far}/authz/1")],
                "finalize": format!("{far}/finalize/1"),
            }),
        )
        .header("Location", &format!("{far}/order/1")),
        _ => Reply::json(404, serde_json::json!({})),
    })
    .await;
    let account = mock.account().await;
    let order = account
        .new_order(&["example.com".into()], &NewOrderOptions::default())
        .await
        .expect("order");
    let quick = Duration::from_secs(3);
    let err = tokio::time::timeout(quick, account.authorizations(&order))
        .await
        .expect("refused at once, no connection attempted")
        .expect_err("http authorization URL refused");
    match &err {
        Error::InsecureUrl { url, .. } => assert_eq!(url, &format!("{far}/authz/1")),
        other => panic!("expected InsecureUrl, got {other}"),
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let err = tokio::time::timeout(quick, account.wait_order_ready(&order.url, deadline))
        .await
        .expect("refused at once")
        .expect_err("http order URL refused");
    assert!(
        matches!(&err, Error::InsecureUrl { url, .. } if url == &format!("{far}/order/1")),
        "{err}"
    );
}
