//! Checks of the resolver attributes' options (durations, names looked up in tables, arguments
//! named in `fields(...)`, `cost` against `limit`) and of the resolver's shape, before anything
//! is generated. Every problem is collected, each spanned on the narrowest token.

use proc_macro2::Span;

use super::parse::{AuditedArgs, RateLimitArgs, RequireMfaArgs};
use crate::common::{CratePath, did_you_mean};

/// The checked `#[rate_limit]` options.
#[derive(Debug)]
pub(crate) struct RateLimitOptions {
    pub(crate) limit: u32,
    pub(crate) window_secs: u64,
    /// `LimitKey` variant name.
    pub(crate) per: syn::Ident,
    pub(crate) cost: u32,
    pub(crate) krate: CratePath,
}

/// The checked `#[require_mfa]` options.
#[derive(Debug)]
pub(crate) struct MfaOptions {
    pub(crate) max_age_secs: Option<u64>,
    pub(crate) allow_trusted_device: bool,
    /// `MfaMethod` variant names (`Totp`, `Sms`, `BackupCode`, `Passkey`).
    pub(crate) methods: Vec<syn::Ident>,
    /// `phishing_resistant`: only a passkey, no trusted device.
    pub(crate) phishing_resistant: bool,
    pub(crate) krate: CratePath,
}

/// The checked `#[audited]` options.
#[derive(Debug)]
pub(crate) struct AuditOptions {
    pub(crate) event: Option<String>,
    /// `AuditSeverity` variant name.
    pub(crate) severity: Option<syn::Ident>,
    pub(crate) fields: Vec<syn::Ident>,
    pub(crate) guard: Option<syn::Expr>,
    pub(crate) krate: CratePath,
}

const PER: &[(&str, &str)] = &[("user", "User"), ("ip", "Ip"), ("user_and_ip", "UserAndIp"), ("global", "Global")];
const METHODS: &[(&str, &str)] =
    &[("totp", "Totp"), ("sms", "Sms"), ("backup_code", "BackupCode"), ("passkey", "Passkey")];
const SEVERITIES: &[(&str, &str)] = &[("low", "Low"), ("medium", "Medium"), ("high", "High"), ("critical", "Critical")];

/// Checks `#[require_mfa(...)]`, reporting every mistake at once.
pub(crate) fn require_mfa(args: RequireMfaArgs) -> darling::Result<MfaOptions> {
    let mut errors = darling::Error::accumulator();
    let max_age_secs = args.max_age.as_ref().and_then(|lit| {
        errors.handle(parse_duration(&lit.value(), "max_age").map_err(|msg| darling::Error::custom(msg).with_span(lit)))
    });
    let methods = args
        .methods
        .iter()
        .flat_map(|list| list.iter())
        .filter_map(|path| errors.handle(variant_of(path, METHODS, "methods", "MFA method")))
        .collect::<Vec<syn::Ident>>();
    let phishing_resistant = args.phishing_resistant.is_present();
    if phishing_resistant {
        // Only a passkey resists phishing: a list naming another method, or a trusted device
        // allowed, would contradict the flag.
        if let Some(other) = methods.iter().find(|m| *m != "Passkey") {
            errors.push(
                darling::Error::custom(
                    "`phishing_resistant` accepts only a passkey; drop this method or drop `phishing_resistant`",
                )
                .with_span(other),
            );
        }
        if args.allow_trusted_device == Some(true) {
            errors.push(
                darling::Error::custom(
                    "`phishing_resistant` refuses trusted devices (a device cookie can be stolen); drop `allow_trusted_device = true`",
                )
                .with_span(&syn::Ident::new("phishing_resistant", args.phishing_resistant.span())),
            );
        }
    }
    errors.finish_with(MfaOptions {
        max_age_secs,
        allow_trusted_device: args.allow_trusted_device.unwrap_or(!phishing_resistant),
        methods,
        phishing_resistant,
        krate: args.krate,
    })
}

