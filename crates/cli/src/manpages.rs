//! The manual pages: clap's sections for each command (NAME, SYNOPSIS, DESCRIPTION, OPTIONS,
//! SUBCOMMANDS), then what clap cannot know — EXIT STATUS, ENVIRONMENT, FILES, EXAMPLES and
//! SEE ALSO — and `wildcert.toml(5)`, the config file's page.

use std::io::Write as _;

use wildcert_manager::report::ExitCode as Code;

/// Escape text for roff: backslashes and hyphens (so `man` keeps `--flags` as typed).
fn esc(s: &str) -> String {
    s.replace('\\', "\\e").replace('-', "\\-")
}

/// A `.TP` list: (term, text).
fn tagged(items: &[(&str, &str)]) -> String {
    items
        .iter()
        .map(|(t, d)| format!(".TP\n\\fB{}\\fR\n{}\n", esc(t), esc(d)))
        .collect()
}

fn section(title: &str, body: &str) -> String {
    format!(".SH \"{title}\"\n{body}")
}

/// Examples: (what it does, the command lines).
fn examples(items: &[(&str, &[&str])]) -> String {
    items
        .iter()
        .map(|(what, lines)| {
            format!(
                ".PP\n{}\n.PP\n.RS 4\n.nf\n{}\n.fi\n.RE\n",
                esc(what),
                lines.iter().map(|l| esc(l)).collect::<Vec<_>>().join("\n")
            )
        })
        .collect()
}

fn exit_status() -> String {
    let codes = [
        (Code::Ok, "success (also: nothing was due)"),
        (Code::Internal, "an unexpected internal failure"),
        (
            Code::Settings,
            "bad settings, names or arguments, or a config that does not check out: nothing was sent anywhere",
        ),
        (
            Code::Dns,
            "DNS: the provider, zone discovery or propagation failed",
        ),
        (Code::Ca, "the CA refused or failed, or CAA forbids it"),
        (
            Code::Store,
            "the store (state directory or database: unavailable, or a role that may only read asked to write) or an install target or sync directory could not be written",
        ),
        (
            Code::Hook,
            "the certificate was stored, but a hook (deploy, pre or post) or a reload failed",
        ),
        (
            Code::Interrupted,
            "interrupted by SIGINT or SIGTERM; the records this run published were removed (or kept in the journal for the next run)",
        ),
    ];
    let items: Vec<(String, &str)> = codes.iter().map(|(c, d)| (c.to_string(), *d)).collect();
    let items: Vec<(&str, &str)> = items.iter().map(|(c, d)| (c.as_str(), *d)).collect();
    section(
        "EXIT STATUS",
        &format!(
            "{}.PP\nFor \\fBrenew\\fR: the code of the first certificate that failed, else 6 when a hook failed; \\fB\\-\\-json\\fR documents carry it as \\fBexit_code\\fR.\n",
            tagged(&items)
        ),
    )
}

fn environment() -> String {
    section(
        "ENVIRONMENT",
        &tagged(&[
            (
                "WILDCERT_SERVER",
                "the ACME directory URL or shortcut (--server)",
            ),
            (
                "WILDCERT_STATE_DIR",
                "the store (--state-dir); default /var/lib/wildcert",
            ),
            ("WILDCERT_CONFIG", "the config file (--config)"),
            (
                "WILDCERT_<SECTION>__<KEY>",
                "any setting of the config file, e.g. WILDCERT_ACME__EMAIL, WILDCERT_DNS__PROPAGATION_TIMEOUT, WILDCERT_ACME__EAB_HMAC_KEY",
            ),
            (
                "provider variables",
                "each provider's settings under lego's names (RFC2136_NAMESERVER, CLOUDFLARE_DNS_API_TOKEN, AWS_ACCESS_KEY_ID, …, with *_TTL, *_PROPAGATION_TIMEOUT, *_POLLING_INTERVAL); `wildcert providers NAME` lists them",
            ),
            (
                "LEGO_CA_CERTIFICATES",
                "PEM files separated by `:` trusted for the CA's HTTPS when no ca_bundle is set",
            ),
            (
                "WILDCERT_LOG",
                "a tracing filter, e.g. wildcert=debug (overrides -v and -q)",
            ),
            ("NO_COLOR, CLICOLOR=0", "no colours on a terminal"),
        ]),
    )
}

