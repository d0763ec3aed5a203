//! `#[require_mfa]`, `#[audited]` and `#[rate_limit]` on resolvers: parse (darling receivers,
//! the item as a function), validate (the options and the resolver's shape), expand (quote only).
//!
//! `#[Object]` / `#[ComplexObject]` expand before these attributes: by then a resolver without
//! a context parameter has `_: &Context<'_>` inserted at position 1 (renamed to a hygienic name
//! here) and a plain return type has become `Result<T>`.

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;
use quote::ToTokens;

use crate::common;

/// `#[require_mfa(...)]`: the check, or the errors next to the item as written.
pub(crate) fn require_mfa(attr: TokenStream, item: TokenStream) -> TokenStream {
    wrap(attr, item, "require_mfa", validate::require_mfa, expand::require_mfa)
}

/// `#[rate_limit(...)]`: the count, or the errors next to the item as written.
pub(crate) fn rate_limit(attr: TokenStream, item: TokenStream) -> TokenStream {
    wrap(attr, item, "rate_limit", validate::rate_limit, expand::rate_limit)
}

/// The phases of an attribute whose options do not depend on the resolver: its arguments and
/// the resolver are checked independently, so the errors of both are reported at once.
fn wrap<Args: darling::FromMeta + Default, Options>(
    attr: TokenStream,
    item: TokenStream,
    macro_name: &str,
    validate: fn(Args) -> darling::Result<Options>,
    expand: fn(&Options, validate::Resolver) -> TokenStream,
) -> TokenStream {
    let options = common::attribute_args(attr).and_then(validate);
    match (options, resolver(&item, macro_name)) {
        (Ok(options), Ok(resolver)) => expand(&options, resolver),
        (options, resolver) => fallback([options.err(), resolver.err()], item),
    }
}

/// `#[audited(...)]` on a resolver. A `#[require_mfa]` further down the same method is applied
/// first, so its refusals are inside the audited call whatever the attribute order.
pub(crate) fn audited(attr: TokenStream, item: TokenStream) -> TokenStream {
    let resolver = resolver(&item, "audited")
        .map_err(|errors| InnerFailure { errors, item: item.clone() })
        .and_then(inner_require_mfa);
    let params = resolver.as_ref().ok().map(|r| r.params.as_slice());
    let options = common::attribute_args(attr).and_then(|args| validate::audited(args, params));
    match (options, resolver) {
        (Ok(options), Ok(resolver)) => expand::audited(&options, resolver),
        (options, Err(InnerFailure { errors, item })) => fallback([options.err(), Some(errors)], item),
        (Err(errors), Ok(_)) => common::with_errors(errors, item),
    }
}

/// A resolver that failed to parse or check (or whose inner `#[require_mfa]` did), and what to
/// emit in its place.
struct InnerFailure {
    errors: darling::Error,
    /// The item as written, or without the `#[require_mfa]` whose options were wrong (so the
    /// error is not reported twice).
    item: TokenStream,
}

/// Parses and checks the item a resolver attribute sits on.
fn resolver(item: &TokenStream, macro_name: &str) -> darling::Result<validate::Resolver> {
    parse::function(item, macro_name).and_then(|func| validate::resolver(func, macro_name))
}

/// Applies and removes a `#[require_mfa(...)]` left on the method.
fn inner_require_mfa(mut resolver: validate::Resolver) -> Result<validate::Resolver, InnerFailure> {
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
    match common::attribute_args(args).and_then(validate::require_mfa) {
        Ok(options) => {
            let func = expand::require_mfa(&options, resolver);
            self::resolver(&func, "require_mfa").map_err(|errors| InnerFailure { errors, item: func })
        }
        Err(errors) => Err(InnerFailure { errors, item: resolver.func.into_token_stream() }),
    }
}

/// Every error, then the item (so one mistake does not cascade into many).
fn fallback(errors: [Option<darling::Error>; 2], item: TokenStream) -> TokenStream {
    let mut all = darling::Error::accumulator();
    errors.into_iter().flatten().for_each(|error| all.push(error));
    match all.finish() {
        Ok(()) => item,
        Err(errors) => common::with_errors(errors, item),
    }
}

#[cfg(test)]
mod snapshot_tests {
    //! Expansion snapshots of resolvers as `#[Object]` hands them over.

    use proc_macro2::TokenStream;
    use quote::quote;

    use crate::common::assert_expansion;

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
        assert_expansion("resolver_require_mfa", super::require_mfa(attr, object_rewritten_secret()));
    }

    #[test]
    fn require_mfa_phishing_resistant() {
        let attr = quote!(phishing_resistant, max_age = "5m");
        assert_expansion(
            "resolver_require_mfa_phishing_resistant",
            super::require_mfa(attr, object_rewritten_secret()),
        );
    }

    #[test]
    fn phishing_resistant_refuses_other_methods_and_trusted_devices() {
        let attr = quote!(phishing_resistant, allow_trusted_device = true, methods(passkey, totp));
        assert_expansion("resolver_phishing_resistant_misuse", super::require_mfa(attr, object_rewritten_secret()));
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
        assert_expansion("resolver_audited", super::audited(attr, item));
    }

    #[test]
    fn audited_applies_an_inner_require_mfa_first() {
        let item = quote! {
            #[require_mfa(max_age = "5m")]
            async fn close(&self, _: &async_graphql::Context<'_>) -> async_graphql::Result<bool> {
                Ok(true)
            }
        };
        assert_expansion("resolver_audited_then_require_mfa", super::audited(quote!(), item));
    }

    #[test]
    fn rate_limit_on_an_object_rewritten_resolver() {
        let attr = quote!(limit = 5, window = "1m", per = "user_and_ip", cost = 2);
        assert_expansion("resolver_rate_limit", super::rate_limit(attr, object_rewritten_secret()));
    }

    #[test]
    fn misuse_is_errors_plus_the_item_unchanged() {
        let item = quote! {
            fn secret(&self) -> i32 {
                1
            }
        };
        assert_expansion("resolver_misuse", super::require_mfa(quote!(max_age = "15x"), item));
    }
}
