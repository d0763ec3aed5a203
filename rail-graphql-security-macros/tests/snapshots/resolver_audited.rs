async fn payout(
    &self,
    ctx: &Context<'_>,
    amount: i32,
    password: String,
) -> Result<bool> {
    let mut __rail_call = ::rail_graphql_security::resolver::AuditedCall::start(
        ctx,
        ::rail_graphql_security::__private::short_type_name(
            ::core::any::type_name::<Self>(),
        ),
        "payout",
        "payout_sent",
        ::core::option::Option::Some(::rail_graphql_security::audit::AuditSeverity::High),
    );
    __rail_call.argument("amount", &amount);
    __rail_call.argument("password", &password);
    let __rail_result: Result<bool> = async move {
        if let ::core::result::Result::Err(__rail_denied) = ::rail_graphql_security::__private::async_graphql::Guard::check(
                &(RequireMfa::new()),
                ctx,
            )
            .await
        {
            return ::core::result::Result::Err(
                ::rail_graphql_security::__private::refusal(__rail_denied),
            );
        }
        Ok(amount > 0 && !password.is_empty())
    }
        .await;
    __rail_call.finish(ctx, &__rail_result);
    __rail_result
}
