//! Compile-time behaviour of `#[require_mfa]`, `#[audited]` and `#[rate_limit]` on resolvers:
//! what compiles (and runs), and every misuse's error message (one file per message, `.stderr`
//! committed).

#[test]
fn resolver_attributes_ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui/macros/pass/*.rs");
    cases.compile_fail("ui/macros/fail/*.rs");
}
