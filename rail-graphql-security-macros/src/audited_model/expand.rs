//! Code generation for audited models (quote only).

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};

use super::parse::{Behavior, HOOKS, Model};

const RT: &str = "::rail_graphql_security";

fn rt() -> TokenStream {
    RT.parse().unwrap_or_default()
}

pub(crate) fn model(model: &Model) -> TokenStream {
    let rt = rt();
    let item = &model.item;
    let ident = &item.ident;
    let (impl_generics, type_generics, where_clause) = item.generics.split_for_impl();
    let masked = &model.masked_columns;
    quote! {
        #item

        impl #impl_generics #rt::audit::model::AuditedModel for #ident #type_generics #where_clause {
            const MASKED_COLUMNS: &'static [&'static str] = &[#(#masked),*];
        }
    }
}

/// The user's hook, its parameters renamed to hygienic idents that the audit call uses too;
/// the user's body runs in an `async move` block that rebinds their own patterns, so their
/// `return` and `?` keep their meaning.
struct Wrapped {
    function: syn::ImplItemFn,
    args: Vec<syn::Ident>,
    user_body: TokenStream,
    output: TokenStream,
}

fn wrap(mut function: syn::ImplItemFn) -> Wrapped {
    let mut args = Vec::new();
    let mut rebinds = Vec::new();
    for (index, input) in function.sig.inputs.iter_mut().enumerate() {
        if let syn::FnArg::Typed(typed) = input {
            let ident = format_ident!("__rail_arg{}", index, span = Span::mixed_site());
            let pattern = std::mem::replace(
                &mut *typed.pat,
                syn::Pat::Ident(syn::PatIdent {
                    attrs: Vec::new(),
                    by_ref: None,
                    mutability: None,
                    ident: ident.clone(),
                    subpat: None,
                }),
            );
            rebinds.push(quote! { #[allow(unused_variables, unused_mut)] let #pattern = #ident; });
            args.push(ident);
        }
    }
    let stmts = &function.block.stmts;
    let user_body = quote! { async move { #(#rebinds)* #(#stmts)* }.await };
    let output = match &function.sig.output {
        syn::ReturnType::Type(_, ty) => quote!(#ty),
        syn::ReturnType::Default => quote!(()),
    };
    Wrapped { function, args, user_body, output }
}

fn compose(name: &str, function: syn::ImplItemFn) -> syn::ImplItemFn {
    let rt = rt();
    let Wrapped { mut function, args, user_body, output } = wrap(function);
    let result = format_ident!("__rail_result", span = Span::mixed_site());
    let value = format_ident!("__rail_value", span = Span::mixed_site());
    let block: TokenStream = match (name, args.as_slice()) {
        ("before_save", [db, insert]) => quote! {{
            let #result: #output = #user_body;
            let #value = #result?;
            #rt::audit::model::before_save(&#value, #db, #insert).await?;
            ::core::result::Result::Ok(#value)
        }},
        ("after_save", [model, _db, insert]) => quote! {{
            #rt::audit::model::after_save(&#model, #insert).await;
            let #result: #output = #user_body;
            #result
        }},
        ("before_delete", [db]) => quote! {{
            let #result: #output = #user_body;
            let #value = #result?;
            #rt::audit::model::before_delete(&#value, #db).await?;
            ::core::result::Result::Ok(#value)
        }},
        ("after_delete", [_db]) => quote! {{
            #rt::audit::model::after_delete(&self).await;
            let #result: #output = #user_body;
            #result
        }},
        _ => {
            return syn::parse_quote_spanned! {function.sig.ident.span()=>
                compile_error!("this `ActiveModelBehavior` hook does not have SeaORM's signature");
            };
        }
    };
    function.block = syn::parse2(block).unwrap_or_else(|_| function.block.clone());
    function
}

fn default_hook(name: &str) -> TokenStream {
    let rt = rt();
    let sea_orm = quote!(#rt::__private::sea_orm);
    let model = quote!(<<Self as #sea_orm::ActiveModelTrait>::Entity as #sea_orm::EntityTrait>::Model);
    match name {
        "before_save" => quote! {
            async fn before_save<C>(self, db: &C, insert: bool) -> ::core::result::Result<Self, #sea_orm::DbErr>
            where
                C: #sea_orm::ConnectionTrait,
            {
                #rt::audit::model::before_save(&self, db, insert).await?;
                ::core::result::Result::Ok(self)
            }
        },
        "after_save" => quote! {
            async fn after_save<C>(model: #model, _db: &C, insert: bool) -> ::core::result::Result<#model, #sea_orm::DbErr>
            where
                C: #sea_orm::ConnectionTrait,
            {
                #rt::audit::model::after_save(&model, insert).await;
                ::core::result::Result::Ok(model)
            }
        },
        "before_delete" => quote! {
            async fn before_delete<C>(self, db: &C) -> ::core::result::Result<Self, #sea_orm::DbErr>
            where
                C: #sea_orm::ConnectionTrait,
            {
                #rt::audit::model::before_delete(&self, db).await?;
                ::core::result::Result::Ok(self)
            }
        },
        _ => quote! {
            async fn after_delete<C>(self, _db: &C) -> ::core::result::Result<Self, #sea_orm::DbErr>
            where
                C: #sea_orm::ConnectionTrait,
            {
                #rt::audit::model::after_delete(&self).await;
                ::core::result::Result::Ok(self)
            }
        },
    }
}

pub(crate) fn behavior(behavior: &Behavior) -> TokenStream {
    let rt = rt();
    let mut item = behavior.item.clone();
    let mut seen = Vec::new();
    for impl_item in &mut item.items {
        if let syn::ImplItem::Fn(function) = impl_item {
            let name = function.sig.ident.to_string();
            if let Some(hook) = HOOKS.iter().find(|hook| **hook == name) {
                *function = compose(hook, function.clone());
                seen.push(*hook);
            }
        }
    }
    for hook in HOOKS.iter().filter(|hook| !seen.contains(hook)) {
        item.items.push(syn::ImplItem::Verbatim(default_hook(hook)));
    }
    let async_trait = (!behavior.has_async_trait).then(|| quote!(#[#rt::__private::async_trait::async_trait]));
    quote! {
        #async_trait
        #item
    }
}
