//! Shared helpers: error type, tool lookup, free ports, child processes, bounded waits.

use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

/// Error of the test kit: a plain message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KitError(pub String);

impl KitError {
    /// Builds an error from any message.
    pub fn new(msg: impl Into<String>) -> Self {
        KitError(msg.into())
    }
}

impl fmt::Display for KitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KitError {}

impl From<std::io::Error> for KitError {
    fn from(e: std::io::Error) -> Self {
        KitError(format!("I/O error: {e}"))
    }
}

impl From<reqwest::Error> for KitError {
    fn from(e: reqwest::Error) -> Self {
        // With the causes: "error sending request" alone does not say timeout or refused.
        let mut text = format!("HTTP error: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(inner) = source {
            text.push_str(&format!(": {inner}"));
            source = inner.source();
        }
        KitError(text)
    }
}

impl From<rcgen::Error> for KitError {
    fn from(e: rcgen::Error) -> Self {
        KitError(format!("certificate generation error: {e}"))
    }
}

pub(crate) type Result<T> = std::result::Result<T, KitError>;

/// True when the environment variable `CI` is `true` (or `1`): nothing may be skipped.
pub fn is_ci() -> bool {
    matches!(
        std::env::var("CI")
            .map(|v| v.to_ascii_lowercase())
            .as_deref(),
        Ok("true") | Ok("1")
    )
}

/// True when the effective user id is 0 (needed for `ip addr add` and port 53).
pub fn is_root() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().nth(1).map(|euid| euid == "0"))
        .unwrap_or(false)
}

/// Finds an executable by name in `PATH` plus the usual sbin/bin directories, or checks a path.
pub fn find_tool(tool: &str) -> Option<PathBuf> {
    let is_exec = |p: &Path| p.is_file();
    if tool.contains('/') {
        let p = PathBuf::from(tool);
        return is_exec(&p).then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            [
                "/usr/local/sbin",
                "/usr/local/bin",
                "/usr/sbin",
                "/usr/bin",
                "/sbin",
                "/bin",
            ]
            .iter()
            .map(PathBuf::from),
        )
        .map(|dir| dir.join(tool))
        .find(|p| is_exec(p))
}

/// Like [`find_tool`], but an error naming the tool when it is missing.
pub(crate) fn tool(name: &str) -> Result<PathBuf> {
    find_tool(name).ok_or_else(|| KitError(format!("required tool `{name}` not found in PATH")))
}

fn skip_or_panic(what: &str) -> bool {
    if is_ci() {
        panic!("{what}, and CI=true: this test may not be skipped");
    }
    eprintln!("SKIPPED: {what} (set CI=true to make this a failure)");
    false
}

/// True when `tool` is available; otherwise prints a skip message and returns false,
/// or panics when `CI=true`.
pub fn require(tool: &str) -> bool {
    if find_tool(tool).is_some() {
        true
    } else {
        skip_or_panic(&format!("required tool `{tool}` is not installed"))
    }
}

/// [`require`] for everything [`crate::Pebble`] and [`crate::ChallTestSrv`] need.
pub fn require_pebble() -> bool {
    ["pebble", "pebble-challtestsrv"].iter().all(|t| require(t))
}

/// [`require`] for everything [`crate::BindTopology`] needs, including root privileges.
pub fn require_bind() -> bool {
    let tools = ["named", "dig", "nsupdate", "tsig-keygen", "rndc", "ip"];
    if !tools.iter().all(|t| require(t)) {
        return false;
    }
    if !is_root() {
        return skip_or_panic("BIND topology needs root (ip addr add, port 53)");
    }
    true
}

/// Installs rustls' ring crypto provider once per process (needed before building a reqwest client).
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err means another provider is already installed: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

fn claim(port: u16) -> bool {
    let mut guard = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    guard.get_or_insert_with(HashSet::new).insert(port)
}

/// A TCP port free on 127.0.0.1 (never handed out twice in this process).
pub fn free_tcp_port() -> Result<u16> {
    for _ in 0..100 {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = l.local_addr()?.port();
        if claim(port) {
            return Ok(port);
        }
    }
    Err(KitError::new("no free TCP port found in 100 attempts"))
}

