//! Login attempts per username and per client address.

use std::net::IpAddr;
use std::time::Duration;

use async_graphql::ErrorExtensions;

use super::{Decision, Quota, RateLimitError, RateLimiter, hashed_identifier};
use crate::audit::AuditLogger;
use crate::client_ip::rate_limit_key;

/// Limits failed login attempts: `login_attempts_limit` per `login_attempts_window` (a burst of
/// that many, then one more per `window / limit`: see [the module](super)), counted
/// per username (in [`crate::username::normalize`]d form) and per client address (IPv6 per /64),
/// so neither guessing one account from many addresses nor spraying many accounts from one
/// address gets far.
///
/// Two phases around the password check:
/// 1. [`check`](Self::check) before the password reserves a slot: first in the address's
///    counter (an address over its limit is refused *without* touching the username's counter,
///    so an attacker cannot lock a user out from an address that is already blocked), then in
///    the username's counter, skipped for a login that presents a valid trusted-device token.
///    Each reservation is one atomic increment, so concurrent guesses are counted exactly.
/// 2. [`record_success`](Self::record_success) after a correct password clears the username's
///    state and gives back this attempt's address slot (one emission interval) (an office's successful sign-ins do
///    not add up); a failure keeps its reservations and needs no call.
///
/// The first refusal of each window is audited as `rate_limit_exceeded` (`limit_type`
/// `login_username` or `login_ip`); later refusals in the same window are not, so an attack
/// cannot flood the audit log.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// use rail_graphql_security::rate_limit::{LoginRateLimiter, RateLimiter};
///
/// let logins = LoginRateLimiter::new(RateLimiter::memory(), 2, Duration::from_secs(900));
/// let ip = "203.0.113.9".parse().ok();
/// // Successful sign-ins never add up.
/// for _ in 0..5 {
///     logins.check("alice", ip, false).await.unwrap();
///     logins.record_success("alice", ip).await.unwrap();
/// }
/// // Failures do, in one bucket per normalised name.
/// assert!(logins.check("alice", ip, false).await.is_ok());
/// assert!(logins.check("ALICE", ip, false).await.is_ok());
/// let refused = logins.check("alice", ip, false).await.unwrap_err();
/// assert!(refused.retry_after().unwrap() <= Duration::from_secs(900));
/// // A trusted device is exempt from the per-username lockout.
/// assert!(logins.check("alice", "198.51.100.4".parse().ok(), true).await.is_ok());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct LoginRateLimiter {
    limiter: RateLimiter,
    per_username: Quota,
    per_ip: Quota,
    audit: Option<AuditLogger>,
    enabled: bool,
}

/// Why a login attempt may not proceed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoginLimitError {
    /// Too many attempts: wait `retry_after`.
    #[error("too many login attempts: try again in {} seconds", retry_after_secs(*.retry_after))]
    RateLimited {
        /// How long until an attempt is allowed again.
        retry_after: Duration,
        /// Which limit tripped: `login_username` or `login_ip`.
        limit_type: &'static str,
    },
    /// The counter store failed; the attempt is refused (failing closed keeps brute force out).
    /// The message shown to clients names no internals; the cause is its `source()` and is
    /// logged with `tracing`.
    #[error("login temporarily unavailable, try again shortly")]
    Store(#[from] RateLimitError),
}

fn log_store_error(e: &LoginLimitError) {
    if let LoginLimitError::Store(cause) = e {
        tracing::error!(error = %cause, "login rate limit unavailable; login refused");
    }
}

fn retry_after_secs(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000).max(1) as u64
}

impl LoginLimitError {
    /// For a rate limit, how long to wait.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            Self::Store(_) => None,
        }
    }
}

impl ErrorExtensions for LoginLimitError {
    /// `code: "RATE_LIMITED"` with `retryAfter` (whole seconds, rounded up), or
    /// `code: "SERVICE_UNAVAILABLE"` when the store failed.
    fn extend(&self) -> async_graphql::Error {
        async_graphql::Error::new(self.to_string()).extend_with(|_, ext| match self {
            Self::RateLimited { retry_after, .. } => {
                ext.set("code", "RATE_LIMITED");
                ext.set("retryAfter", retry_after_secs(*retry_after));
            }
            Self::Store(_) => ext.set("code", "SERVICE_UNAVAILABLE"),
        })
    }
}

impl LoginRateLimiter {
    /// `attempts_limit` attempts per `window`, per username and per client address.
    pub fn new(limiter: RateLimiter, attempts_limit: u32, window: Duration) -> Self {
        let quota = Quota::new(attempts_limit, window);
        Self { limiter, per_username: quota, per_ip: quota, audit: None, enabled: true }
    }

