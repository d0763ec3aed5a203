//! `rail-security`: the `check` (`security_check`), `setup` (`setup_security`), `config` and
//! `audit` (`verify`, `export`, `key`) commands for the standard config. Exit codes: 0 ok, 1 a
//! critical check failed or the audit trail was tampered with, 2 usage or config error.

use rail_graphql_security::cli::{Cli, Command};
use rail_graphql_security::config::{SecurityConfig, StandardSecurityConfig};

fn main() -> std::process::ExitCode {
    use clap::Parser;
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return std::process::ExitCode::from(if error.use_stderr() { 2 } else { 0 });
        }
    };
    // `audit verify` checks signatures with the configured signing key's public half.
    let command = match &cli.command {
        Command::Audit(_) => match StandardSecurityConfig::load() {
            Ok(config) => cli.command.with_audit_defaults(&config.audit, None),
            Err(_) => cli.command,
        },
        _ => cli.command,
    };
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    let code =
        rail_graphql_security::cli::execute::<StandardSecurityConfig>(command, &mut stdout.lock(), &mut stderr.lock());
    std::process::ExitCode::from(code)
}
