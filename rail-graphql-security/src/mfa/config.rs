use std::time::Duration;

use self::bounds::*;
use super::error::MfaError;
use super::policy::MfaPolicy;
use crate::rate_limit::Quota;

/// The HMAC behind TOTP codes (RFC 6238 allows SHA1, SHA256 and SHA512).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TotpAlgorithm {
    /// HMAC-SHA1, what every authenticator app supports.
    #[default]
    Sha1,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

impl TotpAlgorithm {
    /// The name in an `otpauth://` URI.
    pub fn uri_name(self) -> &'static str {
        match self {
            TotpAlgorithm::Sha1 => "SHA1",
            TotpAlgorithm::Sha256 => "SHA256",
            TotpAlgorithm::Sha512 => "SHA512",
        }
    }
}

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

/// The allowed values of the MFA settings, shared by [`MfaConfig::validate`] and the `mfa`
/// section of [`StandardSecurityConfig`](crate::config::StandardSecurityConfig), so a value the
/// config loader accepts is one the runtime accepts.
pub mod bounds {
    /// Fewest seconds in a TOTP time step.
    pub const MIN_TOTP_PERIOD: u64 = 15;
    /// Most seconds in a TOTP time step.
    pub const MAX_TOTP_PERIOD: u64 = 300;
    /// Fewest backup codes per user.
    pub const MIN_BACKUP_CODES: u32 = 1;
    /// Most backup codes per user.
    pub const MAX_BACKUP_CODES: u32 = 50;
    /// Shortest backup code (shorter ones are guessable).
    pub const MIN_BACKUP_CODE_LENGTH: u32 = 8;
    /// Longest backup code.
    pub const MAX_BACKUP_CODE_LENGTH: u32 = 32;
    /// Fewest days a trusted device is remembered.
    pub const MIN_TRUSTED_DEVICE_DAYS: u32 = 1;
    /// Most days a trusted device is remembered.
    pub const MAX_TRUSTED_DEVICE_DAYS: u32 = 365;
    /// Shortest SMS code lifetime, in minutes (the runtime also accepts seconds).
    pub const MIN_SMS_CODE_TTL_MINUTES: u32 = 1;
    /// Longest SMS code lifetime, in minutes.
    pub const MAX_SMS_CODE_TTL_MINUTES: u32 = 60;
    /// Shortest step-up window, in seconds.
    pub const MIN_STEP_UP_WINDOW_SECONDS: u64 = 30;
    /// Longest step-up window, in seconds (a day).
    pub const MAX_STEP_UP_WINDOW_SECONDS: u64 = 86_400;

    /// `TOTP_DIGITS`: 6 or 8 (what authenticator apps support).
    pub fn check_totp_digits(digits: &u32) -> Result<(), &'static str> {
        if matches!(digits, 6 | 8) { Ok(()) } else { Err("must be 6 or 8 (the lengths authenticator apps support)") }
    }

    /// `TOTP_ISSUER`: not empty, no `:` (the Key URI format uses it as a separator).
    #[expect(clippy::ptr_arg, reason = "the config derive passes `&FieldType`")]
    pub fn check_totp_issuer(issuer: &String) -> Result<(), &'static str> {
        if issuer.trim().is_empty() || issuer.contains(':') {
            Err("must be non-empty and must not contain ':' (Key URI format)")
        } else {
            Ok(())
        }
    }
}

/// Passkey (WebAuthn) settings: the relying party passkeys are bound to
/// (`mfa.passkeys.*`). Passkeys are off until [`rp_id`](Self::rp_id) is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyConfig {
    /// The relying-party id: the domain passkeys are bound to, e.g. `example.com` (a passkey
    /// made for it works on it and its subdomains, and nowhere else). `None` turns passkeys off.
    pub rp_id: Option<String>,
    /// The name authenticators show next to the passkey.
    pub rp_name: String,
    /// The origins pages may run ceremonies from, e.g. `https://app.example.com`; each one's host
    /// is `rp_id` or a subdomain of it, and the port must match exactly. `http` only for
    /// `localhost` (browsers treat it as secure).
    pub origins: Vec<String>,
    /// How long a ceremony, once begun, may be finished (default 5 minutes).
    pub ceremony_ttl: Duration,
}

