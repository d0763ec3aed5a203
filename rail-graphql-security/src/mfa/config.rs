use std::time::Duration;

use super::error::MfaError;
use super::totp::TotpAlgorithm;

/// Back-off and lockout of failed second-factor attempts, per user.
///
/// After `free_attempts` consecutive failures each further failure blocks attempts for
/// `base_delay × 2^(n − free_attempts − 1)` (at most `max_delay`); at `lockout_threshold`
/// consecutive failures the user is locked out for `lockout_duration` and an `account_locked`
/// event is logged. A success resets the count. NIST SP 800-63B §5.2.2 caps consecutive
/// failures at 100; the default locks at 10.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Failures allowed before any delay.
    pub free_attempts: u32,
    /// The first delay.
    pub base_delay: Duration,
    /// The longest back-off delay.
    pub max_delay: Duration,
    /// Consecutive failures that lock the user out.
    pub lockout_threshold: u32,
    /// How long a lockout lasts.
    pub lockout_duration: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            free_attempts: 3,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            lockout_threshold: 10,
            lockout_duration: Duration::from_secs(15 * 60),
        }
    }
}

/// Argon2id cost of backup-code hashes. The default is OWASP's (19 MiB, 2 passes); lower it
/// only in tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupCodeHashing {
    /// Memory per hash in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
}

impl Default for BackupCodeHashing {
    fn default() -> Self {
        BackupCodeHashing { memory_kib: 19 * 1024, iterations: 2 }
    }
}

/// MFA settings, named after the original package's `MFA_SETTINGS` keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaConfig {
    /// `ENABLED`: when false, [`is_mfa_required`](super::MfaManager::is_mfa_required) is always false.
    pub enabled: bool,
    /// `TOTP_ISSUER`: the name authenticator apps show (no `:`).
    pub totp_issuer: String,
    /// `TOTP_DIGITS`: 6 or 8.
    pub totp_digits: usize,
    /// `TOTP_PERIOD` in seconds.
    pub totp_period: u64,
    /// The HMAC of TOTP codes (SHA1 is what most authenticator apps support).
    pub totp_algorithm: TotpAlgorithm,
    /// Time steps accepted either side of now (clock drift); default 1.
    pub totp_skew: u8,
    /// `BACKUP_CODES_COUNT`.
    pub backup_codes_count: usize,
    /// `BACKUP_CODE_LENGTH`.
    pub backup_code_length: usize,
    /// The Argon2id cost of backup-code hashes.
    pub backup_code_hashing: BackupCodeHashing,
    /// `TRUSTED_DEVICE_DURATION_DAYS`.
    pub trusted_device_duration_days: u32,
    /// Digits of an SMS code.
    pub sms_code_digits: usize,
    /// How long an SMS code stays valid.
    pub sms_code_ttl: Duration,
    /// The shortest time between two SMS to one device.
    pub sms_resend_interval: Duration,
    /// Production profile: refuses development-only parts (the console SMS provider).
    pub production: bool,
    /// Failed-attempt throttling.
    pub throttle: ThrottleConfig,
}

impl Default for MfaConfig {
    fn default() -> Self {
        MfaConfig {
            enabled: true,
            totp_issuer: "rail-graphql-security".to_owned(),
            totp_digits: 6,
            totp_period: 30,
            totp_algorithm: TotpAlgorithm::Sha1,
            totp_skew: 1,
            backup_codes_count: 10,
            backup_code_length: 8,
            backup_code_hashing: BackupCodeHashing::default(),
            trusted_device_duration_days: 30,
            sms_code_digits: 6,
            sms_code_ttl: Duration::from_secs(600),
            sms_resend_interval: Duration::from_secs(60),
            production: false,
            throttle: ThrottleConfig::default(),
        }
    }
}

impl MfaConfig {
    /// Checks every setting; the error names the setting and its allowed values.
    pub fn validate(&self) -> Result<(), MfaError> {
        let bad = |msg: &str| Err(MfaError::Config(msg.to_owned()));
        if self.totp_issuer.is_empty() || self.totp_issuer.contains(':') {
            return bad("TOTP_ISSUER must be non-empty and must not contain ':' (Key URI format)");
        }
        if !matches!(self.totp_digits, 6 | 8) {
            return bad("TOTP_DIGITS must be 6 or 8");
        }
        if !(15..=300).contains(&self.totp_period) {
            return bad("TOTP_PERIOD must be between 15 and 300 seconds (30 is standard)");
        }
        if self.totp_skew > 2 {
            return bad("the TOTP skew must be 0, 1 or 2 steps");
        }
        if !(1..=50).contains(&self.backup_codes_count) {
            return bad("BACKUP_CODES_COUNT must be between 1 and 50");
        }
        if !(8..=32).contains(&self.backup_code_length) {
            return bad("BACKUP_CODE_LENGTH must be between 8 and 32 (shorter codes are guessable)");
        }
        if self.backup_code_hashing.memory_kib < 64 || self.backup_code_hashing.iterations == 0 {
            return bad("backup-code hashing needs at least 64 KiB and 1 iteration");
        }
        if !(1..=365).contains(&self.trusted_device_duration_days) {
            return bad("TRUSTED_DEVICE_DURATION_DAYS must be between 1 and 365");
        }
        if !(6..=10).contains(&self.sms_code_digits) {
            return bad("the SMS code length must be between 6 and 10 digits");
        }
        if self.sms_code_ttl.is_zero() || self.sms_code_ttl > Duration::from_secs(3600) {
            return bad("the SMS code lifetime must be between 1 second and 1 hour (10 minutes is usual)");
        }
        let t = &self.throttle;
        if t.lockout_threshold == 0 || t.lockout_threshold > 100 {
            return bad("the lockout threshold must be between 1 and 100 consecutive failures (NIST SP 800-63B)");
        }
        if t.free_attempts >= t.lockout_threshold {
            return bad("free_attempts must be lower than lockout_threshold");
        }
        if t.lockout_duration.is_zero() {
            return bad("the lockout duration must be longer than zero");
        }
        Ok(())
    }
}
