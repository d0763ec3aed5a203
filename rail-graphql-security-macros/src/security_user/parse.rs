//! The attribute's options (darling) and what `#[security_user]` reads from the SeaORM model:
//! table name, primary-key field, its column and type, and the account-name field.

use darling::FromMeta;
use darling::ast::NestedMeta;
use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;

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

/// `#[security_user(module = "mfa", on_delete = "cascade", account_name = "email")]`.
#[derive(Debug, Default, FromMeta)]
#[darling(default)]
struct Options {
    /// The generated module's name.
    module: Option<syn::Ident>,
    /// What deleting a user does.
    on_delete: OnDelete,
    /// The field shown as the account name in authenticator apps.
    account_name: Option<syn::Ident>,
}

/// The supported key types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyType {
    I32,
    I64,
    Uuid,
    String,
}

/// Everything the expansion needs.
#[derive(Debug)]
pub(crate) struct UserModel {
    pub(crate) vis: syn::Visibility,
    pub(crate) module: syn::Ident,
    pub(crate) on_delete: OnDelete,
    pub(crate) table: String,
    pub(crate) key_field: syn::Ident,
    pub(crate) key_column: String,
    pub(crate) key_type: KeyType,
    pub(crate) key_type_span: Span,
    pub(crate) account_field: syn::Ident,
}

const USAGE: &str = "#[security_user] goes on the `Model` struct of your SeaORM user entity, above \
                     #[derive(DeriveEntityModel)]";

pub(crate) fn parse(args: TokenStream, item: TokenStream) -> darling::Result<UserModel> {
    let mut errors = darling::Error::accumulator();
    let options = NestedMeta::parse_meta_list(args)
        .map_err(darling::Error::from)
        .and_then(|list| Options::from_list(&list))
        .map_err(|e| errors.push(e))
        .unwrap_or_default();
    let item: syn::Item = match syn::parse2(item) {
        Ok(item) => item,
        Err(e) => {
            errors.push(e.into());
            return Err(errors.finish().expect_err("an error was pushed"));
        }
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
        errors.push(darling::Error::custom(format!("{USAGE}, not on {kind}")).with_span(&item_span(&item)));
        return Err(errors.finish().expect_err("an error was pushed"));
    };
    let model_span = model.ident.span();
    if model.ident != "Model" {
        errors.push(
            darling::Error::custom(format!("{USAGE} (SeaORM names it `Model`; found `{}`)", model.ident))
                .with_span(&model.ident),
        );
    }
    if !model.generics.params.is_empty() {
        errors.push(darling::Error::custom("a SeaORM model has no generic parameters").with_span(&model.generics));
    }
    let syn::Fields::Named(fields) = &model.fields else {
        errors.push(darling::Error::custom(format!("{USAGE}: a struct with named fields")).with_span(&model.ident));
        return Err(errors.finish().expect_err("an error was pushed"));
    };

    let table = sea_orm_attrs(&model.attrs, &mut errors)
        .into_iter()
        .find_map(|(key, value)| (key == "table_name").then_some(value).flatten());
    let table = table.unwrap_or_else(|| {
        errors.push(
            darling::Error::custom(
                "#[security_user] needs the user table's name: add #[sea_orm(table_name = \"users\")] to the model",
            )
            .with_span(&model_span),
        );
        String::new()
    });

    let mut keys = Vec::new();
    for field in &fields.named {
        let attrs = sea_orm_attrs(&field.attrs, &mut errors);
        if attrs.iter().any(|(k, _)| k == "primary_key") {
            let column = attrs.iter().find_map(|(k, v)| (k == "column_name").then(|| v.clone()).flatten());
            keys.push((field, column));
        }
    }
    if keys.len() > 1 {
        errors.push(
            darling::Error::custom(
                "#[security_user] needs a single-column primary key; composite keys are not supported",
            )
            .with_span(&keys[1].0.ty),
        );
    }
    let Some((key, key_column)) = keys.into_iter().next() else {
        errors.push(
            darling::Error::custom(
                "#[security_user] found no primary key: mark the user id field with #[sea_orm(primary_key)]",
            )
            .with_span(&model_span),
        );
        return Err(errors.finish().expect_err("an error was pushed"));
    };
    let key_field = key.ident.clone().expect("named field");
    let key_type = key_type(&key.ty).unwrap_or_else(|| {
        let written = quote::ToTokens::to_token_stream(&key.ty).to_string().replace(' ', "");
        errors.push(
            darling::Error::custom(format!(
                "unsupported primary-key type `{written}`: #[security_user] supports i32, i64, Uuid and String keys"
            ))
            .with_span(&key.ty),
        );
        KeyType::I64
    });

    let field_names: Vec<&syn::Ident> = fields.named.iter().filter_map(|f| f.ident.as_ref()).collect();
    let account_field = match options.account_name {
        Some(name) => {
            if !field_names.contains(&&name) {
                let list: Vec<String> = field_names.iter().map(ToString::to_string).collect();
                errors.push(
                    darling::Error::custom(format!(
                        "`account_name` names no field of the model; use one of: {}",
                        list.join(", ")
                    ))
                    .with_span(&name),
                );
            }
            name
        }
        None => ["email", "username", "name"]
            .iter()
            .find_map(|candidate| field_names.iter().find(|f| *f == candidate).map(|f| (*f).clone()))
            .unwrap_or_else(|| key_field.clone()),
    };

    errors.finish()?;
    let unraw = key_field.to_string().trim_start_matches("r#").to_owned();
    Ok(UserModel {
        vis: model.vis.clone(),
        module: options.module.unwrap_or_else(|| syn::Ident::new("mfa", Span::call_site())),
        on_delete: options.on_delete,
        table,
        key_column: key_column.unwrap_or(unraw),
        key_type_span: key.ty.span(),
        key_field,
        key_type,
        account_field,
    })
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

/// The key type from its last path segment: `i32`, `i64`, `String`, `Uuid` (any path to them).
fn key_type(ty: &syn::Type) -> Option<KeyType> {
    // `macro_rules!` fragments arrive wrapped in invisible groups.
    let path = match ty {
        syn::Type::Group(group) => return key_type(&group.elem),
        syn::Type::Paren(paren) => return key_type(&paren.elem),
        syn::Type::Path(path) => path,
        _ => return None,
    };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    if !last.arguments.is_none() {
        return None;
    }
    match last.ident.to_string().as_str() {
        "i32" => Some(KeyType::I32),
        "i64" => Some(KeyType::I64),
        "Uuid" => Some(KeyType::Uuid),
        "String" => Some(KeyType::String),
        _ => None,
    }
}
