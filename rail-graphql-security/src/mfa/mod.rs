//! Multi-factor authentication: TOTP, SMS codes, backup codes, passkeys (WebAuthn) and trusted
//! devices.
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

// Always compiled: the settings, their bounds and the session policy are read by the config
// loader and the request context, which work without the MFA runtime.
mod config;
mod error;
mod method;
pub mod policy;
mod requirement;
pub mod sms;

// The MFA runtime (feature `mfa`): the manager, its storage and crypto, the GraphQL API.
#[cfg(feature = "mfa")]
mod adoption;
#[cfg(feature = "mfa")]
mod attempt;
#[cfg(feature = "mfa")]
mod backup;
#[cfg(feature = "mfa")]
#[cfg_attr(docsrs, doc(cfg(feature = "mfa")))]
pub mod graphql;
#[cfg(feature = "mfa")]
mod manager;
#[cfg(feature = "mfa")]
mod passkey;
#[cfg(feature = "mfa")]
mod secret;
#[cfg(feature = "mfa")]
mod sms_codes;
#[cfg(feature = "mfa")]
mod sms_limits;
#[cfg(feature = "mfa")]
mod store;
#[cfg(feature = "mfa")]
mod throttle;
#[cfg(feature = "mfa")]
mod totp;
#[cfg(feature = "mfa")]
mod trusted;

#[cfg(feature = "mfa")]
pub use self::adoption::{MethodCount, MfaAdoption, adoption};
#[cfg(feature = "mfa")]
pub use self::backup::BACKUP_CODE_ALPHABET;
pub use self::config::{BackupCodeHashing, MfaConfig, PasskeyConfig, SmsQuotas, ThrottleConfig, TotpAlgorithm, bounds};
pub use self::error::MfaError;
#[cfg(all(feature = "axum", feature = "mfa"))]
pub(crate) use self::manager::check_sms_provider;
#[cfg(feature = "mfa")]
pub use self::manager::{MfaAccount, MfaDevice, MfaManager, MfaUser, TotpQrCode, TotpSetup};
pub use self::method::{MfaMethod, UnknownMfaMethod};
#[cfg(all(feature = "axum", feature = "mfa"))]
pub(crate) use self::passkey::relying_party;
#[cfg(feature = "mfa")]
pub use self::passkey::{PasskeyCeremony, PasskeyInfo};
pub use self::requirement::{AuditAs, MfaRequirement, enforce_mfa};
#[cfg(feature = "mfa")]
pub use self::secret::{EncryptionKey, SecretCipher};
#[cfg(feature = "mfa")]
pub use self::sms_codes::MAX_SMS_CODE_ATTEMPTS;
#[cfg(feature = "mfa")]
pub use self::store::MfaUserId;
#[cfg(feature = "mfa")]
pub use self::totp::{otpauth_uri, qr_png_data_url, qr_svg, totp_code_at};
#[cfg(feature = "mfa")]
pub use self::trusted::{TrustedDevice, TrustedDeviceToken};
