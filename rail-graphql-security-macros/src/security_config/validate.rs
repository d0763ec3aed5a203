//! Cross-attribute rules and default-value types, checked before anything is generated. Every
//! problem is collected, each spanned on the narrowest token, with a message that says what to do.

use darling::Error;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::parse::{ContainerAttrs, EnvAttr, FieldAttrs, KeyValue};
use crate::common::CratePath;

/// A checked derive input.
pub(crate) struct Model {
    pub(crate) ident: syn::Ident,
    pub(crate) krate: CratePath,
    pub(crate) prefix: String,
    pub(crate) checks: Vec<syn::Path>,
    pub(crate) validates: Vec<syn::Path>,
    pub(crate) fields: Vec<FieldModel>,
}

/// A checked field.
pub(crate) struct FieldModel {
    pub(crate) ident: syn::Ident,
    pub(crate) key: String,
    pub(crate) ty: syn::Type,
    pub(crate) doc: String,
    pub(crate) nested: bool,
    pub(crate) secret: bool,
    pub(crate) generate: bool,
    pub(crate) defaults: Defaults,
    pub(crate) range: Option<syn::Expr>,
    pub(crate) non_empty: Option<Span>,
    pub(crate) https_in_production: Option<Span>,
    pub(crate) validate: Vec<syn::Path>,
    pub(crate) check: Vec<syn::Path>,
    /// Conventional environment variables: (variable, key path below this field; empty for
    /// the field itself).
    pub(crate) env: Vec<(String, String)>,
    /// `defaults = path` on a nested section.
    pub(crate) section_defaults: Option<syn::Path>,
}

/// Default expressions, already converted to the field's type.
#[derive(Default)]
pub(crate) struct Defaults {
    pub(crate) default: Option<TokenStream>,
    pub(crate) development: Option<TokenStream>,
    pub(crate) staging: Option<TokenStream>,
    pub(crate) production: Option<TokenStream>,
    pub(crate) custom: Vec<(String, TokenStream)>,
}

impl Defaults {
    pub(crate) fn is_empty(&self) -> bool {
        self.default.is_none()
            && self.development.is_none()
            && self.staging.is_none()
            && self.production.is_none()
            && self.custom.is_empty()
    }
}

pub(crate) fn validate(attrs: ContainerAttrs) -> darling::Result<Model> {
    let mut errors = Error::accumulator();
    if let Some(param) = attrs.generics.params.first() {
        errors.push(
            Error::custom("`#[derive(SecurityConfig)]` does not support generic parameters; use a concrete struct")
                .with_span(param),
        );
    }
    let prefix = match &attrs.prefix {
        Some(lit) => {
            let value = lit.value();
            let valid = !value.is_empty()
                && value.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
                && !value.ends_with('_')
                && !value.starts_with(|c: char| c.is_ascii_digit());
            if !valid {
                errors.push(
                    Error::custom(format!(
                        "`prefix = \"{value}\"` is not an environment variable prefix; use uppercase letters, digits \
                         and single underscores, e.g. `prefix = \"MYAPP\"`"
                    ))
                    .with_span(lit),
                );
            }
            value
        }
        None => screaming_snake(&attrs.ident.to_string()),
    };
    let fields = attrs.data.take_struct().map(|fields| fields.fields).unwrap_or_default();
    let fields: Vec<FieldModel> = fields.into_iter().filter_map(|field| errors.handle(check_field(field))).collect();
    let mut seen = std::collections::BTreeSet::new();
    for field in &fields {
        for (var, _) in &field.env {
            if !seen.insert(var.clone()) {
                errors.push(
                    Error::custom(format!("`{var}` is named twice in `env`: one variable sets one key"))
                        .with_span(&field.ident),
                );
            }
        }
    }
    errors.finish_with(Model {
        ident: attrs.ident,
        krate: attrs.krate,
        prefix,
        checks: attrs.check,
        validates: attrs.validate,
        fields,
    })
}

