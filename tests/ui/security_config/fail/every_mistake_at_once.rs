use rail_graphql_security::SecurityConfig;
use rail_graphql_security::config::Secret;

#[derive(SecurityConfig)]
struct Config {
    #[security(default = "five")]
    attempts: u32,
    #[security(secret, default = "k")]
    key: Option<Secret>,
    #[security(range = "1..3")]
    level: u8,
}

fn main() {}
