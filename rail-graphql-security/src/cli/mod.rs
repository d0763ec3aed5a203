//! The `check` (`security_check`) and `setup` (`setup_security`) commands, for any config that
//! derives [`SecurityConfig`] — mount them in your own binary the way Django's `manage.py`
//! hosts commands:
//!
//! ```no_run
//! use rail_graphql_security::config::StandardSecurityConfig;
//!
//! fn main() -> std::process::ExitCode {
//!     rail_graphql_security::cli::run::<StandardSecurityConfig>()
//! }
//! ```
//!
//! or put [`Command`] in your own clap app and call [`execute`]:
//!
//! ```no_run
//! use clap::Parser;
//! use rail_graphql_security::config::StandardSecurityConfig;
//!
//! #[derive(Parser)]
//! enum Manage {
//!     /// Your own command.
//!     Serve,
//!     /// `check` / `setup`.
//!     #[command(subcommand)]
//!     Security(rail_graphql_security::cli::Command),
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     match Manage::parse() {
//!         Manage::Serve => std::process::ExitCode::SUCCESS,
//!         Manage::Security(command) => {
//!             let code = rail_graphql_security::cli::execute::<StandardSecurityConfig>(
//!                 command,
//!                 &mut std::io::stdout(),
//!                 &mut std::io::stderr(),
//!             );
//!             std::process::ExitCode::from(code)
//!         }
//!     }
//! }
//! ```
//!
//! The stock `rail-security` binary does the former for
//! [`StandardSecurityConfig`](crate::config::StandardSecurityConfig).
//!
//! # Exit codes
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success; `check`: no critical check failed; `audit verify`: the trail is intact |
//! | 1 | `check`: at least one critical check failed (gate CI on it); `audit verify`: tampering found |
//! | 2 | usage error, or the config, file or database could not be used (one line per problem on stderr) |
//!
//! # `config --format json`
//!
//! A list with one object per leaf key, in declaration order:
//! `[{"key": "middleware.rate_limiting.login_attempts_limit", "value": 5, "source": "env LOGIN_ATTEMPTS_LIMIT",
//! "source_kind": "default" | "file" | "env", "env": "RAIL_SECURITY__MIDDLEWARE__RATE_LIMITING__LOGIN_ATTEMPTS_LIMIT",
//! "env_aliases": ["LOGIN_ATTEMPTS_LIMIT"], "secret": false}]`. A file source reads `path:line`; a
//! secret's `value` is `"[REDACTED]"` (or `null` when unset).
//!
//! # `check --format json`
//!
//! One object, `schema_version` 1:
//! `{"schema_version": 1, "profile": "production", "config_file": "security.toml" | null,
//! "score": 7, "max_score": 10, "passed": false, "checks": [{"id": "deployment.https_redirect",
//! "passed": false, "severity": "critical" | "warning" | "info", "message": "...",
//! "recommendation": "..." | null, "why": "..." | null, "fixable": true}],
//! "recommendations": ["..."], "fixes": [{"key": "deployment.https_redirect", "value": "true",
//! "previous": "false" | null, "applied": true}]}`. `passed` is false exactly when a critical check failed; `fixes` lists
//! what `--fix` changed (or would change with `--dry-run`) and is empty otherwise.

mod audit;
mod check;
mod edit;
mod setup;
mod show;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::{Profile, SecurityConfig};
use crate::migration::MigratorTrait;

pub use audit::{AuditCommand, ExportArgs, KeyArgs, VERIFYING_KEY_ENV_VAR, VerifyArgs};
pub use check::{CheckArgs, Format};
pub use setup::{DEFAULT_DATABASE_URL, SetupArgs, StockMigrator};
pub use show::ConfigArgs;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: a critical check failed.
pub const EXIT_CHECK_FAILED: u8 = 1;
/// Exit code: usage, config, file or database error.
pub const EXIT_ERROR: u8 = 2;

/// The command line of a binary that hosts the commands.
#[derive(Debug, clap::Parser)]
#[command(version, about = "Check and set up the security configuration")]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Score the security configuration and list recommendations (alias: security_check).
    #[command(alias = "security_check")]
    Check(CheckArgs),
    /// Write a commented config with fresh keys and create the tables (alias: setup_security).
    #[command(alias = "setup_security")]
    Setup(SetupArgs),
    /// Print the effective configuration: every key, its value (secrets redacted), where it
    /// came from and the variables that set it.
    Config(ConfigArgs),
    /// The tamper-evident audit trail: `verify`, `export`, `key`.
    #[command(subcommand)]
    Audit(AuditCommand),
}

impl Command {
    /// For `audit` commands, fills what the flags left open from the binary's configuration
    /// (see [`AuditCommand::with_defaults`]); other commands are returned as they are.
    pub fn with_audit_defaults(
        self,
        audit: &crate::config::standard::AuditSettings,
        database_url: Option<&str>,
    ) -> Self {
        match self {
            Command::Audit(command) => Command::Audit(command.with_defaults(audit, database_url)),
            other => other,
        }
    }
}