impl Default for PasskeyConfig {
    fn default() -> Self {
        PasskeyConfig {
            rp_id: None,
            rp_name: "rail-graphql-security".to_owned(),
            origins: Vec::new(),
            ceremony_ttl: Duration::from_secs(300),
        }
    }
}

impl PasskeyConfig {
    /// Passkeys for relying party `rp_id`, run from `origins`.
    pub fn new<I, S>(rp_id: impl Into<String>, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        PasskeyConfig {
            rp_id: Some(rp_id.into()),
            origins: origins.into_iter().map(Into::into).collect(),
            ..PasskeyConfig::default()
        }
    }

    /// Checks the relying party and its origins; the error names the setting.
    pub fn validate(&self) -> Result<(), MfaError> {
        let Some(rp_id) = &self.rp_id else { return Ok(()) };
        let bad = |msg: String| Err(MfaError::Config(msg));
        let rp_id = rp_id.trim();
        if rp_id.is_empty() || rp_id.contains(['/', ':', ' ']) {
            return bad(format!(
                "mfa.passkeys.rp_id {rp_id:?} must be a bare domain such as example.com (no scheme, port or path)"
            ));
        }
        if self.rp_name.trim().is_empty() {
            return bad("mfa.passkeys.rp_name must not be empty".to_owned());
        }
        if self.origins.is_empty() {
            return bad(format!(
                "mfa.passkeys.origins is empty: list the origins pages run passkey ceremonies from, e.g. https://{rp_id}"
            ));
        }
        for origin in &self.origins {
            let parsed = url::Url::parse(origin.trim()).map_err(|e| {
                MfaError::Config(format!(
                    "mfa.passkeys.origins: {origin:?} is not a URL ({e}); write e.g. https://{rp_id}"
                ))
            })?;
            let host = parsed.host_str().unwrap_or_default();
            let within = host == rp_id || host.ends_with(&format!(".{rp_id}"));
            if !within {
                return bad(format!(
                    "mfa.passkeys.origins: the host of {origin:?} is neither mfa.passkeys.rp_id ({rp_id}) nor a subdomain of it"
                ));
            }
            match parsed.scheme() {
                "https" => {}
                "http" if host == "localhost" => {}
                _ => {
                    return bad(format!(
                        "mfa.passkeys.origins: {origin:?} must be https (http only for localhost, which browsers treat as secure)"
                    ));
                }
            }
        }
        if self.ceremony_ttl < Duration::from_secs(30) || self.ceremony_ttl > Duration::from_secs(600) {
            return bad("mfa.passkeys.ceremony_ttl_seconds must be between 30 and 600".to_owned());
        }
        Ok(())
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
    /// it is refused with [`MfaError::RateLimited`] (a new enrolment replaces the pending one
    /// of its own kind, which is not counted). Each kind keeps at most one pending enrolment,
    /// so only `1` refuses anything: a TOTP setup while an SMS one is pending, or the reverse.
    /// Default 3.
    pub max_pending_devices: u32,
    /// Users holding any of these roles must pass a second factor even before enrolling
    /// (see [`MfaUser::mfa_roles`](super::MfaUser::mfa_roles)); the `mfa.required_for_roles` key.
    pub required_for_roles: Vec<String>,
    /// What a password-only session of a user with a second factor may do
    /// (`mfa.pending_session_policy`); default [`MfaPolicy::HighestAvailable`] (see
    /// [`policy`](super::policy)).
    pub pending_session_policy: MfaPolicy,
    /// How recently a factor the user passed (`totp`, `sms`, `backup_code`, `passkey`; never a trusted device)
    /// must have been passed to change factors (`setupTotp`, `setupSms`, `generateBackupCodes`,
    /// `removeMfaDevice`, `disableMfa`, `revokeTrustedDevice`); `mfa.step_up_window_seconds`,
    /// default 10 minutes.
    pub step_up_window: Duration,
    /// Passkeys (WebAuthn): off until a relying party is set (`mfa.passkeys.*`).
    pub passkeys: PasskeyConfig,
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
            required_for_roles: Vec::new(),
            pending_session_policy: MfaPolicy::default(),
            step_up_window: super::policy::DEFAULT_STEP_UP_WINDOW,
            passkeys: PasskeyConfig::default(),
        }
    }
}

