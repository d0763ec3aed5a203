//! Trusted devices: a random 256-bit token the client keeps (cookie or header) that skips the
//! second factor until it expires. Only its SHA-256 is stored.

use std::fmt;
use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sea_orm::QueryResult;
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::error::MfaError;
use super::manager::{MfaManager, MfaUser, actor, check_name};
use super::store::{MfaUserId, TrustedDevices, get};

/// What [`MfaManager::register_trusted_device`] returns, once: give `token` to the client.
pub struct TrustedDeviceToken {
    /// The trusted device's id (to list and revoke it).
    pub device_id: Uuid,
    /// The token (43 URL-safe base64 characters); never stored, hidden from Debug.
    pub token: Zeroizing<String>,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for TrustedDeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedDeviceToken")
            .field("device_id", &self.device_id)
            .field("token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A trusted device as listed to its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedDevice {
    /// The id.
    pub id: Uuid,
    /// The name given at registration.
    pub device_name: String,
    /// The user agent at registration.
    pub user_agent: Option<String>,
    /// The client address at registration.
    pub ip_address: Option<String>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When its token was last accepted.
    pub last_used: DateTime<Utc>,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

fn trusted_row(row: &QueryResult) -> Result<TrustedDevice, DbErr> {
    let id: String = get(row, TrustedDevices::Id)?;
    Ok(TrustedDevice {
        id: Uuid::parse_str(&id).map_err(|e| DbErr::Custom(format!("trusted_devices.id is not a UUID: {e}")))?,
        device_name: get(row, TrustedDevices::DeviceName)?,
        user_agent: get(row, TrustedDevices::UserAgent)?,
        ip_address: get(row, TrustedDevices::IpAddress)?,
        created_at: get(row, TrustedDevices::CreatedAt)?,
        last_used: get(row, TrustedDevices::LastUsed)?,
        expires_at: get(row, TrustedDevices::ExpiresAt)?,
    })
}

impl<Id: MfaUserId> MfaManager<Id> {
    /// Trusts the client's device for `TRUSTED_DEVICE_DURATION_DAYS`: returns a fresh random
    /// 256-bit token (once); only its SHA-256 is stored, bound to the user.
    pub async fn register_trusted_device(
        &self,
        user: &impl MfaUser<Id = Id>,
        device_name: &str,
        user_agent: Option<&str>,
        ip_address: Option<IpAddr>,
    ) -> Result<TrustedDeviceToken, MfaError> {
        let name = check_name(device_name)?;
        let mut raw = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(raw.as_mut());
        let token = Zeroizing::new(URL_SAFE_NO_PAD.encode(raw.as_ref()));
        let now = Utc::now();
        let expires_at = now + chrono::Duration::days(i64::from(self.config.trusted_device_duration_days));
        let device_id = Uuid::new_v4();
        let user_agent: Option<String> = user_agent.map(|ua| ua.chars().take(1024).collect());
        self.db
            .execute(
                Query::insert()
                    .into_table(TrustedDevices::Table)
                    .columns([
                        TrustedDevices::Id,
                        TrustedDevices::UserId,
                        TrustedDevices::TokenHash,
                        TrustedDevices::DeviceName,
                        TrustedDevices::UserAgent,
                        TrustedDevices::IpAddress,
                        TrustedDevices::CreatedAt,
                        TrustedDevices::LastUsed,
                        TrustedDevices::ExpiresAt,
                    ])
                    .values_panic(
                        [
                            device_id.to_string().into(),
                            user.mfa_user_id().to_db_value(),
                            token_hash(&token).into(),
                            name.into(),
                            user_agent.into(),
                            ip_address.map(|ip| ip.to_string()).into(),
                            now.into(),
                            now.into(),
                            expires_at.into(),
                        ]
                        .map(Expr::val),
                    ),
            )
            .await?;
        self.audit(|l, ip| {
            l.log_token_created(&actor(user), ip, json!({ "kind": "trusted_device", "device_id": device_id }))
        });
        Ok(TrustedDeviceToken { device_id, token, expires_at })
    }

    /// Whether `token` is an unexpired trusted-device token of this user (and records its use).
    pub async fn verify_trusted_device(&self, user: &impl MfaUser<Id = Id>, token: &str) -> Result<bool, MfaError> {
        self.verify_trusted_device_at(user, token, Utc::now()).await
    }

    /// [`verify_trusted_device`](Self::verify_trusted_device) at instant `at`; the user's
    /// expired devices are purged on the way.
    pub async fn verify_trusted_device_at(
        &self,
        user: &impl MfaUser<Id = Id>,
        token: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, MfaError> {
        let uid = user.mfa_user_id().to_db_value();
        self.db
            .execute(
                Query::delete()
                    .from_table(TrustedDevices::Table)
                    .and_where(Expr::col(TrustedDevices::UserId).eq(uid.clone()))
                    .and_where(Expr::col(TrustedDevices::ExpiresAt).lte(at)),
            )
            .await?;
        let updated = self
            .db
            .execute(
                Query::update()
                    .table(TrustedDevices::Table)
                    .value(TrustedDevices::LastUsed, at)
                    .and_where(Expr::col(TrustedDevices::UserId).eq(uid))
                    .and_where(Expr::col(TrustedDevices::TokenHash).eq(token_hash(token)))
                    .and_where(Expr::col(TrustedDevices::ExpiresAt).gt(at)),
            )
            .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// [`is_mfa_required`](Self::is_mfa_required), except that a valid trusted-device token
    /// skips the second factor.
    pub async fn is_mfa_required_on_device(
        &self,
        user: &impl MfaUser<Id = Id>,
        trusted_device_token: Option<&str>,
    ) -> Result<bool, MfaError> {
        if !self.is_mfa_required(user).await? {
            return Ok(false);
        }
        match trusted_device_token {
            Some(token) => Ok(!self.verify_trusted_device(user, token).await?),
            None => Ok(true),
        }
    }

    /// The user's unexpired trusted devices, newest first.
    pub async fn list_trusted_devices(&self, user: &impl MfaUser<Id = Id>) -> Result<Vec<TrustedDevice>, MfaError> {
        let rows = self
            .db
            .query_all(
                Query::select()
                    .columns([
                        TrustedDevices::Id,
                        TrustedDevices::DeviceName,
                        TrustedDevices::UserAgent,
                        TrustedDevices::IpAddress,
                        TrustedDevices::CreatedAt,
                        TrustedDevices::LastUsed,
                        TrustedDevices::ExpiresAt,
                    ])
                    .from(TrustedDevices::Table)
                    .and_where(Expr::col(TrustedDevices::UserId).eq(user.mfa_user_id().to_db_value()))
                    .and_where(Expr::col(TrustedDevices::ExpiresAt).gt(Utc::now()))
                    .order_by(TrustedDevices::CreatedAt, Order::Desc),
            )
            .await?;
        Ok(rows.iter().map(trusted_row).collect::<Result<_, _>>()?)
    }

    /// Revokes one trusted device; false when the user has no such device.
    pub async fn revoke_trusted_device(&self, user: &impl MfaUser<Id = Id>, device_id: Uuid) -> Result<bool, MfaError> {
        let deleted = self
            .db
            .execute(
                Query::delete()
                    .from_table(TrustedDevices::Table)
                    .and_where(Expr::col(TrustedDevices::Id).eq(device_id.to_string()))
                    .and_where(Expr::col(TrustedDevices::UserId).eq(user.mfa_user_id().to_db_value())),
            )
            .await?;
        let revoked = deleted.rows_affected() == 1;
        if revoked {
            self.audit(|l, ip| {
                l.log_token_revoked(&actor(user), ip, json!({ "kind": "trusted_device", "device_id": device_id }))
            });
        }
        Ok(revoked)
    }

    /// Revokes every trusted device of the user (call it on a password change); returns how many.
    pub async fn revoke_all_trusted_devices(&self, user: &impl MfaUser<Id = Id>) -> Result<u64, MfaError> {
        let deleted = self
            .db
            .execute(
                Query::delete()
                    .from_table(TrustedDevices::Table)
                    .and_where(Expr::col(TrustedDevices::UserId).eq(user.mfa_user_id().to_db_value())),
            )
            .await?
            .rows_affected();
        if deleted > 0 {
            self.audit(|l, ip| {
                l.log_token_revoked(&actor(user), ip, json!({ "kind": "trusted_device", "count": deleted }))
            });
        }
        Ok(deleted)
    }

    /// Deletes every expired trusted device (all users); returns how many.
    pub async fn purge_expired_trusted_devices(&self) -> Result<u64, MfaError> {
        Ok(self
            .db
            .execute(
                Query::delete()
                    .from_table(TrustedDevices::Table)
                    .and_where(Expr::col(TrustedDevices::ExpiresAt).lte(Utc::now())),
            )
            .await?
            .rows_affected())
    }
}
