//! Secret config values: kept in a zeroizing box and never printed.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// What a secret prints as in `Debug`, `Display`, JSON output and logs.
pub const REDACTED: &str = "[REDACTED]";

/// A secret config value (keys, tokens, credentials). `Debug`, `Display` and `Serialize` print
/// `[REDACTED]`; the value is zeroized on drop and only reachable through [`Secret::expose`].
///
/// ```
/// use rail_graphql_security::config::Secret;
///
/// let key = Secret::new("hunter2");
/// assert_eq!(format!("{key:?} {key}"), "Secret([REDACTED]) [REDACTED]");
/// assert_eq!(serde_json::to_string(&key).unwrap(), "\"[REDACTED]\"");
/// assert_eq!(key.expose(), "hunter2");
/// ```
#[derive(Clone, Default)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(SecretString::from(value.into()))
    }

    /// The value itself; keep it out of logs.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }

    /// A fresh random value of `len` characters from `[A-Za-z0-9]` (about 5.95 bits each), from
    /// the operating system's CSPRNG.
    pub fn generate(len: usize) -> Self {
        use rand::distr::Alphanumeric;
        use rand::{Rng, TryRngCore};
        let value: String =
            rand::rngs::OsRng.unwrap_err().sample_iter(&Alphanumeric).take(len).map(char::from).collect();
        Secret::new(value)
    }
}

impl PartialEq for Secret {
    /// Constant-time with respect to the contents (lengths may leak).
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.expose().as_bytes(), other.expose().as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}
