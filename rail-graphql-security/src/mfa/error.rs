use chrono::{DateTime, Utc};
use sea_orm::DbErr;

/// What can go wrong in the MFA runtime. A wrong code is not an error: the `verify_*` methods
/// return `Ok(false)` for it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MfaError {
    /// The database failed; nothing was changed by the failed statement.
    #[error("MFA storage error: {0}")]
    Database(#[from] DbErr),
    /// The configuration is unusable; the message says which setting to fix.
    #[error("invalid MFA configuration: {0}")]
    Config(String),
    /// Too many failed second-factor attempts: the user must wait.
    #[error("too many failed second-factor attempts; try again after {until}")]
    Locked {
        /// When attempts are allowed again.
        until: DateTime<Utc>,
    },
    /// Too many consecutive failed second-factor attempts
    /// ([`MfaConfig::max_consecutive_failures`](super::MfaConfig::max_consecutive_failures)):
    /// TOTP and SMS codes are refused until a backup code is accepted or an administrator calls
    /// [`MfaManager::unlock`](super::MfaManager::unlock).
    #[error(
        "too many consecutive failed second-factor attempts: codes are locked until you use a backup code or an administrator unlocks the account"
    )]
    LockedUntilRecovery,
    /// A rate limit refused the operation (an SMS quota, or too many pending enrolments); it
    /// was not carried out.
    #[error("{what} limit reached; try again later")]
    RateLimited {
        /// Which limit: `sms_per_user`, `sms_per_number`, `sms_per_address`, `sms_global` or
        /// `pending_devices`.
        what: &'static str,
        /// How long until it may succeed, when known.
        retry_after: Option<std::time::Duration>,
    },
    /// SMS are not sent to this country ([`MfaConfig::sms_allowed_country_codes`](super::MfaConfig::sms_allowed_country_codes)).
    #[error(
        "SMS codes cannot be sent to this country; use a phone number from an allowed country or an authenticator app"
    )]
    SmsCountryNotAllowed,
    /// The shared rate-limit store (Redis) failed; nothing was sent.
    #[error("MFA rate limit store failed: {0}")]
    RateLimitStore(#[from] crate::rate_limit::RateLimitError),
    /// The user has no active device of this kind.
    #[error("no active {method} device for this user; set one up first")]
    NoDevice {
        /// `totp`, `sms` or `backup_codes`.
        method: &'static str,
    },
    /// No device with this id belongs to the user.
    #[error("no MFA device {0} for this user")]
    UnknownDevice(uuid::Uuid),
    /// A stored secret was encrypted under a key id the cipher does not hold.
    #[error(
        "stored MFA secret uses encryption key {key_id:?}, which is not configured: add it to the SecretCipher as a previous key until MfaManager::reencrypt_secrets has run"
    )]
    UnknownKey {
        /// The key id stored with the secret.
        key_id: String,
    },
    /// A stored secret failed authentication: it was altered, or moved to another user/device.
    #[error(
        "stored MFA secret failed authentication (altered, or copied from another user or device); re-enrol the device"
    )]
    Tampered,
    /// A name or other input is out of bounds; the message says what is allowed.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The phone number is not in E.164 form.
    #[error("invalid phone number: write it in E.164 form, a '+', the country code and the number, e.g. +14155550123")]
    InvalidPhoneNumber,
    /// No SMS provider is configured.
    #[error("no SMS provider is configured: call MfaManager::with_sms_provider (Twilio or AWS SNS)")]
    NoSmsProvider,
    /// The SMS provider failed; the code was not delivered and is not valid.
    #[error("the SMS code could not be sent: {0}")]
    Sms(#[from] super::sms::SmsError),
    /// A code was sent too recently.
    #[error("an SMS code was sent too recently; try again after {retry_after}")]
    SmsResendThrottled {
        /// When the next code may be sent.
        retry_after: DateTime<Utc>,
    },
    /// Passkeys are not configured on this server.
    #[error("passkeys are not configured: set mfa.passkeys.rp_id and mfa.passkeys.origins")]
    PasskeysDisabled,
    /// The passkey ceremony is unknown, expired, already finished, or was begun for another
    /// user or purpose; nothing was checked.
    #[error("this passkey ceremony is unknown, expired or already used; begin a new one")]
    CeremonyExpired,
    /// The browser's credential is not a WebAuthn credential in JSON form.
    #[error("malformed passkey credential: {0}; send the JSON of the PublicKeyCredential, binary fields base64url")]
    MalformedCredential(String),
    /// The passkey was refused: wrong origin or relying party, bad signature, a credential the
    /// ceremony did not allow, or one registered already. Audited as a failure.
    #[error("the passkey was not accepted: {0}")]
    PasskeyRejected(String),
    /// The authenticator's signature counter did not move forward: the credential may have been
    /// cloned. Refused and audited as `suspicious_activity`.
    #[error("the passkey was refused: its signature counter went backwards (a cloned authenticator?)")]
    PasskeyCounterRegression,
    /// No passkey with this id belongs to the user.
    #[error("no passkey {0} for this user")]
    UnknownPasskey(uuid::Uuid),
    /// The QR code could not be built (the URI is too long for a QR code).
    #[error("cannot build the QR code: {0}")]
    QrCode(String),
}
