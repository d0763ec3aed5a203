async fn secret(
    &self,
    __rail_ctx: &async_graphql::Context<'_>,
) -> async_graphql::Result<String> {
    if let ::core::result::Result::Err(__rail_denied) = ::rail_graphql_security::rate_limit::enforce_resolver(
            __rail_ctx,
            ::rail_graphql_security::__private::short_type_name(
                ::core::any::type_name::<Self>(),
            ),
            "secret",
            {
                const __RAIL_LIMIT: ::rail_graphql_security::rate_limit::FieldLimit = ::rail_graphql_security::rate_limit::FieldLimit::new(
                        5u32,
                        ::core::time::Duration::from_secs(60u64),
                    )
                    .per(::rail_graphql_security::rate_limit::LimitKey::UserAndIp)
                    .cost(2u32);
                &__RAIL_LIMIT
            },
        )
        .await
    {
        return ::core::result::Result::Err(
            ::rail_graphql_security::__private::refusal(__rail_denied),
        );
    }
    {
        ::std::result::Result::Ok(
            async move {
                let value: String = { "s3cret".to_owned() };
                value
            }
                .await,
        )
    }
}