fn files() -> String {
    section(
        "FILES",
        &tagged(&[
            (
                "/etc/wildcert/wildcert.toml",
                "the usual config file (give it with --config); see wildcert.toml(5)",
            ),
            (
                "/var/lib/wildcert/certs/NAME/live/",
                "the live version: cert.pem, chain.pem, fullchain.pem, privkey.pem (point servers here); archive/N/ keeps every version, meta.json what renew needs",
            ),
            (
                "/var/lib/wildcert/accounts/CA/default/",
                "the ACME account: key.pem (0600) and account.json",
            ),
            (
                "/var/lib/wildcert/journal/",
                "records published and not yet removed; the next run removes them",
            ),
        ]),
    )
}

fn see_also(extra: &[&str]) -> String {
    let mut refs: Vec<String> = vec!["wildcert(1)".into(), "wildcert.toml(5)".into()];
    refs.extend(extra.iter().map(|s| s.to_string()));
    section(
        "SEE ALSO",
        &format!(
            "{}\n.PP\nThe documentation in docs/ of the source: configuration.md, operations.md, troubleshooting.md, providers/.\n",
            esc(&refs.join(", "))
        ),
    )
}

/// Examples per page (by the page's name).
fn examples_for(name: &str) -> Option<String> {
    let e: &[(&str, &[&str])] = match name {
        "wildcert" | "wildcert-issue" => &[
            (
                "A wildcard and its apex through BIND with a TSIG key:",
                &[
                    "export RFC2136_NAMESERVER=ns1.example.com RFC2136_TSIG_FILE=/etc/wildcert/tsig.key",
                    "wildcert --email you@example.com --agree-tos issue -d '*.example.com' -d example.com --dns rfc2136",
                ],
            ),
            (
                "Into nginx's directory, reloading it, and renewed the same way by every later `renew`:",
                &[
                    "wildcert issue -d www.example.com --dns cloudflare --install-dir /etc/nginx/tls --deploy-hook 'systemctl reload nginx'",
                ],
            ),
            (
                "Rehearse against the CA's staging directory (nothing stored, no hook):",
                &["wildcert issue -d example.com --dns route53 --dry-run"],
            ),
        ],
        "wildcert-renew" => &[
            (
                "From cron, quiet unless something failed:",
                &["17 3 * * * root wildcert --config /etc/wildcert/wildcert.toml renew -q"],
            ),
            (
                "Rehearse every certificate; keep running and renew each when due:",
                &["wildcert renew --dry-run", "wildcert renew --until-next"],
            ),
        ],
        "wildcert-check" => &[(
            "Can issuance work for a wildcard? (credentials, zone, every nameserver, CAA; nothing ordered)",
            &["wildcert check -d '*.example.com' --dns pdns"],
        )],
        "wildcert-import-certbot" | "wildcert-import" => &[(
            "Take over certbot's DNS lineages and write a config for them:",
            &[
                "wildcert import certbot --config-dir /etc/letsencrypt --write-config /etc/wildcert/wildcert.toml",
            ],
        )],
        "wildcert-import-lego" => &[(
            "Take over lego's certificates, with the CA and provider lego ran with:",
            &["wildcert --server letsencrypt import lego --path /var/lib/lego/.lego --dns rfc2136"],
        )],
        "wildcert-config-check" | "wildcert-config" => &[(
            "Check the config before a deploy (exit 2 and every problem listed when it fails):",
            &["wildcert --config /etc/wildcert/wildcert.toml config check"],
        )],
        "wildcert-sync" => &[
            (
                "On a web server, every minute from cron, with a role that may only read the store; nginx reloads only when a certificate changed:",
                &[
                    "* * * * * root wildcert --config /etc/wildcert/consumer.toml sync --to /etc/nginx/tls --group www-data --key-mode 0640 --reload 'systemctl reload nginx' -q",
                ],
            ),
            (
                "The consumer's config file: the store and a copy of the bastions' data key (never created by sync):",
                &[
                    "[store]",
                    "url = \"postgresql://reader@db.example.com/wildcert?sslmode=verify-full\"",
                    "key_file = \"/etc/wildcert/store.key\"",
                ],
            ),
        ],
        "wildcert-store-migrate" | "wildcert-store" => &[
            (
                "Move this host's state directory into PostgreSQL (run `renew` first so the journal is empty, stop its timer meanwhile), then switch the config to the database:",
                &[
                    "wildcert --config /etc/wildcert/wildcert.toml store migrate --to 'postgresql://wildcert@db.example.com/wildcert?sslmode=verify-full'",
                    "# then in wildcert.toml: [store] url = \"postgresql://…\" and key_file (copy it to every host)",
                ],
            ),
            (
                "Back out of the database into a fresh directory, then remove [store] url and set state_dir:",
                &[
                    "wildcert --config /etc/wildcert/wildcert.toml store migrate --to /var/lib/wildcert-fs",
                ],
            ),
        ],
        "wildcert-systemd" => &[(
            "Install the renew timer:",
            &[
                "wildcert --config /etc/wildcert/wildcert.toml systemd --dir /etc/systemd/system",
                "systemctl enable --now wildcert-renew.timer",
            ],
        )],
        _ => return None,
    };
    Some(section("EXAMPLES", &examples(e)))
}

