//! `#[security_user]`: parse (the attribute's options with darling, the SeaORM model's table and
//! primary-key fields), validate (the model's shape, key type, account field), expand (quote
//! only).

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;

use crate::common;

/// The attribute: the model unchanged plus the generated MFA module, or the model unchanged plus
/// the errors (so one mistake does not cascade into errors about missing items).
pub(crate) fn attribute(args: TokenStream, item: TokenStream) -> TokenStream {
    match parse::parse(args, item.clone()).and_then(validate::validate) {
        Ok(model) => expand::expand(&model, item),
        Err(errors) => common::with_errors(errors, item),
    }
}

#[cfg(test)]
mod snapshot_tests {
    use quote::quote;

    use crate::common::assert_expansion;

    #[test]
    fn expansion_for_an_i32_key() {
        assert_expansion(
            "security_user_i32",
            super::attribute(
                quote!(),
                quote! {
                #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
                #[sea_orm(table_name = "users")]
                pub struct Model {
                    #[sea_orm(primary_key)]
                    pub id: i32,
                    #[sea_orm(unique)]
                    pub username: String,
                }
                },
            ),
        );
    }

    #[test]
    fn expansion_with_every_option() {
        assert_expansion(
            "security_user_options",
            super::attribute(
                quote!(module = "second_factor", on_delete = "restrict", account_name = "email"),
                quote! {
                #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
                #[sea_orm(schema_name = "public", table_name = "accounts")]
                pub struct Model {
                    #[sea_orm(primary_key, auto_increment = false, column_name = "account_uuid")]
                    pub account_id: uuid::Uuid,
                    pub email: String,
                }
                },
            ),
        );
    }

    #[test]
    fn misuse_is_reported_with_the_model_kept() {
        let out = super::attribute(
            quote!(modul = "x"),
            quote!(
                pub struct Model {
                    #[sea_orm(primary_key)]
                    pub id: i64,
                }
            ),
        )
        .to_string();
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("pub struct Model"), "the model is re-emitted: {out}");
    }
}
