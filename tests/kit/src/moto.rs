//! moto's server mode (PyPI `moto[server]`): an AWS API emulator, used here for Route53 on a
//! free 127.0.0.1 port. Installed by `tests/setup.sh` into `target/venv-moto`; `MOTO_SERVER`
//! may name the `moto_server` executable instead.
//!
//! moto routes a request to Route53 only when its `Authorization` header carries a SigV4
//! credential scope naming `route53`; it does not check signatures, always answers `INSYNC`,
//! and accepts DELETE of missing records (see research §2). The helpers here send a dummy
//! SigV4 header for that reason.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::util::{
    ChildProc, KitError, Result, find_tool, free_tcp_port, install_crypto_provider, is_ci,
    retry_port_clash, tcp_open, temp_dir, wait_until,
};

/// Route53's XML namespace.
const NS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";
/// Enough for moto to route the request to Route53 (it does not verify signatures).
const DUMMY_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDMOTOKIT/20250101/us-east-1/route53/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000";

/// The `moto_server` executable: `MOTO_SERVER`, else `target/venv-moto/bin/moto_server` of this
/// workspace, else `moto_server` in `PATH`.
pub fn moto_server_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MOTO_SERVER").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/venv-moto/bin/moto_server");
    if venv.is_file() {
        return Some(venv);
    }
    find_tool("moto_server")
}

/// True when moto is available; otherwise prints a skip message and returns false, or panics
/// when `CI=true` (run `tests/setup.sh` to install it).
pub fn require_moto() -> bool {
    if moto_server_path().is_some() {
        return true;
    }
    let what = "moto_server is not installed (run tests/setup.sh, or set MOTO_SERVER)";
    if is_ci() {
        panic!("{what}, and CI=true: this test may not be skipped");
    }
    eprintln!("SKIPPED: {what} (set CI=true to make this a failure)");
    false
}

/// One request moto recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MotoRequest {
    /// Method.
    pub method: String,
    /// The URL as received.
    pub url: String,
    /// The access key id of the SigV4 `Authorization` header, if signed.
    pub access_key_id: Option<String>,
    /// The `x-amz-security-token` header, if any.
    pub security_token: Option<String>,
    /// The body.
    pub body: String,
}

/// A running `moto_server` on 127.0.0.1; killed on drop.
pub struct Moto {
    proc: ChildProc,
    addr: SocketAddr,
    _dir: TempDir,
}

impl Moto {
    /// Starts moto on a free port and waits (at most 30 s) until it answers.
    pub fn start() -> Result<Moto> {
        retry_port_clash(Self::start_once)
    }

