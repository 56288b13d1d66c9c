//! `AwsCredentialServer`: the AWS credential endpoints that are not AWS APIs, on the kit's
//! router, as the SDKs expect them: EC2 instance metadata **IMDSv2 only** (`PUT
//! /latest/api/token`, then the role and its credentials with `X-aws-ec2-metadata-token`; a GET
//! without the token is refused with 401, as on an instance with `HttpTokens=required`), the
//! container credentials endpoint (ECS / EKS Pod Identity, `Authorization` checked when a token
//! is set), and the SSO portal's `GetRoleCredentials` (`GET /federation/credentials`,
//! `x-amz-sso_bearer_token`).
//!
//! Every fetch issues fresh credentials: access key id `<prefix><n>` (n = 1, 2, …), expiring
//! after [`AwsCredentialOptions::valid_for`], so tests can prove which fetch signed a request.

use std::ops::Deref;
use std::time::Duration;

use serde_json::json;
use wildcert_testkit::{Call, FakeServer, KitError, Reply, Router};

const CREDS: &str = "/latest/meta-data/iam/security-credentials";

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

/// What the server holds: options, the keys handed out, the IMDS session tokens.
#[derive(Debug)]
pub struct CredentialState {
    opts: AwsCredentialOptions,
    issued: Vec<String>,
    imds_tokens: Vec<String>,
}

/// A running server; stops on drop. The kit's [`FakeServer`] (deref) gives `addr` and the
/// request log (`requests`, `count`).
#[derive(Debug)]
pub struct AwsCredentialServer(FakeServer<CredentialState>);

impl Deref for AwsCredentialServer {
    type Target = FakeServer<CredentialState>;
    fn deref(&self) -> &FakeServer<CredentialState> {
        &self.0
    }
}

/// Fresh credentials (id, secret, session token) and their expiry (Unix seconds).
fn issue(st: &mut CredentialState) -> (String, String, String, i64) {
    let n = st.issued.len() + 1;
    let id = format!("{}{n:04}", st.opts.access_key_prefix);
    st.issued.push(id.clone());
    let valid = i64::try_from(st.opts.valid_for.as_secs()).unwrap_or(3600);
    let expires = time::OffsetDateTime::now_utc().unix_timestamp() + valid;
    let (secret, token) = (format!("kit-secret-{n}"), format!("kit-session-token-{n}"));
    (id, secret, token, expires)
}

/// A Unix time as RFC 3339.
fn rfc3339(unix: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn text(status: u16, body: &str) -> Reply {
    Reply::text(status, "text/plain", body)
}

fn imds_token(st: &mut CredentialState, c: &Call) -> Reply {
    let ttl = c
        .header("x-aws-ec2-metadata-token-ttl-seconds")
        .and_then(|v| v.parse::<u32>().ok());
    if ttl.is_none_or(|t| t == 0 || t > 21600) {
        return text(400, "bad ttl");
    }
    let token = format!("imds-token-{}", st.imds_tokens.len() + 1);
    st.imds_tokens.push(token.clone());
    text(200, &token)
}

/// The instance's role (no role named) or its credentials; IMDSv2: the session token first.
fn imds_credentials(st: &mut CredentialState, c: &Call) -> Reply {
    let token = c.header("x-aws-ec2-metadata-token");
    if !token.is_some_and(|t| st.imds_tokens.iter().any(|k| k == t)) {
        return text(401, "Unauthorized");
    }
    match c.param("role") {
        "" => text(200, &st.opts.role_name.clone()),
        role if role != st.opts.role_name => text(404, "Not Found"),
        _ => {
            let (id, secret, token, exp) = issue(st);
            let body = json!({ "Code": "Success", "LastUpdated": "2026-01-01T00:00:00Z",
                "Type": "AWS-HMAC", "AccessKeyId": id, "SecretAccessKey": secret, "Token": token,
                "Expiration": rfc3339(exp) });
            text(200, &body.to_string())
        }
    }
}

fn container(st: &mut CredentialState, c: &Call) -> Reply {
    if let Some(want) = &st.opts.container_token
        && c.header("authorization") != Some(want.as_str())
    {
        return Reply::json(401, &json!({ "Message": "unauthorized" }));
    }
    let (id, secret, token, exp) = issue(st);
    let body = json!({ "AccessKeyId": id, "SecretAccessKey": secret, "Token": token,
        "Expiration": rfc3339(exp), "RoleArn": "arn:aws:iam::123456789012:role/task" });
    Reply::json(200, &body)
}

fn sso(st: &mut CredentialState, c: &Call) -> Reply {
    if c.query("account_id").is_none() || c.query("role_name").is_none() {
        let msg = "account_id and role_name are required";
        return Reply::json(400, &json!({ "message": msg }));
    }
    if let Some(want) = &st.opts.sso_token
        && c.header("x-amz-sso_bearer_token") != Some(want.as_str())
    {
        let msg = "Session token not found or invalid";
        return Reply::json(401, &json!({ "message": msg }));
    }
    let (id, secret, token, exp) = issue(st);
    let creds = json!({ "accessKeyId": id, "secretAccessKey": secret, "sessionToken": token,
        "expiration": exp * 1000 });
    Reply::json(200, &json!({ "roleCredentials": creds }))
}

impl AwsCredentialServer {
    /// Start on a free 127.0.0.1 port.
    pub fn start(opts: AwsCredentialOptions) -> Result<AwsCredentialServer, KitError> {
        let state = CredentialState {
            opts,
            issued: Vec::new(),
            imds_tokens: Vec::new(),
        };
        let server = Router::new("aws-credentials")
            .route("PUT /latest/api/token", imds_token)
            .route(&format!("GET {CREDS}"), imds_credentials)
            .route(&format!("GET {CREDS}/{{role}}"), imds_credentials)
            .route("GET /v2/credentials/task", container)
            .route("GET /federation/credentials", sso)
            .fallback(|_, _| text(404, "Not Found"))
            .start(state)?;
        Ok(AwsCredentialServer(server))
    }

    /// `http://127.0.0.1:PORT` (for `AWS_EC2_METADATA_SERVICE_ENDPOINT`, `AWS_ENDPOINT_URL_SSO`).
    pub fn endpoint_url(&self) -> String {
        self.url()
    }

    /// The container credentials URL (for `AWS_CONTAINER_CREDENTIALS_FULL_URI`).
    pub fn container_url(&self) -> String {
        format!("{}/v2/credentials/task", self.url())
    }

    /// Access key ids handed out, in order.
    pub fn issued(&self) -> Vec<String> {
        self.with(|st| st.issued.clone())
    }

    /// Change the lifetime of credentials handed out from now on.
    pub fn set_valid_for(&self, d: Duration) {
        self.with(|st| st.opts.valid_for = d);
    }
}
