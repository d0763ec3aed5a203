use std::fmt;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rand::RngCore;
use sea_orm::sea_query::{
    Condition, Expr, ExprTrait, IntoIden, JoinType, LockType, Order, Query, SelectStatement, UpdateStatement,
};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Iden, QueryResult,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::attempt::{Attempt, Checked, Verdict};
use super::config::MfaConfig;
use super::error::MfaError;
use super::method::MfaMethod;
use super::secret::{SecretCipher, associated_data};
use super::sms::SmsProvider;
use super::store::{
    MfaBackupCodes, MfaDevices, MfaPasskeyCeremonies, MfaPasskeys, MfaThrottle, MfaUserId, TrustedDevices, get,
};
use super::throttle::{self, Factor};
use super::totp;
use crate::audit::{Actor, AuditLogger};
use crate::rate_limit::RateLimiter;

/// A user as the MFA manager sees it. Implement it on your user model, or use [`MfaAccount`].
pub trait MfaUser: Send + Sync {
    /// The type of the user's primary key.
    type Id: MfaUserId;
    /// The user's primary key.
    fn mfa_user_id(&self) -> Self::Id;
    /// The account name shown in authenticator apps and audit events (user name or e-mail).
    fn mfa_account_name(&self) -> String;
    /// Policy hook: true when this user must use MFA even before enrolling (e.g. admins).
    fn mfa_required_by_policy(&self) -> bool {
        false
    }
    /// The user's roles: holding one listed in [`MfaConfig::required_for_roles`] makes MFA
    /// mandatory, like the policy hook.
    fn mfa_roles(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A ready-made [`MfaUser`]: an id, an account name and the policy flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaAccount<Id> {
    /// The user's primary key.
    pub id: Id,
    /// The account name.
    pub name: String,
    /// Whether policy requires MFA for this user.
    pub mfa_required_by_policy: bool,
    /// The user's roles (matched against [`MfaConfig::required_for_roles`]).
    pub roles: Vec<String>,
}

impl<Id> MfaAccount<Id> {
    /// A user with no policy requirement and no roles.
    pub fn new(id: Id, name: impl Into<String>) -> Self {
        MfaAccount { id, name: name.into(), mfa_required_by_policy: false, roles: Vec::new() }
    }

    /// Replaces the roles.
    pub fn with_roles<I, R>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }
}

impl<Id: MfaUserId> MfaUser for MfaAccount<Id> {
    type Id = Id;
    fn mfa_user_id(&self) -> Id {
        self.id.clone()
    }
    fn mfa_account_name(&self) -> String {
        self.name.clone()
    }
    fn mfa_required_by_policy(&self) -> bool {
        self.mfa_required_by_policy
    }
    fn mfa_roles(&self) -> Vec<String> {
        self.roles.clone()
    }
}

/// A device as listed to its owner (no secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaDevice {
    /// The device id.
    pub id: Uuid,
    /// Its kind.
    pub device_type: MfaMethod,
    /// The name the user gave it.
    pub name: String,
    /// For SMS devices, the phone number with all but the last two digits masked.
    pub phone_number_hint: Option<String>,
    /// False once disabled.
    pub is_active: bool,
    /// The user's primary device.
    pub is_primary: bool,
    /// Confirmed by a first valid code: only confirmed devices count as a second factor.
    pub confirmed: bool,
    /// When it was set up.
    pub created_at: DateTime<Utc>,
    /// When a code from it was last accepted.
    pub last_used: Option<DateTime<Utc>>,
}

/// What [`MfaManager::setup_totp_device`] returns, once: show the QR code or the secret to the
/// user, then forget it. Debug output hides the secret.
pub struct TotpSetup {
    /// The new (unconfirmed) device.
    pub device_id: Uuid,
    /// The secret in base32 without padding, for manual entry.
    pub secret: Zeroizing<String>,
    /// The `otpauth://` URI.
    pub otpauth_uri: Zeroizing<String>,
}

impl fmt::Debug for TotpSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpSetup").field("device_id", &self.device_id).field("secret", &"[redacted]").finish()
    }
}

/// A QR code of an `otpauth://` URI in the two forms a client may want.
pub struct TotpQrCode {
    /// `data:image/png;base64,…` (the original package's `qr_code_url`).
    pub png_data_url: String,
    /// An SVG document.
    pub svg: String,
}

impl fmt::Debug for TotpQrCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpQrCode([redacted])")
    }
}

