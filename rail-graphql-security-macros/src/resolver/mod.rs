//! `#[require_mfa]` and `#[audited]` on resolvers: parse (darling receivers and checks of the
//! options and of the item), expand (quote only).
//!
//! `#[Object]` / `#[ComplexObject]` expand before these attributes: by then a resolver without
//! a context parameter has `_: &Context<'_>` inserted at position 1 (renamed to a hygienic name
//! here) and a plain return type has become `Result<T>`.

mod expand;
mod parse;

use proc_macro2::TokenStream;

/// `#[require_mfa(...)]`: the check, or the errors next to the untouched item.
pub(crate) fn require_mfa(attr: TokenStream, item: TokenStream) -> TokenStream {
    let options = parse::mfa_options(attr);
    let resolver = parse::resolver(item, "require_mfa");
    match (options, resolver) {
        (Ok(options), Ok(resolver)) => expand::require_mfa(&options, resolver),
        (options, resolver) => fallback(options.err(), resolver),
    }
}

/// `#[audited(...)]` on a resolver. A `#[require_mfa]` further down the same method is applied
/// first, so its refusals are inside the audited call whatever the attribute order.
pub(crate) fn audited(attr: TokenStream, item: TokenStream) -> TokenStream {
    let resolver = match parse::resolver(item, "audited") {
        Ok(resolver) => inner_require_mfa(resolver),
        Err(failure) => Err(failure),
    };
    let params = resolver.as_ref().ok().map(|r| r.params.as_slice());
    match (parse::audit_options(attr, params), resolver) {
        (Ok(options), Ok(resolver)) => expand::audited(&options, resolver),
        (options, resolver) => fallback(options.err(), resolver),
    }
}

/// The item, when `#[audited]` is on a model (a struct, an impl block, or another non-fn item
/// whose error `audited_model` reports) rather than on a resolver.
pub(crate) fn model_item(item: &TokenStream) -> Option<syn::Item> {
    match syn::parse2::<syn::Item>(item.clone()) {
        Ok(item @ (syn::Item::Struct(_) | syn::Item::Impl(_) | syn::Item::Enum(_) | syn::Item::Union(_))) => Some(item),
        _ => None,
    }
}

/// Applies and removes a `#[require_mfa(...)]` left on the method.
fn inner_require_mfa(mut resolver: parse::Resolver) -> Result<parse::Resolver, (darling::Error, TokenStream)> {
    let attrs = &mut resolver.func.attrs;
    let Some(index) = attrs.iter().position(|a| a.path().segments.last().is_some_and(|s| s.ident == "require_mfa"))
    else {
        return Ok(resolver);
    };
    let attr = attrs.remove(index);
    let args = match attr.meta {
        syn::Meta::List(list) => list.tokens,
        _ => TokenStream::new(),
    };
    let options = match parse::mfa_options(args) {
        Ok(options) => options,
        Err(e) => {
            let func = &resolver.func;
            return Err((e, quote::quote!(#func)));
        }
    };
    parse::resolver(expand::require_mfa(&options, resolver), "require_mfa")
}

/// The errors, then the item as it was (so one mistake does not cascade into many).
fn fallback(
    options: Option<darling::Error>,
    resolver: Result<parse::Resolver, (darling::Error, TokenStream)>,
) -> TokenStream {
    let mut errors = darling::Error::accumulator();
    if let Some(e) = options {
        errors.push(e);
    }
    let item = match resolver {
        Ok(resolver) => {
            let func = resolver.func;
            quote::quote!(#func)
        }
        Err((e, item)) => {
            errors.push(e);
            item
        }
    };
    let mut tokens = errors.finish().err().map(darling::Error::write_errors).unwrap_or_default();
    tokens.extend(item);
    tokens
}
