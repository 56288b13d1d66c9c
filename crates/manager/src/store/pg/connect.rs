//! Where and how to connect: libpq's URL form, its password file and `PG*` variables, and
//! TLS on rustls (ring) for every `sslmode`. tokio-postgres parses the URL; this adds what it
//! lacks: `sslmode=verify-ca|verify-full`, `sslrootcert`, `passfile`, and the environment.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_postgres::config::{Host, SslMode as PgSsl};

use super::PgStoreError;

/// libpq's `sslmode` (default `prefer`); `allow` is treated as `prefer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP only.
    Disable,
    /// TLS when the server offers it, without checking its certificate; else plain.
    Prefer,
    /// TLS, without checking the certificate (checked against `sslrootcert` when given).
    Require,
    /// TLS with a certificate signed by the roots, any host name.
    VerifyCa,
    /// TLS with a certificate signed by the roots, for the host connected to.
    VerifyFull,
}

/// A resolved connection configuration. Its `Debug` never shows the password.
#[derive(Clone)]
pub struct PgConfig {
    pg: tokio_postgres::Config,
    ssl: SslMode,
    root_cert: Option<PathBuf>,
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConfig")
            .field("target", &self.target())
            .field("user", &self.pg.get_user())
            .field("dbname", &self.pg.get_dbname())
            .field("password", &self.pg.get_password().map(|_| "<redacted>"))
            .field("ssl", &self.ssl)
            .field("root_cert", &self.root_cert)
            .finish()
    }
}

impl PgConfig {
    /// From `[store] url` (or `WILDCERT_STORE_URL` when none), completed by the process's
    /// `PG*` variables and password file.
    pub fn from_url(url: Option<&str>) -> Result<PgConfig, PgStoreError> {
        PgConfig::resolve(url, |k| std::env::var(k).ok())
    }

