//! `AwsCredentialServer`: the AWS credential endpoints that are not AWS APIs, on 127.0.0.1, as
//! the SDKs expect them: EC2 instance metadata **IMDSv2 only** (`PUT /latest/api/token`, then
//! the role and its credentials with `X-aws-ec2-metadata-token`; a GET without the token is
//! refused with 401, as on an instance with `HttpTokens=required`), the container credentials
//! endpoint (ECS / EKS Pod Identity, `Authorization` checked when a token is set), and the SSO
//! portal's `GetRoleCredentials` (`GET /federation/credentials`, `x-amz-sso_bearer_token`).
//!
//! Every fetch issues fresh credentials: access key id `<prefix><n>` (n = 1, 2, …), expiring
//! after [`AwsCredentialOptions::valid_for`], so tests can prove which fetch signed a request.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};

use crate::http::{HttpServer, Request, read_request, write_response};
use crate::util::Result;

/// Options of [`AwsCredentialServer::start`].
#[derive(Debug, Clone)]
pub struct AwsCredentialOptions {
    /// Start of every access key id handed out (e.g. `ASIAIMDS`).
    pub access_key_prefix: String,
    /// Lifetime of the credentials handed out.
    pub valid_for: Duration,
    /// The IAM role of the instance (IMDS).
    pub role_name: String,
    /// When set, the container endpoint wants exactly this `Authorization` header.
    pub container_token: Option<String>,
    /// When set, the SSO portal wants exactly this bearer token.
    pub sso_token: Option<String>,
}

impl Default for AwsCredentialOptions {
    fn default() -> Self {
        AwsCredentialOptions {
            access_key_prefix: "ASIAKIT".into(),
            valid_for: Duration::from_secs(3600),
            role_name: "wildcert-dns".into(),
            container_token: None,
            sso_token: None,
        }
    }
}

/// One request the server saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRequest {
    /// Method.
    pub method: String,
    /// Path and query.
    pub target: String,
    /// HTTP status answered.
    pub status: u16,
}

struct State {
    opts: AwsCredentialOptions,
    issued: Vec<String>,
    imds_tokens: Vec<String>,
    log: Vec<CredentialRequest>,
}

/// A running server; stops on drop.
pub struct AwsCredentialServer {
    state: Arc<Mutex<State>>,
    server: HttpServer,
}

fn lock(s: &Mutex<State>) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

