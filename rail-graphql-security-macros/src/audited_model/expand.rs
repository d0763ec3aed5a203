//! Code generation for audited models (quote only; the input is already checked).

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote};

use super::validate::{Behavior, HOOKS, Model};
use crate::common::CratePath;

/// The struct as written (markers removed) and its `AuditedModel` impl.
pub(crate) fn model(item: &syn::ItemStruct, model: &Model) -> TokenStream {
    let Model { krate, masked_columns } = model;
    let ident = &item.ident;
    let (impl_generics, type_generics, where_clause) = item.generics.split_for_impl();
    quote! {
        #item

        const _: () = {
            #[automatically_derived]
            impl #impl_generics #krate::audit::model::AuditedModel for #ident #type_generics #where_clause {
                const MASKED_COLUMNS: &'static [&'static str] = &[#(#masked_columns),*];
            }
        };
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

/// The user's hook `name` with the audit call before or after their body.
fn compose(name: &str, function: syn::ImplItemFn, krate: &CratePath) -> TokenStream {
    let Wrapped { function, args, user_body, output } = wrap(function);
    let result = format_ident!("__rail_result", span = Span::mixed_site());
    let value = format_ident!("__rail_value", span = Span::mixed_site());
    let body = match (name, args.as_slice()) {
        ("before_save", [db, insert]) => quote! {
            let #result: #output = #user_body;
            let #value = #result?;
            #krate::audit::model::before_save(&#value, #db, #insert).await?;
            ::core::result::Result::Ok(#value)
        },
        ("after_save", [model, _db, insert]) => quote! {
            #krate::audit::model::after_save(&#model, #insert).await;
            let #result: #output = #user_body;
            #result
        },
        ("before_delete", [db]) => quote! {
            let #result: #output = #user_body;
            let #value = #result?;
            #krate::audit::model::before_delete(&#value, #db).await?;
            ::core::result::Result::Ok(#value)
        },
        ("after_delete", [_db]) => quote! {
            #krate::audit::model::after_delete(&self).await;
            let #result: #output = #user_body;
            #result
        },
        // The validate phase refuses any other arity.
        _ => return function.into_token_stream(),
    };
    let syn::ImplItemFn { attrs, vis, defaultness, sig, .. } = &function;
    quote!(#(#attrs)* #vis #defaultness #sig { #body })
}

/// The hook `name` when the user did not write it: the audit call alone.
fn default_hook(name: &str, krate: &CratePath) -> TokenStream {
    let sea_orm = quote!(#krate::__private::sea_orm);
    let model = quote!(<<Self as #sea_orm::ActiveModelTrait>::Entity as #sea_orm::EntityTrait>::Model);
    match name {
        "before_save" => quote! {
            async fn before_save<C>(self, db: &C, insert: bool) -> ::core::result::Result<Self, #sea_orm::DbErr>
            where
                C: #sea_orm::ConnectionTrait,
            {
                #krate::audit::model::before_save(&self, db, insert).await?;
                ::core::result::Result::Ok(self)
            }
        },
        "after_save" => quote! {
            async fn after_save<C>(model: #model, _db: &C, insert: bool) -> ::core::result::Result<#model, #sea_orm::DbErr>
            where
                C: #sea_orm::ConnectionTrait,
            {
                #krate::audit::model::after_save(&model, insert).await;
                ::core::result::Result::Ok(model)
            }
        },
        "before_delete" => quote! {
            async fn before_delete<C>(self, db: &C) -> ::core::result::Result<Self, #sea_orm::DbErr>
            where
                C: #sea_orm::ConnectionTrait,
            {
                #krate::audit::model::before_delete(&self, db).await?;
                ::core::result::Result::Ok(self)
            }
        },
        _ => quote! {
            async fn after_delete<C>(self, _db: &C) -> ::core::result::Result<Self, #sea_orm::DbErr>
            where
                C: #sea_orm::ConnectionTrait,
            {
                #krate::audit::model::after_delete(&self).await;
                ::core::result::Result::Ok(self)
            }
        },
    }
}

/// The impl block as written, under `#[async_trait]` (emitted next to errors: its `async fn`s
/// still compile).
pub(crate) fn unaudited(item: &syn::ItemImpl, krate: &CratePath) -> TokenStream {
    let async_trait =
        (!super::parse::has_async_trait(item)).then(|| quote!(#[#krate::__private::async_trait::async_trait]));
    quote! {
        #async_trait
        #item
    }
}

/// The `impl ActiveModelBehavior` block with every hook audited, under `#[async_trait]`.
pub(crate) fn behavior(behavior: &Behavior) -> TokenStream {
    let Behavior { krate, item, has_async_trait } = behavior;
    let mut item = item.clone();
    let mut seen = Vec::new();
    for impl_item in &mut item.items {
        if let syn::ImplItem::Fn(function) = impl_item
            && let Some((hook, _)) = HOOKS.iter().find(|(hook, _)| function.sig.ident == hook)
        {
            *impl_item = syn::ImplItem::Verbatim(compose(hook, function.clone(), krate));
            seen.push(*hook);
        }
    }
    for (hook, _) in HOOKS.iter().filter(|(hook, _)| !seen.contains(hook)) {
        item.items.push(syn::ImplItem::Verbatim(default_hook(hook, krate)));
    }
    let async_trait = (!has_async_trait).then(|| quote!(#[#krate::__private::async_trait::async_trait]));
    quote! {
        #async_trait
        #item
    }
}