/// Checks `#[rate_limit(...)]`, reporting every mistake at once.
pub(crate) fn rate_limit(args: RateLimitArgs) -> darling::Result<RateLimitOptions> {
    let mut errors = darling::Error::accumulator();
    let missing = |option: &str, example: &str| {
        darling::Error::custom(format!(
            "`#[rate_limit]` needs `{option}`, e.g. `#[rate_limit(limit = 5, window = \"1m\")]`; {example}"
        ))
        .with_span(&Span::call_site())
    };
    let limit = match &args.limit {
        Some(lit) => errors.handle(positive(lit, "limit", "calls allowed per window")),
        None => {
            errors.push(missing("limit", "`limit` is how many calls a window allows"));
            None
        }
    };
    let window_secs = match &args.window {
        Some(lit) => errors
            .handle(parse_duration(&lit.value(), "window").map_err(|msg| darling::Error::custom(msg).with_span(lit))),
        None => {
            errors.push(missing("window", "`window` is a duration such as \"30s\", \"1m\" or \"1h\""));
            None
        }
    };
    let per = match &args.per {
        Some(lit) => {
            let name = lit.value();
            let found =
                PER.iter().find(|(key, _)| *key == name).map(|(_, variant)| syn::Ident::new(variant, lit.span()));
            let error = || {
                darling::Error::custom(format!(
                    "unknown `per = \"{name}\"`: use one of user, ip, user_and_ip, global{}",
                    did_you_mean(&name, PER.iter().map(|(k, _)| *k))
                ))
                .with_span(lit)
            };
            errors.handle(found.ok_or_else(error))
        }
        None => Some(syn::Ident::new("User", Span::call_site())),
    };
    let cost = match &args.cost {
        Some(lit) => errors.handle(positive(lit, "cost", "how many calls one call weighs")),
        None => Some(1),
    };
    if let (Some(limit), Some(cost), Some(lit)) = (limit, cost, &args.cost)
        && cost > limit
    {
        errors.push(
            darling::Error::custom(format!(
                "`cost = {cost}` is above `limit = {limit}`, so every call would be refused; lower the cost or raise \
                 the limit"
            ))
            .with_span(lit),
        );
    }
    let options = errors.finish_with((limit, window_secs, per, cost))?;
    let (Some(limit), Some(window_secs), Some(per), Some(cost)) = options else {
        return Err(darling::Error::custom("`#[rate_limit]`: invalid options").with_span(&Span::call_site()));
    };
    Ok(RateLimitOptions { limit, window_secs, per, cost, krate: args.krate })
}

/// A literal that is a whole number from 1 to `u32::MAX`.
fn positive(lit: &syn::LitInt, option: &str, meaning: &str) -> darling::Result<u32> {
    match lit.base10_parse::<u32>() {
        Ok(0) => Err(darling::Error::custom(format!(
            "`{option} = 0` would refuse every call; `{option}` is {meaning}, at least 1 (remove the attribute to \
             lift the limit)"
        ))
        .with_span(lit)),
        Ok(value) => Ok(value),
        Err(_) => Err(darling::Error::custom(format!(
            "`{option} = {lit}`: `{option}` is {meaning}, a whole number from 1 to {}",
            u32::MAX
        ))
        .with_span(lit)),
    }
}

