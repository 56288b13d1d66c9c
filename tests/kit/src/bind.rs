//! A production-like BIND 9 topology on loopback: a hidden primary taking TSIG updates and two
//! secondaries (one NOTIFYed, one lagging) forming the zones' NS set, each on its own
//! 127.53.x.y address on port 53; plus an optional recursive resolver in front of them.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::util::{ChildProc, KitError, Result, random_bytes, run, temp_dir, tool, wait_until};

/// Options for [`BindTopology::start`].
#[derive(Debug, Clone)]
pub struct BindOptions {
    /// Zones served by the topology (e.g. `example.test`), without trailing dots.
    pub zones: Vec<String>,
    /// TSIG algorithm of the update key: `hmac-sha256`, `hmac-sha384` or `hmac-sha512`.
    pub tsig_algorithm: String,
    /// Name of the update key (as given to `tsig-keygen`).
    pub tsig_key_name: String,
    /// When true (default) the second secondary is never NOTIFYed and polls every 5 s;
    /// when false both secondaries are NOTIFYed.
    pub lagging_secondary: bool,
    /// Zone-file lines added to every zone (names relative to the zone apex), e.g. CNAME or CAA.
    pub extra_records: Vec<String>,
    /// Default TTL of every record, and the SOA minimum (negative TTL).
    pub ttl: u32,
    /// The update key's grants in each zone's `update-policy`, replacing the default
    /// `grant "KEY" zonesub TXT;` (`KEY` is replaced by the key name), e.g. a policy that
    /// refuses: `grant "KEY" name other.example.test. TXT;`. The kit's admin key keeps its grant.
    pub update_grants: Option<String>,
}

impl Default for BindOptions {
    fn default() -> Self {
        BindOptions {
            zones: vec!["example.test".to_owned()],
            tsig_algorithm: "hmac-sha256".to_owned(),
            tsig_key_name: "wildcert-test-key".to_owned(),
            lagging_secondary: true,
            extra_records: Vec::new(),
            ttl: 1,
            update_grants: None,
        }
    }
}

/// Options for [`BindTopology::start_resolver_with`].
#[derive(Debug, Clone, Default)]
pub struct ResolverOptions {
    /// Send all queries for the topology's zones to the lagging secondary only.
    pub lagging_only: bool,
}

const RNDC_PORT: u16 = 953;
const ADMIN_KEY: &str = "wildcert-kit-admin";

/// A loopback address added to `lo` for the lifetime of this value.
pub(crate) struct LoopbackAddr {
    pub(crate) addr: Ipv4Addr,
}

impl LoopbackAddr {
    /// Adds a random unused 127.53.x.y/32 to `lo` (`ip addr add` fails on a taken one: retry).
    pub(crate) fn claim() -> Result<LoopbackAddr> {
        let ip = tool("ip")?;
        let mut last_err = String::new();
        for _ in 0..50 {
            let [a, b] = random_bytes::<2>()?;
            if !(1..=254).contains(&b) {
                continue;
            }
            let addr = Ipv4Addr::new(127, 53, a, b);
            let shown = run(Command::new(&ip).args(["-4", "addr", "show", "dev", "lo"]))?;
            if shown.contains(&format!("inet {addr}/")) {
                continue;
            }
            let out = Command::new(&ip)
                .args(["addr", "add", &format!("{addr}/32"), "dev", "lo"])
                .output()?;
            if out.status.success() {
                return Ok(LoopbackAddr { addr });
            }
            last_err = String::from_utf8_lossy(&out.stderr).into_owned();
            if !last_err.contains("exists") {
                break;
            }
        }
        Err(KitError(format!(
            "cannot add a 127.53.x.y address to lo (root needed): {last_err}"
        )))
    }
}

impl Drop for LoopbackAddr {
    fn drop(&mut self) {
        if let Some(ip) = crate::util::find_tool("ip") {
            let _ = Command::new(ip)
                .args(["addr", "del", &format!("{}/32", self.addr), "dev", "lo"])
                .output();
        }
    }
}

/// One named process on its own loopback address.
struct Named {
    role: &'static str,
    addr: Ipv4Addr,
    dir: PathBuf,
    proc: ChildProc,
}

