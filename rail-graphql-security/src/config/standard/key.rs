//! A 32-byte key given in standard base64: the format of `mfa.encryption_key`.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::{RngCore, TryRngCore};
use toml_edit::Value;
use zeroize::Zeroizing;

use crate::config::codegen::{GenerateSecret, IsSecret};
use crate::config::{ConfigValue, REDACTED, Secret};
#[cfg(feature = "mfa")]
use crate::mfa::{EncryptionKey, MfaError};

/// 32 random bytes in standard base64 (44 characters, e.g. from `openssl rand -base64 32`).
/// Only a value that decodes to exactly 32 bytes is accepted, so the config loader refuses
/// what [`EncryptionKey`] would refuse, naming the encoding, never quoting the value. Printed
/// as `[REDACTED]`.
///
/// ```
/// use rail_graphql_security::config::standard::Base64Key;
///
/// let key = Base64Key::new("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
/// assert_eq!(format!("{key:?}"), "Base64Key([REDACTED])");
/// assert!(Base64Key::new("not base64 at all!").is_none());
/// assert!(Base64Key::new("c2hvcnQ=").is_none()); // 5 bytes
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Base64Key(Secret);

/// What the loader says it expects.
const EXPECTED: &str = "32 bytes in standard base64 (44 characters; generate one with `openssl rand -base64 32`)";

impl Base64Key {
    /// The key, if `encoded` is standard base64 of exactly 32 bytes.
    pub fn new(encoded: &str) -> Option<Self> {
        let bytes = Zeroizing::new(STANDARD.decode(encoded.trim()).ok()?);
        (bytes.len() == 32).then(|| Base64Key(Secret::new(encoded.trim())))
    }

    /// A fresh random key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.unwrap_err().fill_bytes(bytes.as_mut());
        Base64Key(Secret::new(STANDARD.encode(bytes.as_ref())))
    }

    /// The base64 text; keep it out of logs.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The decoded bytes.
    pub fn bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(STANDARD.decode(self.expose()).unwrap_or_default())
    }

    /// The AES-256-GCM key for MFA secrets at rest, under its [`key_id`](Self::key_id).
    #[cfg(feature = "mfa")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mfa")))]
    pub fn encryption_key(&self) -> Result<EncryptionKey, MfaError> {
        EncryptionKey::from_base64(self.key_id(), self.expose())
    }

    /// The id stored next to what this key encrypts: `k-` and 16 hex digits of a SHA-256 of
    /// the key (a one-way function: it reveals nothing usable about the key), so a rotated
    /// key gets a new id by itself and old secrets name the key they need.
    pub fn key_id(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(b"rail-graphql-security mfa key id\0")
            .chain_update(self.bytes().as_slice())
            .finalize();
        format!("k-{}", hex::encode(&digest[..8]))
    }
}

impl fmt::Debug for Base64Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Base64Key({REDACTED})")
    }
}

impl serde::Serialize for Base64Key {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl ConfigValue for Base64Key {
    const SECRET: bool = true;
    fn expected() -> String {
        EXPECTED.to_owned()
    }
    fn from_toml(value: &Value) -> Option<Self> {
        value.as_str().and_then(Base64Key::new)
    }
    fn from_env(text: &str) -> Option<Self> {
        Base64Key::new(text)
    }
    fn to_toml(&self) -> Option<Value> {
        Some(Value::from(self.expose()))
    }
    fn to_json_redacted(&self) -> serde_json::Value {
        serde_json::Value::String(REDACTED.to_owned())
    }
}

impl IsSecret for Base64Key {}

impl GenerateSecret for Option<Base64Key> {
    fn generate(&mut self) {
        *self = Some(Base64Key::generate());
    }
}
