//! `#[require_mfa]`, `#[audited]` and `#[rate_limit]` on resolvers: parse (darling receivers and checks of the
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

/// `#[rate_limit(...)]`: the count, or the errors next to the untouched item.
pub(crate) fn rate_limit(attr: TokenStream, item: TokenStream) -> TokenStream {
    let options = parse::rate_limit_options(attr);
    let resolver = parse::resolver(item, "rate_limit");
    match (options, resolver) {
        (Ok(options), Ok(resolver)) => expand::rate_limit(&options, resolver),
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

#[cfg(test)]
mod snapshot_tests {
    //! Expansion snapshots of resolvers as `#[Object]` hands them over, formatted with
    //! prettyplease and compared with the committed `tests/snapshots/resolver_*.rs`.
    //! `UPDATE_SNAPSHOTS=1 cargo test` rewrites them; read the diff before committing.

    use std::path::PathBuf;

    use proc_macro2::TokenStream;
    use quote::quote;

    fn assert_snapshot(name: &str, tokens: TokenStream) {
        let file: syn::File = syn::parse2(tokens).expect("the expansion parses as Rust items");
        let actual = prettyplease::unparse(&file);
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(format!("resolver_{name}.rs"));
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &actual).expect("write snapshot");
            return;
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run with UPDATE_SNAPSHOTS=1 to create it", path.display()));
        assert_eq!(actual, expected, "expansion of `{name}` changed; run with UPDATE_SNAPSHOTS=1 and review the diff");
    }

    /// What `#[Object]` emits for `async fn secret(&self) -> String { ... }`.
    fn object_rewritten_secret() -> TokenStream {
        quote! {
            async fn secret(&self, _: &async_graphql::Context<'_>) -> async_graphql::Result<String> {
                {
                    ::std::result::Result::Ok(async move {
                        let value: String = { "s3cret".to_owned() };
                        value
                    }.await)
                }
            }
        }
    }

    #[test]
    fn require_mfa_on_an_object_rewritten_resolver() {
        let attr = quote!(max_age = "1h30m", allow_trusted_device = false, methods(totp, backup_code));
        assert_snapshot("require_mfa", super::require_mfa(attr, object_rewritten_secret()));
    }

    #[test]
    fn audited_with_fields_and_a_guard() {
        let attr =
            quote!(event = "payout_sent", severity = "high", fields(amount, password), guard = "RequireMfa::new()");
        let item = quote! {
            async fn payout(&self, ctx: &Context<'_>, amount: i32, password: String) -> Result<bool> {
                Ok(amount > 0 && !password.is_empty())
            }
        };
        assert_snapshot("audited", super::audited(attr, item));
    }

    #[test]
    fn audited_applies_an_inner_require_mfa_first() {
        let item = quote! {
            #[require_mfa(max_age = "5m")]
            async fn close(&self, _: &async_graphql::Context<'_>) -> async_graphql::Result<bool> {
                Ok(true)
            }
        };
        assert_snapshot("audited_then_require_mfa", super::audited(quote!(), item));
    }

    #[test]
    fn rate_limit_on_an_object_rewritten_resolver() {
        let attr = quote!(limit = 5, window = "1m", per = "user_and_ip", cost = 2);
        assert_snapshot("rate_limit", super::rate_limit(attr, object_rewritten_secret()));
    }

    #[test]
    fn misuse_is_errors_plus_the_item_unchanged() {
        let item = quote! {
            fn secret(&self) -> i32 {
                1
            }
        };
        assert_snapshot("misuse", super::require_mfa(quote!(max_age = "15x"), item));
    }
}