impl Named {
    fn spawn(role: &'static str, addr: Ipv4Addr, dir: PathBuf, conf: &str) -> Result<Named> {
        let named = tool("named")?;
        std::fs::create_dir_all(&dir)?;
        let conf_path = dir.join("named.conf");
        std::fs::write(&conf_path, conf)?;
        let mut cmd = Command::new(named);
        cmd.current_dir(&dir)
            .args(["-g", "-4", "-n", "1", "-c"])
            .arg(&conf_path);
        let proc = ChildProc::spawn(
            &format!("named {role} ({addr})"),
            &mut cmd,
            &dir.join("named.log"),
        )?;
        Ok(Named {
            role,
            addr,
            dir,
            proc,
        })
    }

    fn sock(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(self.addr), 53)
    }
}

/// The TSIG secret in a `key "..." { ... secret "..."; };` block.
fn parse_secret(key_text: &str) -> Result<String> {
    key_text
        .lines()
        .find_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("secret")?.trim();
            Some(
                rest.trim_end_matches(';')
                    .trim()
                    .trim_matches('"')
                    .to_owned(),
            )
        })
        .ok_or_else(|| KitError(format!("no secret in tsig-keygen output:\n{key_text}")))
}

fn tsig_keygen(alg: &str, name: &str) -> Result<String> {
    run(Command::new(tool("tsig-keygen")?).args(["-a", alg, name]))
}

fn common_options(dir: &Path, addr: Ipv4Addr, extra: &str) -> String {
    let d = dir.display();
    format!(
        r#"options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port 53 {{ {addr}; }};
    listen-on-v6 {{ none; }};
    allow-query {{ any; }};
    dnssec-validation no;
    notify-source {addr};
    transfer-source {addr};
    query-source address {addr};
{extra}}};
controls {{ inet {addr} port {RNDC_PORT} allow {{ any; }} keys {{ "rndc-key"; }}; }};
logging {{ category lame-servers {{ null; }}; }};
"#
    )
}

/// Runs `dig` and returns its `+short` answer lines.
fn dig_short(server: SocketAddr, rtype: &str, name: &str, recurse: bool) -> Result<Vec<String>> {
    let mut cmd = Command::new(tool("dig")?);
    cmd.arg(format!("@{}", server.ip()))
        .arg("-p")
        .arg(server.port().to_string())
        .args(["+short", "+tries=1", "+time=2"])
        .arg(if recurse { "+recurse" } else { "+norecurse" })
        .args([rtype, name]);
    let out = run(&mut cmd)?;
    Ok(out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with(';'))
        .map(str::to_owned)
        .collect())
}

/// Joins the quoted character-strings of one `dig +short` TXT line into one value.
fn parse_txt_line(line: &str) -> String {
    let mut out = String::new();
    let mut in_quotes = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => in_quotes = !in_quotes,
            '\\' if in_quotes => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            c if in_quotes => out.push(c),
            _ => {}
        }
    }
    out
}

/// TXT values of `name` as answered by `server` (non-recursive query; for authoritative servers).
pub fn txt_values(server: SocketAddr, name: &str) -> Result<Vec<String>> {
    Ok(dig_short(server, "TXT", name, false)?
        .iter()
        .filter(|l| l.starts_with('"')) // skip CNAME lines
        .map(|l| parse_txt_line(l))
        .collect())
}

/// TXT values of `name` through a recursive resolver at `server`.
pub fn txt_values_recursive(server: SocketAddr, name: &str) -> Result<Vec<String>> {
    Ok(dig_short(server, "TXT", name, true)?
        .iter()
        .filter(|l| l.starts_with('"')) // skip CNAME lines
        .map(|l| parse_txt_line(l))
        .collect())
}

/// The SOA serial `server` answers for `zone` (non-recursive), or `None` if it gives none.
pub fn soa_serial(server: SocketAddr, zone: &str) -> Result<Option<u32>> {
    Ok(dig_short(server, "SOA", zone, false)?
        .first()
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|s| s.parse().ok()))
}

fn absolute(name: &str, zone: &str) -> String {
    let zone = zone.trim_end_matches('.');
    if name == "@" {
        format!("{zone}.")
    } else if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.{zone}.")
    }
}

