//! The output when the input has mistakes: every error, then what keeps the rest of the user's
//! code compiling (the item as written for attribute macros, stub impls for derives), so one
//! mistake does not cascade into errors about missing items.

use proc_macro2::TokenStream;
use quote::ToTokens;

/// `errors` as `compile_error!`s, followed by `item`.
pub(crate) fn with_errors(errors: darling::Error, item: impl ToTokens) -> TokenStream {
    let mut tokens = errors.write_errors();
    item.to_tokens(&mut tokens);
    tokens
}

/// Ends a phase that cannot go on after `error`: every error collected so far, and this one.
pub(crate) fn stop(errors: darling::error::Accumulator, error: darling::Error) -> darling::Error {
    let mut all = errors.into_inner();
    all.push(error);
    darling::Error::multiple(all)
}
