//! Provider secrets at rest: sealed with the server's key (XChaCha20-Poly1305, a fresh random nonce
//! per secret, the shop and the field bound in as associated data so a sealed value copied into
//! another shop or field does not open). The key comes from `VERGEFLOW_SECRET_KEY` (64 hex digits)
//! or from `<data>/secret.key`, made (mode 0600) on first start. Backups of shop files and main.db
//! hold only sealed values; the key file must be backed up on its own.

use std::path::Path;

use anyhow::Context as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// The server's key for provider secrets.
#[derive(Clone)]
pub struct SecretKey(XChaCha20Poly1305, [u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

const FILE: &str = "secret.key";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

impl SecretKey {
    fn from_hex(raw: &str) -> anyhow::Result<Self> {
        let bytes = unhex(raw.trim()).filter(|b| b.len() == 32).context("must be 64 hex digits (32 bytes)")?;
        Ok(Self::from_bytes(bytes.try_into().expect("32 bytes")))
    }

    /// The key from `VERGEFLOW_SECRET_KEY`, else `<data>/secret.key`, made on first use.
    pub fn load(data_dir: &Path, from_env: Option<&str>) -> anyhow::Result<Self> {
        if let Some(raw) = from_env.filter(|r| !r.trim().is_empty()) {
            return Self::from_hex(raw).context("VERGEFLOW_SECRET_KEY");
        }
        let path = data_dir.join(FILE);
        match std::fs::read_to_string(&path) {
            Ok(raw) => Self::from_hex(&raw).with_context(|| format!("{}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                rand::fill(&mut bytes);
                let tmp = data_dir.join(format!("{FILE}.new"));
                {
                    use std::io::Write as _;
                    use std::os::unix::fs::OpenOptionsExt as _;
                    let mut f =
                        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
                    f.write_all(hex(&bytes).as_bytes())?;
                    f.sync_all()?;
                }
                // Never replaces a key another process made meanwhile: link fails if it exists.
                match std::fs::hard_link(&tmp, &path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
                }
                let _ = std::fs::remove_file(&tmp);
                crate::tenancy::files::sync_dir(data_dir)?;
                tracing::info!(path = %path.display(), "made the key that seals payment provider secrets; back it up");
                Self::from_hex(&std::fs::read_to_string(&path)?)
            }
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(XChaCha20Poly1305::new_from_slice(&bytes).expect("32 bytes"), bytes)
    }

    /// A key for tests and the bench.
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        Self::from_bytes(bytes)
    }

    /// A signature of `message` (HMAC-SHA256 under a key derived from this one), hex: for links
    /// that must not be guessable, such as a guest's order link.
    pub fn sign(&self, message: &str) -> String {
        hex(&hmac::Mac::finalize(self.mac(message)).into_bytes())
    }

    /// Whether `signature` is [`sign`](Self::sign)'s for `message`, compared in constant time.
    pub fn verify(&self, message: &str, signature: &str) -> bool {
        unhex(signature).is_some_and(|sig| hmac::Mac::verify_slice(self.mac(message), &sig).is_ok())
    }

    fn mac(&self, message: &str) -> hmac::Hmac<sha2::Sha256> {
        let mut mac =
            <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&self.1).expect("HMAC takes any key length");
        hmac::Mac::update(&mut mac, b"vergeflow-link-v1:");
        hmac::Mac::update(&mut mac, message.as_bytes());
        mac
    }

    /// Seals `secret` for `context` (e.g. `client:7:stripe:secret_key`): `v1:<nonce>:<ciphertext>`, hex.
    pub fn seal(&self, context: &str, secret: &str) -> String {
        let mut nonce = [0u8; 24];
        rand::fill(&mut nonce);
        let sealed = self
            .0
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: secret.as_bytes(), aad: context.as_bytes() })
            .expect("XChaCha20-Poly1305 encryption does not fail");
        format!("v1:{}:{}", hex(&nonce), hex(&sealed))
    }

    /// Opens what [`seal`](Self::seal) made for the same context; an error for anything else.
    pub fn open(&self, context: &str, sealed: &str) -> anyhow::Result<String> {
        let mut parts = sealed.splitn(3, ':');
        let (Some("v1"), Some(nonce), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            anyhow::bail!("not a sealed secret");
        };
        let nonce = unhex(nonce).filter(|n| n.len() == 24).context("bad nonce")?;
        let body = unhex(body).context("bad ciphertext")?;
        let plain =
            self.0.decrypt(XNonce::from_slice(&nonce), Payload { msg: &body, aad: context.as_bytes() }).map_err(
                |_| anyhow::anyhow!("the secret does not open with this server's key (another server's, or altered)"),
            )?;
        String::from_utf8(plain).context("not UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_context() {
        let key = SecretKey::random();
        let sealed = key.seal("client:1:stripe:secret_key", "sk_test_123");
        assert!(!sealed.contains("sk_test"));
        assert_ne!(sealed, key.seal("client:1:stripe:secret_key", "sk_test_123"), "fresh nonce each time");
        assert_eq!(key.open("client:1:stripe:secret_key", &sealed).unwrap(), "sk_test_123");
        assert!(key.open("client:2:stripe:secret_key", &sealed).is_err(), "another shop");
        assert!(key.open("client:1:stripe:webhook_secret", &sealed).is_err(), "another field");
        assert!(SecretKey::random().open("client:1:stripe:secret_key", &sealed).is_err(), "another key");
        let mut altered = sealed.clone();
        altered.pop();
        altered.push(if sealed.ends_with('0') { '1' } else { '0' });
        assert!(key.open("client:1:stripe:secret_key", &altered).is_err());

        let dir = tempfile::tempdir().unwrap();
        let made = SecretKey::load(dir.path(), None).unwrap();
        let again = SecretKey::load(dir.path(), None).unwrap();
        assert_eq!(again.open("c", &made.seal("c", "x")).unwrap(), "x", "the file's key is kept");
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(dir.path().join(FILE)).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(SecretKey::load(dir.path(), Some("abc")).is_err());
    }
}
