//! Code generation for the resolver attributes (quote only; inputs are already checked).

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::validate::{AuditOptions, MfaOptions, RateLimitOptions, Resolver};

/// The GraphQL field name async-graphql derives by default (`secret_note` -> `secretNote`).
fn field_name(ident: &syn::Ident) -> String {
    let rust = ident.to_string();
    let rust = rust.strip_prefix("r#").unwrap_or(&rust);
    let mut out = String::with_capacity(rust.len());
    let mut upper = false;
    for (i, c) in rust.chars().enumerate() {
        if c == '_' && i > 0 {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `type_name::<Self>()`: the resource's type, as a full path. `#[require_mfa]` and
/// `#[audited]` pass it as is (the runtime shortens it only when it builds an event, off the
/// request path); `#[rate_limit]` keys its counters by the short name.
fn type_name() -> TokenStream {
    quote!(::core::any::type_name::<Self>())
}

/// `#[require_mfa]`: the policy check becomes the body's first statement; a refusal returns
/// early through the resolver's own error type (`From<async_graphql::Error>`).
pub(crate) fn require_mfa(options: &MfaOptions, resolver: Resolver) -> TokenStream {
    let Resolver { mut func, ctx, .. } = resolver;
    let krate = &options.krate;
    let mut policy = quote!(#krate::mfa::MfaRequirement::new());
    if let Some(secs) = options.max_age_secs {
        policy.extend(quote!(.max_age(::core::time::Duration::from_secs(#secs))));
    }
    if options.phishing_resistant {
        policy.extend(quote!(.phishing_resistant()));
    } else if !options.allow_trusted_device {
        policy.extend(quote!(.allow_trusted_device(false)));
    }
    if !options.methods.is_empty() && !options.phishing_resistant {
        let methods = &options.methods;
        policy.extend(quote!(.methods(&[#(#krate::mfa::MfaMethod::#methods),*])));
    }
    let field = field_name(&func.sig.ident);
    let type_name = type_name();
    let denied = format_ident!("__rail_denied", span = Span::mixed_site());
    let check: syn::Stmt = syn::parse_quote_spanned! {func.block.span()=>
        if let ::core::result::Result::Err(#denied) = #krate::mfa::enforce_mfa(
            #ctx,
            {
                const __RAIL_POLICY: #krate::mfa::MfaRequirement = #policy;
                &__RAIL_POLICY
            },
            #krate::mfa::AuditAs::Field(#type_name, #field),
        ) {
            return ::core::result::Result::Err(#krate::__private::refusal(#denied));
        }
    };
    func.block.stmts.insert(0, check);
    quote!(#func)
}

/// `#[rate_limit]`: counting the call becomes the body's first statement; a refusal returns
/// early through the resolver's own error type.
pub(crate) fn rate_limit(options: &RateLimitOptions, resolver: Resolver) -> TokenStream {
    let Resolver { mut func, ctx, .. } = resolver;
    let RateLimitOptions { limit, window_secs, per, cost, krate } = options;
    let field = field_name(&func.sig.ident);
    let type_name = type_name();
    let type_name = quote!(#krate::__private::short_type_name(#type_name));
    let denied = format_ident!("__rail_denied", span = Span::mixed_site());
    let check: syn::Stmt = syn::parse_quote_spanned! {func.block.span()=>
        if let ::core::result::Result::Err(#denied) = #krate::rate_limit::enforce_resolver(
            #ctx,
            #type_name,
            #field,
            {
                const __RAIL_LIMIT: #krate::rate_limit::FieldLimit =
                    #krate::rate_limit::FieldLimit::new(#limit, ::core::time::Duration::from_secs(#window_secs))
                        .per(#krate::rate_limit::LimitKey::#per)
                        .cost(#cost);
                &__RAIL_LIMIT
            },
        )
        .await
        {
            return ::core::result::Result::Err(#krate::__private::refusal(#denied));
        }
    };
    func.block.stmts.insert(0, check);
    quote!(#func)
}

/// `#[audited]`: the body runs as `async move` between `AuditedCall::start` and `finish`, with
/// the resolver's return type driving inference; a `guard` runs first inside it.
pub(crate) fn audited(options: &AuditOptions, resolver: Resolver) -> TokenStream {
    let Resolver { mut func, ctx, .. } = resolver;
    let krate = &options.krate;
    let call = format_ident!("__rail_call", span = Span::mixed_site());
    let result = format_ident!("__rail_result", span = Span::mixed_site());
    let denied = format_ident!("__rail_denied", span = Span::mixed_site());
    let field = field_name(&func.sig.ident);
    let event = options.event.clone().unwrap_or_else(|| func.sig.ident.to_string().trim_start_matches("r#").to_owned());
    let severity = match &options.severity {
        Some(variant) => quote!(::core::option::Option::Some(#krate::audit::AuditSeverity::#variant)),
        None => quote!(::core::option::Option::None),
    };
    let arguments = options.fields.iter().map(|name| {
        let key = name.to_string();
        quote!(#call.argument(#key, &#name);)
    });
    let guard = options.guard.as_ref().map(|guard| {
        quote_spanned! {guard.span()=>
            if let ::core::result::Result::Err(#denied) =
                #krate::__private::async_graphql::Guard::check(&(#guard), #ctx).await
            {
                return ::core::result::Result::Err(#krate::__private::refusal(#denied));
            }
        }
    });
    let output = match &func.sig.output {
        syn::ReturnType::Type(_, ty) => quote!(#ty),
        syn::ReturnType::Default => quote!(()),
    };
    let type_name = type_name();
    let mutability = (!options.fields.is_empty()).then(|| quote!(mut));
    let stmts = &func.block.stmts;
    let body = quote_spanned! {func.block.span()=>
        {
            let #mutability #call = #krate::resolver::AuditedCall::start(#ctx, #type_name, #field, #event, #severity);
            #(#arguments)*
            let #result: #output = async move {
                #guard
                #(#stmts)*
            }
            .await;
            #call.finish(#ctx, &#result);
            #result
        }
    };
    match syn::parse2(body) {
        Ok(block) => *func.block = block,
        Err(e) => return e.to_compile_error(),
    }
    quote!(#func)
}

#[cfg(test)]
mod tests {
    #[test]
    fn field_names_follow_async_graphql() {
        let name = |s: &str| super::field_name(&syn::Ident::new(s, proc_macro2::Span::call_site()));
        assert_eq!(name("secret_note"), "secretNote");
        assert_eq!(name("payout"), "payout");
        assert_eq!(name("a_b_c"), "aBC");
    }
}