    fn start_once() -> Result<Moto> {
        let bin = moto_server_path()
            .ok_or_else(|| KitError::new("moto_server not found (run tests/setup.sh)"))?;
        let dir = temp_dir("moto")?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_tcp_port()?));
        let mut cmd = Command::new(bin);
        cmd.current_dir(dir.path())
            .arg("-H")
            .arg("127.0.0.1")
            .arg("-p")
            .arg(addr.port().to_string())
            // moto must not reach for real AWS credentials or the network.
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            // Record every request (headers included), to prove which key signed what.
            .env("MOTO_ENABLE_RECORDING", "True")
            .env("MOTO_RECORDER_FILEPATH", dir.path().join("recording.jsonl"));
        let log = dir.path().join("moto.log");
        let mut proc = ChildProc::spawn("moto_server", &mut cmd, &log)?;
        let ready = wait_until(
            "moto_server port",
            Duration::from_secs(30),
            Duration::from_millis(50),
            || {
                proc.check_alive()?;
                // Our own server must say it listens: another test's moto that took the same
                // free port answers too, and two tests then shared one moto (two hosted zones
                // of one name made the Route 53 conformance tests fail at random).
                let said = std::fs::read_to_string(&log).unwrap_or_default();
                if said.contains("Address already in use") {
                    return Err(KitError::new("moto: address already in use"));
                }
                Ok(said.contains(&format!("Running on http://{addr}")) && tcp_open(addr))
            },
        );
        if let Err(e) = ready {
            if std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("Address already in use")
            {
                return Err(KitError::new("moto: address already in use"));
            }
            return Err(proc.with_log(e));
        }
        Ok(Moto {
            proc,
            addr,
            _dir: dir,
        })
    }

    /// The endpoint URL, `http://127.0.0.1:PORT` (for `AWS_ENDPOINT_URL`).
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's log file.
    pub fn log_path(&self) -> &Path {
        self.proc.log_path()
    }

    /// Every request moto recorded so far, in order (moto's recorder, `MOTO_ENABLE_RECORDING`).
    pub fn recorded(&self) -> Result<Vec<MotoRequest>> {
        let path = self._dir.path().join("recording.jsonl");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(KitError(format!("{}: {e}", path.display()))),
        };
        let mut out = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| KitError(format!("moto recording: {e}: {line}")))?;
            let headers = v["headers"].as_object().cloned().unwrap_or_default();
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .and_then(|(_, v)| v.as_str())
                    .map(str::to_string)
            };
            let authorization = header("authorization");
            let access_key_id = authorization.as_deref().and_then(|a| {
                let c = a.split("Credential=").nth(1)?;
                Some(c.split('/').next()?.to_string())
            });
            let raw = v["body"].as_str().unwrap_or_default();
            let body = if v["body_encoded"].as_bool() == Some(true) {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(raw)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default()
            } else {
                raw.to_string()
            };
            out.push(MotoRequest {
                method: v["method"].as_str().unwrap_or_default().to_string(),
                url: v["url"].as_str().unwrap_or_default().to_string(),
                access_key_id,
                security_token: header("x-amz-security-token"),
                body,
            });
        }
        Ok(out)
    }

    /// The access key ids that signed Route53 requests (`/2013-04-01/…`), in order, helpers' own
    /// requests left out.
    pub fn route53_signers(&self) -> Result<Vec<String>> {
        Ok(self
            .recorded()?
            .into_iter()
            .filter(|r| r.url.contains("/2013-04-01/"))
            .filter_map(|r| r.access_key_id)
            .filter(|k| k != "AKIDMOTOKIT")
            .collect())
    }

    /// The STS actions moto served (`AssumeRole`, `AssumeRoleWithWebIdentity`), with the key
    /// that signed each (none for web identity).
    pub fn sts_calls(&self) -> Result<Vec<(String, Option<String>)>> {
        Ok(self
            .recorded()?
            .into_iter()
            .filter_map(|r| {
                let action = r
                    .body
                    .split('&')
                    .find_map(|p| p.strip_prefix("Action="))?
                    .to_string();
                Some((action, r.access_key_id))
            })
            .collect())
    }

    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<String>,
    ) -> Result<String> {
        install_crypto_provider();
        let url = format!("{}{path}", self.endpoint_url());
        let client = reqwest::Client::builder()
            // moto's first answer on a loaded machine (several servers and a 600-value test at
            // once on two cores) has been seen to take over 20 s.
            .timeout(Duration::from_secs(60))
            .build()?;
        // moto on a loaded machine sometimes refuses a connection: a request that never
        // connected is sent again (bounded; one that connected is not, POSTs are not idempotent).
        let mut attempt = 0;
        let resp = loop {
            attempt += 1;
            let mut req = client
                .request(method.clone(), &url)
                .header("authorization", DUMMY_AUTH)
                .header("x-amz-date", "20250101T000000Z");
            if let Some(b) = &body {
                req = req
                    .header("content-type", "application/xml")
                    .body(b.clone());
            }
            match req.send().await {
                Err(e) if e.is_connect() && attempt < 4 => {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                other => break other?,
            }
        };
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            return Err(KitError(format!("moto {method} {path}: {status}: {text}")));
        }
        Ok(text)
    }

    /// Creates a hosted zone (`CreateHostedZone`); returns its id without `/hostedzone/`.
    pub async fn create_hosted_zone(&self, name: &str, private: bool) -> Result<String> {
        let name = name.trim_end_matches('.');
        let vpc = if private {
            "<VPC><VPCRegion>us-east-1</VPCRegion><VPCId>vpc-12345678</VPCId></VPC>"
        } else {
            ""
        };
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><CreateHostedZoneRequest xmlns="{NS}"><Name>{name}.</Name><CallerReference>kit-{}</CallerReference>{vpc}<HostedZoneConfig><Comment>wildcert test</Comment><PrivateZone>{private}</PrivateZone></HostedZoneConfig></CreateHostedZoneRequest>"#,
            u64::from_le_bytes(crate::util::random_bytes::<8>()?)
        );
        let answer = self
            .request(reqwest::Method::POST, "/2013-04-01/hostedzone", Some(body))
            .await?;
        let id = tag_texts(&answer, "Id")
            .into_iter()
            .find(|i| i.contains("hostedzone"))
            .ok_or_else(|| KitError(format!("no hosted zone id in moto's answer: {answer}")))?;
        Ok(id.trim_start_matches("/hostedzone/").to_string())
    }

    /// Writes a TXT RRset directly (UPSERT of `values`, given unquoted), e.g. a foreign record.
    pub async fn upsert_txt(
        &self,
        zone_id: &str,
        name: &str,
        ttl: u32,
        values: &[&str],
    ) -> Result<()> {
        let records: String = values
            .iter()
            .map(|v| {
                format!(
                    "<ResourceRecord><Value>\"{}\"</Value></ResourceRecord>",
                    xml_escape(v)
                )
            })
            .collect();
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="{NS}"><ChangeBatch><Changes><Change><Action>UPSERT</Action><ResourceRecordSet><Name>{}.</Name><Type>TXT</Type><TTL>{ttl}</TTL><ResourceRecords>{records}</ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"#,
            name.trim_end_matches('.')
        );
        self.request(
            reqwest::Method::POST,
            &format!("/2013-04-01/hostedzone/{zone_id}/rrset"),
            Some(body),
        )
        .await?;
        Ok(())
    }

    /// Writes a weighted TXT RRset (`SetIdentifier` + `Weight`), as a routing policy would.
    pub async fn upsert_weighted_txt(
        &self,
        zone_id: &str,
        name: &str,
        set_identifier: &str,
        weight: u32,
        value: &str,
    ) -> Result<()> {
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="{NS}"><ChangeBatch><Changes><Change><Action>UPSERT</Action><ResourceRecordSet><Name>{}.</Name><Type>TXT</Type><SetIdentifier>{}</SetIdentifier><Weight>{weight}</Weight><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>"{}"</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"#,
            name.trim_end_matches('.'),
            xml_escape(set_identifier),
            xml_escape(value)
        );
        self.request(
            reqwest::Method::POST,
            &format!("/2013-04-01/hostedzone/{zone_id}/rrset"),
            Some(body),
        )
        .await?;
        Ok(())
    }

    /// The TXT RRset at `name` (TTL and values, quotes removed), `None` when absent.
    pub async fn txt(&self, zone_id: &str, name: &str) -> Result<Option<(u32, Vec<String>)>> {
        let name = format!("{}.", name.trim_end_matches('.').to_ascii_lowercase());
        let answer = self
            .request(
                reqwest::Method::GET,
                // Start at the name: a list without it is one page (300 sets) of the zone.
                &format!("/2013-04-01/hostedzone/{zone_id}/rrset?name={name}&type=TXT&maxitems=10"),
                None,
            )
            .await?;
        for set in tag_raw(&answer, "ResourceRecordSet") {
            let n = tag_texts(set, "Name")
                .into_iter()
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let t = tag_texts(set, "Type")
                .into_iter()
                .next()
                .unwrap_or_default();
            if n == name && t == "TXT" {
                let ttl = tag_texts(set, "TTL")
                    .into_iter()
                    .next()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                let values = tag_texts(set, "Value")
                    .iter()
                    .map(|v| v.trim_matches('"').to_string())
                    .collect();
                return Ok(Some((ttl, values)));
            }
        }
        Ok(None)
    }
}

