//! `rail-security`: the `check` (`security_check`), `setup` (`setup_security`), `config` and
//! `audit` (`verify`, `export`, `key`) commands for the standard config. Exit codes: 0 ok, 1 a
//! critical check failed or the audit trail was tampered with, 2 usage or config error.

use rail_graphql_security::cli::{Command, StockMigrator, run_prepared};
use rail_graphql_security::config::{SecurityConfig, StandardSecurityConfig};

fn main() -> std::process::ExitCode {
    // `audit verify` checks signatures with the configured signing key's public half (and the
    // previous keys): a configuration that does not load stops it rather than leaving the
    // signatures unchecked.
    run_prepared::<StandardSecurityConfig, StockMigrator>(|command| match &command {
        Command::Audit(_) => match StandardSecurityConfig::load() {
            Ok(config) => Ok(command.with_audit_defaults(&config.audit, None)),
            Err(e) => Err(format!("the configuration does not load, and `audit` reads its database and keys: {e}")),
        },
        _ => Ok(command),
    })
}
