use rail_graphql_security::SecurityConfig;

#[derive(SecurityConfig)]
struct Config(u32);

fn main() {}
