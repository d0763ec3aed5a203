//! What can stop a config from becoming a running stack.

use crate::audit::AuditConfigError;
use crate::auth::TokenError;
use crate::client_ip::InvalidProxy;
use crate::mfa::MfaError;
use crate::rate_limit::RateLimitError;

/// Why the config cannot become a running stack. Every message names the key to fix and never
/// quotes a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StackError {
    /// The audit section cannot make a logger.
    #[error("audit: {0}")]
    Audit(#[from] AuditConfigError),
    /// No token signing key.
    #[error("deployment.secret_key is not set: set it to 50+ random characters (`openssl rand -base64 48`)")]
    MissingSecretKey,
    /// In production, a secret looks low-entropy (repeated, sequential or patterned material).
    #[error("{key} is refused in production: it {weakness}")]
    WeakSecret {
        /// The config key.
        key: &'static str,
        /// Why (never the value), with how to generate a good one.
        weakness: crate::config::WeakSecret,
    },
    /// The token signing key is unusable.
    #[error("deployment.secret_key: {0}")]
    SecretKey(TokenError),
    /// MFA is enabled (or a manager was asked for) without an encryption key.
    #[error("mfa.encryption_key is not set: set it to 32 random bytes in standard base64 (`openssl rand -base64 32`)")]
    MissingEncryptionKey,
    /// The MFA settings or the SMS provider are refused by the MFA runtime.
    #[error("mfa: {0}")]
    Mfa(#[from] MfaError),
    /// `mfa.enabled` is set but the MFA runtime is not compiled in.
    #[error(
        "mfa.enabled is set but rail-graphql-security was built without its `mfa` feature: enable it or set mfa.enabled = false"
    )]
    MfaNotCompiled,
    /// The SMS provider settings are incomplete or contradict the builder.
    #[error("mfa.sms: {0}")]
    Sms(String),
    /// `store_url` is set but Redis support is not compiled in.
    #[error(
        "middleware.rate_limiting.store_url is set but rail-graphql-security was built without its `redis` feature: enable it or unset store_url"
    )]
    RedisNotCompiled,
    /// The shared counter store could not be reached.
    #[error("middleware.rate_limiting.store_url: {0}")]
    RateLimitStore(#[from] RateLimitError),
    /// The revocation store could not be reached.
    #[error("middleware.rate_limiting.store_url (token revocations): {0}")]
    RevocationStore(TokenError),
    /// Production without allowed hosts.
    #[error("deployment.allowed_hosts is empty: in production list the host names the server answers to")]
    NoAllowedHosts,
    /// A header value that HTTP cannot carry.
    #[error("deployment.{key} is not a valid header value: use visible ASCII")]
    InvalidHeader {
        /// The key under `deployment`.
        key: &'static str,
    },
    /// A CORS setting that cannot work.
    #[error("deployment.allowed_origins: {0}")]
    Cors(String),
    /// A trusted proxy that is not an address or network.
    #[error("deployment.trusted_proxies: {0}")]
    TrustedProxies(#[from] InvalidProxy),
}