/// The MFA runtime: set up, verify and manage second factors of users whose ids are `Id`.
///
/// Cheap to clone (shared state behind `Arc`s).
///
/// ```no_run
/// # async fn run(db: sea_orm::DatabaseConnection) -> Result<(), rail_graphql_security::mfa::MfaError> {
/// use rail_graphql_security::mfa::{EncryptionKey, MfaAccount, MfaConfig, MfaManager, SecretCipher};
/// let cipher = SecretCipher::new(EncryptionKey::from_base64("k1", &std::env::var("MFA_KEY").unwrap())?);
/// let mfa = MfaManager::<i64>::new(db, MfaConfig::default(), cipher)?;
/// let alice = MfaAccount::new(7_i64, "alice@example.com");
/// let setup = mfa.setup_totp_device(&alice, "My Phone").await?;
/// let qr = mfa.generate_qr_code(&setup.otpauth_uri)?;
/// // ... the user scans it and types the code the app shows:
/// let confirmed = mfa.verify_totp_code(&alice, "123456").await?;
/// # let _ = (qr, confirmed); Ok(()) }
/// ```
pub struct MfaManager<Id> {
    pub(crate) db: DatabaseConnection,
    pub(crate) config: Arc<MfaConfig>,
    pub(crate) cipher: Arc<SecretCipher>,
    pub(crate) audit: Option<AuditLogger>,
    pub(crate) client_ip: Option<IpAddr>,
    pub(crate) sms: Option<Arc<dyn SmsProvider>>,
    pub(crate) limiter: RateLimiter,
    /// The relying party, when passkeys are configured.
    pub(crate) passkeys: Option<Arc<webauthn_rs::Webauthn>>,
    _id: PhantomData<fn() -> Id>,
}

impl<Id> Clone for MfaManager<Id> {
    fn clone(&self) -> Self {
        MfaManager {
            db: self.db.clone(),
            config: self.config.clone(),
            cipher: self.cipher.clone(),
            audit: self.audit.clone(),
            client_ip: self.client_ip,
            sms: self.sms.clone(),
            limiter: self.limiter.clone(),
            passkeys: self.passkeys.clone(),
            _id: PhantomData,
        }
    }
}

impl<Id> fmt::Debug for MfaManager<Id> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaManager")
            .field("config", &self.config)
            .field("key_id", &self.cipher.current_key_id())
            .field("audit", &self.audit.is_some())
            .field("sms", &self.sms.as_ref().map(|p| p.name()))
            .field("limiter", &self.limiter)
            .field("passkeys", &self.passkeys.is_some())
            .finish()
    }
}

/// Refuses a development-only SMS provider under the production profile.
pub(crate) fn check_sms_provider(config: &MfaConfig, provider: &dyn SmsProvider) -> Result<(), MfaError> {
    if config.production && provider.is_development_only() {
        return Err(MfaError::Config(format!(
            "the {} SMS provider is for development only; configure Twilio or AWS SNS in production",
            provider.name()
        )));
    }
    Ok(())
}

pub(crate) fn actor(user: &impl MfaUser) -> Actor {
    Actor::new(user.mfa_user_id().to_key(), user.mfa_account_name())
}

/// Digits only, after dropping spaces and dashes; `None` when malformed.
pub(crate) fn normalize_digits(code: &str, digits: usize) -> Option<String> {
    let code: String = code.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    (code.len() == digits && code.bytes().all(|b| b.is_ascii_digit())).then_some(code)
}

/// A device or passkey name, trimmed: 1 to 100 characters of [`allowed_in_name`].
pub(crate) fn check_name(name: &str) -> Result<&str, MfaError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || !name.chars().all(allowed_in_name) {
        return Err(MfaError::InvalidInput(
            "a device name must be 1 to 100 characters without control or text-direction characters".to_owned(),
        ));
    }
    Ok(name)
}

/// Whether a name may hold `c`: no control character, and none of the invisible marks that
/// change the direction of the text around them (U+061C, U+200E, U+200F, U+202A to U+202E,
/// U+2066 to U+2069), with which a name shown in a device list could pass for another one.
pub(crate) fn allowed_in_name(c: char) -> bool {
    !c.is_control()
        && !matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn unix(at: DateTime<Utc>) -> u64 {
    u64::try_from(at.timestamp()).unwrap_or(0)
}

/// The columns of a new, unconfirmed device ([`MfaManager::enrol_device`]).
#[derive(Clone, Copy)]
pub(crate) struct NewDevice<'a> {
    pub(crate) id: Uuid,
    pub(crate) kind: MfaMethod,
    pub(crate) name: &'a str,
    /// A TOTP device's sealed secret.
    pub(crate) sealed: Option<&'a super::secret::Sealed>,
    /// An SMS device's number and first code.
    pub(crate) sms: Option<(&'a str, &'a super::sms_codes::SmsCode)>,
    pub(crate) is_primary: bool,
}

/// A factor that just started to count: a device confirmed by its first valid code, or a
/// passkey registered ([`MfaManager::settle_enrolments`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NewFactor {
    /// The device's or the passkey's id.
    pub(crate) id: Uuid,
    /// When it was set up.
    pub(crate) created_at: DateTime<Utc>,
}

