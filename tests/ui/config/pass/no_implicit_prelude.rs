//! Generated code uses absolute paths only.
#![no_implicit_prelude]

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
}
