//! The stub CA: an in-memory ACME server (the RFC 8555 subset wildcert uses) over HTTPS on
//! loopback, that validates nothing and answers at once.
//!
//! Directory, `newNonce`, `newAccount`, `newOrder`, authorization, challenge, finalize and
//! certificate. An order's authorizations are `pending` with one `dns-01` challenge (so the
//! client runs its whole DNS-01 flow); answering the challenge makes it valid at once, with no
//! lookup. Finalize signs a real certificate from the client's CSR (rcgen) with a stub issuer,
//! so the client's chain and key checks pass. JWS signatures are not checked: only the
//! payloads are read.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, CertifiedIssuer,
    DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::BenchError;

/// Largest request body the stub reads (a JWS with a CSR is a few kB).
const BODY_LIMIT: usize = 256 * 1024;

/// The stub issuer and the TLS identity of the server.
pub struct StubIdentity {
    /// The issuer's certificate (PEM): the client trusts it (`ca_bundle`), and it is the
    /// second certificate of every chain.
    pub ca_pem: String,
    issuer: CertifiedIssuer<'static, KeyPair>,
    tls: Arc<rustls::ServerConfig>,
}

impl StubIdentity {
    /// A fresh issuer, and a server certificate for 127.0.0.1 signed by it.
    pub fn generate() -> Result<Self, BenchError> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "wildcert-bench stub CA");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().map_err(rc)?;
        let issuer = CertifiedIssuer::self_signed(params, key).map_err(rc)?;
        let ca_pem = issuer.pem();

        let mut server = CertificateParams::new(Vec::<String>::new()).map_err(rc)?;
        server.subject_alt_names = vec![SanType::IpAddress([127, 0, 0, 1].into())];
        let server_key = KeyPair::generate().map_err(rc)?;
        let server_cert = server.signed_by(&server_key, &issuer).map_err(rc)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| BenchError::Stub(format!("TLS: {e}")))?
            .with_no_client_auth()
            .with_single_cert(
                vec![server_cert.der().clone(), issuer.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
            )
            .map_err(|e| BenchError::Stub(format!("TLS: {e}")))?;
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(StubIdentity {
            ca_pem,
            issuer,
            tls: Arc::new(tls),
        })
    }
}

fn rc(e: rcgen::Error) -> BenchError {
    BenchError::Stub(format!("rcgen: {e}"))
}

/// One order as the stub keeps it.
struct OrderRecord {
    names: Vec<String>,
    authz_valid: Vec<bool>,
    certificate: Option<String>,
}

/// The stub CA's state.
pub struct StubCa {
    base: String,
    identity: StubIdentity,
    orders: Mutex<HashMap<u64, OrderRecord>>,
    next_id: AtomicU64,
    nonce: AtomicU64,
    /// Requests served (for the report).
    pub requests: AtomicU64,
}