    /// As [`PgConfig::from_url`], reading variables through `env` (URL values win, as in libpq).
    pub fn resolve(
        url: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<PgConfig, PgStoreError> {
        let url = url
            .map(str::to_owned)
            .or_else(|| env("WILDCERT_STORE_URL"))
            .unwrap_or_else(|| "postgresql://".into());
        let rest = url
            .strip_prefix("postgresql://")
            .or_else(|| url.strip_prefix("postgres://"))
            .ok_or_else(|| PgStoreError::BadUrl("it must begin with postgresql://".into()))?;
        let (head, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (mut ssl, mut root, mut passfile, mut kept) = (None, None, None, Vec::new());
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=').unwrap_or((pair, "")) {
                ("sslmode", v) => ssl = Some(percent_decode(v)),
                ("sslrootcert", v) => root = Some(percent_decode(v)),
                ("passfile", v) => passfile = Some(percent_decode(v)),
                _ => kept.push(pair),
            }
        }
        let mut pg: tokio_postgres::Config = if head.is_empty() && kept.is_empty() {
            tokio_postgres::Config::new()
        } else {
            let sep = if kept.is_empty() { "" } else { "?" };
            format!("postgresql://{head}{sep}{}", kept.join("&"))
                .parse()
                .map_err(|e: tokio_postgres::Error| PgStoreError::BadUrl(e.to_string()))?
        };
        if pg.get_hosts().is_empty() {
            for h in env("PGHOST")
                .unwrap_or_else(|| "localhost".into())
                .split(',')
            {
                pg.host(h);
            }
        }
        if pg.get_ports().is_empty() {
            for p in env("PGPORT").iter().flat_map(|p| p.split(',')) {
                pg.port(
                    p.trim()
                        .parse()
                        .map_err(|_| PgStoreError::BadUrl("PGPORT is not a port number".into()))?,
                );
            }
        }
        if let (None, Some(u)) = (pg.get_user(), env("PGUSER").or_else(|| env("USER"))) {
            pg.user(u);
        }
        if let (None, Some(d)) = (pg.get_dbname(), env("PGDATABASE")) {
            pg.dbname(d);
        }
        if pg.get_password().is_none() {
            let file = passfile
                .or_else(|| env("PGPASSFILE"))
                .map(PathBuf::from)
                .or_else(|| env("HOME").map(|h| Path::new(&h).join(".pgpass")));
            if let Some(pw) =
                env("PGPASSWORD").or_else(|| file.and_then(|f| passfile_lookup(&f, &pg)))
            {
                pg.password(pw);
            }
        }
        let root_cert = root.or_else(|| env("PGSSLROOTCERT")).map(PathBuf::from);
        let ssl = match ssl
            .or_else(|| env("PGSSLMODE"))
            .as_deref()
            .unwrap_or("prefer")
        {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "require" if root_cert.is_some() => SslMode::VerifyCa, // libpq: a root file means verify
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => {
                return Err(PgStoreError::BadUrl(
                    "sslmode is one of disable, prefer, require, verify-ca, verify-full".into(),
                ));
            }
        };
        pg.ssl_mode(match ssl {
            SslMode::Disable => PgSsl::Disable,
            SslMode::Prefer => PgSsl::Prefer,
            _ => PgSsl::Require,
        });
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(Duration::from_secs(10));
        }
        Ok(PgConfig { pg, ssl, root_cert })
    }

    /// The role to connect as, when known before connecting.
    pub fn user(&self) -> Option<&str> {
        self.pg.get_user()
    }

    /// The TLS mode.
    pub fn ssl_mode(&self) -> SslMode {
        self.ssl
    }

    /// `host:port` of the first server, for messages (never the password).
    pub fn target(&self) -> String {
        let host = match self.pg.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        format!(
            "{host}:{}",
            self.pg.get_ports().first().copied().unwrap_or(5432)
        )
    }

    /// Connects; the connection is driven by a spawned task that ends when the client drops.
    pub(crate) async fn connect(
        &self,
        map: impl Fn(tokio_postgres::Error) -> PgStoreError,
    ) -> Result<tokio_postgres::Client, PgStoreError> {
        fn drive<F: Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static>(conn: F) {
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!("PostgreSQL connection ended: {e}");
                }
            });
        }
        if self.ssl == SslMode::Disable {
            let (client, conn) = self.pg.connect(tokio_postgres::NoTls).await.map_err(map)?;
            drive(conn);
            return Ok(client);
        }
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(self.tls_config()?);
        let (client, conn) = self.pg.connect(tls).await.map_err(map)?;
        drive(conn);
        Ok(client)
    }

    fn tls_config(&self) -> Result<rustls::ClientConfig, PgStoreError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let webpki = match self.ssl {
            SslMode::VerifyCa | SslMode::VerifyFull => {
                let roots = Arc::new(self.roots()?);
                let built =
                    WebPkiServerVerifier::builder_with_provider(roots, provider.clone()).build();
                Some(built.map_err(|e| self.ca_err(e.to_string()))?)
            }
            _ => None,
        };
        let verifier = Arc::new(PgVerifier {
            webpki,
            check_name: self.ssl == SslMode::VerifyFull,
            algs: provider.signature_verification_algorithms,
        });
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|_| PgStoreError::Crypto("TLS protocol versions"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth())
    }

    fn roots(&self) -> Result<RootCertStore, PgStoreError> {
        let mut roots = RootCertStore::empty();
        match &self.root_cert {
            Some(path) if path != Path::new("system") => {
                let certs =
                    CertificateDer::pem_file_iter(path).map_err(|e| self.ca_err(e.to_string()))?;
                for cert in certs {
                    let cert = cert.map_err(|e| self.ca_err(e.to_string()))?;
                    roots.add(cert).map_err(|e| self.ca_err(e.to_string()))?;
                }
            }
            _ => {
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            }
        };
        if roots.is_empty() {
            return Err(self.ca_err("no CA certificate in it".into()));
        }
        Ok(roots)
    }

    fn ca_err(&self, problem: String) -> PgStoreError {
        let path = self
            .root_cert
            .clone()
            .unwrap_or_else(|| "(system roots)".into());
        PgStoreError::CaFile { path, problem }
    }
}

