//! Environment profiles: which set of defaults a config starts from.

use std::fmt;
use std::str::FromStr;

use super::error::ConfigError;

/// The environment variable that names the active profile (`development` when unset).
pub const PROFILE_ENV_VAR: &str = "RAIL_SECURITY_ENV";

/// An environment profile. Each config value may have its own default per profile
/// (`#[security(default = 5, production = 3)]`); a custom profile uses the `default` values
/// (or its own, `#[security(profile(qa = 4))]`).
///
/// ```
/// use rail_graphql_security::config::Profile;
///
/// assert_eq!("production".parse::<Profile>().unwrap(), Profile::Production);
/// assert_eq!("prod".parse::<Profile>().unwrap(), Profile::Production);
/// assert_eq!("qa".parse::<Profile>().unwrap().name(), "qa");
/// assert!("QA env!".parse::<Profile>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Profile {
    /// Local development: convenient, not hardened.
    #[default]
    Development,
    /// A production-like rehearsal environment.
    Staging,
    /// Production: every hardening default on; `check` treats failures as critical.
    Production,
    /// A profile named by the application (lowercase letters, digits, `-`, `_`).
    Custom(String),
}

impl Profile {
    /// The profile's name as written in files, env vars and on the command line.
    pub fn name(&self) -> &str {
        match self {
            Profile::Development => "development",
            Profile::Staging => "staging",
            Profile::Production => "production",
            Profile::Custom(name) => name,
        }
    }

    /// Whether this is the production profile.
    pub fn is_production(&self) -> bool {
        matches!(self, Profile::Production)
    }

    /// The profile named by `RAIL_SECURITY_ENV`, or `development` when it is unset or empty.
    pub fn from_env() -> Result<Profile, ConfigError> {
        Self::from_env_value(std::env::var(PROFILE_ENV_VAR).ok().as_deref())
    }

    pub(crate) fn from_env_value(value: Option<&str>) -> Result<Profile, ConfigError> {
        match value.map(str::trim) {
            None | Some("") => Ok(Profile::Development),
            Some(name) => name.parse().map_err(|message: String| ConfigError::Profile {
                source_name: format!("environment variable {PROFILE_ENV_VAR}"),
                message,
            }),
        }
    }
}

impl FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "development" | "dev" => Ok(Profile::Development),
            "staging" | "stage" => Ok(Profile::Staging),
            "production" | "prod" => Ok(Profile::Production),
            other
                if !other.is_empty()
                    && other.len() <= 64
                    && other
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') =>
            {
                Ok(Profile::Custom(other.to_owned()))
            }
            other => Err(format!(
                "`{other}` is not a profile name: use development, staging, production, or a name of lowercase \
                 letters, digits, `-` and `_`"
            )),
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