impl From<&DeviceRow> for NewFactor {
    fn from(device: &DeviceRow) -> Self {
        NewFactor { id: device.id, created_at: device.device.created_at }
    }
}

pub(crate) struct DeviceRow {
    pub(crate) id: Uuid,
    pub(crate) device: MfaDevice,
    secret_key: Option<String>,
    pub(crate) key_id: Option<String>,
    pub(crate) phone_number: Option<String>,
    pub(crate) sms_code_hash: Option<String>,
    pub(crate) sms_code_expires_at: Option<DateTime<Utc>>,
    pub(crate) sms_code_attempts: i32,
}

fn device_row(row: &QueryResult) -> Result<DeviceRow, DbErr> {
    let id: String = get(row, MfaDevices::Id)?;
    let id = Uuid::parse_str(&id).map_err(|e| DbErr::Custom(format!("mfa_devices.id is not a UUID: {e}")))?;
    let device_type: String = get(row, MfaDevices::DeviceType)?;
    let device_type = MfaMethod::parse(&device_type)
        .ok_or_else(|| DbErr::Custom(format!("unknown mfa_devices.device_type {device_type:?}")))?;
    let phone_number: Option<String> = get(row, MfaDevices::PhoneNumber)?;
    let phone = phone_number.clone();
    let device = MfaDevice {
        id,
        device_type,
        name: get(row, MfaDevices::Name)?,
        phone_number_hint: phone.map(|p| {
            let keep = p.len().saturating_sub(2);
            format!("{}{}", "*".repeat(keep), &p[keep..])
        }),
        is_active: get(row, MfaDevices::IsActive)?,
        is_primary: get(row, MfaDevices::IsPrimary)?,
        confirmed: get(row, MfaDevices::Confirmed)?,
        created_at: get(row, MfaDevices::CreatedAt)?,
        last_used: get(row, MfaDevices::LastUsed)?,
    };
    Ok(DeviceRow {
        id,
        device,
        secret_key: get(row, MfaDevices::SecretKey)?,
        key_id: get(row, MfaDevices::KeyId)?,
        phone_number,
        sms_code_hash: get(row, MfaDevices::SmsCodeHash)?,
        sms_code_expires_at: get(row, MfaDevices::SmsCodeExpiresAt)?,
        sms_code_attempts: get(row, MfaDevices::SmsCodeAttempts)?,
    })
}

const DEVICE_COLUMNS: [MfaDevices; 15] = [
    MfaDevices::SmsCodeHash,
    MfaDevices::SmsCodeExpiresAt,
    MfaDevices::SmsCodeAttempts,
    MfaDevices::Id,
    MfaDevices::DeviceType,
    MfaDevices::Name,
    MfaDevices::PhoneNumber,
    MfaDevices::IsActive,
    MfaDevices::IsPrimary,
    MfaDevices::Confirmed,
    MfaDevices::CreatedAt,
    MfaDevices::LastUsed,
    MfaDevices::SecretKey,
    MfaDevices::KeyId,
    MfaDevices::UserId,
];

/// The columns of a device, all of its rows (oldest first) for the user.
fn select_devices<Id: MfaUserId>(user: &Id) -> SelectStatement {
    Query::select()
        .columns(DEVICE_COLUMNS)
        .from(MfaDevices::Table)
        .and_where(Expr::col(MfaDevices::UserId).eq(user.to_db_value()))
        .order_by(MfaDevices::CreatedAt, Order::Asc)
        .to_owned()
}

/// Disables devices (those the caller's condition selects) and erases their secrets and codes.
fn deactivate_devices() -> UpdateStatement {
    Query::update()
        .table(MfaDevices::Table)
        .value(MfaDevices::IsActive, false)
        .value(MfaDevices::SecretKey, Option::<String>::None)
        .value(MfaDevices::SmsCodeHash, Option::<String>::None)
        .to_owned()
}

impl<Id: MfaUserId> MfaManager<Id> {
    /// A manager on `db` (migrated with `CreateMfaTables`); fails on an invalid `config`.
    pub fn new(db: DatabaseConnection, config: MfaConfig, cipher: SecretCipher) -> Result<Self, MfaError> {
        config.validate()?;
        let passkeys = super::passkey::relying_party(&config.passkeys)?.map(Arc::new);
        Ok(MfaManager {
            db,
            config: Arc::new(config),
            cipher: Arc::new(cipher),
            audit: None,
            client_ip: None,
            sms: None,
            limiter: RateLimiter::memory(),
            passkeys,
            _id: PhantomData,
        })
    }

