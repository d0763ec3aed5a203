//! Multi-factor authentication: TOTP, SMS codes, backup codes and trusted devices.
//!
//! The method vocabulary ([`MfaMethod`]) and the requirement check ([`MfaRequirement`],
//! [`enforce_mfa`]) only read the request's [`SecurityContext`](crate::context::SecurityContext);
//! they need neither the manager nor its storage.
//!
//! [`MfaManager`] is the entry point (the original package's `MFAManager`): it is generic over
//! the type of the application's user ids ([`MfaUserId`]: `i32`, `i64`, `Uuid`, `String`) and
//! keeps everything in the tables of [`crate::migration::CreateMfaTables`], so every instance of
//! the application sharing the database sees the same state.
//!
//! Guarantees:
//! - TOTP secrets are encrypted at rest with AES-256-GCM ([`SecretCipher`]), bound to their
//!   user and device, under a key id so keys can rotate ([`MfaManager::reencrypt_secrets`]);
//! - a TOTP code is accepted at most once per device, even across instances: the last accepted
//!   time step only moves forward, by a compare-and-set `UPDATE`;
//! - a device counts as a second factor only once a first code has confirmed it;
//! - failed attempts are throttled per user in the database (back-off, then lockout; after
//!   [`MfaConfig::max_consecutive_failures`] consecutive ones, whatever lockouts passed, TOTP
//!   and SMS codes stay locked until a backup code or [`MfaManager::unlock`]);
//! - every SMS sent counts against [`SmsQuotas`] per user, number, client address and overall
//!   (shared through Redis with [`MfaManager::with_rate_limiter`]), only to allowed countries;
//! - every enable, disable, success, failure, lockout and refused SMS goes to the
//!   [`AuditLogger`] (never a code, secret, token or phone number).
//!
//! [`AuditLogger`]: crate::audit::AuditLogger

mod adoption;
mod attempt;
mod backup;
mod config;
mod error;
pub mod graphql;
mod manager;
mod method;
pub mod policy;
mod requirement;
mod secret;
pub mod sms;
mod sms_codes;
mod sms_limits;
mod store;
mod throttle;
mod totp;
mod trusted;

pub use self::adoption::{MethodCount, MfaAdoption, adoption};
pub use self::backup::BACKUP_CODE_ALPHABET;
pub use self::config::{BackupCodeHashing, MfaConfig, SmsQuotas, ThrottleConfig, bounds};
pub use self::error::MfaError;
#[cfg(feature = "axum")]
pub(crate) use self::manager::check_sms_provider;
pub use self::manager::{MfaAccount, MfaDevice, MfaManager, MfaUser, TotpQrCode, TotpSetup};
pub use self::method::{MfaMethod, UnknownMfaMethod};
pub use self::requirement::{AuditAs, MfaRequirement, enforce_mfa};
pub use self::secret::{EncryptionKey, SecretCipher};
pub use self::sms_codes::MAX_SMS_CODE_ATTEMPTS;
pub use self::store::MfaUserId;
pub use self::totp::{TotpAlgorithm, otpauth_uri, qr_png_data_url, qr_svg, totp_code_at};
pub use self::trusted::{TrustedDevice, TrustedDeviceToken};
