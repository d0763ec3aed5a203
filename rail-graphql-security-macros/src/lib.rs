//! Procedural macros of `rail-graphql-security`, re-exported by that crate; depend on it, not on
//! this crate.
//!
//! One folder per macro, each in three phases: `parse` (darling receivers), `validate` (checks
//! that collect every mistake, spanned), `expand` (quote only); shared helpers in `common`. Every
//! macro emits something on error: the item as written, or stub impls, next to the errors.

mod audited_model;
mod common;
mod resolver;
mod security_config;
mod security_user;

/// Derives `rail_graphql_security::config::SecurityConfig`; see that trait and the
/// `rail_graphql_security::config` module for the attributes.
#[proc_macro_derive(SecurityConfig, attributes(security))]
pub fn derive_security_config(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    security_config::derive(&input).into()
}

/// Refuses the resolver to callers without a second factor; see
/// `rail_graphql_security::resolver` and the guide `rail_graphql_security::guide::resolver_macros`.
#[proc_macro_attribute]
pub fn require_mfa(attr: proc_macro::TokenStream, item: proc_macro::TokenStream) -> proc_macro::TokenStream {
    resolver::require_mfa(attr.into(), item.into()).into()
}

/// Limits how often a resolver may be called, per user, address, both or overall; see
/// `rail_graphql_security::rate_limit::enforce_resolver` and `rail_graphql_security::guide::resolver_macros`.
#[proc_macro_attribute]
pub fn rate_limit(attr: proc_macro::TokenStream, item: proc_macro::TokenStream) -> proc_macro::TokenStream {
    resolver::rate_limit(attr.into(), item.into()).into()
}

/// On a resolver: one audit event per call (see `rail_graphql_security::resolver` and the
/// guide `rail_graphql_security::guide::resolver_macros`). On a SeaORM model struct and its `impl ActiveModelBehavior`:
/// events for its writes with a field diff (see `rail_graphql_security::audit::model`).
#[proc_macro_attribute]
pub fn audited(attr: proc_macro::TokenStream, item: proc_macro::TokenStream) -> proc_macro::TokenStream {
    let (attr, item) = (attr.into(), item.into());
    match audited_model::item(&item) {
        Some(model) => audited_model::attribute(attr, model).into(),
        None => resolver::audited(attr, item).into(),
    }
}

/// Generates the MFA tables' entities, migration and GraphQL API for your SeaORM user model; see
/// `rail_graphql_security::security_user`.
#[proc_macro_attribute]
pub fn security_user(args: proc_macro::TokenStream, item: proc_macro::TokenStream) -> proc_macro::TokenStream {
    security_user::attribute(args.into(), item.into()).into()
}