fn check_field(field: FieldAttrs) -> darling::Result<FieldModel> {
    let mut errors = Error::accumulator();
    let Some(ident) = field.ident.clone() else {
        return Err(Error::custom("`#[derive(SecurityConfig)]` needs named fields").with_span(&field.ty));
    };
    if let Some(message) = unsupported_type(&field.ty) {
        errors.push(Error::custom(message).with_span(&field.ty));
    }
    let secret = field.secret.is_present();
    let nested = field.nested.is_present();
    let profile_values = [
        ("default", &field.default),
        ("development", &field.development),
        ("staging", &field.staging),
        ("production", &field.production),
    ];
    if nested {
        let mut conflict = |name: &str, span: Span| {
            errors.push(
                Error::custom(format!(
                    "`{name}` does not apply to a `#[security(nested)]` section: put it on the fields of the nested \
                     struct instead, or remove `nested`"
                ))
                .with_span(&span),
            );
        };
        for (name, value) in profile_values {
            if let Some(value) = value {
                conflict(name, value.key);
            }
        }
        for (name, value) in &field.profile {
            conflict(&format!("profile({name} = ..)"), value.key);
        }
        for (name, flag) in [
            ("secret", &field.secret),
            ("generate", &field.generate),
            ("non_empty", &field.non_empty),
            ("https_in_production", &field.https_in_production),
        ] {
            if flag.is_present() {
                conflict(name, flag.span());
            }
        }
        if let Some(range) = &field.range {
            conflict("range", range.key);
        }
    }
    if secret {
        for (name, value) in profile_values {
            if let Some(value) = value {
                errors.push(
                    Error::custom(format!(
                        "a `#[security(secret)]` field cannot have a built-in `{name}` value: secrets come from the \
                         config file or the environment; remove `{name}`, or add `generate` so `rail-security setup` \
                         writes a fresh random one"
                    ))
                    .with_span(&value.key),
                );
            }
        }
        for (name, value) in &field.profile {
            errors.push(
                Error::custom(format!(
                    "a `#[security(secret)]` field cannot have a built-in value for profile `{name}`: secrets come \
                     from the config file or the environment; remove it"
                ))
                .with_span(&value.key),
            );
        }
    }
    if field.generate.is_present() && !secret {
        errors.push(
            Error::custom("`generate` only applies to secrets: add `secret` (`#[security(secret, generate)]`)")
                .with_span(&field.generate.span()),
        );
    }
    for name in field.profile.keys() {
        let builtin = ["default", "development", "staging", "production"];
        if builtin.contains(&name.to_string().as_str()) {
            errors.push(
                Error::custom(format!("write `{name} = ..` directly instead of `profile({name} = ..)`"))
                    .with_span(name),
            );
        }
    }
    let range = field.range.as_ref().and_then(|range| match &range.expr {
        syn::Expr::Range(_) => Some(range.expr.clone()),
        other => {
            errors.push(
                Error::custom("`range` takes a range expression such as `1..=10` or `0.0..1.0`").with_span(other),
            );
            None
        }
    });

    let mut convert =
        |value: &Option<KeyValue>| value.as_ref().and_then(|v| errors.handle(convert_default(&field.ty, &v.expr)));
    let mut defaults = Defaults {
        default: convert(&field.default),
        development: convert(&field.development),
        staging: convert(&field.staging),
        production: convert(&field.production),
        custom: Vec::new(),
    };
    for (name, value) in &field.profile {
        if let Some(tokens) = errors.handle(convert_default(&field.ty, &value.expr)) {
            defaults.custom.push((name.to_string(), tokens));
        }
    }

    let env = match &field.env {
        None => Vec::new(),
        Some(EnvAttr::Name(lit)) if nested => {
            errors.push(
                Error::custom(format!(
                    "a `#[security(nested)]` section takes `env(VARIABLE = \"key\")` naming the key the variable \
                     sets, e.g. `env({} = \"some_key\")`",
                    lit.value()
                ))
                .with_span(lit),
            );
            Vec::new()
        }
        Some(EnvAttr::Name(lit)) => {
            check_env_name(&lit.value(), lit.span(), &mut errors);
            vec![(lit.value(), String::new())]
        }
        Some(EnvAttr::Map(map)) if !nested => {
            let span = map.first().map_or_else(|| ident.span(), |(var, _)| var.span());
            errors.push(
                Error::custom("`env(..)` with key paths is for `#[security(nested)]` sections; write `env = \"NAME\"`")
                    .with_span(&span),
            );
            Vec::new()
        }
        Some(EnvAttr::Map(map)) => map
            .iter()
            .map(|(var, path)| {
                check_env_name(&var.to_string(), var.span(), &mut errors);
                let value = path.value();
                let valid = !value.is_empty()
                    && value.split('.').all(|segment| {
                        !segment.is_empty()
                            && segment.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                    });
                if !valid {
                    errors.push(
                        Error::custom(format!(
                            "`{value}` is not a key path: write the nested keys joined by dots, e.g. \
                             \"deployment.secret_key\""
                        ))
                        .with_span(path),
                    );
                }
                (var.to_string(), value)
            })
            .collect(),
    };

    if let Some(path) = field.defaults.as_ref().filter(|_| !nested) {
        errors.push(
            Error::custom(
                "`defaults = ..` gives a nested section's defaults: add `nested`, or use `default = ..` for a value",
            )
            .with_span(path),
        );
    }

    let key = ident.to_string().trim_start_matches("r#").to_owned();
    errors.finish_with(FieldModel {
        env,
        section_defaults: field.defaults.clone().filter(|_| nested),
        doc: doc_text(&field.attrs),
        key,
        ident,
        nested,
        secret,
        generate: field.generate.is_present(),
        defaults,
        range,
        non_empty: field.non_empty.is_present().then(|| field.non_empty.span()),
        https_in_production: field.https_in_production.is_present().then(|| field.https_in_production.span()),
        validate: field.validate,
        check: field.check,
        ty: field.ty,
    })
}

