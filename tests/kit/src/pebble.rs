//! Pebble, Let's Encrypt's test ACME CA, on free 127.0.0.1 ports.
//!
//! Two builds: Debian's `pebble` package (2.4.0, in PATH) and the newest upstream Pebble
//! (ARI `renewalInfo`, profiles, `Retry-After`, dns-account-01, dns-persist-01) that
//! `tests/setup.sh` installs at `target/pebble-upstream/bin/pebble`. Pick one with
//! [`PebbleOptions::flavor`]; [`require_pebble_upstream`] skips (or fails under `CI=true`)
//! when the upstream build is missing.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use tempfile::TempDir;

use crate::util::{
    ChildProc, KitError, Result, free_tcp_port, install_crypto_provider, is_ci, require,
    retry_port_clash, tcp_open, temp_dir, tool, wait_until,
};

/// Which Pebble build to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PebbleFlavor {
    /// Debian's `pebble` package (2.4.0) found in PATH: no ARI, no profiles, no Retry-After,
    /// no dns-account-01 or dns-persist-01.
    #[default]
    Debian,
    /// The newest upstream Pebble built by `tests/setup.sh` (see [`upstream_pebble_path`]).
    Upstream,
}

/// Environment variable naming an upstream Pebble binary (overrides the fixed place).
pub const UPSTREAM_PEBBLE_ENV: &str = "WILDCERT_PEBBLE_UPSTREAM";

/// Where the upstream Pebble binary is: `$WILDCERT_PEBBLE_UPSTREAM`, else
/// `<workspace>/target/pebble-upstream/bin/pebble` (where `tests/setup.sh` installs it), else
/// `$CARGO_TARGET_DIR/pebble-upstream/bin/pebble`. `None` when none of them exists.
pub fn upstream_pebble_path() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os(UPSTREAM_PEBBLE_ENV) {
        candidates.push(PathBuf::from(p));
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    candidates.push(workspace.join("target/pebble-upstream/bin/pebble"));
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(t).join("pebble-upstream/bin/pebble"));
    }
    candidates.into_iter().find(|p| p.is_file())
}

/// True when the upstream Pebble and `pebble-challtestsrv` are available; otherwise prints a
/// skip message and returns false, or panics when `CI=true`.
pub fn require_pebble_upstream() -> bool {
    if !require("pebble-challtestsrv") {
        return false;
    }
    if upstream_pebble_path().is_some() {
        return true;
    }
    let what = "the upstream Pebble is not built (run `bash tests/setup.sh`)";
    if is_ci() {
        panic!("{what}, and CI=true: this test may not be skipped");
    }
    eprintln!("SKIPPED: {what} (set CI=true to make this a failure)");
    false
}

/// A certificate profile for the upstream Pebble (draft-ietf-acme-profiles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PebbleProfile {
    /// The profile name as the directory lists it.
    pub name: String,
    /// Its description (the directory's value).
    pub description: String,
    /// Certificate validity in seconds.
    pub validity_secs: u64,
}

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
    /// Which build to start (Debian's by default).
    pub flavor: PebbleFlavor,
    /// Upstream only: certificate profiles; empty keeps Pebble's single `default` profile.
    /// Without a `profile` in newOrder, upstream Pebble picks one at random.
    pub profiles: Vec<PebbleProfile>,
    /// Upstream only: `Retry-After` seconds on pending authorizations and processing orders
    /// (`retryAfter.authz`, `retryAfter.order`); `None` sends none.
    pub retry_after: Option<(u32, u32)>,
    /// Upstream only: the CA's CAA identities (directory `caaIdentities`, dns-persist-01
    /// `issuer-domain-names`); empty keeps Pebble's `pebble.letsencrypt.org`.
    pub caa_identities: Vec<String>,
}

impl PebbleOptions {
    /// Default options for the newest upstream Pebble.
    pub fn upstream() -> Self {
        PebbleOptions {
            flavor: PebbleFlavor::Upstream,
            ..Default::default()
        }
    }
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
            flavor: PebbleFlavor::Debian,
            profiles: Vec::new(),
            retry_after: None,
            caa_identities: Vec::new(),
        }
    }
}

/// A running Pebble; killed and its temp dir removed on drop.
pub struct Pebble {
    proc: ChildProc,
    flavor: PebbleFlavor,
    listen: SocketAddr,
    management: SocketAddr,
    ca_pem: String,
    ca_path: PathBuf,
    // Dropped last: the process is killed first (ChildProc's Drop runs before TempDir's).
    _dir: TempDir,
}

/// Listener TLS material: CA certificate PEM, leaf certificate PEM, leaf key PEM.
pub(crate) fn make_tls() -> Result<(String, String, String)> {
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
    /// Starts Pebble (Debian's from PATH, or the upstream build per [`PebbleOptions::flavor`])
    /// and waits (at most 15 s) until it serves its directory.
    pub fn start(opts: PebbleOptions) -> Result<Pebble> {
        retry_port_clash(|| Self::start_once(&opts))
    }

    fn start_once(opts: &PebbleOptions) -> Result<Pebble> {
        let bin = match opts.flavor {
            PebbleFlavor::Debian => tool("pebble")?,
            PebbleFlavor::Upstream => upstream_pebble_path().ok_or_else(|| {
                KitError("the upstream Pebble is not built (run `bash tests/setup.sh`)".into())
            })?,
        };
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
        let mut config = serde_json::json!({
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
        if opts.flavor == PebbleFlavor::Upstream {
            let p = &mut config["pebble"];
            if !opts.profiles.is_empty() {
                let profiles: serde_json::Map<String, serde_json::Value> = opts
                    .profiles
                    .iter()
                    .map(|pr| {
                        (
                            pr.name.clone(),
                            serde_json::json!({
                                "description": pr.description,
                                "validityPeriod": pr.validity_secs,
                            }),
                        )
                    })
                    .collect();
                p["profiles"] = serde_json::Value::Object(profiles);
            }
            if let Some((authz, order)) = opts.retry_after {
                p["retryAfter"] = serde_json::json!({ "authz": authz, "order": order });
            }
            if !opts.caa_identities.is_empty() {
                p["caaIdentities"] = serde_json::json!(opts.caa_identities);
            }
        }
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
            flavor: opts.flavor,
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

    /// Which build runs.
    pub fn flavor(&self) -> PebbleFlavor {
        self.flavor
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

    /// A reqwest client that trusts only the listener CA (ring provider installed first); it
    /// sends a User-Agent, which the upstream Pebble requires on every request.
    pub fn http_client(&self) -> Result<reqwest::Client> {
        install_crypto_provider();
        let cert = reqwest::Certificate::from_pem(self.ca_pem.as_bytes())?;
        Ok(reqwest::Client::builder()
            .tls_certs_only([cert])
            .user_agent("wildcert-testkit")
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

    /// Upstream only: make `renewalInfo` for `cert_pem` answer `ari_json` verbatim from now on
    /// (`POST /set-renewal-info/` on the management port): the CA moves the ARI window.
    pub async fn set_renewal_info(&self, cert_pem: &str, ari_json: &str) -> Result<()> {
        let url = format!("{}/set-renewal-info/", self.management_url());
        let body = serde_json::json!({ "Certificate": cert_pem, "ARIResponse": ari_json });
        let resp = self
            .http_client()?
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
}
