async fn secret(
    &self,
    __rail_ctx: &async_graphql::Context<'_>,
) -> async_graphql::Result<String> {
    if let ::core::result::Result::Err(__rail_denied) = ::rail_graphql_security::mfa::enforce_mfa(
        __rail_ctx,
        {
            const __RAIL_POLICY: ::rail_graphql_security::mfa::MfaRequirement = ::rail_graphql_security::mfa::MfaRequirement::new()
                .max_age(::core::time::Duration::from_secs(5400u64))
                .allow_trusted_device(false)
                .methods(
                    &[
                        ::rail_graphql_security::mfa::MfaMethod::Totp,
                        ::rail_graphql_security::mfa::MfaMethod::BackupCode,
                    ],
                );
            &__RAIL_POLICY
        },
        ::rail_graphql_security::mfa::AuditAs::Field(
            ::rail_graphql_security::__private::short_type_name(
                ::core::any::type_name::<Self>(),
            ),
            "secret",
        ),
    ) {
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
