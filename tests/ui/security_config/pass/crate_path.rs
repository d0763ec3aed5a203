//! `#[security(crate = ..)]` points generated code at a re-export of the runtime crate.
mod reexport {
    pub use rail_graphql_security as security;
}

#[derive(reexport::security::SecurityConfig)]
#[security(crate = "reexport::security", prefix = "RENAMED")]
struct Renamed {
    #[security(default = 1)]
    x: i32,
}

fn main() {
    use reexport::security::config::SecurityConfig;
    let config = Renamed::loader().env_vars([("RENAMED__X", "-4")]).load().unwrap();
    assert_eq!(config.x, -4);
}