fn check_env_name(name: &str, span: Span, errors: &mut darling::error::Accumulator) {
    let valid = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !valid {
        errors.push(
            Error::custom(format!(
                "`{name}` is not an environment variable name; use uppercase letters, digits and underscores, e.g. \
                 `DATABASE_URL`"
            ))
            .with_span(&span),
        );
    }
}

/// Why a type can never be a config value (checked syntactically; path types are checked by
/// the `ConfigValue` bound).
fn unsupported_type(ty: &syn::Type) -> Option<String> {
    let what = match ty {
        syn::Type::Reference(_) => "a reference",
        syn::Type::Tuple(_) => "a tuple",
        syn::Type::Array(_) | syn::Type::Slice(_) => "an array",
        syn::Type::Ptr(_) => "a raw pointer",
        syn::Type::BareFn(_) => "a function pointer",
        syn::Type::TraitObject(_) | syn::Type::ImplTrait(_) => "a trait object",
        syn::Type::Never(_) | syn::Type::Infer(_) => "this type",
        syn::Type::Paren(syn::TypeParen { elem: inner, .. }) | syn::Type::Group(syn::TypeGroup { elem: inner, .. }) => {
            return unsupported_type(inner);
        }
        _ => return None,
    };
    Some(format!(
        "{what} cannot be a config field: use an owned value type (bool, an integer, f64, String, PathBuf, Secret, \
         Option<T>, Vec<T>) or a `#[security(nested)]` struct"
    ))
}

/// The last path segment's name and its single generic argument, if any.
fn type_shape(ty: &syn::Type) -> Option<(String, Option<&syn::Type>)> {
    let syn::Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let segment = path.path.segments.last()?;
    let arg = match &segment.arguments {
        syn::PathArguments::AngleBracketed(args) if args.args.len() == 1 => match args.args.first() {
            Some(syn::GenericArgument::Type(inner)) => Some(inner),
            _ => None,
        },
        _ => None,
    };
    Some((segment.ident.to_string(), arg))
}

