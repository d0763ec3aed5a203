//! `#[audited]` on SeaORM models: on the model struct it chooses the masked columns
//! (`AuditedModel`); on `impl ActiveModelBehavior` it adds the audit hooks around the user's own.

mod expand;
mod parse;

use proc_macro2::TokenStream;

/// `#[audited(...)]` on a struct or an `impl ActiveModelBehavior` block.
pub(crate) fn expand(args: TokenStream, item: syn::Item) -> TokenStream {
    let result = match item {
        syn::Item::Struct(item) => parse::model(args, item).map(|model| expand::model(&model)),
        syn::Item::Impl(item) => parse::behavior(args, item).map(|behavior| expand::behavior(&behavior)),
        other => Err(syn::Error::new_spanned(
            other,
            "#[audited] goes on a resolver (an async fn in an #[Object] impl), a SeaORM model struct, \
             or an `impl ActiveModelBehavior for ActiveModel` block",
        )),
    };
    result.unwrap_or_else(syn::Error::into_compile_error)
}

#[cfg(test)]
mod snapshot_tests {
    //! Expansion snapshots (`UPDATE_SNAPSHOTS=1 cargo test` rewrites them).

    use std::path::PathBuf;

    use quote::quote;

    fn assert_snapshot(name: &str, args: proc_macro2::TokenStream, item: syn::Item) {
        let tokens = super::expand(args, item);
        let file: syn::File = syn::parse2(tokens).expect("the expansion parses as Rust items");
        let actual = prettyplease::unparse(&file);
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(format!("{name}.rs"));
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &actual).expect("write snapshot");
            return;
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run with UPDATE_SNAPSHOTS=1 to create it", path.display()));
        assert_eq!(actual, expected, "expansion of {name} changed; UPDATE_SNAPSHOTS=1 rewrites it");
    }

    #[test]
    fn model_struct() {
        let item = syn::parse_quote! {
            #[derive(Clone, Debug, DeriveEntityModel)]
            #[sea_orm(table_name = "accounts")]
            pub struct Model {
                #[sea_orm(primary_key)]
                pub id: i32,
                pub owner: String,
                #[sea_orm(column_name = "pin_code")]
                pub pin: String,
                #[audited(secret)]
                pub api_key: String,
            }
        };
        assert_snapshot("audited_model_struct", quote!(exclude(pin)), item);
    }

    #[test]
    fn behavior_with_user_hooks() {
        let item = syn::parse_quote! {
            #[async_trait::async_trait]
            impl ActiveModelBehavior for ActiveModel {
                async fn before_save<C>(mut self, _db: &C, insert: bool) -> Result<Self, DbErr>
                where
                    C: ConnectionTrait,
                {
                    if insert {
                        self.owner = Set("x".to_owned());
                    }
                    Ok(self)
                }
            }
        };
        assert_snapshot("audited_model_behavior", quote!(), item);
    }
}