/// A server frozen by [`BindTopology::freeze`]; thawed (SIGCONT) on drop.
pub struct Frozen {
    pid: u32,
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = signal(self.pid, "CONT");
    }
}

fn signal(pid: u32, sig: &str) -> Result<()> {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Ok(())
    } else {
        Err(KitError(format!("kill -{sig} {pid} failed")))
    }
}

/// The hidden primary, the prompt and the lagging secondary; all torn down on drop.
pub struct BindTopology {
    primary: Named,
    prompt: Named,
    lagging: Named,
    // Removed after the servers are killed (fields drop in declaration order).
    _addrs: Vec<LoopbackAddr>,
    zones: Vec<String>,
    tsig_algorithm: String,
    tsig_key_name: String,
    tsig_secret: String,
    tsig_key_text: String,
    tsig_key_path: PathBuf,
    admin_key_path: PathBuf,
    rndc_key_text: String,
    rndc_conf: PathBuf,
    dir: TempDir,
}

impl BindTopology {
    /// Starts the three servers and waits (bounded) until both secondaries serve every zone.
    pub fn start(opts: BindOptions) -> Result<BindTopology> {
        if opts.zones.is_empty() {
            return Err(KitError::new("BindOptions::zones is empty"));
        }
        if !matches!(
            opts.tsig_algorithm.as_str(),
            "hmac-sha256"
                | "hmac-sha384"
                | "hmac-sha512"
                | "hmac-sha224"
                | "hmac-sha1"
                | "hmac-md5"
        ) {
            return Err(KitError(format!(
                "unsupported TSIG algorithm {}",
                opts.tsig_algorithm
            )));
        }
        let zones: Vec<String> = opts
            .zones
            .iter()
            .map(|z| z.trim_end_matches('.').to_ascii_lowercase())
            .collect();
        let dir = temp_dir("bind")?;
        let base = dir.path().to_owned();

        let tsig_key_text = tsig_keygen(&opts.tsig_algorithm, &opts.tsig_key_name)?;
        let tsig_secret = parse_secret(&tsig_key_text)?;
        let tsig_key_path = base.join("tsig.key");
        std::fs::write(&tsig_key_path, &tsig_key_text)?;
        // A key file as an operator should keep it: only the owner may read it.
        std::fs::set_permissions(
            &tsig_key_path,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )?;
        let admin_key_path = base.join("admin.key");
        std::fs::write(&admin_key_path, tsig_keygen("hmac-sha256", ADMIN_KEY)?)?;
        let rndc_key_text = tsig_keygen("hmac-sha256", "rndc-key")?;
        std::fs::write(base.join("rndc.key"), &rndc_key_text)?;
        let rndc_conf = base.join("rndc.conf");
        std::fs::write(
            &rndc_conf,
            format!(
                "include \"{}/rndc.key\";\noptions {{ default-key \"rndc-key\"; }};\n",
                base.display()
            ),
        )?;
        let includes = format!(
            "include \"{b}/rndc.key\";\ninclude \"{b}/tsig.key\";\ninclude \"{b}/admin.key\";\n",
            b = base.display()
        );

        let mut addrs = Vec::new();
        for _ in 0..3 {
            addrs.push(LoopbackAddr::claim()?);
        }
        let (p, s1, s2) = (addrs[0].addr, addrs[1].addr, addrs[2].addr);

        // Primary: zone files, TSIG updates, NOTIFY only to the prompt secondary.
        let pdir = base.join("primary");
        std::fs::create_dir_all(&pdir)?;
        let ttl = opts.ttl;
        let notify_list = if opts.lagging_secondary {
            format!("{s1} port 53;")
        } else {
            format!("{s1} port 53; {s2} port 53;")
        };
        let mut pconf = common_options(
            &pdir,
            p,
            "    recursion no;\n    notify-delay 0;\n    notify-rate 1000;\n    startup-notify-rate 1000;\n",
        );
        pconf.push_str(&includes);
        let key_name = opts.tsig_key_name.trim_end_matches('.');
        let grants = match &opts.update_grants {
            Some(g) => g.replace("KEY", key_name),
            None => format!("grant \"{key_name}\" zonesub TXT;"),
        };
        for z in &zones {
            let mut zf = format!(
                "$ORIGIN {z}.\n$TTL {ttl}\n@ IN SOA ns1.{z}. hostmaster.{z}. 1 60 1 86400 {ttl}\n\
                 @ IN NS ns1.{z}.\n@ IN NS ns2.{z}.\nns1 IN A {s1}\nns2 IN A {s2}\n"
            );
            for line in &opts.extra_records {
                zf.push_str(line);
                zf.push('\n');
            }
            std::fs::write(pdir.join(format!("{z}.db")), zf)?;
            let _ = write!(
                pconf,
                r#"zone "{z}" {{
    type primary;
    file "{z}.db";
    update-policy {{ {grants} grant "{ADMIN_KEY}" zonesub ANY; }};
    allow-transfer {{ {s1}; {s2}; }};
    notify explicit;
    also-notify {{ {notify_list} }};
}};
"#,
            );
        }
        let check_conf = |conf: &str, name: &str| -> Result<()> {
            let path = base.join(name);
            std::fs::write(&path, conf)?;
            if let Some(checkconf) = crate::util::find_tool("named-checkconf") {
                run(Command::new(checkconf).arg(&path))?;
            }
            Ok(())
        };
        check_conf(&pconf, "check-primary.conf")?;
        let primary = Named::spawn("primary", p, pdir, &pconf)?;

        let secondary_conf = |dir: &Path, addr: Ipv4Addr, lagging: bool| {
            let timers = if lagging {
                "    min-refresh-time 5;\n    max-refresh-time 5;\n    min-retry-time 1;\n    max-retry-time 2;\n"
            } else {
                "    min-retry-time 1;\n    max-retry-time 2;\n"
            };
            let mut conf = common_options(
                dir,
                addr,
                // serial-query-rate 1000: the refresh rate limiter ticks every 10 ms instead of 500 ms.
                &format!(
                    "    recursion no;\n    notify no;\n    serial-query-rate 1000;\n{timers}"
                ),
            );
            conf.push_str(&includes);
            for z in &zones {
                let _ = writeln!(
                    conf,
                    "zone \"{z}\" {{ type secondary; file \"{z}.db\"; primaries {{ {p} port 53; }}; }};"
                );
            }
            conf
        };

        let s1dir = base.join("secondary-prompt");
        let s2dir = base.join("secondary-lagging");
        std::fs::create_dir_all(&s1dir)?;
        std::fs::create_dir_all(&s2dir)?;
        let s1conf = secondary_conf(&s1dir, s1, false);
        let s2conf = secondary_conf(&s2dir, s2, opts.lagging_secondary);
        check_conf(&s1conf, "check-prompt.conf")?;
        check_conf(&s2conf, "check-lagging.conf")?;
        let prompt = Named::spawn("prompt secondary", s1, s1dir, &s1conf)?;
        let lagging = Named::spawn("lagging secondary", s2, s2dir, &s2conf)?;

        let mut topo = BindTopology {
            primary,
            prompt,
            lagging,
            _addrs: addrs,
            zones,
            tsig_algorithm: opts.tsig_algorithm.clone(),
            tsig_key_name: opts.tsig_key_name.clone(),
            tsig_secret,
            tsig_key_text,
            tsig_key_path,
            admin_key_path,
            rndc_key_text,
            rndc_conf,
            dir,
        };
        topo.wait_ready()?;
        Ok(topo)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let zones = self.zones.clone();
        let rndc = tool("rndc")?;
        let rndc_conf = self.rndc_conf.clone();
        for server in [&mut self.primary, &mut self.prompt, &mut self.lagging] {
            let sock = server.sock();
            let secondary = server.role != "primary";
            let mut nudged = Instant::now();
            let res = wait_until(
                &format!("named {} to serve {zones:?}", server.role),
                Duration::from_secs(20),
                Duration::from_millis(50),
                || {
                    server.proc.check_alive()?;
                    // A dig error (connection refused, timeout) just means "not yet".
                    let ready = zones
                        .iter()
                        .all(|z| matches!(soa_serial(sock, z), Ok(Some(_))));
                    // A secondary whose first transfer came while the loaded machine's primary
                    // still refused it may wait long for its next try: ask it again.
                    if !ready && secondary && nudged.elapsed() >= Duration::from_secs(3) {
                        nudged = Instant::now();
                        for z in &zones {
                            let _ = Command::new(&rndc)
                                .arg("-c")
                                .arg(&rndc_conf)
                                .args(["-s", &sock.ip().to_string(), "-p", &RNDC_PORT.to_string()])
                                .args(["retransfer", z])
                                .output();
                        }
                    }
                    Ok(ready)
                },
            );
            if let Err(e) = res {
                return Err(server.proc.with_log(e));
            }
        }
        Ok(())
    }

    /// Address (port 53) of the hidden primary, which takes TSIG-signed updates.
    pub fn primary_addr(&self) -> SocketAddr {
        self.primary.sock()
    }

    /// Addresses of the two secondaries (the zones' NS set): `[prompt, lagging]`.
    pub fn secondary_addrs(&self) -> Vec<SocketAddr> {
        vec![self.prompt.sock(), self.lagging.sock()]
    }

    /// The secondary NOTIFYed by the primary (`ns1.<zone>`).
    pub fn prompt_secondary_addr(&self) -> SocketAddr {
        self.prompt.sock()
    }

    /// The secondary that is never NOTIFYed and polls every 5 s (`ns2.<zone>`).
    pub fn lagging_secondary_addr(&self) -> SocketAddr {
        self.lagging.sock()
    }

    /// The zones served (no trailing dots).
    pub fn zones(&self) -> &[String] {
        &self.zones
    }

    /// The update key's name as given to `tsig-keygen`.
    pub fn tsig_key_name(&self) -> &str {
        &self.tsig_key_name
    }

    /// The update key's secret, base64 as printed by `tsig-keygen`.
    pub fn tsig_secret_b64(&self) -> &str {
        &self.tsig_secret
    }

    /// The update key's algorithm, e.g. `hmac-sha256`.
    pub fn tsig_algorithm(&self) -> &str {
        &self.tsig_algorithm
    }

    /// The `key "NAME" { algorithm ...; secret "..."; };` block printed by `tsig-keygen`.
    pub fn tsig_key_file_text(&self) -> &str {
        &self.tsig_key_text
    }

    /// The same key block as a file.
    pub fn tsig_key_file_path(&self) -> &Path {
        &self.tsig_key_path
    }

    /// Root of the topology's temp dir (one subdirectory with config, zones and log per server).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Log file of the server at `addr`, if it belongs to the topology.
    pub fn log_path(&self, addr: SocketAddr) -> Option<&Path> {
        self.server(addr).map(|n| n.proc.log_path())
    }

    fn server(&self, addr: SocketAddr) -> Option<&Named> {
        [&self.primary, &self.prompt, &self.lagging]
            .into_iter()
            .find(|n| n.sock() == addr)
    }

    fn server_mut(&mut self, addr: SocketAddr) -> Option<&mut Named> {
        [&mut self.primary, &mut self.prompt, &mut self.lagging]
            .into_iter()
            .find(|n| n.sock() == addr)
    }

    fn zone_for(&self, zone: &str) -> Result<String> {
        let z = zone.trim_end_matches('.').to_ascii_lowercase();
        if self.zones.contains(&z) {
            Ok(z)
        } else {
            Err(KitError(format!(
                "zone {zone} is not served by this topology"
            )))
        }
    }

    fn nsupdate(&self, zone: &str, op: &str, lines: &[&str]) -> Result<()> {
        let zone = self.zone_for(zone)?;
        let mut script = format!("server {} 53\nzone {zone}.\nttl 1\n", self.primary.addr);
        for line in lines {
            let line = line.trim();
            let (name, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let _ = writeln!(
                script,
                "update {op} {} {}",
                absolute(name, &zone),
                rest.trim()
            );
        }
        script.push_str("send\n");
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.path().join(format!("nsupdate-{n}.txt"));
        std::fs::write(&path, &script)?;
        run(Command::new(tool("nsupdate")?)
            .arg("-t")
            .arg("5")
            .arg("-k")
            .arg(&self.admin_key_path)
            .arg(&path))
        .map_err(|e| KitError(format!("{e}\nscript:\n{script}")))?;
        Ok(())
    }

    /// Adds records on the primary with an admin key (any type): lines `NAME [TTL] TYPE DATA`,
    /// NAME relative to the zone unless it ends with a dot (`@` = apex); TTL defaults to 1.
    pub fn add_records(&self, zone: &str, lines: &[&str]) -> Result<()> {
        self.nsupdate(zone, "add", lines)
    }

    /// Deletes records on the primary: lines `NAME [TYPE [DATA]]`, as for `nsupdate`'s `update delete`.
    pub fn delete_records(&self, zone: &str, lines: &[&str]) -> Result<()> {
        self.nsupdate(zone, "delete", lines)
    }

    /// TXT values of `name` as answered by `server` (non-recursive `dig +short`).
    pub fn txt_values(&self, server: SocketAddr, name: &str) -> Result<Vec<String>> {
        txt_values(server, name)
    }

    /// Every TXT record of `zone` on the primary, as `(owner name without the trailing dot,
    /// value)`: a zone transfer from the primary, sent from the prompt secondary's address
    /// (the only sources `allow-transfer` admits besides the lagging one).
    pub fn zone_txt(&self, zone: &str) -> Result<Vec<(String, String)>> {
        let zone = self.zone_for(zone)?;
        let out = run(Command::new(tool("dig")?)
            .arg("-b")
            .arg(self.prompt.addr.to_string())
            .arg(format!("@{}", self.primary.addr))
            .args([
                "-p", "53", "+tries=1", "+time=5", "+nocmd", "+nostats", "+onesoa",
            ])
            .args(["AXFR", &format!("{zone}.")]))?;
        if out.contains("Transfer failed") || !out.contains("SOA") {
            return Err(KitError(format!("zone transfer of {zone} failed:\n{out}")));
        }
        Ok(out
            .lines()
            .filter(|l| !l.starts_with(';'))
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let owner = f.next()?;
                let (_ttl, _class, rtype) = (f.next()?, f.next()?, f.next()?);
                // Only the quoted strings count, and an owner name holds no quote.
                (rtype == "TXT")
                    .then(|| (owner.trim_end_matches('.').to_owned(), parse_txt_line(l)))
            })
            .collect())
    }

    /// SOA serial of `zone` at `server`, `None` if it does not answer.
    pub fn soa_serial(&self, server: SocketAddr, zone: &str) -> Result<Option<u32>> {
        soa_serial(server, zone)
    }

    /// Runs `rndc` against the server at `addr` (e.g. `["freeze", "example.test"]`); returns stdout.
    pub fn rndc(&self, addr: SocketAddr, args: &[&str]) -> Result<String> {
        let server = self
            .server(addr)
            .ok_or_else(|| KitError(format!("{addr} is not part of this topology")))?;
        run(Command::new(tool("rndc")?)
            .arg("-c")
            .arg(&self.rndc_conf)
            .arg("-s")
            .arg(server.addr.to_string())
            .arg("-p")
            .arg(RNDC_PORT.to_string())
            .args(args))
    }

    /// The rndc key block (same key for all servers of the topology).
    pub fn rndc_key_text(&self) -> &str {
        &self.rndc_key_text
    }

    /// Kills the server at `addr` (a dead nameserver: its address stays on `lo`, so UDP queries
    /// get ICMP port-unreachable, i.e. "connection refused", rather than a timeout).
    pub fn stop_server(&mut self, addr: SocketAddr) -> Result<()> {
        let server = self
            .server_mut(addr)
            .ok_or_else(|| KitError(format!("{addr} is not part of this topology")))?;
        server.proc.kill();
        Ok(())
    }

    /// Freezes the server at `addr` (SIGSTOP): it keeps its address and port but answers
    /// nothing, like a hung server; it runs again (SIGCONT) when the guard is dropped.
    pub fn freeze(&self, addr: SocketAddr) -> Result<Frozen> {
        let named = [&self.primary, &self.prompt, &self.lagging]
            .into_iter()
            .find(|n| n.sock() == addr)
            .ok_or_else(|| KitError(format!("{addr} is not part of this topology")))?;
        let pid = named
            .proc
            .pid()
            .ok_or_else(|| KitError(format!("{addr} was stopped")))?;
        signal(pid, "STOP")?;
        Ok(Frozen { pid })
    }

    /// [`Self::stop_server`] restricted to a secondary.
    pub fn stop_secondary(&mut self, addr: SocketAddr) -> Result<()> {
        if addr == self.primary.sock() {
            return Err(KitError::new(
                "stop_secondary called with the primary's address",
            ));
        }
        self.stop_server(addr)
    }

    /// Starts a recursive resolver in front of both secondaries (see [`ResolverOptions`]).
    pub fn start_resolver(&self) -> Result<BindResolver> {
        self.start_resolver_with(ResolverOptions::default())
    }

    /// Starts a recursive resolver (`recursion yes`, no caching, the zones as static-stub,
    /// an empty local root zone) on its own loopback address, port 53.
    pub fn start_resolver_with(&self, opts: ResolverOptions) -> Result<BindResolver> {
        let servers = if opts.lagging_only {
            vec![self.lagging.addr]
        } else {
            vec![self.prompt.addr, self.lagging.addr]
        };
        BindResolver::start(&self.zones, &servers, &self.rndc_key_text)
    }
}