fn literal_of(expr: &syn::Expr) -> Option<&syn::Lit> {
    match expr {
        syn::Expr::Lit(lit) => Some(&lit.lit),
        syn::Expr::Unary(syn::ExprUnary { op: syn::UnOp::Neg(_), expr, .. }) => literal_of(expr),
        syn::Expr::Group(group) => literal_of(&group.expr),
        _ => None,
    }
}

/// Converts a default expression to the field's type: string literals become `String`/`PathBuf`,
/// `[..]` a `Vec`, a plain value `Some(..)` for an `Option`. A literal of the wrong kind is an
/// error naming what to write; other expressions are left for the type checker.
fn convert_default(ty: &syn::Type, expr: &syn::Expr) -> darling::Result<TokenStream> {
    let span = expr.span();
    let shape = type_shape(ty);
    let (name, inner) = match &shape {
        Some((name, inner)) => (name.as_str(), *inner),
        None => ("", None),
    };
    let lit = literal_of(expr);
    let wrong = |what: &str, example: &str| {
        Err(Error::custom(format!(
            "this default does not fit the field's type `{}`: {what}, e.g. `default = {example}`",
            quote!(#ty).to_string().replace(' ', "")
        ))
        .with_span(expr))
    };
    match name {
        "bool" => match lit {
            Some(syn::Lit::Bool(_)) | None if !matches!(expr, syn::Expr::Array(_)) => Ok(quote_spanned!(span=> #expr)),
            _ => wrong("write `true` or `false`", "true"),
        },
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" | "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => {
            match lit {
                Some(syn::Lit::Int(_)) | None if !matches!(expr, syn::Expr::Array(_)) => {
                    Ok(quote_spanned!(span=> #expr))
                }
                _ => wrong("write an integer", "5"),
            }
        }
        "f32" | "f64" => match lit {
            Some(syn::Lit::Int(int)) => {
                let float = syn::LitFloat::new(&format!("{}.0", int.base10_digits()), int.span());
                let neg = matches!(expr, syn::Expr::Unary(_)).then(|| quote!(-));
                Ok(quote_spanned!(span=> #neg #float))
            }
            Some(syn::Lit::Float(_)) | None if !matches!(expr, syn::Expr::Array(_)) => Ok(quote_spanned!(span=> #expr)),
            _ => wrong("write a number", "1.5"),
        },
        "String" | "PathBuf" => match lit {
            Some(syn::Lit::Str(s)) => {
                let ty_tokens =
                    if name == "String" { quote!(::std::string::String) } else { quote!(::std::path::PathBuf) };
                Ok(quote_spanned!(span=> <#ty_tokens as ::core::convert::From<&str>>::from(#s)))
            }
            None if !matches!(expr, syn::Expr::Array(_)) => Ok(quote_spanned!(span=> #expr)),
            _ => wrong("write a string literal", "\"...\""),
        },
        "Option" if inner.is_some() => {
            if matches!(expr, syn::Expr::Path(p) if p.path.is_ident("None")) {
                return Ok(quote_spanned!(span=> ::core::option::Option::None));
            }
            let inner = convert_default(inner.unwrap_or(ty), expr)?;
            Ok(quote_spanned!(span=> ::core::option::Option::Some(#inner)))
        }
        "Vec" if inner.is_some() => match expr {
            syn::Expr::Array(array) => {
                let items = array
                    .elems
                    .iter()
                    .map(|e| convert_default(inner.unwrap_or(ty), e))
                    .collect::<darling::Result<Vec<_>>>()?;
                Ok(quote_spanned!(span=> ::std::vec![#(#items),*]))
            }
            _ if lit.is_some() => wrong("write a list", "[\"a\", \"b\"]"),
            _ => Ok(quote_spanned!(span=> #expr)),
        },
        _ => Ok(quote_spanned!(span=> #expr)),
    }
}

fn doc_text(attrs: &[syn::Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(syn::MetaNameValue {
                value: syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }),
                ..
            }) => Some(s.value().trim().to_owned()),
            _ => None,
        })
        .collect();
    lines.join("\n")
}

fn screaming_snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}
