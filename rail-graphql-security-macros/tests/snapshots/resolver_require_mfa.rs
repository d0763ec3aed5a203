async fn secret(
    &self,
    __rail_ctx: &async_graphql::Context<'_>,
) -> async_graphql::Result<String> {
    if let ::core::result::Result::Err(__rail_denied) = ::rail_graphql_security::resolver::require_mfa(
        __rail_ctx,
        ::rail_graphql_security::resolver::short_type_name(
            ::core::any::type_name::<Self>(),
        ),
        "secret",
        {
            const __RAIL_POLICY: ::rail_graphql_security::resolver::MfaPolicy = ::rail_graphql_security::resolver::MfaPolicy::new()
                .max_age(::core::time::Duration::from_secs(5400u64))
                .allow_trusted_device(false)
                .methods(
                    &[
                        ::rail_graphql_security::resolver::MfaMethod::Totp,
                        ::rail_graphql_security::resolver::MfaMethod::BackupCode,
                    ],
                );
            &__RAIL_POLICY
        },
    ) {
        return ::core::result::Result::Err(
            ::rail_graphql_security::resolver::refusal(__rail_denied),
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
