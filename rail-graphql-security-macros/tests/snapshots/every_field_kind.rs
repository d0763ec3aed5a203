const _: () = {
    #[automatically_derived]
    impl ::rail_graphql_security::config::SecurityConfig for AppConfig {
        const ENV_PREFIX: &'static str = "MYAPP";
        const KEYS: &'static [&'static str] = &[
            "workers",
            "base_url",
            "ratio",
            "hosts",
            "key",
            "limit",
            "security",
        ];
        fn defaults(__rail_profile: &::rail_graphql_security::config::Profile) -> Self {
            ::rail_graphql_security::config::__derive::assert_secret::<Option<Secret>>();
            Self {
                workers: {
                    let __rail_value: u32 = match __rail_profile {
                        ::rail_graphql_security::config::Profile::Production => 8,
                        ::rail_graphql_security::config::Profile::Custom(
                            __rail_name,
                        ) if __rail_name == "qa" => 2,
                        _ => 4,
                    };
                    __rail_value
                },
                base_url: {
                    let __rail_value: String = <::std::string::String as ::core::convert::From<
                        &str,
                    >>::from("http://localhost");
                    __rail_value
                },
                ratio: {
                    let __rail_value: f64 = match __rail_profile {
                        ::rail_graphql_security::config::Profile::Development => 0.5,
                        _ => 1.0,
                    };
                    __rail_value
                },
                hosts: {
                    let __rail_value: Vec<String> = match __rail_profile {
                        ::rail_graphql_security::config::Profile::Production => {
                            ::std::vec![]
                        }
                        _ => {
                            ::std::vec![
                                < ::std::string::String as ::core::convert::From < & str >>
                                ::from("a")
                            ]
                        }
                    };
                    __rail_value
                },
                key: <Option<Secret> as ::core::default::Default>::default(),
                limit: <u64 as ::core::default::Default>::default(),
                security: (::rail_graphql_security::config::__derive::section::<
                    StandardSecurityConfig,
                >()
                    .defaults)(__rail_profile),
            }
        }
        fn set_key(
            &mut self,
            __rail_key: &str,
            __rail_input: ::rail_graphql_security::config::Input<'_>,
            __rail_cx: &mut ::rail_graphql_security::config::LoadContext,
        ) -> ::core::result::Result<(), ::rail_graphql_security::config::ConfigError> {
            match __rail_key {
                "workers" => {
                    (::rail_graphql_security::config::__derive::leaf::<u32>()
                        .set)(__rail_cx, &mut self.workers, __rail_input)
                }
                "base_url" => {
                    (::rail_graphql_security::config::__derive::leaf::<String>()
                        .set)(__rail_cx, &mut self.base_url, __rail_input)
                }
                "ratio" => {
                    (::rail_graphql_security::config::__derive::leaf::<f64>()
                        .set)(__rail_cx, &mut self.ratio, __rail_input)
                }
                "hosts" => {
                    (::rail_graphql_security::config::__derive::leaf::<Vec<String>>()
                        .set)(__rail_cx, &mut self.hosts, __rail_input)
                }
                "key" => {
                    (::rail_graphql_security::config::__derive::leaf::<Option<Secret>>()
                        .set)(__rail_cx, &mut self.key, __rail_input)
                }
                "limit" => {
                    (::rail_graphql_security::config::__derive::leaf::<u64>()
                        .set)(__rail_cx, &mut self.limit, __rail_input)
                }
                "security" => {
                    (::rail_graphql_security::config::__derive::section::<
                        StandardSecurityConfig,
                    >()
                        .set)(__rail_cx, &mut self.security, __rail_input)
                }
                _ => {
                    ::core::result::Result::Err(
                        __rail_cx
                            .unknown_key(
                                __rail_input,
                                <Self as ::rail_graphql_security::config::SecurityConfig>::KEYS,
                            ),
                    )
                }
            }
        }
        fn validate(
            &self,
            __rail_validator: &mut ::rail_graphql_security::config::Validator<'_>,
        ) {
            __rail_validator
                .with_key(
                    "workers",
                    |__rail_validator| {
                        __rail_validator.range(&self.workers, 1..=64);
                    },
                );
            __rail_validator
                .with_key(
                    "base_url",
                    |__rail_validator| {
                        __rail_validator.non_empty(&self.base_url);
                        __rail_validator.https_in_production(&self.base_url);
                    },
                );
            __rail_validator
                .with_key(
                    "limit",
                    |__rail_validator| {
                        {
                            let __rail_fn: fn(&u64) -> ::core::result::Result<(), _> = even;
                            __rail_validator.custom(__rail_fn(&self.limit));
                        }
                    },
                );
            __rail_validator
                .with_key(
                    "security",
                    |__rail_validator| {
                        (::rail_graphql_security::config::__derive::section::<
                            StandardSecurityConfig,
                        >()
                            .validate)(&self.security, __rail_validator);
                    },
                );
            {
                let __rail_fn: fn(&Self) -> ::core::result::Result<(), _> = validate_app;
                __rail_validator.custom(__rail_fn(self));
            }
        }
        fn check(&self, __rail_checks: &mut ::rail_graphql_security::config::Checklist) {
            __rail_checks
                .with_key(
                    "limit",
                    |__rail_checks| {
                        {
                            let __rail_fn: fn(
                                &u64,
                                &mut ::rail_graphql_security::config::Checklist,
                            ) = check_limit;
                            __rail_fn(&self.limit, __rail_checks);
                        }
                    },
                );
            __rail_checks
                .with_key(
                    "security",
                    |__rail_checks| {
                        (::rail_graphql_security::config::__derive::section::<
                            StandardSecurityConfig,
                        >()
                            .check)(&self.security, __rail_checks);
                    },
                );
            {
                let __rail_fn: fn(
                    &Self,
                    &mut ::rail_graphql_security::config::Checklist,
                ) = check_app;
                __rail_fn(self, __rail_checks);
            }
        }
        fn to_json_redacted(
            &self,
        ) -> ::rail_graphql_security::__private::serde_json::Value {
            let mut __rail_map = ::rail_graphql_security::__private::serde_json::Map::new();
            __rail_map
                .insert(
                    <::std::string::String as ::core::convert::From<
                        &str,
                    >>::from("workers"),
                    (::rail_graphql_security::config::__derive::leaf::<u32>()
                        .json)(&self.workers),
                );
            __rail_map
                .insert(
                    <::std::string::String as ::core::convert::From<
                        &str,
                    >>::from("base_url"),
                    (::rail_graphql_security::config::__derive::leaf::<String>()
                        .json)(&self.base_url),
                );
            __rail_map
                .insert(
                    <::std::string::String as ::core::convert::From<
                        &str,
                    >>::from("ratio"),
                    (::rail_graphql_security::config::__derive::leaf::<f64>()
                        .json)(&self.ratio),
                );
            __rail_map
                .insert(
                    <::std::string::String as ::core::convert::From<
                        &str,
                    >>::from("hosts"),
                    (::rail_graphql_security::config::__derive::leaf::<Vec<String>>()
                        .json)(&self.hosts),
                );
            __rail_map
                .insert(
                    <::std::string::String as ::core::convert::From<&str>>::from("key"),
                    (::rail_graphql_security::config::__derive::leaf::<Option<Secret>>()
                        .json)(&self.key),
                );
            __rail_map
                .insert(
                    <::std::string::String as ::core::convert::From<
                        &str,
                    >>::from("limit"),
                    (::rail_graphql_security::config::__derive::leaf::<u64>()
                        .json)(&self.limit),
                );
            __rail_map
                .insert(
                    <::std::string::String as ::core::convert::From<
                        &str,
                    >>::from("security"),
                    (::rail_graphql_security::config::__derive::section::<
                        StandardSecurityConfig,
                    >()
                        .json)(&self.security),
                );
            ::rail_graphql_security::__private::serde_json::Value::Object(__rail_map)
        }
        fn write_toml(
            &self,
            __rail_table: &mut ::rail_graphql_security::__private::toml_edit::Table,
        ) {
            (::rail_graphql_security::config::__derive::leaf::<u32>()
                .write)(__rail_table, "workers", &self.workers, "Worker threads.");
            (::rail_graphql_security::config::__derive::leaf::<String>()
                .write)(__rail_table, "base_url", &self.base_url, "");
            (::rail_graphql_security::config::__derive::leaf::<f64>()
                .write)(__rail_table, "ratio", &self.ratio, "");
            (::rail_graphql_security::config::__derive::leaf::<Vec<String>>()
                .write)(__rail_table, "hosts", &self.hosts, "");
            (::rail_graphql_security::config::__derive::leaf::<Option<Secret>>()
                .write)(__rail_table, "key", &self.key, "");
            (::rail_graphql_security::config::__derive::leaf::<u64>()
                .write)(__rail_table, "limit", &self.limit, "");
            (::rail_graphql_security::config::__derive::section::<
                StandardSecurityConfig,
            >()
                .write)(
                __rail_table,
                "security",
                &self.security,
                "The standard settings.",
            );
        }
        fn generate_secrets(&mut self) {
            ::rail_graphql_security::config::__derive::GenerateSecret::generate(
                &mut self.key,
            );
            (::rail_graphql_security::config::__derive::section::<
                StandardSecurityConfig,
            >()
                .generate)(&mut self.security);
        }
        fn collect_keys(
            __rail_keys: &mut ::rail_graphql_security::config::KeyCollector,
        ) {
            __rail_keys
                .leaf(
                    "workers",
                    &[],
                    "Worker threads.",
                    (::rail_graphql_security::config::__derive::leaf::<u32>()
                        .expected)(),
                    ::rail_graphql_security::config::__derive::leaf::<u32>().secret,
                );
            __rail_keys
                .leaf(
                    "base_url",
                    &[],
                    "",
                    (::rail_graphql_security::config::__derive::leaf::<String>()
                        .expected)(),
                    ::rail_graphql_security::config::__derive::leaf::<String>().secret,
                );
            __rail_keys
                .leaf(
                    "ratio",
                    &[],
                    "",
                    (::rail_graphql_security::config::__derive::leaf::<f64>()
                        .expected)(),
                    ::rail_graphql_security::config::__derive::leaf::<f64>().secret,
                );
            __rail_keys
                .leaf(
                    "hosts",
                    &[],
                    "",
                    (::rail_graphql_security::config::__derive::leaf::<Vec<String>>()
                        .expected)(),
                    ::rail_graphql_security::config::__derive::leaf::<Vec<String>>()
                        .secret,
                );
            __rail_keys
                .leaf(
                    "key",
                    &[],
                    "",
                    (::rail_graphql_security::config::__derive::leaf::<Option<Secret>>()
                        .expected)(),
                    ::rail_graphql_security::config::__derive::leaf::<Option<Secret>>()
                        .secret,
                );
            __rail_keys
                .leaf(
                    "limit",
                    &[],
                    "",
                    (::rail_graphql_security::config::__derive::leaf::<u64>()
                        .expected)(),
                    ::rail_graphql_security::config::__derive::leaf::<u64>().secret,
                );
            __rail_keys
                .section(
                    "security",
                    &[],
                    ::rail_graphql_security::config::__derive::section::<
                        StandardSecurityConfig,
                    >()
                        .keys,
                );
        }
    }
};