    /// Sends SMS codes through `provider`. A development-only provider (the console one) is
    /// refused when the configuration is the production profile.
    pub fn with_sms_provider(self, provider: impl SmsProvider + 'static) -> Result<Self, MfaError> {
        self.with_shared_sms_provider(Arc::new(provider))
    }

    /// Like [`with_sms_provider`](Self::with_sms_provider), for a provider already shared
    /// (one provider for the managers of several user id types).
    pub fn with_shared_sms_provider(mut self, provider: Arc<dyn SmsProvider>) -> Result<Self, MfaError> {
        check_sms_provider(&self.config, provider.as_ref())?;
        self.sms = Some(provider);
        Ok(self)
    }

    /// Counts the SMS quotas ([`MfaConfig::sms_quotas`]) in `limiter` instead of this process's
    /// memory: with a Redis limiter every instance sharing it enforces one quota.
    pub fn with_rate_limiter(mut self, limiter: RateLimiter) -> Self {
        self.limiter = limiter;
        self
    }

    /// A manager sharing an already validated configuration, cipher and relying party (the
    /// stack builds one per user id type from the same parts).
    #[cfg(feature = "axum")]
    pub(crate) fn from_shared(
        db: DatabaseConnection,
        config: Arc<MfaConfig>,
        cipher: Arc<SecretCipher>,
        passkeys: Option<Arc<webauthn_rs::Webauthn>>,
    ) -> Self {
        MfaManager {
            db,
            config,
            cipher,
            audit: None,
            client_ip: None,
            sms: None,
            limiter: RateLimiter::memory(),
            passkeys,
            _id: PhantomData,
        }
    }

    /// Logs every enable, disable, success, failure and lockout to `logger`.
    pub fn with_audit_logger(mut self, logger: AuditLogger) -> Self {
        self.audit = Some(logger);
        self
    }

    /// A copy that records `ip` as the client address of its audit events (one per request).
    pub fn with_client_ip(&self, ip: Option<IpAddr>) -> Self {
        let mut copy = self.clone();
        copy.client_ip = ip;
        copy
    }

    /// The configuration in force.
    pub fn config(&self) -> &MfaConfig {
        &self.config
    }

    pub(crate) fn audit(&self, f: impl FnOnce(&AuditLogger, Option<IpAddr>)) {
        if let Some(logger) = &self.audit {
            f(logger, self.client_ip);
        }
    }

    /// Whether `user` must pass a second factor: MFA is enabled and the user has a confirmed
    /// device, or the policy hook ([`MfaUser::mfa_required_by_policy`]) requires it, or the
    /// user holds a role of [`MfaConfig::required_for_roles`].
    pub async fn is_mfa_required(&self, user: &impl MfaUser<Id = Id>) -> Result<bool, MfaError> {
        if !self.config.enabled {
            return Ok(false);
        }
        if user.mfa_required_by_policy() || self.config.required_for_any_role(&user.mfa_roles()) {
            return Ok(true);
        }
        self.has_confirmed_factor(&user.mfa_user_id()).await
    }

    /// Whether the user has a confirmed, active device or a passkey. Backup codes alone do not
    /// count: they are the fallback of a device (`setupTotp` makes them before the device is
    /// confirmed).
    pub(crate) async fn has_confirmed_factor(&self, user: &Id) -> Result<bool, MfaError> {
        Ok(Self::has_confirmed_factor_in(&self.db, user, None).await?)
    }

    /// In `db` (the pool, or a transaction under the user's lock): whether the user has a
    /// confirmed, active device or a passkey, other than `except` (a device's or a passkey's id).
    async fn has_confirmed_factor_in(db: &impl ConnectionTrait, uid: &Id, except: Option<&str>) -> Result<bool, DbErr> {
        let mut device = Query::select();
        device
            .column(MfaDevices::Id)
            .from(MfaDevices::Table)
            .and_where(Expr::col(MfaDevices::UserId).eq(uid.to_db_value()))
            .and_where(Expr::col(MfaDevices::IsActive).eq(true))
            .and_where(Expr::col(MfaDevices::Confirmed).eq(true))
            .limit(1);
        let mut passkey = Query::select();
        passkey
            .column(MfaPasskeys::Id)
            .from(MfaPasskeys::Table)
            .and_where(Expr::col(MfaPasskeys::UserId).eq(uid.to_db_value()))
            .limit(1);
        if let Some(except) = except {
            device.and_where(Expr::col(MfaDevices::Id).ne(except));
            passkey.and_where(Expr::col(MfaPasskeys::Id).ne(except));
        }
        Ok(db.query_one(&device).await?.is_some() || db.query_one(&passkey).await?.is_some())
    }

    /// The user's devices, active or not, oldest first.
    pub async fn list_devices(&self, user: &impl MfaUser<Id = Id>) -> Result<Vec<MfaDevice>, MfaError> {
        let rows = self.db.query_all(&select_devices(&user.mfa_user_id())).await?;
        rows.iter().map(|r| Ok(device_row(r)?.device)).collect()
    }

