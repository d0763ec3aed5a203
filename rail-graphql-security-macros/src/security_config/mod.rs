//! `#[derive(SecurityConfig)]`: parse (darling receivers), validate (cross-attribute rules and
//! default types), expand (quote only).

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;

/// The derive: the impl, or the errors plus a stub impl so one mistake does not cascade.
pub(crate) fn derive(input: &syn::DeriveInput) -> TokenStream {
    match parse::parse(input).and_then(validate::validate) {
        Ok(model) => expand::expand(&model),
        Err(errors) => {
            let mut tokens = errors.write_errors();
            tokens.extend(expand::fallback(input));
            tokens
        }
    }
}

#[cfg(test)]
mod snapshot_tests {
    //! Expansion snapshots: the generated code, formatted with prettyplease, compared with the
    //! committed `tests/snapshots/*.rs`. `UPDATE_SNAPSHOTS=1 cargo test` rewrites them; read the
    //! diff before committing.

    use std::path::PathBuf;

    fn assert_snapshot(name: &str, input: syn::DeriveInput) {
        let tokens = super::derive(&input);
        let file: syn::File = syn::parse2(tokens).expect("the expansion parses as Rust items");
        let actual = prettyplease::unparse(&file);
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(format!("{name}.rs"));
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &actual).expect("write snapshot");
            return;
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run with UPDATE_SNAPSHOTS=1 to create it", path.display()));
        assert_eq!(actual, expected, "expansion of `{name}` changed; run with UPDATE_SNAPSHOTS=1 and review the diff");
    }

    #[test]
    fn expansion_of_every_field_kind() {
        assert_snapshot(
            "every_field_kind",
            syn::parse_quote! {
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
            },
        );
    }

    #[test]
    fn expansion_of_a_misuse_is_errors_plus_a_stub_impl() {
        assert_snapshot(
            "misuse",
            syn::parse_quote! {
                struct Bad {
                    #[security(default = 5)]
                    name: String,
                    #[security(secret, production = "x")]
                    key: Option<Secret>,
                }
            },
        );
    }
}
