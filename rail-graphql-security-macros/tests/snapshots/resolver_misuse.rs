::core::compile_error! {
    "`max_age = \"15x\"`: unknown unit `x`; write a number and a unit (s, m, h, d), e.g. \"15m\", \"90s\" or \"1h30m\""
}
::core::compile_error! {
    "`#[require_mfa]` needs an `async fn`; make the resolver async"
}
::core::compile_error! {
    "`#[require_mfa]` needs the request context: put `#[Object]` or `#[ComplexObject]` on the impl (it passes the context), or take `ctx: &Context<'_>` right after `&self`"
}
fn secret(&self) -> i32 {
    1
}
