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
