//! `rail-security`: the `check` (`security_check`) and `setup` (`setup_security`) commands for
//! the standard config. Exit codes: 0 ok, 1 a critical check failed, 2 usage or config error.

use rail_graphql_security::config::StandardSecurityConfig;

fn main() -> std::process::ExitCode {
    rail_graphql_security::cli::run::<StandardSecurityConfig>()
}
