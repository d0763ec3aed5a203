//! `#[derive(SecurityConfig)]`: parse (darling receivers), validate (cross-attribute rules and
//! default types), expand (quote only).

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;

use crate::common;

/// The derive: the impl, or the errors plus a stub impl so one mistake does not cascade.
pub(crate) fn derive(input: &syn::DeriveInput) -> TokenStream {
    match parse::parse(input).and_then(validate::validate) {
        Ok(model) => expand::expand(&model),
        Err(errors) => common::with_errors(errors, expand::fallback(input)),
    }
}

#[cfg(test)]
mod snapshot_tests {
    use crate::common::assert_expansion;

    #[test]
    fn expansion_of_every_field_kind() {
        assert_expansion(
            "security_config_every_field_kind",
            super::derive(&syn::parse_quote! {
                #[security(prefix = "MYAPP", check = check_app, validate = validate_app)]
                struct AppConfig {
                    /// Worker threads.
                    #[security(default = 4, production = 8, profile(qa = 2), range = 1..=64)]
                    workers: u32,
                    #[security(default = "http://localhost", https_in_production, non_empty)]
                    base_url: String,
                    #[security(default = 1, development = 0.5)]
                    ratio: f64,
                    #[security(default = ["a"], production = [])]
                    hosts: Vec<String>,
                    #[security(secret, generate)]
                    key: Option<Secret>,
                    #[security(validate = even, check = check_limit)]
                    limit: u64,
                    /// The standard settings.
                    #[security(nested)]
                    security: StandardSecurityConfig,
                }
            }),
        );
    }

    #[test]
    fn expansion_of_a_misuse_is_errors_plus_a_stub_impl() {
        assert_expansion(
            "security_config_misuse",
            super::derive(&syn::parse_quote! {
                struct Bad {
                    #[security(default = 5)]
                    name: String,
                    #[security(secret, production = "x")]
                    key: Option<Secret>,
                }
            }),
        );
    }
}
