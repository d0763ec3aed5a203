//! `#[audited]` on SeaORM models: on the model struct it chooses the masked columns
//! (`AuditedModel`); on `impl ActiveModelBehavior` it adds the audit hooks around the user's own.
//! Parse (darling receivers), validate (names and hook signatures), expand (quote only).

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;
use syn::spanned::Spanned;

use crate::common::{self, CratePath};

/// The item, when `#[audited]` is on a model (a struct, an impl block, or another data type
/// whose error is reported here) rather than on a resolver.
pub(crate) fn item(item: &TokenStream) -> Option<syn::Item> {
    match syn::parse2::<syn::Item>(item.clone()) {
        Ok(item @ (syn::Item::Struct(_) | syn::Item::Impl(_) | syn::Item::Enum(_) | syn::Item::Union(_))) => Some(item),
        _ => None,
    }
}

/// `#[audited(...)]` on a struct or an `impl ActiveModelBehavior` block: the expansion, or the
/// errors next to the item as written.
pub(crate) fn attribute(args: TokenStream, item: syn::Item) -> TokenStream {
    match item {
        syn::Item::Struct(mut item) => {
            let krate = CratePath::find(&args);
            match parse::model(args, &mut item).and_then(validate::model) {
                Ok(model) => expand::model(&item, &model),
                // With a stub impl (no masked column) on a SeaORM model, `#[audited]` on the
                // behaviour impl adds no errors of its own.
                Err(errors) if parse::derives_entity_model(&item) => {
                    let stub = validate::Model { krate, masked_columns: Vec::new() };
                    common::with_errors(errors, expand::model(&item, &stub))
                }
                Err(errors) => common::with_errors(errors, item),
            }
        }
        syn::Item::Impl(item) => {
            let unaudited = expand::unaudited(&item, &CratePath::find(&args));
            match parse::behavior(args, item).and_then(validate::behavior) {
                Ok(behavior) => expand::behavior(&behavior),
                Err(errors) => common::with_errors(errors, unaudited),
            }
        }
        other => {
            let span = match &other {
                syn::Item::Enum(item) => item.ident.span(),
                syn::Item::Union(item) => item.ident.span(),
                _ => other.span(),
            };
            let error = darling::Error::custom(
                "`#[audited]` goes on a resolver (an `async fn` in an `#[Object]` impl), a SeaORM model struct, or an \
                 `impl ActiveModelBehavior for ActiveModel` block",
            )
            .with_span(&span);
            common::with_errors(error, other)
        }
    }
}

#[cfg(test)]
mod snapshot_tests {
    use quote::quote;

    use crate::common::assert_expansion;

    /// A SeaORM model with a renamed column and a field marked secret.
    fn accounts_model() -> syn::Item {
        syn::parse_quote! {
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
        }
    }

    #[test]
    fn model_struct() {
        assert_expansion("audited_model_struct", super::attribute(quote!(exclude(pin)), accounts_model()));
    }

    #[test]
    fn misuse_is_errors_plus_the_struct_and_a_stub_impl() {
        let args = quote!(exclude(pincode, idd), crate = "crate::security");
        assert_expansion("audited_model_misuse", super::attribute(args, accounts_model()));
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
        assert_expansion("audited_model_behavior", super::attribute(quote!(), item));
    }
}
