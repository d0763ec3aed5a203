//! The attribute's options (darling receivers) and what `#[security_user]` reads from the SeaORM
//! model: the struct, its table name and its primary-key fields with their columns.

use darling::FromMeta;
use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;

use crate::common::{self, CratePath};

/// What deleting a user does to the user's MFA rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromMeta)]
pub(crate) enum OnDelete {
    /// `ON DELETE CASCADE`.
    #[default]
    #[darling(rename = "cascade")]
    Cascade,
    /// `ON DELETE RESTRICT`.
    #[darling(rename = "restrict")]
    Restrict,
}

/// `#[security_user(module = "mfa", on_delete = "cascade", account_name = "email", crate = "...")]`.
#[derive(Debug, Default, FromMeta)]
#[darling(default)]
pub(crate) struct Options {
    /// The generated module's name.
    pub(crate) module: Option<syn::Ident>,
    /// What deleting a user does.
    pub(crate) on_delete: OnDelete,
    /// The field shown as the account name in authenticator apps.
    pub(crate) account_name: Option<syn::Ident>,
    /// The runtime crate's path, from inside the generated module (`::name` or `crate::...`).
    #[darling(rename = "crate")]
    pub(crate) krate: CratePath,
}

/// The model as read, before any check.
#[derive(Debug)]
pub(crate) struct UserInput {
    pub(crate) options: Options,
    pub(crate) model: syn::ItemStruct,
    /// `#[sea_orm(table_name = "...")]`.
    pub(crate) table: Option<String>,
    /// The `#[sea_orm(primary_key)]` fields, with their `column_name` if any.
    pub(crate) keys: Vec<(syn::Field, Option<String>)>,
}

pub(crate) const USAGE: &str = "#[security_user] goes on the `Model` struct of your SeaORM user entity, above \
                     #[derive(DeriveEntityModel)]";

pub(crate) fn parse(args: TokenStream, item: TokenStream) -> darling::Result<UserInput> {
    let mut errors = darling::Error::accumulator();
    let options = errors.handle(common::attribute_args::<Options>(args)).unwrap_or_default();
    let item: syn::Item = match syn::parse2(item) {
        Ok(item) => item,
        Err(e) => return Err(common::stop(errors, e.into())),
    };
    let syn::Item::Struct(model) = item else {
        let kind = match &item {
            syn::Item::Enum(_) => "an enum",
            syn::Item::Fn(_) => "a function",
            syn::Item::Impl(_) => "an impl block",
            syn::Item::Mod(_) => "a module",
            syn::Item::Union(_) => "a union",
            syn::Item::Trait(_) => "a trait",
            _ => "this item",
        };
        let error = darling::Error::custom(format!("{USAGE}, not on {kind}")).with_span(&item_span(&item));
        return Err(common::stop(errors, error));
    };
    let table = sea_orm_attrs(&model.attrs, &mut errors)
        .into_iter()
        .find_map(|(key, value)| (key == "table_name").then_some(value).flatten());
    let mut keys = Vec::new();
    for field in &model.fields {
        let attrs = sea_orm_attrs(&field.attrs, &mut errors);
        if attrs.iter().any(|(k, _)| k == "primary_key") {
            let column = attrs.iter().find_map(|(k, v)| (k == "column_name").then(|| v.clone()).flatten());
            keys.push((field.clone(), column));
        }
    }
    errors.finish_with(UserInput { options, model, table, keys })
}

fn item_span(item: &syn::Item) -> Span {
    match item {
        syn::Item::Enum(i) => i.ident.span(),
        syn::Item::Fn(i) => i.sig.ident.span(),
        syn::Item::Mod(i) => i.ident.span(),
        syn::Item::Union(i) => i.ident.span(),
        syn::Item::Trait(i) => i.ident.span(),
        other => other.span(),
    }
}

/// The `key` / `key = "value"` entries of the `#[sea_orm(...)]` attributes; other forms
/// (SeaORM has many) are skipped.
fn sea_orm_attrs(attrs: &[syn::Attribute], errors: &mut darling::error::Accumulator) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("sea_orm")) {
        let result = attr.parse_nested_meta(|meta| {
            let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
            let mut value = None;
            if meta.input.peek(syn::Token![=]) {
                let expr: syn::Expr = meta.value()?.parse()?;
                if let syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) = expr {
                    value = Some(s.value());
                }
            } else if meta.input.peek(syn::token::Paren) {
                let content;
                syn::parenthesized!(content in meta.input);
                let _: TokenStream = content.parse()?;
            }
            out.push((key, value));
            Ok(())
        });
        if let Err(e) = result {
            errors.push(e.into());
        }
    }
    out
}
