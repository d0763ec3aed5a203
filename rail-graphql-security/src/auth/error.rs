//! Why a token was refused or could not be handled.

use async_graphql::ErrorExtensions;

use super::{MAX_SESSION_ID_BYTES, MIN_SECRET_BYTES};

/// Why a token was refused or could not be handled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a token of ours: bad format, bad signature, wrong issuer or algorithm.
    #[error("invalid token: log in again to get a new one")]
    Invalid,
    /// The token has expired.
    #[error("token expired: log in again or refresh it before it expires")]
    Expired,
    /// The token was revoked (logout, refresh or an administrator).
    #[error("token revoked: log in again")]
    Revoked,
    /// The `Authorization` header does not use the configured scheme.
    #[error("unsupported Authorization header: send `Authorization: {0} <token>`")]
    WrongScheme(String),
    /// The configured secret is too short.
    #[error("the token secret must be at least {MIN_SECRET_BYTES} bytes: generate one with `openssl rand -base64 48`")]
    WeakSecret,
    /// The token could not be signed.
    #[error("token could not be signed: {0}")]
    Signing(String),
    /// A session id given to [`issue_in_session`](super::TokenService::issue_in_session) or
    /// [`revoke_session`](super::TokenService::revoke_session) is empty or too long.
    #[error("invalid session id: it must be 1 to {MAX_SESSION_ID_BYTES} bytes (take it from the token's claims)")]
    InvalidSessionId,
    /// [`RevocationStore::synced`](super::RevocationStore::synced) was given a store without
    /// the `revoked_tokens` table, or PostgreSQL push on another database.
    #[error(
        "a local revocation set needs the revoked_tokens table as its durable record: use RevocationStore::database or redis_cached (PostgreSQL push needs a PostgreSQL database)"
    )]
    NoDurableRecord,
    /// A revocation was written, but every write took so long that the other instances of a
    /// [`synced`](super::RevocationStore::synced) store might not see it: find out why the
    /// database commits so slowly, and revoke again.
    #[error(
        "the revocation was written too slowly to be sure every instance reads it (over 30 s, three times): check the database, then revoke again"
    )]
    SlowRevocation,
    /// The revocation list in the database could not be read or written.
    #[error("revocation list unavailable (database): {0}")]
    Database(#[from] sea_orm::DbErr),
    /// The revocation list in Redis could not be read or written.
    #[cfg(feature = "redis")]
    #[error("revocation list unavailable (Redis): {0}; check REDIS_URL and that Redis is up")]
    Redis(#[from] redis::RedisError),
}

impl TokenError {
    /// The short reason used in error extensions and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Invalid | Self::WrongScheme(_) => "token_invalid",
            Self::Expired => "token_expired",
            Self::Revoked => "token_revoked",
            _ => "token_store_unavailable",
        }
    }

    /// Whether the client is at fault (401) rather than the server (503 / 500).
    pub fn is_client_error(&self) -> bool {
        matches!(self, Self::Invalid | Self::WrongScheme(_) | Self::Expired | Self::Revoked)
    }
}

impl ErrorExtensions for TokenError {
    /// `code: "UNAUTHENTICATED"` with a `reason` (`token_expired`, ...) for client errors,
    /// `code: "SERVICE_UNAVAILABLE"` otherwise (with a message that names no internals; log the
    /// error itself).
    fn extend(&self) -> async_graphql::Error {
        let message = if self.is_client_error() {
            self.to_string()
        } else {
            "authentication temporarily unavailable, try again shortly".to_owned()
        };
        async_graphql::Error::new(message).extend_with(|_, ext| {
            ext.set("code", if self.is_client_error() { "UNAUTHENTICATED" } else { "SERVICE_UNAVAILABLE" });
            ext.set("reason", self.reason());
        })
    }
}
