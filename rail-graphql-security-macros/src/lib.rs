//! Procedural macros of `rail-graphql-security`, re-exported by that crate; depend on it, not on
//! this crate.

mod security_config;

/// Derives `rail_graphql_security::config::SecurityConfig`; see that trait and the
/// `rail_graphql_security::config` module for the attributes.
#[proc_macro_derive(SecurityConfig, attributes(security))]
pub fn derive_security_config(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    security_config::derive(&input).into()
}

mod security_user;

/// Generates the MFA tables' entities, migration and GraphQL API for your SeaORM user model; see
/// `rail_graphql_security::security_user`.
#[proc_macro_attribute]
pub fn security_user(args: proc_macro::TokenStream, item: proc_macro::TokenStream) -> proc_macro::TokenStream {
    security_user::attribute(args.into(), item.into()).into()
}
