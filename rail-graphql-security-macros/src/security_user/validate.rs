//! Checks of the model before anything is generated: named `Model`, no generics, named fields,
//! a table name, one primary key of a supported type, an existing `account_name` field. Every
//! problem is collected, each spanned on the narrowest token.

use darling::Error;
use proc_macro2::Span;
use syn::spanned::Spanned;

use super::parse::{OnDelete, USAGE, UserInput};
use crate::common::{self, CratePath, did_you_mean};

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
    pub(crate) krate: CratePath,
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

pub(crate) fn validate(input: UserInput) -> darling::Result<UserModel> {
    let UserInput { options, model, table, keys } = input;
    let mut errors = Error::accumulator();
    if model.ident != "Model" {
        errors.push(
            Error::custom(format!("{USAGE} (SeaORM names it `Model`; found `{}`)", model.ident))
                .with_span(&model.ident),
        );
    }
    if !model.generics.params.is_empty() {
        errors.push(Error::custom("a SeaORM model has no generic parameters").with_span(&model.generics));
    }
    let syn::Fields::Named(fields) = &model.fields else {
        let error = Error::custom(format!("{USAGE}: a struct with named fields")).with_span(&model.ident);
        return Err(common::stop(errors, error));
    };
    let table = table.unwrap_or_else(|| {
        errors.push(
            Error::custom(
                "#[security_user] needs the user table's name: add #[sea_orm(table_name = \"users\")] to the model",
            )
            .with_span(&model.ident),
        );
        String::new()
    });
    if let Some((extra, _)) = keys.get(1) {
        errors.push(
            Error::custom("#[security_user] needs a single-column primary key; composite keys are not supported")
                .with_span(&extra.ty),
        );
    }
    let key = keys.into_iter().next().and_then(|(field, column)| Some((field.ident.clone()?, field.ty, column)));
    let Some((key_field, key_ty, key_column)) = key else {
        let error =
            Error::custom("#[security_user] found no primary key: mark the user id field with #[sea_orm(primary_key)]")
                .with_span(&model.ident);
        return Err(common::stop(errors, error));
    };
    let key_type = key_type(&key_ty).unwrap_or_else(|| {
        let written = quote::ToTokens::to_token_stream(&key_ty).to_string().replace(' ', "");
        errors.push(
            Error::custom(format!(
                "unsupported primary-key type `{written}`: #[security_user] supports i32, i64, Uuid and String keys"
            ))
            .with_span(&key_ty),
        );
        KeyType::I64
    });

    let field_names: Vec<&syn::Ident> = fields.named.iter().filter_map(|f| f.ident.as_ref()).collect();
    let account_field = match options.account_name {
        Some(name) => {
            if !field_names.contains(&&name) {
                let list: Vec<String> = field_names.iter().map(ToString::to_string).collect();
                errors.push(
                    Error::custom(format!(
                        "`account_name` names no field of the model; use one of: {}{}",
                        list.join(", "),
                        did_you_mean(&name.to_string(), list.iter().map(String::as_str))
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

    let unraw = key_field.to_string().trim_start_matches("r#").to_owned();
    errors.finish_with(UserModel {
        krate: options.krate,
        vis: model.vis.clone(),
        module: options.module.unwrap_or_else(|| syn::Ident::new("mfa", Span::call_site())),
        on_delete: options.on_delete,
        table,
        key_column: key_column.unwrap_or(unraw),
        key_type_span: key_ty.span(),
        key_field,
        key_type,
        account_field,
    })
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
