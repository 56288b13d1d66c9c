//! Pebble, Let's Encrypt's test ACME CA, on free 127.0.0.1 ports.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use tempfile::TempDir;

use crate::util::{
    ChildProc, KitError, Result, free_tcp_port, install_crypto_provider, retry_port_clash,
    tcp_open, temp_dir, tool, wait_until,
};

/// Options for [`Pebble::start`]; `Default` gives a deterministic CA (no nonce rejection,
/// no authz reuse, no validation sleeps).
#[derive(Debug, Clone)]
pub struct PebbleOptions {
    /// DNS server for all DNS-01 lookups (`-dnsserver`); `None` uses the system resolver.
    pub dns_server: Option<SocketAddr>,
    /// External account binding keys: (key id, base64url HMAC key).
    pub eab_keys: Vec<(String, String)>,
    /// Require external account binding on new accounts.
    pub eab_required: bool,
    /// Percentage of good nonces rejected as badNonce (`PEBBLE_WFE_NONCEREJECT`).
    pub nonce_reject_percent: u8,
    /// Percentage of authorization reuse (`PEBBLE_AUTHZREUSE`).
    pub authz_reuse_percent: u8,
    /// Disable random validation sleeps (`PEBBLE_VA_NOSLEEP=1`).
    pub va_nosleep: bool,
    /// Number of alternate root chains (`PEBBLE_ALTERNATE_ROOTS`, 0 = none).
    pub alternate_roots: u8,
    /// Chain length, root included (`PEBBLE_CHAIN_LENGTH`); `None` keeps Pebble's default.
    pub chain_length: Option<u8>,
    /// Every validation succeeds (`PEBBLE_VA_ALWAYS_VALID=1`).
    pub always_valid: bool,
    /// More environment variables for the pebble process.
    pub extra_env: Vec<(String, String)>,
}

impl Default for PebbleOptions {
    fn default() -> Self {
        PebbleOptions {
            dns_server: None,
            eab_keys: Vec::new(),
            eab_required: false,
            nonce_reject_percent: 0,
            authz_reuse_percent: 0,
            va_nosleep: true,
            alternate_roots: 0,
            chain_length: None,
            always_valid: false,
            extra_env: Vec::new(),
        }
    }
}

/// A running Pebble; killed and its temp dir removed on drop.
pub struct Pebble {
    proc: ChildProc,
    listen: SocketAddr,
    management: SocketAddr,
    ca_pem: String,
    ca_path: PathBuf,
    // Dropped last: the process is killed first (ChildProc's Drop runs before TempDir's).
    _dir: TempDir,
}

/// Listener TLS material: CA certificate PEM, leaf certificate PEM, leaf key PEM.
fn make_tls() -> Result<(String, String, String)> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "wildcert testkit Pebble listener CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key)?;

    let leaf_key = KeyPair::generate()?;
    let mut leaf_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let leaf = leaf_params.signed_by(&leaf_key, &ca)?;
    Ok((ca.pem(), leaf.pem(), leaf_key.serialize_pem()))
}

impl Pebble {
    /// Starts `/usr/bin/pebble` (found in PATH) and waits (at most 15 s) until it serves its directory.
    pub fn start(opts: PebbleOptions) -> Result<Pebble> {
        retry_port_clash(|| Self::start_once(&opts))
    }