impl AwsCredentialServer {
    /// Start on a free 127.0.0.1 port.
    pub fn start(opts: AwsCredentialOptions) -> Result<AwsCredentialServer> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let state = Arc::new(Mutex::new(State {
            opts,
            issued: Vec::new(),
            imds_tokens: Vec::new(),
            log: Vec::new(),
        }));
        let st = state.clone();
        let server = HttpServer::start("aws-credentials", listener, move |stream| {
            serve(stream, st.clone())
        })?;
        Ok(AwsCredentialServer { state, server })
    }

    /// `http://127.0.0.1:PORT` (for `AWS_EC2_METADATA_SERVICE_ENDPOINT`, `AWS_ENDPOINT_URL_SSO`).
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The container credentials URL (for `AWS_CONTAINER_CREDENTIALS_FULL_URI`).
    pub fn container_url(&self) -> String {
        format!("{}/v2/credentials/task", self.endpoint_url())
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Access key ids handed out, in order.
    pub fn issued(&self) -> Vec<String> {
        lock(&self.state).issued.clone()
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<CredentialRequest> {
        lock(&self.state).log.clone()
    }

    /// Change the lifetime of credentials handed out from now on.
    pub fn set_valid_for(&self, d: Duration) {
        lock(&self.state).opts.valid_for = d;
    }
}

fn issue(st: &mut State) -> (String, String, String, String) {
    let n = st.issued.len() + 1;
    let id = format!("{}{n:04}", st.opts.access_key_prefix);
    st.issued.push(id.clone());
    let expires = time::OffsetDateTime::now_utc()
        + time::Duration::seconds(i64::try_from(st.opts.valid_for.as_secs()).unwrap_or(3600));
    let exp = expires
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    (
        id,
        format!("kit-secret-{n}"),
        format!("kit-session-token-{n}"),
        exp,
    )
}

async fn serve(stream: tokio::net::TcpStream, state: Arc<Mutex<State>>) {
    let mut stream = BufReader::new(stream);
    let Ok(Ok(Some(req))) =
        tokio::time::timeout(Duration::from_secs(10), read_request(&mut stream)).await
    else {
        return;
    };
    let (status, ctype, body) = handle(&req, &mut lock(&state));
    lock(&state).log.push(CredentialRequest {
        method: req.method.clone(),
        target: req.target.clone(),
        status,
    });
    let s = stream.get_mut();
    let _ = write_response(s, status, ctype, &[], body.as_bytes(), true).await;
    let _ = s.shutdown().await;
}

fn handle(req: &Request, st: &mut State) -> (u16, &'static str, String) {
    let path = req.path();
    const CREDS: &str = "/latest/meta-data/iam/security-credentials/";
    match (req.method.as_str(), path) {
        ("PUT", "/latest/api/token") => {
            if req
                .header("x-aws-ec2-metadata-token-ttl-seconds")
                .and_then(|v| v.parse::<u32>().ok())
                .is_none_or(|t| t == 0 || t > 21600)
            {
                return (400, "text/plain", "bad ttl".into());
            }
            let token = format!("imds-token-{}", st.imds_tokens.len() + 1);
            st.imds_tokens.push(token.clone());
            (200, "text/plain", token)
        }
        ("GET", p) if p.starts_with(CREDS) => {
            let ok = req
                .header("x-aws-ec2-metadata-token")
                .is_some_and(|t| st.imds_tokens.iter().any(|k| k == t));
            if !ok {
                return (401, "text/plain", "Unauthorized".into());
            }
            let role = &p[CREDS.len()..];
            if role.is_empty() {
                return (200, "text/plain", st.opts.role_name.clone());
            }
            if role != st.opts.role_name {
                return (404, "text/plain", "Not Found".into());
            }
            let (id, secret, token, exp) = issue(st);
            (
                200,
                "text/plain",
                format!(
                    r#"{{"Code":"Success","LastUpdated":"2026-01-01T00:00:00Z","Type":"AWS-HMAC","AccessKeyId":"{id}","SecretAccessKey":"{secret}","Token":"{token}","Expiration":"{exp}"}}"#
                ),
            )
        }
        ("GET", "/v2/credentials/task") => {
            if let Some(want) = &st.opts.container_token
                && req.header("authorization") != Some(want.as_str())
            {
                return (
                    401,
                    "application/json",
                    r#"{"Message":"unauthorized"}"#.into(),
                );
            }
            let (id, secret, token, exp) = issue(st);
            (
                200,
                "application/json",
                format!(
                    r#"{{"AccessKeyId":"{id}","SecretAccessKey":"{secret}","Token":"{token}","Expiration":"{exp}","RoleArn":"arn:aws:iam::123456789012:role/task"}}"#
                ),
            )
        }
        ("GET", "/federation/credentials") => {
            let q = req.raw_query();
            if !(q.contains("account_id=") && q.contains("role_name=")) {
                return (
                    400,
                    "application/json",
                    r#"{"message":"account_id and role_name are required"}"#.into(),
                );
            }
            if let Some(want) = &st.opts.sso_token
                && req.header("x-amz-sso_bearer_token") != Some(want.as_str())
            {
                return (
                    401,
                    "application/json",
                    r#"{"message":"Session token not found or invalid"}"#.into(),
                );
            }
            let (id, secret, token, _) = issue(st);
            let exp_ms = (time::OffsetDateTime::now_utc().unix_timestamp()
                + i64::try_from(st.opts.valid_for.as_secs()).unwrap_or(3600))
                * 1000;
            (
                200,
                "application/json",
                format!(
                    r#"{{"roleCredentials":{{"accessKeyId":"{id}","secretAccessKey":"{secret}","sessionToken":"{token}","expiration":{exp_ms}}}}}"#
                ),
            )
        }
        _ => (404, "text/plain", "Not Found".into()),
    }
}