    /// `false` lets every attempt through without counting (`rate_limiting.enabled = false`).
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Whether attempts are counted and limited.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The per-username quota.
    pub fn username_quota(&self) -> Quota {
        self.per_username
    }

    /// The per-address quota.
    pub fn ip_quota(&self) -> Quota {
        self.per_ip
    }

    /// A different quota per client address (an office behind one NAT may need more).
    pub fn per_ip(mut self, quota: Quota) -> Self {
        self.per_ip = quota;
        self
    }

    /// Audits refusals through `logger`.
    pub fn audit(mut self, logger: AuditLogger) -> Self {
        self.audit = Some(logger);
        self
    }

    /// Phase one, before the password is checked: counts this attempt against `client_ip`,
    /// then (unless `trusted_device`: the request carried a valid trusted-device token of this
    /// user) against `username`, and decides. An attempt refused for its address does not
    /// count against the username. Call it for every attempt; after a correct password call
    /// [`record_success`](Self::record_success). A login that must look the user up to know
    /// `trusted_device` calls the two halves instead, [`check_address`](Self::check_address)
    /// before the lookup and [`check_username`](Self::check_username) after it, so that an
    /// address over its limit learns nothing about the user (not even from the lookup's time).
    pub async fn check(
        &self,
        username: &str,
        client_ip: Option<IpAddr>,
        trusted_device: bool,
    ) -> Result<(), LoginLimitError> {
        self.check_address(client_ip).await?;
        self.check_username(username, client_ip, trusted_device).await
    }

    /// The first half of [`check`](Self::check): counts this attempt against `client_ip` and
    /// decides.
    pub async fn check_address(&self, client_ip: Option<IpAddr>) -> Result<(), LoginLimitError> {
        if !self.enabled {
            return Ok(());
        }
        let Some(ip) = client_ip else { return Ok(()) };
        let result = async {
            let by_ip = self.limiter.hit("login_ip", &rate_limit_key(ip), self.per_ip).await?;
            self.report(&by_ip, &ip.to_string(), client_ip, "login_ip", self.per_ip);
            match by_ip.retry_after() {
                Some(retry_after) => Err(LoginLimitError::RateLimited { retry_after, limit_type: "login_ip" }),
                None => Ok(()),
            }
        };
        result.await.inspect_err(log_store_error)
    }

    /// The second half of [`check`](Self::check), after [`check_address`](Self::check_address)
    /// let the attempt through: counts it against `username` unless `trusted_device`, and
    /// decides.
    pub async fn check_username(
        &self,
        username: &str,
        client_ip: Option<IpAddr>,
        trusted_device: bool,
    ) -> Result<(), LoginLimitError> {
        if !self.enabled || trusted_device {
            return Ok(());
        }
        let result = async {
            let by_name = self.limiter.hit("login_username", &hashed_identifier(username), self.per_username).await?;
            self.report(&by_name, username, client_ip, "login_username", self.per_username);
            match by_name.retry_after() {
                Some(retry_after) => Err(LoginLimitError::RateLimited { retry_after, limit_type: "login_username" }),
                None => Ok(()),
            }
        };
        result.await.inspect_err(log_store_error)
    }

    /// Phase two, after a correct password: clears `username`'s counter (only failures count)
    /// and gives back the address slot this attempt took in [`check`](Self::check), so
    /// successful sign-ins never accumulate. One refund per success: an address's failures
    /// stay counted.
    pub async fn record_success(&self, username: &str, client_ip: Option<IpAddr>) -> Result<(), LoginLimitError> {
        if !self.enabled {
            return Ok(());
        }
        let result = async {
            self.limiter.reset("login_username", &hashed_identifier(username)).await?;
            if let Some(ip) = client_ip {
                self.limiter.refund("login_ip", &rate_limit_key(ip)).await?;
            }
            Ok(())
        };
        result.await.inspect_err(log_store_error)
    }

    /// Clears the per-username counter (after an administrator unlocks the account).
    pub async fn reset_username(&self, username: &str) -> Result<(), RateLimitError> {
        self.limiter.reset("login_username", &hashed_identifier(username)).await
    }

    fn report(&self, decision: &Decision, identifier: &str, client_ip: Option<IpAddr>, limit_type: &str, quota: Quota) {
        if let (Some(logger), Decision::Limited { count, first_refusal: true, .. }) = (&self.audit, decision) {
            logger.log_rate_limit_exceeded_from(
                identifier,
                client_ip,
                limit_type,
                *count,
                u64::from(quota.limit),
                quota.window.as_secs(),
            );
        }
    }
}
