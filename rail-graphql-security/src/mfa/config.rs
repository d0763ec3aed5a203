use std::time::Duration;

use super::error::MfaError;
use super::totp::TotpAlgorithm;
use crate::rate_limit::Quota;

/// How many SMS the runtime sends, whatever asked for them (`setupSms`, `sendSmsCode`, a login
/// code): each message counts once against every quota, and a message over any of them is not
/// sent ([`MfaError::RateLimited`]). The counters live in the manager's
/// [`RateLimiter`](crate::rate_limit::RateLimiter): in memory by default, in Redis with
/// [`MfaManager::with_rate_limiter`](super::MfaManager::with_rate_limiter) so every instance
/// shares them. SMS cost money per message and are the target of "SMS pumping" (messages to
/// premium numbers an attacker is paid for): the defaults allow a user a first code, a resend
/// and a retry per hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsQuotas {
    /// Per user (default 3 per hour).
    pub per_user: Quota,
    /// Per destination number, normalised E.164 (default 3 per hour).
    pub per_number: Quota,
    /// Per client address, when the request has one (default 10 per hour).
    pub per_address: Quota,
    /// For the whole application (default 100 per hour).
    pub global: Quota,
}

impl Default for SmsQuotas {
    fn default() -> Self {
        let hour = Duration::from_secs(3600);
        SmsQuotas {
            per_user: Quota::new(3, hour),
            per_number: Quota::new(3, hour),
            per_address: Quota::new(10, hour),
            global: Quota::new(100, hour),
        }
    }
}

/// Back-off and lockout of failed second-factor attempts, per user.
///
/// After `free_attempts` consecutive failures each further failure blocks attempts for
/// `base_delay × 2^(n − free_attempts − 1)` (at most `max_delay`); at `lockout_threshold`
/// consecutive failures the user is locked out for `lockout_duration` and an `account_locked`
/// event is logged. A success resets the count. NIST SP 800-63B §5.2.2 caps consecutive
/// failures at 100; the default locks at 10. A lockout ending does not reset the consecutive
/// count that [`MfaConfig::max_consecutive_failures`] bounds for good.
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
    /// Consecutive failed second-factor attempts (across lockout windows: only a success resets
    /// the count) after which TOTP and SMS codes are refused until a recovery: a backup code, or
    /// [`MfaManager::unlock`](super::MfaManager::unlock). At most 100 (NIST SP 800-63B
    /// §5.2.2); default 100.
    pub max_consecutive_failures: u32,
    /// How many SMS are sent per user, number, client address and overall.
    pub sms_quotas: SmsQuotas,
    /// The country calling codes SMS may be sent to, without `+` (e.g. `["1", "33"]`); empty
    /// allows every country. Numbers elsewhere are refused with
    /// [`MfaError::SmsCountryNotAllowed`].
    pub sms_allowed_country_codes: Vec<String>,
    /// Unconfirmed (pending) TOTP and SMS enrolments a user may have at once; a new one beyond
    /// it is refused with [`MfaError::RateLimited`]. Default 3.
    pub max_pending_devices: u32,
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
            max_consecutive_failures: 100,
            sms_quotas: SmsQuotas::default(),
            sms_allowed_country_codes: Vec::new(),
            max_pending_devices: 3,
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
        if !(1..=100).contains(&self.max_consecutive_failures) {
            return bad("max_consecutive_failures must be between 1 and 100 consecutive failures (NIST SP 800-63B)");
        }
        let q = &self.sms_quotas;
        for (name, quota) in [
            ("per_user", q.per_user),
            ("per_number", q.per_number),
            ("per_address", q.per_address),
            ("global", q.global),
        ] {
            if quota.window < Duration::from_secs(1) {
                return Err(MfaError::Config(format!(
                    "sms_quotas.{name}: the window must be at least 1 second (e.g. 3 per hour)"
                )));
            }
        }
        if self.max_pending_devices == 0 {
            return bad("max_pending_devices must be at least 1 (or no device could ever be set up)");
        }
        for code in &self.sms_allowed_country_codes {
            let valid =
                (1..=3).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit()) && !code.starts_with('0');
            if !valid {
                return Err(MfaError::Config(format!(
                    "sms_allowed_country_codes: {code:?} is not a country calling code (1 to 3 digits without '+', e.g. \"1\" or \"33\")"
                )));
            }
        }
        Ok(())
    }
}