impl StubCa {
    /// Bind on 127.0.0.1 (a free port) and serve until the runtime stops.
    pub async fn start(identity: StubIdentity) -> Result<(Arc<StubCa>, SocketAddr), BenchError> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let ca = Arc::new(StubCa {
            base: format!("https://{addr}"),
            identity,
            orders: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            nonce: AtomicU64::new(1),
            requests: AtomicU64::new(0),
        });
        let acceptor = TlsAcceptor::from(ca.identity.tls.clone());
        let served = ca.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let ca = served.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req| {
                        let ca = ca.clone();
                        async move { Ok::<_, std::convert::Infallible>(ca.handle(req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Ok((ca, addr))
    }

    /// The directory URL.
    pub fn directory_url(&self) -> String {
        format!("{}/dir", self.base)
    }

    fn fresh_nonce(&self) -> String {
        let n = self.nonce.fetch_add(1, Ordering::Relaxed);
        URL_SAFE_NO_PAD.encode(n.to_be_bytes())
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let body = match Limited::new(req.into_body(), BODY_LIMIT).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return self.problem(StatusCode::BAD_REQUEST, "malformed", "body"),
        };
        let payload = if method == Method::POST {
            match jws_payload(&body) {
                Some(p) => p,
                None => return self.problem(StatusCode::BAD_REQUEST, "malformed", "not a JWS"),
            }
        } else {
            Value::Null
        };
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method.as_str(), parts.as_slice()) {
            ("GET", ["dir"]) => self.json(StatusCode::OK, &self.directory(), None),
            ("HEAD" | "GET", ["nonce"]) => self.reply(StatusCode::OK, "", Bytes::new(), None),
            ("POST", ["acct"]) => self.json(
                StatusCode::CREATED,
                &json!({"status": "valid", "orders": format!("{}/acct/1/orders", self.base)}),
                Some(format!("{}/acct/1", self.base)),
            ),
            ("POST", ["acct", _]) => self.json(StatusCode::OK, &json!({"status": "valid"}), None),
            ("POST", ["order"]) => self.new_order(&payload),
            ("POST", ["order", id]) => self.with_order(id, |id, o| self.order_json(id, o)),
            ("POST", ["authz", id, i]) => self.authz(id, i, false),
            ("POST", ["chall", id, i]) => self.authz(id, i, true),
            ("POST", ["finalize", id]) => self.finalize(id, &payload),
            ("POST", ["cert", id]) => self.certificate(id),
            _ => self.problem(StatusCode::NOT_FOUND, "malformed", "no such resource"),
        }
    }

    fn directory(&self) -> Value {
        let b = &self.base;
        json!({
            "newNonce": format!("{b}/nonce"),
            "newAccount": format!("{b}/acct"),
            "newOrder": format!("{b}/order"),
            "revokeCert": format!("{b}/revoke"),
            "keyChange": format!("{b}/keychange"),
            "meta": {"caaIdentities": ["bench.invalid"]}
        })
    }

    fn new_order(&self, payload: &Value) -> Response<Full<Bytes>> {
        let names: Vec<String> = payload["identifiers"]
            .as_array()
            .map(|ids| {
                ids.iter()
                    .filter_map(|i| i["value"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if names.is_empty() {
            return self.problem(StatusCode::BAD_REQUEST, "malformed", "no identifiers");
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let record = OrderRecord {
            authz_valid: vec![false; names.len()],
            names,
            certificate: None,
        };
        let body = self.order_json(id, &record);
        if let Ok(mut orders) = self.orders.lock() {
            orders.insert(id, record);
        }
        let mut resp = body;
        resp.headers_mut().insert(
            hyper::header::LOCATION,
            hyper::header::HeaderValue::from_str(&format!("{}/order/{id}", self.base))
                .unwrap_or(hyper::header::HeaderValue::from_static("/")),
        );
        *resp.status_mut() = StatusCode::CREATED;
        resp
    }

    fn with_order(
        &self,
        id: &str,
        f: impl FnOnce(u64, &mut OrderRecord) -> Response<Full<Bytes>>,
    ) -> Response<Full<Bytes>> {
        let Ok(id) = id.parse::<u64>() else {
            return self.problem(StatusCode::NOT_FOUND, "malformed", "no such order");
        };
        let Ok(mut orders) = self.orders.lock() else {
            return self.problem(StatusCode::INTERNAL_SERVER_ERROR, "serverInternal", "lock");
        };
        match orders.get_mut(&id) {
            Some(o) => f(id, o),
            None => self.problem(StatusCode::NOT_FOUND, "malformed", "no such order"),
        }
    }

    fn order_json(&self, id: u64, o: &OrderRecord) -> Response<Full<Bytes>> {
        let b = &self.base;
        let status = if o.certificate.is_some() {
            "valid"
        } else if o.authz_valid.iter().all(|v| *v) {
            "ready"
        } else {
            "pending"
        };
        let mut doc = json!({
            "status": status,
            "identifiers": o.names.iter().map(|n| json!({"type": "dns", "value": n})).collect::<Vec<_>>(),
            "authorizations": (0..o.names.len()).map(|i| format!("{b}/authz/{id}/{i}")).collect::<Vec<_>>(),
            "finalize": format!("{b}/finalize/{id}"),
        });
        if o.certificate.is_some() {
            doc["certificate"] = json!(format!("{b}/cert/{id}"));
        }
        self.json(StatusCode::OK, &doc, None)
    }

    /// An authorization (POST-as-GET), or its challenge answered (`answer`): valid at once.
    fn authz(&self, id: &str, index: &str, answer: bool) -> Response<Full<Bytes>> {
        let Ok(i) = index.parse::<usize>() else {
            return self.problem(StatusCode::NOT_FOUND, "malformed", "no such authorization");
        };
        self.with_order(id, |id, o| {
            let Some(name) = o.names.get(i).cloned() else {
                return self.problem(StatusCode::NOT_FOUND, "malformed", "no such authorization");
            };
            if answer && let Some(v) = o.authz_valid.get_mut(i) {
                *v = true;
            }
            let valid = o.authz_valid.get(i).copied().unwrap_or(false);
            let status = if valid { "valid" } else { "pending" };
            let challenge = json!({
                "type": "dns-01",
                "url": format!("{}/chall/{id}/{i}", self.base),
                "status": status,
                "token": URL_SAFE_NO_PAD.encode(format!("token-{id}-{i}")),
            });
            if answer {
                return self.json(StatusCode::OK, &challenge, None);
            }
            let (wildcard, bare) = match name.strip_prefix("*.") {
                Some(b) => (true, b.to_string()),
                None => (false, name.clone()),
            };
            self.json(
                StatusCode::OK,
                &json!({
                    "identifier": {"type": "dns", "value": bare},
                    "status": status,
                    "wildcard": wildcard,
                    "challenges": [challenge],
                }),
                None,
            )
        })
    }

    fn finalize(&self, id: &str, payload: &Value) -> Response<Full<Bytes>> {
        let csr = payload["csr"]
            .as_str()
            .and_then(|c| URL_SAFE_NO_PAD.decode(c).ok());
        let Some(csr) = csr else {
            return self.problem(StatusCode::BAD_REQUEST, "badCSR", "no CSR");
        };
        let pem = match self.sign(&csr) {
            Ok(p) => p,
            Err(e) => return self.problem(StatusCode::BAD_REQUEST, "badCSR", &e),
        };
        self.with_order(id, |id, o| {
            if !o.authz_valid.iter().all(|v| *v) {
                return self.problem(StatusCode::FORBIDDEN, "orderNotReady", "not ready");
            }
            o.certificate = Some(pem);
            self.order_json(id, o)
        })
    }

    /// A certificate for the CSR's key and names, valid for 90 days, and the issuer.
    fn sign(&self, csr_der: &[u8]) -> Result<String, String> {
        let der = rustls::pki_types::CertificateSigningRequestDer::from(csr_der);
        let mut csr = CertificateSigningRequestParams::from_der(&der).map_err(|e| e.to_string())?;
        let now = time::OffsetDateTime::now_utc();
        csr.params.not_before = now - time::Duration::hours(1);
        csr.params.not_after = now + time::Duration::days(90);
        csr.params.distinguished_name = DistinguishedName::new();
        let serial = self.nonce.fetch_add(1, Ordering::Relaxed);
        csr.params.serial_number = Some(serial.into());
        let leaf = csr
            .signed_by(&self.identity.issuer)
            .map_err(|e| e.to_string())?;
        Ok(format!("{}{}", leaf.pem(), self.identity.ca_pem))
    }

    fn certificate(&self, id: &str) -> Response<Full<Bytes>> {
        self.with_order(id, |_, o| match &o.certificate {
            Some(pem) => self.reply(
                StatusCode::OK,
                "application/pem-certificate-chain",
                Bytes::from(pem.clone()),
                None,
            ),
            None => self.problem(StatusCode::NOT_FOUND, "malformed", "not issued"),
        })
    }

    fn json(
        &self,
        status: StatusCode,
        doc: &Value,
        location: Option<String>,
    ) -> Response<Full<Bytes>> {
        self.reply(
            status,
            "application/json",
            Bytes::from(doc.to_string()),
            location,
        )
    }

    fn problem(&self, status: StatusCode, kind: &str, detail: &str) -> Response<Full<Bytes>> {
        let doc = json!({
            "type": format!("urn:ietf:params:acme:error:{kind}"),
            "detail": detail,
            "status": status.as_u16(),
        });
        self.reply(
            status,
            "application/problem+json",
            Bytes::from(doc.to_string()),
            None,
        )
    }

    fn reply(
        &self,
        status: StatusCode,
        content_type: &str,
        body: Bytes,
        location: Option<String>,
    ) -> Response<Full<Bytes>> {
        let mut b = Response::builder()
            .status(status)
            .header("replay-nonce", self.fresh_nonce())
            .header("cache-control", "no-store");
        if !content_type.is_empty() {
            b = b.header("content-type", content_type);
        }
        if let Some(l) = location {
            b = b.header("location", l);
        }
        b.body(Full::new(body))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
    }
}

/// The JSON payload of a flattened JWS (`{}` for POST-as-GET's empty payload).
fn jws_payload(body: &[u8]) -> Option<Value> {
    let jws: Value = serde_json::from_slice(body).ok()?;
    let payload = jws["payload"].as_str()?;
    if payload.is_empty() {
        return Some(Value::Null);
    }
    let raw = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&raw).ok()
}
