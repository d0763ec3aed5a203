use rail_graphql_security::SecurityConfig;

#[derive(SecurityConfig)]
struct Config {
    #[security(default = "localhost")]
    hosts: Vec<String>,
}

fn main() {}