/// Checks the server certificate as the `sslmode` says: not at all (prefer, require), the
/// chain only (verify-ca), or chain and name (verify-full). Handshake signatures are always checked.
#[derive(Debug)]
struct PgVerifier {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    check_name: bool,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PgVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.webpki else {
            return Ok(ServerCertVerified::assertion());
        };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// The password for the first host from a libpq password file (`host:port:db:user:password`,
/// `*` matches anything, `\` escapes); ignored, as libpq does, when group or others can read it.
fn passfile_lookup(path: &Path, pg: &tokio_postgres::Config) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            "password file {} is open to group or others: ignored (chmod 600 it)",
            path.display()
        );
        return None;
    }
    let host = match pg.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        _ => "localhost".into(),
    };
    let port = pg.get_ports().first().copied().unwrap_or(5432).to_string();
    let user = pg.get_user().unwrap_or_default();
    let db = pg.get_dbname().unwrap_or(user);
    let want = [host.as_str(), &port, db, user];
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .find_map(|line| {
            let fields = split_pgpass(line)?;
            fields[..4]
                .iter()
                .zip(want)
                .all(|(f, w)| f == "*" || f == w)
                .then(|| fields[4].clone())
        })
}

/// Splits a password-file line into its five fields (the last takes the rest of the line).
fn split_pgpass(line: &str) -> Option<Vec<String>> {
    let (mut fields, mut cur, mut chars) = (Vec::new(), String::new(), line.chars());
    while let Some(c) = chars.next() {
        match c {
            '\\' => cur.extend(chars.next()),
            ':' if fields.len() < 4 => fields.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    fields.push(cur);
    (fields.len() == 5).then_some(fields)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let (mut out, mut i) = (Vec::with_capacity(b.len()), 0);
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn url_sslmodes_and_env() {
        let c = PgConfig::resolve(Some("postgresql://u:s3cret@db.example:6543/wc?sslmode=verify-full&sslrootcert=%2Fca.pem"), env(&[])).unwrap();
        assert_eq!(
            (c.ssl_mode(), c.target(), c.user()),
            (SslMode::VerifyFull, "db.example:6543".into(), Some("u"))
        );
        assert_eq!(c.root_cert.as_deref(), Some(Path::new("/ca.pem")));
        assert!(!format!("{c:?}").contains("s3cret"), "{c:?}");
        let vars = [
            ("PGHOST", "h"),
            ("PGPORT", "7000"),
            ("PGUSER", "alice"),
            ("PGPASSWORD", "pw"),
            ("PGDATABASE", "d"),
            ("PGSSLMODE", "require"),
        ];
        let c = PgConfig::resolve(None, env(&vars)).unwrap();
        assert_eq!(
            (
                c.ssl_mode(),
                c.target(),
                c.pg.get_password(),
                c.pg.get_dbname()
            ),
            (
                SslMode::Require,
                "h:7000".into(),
                Some(&b"pw"[..]),
                Some("d")
            )
        );
        let c = PgConfig::resolve(
            Some("postgresql://x@h/d?sslmode=require"),
            env(&[("PGSSLROOTCERT", "/r.pem")]),
        )
        .unwrap();
        assert_eq!(
            c.ssl_mode(),
            SslMode::VerifyCa,
            "require + a root file verifies, as in libpq"
        );
        let e =
            PgConfig::resolve(Some("postgresql://u:s3cret@h:notaport/d"), env(&[])).unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert!(PgConfig::resolve(Some("mysql://u@h"), env(&[])).is_err());
        assert!(PgConfig::resolve(Some("postgresql://u@h/d?sslmode=bogus"), env(&[])).is_err());
    }

    #[test]
    fn password_file_matches_like_libpq() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pgpass");
        std::fs::write(
            &f,
            "# comment\nother:*:*:*:no\nh:5432:d:alice:a\\:b\\\\c\n*:*:*:*:fallback\n",
        )
        .unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let file = f.to_str().unwrap();
        let c = PgConfig::resolve(Some("postgresql://alice@h/d"), env(&[("PGPASSFILE", file)]))
            .unwrap();
        assert_eq!(c.pg.get_password(), Some(&b"a:b\\c"[..]));
        let c =
            PgConfig::resolve(Some("postgresql://bob@h/d"), env(&[("PGPASSFILE", file)])).unwrap();
        assert_eq!(c.pg.get_password(), Some(&b"fallback"[..]));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let c = PgConfig::resolve(Some("postgresql://alice@h/d"), env(&[("PGPASSFILE", file)]))
            .unwrap();
        assert_eq!(
            c.pg.get_password(),
            None,
            "a file open to others is ignored"
        );
    }
}