/// One command's page: clap's sections, then ours.
pub fn render(cmd: &clap::Command, name: &str) -> std::io::Result<Vec<u8>> {
    let man = clap_mangen::Man::new(cmd.clone());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut page)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut page)?;
    }
    let mut ours = String::new();
    if name == "wildcert" {
        ours.push_str(&environment());
        ours.push_str(&files());
    }
    ours.push_str(&exit_status());
    if let Some(e) = examples_for(name) {
        ours.push_str(&e);
    }
    ours.push_str(&see_also(if name == "wildcert" {
        &[
            "wildcert-issue(1)",
            "wildcert-renew(1)",
            "wildcert-config-check(1)",
            "wildcert-import(1)",
            "wildcert-sync(1)",
        ]
    } else {
        &[]
    }));
    page.write_all(ours.as_bytes())?;
    man.render_version_section(&mut page)?;
    Ok(page)
}

/// `wildcert.toml(5)`: the config file.
pub fn config_page(version: &str) -> String {
    let mut p = format!(
        ".TH wildcert.toml 5 \"\" \"wildcert {}\" \"File Formats\"\n",
        esc(version)
    );
    p.push_str(&section(
        "NAME",
        "wildcert.toml \\- the settings file of wildcert(1)\n",
    ));
    p.push_str(&section(
        "DESCRIPTION",
        &esc("A TOML file given with --config (or WILDCERT_CONFIG). Settings layer as: built-in defaults < this file < the environment (WILDCERT_<SECTION>__<KEY> and each provider's variables) < command-line flags. Unknown keys are errors, and every command checks the whole file before it runs (`wildcert config check` lists every problem), so a typo fails the next run, not the night a certificate comes due.\n"),
    ));
    let sect = |title: &str, items: &[(&str, &str)]| format!(".SS \"{title}\"\n{}", tagged(items));
    let mut body = String::new();
    body.push_str(&sect(
        "top level",
        &[("state_dir = \"/var/lib/wildcert\"", "the store")],
    ));
    body.push_str(&sect(
        "[acme]",
        &[
            ("server", "directory URL or letsencrypt, letsencrypt-staging, zerossl, google, google-staging"),
            ("email, agree_tos", "the account's contact and the terms of service"),
            ("eab_kid, eab_hmac_key_file", "external account binding (ZeroSSL, Google)"),
            ("ca_bundle", "extra roots for the CA's HTTPS (private CAs)"),
            ("profile, preferred_chain, challenge", "defaults for every certificate"),
            ("request_timeout", "bound on one request to the CA"),
        ],
    ));
    body.push_str(&sect(
        "[dns]",
        &[
            (
                "resolvers",
                "resolvers for discovery (default: the system's)",
            ),
            (
                "authoritative",
                "check exactly these servers for propagation",
            ),
            (
                "propagation_timeout",
                "how long every nameserver may take (e.g. \"2m\")",
            ),
            (
                "ttl, follow_cname, caa_check",
                "record TTL, _acme-challenge CNAME delegation, the CAA check before ordering",
            ),
        ],
    ));
    body.push_str(&sect(
        "[providers.ID]",
        &[
            ("kind", "the provider (`wildcert providers` lists them)"),
            (
                "other keys",
                "that provider's settings; `credentials` names a certbot credentials file",
            ),
        ],
    ));
    body.push_str(&sect(
        "[[certificate]]",
        &[
            ("domains, name", "the names to certify; the store name (default: the first name without *.)"),
            ("provider", "an ID of [providers.ID], or a kind"),
            ("key_type", "ec256 (default), ec384, ed25519, rsa2048, rsa3072, rsa4096"),
            ("reuse_key", "keep the key across renewals (TLSA pins)"),
            ("renew_before", "renew this long before expiry (default: ARI, else a third of the lifetime left)"),
            ("deploy_hook", "run after each new version (WILDCERT_* and RENEWED_* in its environment)"),
            ("install", "[{ dir, owner, group, key_mode, reload, layout = \"pem\"|\"lego\" }]: copies written atomically after each new version"),
            ("key_group, key_mode, challenge, profile, preferred_chain, dns_credentials", "per-certificate overrides"),
        ],
    ));
    body.push_str(&sect(
        "[renew]",
        &[(
            "pre_hook, post_hook",
            "run once around the certificates that are due (not run when nothing is due)",
        )],
    ));
    body.push_str(&sect(
        "[store]",
        &[
            ("url", "postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=…]: a database shared by several bastions and consumers (also WILDCERT_STORE_URL); without it the state directory holds everything"),
            ("key_file", "the data key sealing private keys in the database (default STATE_DIR/store.key; created by the first bastion, copied to every other host: `sync` never creates one)"),
            ("lease", "how long a lock outlives a bastion that stopped renewing it (default \"60s\")"),
        ],
    ));
    body.push_str(&sect(
        "[metrics]",
        &[("textfile", "Prometheus metrics for node_exporter's textfile collector, rewritten after every renew")],
    ));
    p.push_str(&section("SETTINGS", &body));
    p.push_str(&section(
        "EXAMPLE",
        &examples(&[(
            "Two certificates through BIND and Cloudflare, one installed for nginx:",
            &[
                "[acme]",
                "email = \"hostmaster@example.com\"",
                "agree_tos = true",
                "",
                "[providers.bind]",
                "kind = \"rfc2136\"",
                "nameserver = \"ns1.example.com\"",
                "tsig_file = \"/etc/wildcert/tsig.key\"",
                "",
                "[providers.cf]",
                "kind = \"cloudflare\"",
                "credentials = \"/etc/letsencrypt/cloudflare.ini\"",
                "",
                "[[certificate]]",
                "domains = [\"*.example.com\", \"example.com\"]",
                "provider = \"bind\"",
                "install = [{ dir = \"/etc/nginx/tls\", group = \"www-data\", key_mode = \"0640\", reload = \"systemctl reload nginx\" }]",
                "",
                "[[certificate]]",
                "domains = [\"shop.example.net\"]",
                "provider = \"cf\"",
                "reuse_key = true",
            ],
        )]),
    ));
    p.push_str(&section(
        "SEE ALSO",
        "wildcert(1), wildcert\\-config\\-check(1)\n",
    ));
    p
}
