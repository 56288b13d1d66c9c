//! PowerDNS Authoritative (`pdns_server` + the gsqlite3 backend) with its HTTP API, on loopback.
//!
//! The DNS side listens either on a claimed 127.53.x.y address, port 53 (root needed; the zones'
//! NS/A records then name that address, so NS discovery and Pebble's `-dnsserver` work as in
//! production), or on a free 127.0.0.1 port (no root; enough for API-level tests).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::bind::{LoopbackAddr, txt_values};
use crate::util::{
    ChildProc, KitError, Result, free_port, free_tcp_port, random_bytes, retry_port_clash, run,
    tcp_open, temp_dir, tool, wait_until,
};

/// Where Debian's pdns-backend-sqlite3 ships the schema (both paths exist on Debian 12).
const SCHEMA_PATHS: &[&str] = &[
    "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql",
    "/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql",
];

/// Options for [`PowerDns::start`].
#[derive(Debug, Clone)]
pub struct PowerDnsOptions {
    /// Zones created through the API (without trailing dots).
    pub zones: Vec<String>,
    /// Zone kind given at creation: `Native` or `Master`.
    pub kind: String,
    /// Listen on a claimed 127.53.x.y:53 (root needed) instead of a free 127.0.0.1 port.
    pub port53: bool,
    /// TTL of the SOA/NS/A records and SOA minimum.
    pub ttl: u32,
    /// Take RFC 2136 updates signed with a TSIG key of its own (`dnsupdate=yes`, the key in
    /// `TSIG-ALLOW-DNSUPDATE` of every zone); see [`PowerDns::tsig`].
    pub dnsupdate_tsig: bool,
}

impl Default for PowerDnsOptions {
    fn default() -> Self {
        PowerDnsOptions {
            zones: vec!["example.test".to_owned()],
            kind: "Native".to_owned(),
            port53: false,
            ttl: 1,
            dnsupdate_tsig: false,
        }
    }
}

/// A running PowerDNS server; killed, its address released and its dir removed on drop.
pub struct PowerDns {
    proc: ChildProc,
    dns: SocketAddr,
    api: SocketAddr,
    api_key: String,
    zones: Vec<String>,
    // Released after the process is killed (fields drop in declaration order).
    _addr: Option<LoopbackAddr>,
    dir: TempDir,
    /// (key name, base64 secret) of the hmac-sha256 key updates are signed with.
    tsig: Option<(String, String)>,
}

/// The schema file of the gsqlite3 backend.
pub fn pdns_schema_path() -> Option<PathBuf> {
    SCHEMA_PATHS.iter().map(PathBuf::from).find(|p| p.is_file())
}

impl PowerDns {
    /// Starts `pdns_server`, waits (bounded) for its API, then creates the zones through it.
    pub fn start(opts: PowerDnsOptions) -> Result<PowerDns> {
        if opts.zones.is_empty() {
            return Err(KitError::new("PowerDnsOptions::zones is empty"));
        }
        retry_port_clash(|| Self::start_once(&opts))
    }