/// A recursive named that resolves the topology's zones through their secondaries only
/// (so Pebble, which does not follow CNAMEs, can be pointed at it); torn down on drop.
pub struct BindResolver {
    named: Named,
    _addr: LoopbackAddr,
    _dir: TempDir,
}

impl BindResolver {
    fn start(zones: &[String], servers: &[Ipv4Addr], rndc_key_text: &str) -> Result<BindResolver> {
        let dir = temp_dir("bind-resolver")?;
        let base = dir.path().to_owned();
        let addr = LoopbackAddr::claim()?;
        let a = addr.addr;
        std::fs::write(base.join("rndc.key"), rndc_key_text)?;
        std::fs::write(
            base.join("root.db"),
            "$TTL 1\n. IN SOA a.root. nobody.invalid. 1 3600 600 86400 1\n. IN NS a.root.\n\
             a.root. IN A 127.0.0.1\n",
        )?;
        let mut conf = common_options(
            &base,
            a,
            "    recursion yes;\n    allow-recursion { any; };\n    max-cache-ttl 0;\n    \
             max-ncache-ttl 0;\n    qname-minimization off;\n    empty-zones-enable no;\n    notify no;\n",
        );
        let _ = writeln!(conf, "include \"{}/rndc.key\";", base.display());
        conf.push_str("zone \".\" { type primary; file \"root.db\"; };\n");
        let list: String = servers.iter().map(|s| format!("{s}; ")).collect();
        for z in zones {
            let _ = writeln!(
                conf,
                "zone \"{z}\" {{ type static-stub; server-addresses {{ {list}}}; }};"
            );
        }
        let mut named = Named::spawn("resolver", a, base.join("named"), &conf)?;
        let sock = named.sock();
        let first_zone = zones.first().cloned().unwrap_or_default();
        let res = wait_until(
            "resolver to answer",
            Duration::from_secs(20),
            Duration::from_millis(50),
            || {
                named.proc.check_alive()?;
                Ok(dig_short(sock, "SOA", &first_zone, true).is_ok_and(|a| !a.is_empty()))
            },
        );
        if let Err(e) = res {
            return Err(named.proc.with_log(e));
        }
        Ok(BindResolver {
            named,
            _addr: addr,
            _dir: dir,
        })
    }

    /// The resolver's address (port 53); pass it as [`crate::PebbleOptions::dns_server`].
    pub fn addr(&self) -> SocketAddr {
        self.named.sock()
    }

    /// TXT values of `name` resolved recursively (CNAMEs followed).
    pub fn txt_values(&self, name: &str) -> Result<Vec<String>> {
        txt_values_recursive(self.addr(), name)
    }

    /// The resolver's log file.
    pub fn log_path(&self) -> &Path {
        self.named.proc.log_path()
    }

    /// The resolver's working directory.
    pub fn dir(&self) -> &Path {
        &self.named.dir
    }
}
