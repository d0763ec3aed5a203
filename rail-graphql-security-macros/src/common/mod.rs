//! What every macro shares: the runtime crate's path (`crate = "..."`), the output on errors
//! (the item as written, or stub impls, next to the errors), the attribute-argument parser, the
//! "did you mean" suggestions and, in tests, the expansion snapshots.

mod crate_path;
mod fallback;
#[cfg(test)]
mod snapshot;
mod suggest;

pub(crate) use crate_path::CratePath;
pub(crate) use fallback::{stop, with_errors};
#[cfg(test)]
pub(crate) use snapshot::assert_expansion;
pub(crate) use suggest::did_you_mean;

use darling::FromMeta;
use darling::ast::NestedMeta;
use proc_macro2::TokenStream;

/// The arguments of an attribute macro (`#[name(...)]`) read by a darling receiver; no
/// arguments at all is the receiver's default.
pub(crate) fn attribute_args<T: FromMeta + Default>(args: TokenStream) -> darling::Result<T> {
    if args.is_empty() {
        return Ok(T::default());
    }
    T::from_list(&NestedMeta::parse_meta_list(args)?)
}
