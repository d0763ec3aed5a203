use rail_graphql_security::SecurityConfig;

struct Plain {
    on: bool,
}

#[derive(SecurityConfig)]
struct Config {
    #[security(nested)]
    inner: Plain,
}

fn main() {}
