//! The grammar (darling receivers): `#[audited(exclude(a, b), crate = "...")]` on the struct,
//! `#[audited(secret)]` on a field, `#[audited(crate = "...")]` on the
//! `impl ActiveModelBehavior` block; and what is read from the struct (fields and their
//! `#[sea_orm(column_name = "...")]`).

use darling::FromMeta;
use darling::util::{Flag, PathList};
use proc_macro2::TokenStream;

use crate::common::{self, CratePath};

/// `#[audited(...)]` on the model struct.
#[derive(Debug, Default, FromMeta)]
pub(crate) struct ModelArgs {
    /// Fields (or columns) masked in events.
    #[darling(default)]
    pub(crate) exclude: PathList,
    #[darling(default, rename = "crate")]
    pub(crate) krate: CratePath,
}

/// `#[audited(...)]` on a field.
#[derive(Debug, Default, FromMeta)]
struct FieldArgs {
    /// Mask this column in events.
    secret: Flag,
}

/// `#[audited(...)]` on the `impl ActiveModelBehavior` block.
#[derive(Debug, Default, FromMeta)]
pub(crate) struct BehaviorArgs {
    /// Read only to say where it belongs (on the struct).
    pub(crate) exclude: Option<syn::Meta>,
    #[darling(default, rename = "crate")]
    pub(crate) krate: CratePath,
}

/// The model struct as read.
#[derive(Debug)]
pub(crate) struct ModelInput {
    pub(crate) args: ModelArgs,
    pub(crate) fields: Vec<FieldInput>,
}

/// One field of the model.
#[derive(Debug)]
pub(crate) struct FieldInput {
    pub(crate) ident: syn::Ident,
    /// Its column: `#[sea_orm(column_name = "...")]`, or the field's name.
    pub(crate) column: String,
    /// Marked `#[audited(secret)]`.
    pub(crate) secret: bool,
}

/// The `impl ActiveModelBehavior` block as read.
#[derive(Debug)]
pub(crate) struct BehaviorInput {
    pub(crate) args: BehaviorArgs,
    pub(crate) item: syn::ItemImpl,
}

/// Reads the model struct. The fields' `#[audited(...)]` markers are removed from `item` in
/// any case (they are not attributes the compiler knows), so it can be re-emitted as is.
pub(crate) fn model(args: TokenStream, item: &mut syn::ItemStruct) -> darling::Result<ModelInput> {
    let mut errors = darling::Error::accumulator();
    let args = errors.handle(common::attribute_args::<ModelArgs>(args)).unwrap_or_default();
    let mut fields = Vec::new();
    match &mut item.fields {
        syn::Fields::Named(named) => {
            for field in named.named.iter_mut() {
                let secret = take_markers(field, &mut errors);
                let column = errors.handle(column_name(field)).flatten();
                if let Some(ident) = field.ident.clone() {
                    let column = column.unwrap_or_else(|| ident.to_string().trim_start_matches("r#").to_owned());
                    fields.push(FieldInput { ident, column, secret });
                }
            }
        }
        other => {
            for field in other.iter_mut() {
                take_markers(field, &mut errors);
            }
            errors.push(
                darling::Error::custom("`#[audited]` on a model needs a struct with named fields (a SeaORM `Model`)")
                    .with_span(&item.ident),
            );
        }
    }
    errors.finish_with(ModelInput { args, fields })
}

/// Removes the field's `#[audited(...)]` markers; whether one says `secret`.
fn take_markers(field: &mut syn::Field, errors: &mut darling::error::Accumulator) -> bool {
    let mut secret = false;
    field.attrs.retain(|attr| {
        if !attr.path().is_ident("audited") {
            return true;
        }
        if let Some(args) = errors.handle(FieldArgs::from_meta(&attr.meta)) {
            secret |= args.secret.is_present();
        }
        false
    });
    secret
}

/// The field's `#[sea_orm(column_name = "...")]`; SeaORM's other options are skipped.
fn column_name(field: &syn::Field) -> darling::Result<Option<String>> {
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

/// Whether the struct derives SeaORM's `DeriveEntityModel` (so it is a `ModelTrait`).
pub(crate) fn derives_entity_model(item: &syn::ItemStruct) -> bool {
    item.attrs.iter().filter(|attr| attr.path().is_ident("derive")).any(|attr| {
        attr.parse_args_with(syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated).is_ok_and(
            |paths| paths.iter().any(|path| path.segments.last().is_some_and(|s| s.ident == "DeriveEntityModel")),
        )
    })
}

/// Whether the impl block is already under `#[async_trait]`.
pub(crate) fn has_async_trait(item: &syn::ItemImpl) -> bool {
    item.attrs.iter().any(|attr| attr.path().segments.last().is_some_and(|segment| segment.ident == "async_trait"))
}

/// Reads the `impl ActiveModelBehavior` block's arguments.
pub(crate) fn behavior(args: TokenStream, item: syn::ItemImpl) -> darling::Result<BehaviorInput> {
    Ok(BehaviorInput { args: common::attribute_args(args)?, item })
}
