//! Settings of the route53 provider, declared once: `wildcert providers route53`,
//! docs/providers/route53.md and the layering of section, certbot file and environment (the AWS
//! CLI's and lego's names) all come from [`Route53Settings`]. The AWS credential chain's
//! environment-only variables (web identity, container, instance metadata) are read apart from
//! the settings ([`Ambient`]), as the SDKs do. `Route53Settings::validate` (in `config`) makes
//! a ready configuration of them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_provider::settings::{config_error, env_value, parse_bool};
use wildcert_provider::{Kind, ProviderError, Secret};

/// Provider kind.
pub const KIND: Kind = Route53Settings::KIND;

/// The public Route53 endpoint (global; signed for `us-east-1`).
pub const DEFAULT_ENDPOINT: &str = "https://route53.amazonaws.com";

/// Default bound on retries of one throttled request.
pub const DEFAULT_MAX_RETRIES: u32 = 8;

/// Bound on one HTTP request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Default of the run's time for waiting out throttling;
/// `Route53Provider::with_rate_limit_budget` replaces it.
pub const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(300);

/// The variables of the AWS credential chain that exist in the environment only (as in the
/// SDKs): web identity, container credentials, instance metadata, the SSO portal's endpoint.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ambient {
    /// `AWS_WEB_IDENTITY_TOKEN_FILE`.
    pub web_identity_token_file: Option<PathBuf>,
    /// `AWS_ROLE_ARN` (with the web identity token).
    pub role_arn: Option<String>,
    /// `AWS_ROLE_SESSION_NAME`.
    pub role_session_name: Option<String>,
    /// `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (ECS).
    pub container_relative_uri: Option<String>,
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI` (EKS Pod Identity, local endpoints).
    pub container_full_uri: Option<String>,
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
    pub container_token: Option<Secret>,
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`.
    pub container_token_file: Option<PathBuf>,
    /// `AWS_EC2_METADATA_DISABLED`.
    pub imds_disabled: Option<bool>,
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT`.
    pub imds_endpoint: Option<String>,
    /// `AWS_ENDPOINT_URL_SSO`, else `AWS_ENDPOINT_URL`: the SSO portal.
    pub sso_endpoint: Option<String>,
}

/// Settings as written in `[providers.<id>]` (with `kind = "route53"`), a certbot credentials
/// file or the environment, and the credential chain's environment-only variables. Every
/// setting is optional here so layers can be merged; `Route53Settings::validate` checks the
/// result.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, wildcert_provider::LayeredSettings)]
#[serde(deny_unknown_fields)]
#[provider(
    kind = "route53",
    summary = "Amazon Route 53 (SigV4; access keys, session tokens or a shared-file profile), one ChangeBatch per zone",
    env_prefix = "AWS",
    // certbot-dns-route53 reads an AWS config file: `[default]` with aws_access_key_id, ….
    certbot = ["dns_route53_", ""],
    ignored(
        var = "AWS_WAIT_FOR_RECORD_SETS_CHANGED",
        reason = "wildcert always waits for the change to be INSYNC, then until every nameserver serves the records"
    ),
    hint_auth = "check the AWS credentials (`wildcert check` says where they came from) and that the policy allows \
                 route53:ChangeResourceRecordSets, GetChange and ListHostedZonesByName",
    hint_zone_not_found = "check that the hosted zone exists in this account (public unless private_zone), or set hosted_zone_id",
    env_only = "chain_env"
)]
pub struct Route53Settings {
    /// Access key id of an IAM user or role (with secret_access_key)
    #[setting(
        required = "no (the AWS credential chain is used without it: web identity, profiles, container, instance metadata)",
        env = ["AWS_ACCESS_KEY_ID"],
        certbot = "aws_access_key_id"
    )]
    pub access_key_id: Option<String>,
    /// Secret access key (prefer secret_access_key_file: no secret in config or environment)
    #[setting(
        required = "with access_key_id (or secret_access_key_file)",
        env = ["AWS_SECRET_ACCESS_KEY"],
        certbot = "aws_secret_access_key",
        pair = "secret_access_key_file"
    )]
    pub secret_access_key: Option<Secret>,
    /// File holding the secret access key
    #[setting(env = ["AWS_SECRET_ACCESS_KEY_FILE"], pair = "secret_access_key")]
    pub secret_access_key_file: Option<PathBuf>,
    /// Session token of temporary credentials (STS, SSO exports); sent signed as
    /// x-amz-security-token
    #[setting(
        required = "for temporary credentials (ASIA… keys)",
        env = ["AWS_SESSION_TOKEN"],
        certbot = "aws_session_token",
        pair = "session_token_file"
    )]
    pub session_token: Option<Secret>,
    /// File holding the session token
    #[setting(env = ["AWS_SESSION_TOKEN_FILE"], pair = "session_token")]
    pub session_token_file: Option<PathBuf>,
    /// Profile of the shared credentials/config files, used when no access key is given (static
    /// keys, role_arn + source_profile, credential_process, SSO)
    #[setting(default = "default", env = ["AWS_PROFILE"])]
    pub profile: Option<String>,
    /// Shared credentials file (`[NAME]` sections with aws_access_key_id, aws_secret_access_key,
    /// aws_session_token)
    #[setting(default = "~/.aws/credentials", env = ["AWS_SHARED_CREDENTIALS_FILE"])]
    pub shared_credentials_file: Option<PathBuf>,
    /// Shared config file (`[profile NAME]` sections; region, and keys as in the credentials file)
    #[setting(default = "~/.aws/config", env = ["AWS_CONFIG_FILE"])]
    pub config_file: Option<PathBuf>,
    /// AWS region; Route53 is global and is signed for us-east-1 whatever this says, except in the
    /// China (cn-*) and GovCloud (us-gov-*) partitions
    #[setting(
        default = "us-east-1",
        env = ["AWS_REGION", "AWS_DEFAULT_REGION"],
        certbot = "region"
    )]
    pub region: Option<String>,
    /// Hosted zone to change (e.g. Z0123456789ABC); the zone apex is then found through DNS and no
    /// listing permission is needed
    #[setting(default = "looked up with ListHostedZonesByName", env = ["AWS_HOSTED_ZONE_ID"])]
    pub hosted_zone_id: Option<String>,
    /// Use private hosted zones only (default: public zones only; a public CA cannot see private
    /// zones)
    #[setting(default = "false", env = ["AWS_PRIVATE_ZONE"])]
    pub private_zone: Option<bool>,
    /// Route53 API endpoint (an emulator such as moto, or a proxy); the first variable wins
    #[setting(
        default = "https://route53.amazonaws.com",
        env = ["AWS_ENDPOINT_URL_ROUTE_53", "AWS_ENDPOINT_URL"]
    )]
    pub endpoint_url: Option<String>,
    /// A role to assume (STS AssumeRole) with whatever credentials the chain found, as lego does
    #[setting(env = ["AWS_ASSUME_ROLE_ARN"])]
    pub assume_role_arn: Option<String>,
    /// ExternalId sent with assume_role_arn, when the role's trust policy asks for one
    #[setting(env = ["AWS_EXTERNAL_ID"])]
    pub external_id: Option<String>,
    /// STS endpoint for AssumeRole and AssumeRoleWithWebIdentity; the first variable wins
    #[setting(
        default = "https://sts.REGION.amazonaws.com",
        env = ["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"]
    )]
    pub sts_endpoint_url: Option<String>,
    /// Retries of a throttled request (Throttling, PriorRequestNotComplete, HTTP 429/5xx), with
    /// jittered backoff, at most 2 minutes in all
    #[setting(default = "8", env = ["AWS_MAX_RETRIES"])]
    pub max_retries: Option<u32>,
    /// Seconds a run may spend waiting out Route53's throttling (its Retry-After and backoff), in
    /// all
    #[setting(default = "300", env = ["AWS_RATE_LIMIT_WAIT"], ty = "seconds")]
    pub rate_limit_wait: Option<u64>,
    /// The credential chain's environment-only variables.
    #[setting(skip)]
    #[serde(skip)]
    pub ambient: Ambient,
    /// The home directory (from `HOME` in the environment), for `~/.aws/*`.
    #[setting(skip)]
    #[serde(skip)]
    pub home: Option<PathBuf>,
}

/// The AWS credential chain's environment-only variables (values trimmed), and `HOME`.
fn chain_env(s: &mut Route53Settings, env: &HashMap<String, String>) -> Result<(), ProviderError> {
    let get = |k: &str| env_value(env, k).map(|v| v.trim().to_string());
    s.ambient = Ambient {
        web_identity_token_file: get("AWS_WEB_IDENTITY_TOKEN_FILE").map(PathBuf::from),
        role_arn: get("AWS_ROLE_ARN"),
        role_session_name: get("AWS_ROLE_SESSION_NAME"),
        container_relative_uri: get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
        container_full_uri: get("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
        container_token: get("AWS_CONTAINER_AUTHORIZATION_TOKEN").map(Secret::new),
        container_token_file: get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").map(PathBuf::from),
        imds_disabled: get("AWS_EC2_METADATA_DISABLED")
            .map(|v| parse_bool(KIND, "AWS_EC2_METADATA_DISABLED", &v))
            .transpose()?,
        imds_endpoint: get("AWS_EC2_METADATA_SERVICE_ENDPOINT"),
        sso_endpoint: get("AWS_ENDPOINT_URL_SSO").or_else(|| get("AWS_ENDPOINT_URL")),
    };
    s.home = get("HOME").map(PathBuf::from);
    Ok(())
}

/// A configuration error of route53.
pub(crate) fn bad(message: impl Into<String>) -> ProviderError {
    config_error(KIND, message)
}
