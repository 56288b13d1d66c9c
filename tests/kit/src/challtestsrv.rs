//! pebble-challtestsrv: a mock DNS server with an HTTP API, for DNS-01 tests against Pebble.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::util::{
    ChildProc, KitError, Result, free_port, free_tcp_port, install_crypto_provider,
    retry_port_clash, tcp_open, temp_dir, tool, wait_until,
};

/// A running `pebble-challtestsrv` (DNS only, HTTP/TLS challenge servers disabled); killed on drop.
pub struct ChallTestSrv {
    proc: ChildProc,
    dns: SocketAddr,
    management: SocketAddr,
    _dir: TempDir,
}

impl ChallTestSrv {
    /// Starts the server with DNS (UDP+TCP) and management on free 127.0.0.1 ports; waits at most 10 s.
    pub fn start() -> Result<ChallTestSrv> {
        retry_port_clash(Self::start_once)
    }

    fn start_once() -> Result<ChallTestSrv> {
        let bin = tool("pebble-challtestsrv")?;
        let dir = temp_dir("challtestsrv")?;
        let dns = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
        let management = SocketAddr::from((Ipv4Addr::LOCALHOST, free_tcp_port()?));
        let mut cmd = Command::new(bin);
        cmd.current_dir(dir.path())
            .arg("-dns01")
            .arg(dns.to_string())
            .arg("-management")
            .arg(management.to_string())
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""]);
        let log = dir.path().join("challtestsrv.log");
        let mut proc = ChildProc::spawn("pebble-challtestsrv", &mut cmd, &log)?;
        let ready = wait_until(
            "pebble-challtestsrv ports",
            Duration::from_secs(10),
            Duration::from_millis(25),
            || {
                proc.check_alive()?;
                // The DNS server listens on TCP and UDP together; TCP answering means both are up.
                Ok(tcp_open(management) && tcp_open(dns))
            },
        );
        if let Err(e) = ready {
            return Err(proc.with_log(e));
        }
        Ok(ChallTestSrv {
            proc,
            dns,
            management,
            _dir: dir,
        })
    }

    /// The DNS server address (UDP and TCP); pass it as [`crate::PebbleOptions::dns_server`].
    pub fn dns_addr(&self) -> SocketAddr {
        self.dns
    }

    /// The management API base URL, `http://127.0.0.1:PORT`.
    pub fn management_url(&self) -> String {
        format!("http://{}", self.management)
    }

    /// The server's log file.
    pub fn log_path(&self) -> &Path {
        self.proc.log_path()
    }

    /// POSTs a JSON body to a management API path such as `/set-txt` or `/add-a`.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> Result<()> {
        install_crypto_provider();
        let url = format!("{}{path}", self.management_url());
        let resp = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?
            .post(&url)
            .body(body.to_string())
            .send()
            .await?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            return Err(KitError(format!("POST {url}: {status}: {text}")));
        }
        Ok(())
    }

    /// Adds a TXT value for `host` (trailing dot added if missing); values accumulate until cleared.
    pub async fn set_txt(&self, host: &str, value: &str) -> Result<()> {
        self.post(
            "/set-txt",
            serde_json::json!({ "host": fqdn(host), "value": value }),
        )
        .await
    }

    /// Removes all TXT values for `host`.
    pub async fn clear_txt(&self, host: &str) -> Result<()> {
        self.post("/clear-txt", serde_json::json!({ "host": fqdn(host) }))
            .await
    }
}

fn fqdn(host: &str) -> String {
    if host.ends_with('.') {
        host.to_owned()
    } else {
        format!("{host}.")
    }
}
