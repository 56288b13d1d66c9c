//! Values sealed at rest: AES-256-GCM (ring) under a data key kept in a file, never in the database.
//!
//! A sealed value is `b"wc1"` ‖ key id (8 bytes: the start of SHA-256 of the data key) ‖ nonce
//! (12 random bytes, fresh per write) ‖ ciphertext ‖ tag, with the object key as associated
//! data: a value copied to another object key does not open.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use super::PgStoreError;

const MAGIC: &[u8; 3] = b"wc1";
const ID_LEN: usize = 8;
const HEADER: usize = MAGIC.len() + ID_LEN + NONCE_LEN;

/// True when an object key names a private key (`…key.pem`): the store always seals those.
pub fn is_private_key(key: &str) -> bool {
    key.ends_with("key.pem")
}

/// The data key: 32 bytes for AES-256-GCM. Its `Debug` shows only its id.
pub struct DataKey {
    key: LessSafeKey,
    id: [u8; ID_LEN],
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKey({})", self.id())
    }
}

impl DataKey {
    /// A data key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<DataKey, PgStoreError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| PgStoreError::Crypto("AES-256-GCM key"))?;
        let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&digest.as_ref()[..ID_LEN]);
        Ok(DataKey {
            key: LessSafeKey::new(unbound),
            id,
        })
    }

    /// A new random data key, with its file text (base64 on one line).
    pub fn generate() -> Result<(DataKey, String), PgStoreError> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| PgStoreError::Crypto("system RNG"))?;
        let text = format!(
            "{}\n",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        );
        Ok((DataKey::from_bytes(&bytes)?, text))
    }

    /// Reads the key file, creating it (mode 0600, atomically, never replacing one that
    /// appears meanwhile) when it is missing.
    pub fn load_or_create(path: &Path) -> Result<DataKey, PgStoreError> {
        if std::fs::symlink_metadata(path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
        {
            let (_, text) = DataKey::generate()?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
            let io = |e: std::io::Error| {
                key_file_err(
                    path,
                    format!("cannot be created: {e}"),
                    "check that its directory exists and is writable",
                )
            };
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(io)?;
            let linked = f
                .write_all(text.as_bytes())
                .and_then(|_| f.sync_all())
                .and_then(|_| std::fs::hard_link(&tmp, path));
            let _ = std::fs::remove_file(&tmp);
            match linked {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(io(e)),
                _ => {} // created, or another process created it first: use the file's key
            }
        }
        DataKey::load(path)
    }

    /// Reads the key file a consumer was given: never created here; a missing file says to
    /// copy the bastions' (a new key could open nothing they sealed).
    pub fn load_given(path: &Path) -> Result<DataKey, PgStoreError> {
        if std::fs::symlink_metadata(path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
        {
            return Err(key_file_err(
                path,
                "is missing ([store] key_file): a host that only reads never creates one".into(),
                "copy the data key file from a bastion (mode 0600) and point [store] key_file at it",
            ));
        }
        DataKey::load(path)
    }

    /// Reads the key file; refused when group or others have access or it is malformed.
    pub fn load(path: &Path) -> Result<DataKey, PgStoreError> {
        let shown = path.display();
        let meta = std::fs::metadata(path).map_err(|e| {
            key_file_err(
                path,
                format!("cannot be read: {e}"),
                "copy the data key file from another host, or point [store] key_file at it",
            )
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(key_file_err(
                path,
                format!("is open to group or others (mode {mode:04o})"),
                &format!("run: chmod 600 {shown}"),
            ));
        }
        let malformed = || {
            key_file_err(
                path,
                "is not 32 bytes in base64 on one line".into(),
                "restore it from another host's copy (a new key cannot open what the old one sealed)",
            )
        };
        let text = std::fs::read_to_string(path).map_err(|_| malformed())?;
        let line = text.trim_end_matches(['\n', '\r']);
        if line.contains(['\n', '\r']) {
            return Err(malformed());
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(line.trim())
            .map_err(|_| malformed())?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| malformed())?;
        DataKey::from_bytes(&bytes)
    }

    /// The key id (16 hex digits): which data key sealed a value.
    pub fn id(&self) -> String {
        hex(&self.id)
    }

    /// Seals `plain` for object key `key`.
    pub fn seal(&self, key: &str, plain: &[u8]) -> Result<Vec<u8>, PgStoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| PgStoreError::Crypto("system RNG"))?;
        let mut out = Vec::with_capacity(HEADER + plain.len() + AES_256_GCM.tag_len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.id);
        out.extend_from_slice(&nonce);
        let mut body = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(key.as_bytes()),
                &mut body,
            )
            .map_err(|_| PgStoreError::Crypto("AES-256-GCM seal"))?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens a value sealed for object key `key`.
    pub fn open(&self, key: &str, sealed: &[u8]) -> Result<Vec<u8>, PgStoreError> {
        let unseal = |why| PgStoreError::Unseal {
            key: key.to_owned(),
            why,
        };
        if sealed.len() < HEADER + AES_256_GCM.tag_len() || &sealed[..MAGIC.len()] != MAGIC {
            return Err(unseal("not a sealed value of a known format"));
        }
        let id = &sealed[MAGIC.len()..MAGIC.len() + ID_LEN];
        if id != self.id {
            return Err(PgStoreError::WrongDataKey {
                key: key.to_owned(),
                sealed_by: hex(id),
                have: self.id(),
            });
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[MAGIC.len() + ID_LEN..HEADER]);
        let mut body = sealed[HEADER..].to_vec();
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(key.as_bytes()),
                &mut body,
            )
            .map_err(|_| unseal("authentication failed (altered, or stored under another key)"))?;
        Ok(plain.to_vec())
    }
}

fn key_file_err(path: &Path, problem: String, fix: &str) -> PgStoreError {
    PgStoreError::KeyFile {
        path: PathBuf::from(path),
        problem,
        fix: fix.to_owned(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn seal_opens_only_under_its_key_and_name() {
        let (k, _) = DataKey::generate().unwrap();
        let (other, _) = DataKey::generate().unwrap();
        let sealed = k.seal("certs/a/privkey.pem", b"secret").unwrap();
        assert_eq!(k.open("certs/a/privkey.pem", &sealed).unwrap(), b"secret");
        assert!(matches!(
            k.open("certs/b/privkey.pem", &sealed),
            Err(PgStoreError::Unseal { .. })
        ));
        assert!(matches!(
            other.open("certs/a/privkey.pem", &sealed),
            Err(PgStoreError::WrongDataKey { .. })
        ));
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(matches!(
            k.open("certs/a/privkey.pem", &bad),
            Err(PgStoreError::Unseal { .. })
        ));
        assert_ne!(
            sealed,
            k.seal("certs/a/privkey.pem", b"secret").unwrap(),
            "fresh nonce per seal"
        );
    }

    #[test]
    fn key_file_created_0600_then_refused_when_open_or_malformed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.key");
        let first = DataKey::load_or_create(&path).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            DataKey::load_or_create(&path).unwrap().id(),
            first.id(),
            "never replaced"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = DataKey::load(&path).unwrap_err();
        assert!(e.hint().contains("chmod 600"), "{e}: {}", e.hint());
        std::fs::write(&path, "c2VjcmV0LXNob3J0\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let e = DataKey::load(&path).unwrap_err().to_string();
        assert!(e.contains("not 32 bytes") && !e.contains("c2VjcmV0"), "{e}");
        assert!(format!("{first:?}").starts_with("DataKey(") && format!("{first:?}").len() < 30);
    }
}
