//! `#[derive(SecurityConfig)]`: parse (darling receivers), validate (cross-attribute rules and
//! default types), expand (quote only).

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;

/// The derive: the impl, or the errors plus a stub impl so one mistake does not cascade.
pub(crate) fn derive(input: &syn::DeriveInput) -> TokenStream {
    match parse::parse(input).and_then(validate::validate) {
        Ok(model) => expand::expand(&model),
        Err(errors) => {
            let mut tokens = errors.write_errors();
            tokens.extend(expand::fallback(input));
            tokens
        }
    }
}
