//! Knot DNS (`knotd`, Debian's `knot`) on a free 127.0.0.1 port: one zone, one TSIG key, and
//! an ACL that lets the key update only the record types given. Knot answers an update its ACL
//! refuses with NOTAUTH and TSIG error BADKEY, unsigned: on the wire like an unknown key.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use tempfile::TempDir;

use crate::util::{
    ChildProc, KitError, Result, free_port, random_bytes, require, retry_port_clash, temp_dir,
    tool, wait_until,
};

/// Options for [`Knot::start`].
#[derive(Debug, Clone)]
pub struct KnotOptions {
    /// The zone served (without a trailing dot).
    pub zone: String,
    /// Record types the key may update (Knot's `update-type`); empty allows every type.
    pub update_types: Vec<String>,
}

impl Default for KnotOptions {
    fn default() -> Self {
        KnotOptions {
            zone: "example.test".into(),
            update_types: Vec::new(),
        }
    }
}

/// A running `knotd`; killed and its directory removed on drop.
pub struct Knot {
    proc: ChildProc,
    addr: SocketAddr,
    key_name: String,
    secret_b64: String,
    zone: String,
    _dir: TempDir,
}

/// [`require`] for what [`Knot`] needs.
pub fn require_knot() -> bool {
    require("knotd")
}

impl Knot {
    /// Start `knotd` and wait (bounded) until it serves the zone's SOA.
    pub fn start(opts: KnotOptions) -> Result<Knot> {
        retry_port_clash(|| Self::start_once(&opts))
    }

    fn start_once(opts: &KnotOptions) -> Result<Knot> {
        let dir = temp_dir("knot")?;
        let base = dir.path().to_owned();
        let zone = opts.zone.trim_end_matches('.').to_ascii_lowercase();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
        let key_name = "wildcert-knot-key".to_string();
        let secret_b64 = base64::engine::general_purpose::STANDARD.encode(random_bytes::<32>()?);
        std::fs::write(
            base.join(format!("{zone}.zone")),
            format!(
                "$ORIGIN {zone}.\n$TTL 60\n@ SOA ns1 hostmaster 1 60 60 600 60\n@ NS ns1\nns1 A 127.0.0.1\n"
            ),
        )?;
        let types = if opts.update_types.is_empty() {
            String::new()
        } else {
            format!("    update-type: [{}]\n", opts.update_types.join(", "))
        };
        let conf = format!(
            "server:\n    listen: {ip}@{port}\n    rundir: {d}\n\
             key:\n  - id: {key_name}\n    algorithm: hmac-sha256\n    secret: {secret_b64}\n\
             acl:\n  - id: update-acl\n    key: {key_name}\n    action: update\n{types}\
             database:\n    storage: {d}\n\
             template:\n  - id: default\n    storage: {d}\n    file: \"%s.zone\"\n\
             zone:\n  - domain: {zone}\n    acl: update-acl\n\
             log:\n  - target: stderr\n    any: info\n",
            ip = addr.ip(),
            port = addr.port(),
            d = base.display(),
        );
        let conf_path = base.join("knot.conf");
        std::fs::write(&conf_path, conf)?;
        let mut cmd = Command::new(tool("knotd")?);
        cmd.arg("-c").arg(&conf_path);
        let mut proc =
            ChildProc::spawn(&format!("knotd ({addr})"), &mut cmd, &base.join("knot.log"))?;
        let res = wait_until(
            "knotd to serve its zone",
            Duration::from_secs(20),
            Duration::from_millis(50),
            || {
                if let Err(e) = proc.check_alive() {
                    let log = std::fs::read_to_string(proc.log_path()).unwrap_or_default();
                    if log.contains("Address already in use") || log.contains("address in use") {
                        return Err(KitError(format!("address already in use: {e}")));
                    }
                    return Err(e);
                }
                Ok(matches!(crate::soa_serial(addr, &zone), Ok(Some(_))))
            },
        );
        if let Err(e) = res {
            return Err(if e.0.contains("address already in use") {
                e
            } else {
                proc.with_log(e)
            });
        }
        Ok(Knot {
            proc,
            addr,
            key_name,
            secret_b64,
            zone,
            _dir: dir,
        })
    }

    /// The DNS address (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The TSIG key's name.
    pub fn key_name(&self) -> &str {
        &self.key_name
    }

    /// The TSIG key's algorithm.
    pub fn key_algorithm(&self) -> &str {
        "hmac-sha256"
    }

    /// The TSIG secret, base64.
    pub fn secret_b64(&self) -> &str {
        &self.secret_b64
    }

    /// TXT values at `name` (absolute, no trailing dot needed).
    pub fn txt_values(&self, name: &str) -> Result<Vec<String>> {
        crate::txt_values(self.addr, name)
    }

    /// The zone served.
    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.proc.log_path()).unwrap_or_default()
    }
}
