//! The attribute grammar, as darling receivers.

use std::collections::BTreeMap;

use darling::util::Flag;
use darling::{FromDeriveInput, FromField, FromMeta};
use proc_macro2::Span;
use syn::spanned::Spanned;

/// `key = <any expression>`, keeping the key's span for errors.
#[derive(Debug, Clone)]
pub(crate) struct KeyValue {
    pub(crate) key: Span,
    pub(crate) expr: syn::Expr,
}

impl FromMeta for KeyValue {
    fn from_meta(item: &syn::Meta) -> darling::Result<Self> {
        match item {
            syn::Meta::NameValue(nv) => Ok(KeyValue { key: nv.path.span(), expr: nv.value.clone() }),
            _ => {
                let key = item.path().get_ident().map(ToString::to_string).unwrap_or_default();
                Err(darling::Error::custom(format!("`{key}` needs a value: write `{key} = <value>`, e.g. `{key} = 5`"))
                    .with_span(item))
            }
        }
    }
}

/// `#[security(...)]` on the struct.
#[derive(Debug, FromDeriveInput)]
#[darling(attributes(security), supports(struct_named))]
pub(crate) struct ContainerAttrs {
    pub(crate) ident: syn::Ident,
    pub(crate) generics: syn::Generics,
    pub(crate) data: darling::ast::Data<(), FieldAttrs>,
    /// Env var prefix (`MYAPP` for `MYAPP__KEY`).
    #[darling(default)]
    pub(crate) prefix: Option<syn::LitStr>,
    /// Functions `fn(&Self, &mut Checklist)`.
    #[darling(default, multiple)]
    pub(crate) check: Vec<syn::Path>,
    /// Functions `fn(&Self) -> Result<(), impl Display>`.
    #[darling(default, multiple)]
    pub(crate) validate: Vec<syn::Path>,
    /// Path of the runtime crate (default `::rail_graphql_security`).
    #[darling(default, rename = "crate")]
    pub(crate) krate: Option<syn::Path>,
}

/// `#[security(...)]` on a field.
#[derive(Debug, FromField)]
#[darling(attributes(security), forward_attrs(doc))]
pub(crate) struct FieldAttrs {
    pub(crate) ident: Option<syn::Ident>,
    pub(crate) ty: syn::Type,
    pub(crate) attrs: Vec<syn::Attribute>,
    #[darling(default)]
    pub(crate) default: Option<KeyValue>,
    #[darling(default)]
    pub(crate) development: Option<KeyValue>,
    #[darling(default)]
    pub(crate) staging: Option<KeyValue>,
    #[darling(default)]
    pub(crate) production: Option<KeyValue>,
    /// Values for user-named profiles: `profile(qa = 4)`.
    #[darling(default)]
    pub(crate) profile: BTreeMap<syn::Ident, KeyValue>,
    #[darling(default)]
    pub(crate) secret: Flag,
    #[darling(default)]
    pub(crate) generate: Flag,
    #[darling(default)]
    pub(crate) nested: Flag,
    #[darling(default)]
    pub(crate) non_empty: Flag,
    #[darling(default)]
    pub(crate) https_in_production: Flag,
    #[darling(default)]
    pub(crate) range: Option<KeyValue>,
    #[darling(default, multiple)]
    pub(crate) validate: Vec<syn::Path>,
    #[darling(default, multiple)]
    pub(crate) check: Vec<syn::Path>,
}

pub(crate) fn parse(input: &syn::DeriveInput) -> darling::Result<ContainerAttrs> {
    ContainerAttrs::from_derive_input(input)
}
