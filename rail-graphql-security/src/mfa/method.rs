//! The one vocabulary of second-factor methods: what a session passed, what a user has enrolled,
//! what a device is, what a requirement accepts and what an audit event names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A second-factor method.
///
/// Its text form ([`as_str`](Self::as_str), serde, JWT claims, audit events, `MFA_REQUIRED`'s
/// `methods`) is `totp`, `sms`, `backup_code` or `passkey`; [`parse`](Self::parse) also reads
/// `backup_codes`, the spelling of device rows and audit events written by earlier versions.
/// In GraphQL it is the enum `MfaDeviceType` (`TOTP`, `SMS`, `BACKUP_CODES`, `PASSKEY`).
///
/// A trusted device standing in for the second factor is not a method: the session records it
/// in [`MfaState::trusted_device`](crate::context::MfaState::trusted_device).
///
/// ```
/// use rail_graphql_security::mfa::MfaMethod;
///
/// assert_eq!(MfaMethod::BackupCode.as_str(), "backup_code");
/// assert_eq!(MfaMethod::parse("backup_codes"), Some(MfaMethod::BackupCode));
/// assert_eq!("sms".parse::<MfaMethod>(), Ok(MfaMethod::Sms));
/// assert_eq!("passkey".parse::<MfaMethod>(), Ok(MfaMethod::Passkey));
/// assert!(MfaMethod::Passkey.is_phishing_resistant() && !MfaMethod::Totp.is_phishing_resistant());
/// assert!("password".parse::<MfaMethod>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "snake_case")]
#[graphql(name = "MfaDeviceType", rename_items = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum MfaMethod {
    /// A time-based one-time password from an authenticator app (RFC 6238).
    Totp,
    /// A code sent by SMS.
    Sms,
    /// A one-time backup code.
    #[serde(alias = "backup_codes")]
    #[graphql(name = "BACKUP_CODES")]
    BackupCode,
    /// A passkey (a WebAuthn credential): a signature bound to the site's origin, so the only
    /// method a phishing page cannot relay.
    Passkey,
}

impl MfaMethod {
    /// Every method, in the order they are listed to users.
    pub const ALL: [MfaMethod; 4] = [MfaMethod::Passkey, MfaMethod::Totp, MfaMethod::Sms, MfaMethod::BackupCode];

    /// The text form: `totp`, `sms`, `backup_code`, `passkey`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::Sms => "sms",
            Self::BackupCode => "backup_code",
            Self::Passkey => "passkey",
        }
    }

    /// Whether the method resists phishing: its proof is bound to the site's origin, so a page
    /// on another origin cannot obtain and relay it (NIST SP 800-63B §5.2.5). Only
    /// [`Passkey`](Self::Passkey); what `#[require_mfa(phishing_resistant)]` demands.
    pub const fn is_phishing_resistant(self) -> bool {
        matches!(self, Self::Passkey)
    }

    /// Reads the text form, and the legacy `backup_codes`; `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "totp" => Some(Self::Totp),
            "sms" => Some(Self::Sms),
            "backup_code" | "backup_codes" => Some(Self::BackupCode),
            "passkey" => Some(Self::Passkey),
            _ => None,
        }
    }
}

impl fmt::Display for MfaMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text that names no [`MfaMethod`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown second-factor method {0:?}: expected `totp`, `sms`, `backup_code` or `passkey`")]
pub struct UnknownMfaMethod(pub String);

impl FromStr for MfaMethod {
    type Err = UnknownMfaMethod;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::parse(name).ok_or_else(|| UnknownMfaMethod(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::MfaMethod;

    #[test]
    fn text_forms_round_trip_and_the_legacy_spelling_is_read() {
        for method in MfaMethod::ALL {
            assert_eq!(MfaMethod::parse(method.as_str()), Some(method));
            assert_eq!(serde_json::to_value(method).unwrap(), method.as_str());
        }
        assert_eq!(serde_json::from_str::<MfaMethod>("\"backup_codes\"").unwrap(), MfaMethod::BackupCode);
        assert!(serde_json::from_str::<MfaMethod>("\"trusted_device\"").is_err());
    }

    #[test]
    fn graphql_values_keep_their_names() {
        use async_graphql::InputType;
        assert_eq!(
            MfaMethod::BackupCode.to_value(),
            async_graphql::Value::Enum(async_graphql::Name::new("BACKUP_CODES"))
        );
        assert_eq!(MfaMethod::Totp.to_value(), async_graphql::Value::Enum(async_graphql::Name::new("TOTP")));
        assert_eq!(MfaMethod::Passkey.to_value(), async_graphql::Value::Enum(async_graphql::Name::new("PASSKEY")));
        assert_eq!(<MfaMethod as InputType>::type_name(), "MfaDeviceType");
    }
}