    pub(crate) async fn active_devices(&self, user: &Id, kind: MfaMethod) -> Result<Vec<DeviceRow>, MfaError> {
        let rows = self
            .db
            .query_all(
                select_devices(user)
                    .and_where(Expr::col(MfaDevices::DeviceType).eq(kind.as_str()))
                    .and_where(Expr::col(MfaDevices::IsActive).eq(true)),
            )
            .await?;
        Ok(rows.iter().map(device_row).collect::<Result<_, _>>()?)
    }

    /// In `txn`, locks the user's throttle row and reads it together with the user's active
    /// devices of `kind`, in one statement: `FOR UPDATE` of the throttle row on PostgreSQL and
    /// MySQL; on SQLite the transaction must hold the write lock already (`BEGIN IMMEDIATE`).
    /// `None` when the user has no throttle row yet.
    pub(crate) async fn lock_throttle_and_devices(
        txn: &impl ConnectionTrait,
        user: &Id,
        kind: MfaMethod,
    ) -> Result<Option<(throttle::State, Vec<DeviceRow>)>, DbErr> {
        let mut select = Query::select();
        select
            .columns(throttle::State::COLUMNS.map(|c| (MfaThrottle::Table, c)))
            .columns(DEVICE_COLUMNS.map(|c| (MfaDevices::Table, c)))
            .from(MfaThrottle::Table)
            .join(
                JoinType::LeftJoin,
                MfaDevices::Table,
                Condition::all()
                    .add(
                        Expr::col((MfaDevices::Table, MfaDevices::UserId))
                            .eq(Expr::col((MfaThrottle::Table, MfaThrottle::UserId))),
                    )
                    .add(Expr::col((MfaDevices::Table, MfaDevices::DeviceType)).eq(kind.as_str()))
                    .add(Expr::col((MfaDevices::Table, MfaDevices::IsActive)).eq(true)),
            )
            .and_where(Expr::col((MfaThrottle::Table, MfaThrottle::UserId)).eq(user.to_db_value()))
            .order_by((MfaDevices::Table, MfaDevices::CreatedAt), Order::Asc);
        match txn.get_database_backend() {
            DbBackend::Postgres => {
                select.lock_with_tables(LockType::Update, [MfaThrottle::Table]);
            }
            DbBackend::MySql => {
                select.lock(LockType::Update);
            }
            _ => {}
        }
        let rows = txn.query_all(&select).await?;
        let Some(first) = rows.first() else { return Ok(None) };
        let state = throttle::State::from_row(first)?;
        let mut devices = Vec::with_capacity(rows.len());
        for row in &rows {
            // The outer join gives one row of NULL device columns when there is no device.
            if get::<Option<String>>(row, MfaDevices::Id)?.is_some() {
                devices.push(device_row(row)?);
            }
        }
        Ok(Some((state, devices)))
    }

    /// The user's active devices of `kind`, the ones a code may come from;
    /// [`MfaError::NoDevice`] when there are none (nothing to throttle then).
    pub(crate) async fn devices_to_try(&self, user: &Id, kind: MfaMethod) -> Result<Vec<DeviceRow>, MfaError> {
        let devices = self.active_devices(user, kind).await?;
        if devices.is_empty() {
            return Err(MfaError::NoDevice { method: kind.as_str() });
        }
        Ok(devices)
    }

    /// Disables one of the user's devices and erases its secret.
    pub async fn disable_device(&self, user: &impl MfaUser<Id = Id>, device_id: Uuid) -> Result<(), MfaError> {
        let uid = user.mfa_user_id();
        let devices = self.list_devices(user).await?;
        let device = devices.iter().find(|d| d.id == device_id).ok_or(MfaError::UnknownDevice(device_id))?;
        self.db
            .execute(
                deactivate_devices()
                    .and_where(Expr::col(MfaDevices::Id).eq(device_id.to_string()))
                    .and_where(Expr::col(MfaDevices::UserId).eq(uid.to_db_value())),
            )
            .await?;
        let method = device.device_type.as_str();
        self.audit(|l, ip| l.log_mfa_disabled(&actor(user), ip, method));
        Ok(())
    }

    /// Turns MFA off for the user: disables every device (erasing secrets), deletes the passkeys
    /// and the backup codes and forgets every trusted device.
    pub async fn disable_mfa(&self, user: &impl MfaUser<Id = Id>) -> Result<(), MfaError> {
        self.delete_passkeys(&user.mfa_user_id()).await?;
        let uid = user.mfa_user_id().to_db_value();
        self.db.execute(deactivate_devices().and_where(Expr::col(MfaDevices::UserId).eq(uid.clone()))).await?;
        for (table, user_id) in [
            (MfaBackupCodes::Table.into_iden(), MfaBackupCodes::UserId.into_iden()),
            (TrustedDevices::Table.into_iden(), TrustedDevices::UserId.into_iden()),
        ] {
            self.db.execute(Query::delete().from_table(table).and_where(Expr::col(user_id).eq(uid.clone()))).await?;
        }
        self.audit(|l, ip| l.log_mfa_disabled(&actor(user), ip, "all"));
        Ok(())
    }

