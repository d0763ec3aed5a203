//! Every field attribute, and the behaviour it generates.
use rail_graphql_security::config::{Check, Checklist, Profile, Secret, SecurityConfig};

#[derive(Debug, SecurityConfig)]
#[security(prefix = "SHOP", check = check_shop, validate = validate_shop)]
struct ShopConfig {
    /// Plain default.
    #[security(default = 5, production = 3, development = 9, staging = 4, profile(qa = 7), range = 1..=10)]
    attempts: u32,
    #[security(default = 1.5, production = 2)]
    ratio: f64,
    #[security(default = "shop", non_empty)]
    name: String,
    #[security(default = ["a.example"], production = [])]
    hosts: Vec<String>,
    #[security(default = "https://pay.example", https_in_production)]
    pay_url: Option<String>,
    #[security(default = None)]
    note: Option<String>,
    #[security(default = "/var/shop")]
    dir: std::path::PathBuf,
    #[security(secret, generate)]
    key: Option<Secret>,
    #[security(secret)]
    tokens: Vec<Secret>,
    #[security(validate = even, check = check_limit)]
    limit: u64,
    #[security(nested)]
    inner: Inner,
}

#[derive(Debug, SecurityConfig)]
struct Inner {
    #[security(default = true)]
    on: bool,
}

fn even(value: &u64) -> Result<(), &'static str> {
    if value % 2 == 0 { Ok(()) } else { Err("must be even") }
}

fn validate_shop(config: &ShopConfig) -> Result<(), String> {
    if config.attempts > 8 && !config.inner.on { Err("too lax".into()) } else { Ok(()) }
}

fn check_limit(limit: &u64, checks: &mut Checklist) {
    checks.push(Check::new(checks.key(""), *limit > 0, "limit set"));
}

fn check_shop(config: &ShopConfig, checks: &mut Checklist) {
    checks.push(Check::new(checks.key("name"), config.name != "shop", "named"));
}

fn main() {
    let prod = ShopConfig::defaults(&Profile::Production);
    assert_eq!((prod.attempts, prod.ratio, prod.hosts.len()), (3, 2.0, 0));
    assert_eq!(ShopConfig::defaults(&Profile::Custom("qa".into())).attempts, 7);
    assert_eq!(ShopConfig::defaults(&Profile::Staging).attempts, 4);
    assert_eq!(ShopConfig::defaults(&Profile::Development).attempts, 9);
    assert_eq!(prod.dir, std::path::PathBuf::from("/var/shop"));
    assert!(prod.note.is_none() && prod.key.is_none() && prod.inner.on);

    let config = ShopConfig::loader()
        .profile(Profile::Staging)
        .env_vars([("SHOP__LIMIT", "4"), ("SHOP__KEY", "k"), ("SHOP__INNER__ON", "false")])
        .load()
        .unwrap();
    assert_eq!(config.limit, 4);
    assert!(!config.inner.on);
    assert!(!format!("{config:?}").contains("\"k\""));
    let errors = ShopConfig::loader().env_vars([("SHOP__LIMIT", "3")]).load().unwrap_err().to_string();
    assert!(errors.contains("`limit` must be even"), "{errors}");
    let errors = ShopConfig::loader().env_vars([("SHOP__INNER__ON", "no")]).load().unwrap_err().to_string();
    assert!(errors.ends_with("`config` too lax"), "{errors}");

    let report = config.run_checks(&Profile::Production);
    let ids: Vec<&str> = report.checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["limit", "name"]);
}