/// A port free for both TCP and UDP on 127.0.0.1 (for DNS servers).
pub fn free_port() -> Result<u16> {
    for _ in 0..100 {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = l.local_addr()?.port();
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() && claim(port) {
            return Ok(port);
        }
    }
    Err(KitError::new(
        "no port free for both TCP and UDP found in 100 attempts",
    ))
}

/// Runs `start` up to 3 times while it fails because another process took a chosen port.
pub(crate) fn retry_port_clash<T>(mut start: impl FnMut() -> Result<T>) -> Result<T> {
    let mut last = None;
    for _ in 0..3 {
        match start() {
            Err(e) if e.0.contains("address already in use") => last = Some(e),
            other => return other,
        }
    }
    Err(last.unwrap_or_else(|| KitError::new("port clash")))
}

/// True when a TCP connection to `addr` succeeds within 200 ms.
pub(crate) fn tcp_open(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Polls `check` every `interval` until it returns `Ok(true)`, at most until `timeout`.
pub(crate) fn wait_until(
    what: &str,
    timeout: Duration,
    interval: Duration,
    mut check: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let start = Instant::now();
    let max_attempts = (timeout.as_millis() / interval.as_millis().max(1)) as u64 + 1;
    for _ in 0..max_attempts {
        if check()? {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            break;
        }
        std::thread::sleep(interval);
    }
    Err(KitError(format!(
        "timed out after {timeout:?} waiting for {what}"
    )))
}

/// The last `n` lines of a log file (for error messages).
pub(crate) fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs a command to completion and returns its stdout, or an error with stderr.
pub(crate) fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| KitError(format!("cannot run {cmd:?}: {e}")))?;
    if !out.status.success() {
        return Err(KitError(format!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A child process whose output goes to a log file; killed on drop (log printed if panicking).
pub(crate) struct ChildProc {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl ChildProc {
    /// Spawns `cmd` with stdout and stderr appended to `log`.
    pub(crate) fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Result<Self> {
        let file = File::options().create(true).append(true).open(log)?;
        let file2 = file.try_clone()?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(file2))
            .spawn()
            .map_err(|e| KitError(format!("cannot start {name} ({cmd:?}): {e}")))?;
        Ok(ChildProc {
            name: name.to_owned(),
            child: Some(child),
            log: log.to_owned(),
        })
    }

    /// The process id, while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The log file path.
    pub(crate) fn log_path(&self) -> &Path {
        &self.log
    }

    /// Error (with the log tail) if the process has exited.
    pub(crate) fn check_alive(&mut self) -> Result<()> {
        let Some(child) = self.child.as_mut() else {
            return Err(KitError(format!("{} was stopped", self.name)));
        };
        match child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(KitError(format!(
                "{} exited early ({status}); log {}:\n{}",
                self.name,
                self.log.display(),
                log_tail(&self.log, 40)
            ))),
        }
    }

    /// Kills the process (SIGKILL) and reaps it; idempotent.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Error message suffix with the log tail, for failed waits.
    pub(crate) fn with_log(&self, e: KitError) -> KitError {
        KitError(format!(
            "{}: {e}; log {}:\n{}",
            self.name,
            self.log.display(),
            log_tail(&self.log, 40)
        ))
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        if std::thread::panicking() && self.child.is_some() {
            eprintln!(
                "---- {} log ({}), last 60 lines ----\n{}\n---- end of {} log ----",
                self.name,
                self.log.display(),
                log_tail(&self.log, 60),
                self.name
            );
        }
        self.kill();
    }
}

/// Creates a temp dir with a recognisable prefix; kept after drop when `WILDCERT_KIT_KEEP` is set.
pub(crate) fn temp_dir(prefix: &str) -> Result<tempfile::TempDir> {
    Ok(tempfile::Builder::new()
        .prefix(&format!("wildcert-{prefix}-"))
        .disable_cleanup(std::env::var_os("WILDCERT_KIT_KEEP").is_some())
        .tempdir()?)
}

/// Cryptographically random bytes (ring's system RNG).
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    use ring::rand::SecureRandom;
    let mut buf = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| KitError::new("system RNG failed"))?;
    Ok(buf)
}
