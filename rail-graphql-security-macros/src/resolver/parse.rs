//! The grammar of `#[require_mfa(...)]`, `#[audited(...)]` and `#[rate_limit(...)]` (darling
//! receivers: each struct is an attribute's grammar), and the item they sit on read as a
//! function.

use darling::FromMeta;
use darling::util::PathList;
use proc_macro2::TokenStream;
use syn::spanned::Spanned;

use crate::common::CratePath;

/// `#[require_mfa(...)]` as written.
#[derive(Debug, Default, FromMeta)]
pub(crate) struct RequireMfaArgs {
    pub(crate) max_age: Option<syn::LitStr>,
    pub(crate) allow_trusted_device: Option<bool>,
    pub(crate) methods: Option<PathList>,
    pub(crate) phishing_resistant: darling::util::Flag,
    #[darling(default, rename = "crate")]
    pub(crate) krate: CratePath,
}

/// `#[audited(...)]` on a resolver, as written.
#[derive(Debug, Default, FromMeta)]
pub(crate) struct AuditedArgs {
    pub(crate) event: Option<syn::LitStr>,
    pub(crate) severity: Option<syn::LitStr>,
    pub(crate) fields: Option<PathList>,
    pub(crate) guard: Option<syn::Expr>,
    #[darling(default, rename = "crate")]
    pub(crate) krate: CratePath,
}

/// `#[rate_limit(...)]` as written.
#[derive(Debug, Default, FromMeta)]
pub(crate) struct RateLimitArgs {
    pub(crate) limit: Option<syn::LitInt>,
    pub(crate) window: Option<syn::LitStr>,
    pub(crate) per: Option<syn::LitStr>,
    pub(crate) cost: Option<syn::LitInt>,
    #[darling(default, rename = "crate")]
    pub(crate) krate: CratePath,
}

/// The item as a function; `macro_name` (`require_mfa`) is used in the message for any other
/// item.
pub(crate) fn function(item: &TokenStream, macro_name: &str) -> darling::Result<syn::ItemFn> {
    syn::parse2(item.clone()).map_err(|_| wrong_item(item, macro_name))
}

fn wrong_item(item: &TokenStream, macro_name: &str) -> darling::Error {
    let what = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Struct(s)) => Some(("a struct", s.struct_token.span())),
        Ok(syn::Item::Enum(e)) => Some(("an enum", e.enum_token.span())),
        Ok(syn::Item::Impl(i)) => Some(("an impl block", i.impl_token.span())),
        Ok(syn::Item::Trait(t)) => Some(("a trait", t.trait_token.span())),
        Ok(syn::Item::Mod(m)) => Some(("a module", m.mod_token.span())),
        _ => None,
    };
    let (found, span) = what.unwrap_or(("this item", item.span()));
    darling::Error::custom(format!(
        "`#[{macro_name}]` goes on a resolver method (`async fn name(&self, ...)`) inside an `#[Object]` or \
         `#[ComplexObject]` impl, not on {found}"
    ))
    .with_span(&span)
}