    /// Starts TOTP enrolment: a new 160-bit secret from the OS CSPRNG, stored encrypted in an
    /// unconfirmed device (earlier unconfirmed TOTP enrolments are dropped). The device becomes
    /// a second factor when [`verify_totp_code`](Self::verify_totp_code) accepts a first code.
    /// Refused with [`MfaError::RateLimited`] while the user has `max_pending_devices`
    /// unconfirmed devices besides the TOTP enrolment this one replaces (a refused setup
    /// keeps that enrolment).
    pub async fn setup_totp_device(
        &self,
        user: &impl MfaUser<Id = Id>,
        device_name: &str,
    ) -> Result<TotpSetup, MfaError> {
        let name = check_name(device_name)?;
        let uid = user.mfa_user_id();
        let account = user.mfa_account_name();
        let mut secret = Zeroizing::new([0u8; 20]);
        rand::rng().fill_bytes(secret.as_mut());
        let secret_b32 = Zeroizing::new(totp_rs::Secret::from(secret.as_slice()).to_base32());
        let c = &self.config;
        let uri = Zeroizing::new(totp::otpauth_uri(
            &c.totp_issuer,
            &account,
            &secret_b32,
            c.totp_algorithm,
            c.totp_digits,
            c.totp_period,
        )?);
        let device_id = Uuid::new_v4();
        let sealed = self.cipher.seal(secret.as_ref(), &associated_data("totp", &uid.to_key(), &device_id));
        self.check_pending_devices(&self.db, user, MfaMethod::Totp).await?;
        let is_primary = !self.has_confirmed_factor(&uid).await?;
        let device =
            NewDevice { id: device_id, kind: MfaMethod::Totp, name, sealed: Some(&sealed), sms: None, is_primary };
        self.enrol_device(user, device).await?;
        Ok(TotpSetup { device_id, secret: secret_b32, otpauth_uri: uri })
    }

    /// In the transaction that made `new` count: drops the user's other unconfirmed devices
    /// and passkey registrations under way, and, when `new` is the user's first factor, the
    /// backup codes made before it was set up.
    ///
    /// While a user has no factor, setting one up asks for no step-up, so whoever holds the
    /// password can start an enrolment. Left unconfirmed, it could be confirmed later from a
    /// password-only login, after the user enrolled a factor of their own, and so pass the
    /// second factor and take the account's MFA over; the backup codes of such a `setupTotp`
    /// would pass it too. What is enrolled once a factor counts needs a step-up.
    ///
    /// Returns whether `new` is the user's first factor (no other confirmed device or passkey).
    pub(crate) async fn settle_enrolments(txn: &impl ConnectionTrait, uid: &Id, new: NewFactor) -> Result<bool, DbErr> {
        let id = new.id.to_string();
        txn.execute(
            Query::delete()
                .from_table(MfaDevices::Table)
                .and_where(Expr::col(MfaDevices::UserId).eq(uid.to_db_value()))
                .and_where(Expr::col(MfaDevices::Confirmed).eq(false))
                .and_where(Expr::col(MfaDevices::Id).ne(id.as_str())),
        )
        .await?;
        txn.execute(
            Query::delete()
                .from_table(MfaPasskeyCeremonies::Table)
                .and_where(Expr::col(MfaPasskeyCeremonies::UserKey).eq(uid.to_key()))
                .and_where(Expr::col(MfaPasskeyCeremonies::Kind).eq("registration")),
        )
        .await?;
        let first = !Self::has_confirmed_factor_in(txn, uid, Some(&id)).await?;
        if first {
            txn.execute(
                Query::delete()
                    .from_table(MfaBackupCodes::Table)
                    .and_where(Expr::col(MfaBackupCodes::UserId).eq(uid.to_db_value()))
                    .and_where(Expr::col(MfaBackupCodes::CreatedAt).lt(new.created_at)),
            )
            .await?;
        }
        Ok(first)
    }

