//! Code generation (quote only).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::validate::{FieldModel, Model};
use crate::common::CratePath;

pub(crate) fn expand(model: &Model) -> TokenStream {
    let Model { ident, krate, prefix, .. } = model;
    let paths = Paths { cfg: quote!(#krate::config), helpers: quote!(#krate::__private::config) };
    let Paths { cfg, helpers } = &paths;
    let keys = model.fields.iter().map(|f| &f.key);
    let defaults = model.fields.iter().map(|f| default_field(f, &paths));
    let set_arms = model.fields.iter().map(|f| set_arm(f, &paths));
    let validations = model.fields.iter().map(|f| validate_field(f, &paths));
    let container_validates = model.validates.iter().map(|path| {
        quote_spanned!(path.span()=> {
            let __rail_fn: fn(&Self) -> ::core::result::Result<(), _> = #path;
            __rail_validator.custom(__rail_fn(self));
        })
    });
    let field_checks = model.fields.iter().map(|f| check_field(f, &paths));
    let container_checks = model.checks.iter().map(|path| {
        quote_spanned!(path.span()=> {
            let __rail_fn: fn(&Self, &mut #cfg::Checklist) = #path;
            __rail_fn(self, __rail_checks);
        })
    });
    let json = model.fields.iter().map(|f| {
        let (key, field, ops) = (&f.key, &f.ident, ops(f, &paths));
        quote!(__rail_map.insert(<::std::string::String as ::core::convert::From<&str>>::from(#key), (#ops.json)(&self.#field));)
    });
    let writes = model.fields.iter().map(|f| {
        let (key, field, doc, ops) = (&f.key, &f.ident, &f.doc, ops(f, &paths));
        quote!((#ops.write)(__rail_table, #key, &self.#field, #doc);)
    });
    let generates = model.fields.iter().filter_map(|f| {
        let field = &f.ident;
        if f.nested {
            let ops = ops(f, &paths);
            Some(quote!((#ops.generate)(&mut self.#field);))
        } else if f.generate {
            Some(quote_spanned!(f.ty.span()=> #helpers::GenerateSecret::generate(&mut self.#field);))
        } else {
            None
        }
    });
    let key_entries = model.fields.iter().map(|f| {
        let (key, doc, ops) = (&f.key, &f.doc, ops(f, &paths));
        if f.nested {
            let vars = f.env.iter().map(|(var, _)| var);
            let paths = f.env.iter().map(|(_, path)| path);
            quote!(__rail_keys.section(#key, &[#((#vars, #paths)),*], #ops.keys);)
        } else {
            let vars = f.env.iter().map(|(var, _)| var);
            quote!(__rail_keys.leaf(#key, &[#(#vars),*], #doc, (#ops.expected)(), #ops.secret);)
        }
    });
    let assertions = model.fields.iter().filter(|f| f.secret).map(|f| {
        let ty = &f.ty;
        quote_spanned!(ty.span()=> #helpers::assert_secret::<#ty>();)
    });
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #cfg::SecurityConfig for #ident {
                const ENV_PREFIX: &'static str = #prefix;
                const KEYS: &'static [&'static str] = &[#(#keys),*];

                fn defaults(__rail_profile: &#cfg::Profile) -> Self {
                    #(#assertions)*
                    Self { #(#defaults,)* }
                }

                fn set_key(
                    &mut self,
                    __rail_key: &str,
                    __rail_input: #cfg::Input<'_>,
                    __rail_cx: &mut #cfg::LoadContext,
                ) -> ::core::result::Result<(), #cfg::ConfigError> {
                    match __rail_key {
                        #(#set_arms)*
                        _ => ::core::result::Result::Err(
                            __rail_cx.unknown_key(__rail_input, <Self as #cfg::SecurityConfig>::KEYS),
                        ),
                    }
                }

                fn validate(&self, __rail_validator: &mut #cfg::Validator<'_>) {
                    #(#validations)*
                    #(#container_validates)*
                }

                fn check(&self, __rail_checks: &mut #cfg::Checklist) {
                    #(#field_checks)*
                    #(#container_checks)*
                }

                fn to_json_redacted(&self) -> #krate::__private::serde_json::Value {
                    let mut __rail_map = #krate::__private::serde_json::Map::new();
                    #(#json)*
                    #krate::__private::serde_json::Value::Object(__rail_map)
                }

                fn write_toml(&self, __rail_table: &mut #krate::__private::toml_edit::Table) {
                    #(#writes)*
                }

                fn generate_secrets(&mut self) {
                    #(#generates)*
                }

                fn collect_keys(__rail_keys: &mut #cfg::KeyCollector) {
                    #(#key_entries)*
                }
            }
        };
    }
}

/// Where generated code finds the runtime: the public `config` module, and the helpers for
/// generated code under `__private`.
struct Paths {
    cfg: TokenStream,
    helpers: TokenStream,
}

/// The field's operations (`__private::config::leaf::<T>()` or `section::<T>()`), spanned on its type so
/// a type that does not fit gives one error there.
fn ops(f: &FieldModel, paths: &Paths) -> TokenStream {
    let (ty, helpers) = (&f.ty, &paths.helpers);
    if f.nested {
        quote_spanned!(ty.span()=> #helpers::section::<#ty>())
    } else {
        quote_spanned!(ty.span()=> #helpers::leaf::<#ty>())
    }
}

fn default_field(f: &FieldModel, paths: &Paths) -> TokenStream {
    let cfg = &paths.cfg;
    let (field, ty) = (&f.ident, &f.ty);
    if let Some(path) = &f.section_defaults {
        return quote_spanned!(path.span()=> #field: {
            let __rail_fn: fn(&#cfg::Profile) -> #ty = #path;
            __rail_fn(__rail_profile)
        });
    }
    if f.nested {
        let ops = ops(f, paths);
        return quote!(#field: (#ops.defaults)(__rail_profile));
    }
    let d = &f.defaults;
    if d.is_empty() {
        return quote_spanned!(ty.span()=> #field: <#ty as ::core::default::Default>::default());
    }
    let fallback =
        d.default.clone().unwrap_or_else(|| quote_spanned!(ty.span()=> <#ty as ::core::default::Default>::default()));
    let mut arms = Vec::new();
    for (variant, value) in [("Development", &d.development), ("Staging", &d.staging), ("Production", &d.production)] {
        if let Some(value) = value {
            let variant = syn::Ident::new(variant, proc_macro2::Span::call_site());
            arms.push(quote!(#cfg::Profile::#variant => #value,));
        }
    }
    for (name, value) in &d.custom {
        arms.push(quote!(#cfg::Profile::Custom(__rail_name) if __rail_name == #name => #value,));
    }
    if arms.is_empty() {
        quote!(#field: { let __rail_value: #ty = #fallback; __rail_value })
    } else {
        quote! {
            #field: {
                let __rail_value: #ty = match __rail_profile {
                    #(#arms)*
                    _ => #fallback,
                };
                __rail_value
            }
        }
    }
}

fn set_arm(f: &FieldModel, paths: &Paths) -> TokenStream {
    let (key, field, ops) = (&f.key, &f.ident, ops(f, paths));
    quote!(#key => (#ops.set)(__rail_cx, &mut self.#field, __rail_input),)
}

fn validate_field(f: &FieldModel, paths: &Paths) -> TokenStream {
    let (key, field) = (&f.key, &f.ident);
    let mut body = Vec::new();
    if f.nested {
        let ops = ops(f, paths);
        body.push(quote!((#ops.validate)(&self.#field, __rail_validator);));
    }
    if let Some(range) = &f.range {
        body.push(quote_spanned!(range.span()=> __rail_validator.range(&self.#field, #range);));
    }
    if let Some(span) = f.non_empty {
        body.push(quote_spanned!(span=> __rail_validator.non_empty(&self.#field);));
    }
    if let Some(span) = f.https_in_production {
        body.push(quote_spanned!(span=> __rail_validator.https_in_production(&self.#field);));
    }
    let ty = &f.ty;
    for path in &f.validate {
        body.push(quote_spanned!(path.span()=> {
            let __rail_fn: fn(&#ty) -> ::core::result::Result<(), _> = #path;
            __rail_validator.custom(__rail_fn(&self.#field));
        }));
    }
    if body.is_empty() {
        return TokenStream::new();
    }
    quote!(__rail_validator.with_key(#key, |__rail_validator| { #(#body)* });)
}

fn check_field(f: &FieldModel, paths: &Paths) -> TokenStream {
    let cfg = &paths.cfg;
    let (key, field) = (&f.key, &f.ident);
    let mut body = Vec::new();
    if f.nested {
        let ops = ops(f, paths);
        body.push(quote!((#ops.check)(&self.#field, __rail_checks);));
    }
    let ty = &f.ty;
    for path in &f.check {
        body.push(quote_spanned!(path.span()=> {
            let __rail_fn: fn(&#ty, &mut #cfg::Checklist) = #path;
            __rail_fn(&self.#field, __rail_checks);
        }));
    }
    if body.is_empty() {
        return TokenStream::new();
    }
    quote!(__rail_checks.with_key(#key, |__rail_checks| { #(#body)* });)
}

/// A stub impl emitted next to errors, so uses of the trait elsewhere do not add more errors.
pub(crate) fn fallback(input: &syn::DeriveInput) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let krate = CratePath::find_in_attrs(&input.attrs, "security");
    let cfg = quote!(#krate::config);
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #cfg::SecurityConfig for #ident #ty_generics #where_clause {
                const ENV_PREFIX: &'static str = "";
                const KEYS: &'static [&'static str] = &[];
                fn defaults(_: &#cfg::Profile) -> Self { ::core::unreachable!() }
                fn set_key(&mut self, _: &str, _: #cfg::Input<'_>, _: &mut #cfg::LoadContext)
                    -> ::core::result::Result<(), #cfg::ConfigError> { ::core::unreachable!() }
                fn validate(&self, _: &mut #cfg::Validator<'_>) {}
                fn check(&self, _: &mut #cfg::Checklist) {}
                fn to_json_redacted(&self) -> #krate::__private::serde_json::Value {
                    ::core::unreachable!()
                }
                fn write_toml(&self, _: &mut #krate::__private::toml_edit::Table) {}
                fn generate_secrets(&mut self) {}
                fn collect_keys(_: &mut #cfg::KeyCollector) {}
            }
        };
    }
}
