//! `crate = "..."`: where generated code finds the runtime crate, like serde's
//! `#[serde(crate = "...")]`, for users who reach it through a re-export.

use darling::FromMeta;
use darling::ast::NestedMeta;
use proc_macro2::TokenStream;
use quote::ToTokens;

/// The runtime crate's path in generated code; `::rail_graphql_security` unless overridden.
#[derive(Debug, Clone)]
pub(crate) struct CratePath(syn::Path);

impl Default for CratePath {
    fn default() -> Self {
        Self(syn::parse_quote!(::rail_graphql_security))
    }
}

impl FromMeta for CratePath {
    fn from_meta(item: &syn::Meta) -> darling::Result<Self> {
        syn::Path::from_meta(item).map(Self).map_err(|_| {
            darling::Error::custom(
                "`crate` takes the runtime crate's path as a string, e.g. `crate = \"::my_app::security\"`",
            )
            .with_span(item)
        })
    }
}

impl ToTokens for CratePath {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        self.0.to_tokens(tokens);
    }
}

impl CratePath {
    /// The `crate = "..."` among attribute arguments, read leniently: used for the stub impls
    /// emitted next to errors, when the arguments as a whole did not parse.
    pub(crate) fn find(args: &TokenStream) -> Self {
        Self::written_in(args).unwrap_or_default()
    }

    fn written_in(args: &TokenStream) -> Option<Self> {
        NestedMeta::parse_meta_list(args.clone()).unwrap_or_default().iter().find_map(|item| match item {
            NestedMeta::Meta(meta) if meta.path().is_ident("crate") => Self::from_meta(meta).ok(),
            _ => None,
        })
    }

    /// [`find`](Self::find) over the `#[name(...)]` attributes of a derive input.
    pub(crate) fn find_in_attrs(attrs: &[syn::Attribute], name: &str) -> Self {
        attrs
            .iter()
            .filter(|attr| attr.path().is_ident(name))
            .filter_map(|attr| attr.meta.require_list().ok())
            .filter_map(|list| Self::written_in(&list.tokens))
            .next_back()
            .unwrap_or_default()
    }
}
