use rail_graphql_security::SecurityConfig;

fn check_port(port: &u16) -> bool {
    *port != 80
}

#[derive(SecurityConfig)]
struct Config {
    #[security(default = 8080, check = check_port)]
    port: u16,
}

fn main() {}
