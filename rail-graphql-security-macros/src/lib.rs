//! Procedural macros of `rail-graphql-security`, re-exported by that crate; depend on it, not on
//! this crate.

mod audited_model;
mod security_config;

/// Derives `rail_graphql_security::config::SecurityConfig`; see that trait and the
/// `rail_graphql_security::config` module for the attributes.
#[proc_macro_derive(SecurityConfig, attributes(security))]
pub fn derive_security_config(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    security_config::derive(&input).into()
}

/// `#[audited]`: audit events for a SeaORM model's writes (on the model struct and on its
/// `impl ActiveModelBehavior`); see `rail_graphql_security::audit::model`.
#[proc_macro_attribute]
pub fn audited(args: proc_macro::TokenStream, item: proc_macro::TokenStream) -> proc_macro::TokenStream {
    audited_model::expand(args.into(), syn::parse_macro_input!(item as syn::Item)).into()
}
