use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use zeroize::Zeroizing;

use super::error::MfaError;

const NONCE_LEN: usize = 12;

/// A 256-bit AES-GCM key with the id stored next to what it encrypts.
///
/// ```
/// use rail_graphql_security::mfa::EncryptionKey;
/// let key = EncryptionKey::from_base64("2026-11", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")?;
/// assert_eq!(key.id(), "2026-11");
/// assert!(!format!("{key:?}").contains("AAECAw"));
/// # Ok::<(), rail_graphql_security::mfa::MfaError>(())
/// ```
pub struct EncryptionKey {
    id: String,
    key: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey").field("id", &self.id).field("key", &"[redacted]").finish()
    }
}

impl EncryptionKey {
    /// A key from raw bytes. `id` is 1 to 64 printable ASCII characters.
    pub fn new(id: impl Into<String>, key: [u8; 32]) -> Result<Self, MfaError> {
        let id = id.into();
        if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(MfaError::Config(
                "an encryption key id must be 1 to 64 printable ASCII characters without spaces".to_owned(),
            ));
        }
        Ok(EncryptionKey { id, key: Zeroizing::new(key) })
    }

    /// A key from its standard base64 form (e.g. an environment variable): 32 bytes.
    pub fn from_base64(id: impl Into<String>, encoded: &str) -> Result<Self, MfaError> {
        let bytes = Zeroizing::new(STANDARD.decode(encoded.trim()).map_err(|_| {
            MfaError::Config(
                "the MFA encryption key is not valid base64; generate one with `openssl rand -base64 32`".to_owned(),
            )
        })?);
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            MfaError::Config(format!(
                "the MFA encryption key must be 32 bytes (it has {}); generate one with `openssl rand -base64 32`",
                bytes.len()
            ))
        })?;
        Self::new(id, key)
    }

    /// A fresh random key (from the OS CSPRNG).
    pub fn generate(id: impl Into<String>) -> Result<Self, MfaError> {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(key.as_mut());
        Self::new(id, *key)
    }

    /// The key id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(self.key.as_ref()))
    }
}

/// Encrypts MFA secrets at rest: AES-256-GCM under the current key, with older keys kept for
/// decryption until [`MfaManager::reencrypt_secrets`](super::MfaManager::reencrypt_secrets)
/// has moved every secret to the current key.
#[derive(Debug)]
pub struct SecretCipher {
    current: EncryptionKey,
    previous: Vec<EncryptionKey>,
}

/// A secret as stored: which key, and base64 of nonce ‖ ciphertext ‖ tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sealed {
    pub(crate) key_id: String,
    pub(crate) blob: String,
}

impl SecretCipher {
    /// Encrypts with `current`.
    pub fn new(current: EncryptionKey) -> Self {
        SecretCipher { current, previous: Vec::new() }
    }

    /// Also decrypts secrets stored under `key` (rotation).
    pub fn with_previous_key(mut self, key: EncryptionKey) -> Self {
        self.previous.push(key);
        self
    }

    /// The id of the key new secrets are encrypted with.
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    pub(crate) fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Sealed {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .current
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .expect("AES-GCM encryption cannot fail for inputs under 64 GiB");
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Sealed { key_id: self.current.id.clone(), blob: STANDARD.encode(out) }
    }

    pub(crate) fn open(&self, key_id: &str, blob: &str, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, MfaError> {
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == key_id)
            .ok_or_else(|| MfaError::UnknownKey { key_id: key_id.to_owned() })?;
        let bytes = STANDARD.decode(blob).map_err(|_| MfaError::Tampered)?;
        if bytes.len() < NONCE_LEN + 16 {
            return Err(MfaError::Tampered);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        key.cipher()
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad })
            .map(Zeroizing::new)
            .map_err(|_| MfaError::Tampered)
    }
}

impl SecretCipher {
    /// A keyed hash (HMAC-SHA256 under a sub-key of the key `key_id`, default the current one)
    /// for short-lived codes: a database reader cannot brute-force a 6-digit code from it.
    /// Returns the key id used and the hex MAC.
    pub(crate) fn code_mac(&self, key_id: Option<&str>, data: &[u8]) -> Result<(String, String), MfaError> {
        use hmac::{Hmac, Mac};
        type HmacSha256 = Hmac<sha2::Sha256>;
        let key = match key_id {
            None => &self.current,
            Some(id) => std::iter::once(&self.current)
                .chain(&self.previous)
                .find(|k| k.id == id)
                .ok_or_else(|| MfaError::UnknownKey { key_id: id.to_owned() })?,
        };
        let mut sub = <HmacSha256 as Mac>::new_from_slice(key.key.as_ref()).expect("HMAC takes any key length");
        sub.update(b"rail-graphql-security/mfa/sms-code/v1");
        let sub_key = Zeroizing::new(sub.finalize().into_bytes().to_vec());
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&sub_key).expect("HMAC takes any key length");
        mac.update(data);
        Ok((key.id.clone(), hex::encode(mac.finalize().into_bytes())))
    }
}

/// The associated data binding a secret to its user and device: a row copied to another user
/// or device no longer decrypts.
pub(crate) fn associated_data(kind: &str, user_key: &str, device_id: &uuid::Uuid) -> Vec<u8> {
    format!("rail-graphql-security/mfa/v1\0{kind}\0{user_key}\0{device_id}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_binds_associated_data_and_rotates() {
        let old = SecretCipher::new(EncryptionKey::new("k1", [7; 32]).unwrap());
        let sealed = old.seal(b"secret", b"alice/dev1");
        assert_eq!(old.open("k1", &sealed.blob, b"alice/dev1").unwrap().as_slice(), b"secret");
        assert!(matches!(old.open("k1", &sealed.blob, b"bob/dev1"), Err(MfaError::Tampered)));
        let new = SecretCipher::new(EncryptionKey::new("k2", [9; 32]).unwrap());
        assert!(matches!(new.open("k1", &sealed.blob, b"alice/dev1"), Err(MfaError::UnknownKey { .. })));
        let rotated = new.with_previous_key(EncryptionKey::new("k1", [7; 32]).unwrap());
        assert_eq!(rotated.open("k1", &sealed.blob, b"alice/dev1").unwrap().as_slice(), b"secret");
        let mut raw = STANDARD.decode(&sealed.blob).unwrap();
        raw[NONCE_LEN] ^= 1;
        assert!(matches!(old.open("k1", &STANDARD.encode(raw), b"alice/dev1"), Err(MfaError::Tampered)));
    }
}