/// Parses the process's arguments and runs the command for config type `T`; `setup` migrates
/// the [`StockMigrator`]'s tables (audit, revocations; not the MFA tables).
///
/// `T` does not say where its audit settings are, so the `audit` commands get their database
/// and verifying key from their flags and environment variables only: `verify` without them
/// leaves the signatures unchecked (and says so). [`run_with_audit`] gives them the
/// configuration's.
pub fn run<T: SecurityConfig>() -> ExitCode {
    run_with_migrator::<T, StockMigrator>()
}

/// Like [`run_with_migrator`], with the `audit` commands taking what their flags leave open
/// from the loaded configuration ([`Command::with_audit_defaults`]): `audit` picks the audit
/// settings out of it (the signing key and earlier keys, the anchor file), `database_url` the
/// database (`None`: `--database-url`, else `DATABASE_URL`, else [`DEFAULT_DATABASE_URL`]). A
/// configuration that does not load stops the `audit` commands (exit code 2) rather than
/// letting `verify` skip the signatures; the other commands load it themselves.
///
/// ```no_run
/// # use rail_graphql_security::config::StandardSecurityConfig as AppConfig;
/// fn main() -> std::process::ExitCode {
///     rail_graphql_security::cli::run_with_audit::<AppConfig, rail_graphql_security::cli::StockMigrator>(
///         |config| &config.audit,
///         |_| None,
///     )
/// }
/// ```
pub fn run_with_audit<T: SecurityConfig, M: MigratorTrait>(
    audit: impl FnOnce(&T) -> &crate::config::standard::AuditSettings,
    database_url: impl FnOnce(&T) -> Option<String>,
) -> ExitCode {
    run_prepared::<T, M>(|command| match &command {
        Command::Audit(_) => match T::load() {
            Ok(config) => {
                let url = database_url(&config);
                Ok(command.with_audit_defaults(audit(&config), url.as_deref()))
            }
            Err(e) => Err(format!("the configuration does not load, and `audit` reads its database and keys: {e}")),
        },
        _ => Ok(command),
    })
}

/// Like [`run`], with `setup` running the application's own migrator `M` (which lists the
/// security tables, e.g. `#[security_user]`'s `migrations()`, next to its own).
pub fn run_with_migrator<T: SecurityConfig, M: MigratorTrait>() -> ExitCode {
    run_prepared::<T, M>(Ok)
}

/// Like [`run_with_migrator`], with `prepare` applied to the parsed command first: e.g.
/// [`Command::with_audit_defaults`] from the binary's own configuration. An `Err` from
/// `prepare` (say, a configuration that does not load) is printed as `error: …` and exits with
/// code 2, without running the command.
pub fn run_prepared<T: SecurityConfig, M: MigratorTrait>(
    prepare: impl FnOnce(Command) -> Result<Command, String>,
) -> ExitCode {
    use clap::Parser;
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { EXIT_ERROR } else { EXIT_OK });
        }
    };
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    let command = match prepare(cli.command) {
        Ok(command) => command,
        Err(message) => {
            let _ = writeln!(stderr.lock(), "error: {message}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    ExitCode::from(execute_with_migrator::<T, M>(command, &mut stdout.lock(), &mut stderr.lock()))
}

/// Runs one command for config type `T`, writing the report to `out` and errors to `err`;
/// returns the exit code.
pub fn execute<T: SecurityConfig>(command: Command, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    execute_with_migrator::<T, StockMigrator>(command, out, err)
}

/// Like [`execute`], with `setup` running migrator `M`.
pub fn execute_with_migrator<T: SecurityConfig, M: MigratorTrait>(
    command: Command,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let result = match command {
        Command::Check(args) => check::run::<T>(&args, out),
        Command::Setup(args) => setup::run::<T, M>(&args, out),
        Command::Config(args) => show::run::<T>(&args, out),
        Command::Audit(command) => audit::run(&command, out),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            let _ = writeln!(err, "error: {error}");
            EXIT_ERROR
        }
    }
}

/// A command failed: the message is one line saying what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The config did not load.
    #[error("{0}")]
    Config(#[from] crate::config::ConfigErrors),
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Anything else, with its own actionable message.
    #[error("{0}")]
    Message(String),
    /// The output could not be written.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

/// The profile from `--environment`, else `RAIL_SECURITY_ENV`, else development.
fn resolve_profile(explicit: Option<&Profile>) -> Result<Profile, CliError> {
    match explicit {
        Some(profile) => Ok(profile.clone()),
        None => Profile::from_env().map_err(|e| CliError::Config(e.into())),
    }
}

/// `--config`, else `RAIL_SECURITY_CONFIG`.
fn resolve_config_path(explicit: Option<&PathBuf>) -> Option<PathBuf> {
    explicit
        .cloned()
        .or_else(|| std::env::var_os(crate::config::CONFIG_FILE_ENV_VAR).filter(|v| !v.is_empty()).map(PathBuf::from))
}

fn parse_profile(s: &str) -> Result<Profile, String> {
    s.parse()
}
