//! Compile-time behaviour of every macro: what compiles (and runs), and every misuse's error
//! message, one file per message named after it (`.stderr` committed), in
//! `ui/<macro>/{pass,fail}/`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    for name in ["security_config", "audited", "audited_model", "require_mfa", "rate_limit", "security_user"] {
        cases.pass(format!("ui/{name}/pass/*.rs"));
        cases.compile_fail(format!("ui/{name}/fail/*.rs"));
    }
}
