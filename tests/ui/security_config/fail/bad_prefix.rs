use rail_graphql_security::SecurityConfig;

#[derive(SecurityConfig)]
#[security(prefix = "my-app")]
struct Config {
    on: bool,
}

fn main() {}
