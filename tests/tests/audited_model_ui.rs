//! Compile-time behaviour of `#[audited]` on SeaORM models: what compiles (and runs) when the
//! user depends only on this crate's re-exports, and every misuse's message.

#[test]
fn audited_model_ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui/audited_model/pass/*.rs");
    cases.compile_fail("ui/audited_model/fail/*.rs");
}
