//! Typed security configuration: environment profiles, layered loading, validation, secret
//! redaction, and the checks `rail-security check` scores.
//!
//! Derive [`SecurityConfig`](macro@crate::SecurityConfig) on your own struct, or use
//! [`StandardSecurityConfig`] (the original package's `SecurityConfig` sections: middleware,
//! audit, MFA, plus deployment settings), or embed the standard config in yours:
//!
//! ```
//! use rail_graphql_security::config::{Profile, Secret, SecurityConfig, StandardSecurityConfig};
//!
//! #[derive(Debug, SecurityConfig)]
//! #[security(prefix = "MYAPP")]
//! struct AppConfig {
//!     /// Login attempts before lockout.
//!     #[security(default = 5, production = 3, range = 1..=10)]
//!     max_attempts: u32,
//!     /// Signs the app's own tokens.
//!     #[security(secret, non_empty)]
//!     token_key: Option<Secret>,
//!     /// The plugin's own settings.
//!     #[security(nested)]
//!     security: StandardSecurityConfig,
//! }
//!
//! let config = AppConfig::loader()
//!     .profile(Profile::Production)
//!     .env_vars([("MYAPP__TOKEN_KEY", "k3y"), ("MYAPP__SECURITY__MFA__DIGITS", "8")])
//!     .load()
//!     .unwrap();
//! assert_eq!(config.max_attempts, 3);
//! assert_eq!(config.security.get_mfa_config().digits, 8);
//! assert!(!format!("{config:?}").contains("k3y"));
//! ```
//!
//! Layers, later ones winning: the profile's defaults, the TOML file (`RAIL_SECURITY_CONFIG` or
//! [`Loader::file`]), then environment variables `PREFIX__SECTION__KEY`. The profile comes from
//! `RAIL_SECURITY_ENV` or [`Loader::profile`].

mod check;
/// Helpers for generated code, re-exported as `__private::config`.
pub(crate) mod codegen;
mod error;
mod keys;
mod profile;
mod secret;
mod source;
pub mod standard;
mod strength;
mod validate;
mod value;

pub use check::{Check, CheckReport, Checklist, Fix, Severity};
pub use error::{ConfigError, ConfigErrors, Source};
pub use keys::{KeyCollector, KeyInfo, UnmatchedEnv};
pub use profile::{PROFILE_ENV_VAR, Profile};
pub use secret::{REDACTED, Secret};
pub use source::{CONFIG_FILE_ENV_VAR, Input, LoadContext, Loaded, Loader};
pub use standard::StandardSecurityConfig;
pub use strength::{GENERATE_HINT, WeakSecret, secret_strength};
pub use validate::{Emptiable, Ranged, Urls, Validator};
pub use value::ConfigValue;

pub use crate::config_enum;
/// Derives [`SecurityConfig`](trait@SecurityConfig); see the [module docs](self) for the attributes.
pub use rail_graphql_security_macros::SecurityConfig;

/// A typed security configuration. Implement it with `#[derive(SecurityConfig)]`; the methods
/// other than [`loader`](SecurityConfig::loader), [`load`](SecurityConfig::load) and
/// [`run_checks`](SecurityConfig::run_checks) are called by generated code and the loader.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a security config section",
    note = "add `#[derive(SecurityConfig)]` to `{Self}`, or remove `#[security(nested)]` if it is a plain value"
)]
pub trait SecurityConfig: Sized {
    /// The environment variable prefix (`MYAPP` for `MYAPP__SECTION__KEY`); only the outermost
    /// config's prefix is used.
    const ENV_PREFIX: &'static str;
    /// The keys of this section, for "unknown key" errors.
    const KEYS: &'static [&'static str];

    /// The built-in values for `profile`.
    fn defaults(profile: &Profile) -> Self;

    /// Sets `key` (already pushed on the context's key path) from `input`.
    fn set_key(&mut self, key: &str, input: Input<'_>, cx: &mut LoadContext) -> Result<(), ConfigError>;

    /// Checks the `#[security(range, non_empty, https_in_production, validate)]` rules.
    fn validate(&self, validator: &mut Validator<'_>);

    /// Runs the `#[security(check = ..)]` functions.
    fn check(&self, checks: &mut Checklist);

    /// The config as JSON with every secret replaced by `[REDACTED]`.
    fn to_json_redacted(&self) -> serde_json::Value;

    /// Writes the config into a TOML table, each key preceded by its doc comment. Secrets are
    /// written in clear: give such a file restricted permissions.
    fn write_toml(&self, table: &mut toml_edit::Table);

    /// Fills every `#[security(secret, generate)]` field with a fresh random value.
    fn generate_secrets(&mut self);

    /// Lists this section's keys into `keys` (generated; use [`leaf_keys`](Self::leaf_keys)).
    fn collect_keys(keys: &mut KeyCollector);

    /// Every leaf key, in declaration order, with the variables that set it.
    fn leaf_keys() -> Vec<KeyInfo> {
        keys::collect::<Self>().0
    }

    /// A [`Loader`] for this config.
    fn loader() -> Loader<Self> {
        Loader::new()
    }

    /// Loads the config from `RAIL_SECURITY_ENV`, `RAIL_SECURITY_CONFIG` and the environment.
    fn load() -> Result<Self, ConfigErrors> {
        Loader::new().load()
    }

    /// Runs every check for `profile`.
    fn run_checks(&self, profile: &Profile) -> CheckReport {
        let mut checks = Checklist::new(profile.clone());
        self.check(&mut checks);
        checks.finish()
    }
}
