async fn close(
    &self,
    __rail_ctx: &async_graphql::Context<'_>,
) -> async_graphql::Result<bool> {
    let __rail_call = ::rail_graphql_security::resolver::AuditedCall::start(
        __rail_ctx,
        ::rail_graphql_security::__private::short_type_name(
            ::core::any::type_name::<Self>(),
        ),
        "close",
        "close",
        ::core::option::Option::None,
    );
    let __rail_result: async_graphql::Result<bool> = async move {
        if let ::core::result::Result::Err(__rail_denied) = ::rail_graphql_security::mfa::enforce_mfa(
            __rail_ctx,
            {
                const __RAIL_POLICY: ::rail_graphql_security::mfa::MfaRequirement = ::rail_graphql_security::mfa::MfaRequirement::new()
                    .max_age(::core::time::Duration::from_secs(300u64));
                &__RAIL_POLICY
            },
            ::rail_graphql_security::mfa::AuditAs::Field(
                ::rail_graphql_security::__private::short_type_name(
                    ::core::any::type_name::<Self>(),
                ),
                "close",
            ),
        ) {
            return ::core::result::Result::Err(
                ::rail_graphql_security::__private::refusal(__rail_denied),
            );
        }
        Ok(true)
    }
        .await;
    __rail_call.finish(__rail_ctx, &__rail_result);
    __rail_result
}