impl MfaConfig {
    /// Checks every setting; the error names the setting and its allowed values.
    pub fn validate(&self) -> Result<(), MfaError> {
        let bad = |msg: &str| Err(MfaError::Config(msg.to_owned()));
        let named =
            |key: &str, result: Result<(), &str>| result.map_err(|why| MfaError::Config(format!("{key} {why}")));
        named("TOTP_ISSUER", check_totp_issuer(&self.totp_issuer))?;
        named(
            "TOTP_DIGITS",
            u32::try_from(self.totp_digits).map_err(|_| "must be 6 or 8").and_then(|d| check_totp_digits(&d)),
        )?;
        if !(MIN_TOTP_PERIOD..=MAX_TOTP_PERIOD).contains(&self.totp_period) {
            return Err(MfaError::Config(format!(
                "TOTP_PERIOD must be between {MIN_TOTP_PERIOD} and {MAX_TOTP_PERIOD} seconds (30 is standard)"
            )));
        }
        if self.totp_skew > 2 {
            return bad("the TOTP skew must be 0, 1 or 2 steps");
        }
        if !(MIN_BACKUP_CODES as usize..=MAX_BACKUP_CODES as usize).contains(&self.backup_codes_count) {
            return Err(MfaError::Config(format!(
                "BACKUP_CODES_COUNT must be between {MIN_BACKUP_CODES} and {MAX_BACKUP_CODES}"
            )));
        }
        if !(MIN_BACKUP_CODE_LENGTH as usize..=MAX_BACKUP_CODE_LENGTH as usize).contains(&self.backup_code_length) {
            return Err(MfaError::Config(format!(
                "BACKUP_CODE_LENGTH must be between {MIN_BACKUP_CODE_LENGTH} and {MAX_BACKUP_CODE_LENGTH} (shorter codes are guessable)"
            )));
        }
        if self.backup_code_hashing.memory_kib < 64 || self.backup_code_hashing.iterations == 0 {
            return bad("backup-code hashing needs at least 64 KiB and 1 iteration");
        }
        if !(MIN_TRUSTED_DEVICE_DAYS..=MAX_TRUSTED_DEVICE_DAYS).contains(&self.trusted_device_duration_days) {
            return Err(MfaError::Config(format!(
                "TRUSTED_DEVICE_DURATION_DAYS must be between {MIN_TRUSTED_DEVICE_DAYS} and {MAX_TRUSTED_DEVICE_DAYS}"
            )));
        }
        if !(6..=10).contains(&self.sms_code_digits) {
            return bad("the SMS code length must be between 6 and 10 digits");
        }
        if self.sms_code_ttl.is_zero()
            || self.sms_code_ttl > Duration::from_secs(u64::from(MAX_SMS_CODE_TTL_MINUTES) * 60)
        {
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
        if !(MIN_STEP_UP_WINDOW_SECONDS..=MAX_STEP_UP_WINDOW_SECONDS).contains(&self.step_up_window.as_secs()) {
            return Err(MfaError::Config(format!(
                "step_up_window must be between {MIN_STEP_UP_WINDOW_SECONDS} and {MAX_STEP_UP_WINDOW_SECONDS} seconds (600 is usual)"
            )));
        }
        if self.max_pending_devices == 0 {
            return bad("max_pending_devices must be at least 1 (or no device could ever be set up)");
        }
        self.passkeys.validate()?;
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

impl MfaConfig {
    /// Whether holding `roles` makes MFA mandatory (`required_for_roles`).
    pub fn required_for_any_role<S: AsRef<str>>(&self, roles: &[S]) -> bool {
        roles.iter().any(|role| self.required_for_roles.iter().any(|r| r == role.as_ref()))
    }
}