/// Checks `#[audited(...)]` against the resolver's parameters (`None`: the item is not a
/// resolver, `fields(...)` is not checked).
pub(crate) fn audited(args: AuditedArgs, params: Option<&[syn::Ident]>) -> darling::Result<AuditOptions> {
    let mut errors = darling::Error::accumulator();
    let severity = args.severity.as_ref().and_then(|lit| {
        let name = lit.value();
        let found = SEVERITIES.iter().find(|(key, _)| *key == name);
        let error = || {
            darling::Error::custom(format!(
                "unknown severity `{name}`: use one of low, medium, high, critical{}",
                did_you_mean(&name, SEVERITIES.iter().map(|(k, _)| *k))
            ))
            .with_span(lit)
        };
        errors.handle(found.map(|(_, variant)| syn::Ident::new(variant, lit.span())).ok_or_else(error))
    });
    if let Some(event) = &args.event
        && event.value().trim().is_empty()
    {
        errors.push(
            darling::Error::custom("`event` is empty: name the event, e.g. `event = \"payout_sent\"`").with_span(event),
        );
    }
    let names: Vec<String> = params.unwrap_or_default().iter().map(ToString::to_string).collect();
    let fields = args
        .fields
        .iter()
        .flat_map(|list| list.iter())
        .filter_map(|path| {
            let ident = errors.handle(single_ident(path, "fields"))?;
            let params = params?;
            let position = names.iter().position(|n| ident == n);
            let unknown = || {
                let name = ident.to_string();
                let listed = if names.is_empty() { "it has none".to_owned() } else { names.join(", ") };
                darling::Error::custom(format!(
                    "`fields({name})`: the resolver has no argument `{name}` (its arguments: {listed}){}",
                    did_you_mean(&name, names.iter().map(String::as_str))
                ))
                .with_span(path)
            };
            errors.handle(position.map(|i| params[i].clone()).ok_or_else(unknown))
        })
        .collect();
    errors.finish_with(AuditOptions {
        event: args.event.map(|e| e.value()),
        severity,
        fields,
        guard: args.guard,
        krate: args.krate,
    })
}

fn single_ident(path: &syn::Path, option: &str) -> darling::Result<syn::Ident> {
    path.get_ident().cloned().ok_or_else(|| {
        darling::Error::custom(format!("`{option}(...)` takes plain names, e.g. `{option}(a, b)`")).with_span(path)
    })
}

fn variant_of(path: &syn::Path, table: &[(&str, &str)], option: &str, what: &str) -> darling::Result<syn::Ident> {
    let ident = single_ident(path, option)?;
    let name = ident.to_string();
    match table.iter().find(|(key, _)| *key == name) {
        Some((_, variant)) => Ok(syn::Ident::new(variant, ident.span())),
        None => {
            let keys: Vec<&str> = table.iter().map(|(k, _)| *k).collect();
            Err(darling::Error::custom(format!(
                "unknown {what} `{name}`: use {}{}",
                keys.join(", "),
                did_you_mean(&name, keys.iter().copied())
            ))
            .with_span(&ident))
        }
    }
}

/// A duration like `90s`, `15m`, `1h30m` or `7d`, in seconds; `option` names it in messages.
pub(crate) fn parse_duration(text: &str, option: &str) -> Result<u64, String> {
    const EXAMPLES: &str = "write a number and a unit (s, m, h, d), e.g. \"15m\", \"90s\" or \"1h30m\"";
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("`{option}` is empty: {EXAMPLES}"));
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(format!("`{option} = \"{text}\"`: unknown unit `{c}`; {EXAMPLES}")),
        };
        if digits.is_empty() {
            return Err(format!("`{option} = \"{text}\"`: `{c}` has no number before it; {EXAMPLES}"));
        }
        let value: u64 = digits.parse().map_err(|_| format!("`{option} = \"{text}\"` is too long"))?;
        digits.clear();
        total = value
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("`{option} = \"{text}\"` is too long"))?;
    }
    if !digits.is_empty() {
        return Err(format!("`{option} = \"{text}\"`: `{digits}` has no unit; {EXAMPLES}"));
    }
    if total == 0 {
        let why = if option == "max_age" {
            "no second factor would ever be recent enough"
        } else {
            "nothing would be limited"
        };
        return Err(format!("`{option} = \"{text}\"` is zero, so {why}; {EXAMPLES}"));
    }
    Ok(total)
}

