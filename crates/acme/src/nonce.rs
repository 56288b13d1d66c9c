//! Anti-replay nonces (RFC 8555 §6.5): a small shared pool fed by every response.

use std::collections::VecDeque;
use std::sync::Mutex;

/// A `Replay-Nonce` value; consumed by signing one request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Nonce(String);

impl Nonce {
    /// Wrap a header value, refusing anything that is not base64url (RFC 8555 §6.5.1).
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= 512
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Nonce(s.to_owned()))
    }

    /// The nonce text, consuming it.
    pub(crate) fn into_string(self) -> String {
        self.0
    }
}

/// Nonces received but not used yet; many requests in flight share one pool.
#[derive(Debug, Default)]
pub(crate) struct NoncePool {
    nonces: Mutex<VecDeque<Nonce>>,
}

/// Keep at most this many: nonces expire on the server, so hoarding does not help.
const POOL_CAP: usize = 32;

impl NoncePool {
    /// Take the most recent nonce, if any.
    pub(crate) fn take(&self) -> Option<Nonce> {
        self.nonces.lock().ok()?.pop_back()
    }

    /// Store a nonce for a later request, dropping the oldest beyond the cap.
    pub(crate) fn put(&self, nonce: Nonce) {
        if let Ok(mut q) = self.nonces.lock() {
            q.push_back(nonce);
            while q.len() > POOL_CAP {
                q.pop_front();
            }
        }
    }

    /// How many nonces are stored.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.nonces.lock().map(|q| q.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_is_lifo_and_bounded() {
        let pool = NoncePool::default();
        assert!(pool.take().is_none());
        for i in 0..40 {
            pool.put(Nonce::parse(&format!("n{i}")).expect("valid"));
        }
        assert_eq!(pool.len(), POOL_CAP);
        assert_eq!(pool.take().map(Nonce::into_string).as_deref(), Some("n39"));
    }

    #[test]
    fn rejects_bad_nonces() {
        assert!(Nonce::parse("").is_none());
        assert!(Nonce::parse("a b").is_none());
        assert!(Nonce::parse("abc+/=").is_none());
        assert!(Nonce::parse("Ab-_09").is_some());
    }
}