/// Escape `<`, `>`, `&` for XML text.
pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Resolve the XML entities quick-xml-free: the five predefined ones and numeric ones.
pub(crate) fn xml_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(end) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let entity = &tail[1..end];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match c {
            Some(c) => out.push(c),
            None => out.push_str(&tail[..=end]),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Raw inner XML of every `<tag>…</tag>` (or `<tag attr…>…</tag>`) in `xml`, in document
/// order; a small reader for the well-formed documents of these tests.
pub fn tag_raw<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(gt) = after.find('>') else { break };
        // Not a longer tag name sharing the prefix (`<Name` vs `<NameServers`).
        let first = after.chars().next().unwrap_or('>');
        if !(first == '>' || first == ' ' || first == '/') {
            rest = after;
            continue;
        }
        if after[..gt].ends_with('/') {
            out.push("");
            rest = &after[gt + 1..];
            continue;
        }
        let body = &after[gt + 1..];
        let Some(end) = body.find(&close) else { break };
        out.push(&body[..end]);
        rest = &body[end + close.len()..];
    }
    out
}

/// Inner texts of every `<tag>` element, entities resolved.
pub fn tag_texts(xml: &str, tag: &str) -> Vec<String> {
    tag_raw(xml, tag).into_iter().map(xml_unescape).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tags() {
        let x = r#"<A><Name>a.</Name><NameServers><NameServer>x</NameServer></NameServers><Value>&quot;v&amp;&#65;&quot;</Value><Empty/></A>"#;
        assert_eq!(tag_texts(x, "Name"), ["a."]);
        assert_eq!(tag_texts(x, "Value"), ["\"v&A\""]);
        assert_eq!(tag_texts(x, "Empty"), [""]);
        assert_eq!(xml_escape("a<&>"), "a&lt;&amp;&gt;");
    }
}