    fn start_once(opts: &PowerDnsOptions) -> Result<PowerDns> {
        let dir = temp_dir("pdns")?;
        let base = dir.path().to_owned();
        let schema = pdns_schema_path().ok_or_else(|| {
            KitError(format!(
                "no gsqlite3 schema at {SCHEMA_PATHS:?} (install pdns-backend-sqlite3)"
            ))
        })?;
        let db = base.join("pdns.db");
        run(Command::new(tool("sqlite3")?)
            .arg(&db)
            .arg(format!(".read {}", schema.display())))?;

        let (claimed, dns) = if opts.port53 {
            let a = LoopbackAddr::claim()?;
            let sock = SocketAddr::new(IpAddr::V4(a.addr), 53);
            (Some(a), sock)
        } else {
            (None, SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?)))
        };
        let api = SocketAddr::from((Ipv4Addr::LOCALHOST, free_tcp_port()?));
        let key: String = random_bytes::<16>()?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let conf = format!(
            "launch=gsqlite3\ngsqlite3-database={db}\nlocal-address={dns}\n\
             api=yes\napi-key={key}\nwebserver=yes\nwebserver-address=127.0.0.1\n\
             webserver-port={wport}\nwebserver-allow-from=127.0.0.0/8\n\
             guardian=no\ndaemon=no\nsocket-dir={base}\ndisable-syslog=yes\nloglevel=5\n\
             cache-ttl=0\nquery-cache-ttl=0\nnegquery-cache-ttl=0\nzone-cache-refresh-interval=0\n\
             primary=yes\nsecondary=no\nreceiver-threads=1\ndistributor-threads=1\n",
            db = db.display(),
            wport = api.port(),
            base = base.display(),
        );
        let conf = if opts.dnsupdate_tsig {
            format!("{conf}dnsupdate=yes\nallow-dnsupdate-from=127.0.0.0/8\n")
        } else {
            conf
        };
        std::fs::write(base.join("pdns.conf"), conf)?;
        let mut cmd = Command::new(tool("pdns_server")?);
        cmd.current_dir(&base)
            .arg(format!("--config-dir={}", base.display()));
        let mut proc = ChildProc::spawn(
            &format!("pdns_server ({dns}, API {api})"),
            &mut cmd,
            &base.join("pdns.log"),
        )?;
        let res = wait_until(
            "pdns_server API to listen",
            Duration::from_secs(20),
            Duration::from_millis(50),
            || {
                if let Err(e) = proc.check_alive() {
                    // Surface a port clash so `retry_port_clash` tries other ports.
                    let log = std::fs::read_to_string(proc.log_path()).unwrap_or_default();
                    if log.contains("Address already in use") {
                        return Err(KitError(format!("address already in use: {e}")));
                    }
                    return Err(e);
                }
                Ok(tcp_open(api))
            },
        );
        if let Err(e) = res {
            return Err(if e.0.contains("address already in use") {
                e
            } else {
                proc.with_log(e)
            });
        }
        let server = PowerDns {
            proc,
            dns,
            api,
            api_key: key,
            zones: opts
                .zones
                .iter()
                .map(|z| z.trim_end_matches('.').to_ascii_lowercase())
                .collect(),
            _addr: claimed,
            dir,
            tsig: None,
        };
        let mut server = server;
        for z in &server.zones {
            server.create_zone(z, &opts.kind, opts.ttl)?;
        }
        if opts.dnsupdate_tsig {
            server.tsig = Some(server.add_update_key()?);
        }
        let zones = server.zones.clone();
        let res = wait_until(
            "pdns_server to serve its zones over DNS",
            Duration::from_secs(20),
            Duration::from_millis(50),
            || {
                Ok(zones
                    .iter()
                    .all(|z| matches!(crate::soa_serial(dns, z), Ok(Some(_)))))
            },
        );
        if let Err(e) = res {
            return Err(server.proc.with_log(e));
        }
        Ok(server)
    }

    /// Create an hmac-sha256 TSIG key and allow it to update every zone.
    fn add_update_key(&self) -> Result<(String, String)> {
        use base64::Engine as _;
        let name = "wildcert-pdns-key".to_string();
        let secret = base64::engine::general_purpose::STANDARD.encode(random_bytes::<32>()?);
        let body = serde_json::json!({ "name": name, "algorithm": "hmac-sha256", "key": secret });
        let (status, text) = self.api_request("POST", "/tsigkeys", Some(&body.to_string()))?;
        if status != 201 {
            return Err(KitError(format!(
                "creating TSIG key: HTTP {status}: {text}"
            )));
        }
        for z in &self.zones {
            let body = serde_json::json!({ "kind": "TSIG-ALLOW-DNSUPDATE", "metadata": [name] });
            let (status, text) = self.api_request(
                "POST",
                &format!("/zones/{z}./metadata"),
                Some(&body.to_string()),
            )?;
            if !(200..300).contains(&status) {
                return Err(KitError(format!(
                    "allowing updates of {z}: HTTP {status}: {text}"
                )));
            }
        }
        Ok((name, secret))
    }

    /// (key name, base64 secret) of the hmac-sha256 TSIG key updates may be signed with, when
    /// started with [`PowerDnsOptions::dnsupdate_tsig`].
    pub fn tsig(&self) -> Option<(&str, &str)> {
        self.tsig.as_ref().map(|(n, s)| (n.as_str(), s.as_str()))
    }

    fn create_zone(&self, zone: &str, kind: &str, ttl: u32) -> Result<()> {
        let ip = self.dns.ip();
        let rr = |name: String, rtype: &str, content: String| {
            serde_json::json!({
                "name": name, "type": rtype, "ttl": ttl,
                "records": [{ "content": content, "disabled": false }],
            })
        };
        let body = serde_json::json!({
            "name": format!("{zone}."),
            "kind": kind,
            "nameservers": [],
            "rrsets": [
                rr(format!("{zone}."), "SOA", format!("ns1.{zone}. hostmaster.{zone}. 1 60 1 86400 {ttl}")),
                rr(format!("{zone}."), "NS", format!("ns1.{zone}.")),
                rr(format!("ns1.{zone}."), "A", ip.to_string()),
            ],
        });
        let (status, text) = self.api_request("POST", "/zones", Some(&body.to_string()))?;
        if status != 201 {
            return Err(KitError(format!(
                "creating zone {zone}: HTTP {status}: {text}"
            )));
        }
        Ok(())
    }

    /// One HTTP/1.1 request to the API (path below `/api/v1/servers/localhost`); returns
    /// (status, body). Plain blocking I/O: the kit is used from sync and async tests alike.
    pub fn api_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<(u16, String)> {
        let mut s = TcpStream::connect_timeout(&self.api, Duration::from_secs(5))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.set_write_timeout(Some(Duration::from_secs(10)))?;
        let body = body.unwrap_or("");
        let req = format!(
            "{method} /api/v1/servers/localhost{path} HTTP/1.1\r\nHost: {}\r\nX-API-Key: {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.api,
            self.api_key,
            body.len()
        );
        s.write_all(req.as_bytes())?;
        let mut raw = Vec::new();
        s.take(16 << 20).read_to_end(&mut raw)?;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| {
                KitError(format!(
                    "bad HTTP answer from pdns: {}",
                    String::from_utf8_lossy(&raw)
                ))
            })?;
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let rest = &raw[split + 4..];
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| KitError(format!("bad HTTP status line from pdns: {head}")))?;
        let chunked = head.lines().any(|l| {
            l.to_ascii_lowercase()
                .starts_with("transfer-encoding: chunked")
        });
        let body = if chunked {
            String::from_utf8_lossy(&dechunk(rest)).into_owned()
        } else {
            String::from_utf8_lossy(rest).into_owned()
        };
        Ok((status, body))
    }

    /// Replaces the whole TXT RRset at `name` (absolute, no trailing dot needed) with `values`
    /// (the seeding of "foreign" records; empty `values` deletes the RRset).
    pub fn set_txt(&self, name: &str, values: &[&str], ttl: u32) -> Result<()> {
        let fq = format!("{}.", name.trim_end_matches('.'));
        let zone = self
            .zones
            .iter()
            .filter(|z| fq == format!("{z}.") || fq.ends_with(&format!(".{z}.")))
            .max_by_key(|z| z.len())
            .ok_or_else(|| KitError(format!("{name} is in no zone of this server")))?;
        let rrset = if values.is_empty() {
            serde_json::json!({ "name": fq, "type": "TXT", "changetype": "DELETE" })
        } else {
            let records: Vec<_> = values
                .iter()
                .map(|v| serde_json::json!({ "content": format!("\"{v}\""), "disabled": false }))
                .collect();
            serde_json::json!({ "name": fq, "type": "TXT", "ttl": ttl, "changetype": "REPLACE", "records": records })
        };
        let body = serde_json::json!({ "rrsets": [rrset] }).to_string();
        let (status, text) = self.api_request("PATCH", &format!("/zones/{zone}."), Some(&body))?;
        if status != 204 {
            return Err(KitError(format!("PATCH {zone}: HTTP {status}: {text}")));
        }
        Ok(())
    }

    /// TXT values at `name` as the DNS side answers (non-recursive `dig`), sorted.
    pub fn txt_values(&self, name: &str) -> Result<Vec<String>> {
        let mut v = txt_values(self.dns, name)?;
        v.sort();
        Ok(v)
    }

    /// The TTL of the TXT RRset at `name` as the API reports it, if the RRset exists.
    pub fn txt_ttl(&self, name: &str) -> Result<Option<u64>> {
        let fq = format!("{}.", name.trim_end_matches('.'));
        let zone = self
            .zones
            .iter()
            .filter(|z| fq == format!("{z}.") || fq.ends_with(&format!(".{z}.")))
            .max_by_key(|z| z.len())
            .ok_or_else(|| KitError(format!("{name} is in no zone of this server")))?;
        let (status, text) = self.api_request(
            "GET",
            &format!("/zones/{zone}.?rrset_name={fq}&rrset_type=TXT"),
            None,
        )?;
        if status != 200 {
            return Err(KitError(format!("GET {zone}: HTTP {status}: {text}")));
        }
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| KitError(format!("bad JSON from pdns ({e}): {text}")))?;
        Ok(v["rrsets"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|r| r["name"] == fq.as_str() && r["type"] == "TXT")
            })
            .and_then(|r| r["ttl"].as_u64()))
    }

    /// Every RRset of `zone` except the SOA (whose serial changes with each edit), as
    /// sorted `NAME TYPE TTL CONTENT` lines: compare snapshots to prove a zone is unchanged.
    pub fn zone_snapshot(&self, zone: &str) -> Result<Vec<String>> {
        let zone = zone.trim_end_matches('.');
        let (status, text) = self.api_request("GET", &format!("/zones/{zone}."), None)?;
        if status != 200 {
            return Err(KitError(format!("GET {zone}: HTTP {status}: {text}")));
        }
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| KitError(format!("bad JSON from pdns ({e}): {text}")))?;
        let mut lines = Vec::new();
        for rr in v["rrsets"].as_array().into_iter().flatten() {
            if rr["type"] == "SOA" {
                continue;
            }
            for rec in rr["records"].as_array().into_iter().flatten() {
                lines.push(format!(
                    "{} {} {} {}{}",
                    rr["name"].as_str().unwrap_or(""),
                    rr["type"].as_str().unwrap_or(""),
                    rr["ttl"],
                    rec["content"].as_str().unwrap_or(""),
                    if rec["disabled"] == true {
                        " (disabled)"
                    } else {
                        ""
                    }
                ));
            }
        }
        lines.sort();
        Ok(lines)
    }

    /// The DNS address (Pebble's `-dnsserver`, wildcert's `--resolver`).
    pub fn dns_addr(&self) -> SocketAddr {
        self.dns
    }

    /// Base URL of the HTTP API (`http://127.0.0.1:PORT`), as given in `PDNS_API_URL`.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api)
    }

    /// The API key.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The zones served (no trailing dots).
    pub fn zones(&self) -> &[String] {
        &self.zones
    }

    /// The server's log file.
    pub fn log_path(&self) -> &Path {
        self.proc.log_path()
    }

    /// The server's config/database directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Decodes an HTTP/1.1 chunked body (enough for pdns' answers).
fn dechunk(mut s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..100_000 {
        let Some(eol) = s.windows(2).position(|w| w == b"\r\n") else {
            break;
        };
        let size = String::from_utf8_lossy(&s[..eol]);
        let Ok(n) = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16) else {
            break;
        };
        let rest = &s[eol + 2..];
        if n == 0 || rest.len() < n {
            break;
        }
        out.extend_from_slice(&rest[..n]);
        s = rest[n..].strip_prefix(b"\r\n").unwrap_or(&rest[n..]);
    }
    out
}

/// True when `pdns_server`, the gsqlite3 schema and `sqlite3` are available (plus `dig` to
/// read answers); otherwise prints a skip message and returns false, or panics when `CI=true`.
pub fn require_pdns() -> bool {
    if !["pdns_server", "sqlite3", "dig"]
        .iter()
        .all(|t| crate::require(t))
    {
        return false;
    }
    if pdns_schema_path().is_none() {
        let what = format!("no gsqlite3 schema at {SCHEMA_PATHS:?} (install pdns-backend-sqlite3)");
        if crate::is_ci() {
            panic!("{what}, and CI=true: this test may not be skipped");
        }
        eprintln!("SKIPPED: {what} (set CI=true to make this a failure)");
        return false;
    }
    true
}
