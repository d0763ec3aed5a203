//! The sample app's own security command: `check`, `setup`, `config` and `audit` mounted for
//! `MyAppConfig`, the `audit` commands with the app's audit settings.

use integration_tests::myapp::MyAppConfig;
use rail_graphql_security::cli::{StockMigrator, run_with_audit};

fn main() -> std::process::ExitCode {
    run_with_audit::<MyAppConfig, StockMigrator>(|config| &config.security.audit, |_| None)
}
