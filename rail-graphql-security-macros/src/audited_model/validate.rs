//! Checks before anything is generated: `exclude(...)` names fields of the model; the impl block
//! is `impl ActiveModelBehavior` and its hooks are `async fn`s with SeaORM's parameters. Every
//! problem is collected, each spanned on the narrowest token.

use darling::Error;

use super::parse::{self, BehaviorInput, ModelInput};
use crate::common::{CratePath, did_you_mean};

/// The hooks of `ActiveModelBehavior` the audit wraps, with their parameters besides `self`
/// (`after_save` takes no `self`).
pub(crate) const HOOKS: [(&str, &[&str]); 4] = [
    ("before_save", &["db", "insert"]),
    ("after_save", &["model", "db", "insert"]),
    ("before_delete", &["db"]),
    ("after_delete", &["db"]),
];

/// A checked model struct.
#[derive(Debug)]
pub(crate) struct Model {
    pub(crate) krate: CratePath,
    /// Sorted, without duplicates.
    pub(crate) masked_columns: Vec<String>,
}

/// A checked `impl ActiveModelBehavior` block.
#[derive(Debug)]
pub(crate) struct Behavior {
    pub(crate) krate: CratePath,
    pub(crate) item: syn::ItemImpl,
    pub(crate) has_async_trait: bool,
}

pub(crate) fn model(input: ModelInput) -> darling::Result<Model> {
    let mut errors = Error::accumulator();
    let mut masked_columns: Vec<String> =
        input.fields.iter().filter(|field| field.secret).map(|field| field.column.clone()).collect();
    for path in input.args.exclude.iter() {
        let name = path.get_ident().map(ToString::to_string).unwrap_or_default();
        match input.fields.iter().find(|field| field.ident == name || field.column == name) {
            Some(field) => masked_columns.push(field.column.clone()),
            None => {
                let known: Vec<String> = input.fields.iter().map(|field| field.ident.to_string()).collect();
                errors.push(
                    Error::custom(format!(
                        "`exclude({name})` names no field of this model; its fields are: {}{}",
                        known.join(", "),
                        did_you_mean(&name, known.iter().map(String::as_str))
                    ))
                    .with_span(path),
                );
            }
        }
    }
    masked_columns.sort();
    masked_columns.dedup();
    errors.finish_with(Model { krate: input.args.krate, masked_columns })
}

pub(crate) fn behavior(input: BehaviorInput) -> darling::Result<Behavior> {
    let BehaviorInput { args, item } = input;
    let mut errors = Error::accumulator();
    if let Some(exclude) = &args.exclude {
        errors.push(
            Error::custom("`exclude(...)` goes on the model struct: `#[audited(exclude(...))]` above its derive")
                .with_span(exclude),
        );
    }
    let is_behavior = item
        .trait_
        .as_ref()
        .and_then(|(_, path, _)| path.segments.last())
        .is_some_and(|segment| segment.ident == "ActiveModelBehavior");
    if !is_behavior {
        errors.push(
            Error::custom("`#[audited]` on an impl block needs `impl ActiveModelBehavior for ActiveModel`")
                .with_span(&item.self_ty),
        );
    }
    for impl_item in &item.items {
        let syn::ImplItem::Fn(function) = impl_item else { continue };
        let name = function.sig.ident.to_string();
        let Some((_, params)) = HOOKS.iter().find(|(hook, _)| *hook == name) else { continue };
        if function.sig.asyncness.is_none() {
            errors.push(
                Error::custom(
                    "this hook is not an `async fn` here: put `#[audited]` above `#[async_trait]` (it must see the \
                     async fns)",
                )
                .with_span(&function.sig.ident),
            );
        }
        let typed = function.sig.inputs.iter().filter(|input| matches!(input, syn::FnArg::Typed(_))).count();
        if typed != params.len() {
            errors.push(
                Error::custom(format!(
                    "`{name}` does not have SeaORM's signature: its parameters besides `self` are `{}`",
                    params.join("`, `")
                ))
                .with_span(&function.sig.ident),
            );
        }
    }
    errors.finish_with(Behavior { krate: args.krate, has_async_trait: parse::has_async_trait(&item), item })
}
