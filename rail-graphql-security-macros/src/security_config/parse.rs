//! The attribute grammar, as darling receivers.

use std::collections::BTreeMap;

use darling::util::Flag;
use darling::{FromDeriveInput, FromField, FromMeta};
use proc_macro2::Span;
use syn::spanned::Spanned;

use crate::common::CratePath;

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

/// `env = "NAME"` on a leaf field, or `env(NAME = "key.path", ..)` on a nested section: the
/// conventional environment variables that set a key besides `PREFIX__SECTION__KEY`.
#[derive(Debug, Clone)]
pub(crate) enum EnvAttr {
    /// `env = "DATABASE_URL"`.
    Name(syn::LitStr),
    /// `env(JWT_SECRET = "deployment.secret_key")`: variable name, key path below the section.
    Map(Vec<(syn::Ident, syn::LitStr)>),
}

impl FromMeta for EnvAttr {
    fn from_string(value: &str) -> darling::Result<Self> {
        Ok(EnvAttr::Name(syn::LitStr::new(value, Span::call_site())))
    }

    fn from_value(value: &syn::Lit) -> darling::Result<Self> {
        match value {
            syn::Lit::Str(lit) => Ok(EnvAttr::Name(lit.clone())),
            other => Err(darling::Error::custom(
                "`env` takes the variable's name as a string, e.g. `env = \"DATABASE_URL\"`",
            )
            .with_span(other)),
        }
    }

    fn from_list(items: &[darling::ast::NestedMeta]) -> darling::Result<Self> {
        let mut errors = darling::Error::accumulator();
        let mut map = Vec::new();
        for item in items {
            let pair = match item {
                darling::ast::NestedMeta::Meta(syn::Meta::NameValue(nv)) => match (nv.path.get_ident(), &nv.value) {
                    (Some(ident), syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(path), .. })) => {
                        Some((ident.clone(), path.clone()))
                    }
                    _ => None,
                },
                _ => None,
            };
            match pair {
                Some(pair) => map.push(pair),
                None => errors.push(
                    darling::Error::custom(
                        "write each entry as `VARIABLE = \"key.path\"`, e.g. `env(JWT_SECRET = \"deployment.secret_key\")`",
                    )
                    .with_span(item),
                ),
            }
        }
        errors.finish_with(EnvAttr::Map(map))
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
    pub(crate) krate: CratePath,
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
    #[darling(default)]
    pub(crate) env: Option<EnvAttr>,
    /// On a nested section: `fn(&Profile) -> Section` giving the app's own defaults for it.
    #[darling(default)]
    pub(crate) defaults: Option<syn::Path>,
}

pub(crate) fn parse(input: &syn::DeriveInput) -> darling::Result<ContainerAttrs> {
    ContainerAttrs::from_derive_input(input)
}
