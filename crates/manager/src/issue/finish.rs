//! Stage 4: finalize with a fresh key, download the chain (the preferred one if asked), verify
//! it against our key and names, and store it atomically with its metadata.

use std::time::Instant;

use tracing::info;
use wildcert_acme::{Account, CertKey, OrderStatus};

use super::solve::Solved;
use crate::error::IssueError;
use crate::model::{CA_WAIT, Issued, ms};
use crate::store::{CertFiles, CertMeta, Storage, StorageExt, Store, cert_key};
use crate::verify;

/// The certificate key of an order being finalized (`certs/<name>/pending-key.pem`, 0600),
/// removed once the certificate is stored.
pub(crate) const PENDING_KEY: &str = crate::store::PENDING_KEY;

/// Finalize, download, verify, store.
pub(crate) async fn finish(
    store: &Store,
    account: &Account,
    solved: Solved,
    started: Instant,
) -> Result<Issued, IssueError> {
    let mut a = solved.0;
    let t = Instant::now();
    let deadline = wildcert_acme::Instant::now() + CA_WAIT;
    let order = account.wait_order_ready(&a.order.url, deadline).await?;
    let pending_key = cert_key(&a.cert_name, PENDING_KEY)?;
    let (key, order) = match order.status() {
        // Finalized by a run that was killed before it stored the certificate: the CA issued
        // (or is issuing) for the key that run journaled; fetch it instead of ordering anew.
        OrderStatus::Processing | OrderStatus::Valid => {
            let pem = store.load_string(&pending_key)?.ok_or_else(|| {
                IssueError::Order(format!(
                    "order {} was finalized by an interrupted run whose key is not journaled",
                    order.url
                ))
            })?;
            let key = CertKey::from_pem(&pem)?;
            info!(cert = %a.cert_name, order = %order.url, "fetching the certificate an interrupted run had the CA issue");
            let order = account.wait_order_valid(&order.url, deadline).await?;
            (key, order)
        }
        _ => {
            let key = match a
                .req
                .reuse_key
                .then(|| reusable_key(store, &a.cert_name, a.req.key_type))
            {
                Some(Some(k)) => k,
                _ => CertKey::generate(a.req.key_type)?,
            };
            // Journaled before the CA sees it: a run killed after finalize lets the next one
            // fetch this order's certificate (never a duplicate issuance).
            let (path, pem) = (pending_key.clone(), key.to_pem());
            let ((), lock) =
                super::on_store(store, a._lock, move |s| s.save(&path, pem.as_bytes(), true))
                    .await?;
            a._lock = lock;
            let order = account.finalize_and_wait(&order, &key, deadline).await?;
            (key, order)
        }
    };
    // A preferred chain the CA does not offer: the library logs the one warning naming the
    // chains offered.
    let (chain, _chain_warning) = account
        .download_certificate_checked(&order, a.req.preferred_chain.as_deref())
        .await?;
    a.timings.finalize = ms(t);

    // Check before it may replace live/.
    let info = verify::verify(&chain.fullchain_pem(), key.public_key_raw(), &a.names)?;
    let files = CertFiles {
        cert: info.leaf_pem.clone(),
        chain: info.chain_pem.clone(),
        privkey: key.to_pem(),
    };
    let ari = wildcert_acme::CertId::from_pem(&info.leaf_pem)
        .ok()
        .map(|c| c.as_str().to_string());
    let now = time::OffsetDateTime::now_utc();
    let mut meta = CertMeta {
        names: a.names.clone(),
        key_type: a.req.key_type.as_str().to_string(),
        provider: a.provider.id.clone(),
        version: None,
        order_url: Some(order.url.clone()),
        ari_cert_id: ari,
        issued_at: Some(verify::rfc3339(now)),
        not_before: Some(verify::rfc3339(info.not_before)),
        not_after: Some(verify::rfc3339(info.not_after)),
        server: Some(account.client().directory_url().to_string()),
        // With ARI, the next `renew` asks the CA for its window (RFC 9773).
        challenge: (!a.methods.is_empty()).then(|| {
            a.methods
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(",")
        }),
        profile: order.profile().or(a.order.profile()).map(str::to_string),
        request: a.req.recorded.clone(),
        config: a.req.config_file.clone(),
        last_failure_at: a.last_failure_at.take(),
        ari_next_check: account
            .client()
            .directory()
            .renewal_info
            .is_some()
            .then(|| verify::rfc3339(now)),
        ..Default::default()
    };
    // The version's own meta.json is written inside archive/<n> before live flips; the
    // top-level one follows (a crash in between is reconciled by the store's reader).
    let (name, perms) = (a.cert_name.clone(), a.req.key_perms);
    // The lock goes with the writes, and is held until the certificate is reported.
    let (version, _lock) = super::on_store(store, a._lock, move |store| {
        let version = store.install(&name, &files, &meta, &perms)?;
        meta.version = Some(version);
        // `live` points at the new version now, and its own meta.json (in archive/<n>) is
        // complete: the certificate is stored. A failure to rewrite the top-level copy (a full
        // disk) must not report it as lost and skip its hooks; the store's reader reconciles
        // meta.json from the live version, and the next writer repairs it.
        if let Err(e) = store.write_meta(&name, &meta) {
            tracing::warn!(cert = %name, version, "the certificate is stored and live, but meta.json could not be rewritten ({e}); the next run repairs it");
        }
        // Stored: the journaled key is in archive/<n>/privkey.pem now.
        if let Err(e) = store.delete(&pending_key) {
            tracing::warn!(cert = %name, "cannot remove {}: {e}", pending_key);
        }
        Ok(version)
    })
    .await?;
    a.timings.total = ms(started);
    info!(cert = %a.cert_name, version, ms = a.timings.total, "certificate stored");
    Ok(Issued {
        cert_name: a.cert_name.clone(),
        version,
        live_dir: store.live_dir(&a.cert_name)?,
        names: a.names,
        key_type: a.req.key_type.as_str().to_string(),
        not_before: verify::rfc3339(info.not_before),
        not_after: verify::rfc3339(info.not_after),
        issuer: info.issuer_cn,
        serial: info.serial_hex,
        order_url: order.url,
        timings_ms: a.timings,
        zones: a.zones,
        acme_requests: account.client().requests_sent(),
        dns_queries: a.dns_queries,
    })
}

/// The live version's key, for `reuse_key`, when it exists, parses and has the requested type;
/// otherwise `None` (a new key), saying why.
fn reusable_key(
    store: &Store,
    name: &str,
    key_type: wildcert_acme::CertKeyType,
) -> Option<CertKey> {
    let pem = match store.read_live_file(name, "privkey.pem") {
        Ok(Some(p)) => p,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(cert = %name, "reuse_key: cannot read the live key ({e}); a new key is made");
            return None;
        }
    };
    match CertKey::from_pem(&pem) {
        Ok(k) if k.key_type() == key_type => {
            info!(cert = %name, "reuse_key: the live key is kept");
            Some(k)
        }
        Ok(k) => {
            info!(cert = %name, "reuse_key: the key type changes from {} to {}: a new key is made", k.key_type().as_str(), key_type.as_str());
            None
        }
        Err(e) => {
            tracing::warn!(cert = %name, "reuse_key: the live key does not parse ({e}); a new key is made");
            None
        }
    }
}
