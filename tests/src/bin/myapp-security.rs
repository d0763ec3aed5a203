//! The sample app's own security command: `check` and `setup` mounted for `MyAppConfig`.

use integration_tests::myapp::MyAppConfig;

fn main() -> std::process::ExitCode {
    rail_graphql_security::cli::run::<MyAppConfig>()
}