    fn start_once(opts: &PebbleOptions) -> Result<Pebble> {
        let bin = tool("pebble")?;
        let dir = temp_dir("pebble")?;
        let (ca_pem, cert_pem, key_pem) = make_tls()?;
        let ca_path = dir.path().join("listener-ca.pem");
        std::fs::write(&ca_path, &ca_pem)?;
        let cert_path = dir.path().join("listener-cert.pem");
        std::fs::write(&cert_path, &cert_pem)?;
        let key_path = dir.path().join("listener-key.pem");
        std::fs::write(&key_path, &key_pem)?;

        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, free_tcp_port()?));
        let management = SocketAddr::from((Ipv4Addr::LOCALHOST, free_tcp_port()?));
        let mac_keys: serde_json::Map<String, serde_json::Value> = opts
            .eab_keys
            .iter()
            .map(|(kid, key)| (kid.clone(), serde_json::Value::String(key.clone())))
            .collect();
        let config = serde_json::json!({
            "pebble": {
                "listenAddress": listen.to_string(),
                "managementListenAddress": management.to_string(),
                "certificate": cert_path,
                "privateKey": key_path,
                "httpPort": 5002,
                "tlsPort": 5001,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": opts.eab_required,
                "externalAccountMACKeys": mac_keys,
            }
        });
        let config_path = dir.path().join("pebble-config.json");
        std::fs::write(
            &config_path,
            serde_json::to_vec_pretty(&config).map_err(|e| KitError(e.to_string()))?,
        )?;

        let mut cmd = Command::new(bin);
        cmd.current_dir(dir.path()).arg("-config").arg(&config_path);
        if let Some(dns) = opts.dns_server {
            cmd.arg("-dnsserver").arg(dns.to_string());
        }
        cmd.env(
            "PEBBLE_WFE_NONCEREJECT",
            opts.nonce_reject_percent.to_string(),
        )
        .env("PEBBLE_AUTHZREUSE", opts.authz_reuse_percent.to_string());
        if opts.va_nosleep {
            cmd.env("PEBBLE_VA_NOSLEEP", "1");
        }
        if opts.alternate_roots > 0 {
            cmd.env("PEBBLE_ALTERNATE_ROOTS", opts.alternate_roots.to_string());
        }
        if let Some(n) = opts.chain_length {
            cmd.env("PEBBLE_CHAIN_LENGTH", n.to_string());
        }
        if opts.always_valid {
            cmd.env("PEBBLE_VA_ALWAYS_VALID", "1");
        }
        for (k, v) in &opts.extra_env {
            cmd.env(k, v);
        }
        let log = dir.path().join("pebble.log");
        let mut proc = ChildProc::spawn("pebble", &mut cmd, &log)?;

        let started = Instant::now();
        let ready = wait_until(
            "pebble's ACME directory",
            Duration::from_secs(15),
            Duration::from_millis(50),
            || {
                proc.check_alive()?;
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                Ok(text.contains("ACME directory available")
                    && tcp_open(listen)
                    && tcp_open(management))
            },
        );
        if let Err(e) = ready {
            return Err(proc.with_log(e));
        }
        if std::env::var_os("WILDCERT_KIT_VERBOSE").is_some() {
            eprintln!("pebble ready in {:?}", started.elapsed());
        }
        Ok(Pebble {
            proc,
            listen,
            management,
            ca_pem,
            ca_path,
            _dir: dir,
        })
    }

    /// The ACME directory URL, `https://127.0.0.1:PORT/dir`.
    pub fn directory_url(&self) -> String {
        format!("https://{}/dir", self.listen)
    }

    /// The ACME listener address.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    /// The management interface base URL, `https://127.0.0.1:PORT` (no trailing slash).
    pub fn management_url(&self) -> String {
        format!("https://{}", self.management)
    }

    /// PEM of the CA that signed Pebble's HTTPS listener certificate (trust it in clients).
    pub fn ca_cert_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The same CA certificate as a PEM file.
    pub fn ca_cert_path(&self) -> &Path {
        &self.ca_path
    }

    /// Pebble's combined stdout/stderr log file.
    pub fn log_path(&self) -> &Path {
        self.proc.log_path()
    }

    /// Pebble's log so far (handy to print when a test fails).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.proc.log_path()).unwrap_or_default()
    }

    /// A reqwest client that trusts only the listener CA (ring provider installed first).
    pub fn http_client(&self) -> Result<reqwest::Client> {
        install_crypto_provider();
        let cert = reqwest::Certificate::from_pem(self.ca_pem.as_bytes())?;
        Ok(reqwest::Client::builder()
            .tls_certs_only([cert])
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()?)
    }

    async fn management_get(&self, path: &str) -> Result<String> {
        let url = format!("{}{path}", self.management_url());
        let resp = self.http_client()?.get(&url).send().await?;
        let status = resp.status();
        let body = resp.text().await?;
        if !status.is_success() {
            return Err(KitError(format!("GET {url}: {status}: {body}")));
        }
        Ok(body)
    }

    /// PEM of issuing root number `index` (`/roots/{index}` on the management port).
    pub async fn root_pem(&self, index: usize) -> Result<String> {
        self.management_get(&format!("/roots/{index}")).await
    }

    /// PEM of intermediate number `index` (`/intermediates/{index}` on the management port).
    pub async fn intermediate_pem(&self, index: usize) -> Result<String> {
        self.management_get(&format!("/intermediates/{index}"))
            .await
    }
}