/// The resolver an attribute sits on: an `async fn` method taking `&self` and the
/// async-graphql context as its second parameter.
#[derive(Debug)]
pub(crate) struct Resolver {
    pub(crate) func: syn::ItemFn,
    /// The context parameter's name (a hygienic one replaces `#[Object]`'s `_`).
    pub(crate) ctx: syn::Ident,
    /// The GraphQL arguments' names.
    pub(crate) params: Vec<syn::Ident>,
}

/// Checks the function is a resolver; `macro_name` is used in messages (`require_mfa`).
pub(crate) fn resolver(mut func: syn::ItemFn, macro_name: &str) -> darling::Result<Resolver> {
    let mut errors = darling::Error::accumulator();
    let sig = &func.sig;
    let is_method = matches!(sig.inputs.first(), Some(syn::FnArg::Receiver(_)));
    if !is_method {
        errors.push(
            darling::Error::custom(format!(
                "`#[{macro_name}]` goes on a resolver method (`async fn name(&self, ...)`) inside an `#[Object]` or \
                 `#[ComplexObject]` impl, not on a free function"
            ))
            .with_span(&sig.fn_token),
        );
    }
    if sig.asyncness.is_none() {
        errors.push(
            darling::Error::custom(format!("`#[{macro_name}]` needs an `async fn`; make the resolver async"))
                .with_span(&sig.fn_token),
        );
    }
    let ctx = match sig.inputs.iter().nth(1) {
        Some(syn::FnArg::Typed(arg)) if is_context(&arg.ty) => match &*arg.pat {
            syn::Pat::Ident(pat) => Some(pat.ident.clone()),
            syn::Pat::Wild(_) => Some(syn::Ident::new("__rail_ctx", Span::mixed_site())),
            other => {
                errors.push(
                    darling::Error::custom("name the context parameter, e.g. `ctx: &Context<'_>`").with_span(other),
                );
                None
            }
        },
        _ if is_method => {
            errors.push(
                darling::Error::custom(format!(
                    "`#[{macro_name}]` needs the request context: put `#[Object]` or `#[ComplexObject]` on the impl \
                     (it passes the context), or take `ctx: &Context<'_>` right after `&self`"
                ))
                .with_span(&sig.ident),
            );
            None
        }
        _ => None,
    };
    let params = sig
        .inputs
        .iter()
        .skip(2)
        .filter_map(|arg| match arg {
            syn::FnArg::Typed(typed) => match &*typed.pat {
                syn::Pat::Ident(pat) => Some(pat.ident.clone()),
                _ => None,
            },
            syn::FnArg::Receiver(_) => None,
        })
        .collect();
    errors.finish()?;
    let ctx = ctx.unwrap_or_else(|| syn::Ident::new("ctx", Span::call_site()));
    if let Some(syn::FnArg::Typed(arg)) = func.sig.inputs.iter_mut().nth(1)
        && matches!(*arg.pat, syn::Pat::Wild(_))
    {
        *arg.pat = syn::Pat::Ident(syn::PatIdent {
            attrs: Vec::new(),
            by_ref: None,
            mutability: None,
            ident: ctx.clone(),
            subpat: None,
        });
    }
    Ok(Resolver { func, ctx, params })
}

/// `&Context<'_>` (any path ending in `Context`).
fn is_context(ty: &syn::Type) -> bool {
    let syn::Type::Reference(reference) = ty else { return false };
    let syn::Type::Path(path) = &*reference.elem else { return false };
    path.path.segments.last().is_some_and(|s| s.ident == "Context")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s", "max_age"), Ok(90));
        assert_eq!(parse_duration("15m", "max_age"), Ok(900));
        assert_eq!(parse_duration("1h30m", "max_age"), Ok(5400));
        assert_eq!(parse_duration("2d", "max_age"), Ok(172_800));
        assert_eq!(parse_duration("1d2h3m4s", "max_age"), Ok(93_784));
        for bad in ["", "15", "m", "15x", "0m", "1h30", "99999999999999999999d", "-5m"] {
            assert!(parse_duration(bad, "window").is_err(), "{bad:?} must be refused");
        }
    }
}
