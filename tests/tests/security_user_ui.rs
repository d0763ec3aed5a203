//! Compile-time behaviour of `#[security_user]`: the generated API compiles with only the
//! runtime crate, sea-orm and async-graphql (and runs), and every misuse's error message (one
//! file per message, `.stderr` committed).

#[test]
fn security_user_attribute_ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui/security_user/pass/*.rs");
    cases.compile_fail("ui/security_user/fail/*.rs");
}
