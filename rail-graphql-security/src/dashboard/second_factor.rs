//! What the dashboard needs to know about a user's second factor, and the ready implementation
//! over [`MfaManager`].

use std::error::Error as StdError;
use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::context::Principal;
use crate::mfa::{MfaAccount, MfaError, MfaManager, MfaMethod, MfaUserId};

/// A second factor the dashboard's sign-in form can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SecondFactorMethod {
    /// A code from an authenticator app (RFC 6238).
    Totp,
    /// A one-time backup code.
    BackupCode,
}

impl SecondFactorMethod {
    /// The form and audit name: `totp`, `backup_code`.
    pub fn as_str(self) -> &'static str {
        match self {
            SecondFactorMethod::Totp => "totp",
            SecondFactorMethod::BackupCode => "backup_code",
        }
    }

    /// The method named `name` (as written by [`as_str`](Self::as_str)).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "totp" => Some(SecondFactorMethod::Totp),
            "backup_code" => Some(SecondFactorMethod::BackupCode),
            _ => None,
        }
    }
}

impl From<SecondFactorMethod> for MfaMethod {
    fn from(method: SecondFactorMethod) -> Self {
        match method {
            SecondFactorMethod::Totp => MfaMethod::Totp,
            SecondFactorMethod::BackupCode => MfaMethod::BackupCode,
        }
    }
}

/// Whether a user who typed the right password must pass a second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecondFactorStatus {
    /// The user has no confirmed second factor.
    NotEnrolled,
    /// The user has a confirmed second factor: the sign-in asks for one of `methods` (empty when
    /// the user's only factor is one the dashboard cannot take, e.g. SMS: the sign-in is then
    /// refused).
    Required {
        /// The methods the user can pass here.
        methods: Vec<SecondFactorMethod>,
    },
}

/// The result of checking a code.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecondFactorCheck {
    /// The code is right (and now used up).
    Accepted,
    /// The code is wrong, malformed or already used.
    Rejected,
    /// Too many wrong codes: no code is checked until `until`.
    Locked {
        /// When codes are checked again.
        until: DateTime<Utc>,
    },
}

/// The second-factor store could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecondFactorError {
    /// The principal's id is not an id of this store (e.g. not a number for `MfaManager<i64>`).
    #[error("the user id of the signed-in principal is not an id of the second-factor store")]
    UserId,
    /// The store failed; the cause is the `source()`.
    #[error("the second-factor store is unavailable")]
    Unavailable(#[source] Box<dyn StdError + Send + Sync>),
}

/// The second step of the dashboard's sign-in: which users must pass a second factor and
/// whether a code is right. Implemented for [`MfaManager`] (any [`MfaUserId`] that parses
/// from the principal's id); implement it yourself to use another MFA store.
///
/// The implementation audits the attempts (the `MfaManager` one logs `mfa_success`,
/// `mfa_failed` and `account_locked`) and throttles wrong codes.
#[async_trait::async_trait]
pub trait DashboardSecondFactor: Send + Sync + 'static {
    /// Whether `principal` has a confirmed second factor, and which methods the form may offer.
    async fn status(&self, principal: &Principal) -> Result<SecondFactorStatus, SecondFactorError>;

    /// Checks `code` as `principal`'s `method`; the attempt comes from `client_ip`.
    async fn verify(
        &self,
        principal: &Principal,
        method: SecondFactorMethod,
        code: &SecretString,
        client_ip: Option<IpAddr>,
    ) -> Result<SecondFactorCheck, SecondFactorError>;
}

fn account<Id: MfaUserId + FromStr>(principal: &Principal) -> Result<MfaAccount<Id>, SecondFactorError> {
    let id = principal.id.parse::<Id>().map_err(|_| SecondFactorError::UserId)?;
    Ok(MfaAccount::new(id, principal.name.clone().unwrap_or_else(|| principal.id.clone())))
}

fn unavailable(error: MfaError) -> SecondFactorError {
    SecondFactorError::Unavailable(Box::new(error))
}

/// Confirmed, active devices and passkeys count as a second factor (as for the GraphQL API); the
/// form takes TOTP codes and, when some are left, backup codes.
#[async_trait::async_trait]
impl<Id: MfaUserId + FromStr> DashboardSecondFactor for MfaManager<Id> {
    async fn status(&self, principal: &Principal) -> Result<SecondFactorStatus, SecondFactorError> {
        let user = account::<Id>(principal)?;
        let devices = self.list_devices(&user).await.map_err(unavailable)?;
        let confirmed: Vec<_> = devices.iter().filter(|d| d.is_active && d.confirmed).collect();
        // A passkey is a factor too: its owner must pass one, though the form takes only codes
        // (a user with nothing the form takes is refused, never let through on the password).
        let has_passkey = self.has_passkey(&user.id).await.map_err(unavailable)?;
        if confirmed.is_empty() && !has_passkey {
            return Ok(SecondFactorStatus::NotEnrolled);
        }
        let mut methods = Vec::new();
        if confirmed.iter().any(|d| d.device_type == MfaMethod::Totp) {
            methods.push(SecondFactorMethod::Totp);
        }
        if self.remaining_backup_codes(&user).await.map_err(unavailable)? > 0 {
            methods.push(SecondFactorMethod::BackupCode);
        }
        Ok(SecondFactorStatus::Required { methods })
    }

    async fn verify(
        &self,
        principal: &Principal,
        method: SecondFactorMethod,
        code: &SecretString,
        client_ip: Option<IpAddr>,
    ) -> Result<SecondFactorCheck, SecondFactorError> {
        let user = account::<Id>(principal)?;
        let mfa = self.with_client_ip(client_ip);
        let checked = match method {
            SecondFactorMethod::Totp => mfa.verify_totp_code(&user, code.expose_secret()).await,
            SecondFactorMethod::BackupCode => mfa.verify_backup_code(&user, code.expose_secret()).await,
        };
        match checked {
            Ok(true) => Ok(SecondFactorCheck::Accepted),
            Ok(false) | Err(MfaError::NoDevice { .. }) => Ok(SecondFactorCheck::Rejected),
            Err(MfaError::Locked { until }) => Ok(SecondFactorCheck::Locked { until }),
            Err(other) => Err(unavailable(other)),
        }
    }
}
