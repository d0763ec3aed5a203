//! Generated code uses absolute paths only, also with `crate = ".."` naming a re-export.
#![no_implicit_prelude]

mod reexport {
    pub use ::rail_graphql_security as security;
}

#[derive(reexport::security::SecurityConfig)]
#[security(crate = "reexport::security", prefix = "RENAMED")]
struct Renamed {
    #[security(default = 2, range = 1..=5)]
    level: u32,
    #[security(secret, generate)]
    key: ::core::option::Option<reexport::security::config::Secret>,
}

#[derive(::rail_graphql_security::SecurityConfig)]
struct Hygienic {
    #[security(default = 3, production = 1, range = 1..=5)]
    level: u32,
    #[security(default = "x", non_empty)]
    name: ::std::string::String,
    #[security(default = ["a"])]
    list: ::std::vec::Vec<::std::string::String>,
    #[security(secret, generate)]
    key: ::core::option::Option<::rail_graphql_security::config::Secret>,
}

fn main() {
    let config = <Hygienic as ::rail_graphql_security::config::SecurityConfig>::defaults(
        &::rail_graphql_security::config::Profile::Production,
    );
    ::std::assert_eq!(config.level, 1);
    ::std::assert_eq!(config.name, "x");
    ::std::assert_eq!(config.list.len(), 1);
    ::std::assert!(config.key.is_none());
    let renamed = <Renamed as reexport::security::config::SecurityConfig>::defaults(
        &reexport::security::config::Profile::Production,
    );
    ::std::assert_eq!(renamed.level, 2);
    ::std::assert!(renamed.key.is_none());
}
