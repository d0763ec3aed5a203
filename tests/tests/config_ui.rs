//! Compile-time behaviour of `#[derive(SecurityConfig)]`: what compiles (and runs), and every
//! misuse's error message (one file per message, `.stderr` committed).

#[test]
fn security_config_derive_ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui/config/pass/*.rs");
    cases.compile_fail("ui/config/fail/*.rs");
}
