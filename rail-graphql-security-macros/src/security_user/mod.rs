//! `#[security_user]`: parse (the attribute's options with darling, the SeaORM model's table,
//! primary key and fields), expand (quote only).

mod expand;
mod parse;

use proc_macro2::TokenStream;

/// The attribute: the model unchanged plus the generated MFA module, or the model unchanged plus
/// the errors (so one mistake does not cascade into errors about missing items).
pub(crate) fn attribute(args: TokenStream, item: TokenStream) -> TokenStream {
    match parse::parse(args, item.clone()) {
        Ok(model) => expand::expand(&model, item),
        Err(errors) => {
            let mut tokens = errors.write_errors();
            tokens.extend(item);
            tokens
        }
    }
}

#[cfg(test)]
mod snapshot_tests {
    //! Expansion snapshots: the generated code, formatted with prettyplease, compared with the
    //! committed `tests/snapshots/security_user_*.rs`. `UPDATE_SNAPSHOTS=1 cargo test` rewrites
    //! them; read the diff before committing.

    use std::path::PathBuf;

    use quote::quote;

    fn assert_snapshot(name: &str, args: proc_macro2::TokenStream, item: proc_macro2::TokenStream) {
        let tokens = super::attribute(args, item);
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
    fn expansion_for_an_i32_key() {
        assert_snapshot(
            "security_user_i32",
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
        );
    }

    #[test]
    fn expansion_with_every_option() {
        assert_snapshot(
            "security_user_options",
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
