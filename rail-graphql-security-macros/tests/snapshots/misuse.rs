::core::compile_error! {
    "this default does not fit the field's type `String`: write a string literal, e.g. `default = \"...\"`"
}
::core::compile_error! {
    "a `#[security(secret)]` field cannot have a built-in `production` value: secrets come from the config file or the environment; remove `production`, or add `generate` so `rail-security setup` writes a fresh random one"
}
const _: () = {
    #[automatically_derived]
    impl ::rail_graphql_security::config::SecurityConfig for Bad {
        const ENV_PREFIX: &'static str = "";
        const KEYS: &'static [&'static str] = &[];
        fn defaults(_: &::rail_graphql_security::config::Profile) -> Self {
            ::core::unreachable!()
        }
        fn set_key(
            &mut self,
            _: &str,
            _: ::rail_graphql_security::config::Input<'_>,
            _: &mut ::rail_graphql_security::config::LoadContext,
        ) -> ::core::result::Result<(), ::rail_graphql_security::config::ConfigError> {
            ::core::unreachable!()
        }
        fn validate(&self, _: &mut ::rail_graphql_security::config::Validator<'_>) {}
        fn check(&self, _: &mut ::rail_graphql_security::config::Checklist) {}
        fn to_json_redacted(
            &self,
        ) -> ::rail_graphql_security::__private::serde_json::Value {
            ::core::unreachable!()
        }
        fn write_toml(
            &self,
            _: &mut ::rail_graphql_security::__private::toml_edit::Table,
        ) {}
        fn generate_secrets(&mut self) {}
        fn collect_keys(_: &mut ::rail_graphql_security::config::KeyCollector) {}
    }
};
