use rail_graphql_security::SecurityConfig;

#[derive(SecurityConfig)]
enum Config {
    On,
    Off,
}

fn main() {}
