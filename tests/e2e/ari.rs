//! ARI (RFC 9773) honoured by `renew`. Debian's Pebble 2.4 has no renewalInfo, so a small
//! HTTP server in the test serves Pebble's directory with a `renewalInfo` URL of its own and
//! answers renewalInfo requests with a window the test controls.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wildcert_testkit::BindOptions;

use crate::lab::{Lab, json};

/// The window the ARI server hands out, as (start, end) offsets from now in seconds.
type Window = Arc<Mutex<(i64, i64)>>;

struct AriServer {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
    _runtime: tokio::runtime::Runtime,
}

fn start_ari(pebble_directory: serde_json::Value, window: Window) -> AriServer {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let base = format!("http://{addr}");
    let mut directory = pebble_directory;
    directory["renewalInfo"] = serde_json::Value::String(format!("{base}/ari"));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    runtime.spawn(async move {
        // Bounded: the runtime (and this loop) ends when the test drops the server.
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let directory = directory.clone();
            let window = window.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf)).await.ok().and_then(Result::ok).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                seen.lock().expect("lock").push(path.clone());
                let (status, body, extra) = if path == "/dir" {
                    ("200 OK", directory.to_string(), String::new())
                } else if path.starts_with("/ari/") {
                    let (s, e) = *window.lock().expect("lock");
                    let now = time::OffsetDateTime::now_utc();
                    let fmt = |o: i64| {
                        (now + time::Duration::seconds(o)).format(&time::format_description::well_known::Rfc3339).expect("fmt")
                    };
                    let body = serde_json::json!({"suggestedWindow": {"start": fmt(s), "end": fmt(e)}}).to_string();
                    ("200 OK", body, "Retry-After: 0\r\n".to_string())
                } else {
                    ("404 Not Found", "{}".to_string(), String::new())
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    AriServer {
        url: format!("{base}/dir"),
        requests,
        _runtime: runtime,
    }
}

#[test]
fn renew_follows_the_ari_window() {
    let Some(lab) = Lab::start(BindOptions::default(), false) else {
        return;
    };
    wildcert_testkit::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let client = lab.pebble.http_client().expect("client");
    let directory: serde_json::Value = rt
        .block_on(async {
            client
                .get(lab.pebble.directory_url())
                .send()
                .await?
                .json()
                .await
        })
        .expect("pebble directory");
    let window: Window = Arc::new(Mutex::new((30 * 86400, 31 * 86400)));
    let ari = start_ari(directory, window.clone());

    let config = lab.state_dir().join("wildcert.toml");
    std::fs::write(
        &config,
        "[acme]\nallow_insecure_http = true\n\n[providers.lab]\nkind = \"rfc2136\"\n\n[[certificate]]\nname = \"ari\"\ndomains = [\"ari.example.test\"]\nprovider = \"lab\"\n",
    )
    .expect("config");
    let cfg = config.to_str().expect("utf-8");
    let renew = || lab.wildcert_at(&ari.url, &["--config", cfg, "--json", "renew"], &[]);

    // First run issues; the directory advertises ARI, so the window is fetched next time.
    let run = renew();
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(json(&run)["summary"]["issued"], 1, "{}", run.all());

    // Window 30 days ahead: skipped by the ARI rule, although nothing else would say so either.
    let run = renew();
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    assert_eq!(v["summary"]["skipped"], 1, "{}", run.all());
    assert!(
        v["certificates"][0]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("ARI"),
        "{}",
        run.all()
    );
    assert!(
        ari.requests
            .lock()
            .expect("lock")
            .iter()
            .any(|p| p.starts_with("/ari/")),
        "no renewalInfo request"
    );

    // The CA moves the window into the past (e.g. a revocation incident): renewed now,
    // long before 1/3 of the lifetime is left.
    *window.lock().expect("lock") = (-7200, -3600);
    let run = renew();
    assert_eq!(run.code, Some(0), "{}", run.all());
    let v = json(&run);
    assert_eq!(v["summary"]["renewed"], 1, "{}", run.all());
    assert!(
        v["certificates"][0]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("ARI"),
        "{}",
        run.all()
    );
    assert!(
        lab.state_dir()
            .join("certs/ari/archive/2/cert.pem")
            .exists()
    );
}