    /// Stores a new unconfirmed device in place of the user's unconfirmed enrolment of `kind`:
    /// the old one dropped and the new one inserted in one transaction under the user's
    /// throttle row lock ([`throttle::lock_row`]). Concurrent setups by one user take turns, so
    /// exactly one enrolment of a kind stays pending: the last one committed. The
    /// `max_pending_devices` cap is counted again under that lock, so racing setups of
    /// different kinds cannot both pass it ([`MfaError::RateLimited`], nothing changed). A
    /// first factor's setup (`is_primary`: the caller asked for no step-up) is refused when a
    /// factor was confirmed meanwhile ([`settle_enrolments`](Self::settle_enrolments) ran
    /// before it under the same lock).
    pub(crate) async fn enrol_device(
        &self,
        user: &impl MfaUser<Id = Id>,
        device: NewDevice<'_>,
    ) -> Result<(), MfaError> {
        let uid = user.mfa_user_id();
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        for _ in 0..3 {
            let txn = self.db.begin_with_options(options).await?;
            if !throttle::lock_row(&txn, &uid).await? {
                txn.rollback().await?;
                throttle::ensure_row(&self.db, &uid, Utc::now()).await?;
                continue;
            }
            if let Err(refused) = self.check_pending_devices(&txn, user, device.kind).await {
                txn.rollback().await?;
                return Err(refused);
            }
            if device.is_primary && Self::has_confirmed_factor_in(&txn, &uid, None).await? {
                txn.rollback().await?;
                return Err(MfaError::InvalidInput(
                    "a second factor was confirmed while this one was being set up: setting up another one now needs a step-up (pass a second factor, then try again)".to_owned(),
                ));
            }
            txn.execute(
                Query::delete()
                    .from_table(MfaDevices::Table)
                    .and_where(Expr::col(MfaDevices::UserId).eq(uid.to_db_value()))
                    .and_where(Expr::col(MfaDevices::DeviceType).eq(device.kind.as_str()))
                    .and_where(Expr::col(MfaDevices::Confirmed).eq(false)),
            )
            .await?;
            Self::insert_device(&txn, &uid, &device).await?;
            return Ok(txn.commit().await?);
        }
        Err(DbErr::Custom("could not lock the user's mfa_throttle row".to_owned()).into())
    }

    async fn insert_device(txn: &DatabaseTransaction, uid: &Id, device: &NewDevice<'_>) -> Result<(), DbErr> {
        let NewDevice { id: device_id, kind, name, sealed, sms, is_primary } = *device;
        let code = sms.map(|(_, code)| code);
        let key_id = sealed.map(|s| s.key_id.clone()).or_else(|| code.map(|c| c.key_id.clone()));
        txn.execute(
            Query::insert()
                .into_table(MfaDevices::Table)
                .columns([
                    MfaDevices::Id,
                    MfaDevices::UserId,
                    MfaDevices::DeviceType,
                    MfaDevices::Name,
                    MfaDevices::SecretKey,
                    MfaDevices::KeyId,
                    MfaDevices::PhoneNumber,
                    MfaDevices::IsActive,
                    MfaDevices::IsPrimary,
                    MfaDevices::Confirmed,
                    MfaDevices::SmsCodeAttempts,
                    MfaDevices::SmsCodeHash,
                    MfaDevices::SmsCodeSentAt,
                    MfaDevices::SmsCodeExpiresAt,
                    MfaDevices::CreatedAt,
                ])
                .values_panic(
                    [
                        device_id.to_string().into(),
                        uid.to_db_value(),
                        kind.as_str().into(),
                        name.into(),
                        sealed.map(|s| s.blob.clone()).into(),
                        key_id.into(),
                        sms.map(|(phone, _)| phone.to_owned()).into(),
                        true.into(),
                        is_primary.into(),
                        false.into(),
                        0i32.into(),
                        code.map(|c| c.mac.clone()).into(),
                        code.map(|c| c.sent_at).into(),
                        code.map(|c| c.expires_at).into(),
                        Utc::now().into(),
                    ]
                    .map(Expr::val),
                ),
        )
        .await?;
        Ok(())
    }

    /// The QR code of an `otpauth://` URI (from [`TotpSetup::otpauth_uri`]) as a PNG data URL
    /// and as SVG.
    pub fn generate_qr_code(&self, otpauth_uri: &str) -> Result<TotpQrCode, MfaError> {
        Ok(TotpQrCode { png_data_url: totp::qr_png_data_url(otpauth_uri)?, svg: totp::qr_svg(otpauth_uri)? })
    }

    /// Checks a TOTP code now. See [`verify_totp_code_at`](Self::verify_totp_code_at).
    pub async fn verify_totp_code(&self, user: &impl MfaUser<Id = Id>, code: &str) -> Result<bool, MfaError> {
        self.verify_totp_code_at(user, code, Utc::now()).await
    }

