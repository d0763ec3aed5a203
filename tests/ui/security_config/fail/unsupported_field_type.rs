use rail_graphql_security::SecurityConfig;

#[derive(SecurityConfig)]
struct Config {
    name: &'static str,
}

fn main() {}
