//! Expansion snapshots: the generated code formatted by prettyplease, compared by insta with the
//! committed `tests/snapshots/<name>.snap`. `INSTA_UPDATE=always cargo test` (or
//! `cargo insta review`) rewrites them; read the diff before committing.

use proc_macro2::TokenStream;

/// Asserts the expansion `tokens` (Rust items) matches snapshot `name`. An expansion that is not
/// Rust items is compared as its raw tokens under a note saying so, so the snapshot diff shows it.
pub(crate) fn assert_expansion(name: &str, tokens: TokenStream) {
    let expansion = match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(e) => format!("// the expansion is not Rust items: {e}\n{tokens}\n"),
    };
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(name, expansion));
}