    /// Checks a TOTP code at instant `at`: `Ok(true)` at most once per code and device (the
    /// device's last accepted time step moves forward by a compare-and-set `UPDATE`, so a
    /// replay fails even on another instance). A first valid code confirms a new device.
    /// Wrong, malformed and replayed codes return `Ok(false)` and count towards the throttle;
    /// while throttled the call fails with [`MfaError::Locked`] without checking the code.
    pub async fn verify_totp_code_at(
        &self,
        user: &impl MfaUser<Id = Id>,
        code: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, MfaError> {
        self.totp_verdict(user, code, at).await.map(Verdict::passed)
    }

    /// [`verify_totp_code_at`](Self::verify_totp_code_at), saying whether the code confirmed
    /// the user's first factor.
    pub(crate) async fn totp_verdict(
        &self,
        user: &impl MfaUser<Id = Id>,
        code: &str,
        at: DateTime<Utc>,
    ) -> Result<Verdict, MfaError> {
        let attempt = Attempt { user, method: MfaMethod::Totp, factor: Factor::Code, at };
        let c = &self.config;
        let user_key = user.mfa_user_id().to_key();
        let normalize = |code: &str| normalize_digits(code, c.totp_digits);
        let matching_step = |device: &DeviceRow, code: &String| -> Result<Option<u64>, MfaError> {
            let (Some(blob), Some(key_id)) = (&device.secret_key, &device.key_id) else { return Ok(None) };
            let secret = self.cipher.open(key_id, blob, &associated_data("totp", &user_key, &device.id))?;
            Ok(totp::matching_step(
                c.totp_algorithm,
                c.totp_digits,
                c.totp_period,
                c.totp_skew,
                &secret,
                code,
                unix(at),
            ))
        };
        let check = async |txn: &DatabaseTransaction, devices: &[DeviceRow], code: String| {
            let mut replayed = false;
            for device in devices {
                let Some(step) = matching_step(device, &code)? else { continue };
                if Self::advance_totp_step(txn, device.id, step, at).await? {
                    return Ok(Checked::Accepted { confirmed: (!device.device.confirmed).then(|| device.into()) });
                }
                replayed = true;
            }
            Ok(Checked::Refused(if replayed { "code already used" } else { "invalid code" }))
        };
        self.verify_locked_attempt(attempt, code, normalize, check).await
    }

    /// The compare-and-set: true when this call moved the device's last step to `step`.
    pub(crate) async fn advance_totp_step(
        db: &impl ConnectionTrait,
        device_id: Uuid,
        step: u64,
        at: DateTime<Utc>,
    ) -> Result<bool, DbErr> {
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        let result = db
            .execute(
                Query::update()
                    .table(MfaDevices::Table)
                    .value(MfaDevices::LastTotpStep, step)
                    .value(MfaDevices::LastUsed, at)
                    .value(MfaDevices::Confirmed, true)
                    .and_where(Expr::col(MfaDevices::Id).eq(device_id.to_string()))
                    .and_where(Expr::col(MfaDevices::IsActive).eq(true))
                    .and_where(
                        Expr::col(MfaDevices::LastTotpStep).is_null().or(Expr::col(MfaDevices::LastTotpStep).lt(step)),
                    ),
            )
            .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Re-encrypts every stored secret that is not under the cipher's current key; returns how
    /// many were moved. Run it after adding a new current key (keep the old one as a previous
    /// key until this has run on every database).
    pub async fn reencrypt_secrets(&self) -> Result<u64, MfaError> {
        let current = self.cipher.current_key_id().to_owned();
        let rows = self
            .db
            .query_all(
                Query::select()
                    .columns(DEVICE_COLUMNS)
                    .from(MfaDevices::Table)
                    .and_where(Expr::col(MfaDevices::SecretKey).is_not_null())
                    .and_where(Expr::col(MfaDevices::KeyId).ne(current.as_str())),
            )
            .await?;
        let mut moved = 0;
        for row in &rows {
            let device = device_row(row)?;
            let uid = Id::from_row(row, MfaDevices::UserId.unquoted())?;
            let (Some(blob), Some(key_id)) = (&device.secret_key, &device.key_id) else { continue };
            let aad = associated_data(device.device.device_type.as_str(), &uid.to_key(), &device.id);
            let plaintext = self.cipher.open(key_id, blob, &aad)?;
            let sealed = self.cipher.seal(&plaintext, &aad);
            // Only if nobody changed the secret meanwhile.
            let result = self
                .db
                .execute(
                    Query::update()
                        .table(MfaDevices::Table)
                        .value(MfaDevices::SecretKey, sealed.blob)
                        .value(MfaDevices::KeyId, sealed.key_id)
                        .and_where(Expr::col(MfaDevices::Id).eq(device.id.to_string()))
                        .and_where(Expr::col(MfaDevices::KeyId).eq(key_id.as_str()))
                        .and_where(Expr::col(MfaDevices::SecretKey).eq(blob.as_str())),
                )
                .await?;
            moved += result.rows_affected();
        }
        Ok(moved)
    }
}
