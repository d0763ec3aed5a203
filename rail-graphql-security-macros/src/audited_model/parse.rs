//! The grammar: `#[audited(exclude(a, b))]` on the struct, `#[audited(secret)]` on a field,
//! bare `#[audited]` on the `impl ActiveModelBehavior` block.

use darling::FromMeta;
use darling::ast::NestedMeta;
use darling::util::PathList;
use proc_macro2::TokenStream;
use syn::spanned::Spanned;

/// The hooks of `ActiveModelBehavior` the audit wraps.
pub(crate) const HOOKS: [&str; 4] = ["before_save", "after_save", "before_delete", "after_delete"];

#[derive(Debug, Default, FromMeta)]
struct ModelArgs {
    #[darling(default)]
    exclude: PathList,
}

/// A model struct with its masked columns.
pub(crate) struct Model {
    pub(crate) item: syn::ItemStruct,
    pub(crate) masked_columns: Vec<String>,
}

/// An `impl ActiveModelBehavior` block.
pub(crate) struct Behavior {
    pub(crate) item: syn::ItemImpl,
    pub(crate) has_async_trait: bool,
}

fn column_name(field: &syn::Field) -> syn::Result<Option<String>> {
    let mut name = None;
    for attr in field.attrs.iter().filter(|attr| attr.path().is_ident("sea_orm")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("column_name") {
                let value: syn::LitStr = meta.value()?.parse()?;
                name = Some(value.value());
            } else if meta.input.peek(syn::Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            } else if meta.input.peek(syn::token::Paren) {
                let _: TokenStream = meta.input.parse()?;
            }
            Ok(())
        })?;
    }
    Ok(name)
}

/// `#[audited(secret)]` on a field: removed from the output, returns whether it was there.
fn take_secret_marker(field: &mut syn::Field) -> syn::Result<bool> {
    let mut secret = false;
    let mut error = None;
    field.attrs.retain(|attr| {
        if !attr.path().is_ident("audited") {
            return true;
        }
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("secret") {
                secret = true;
                Ok(())
            } else {
                Err(meta.error("the only field option is `#[audited(secret)]` (mask this column in events)"))
            }
        });
        if let Err(e) = parsed {
            error = Some(e);
        }
        false
    });
    match error {
        Some(e) => Err(e),
        None => Ok(secret),
    }
}

pub(crate) fn model(args: TokenStream, mut item: syn::ItemStruct) -> syn::Result<Model> {
    let metas = NestedMeta::parse_meta_list(args)?;
    let args = ModelArgs::from_list(&metas).map_err(|e| syn::Error::new(e.span(), e.to_string()))?;
    let syn::Fields::Named(fields) = &mut item.fields else {
        return Err(syn::Error::new_spanned(
            &item,
            "#[audited] on a model needs a struct with named fields (a SeaORM `Model`)",
        ));
    };
    let mut columns = Vec::new();
    let mut masked_columns = Vec::new();
    for field in fields.named.iter_mut() {
        let ident = field.ident.clone().ok_or_else(|| syn::Error::new(field.span(), "unnamed field"))?;
        let column = column_name(field)?.unwrap_or_else(|| ident.to_string().trim_start_matches("r#").to_owned());
        if take_secret_marker(field)? {
            masked_columns.push(column.clone());
        }
        columns.push((ident.to_string(), column));
    }
    for path in args.exclude.iter() {
        let name = path.get_ident().map(ToString::to_string).unwrap_or_default();
        match columns.iter().find(|(field, column)| *field == name || *column == name) {
            Some((_, column)) => masked_columns.push(column.clone()),
            None => {
                let known: Vec<&str> = columns.iter().map(|(field, _)| field.as_str()).collect();
                return Err(syn::Error::new_spanned(
                    path,
                    format!("`exclude` names a field this model does not have; its fields are: {}", known.join(", ")),
                ));
            }
        }
    }
    masked_columns.sort();
    masked_columns.dedup();
    Ok(Model { item, masked_columns })
}

pub(crate) fn behavior(args: TokenStream, item: syn::ItemImpl) -> syn::Result<Behavior> {
    if !args.is_empty() {
        return Err(syn::Error::new_spanned(
            args,
            "#[audited] on `impl ActiveModelBehavior` takes no options: put `exclude(...)` on the model struct",
        ));
    }
    let is_behavior = item
        .trait_
        .as_ref()
        .and_then(|(_, path, _)| path.segments.last())
        .is_some_and(|segment| segment.ident == "ActiveModelBehavior");
    if !is_behavior {
        return Err(syn::Error::new_spanned(
            item.self_ty.as_ref(),
            "#[audited] on an impl block needs `impl ActiveModelBehavior for ActiveModel`",
        ));
    }
    for impl_item in &item.items {
        if let syn::ImplItem::Fn(function) = impl_item
            && HOOKS.contains(&function.sig.ident.to_string().as_str())
            && function.sig.asyncness.is_none()
        {
            return Err(syn::Error::new_spanned(
                &function.sig.ident,
                "this hook is not an `async fn` here: put #[audited] above #[async_trait] (it must see the async fns)",
            ));
        }
    }
    let has_async_trait =
        item.attrs.iter().any(|attr| attr.path().segments.last().is_some_and(|segment| segment.ident == "async_trait"));
    Ok(Behavior { item, has_async_trait })
}
