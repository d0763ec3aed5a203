//! `rail-security`: the `check` (`security_check`), `setup` (`setup_security`), `config` and
//! `audit` (`verify`, `export`, `key`) commands for the standard config. Exit codes: 0 ok, 1 a
//! critical check failed or the audit trail was tampered with, 2 usage or config error.

use rail_graphql_security::cli::{StockMigrator, run_with_audit};
use rail_graphql_security::config::StandardSecurityConfig;

fn main() -> std::process::ExitCode {
    // `audit verify` checks signatures with the configured signing key's public half (and the
    // previous keys): a configuration that does not load stops it rather than leaving the
    // signatures unchecked.
    run_with_audit::<StandardSecurityConfig, StockMigrator>(|config| &config.audit, |_| None)
}
