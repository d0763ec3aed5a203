//! The checks of the standard config: Django's `check --deploy` analogues and the plugin's own.

use crate::config::{Check, Checklist, Secret, Severity};

use super::{SameSite, SmsProviderKind, StandardSecurityConfig};

/// Words that mark a key as a placeholder ("change-me", "django-insecure-...", "my_secret").
const PLACEHOLDERS: &[&str] =
    &["change", "changeme", "example", "placeholder", "insecure", "secret", "password", "xxxx", "todo"];

/// Whether `lower` holds a placeholder word as a word of its own (delimited by non-alphanumerics
/// or the ends), or starts with a long one. A random alphanumeric key never matches the first
/// rule and practically never the second, so generated keys are not flagged by chance.
fn looks_like_placeholder(lower: &str) -> bool {
    let delimited = lower.split(|c: char| !c.is_ascii_alphanumeric()).any(|word| PLACEHOLDERS.contains(&word));
    let prefixed = PLACEHOLDERS.iter().filter(|p| p.len() >= 6).any(|p| lower.starts_with(p));
    delimited || prefixed
}

/// Runs every check of [`StandardSecurityConfig`] (its `#[security(check = ..)]`).
pub(crate) fn standard_checks(config: &StandardSecurityConfig, checks: &mut Checklist) {
    plugin_checks(config, checks);
    deployment_checks(config, checks);
}

/// Severity of a failed check: `critical` ones block production; the rest warn there.
fn severity(checks: &Checklist, critical: bool) -> Severity {
    match (critical, checks.production_severity()) {
        (true, s) => s,
        (false, Severity::Critical) => Severity::Warning,
        (false, _) => Severity::Info,
    }
}

/// A check whose pass/fail message pair and fix are given in one go.
struct Rule<'a> {
    id: &'a str,
    passed: bool,
    ok: &'a str,
    failed: &'a str,
    critical: bool,
    recommendation: &'a str,
    why: &'a str,
}

fn push(checks: &mut Checklist, rule: Rule<'_>, fix: Option<toml_edit::Value>) {
    let key = checks.key(rule.id);
    let mut check = Check::new(key.clone(), rule.passed, if rule.passed { rule.ok } else { rule.failed })
        .severity(severity(checks, rule.critical))
        .recommend(rule.recommendation)
        .why(rule.why);
    if let Some(value) = fix {
        check = check.fix(key, value);
    }
    checks.push(check);
}

/// Why a key is weak, or `None` when it is strong enough.
pub(crate) fn key_weakness(key: Option<&Secret>, min_len: usize, min_distinct: usize) -> Option<String> {
    let Some(key) = key else { return Some("is not set".to_owned()) };
    let value = key.expose();
    let distinct = value.chars().collect::<std::collections::BTreeSet<_>>().len();
    let lower = value.to_ascii_lowercase();
    if value.chars().count() < min_len {
        Some(format!("is shorter than {min_len} characters"))
    } else if distinct < min_distinct {
        Some(format!("has fewer than {min_distinct} distinct characters"))
    } else if looks_like_placeholder(&lower) {
        Some("looks like a placeholder".to_owned())
    } else {
        // The same rule the stack build applies in production (never quotes the value).
        crate::config::secret_strength(value).err().map(|weak| weak.to_string())
    }
}

/// The format (32 bytes of base64) is enforced when loading; what is left to score is whether
/// a key is set and whether its bytes vary (all zeros decodes fine but protects nothing).
fn encryption_key_weakness(key: Option<&super::Base64Key>) -> Option<String> {
    let Some(key) = key else { return Some("is not set".to_owned()) };
    let distinct = key.bytes().iter().collect::<std::collections::BTreeSet<_>>().len();
    (distinct < 8).then(|| "has fewer than 8 distinct bytes (not random)".to_owned())
}

fn plugin_checks(config: &StandardSecurityConfig, checks: &mut Checklist) {
    let production = checks.profile().is_production();
    let auth = &config.middleware.authentication;
    push(
        checks,
        Rule {
            id: "middleware.authentication.enabled",
            passed: auth.enabled,
            ok: "Authentication middleware is properly configured",
            failed: "Authentication middleware is disabled",
            critical: true,
            recommendation: "Enable the authentication middleware (middleware.authentication.enabled = true)",
            why: "Without it every request runs as an anonymous caller and no resolver can tell who is asking.",
        },
        Some(true.into()),
    );
    push(
        checks,
        Rule {
            id: "middleware.authentication.security_headers",
            passed: auth.security_headers,
            ok: "Security headers middleware is enabled",
            failed: "Security headers middleware is disabled",
            critical: false,
            recommendation: "Set up security headers middleware (middleware.authentication.security_headers = true)",
            why: "HSTS, X-Frame-Options, nosniff and Referrer-Policy are only sent when it is on.",
        },
        Some(true.into()),
    );

    let rate = &config.middleware.rate_limiting;
    push(
        checks,
        Rule {
            id: "middleware.rate_limiting.enabled",
            passed: rate.enabled,
            ok: "Rate limiting is enabled and configured",
            failed: "Rate limiting is disabled",
            critical: true,
            recommendation: "Enable rate limiting (middleware.rate_limiting.enabled = true)",
            why: "Without limits, passwords and one-time codes can be guessed by brute force.",
        },
        Some(true.into()),
    );
    push(
        checks,
        Rule {
            id: "mfa.enabled",
            passed: config.mfa.enabled || !production,
            ok: "MFA is enabled",
            failed: "MFA is not enabled (Recommendation: Enable for production)",
            critical: true,
            recommendation: "Enable MFA for enhanced security (mfa.enabled = true)",
            why: "A stolen password alone then no longer opens an account.",
        },
        Some(true.into()),
    );
    // The stack builds the SMS provider whether or not MFA is required, so these are scored
    // either way.
    push(
        checks,
        Rule {
            id: "mfa.sms.provider",
            passed: config.mfa.sms.provider != SmsProviderKind::Console || !production,
            ok: "SMS codes go through a real provider",
            failed: "SMS provider is `console` in production (codes are only logged)",
            critical: true,
            recommendation: "Set mfa.sms.provider to twilio or sns with its credentials",
            why: "The console provider writes codes to the log instead of sending them.",
        },
        None,
    );
    let sms = &config.mfa.sms;
    let missing: Vec<&str> = match sms.provider {
        SmsProviderKind::None | SmsProviderKind::Console | SmsProviderKind::Custom => Vec::new(),
        SmsProviderKind::Twilio => [
            ("twilio_account_sid", sms.twilio_account_sid.is_some()),
            ("twilio_auth_token", sms.twilio_auth_token.as_ref().is_some_and(|t| !t.is_empty())),
            ("twilio_from_number", sms.twilio_from_number.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| !set)
        .map(|(key, _)| key)
        .collect(),
        SmsProviderKind::Sns => [
            ("sns_region", sms.sns_region.is_some()),
            ("sns_access_key_id", sms.sns_access_key_id.is_some()),
            ("sns_secret_access_key", sms.sns_secret_access_key.as_ref().is_some_and(|t| !t.is_empty())),
        ]
        .into_iter()
        .filter(|(_, set)| !set)
        .map(|(key, _)| key)
        .collect(),
    };
    let sends = !matches!(sms.provider, SmsProviderKind::None | SmsProviderKind::Console);
    push(
        checks,
        Rule {
            id: "mfa.sms.allowed_country_codes",
            passed: !sends || !sms.allowed_country_codes.is_empty(),
            ok: if sends { "SMS codes go only to the listed countries" } else { "No SMS are sent through a provider" },
            failed: "SMS codes may be sent to any country",
            critical: false,
            recommendation: "List the country calling codes of your users in mfa.sms.allowed_country_codes (e.g. [\"1\", \"33\"])",
            why: "SMS pumping: bots enrol premium-rate numbers abroad and the provider bills every code sent to them.",
        },
        None,
    );
    let failed = format!("SMS provider credentials are missing: {}", missing.join(", "));
    push(
        checks,
        Rule {
            id: "mfa.sms.credentials",
            passed: missing.is_empty(),
            ok: "SMS provider credentials are set",
            failed: &failed,
            critical: true,
            recommendation: "Set the SMS provider's credentials under [mfa.sms] (secrets via environment variables)",
            why: "Without them every SMS code fails to send and users with SMS as their factor are locked out.",
        },
        None,
    );
    if config.mfa.enabled {
        let weakness = encryption_key_weakness(config.mfa.encryption_key.as_ref());
        let failed = format!("MFA encryption key {}", weakness.as_deref().unwrap_or(""));
        push(
            checks,
            Rule {
                id: "mfa.encryption_key",
                passed: weakness.is_none(),
                ok: "MFA encryption key is present and strong",
                failed: &failed,
                critical: true,
                recommendation: "Set mfa.encryption_key to 32 random bytes in base64 (`openssl rand -base64 32`; `rail-security setup` generates one)",
                why: "TOTP secrets are encrypted at rest with this key; a weak key exposes every second factor.",
            },
            None,
        );
    }

    let audit = &config.audit;
    push(
        checks,
        Rule {
            id: "audit.enabled",
            passed: audit.enabled && (audit.retention_days >= 90 || !production),
            ok: "Audit logging is configured",
            failed: "Audit logging is off or keeps events under 90 days",
            critical: true,
            recommendation: "Enable audit logging with a retention of at least 90 days (audit.enabled, audit.retention_days)",
            why: "Investigating an incident needs the security events of the weeks before it.",
        },
        if audit.enabled { None } else { Some(true.into()) },
    );
    if audit.enabled {
        let weakness = match (&audit.checkpoint_signing_key, audit.hash_chain) {
            (_, false) => Some("the hash chain is off (audit.hash_chain = false)".to_owned()),
            (None, true) if !audit.checkpoint_previous_keys.is_empty() => Some(
                "audit.checkpoint_signing_key is not set but audit.checkpoint_previous_keys is: new checkpoints \
                 are unsigned, and `audit verify` (which trusts the previous keys) reports them as forged"
                    .to_owned(),
            ),
            (key, true) => {
                key_weakness(key.as_ref(), 32, 10).map(|weak| format!("audit.checkpoint_signing_key {weak}"))
            }
        };
        let failed = format!(
            "The audit trail is not tamper-evident: {}",
            weakness.as_deref().unwrap_or("the checkpoint signing key is weak")
        );
        push(
            checks,
            Rule {
                id: "audit.checkpoint_signing_key",
                passed: weakness.is_none(),
                ok: "Audit trail checkpoints are signed",
                failed: &failed,
                critical: false,
                recommendation: "Set audit.checkpoint_signing_key to 32+ random characters (`rail-security setup` generates one) and keep audit.hash_chain on",
                why: "Without signed checkpoints anyone who can write the database can change audit events and recompute the hash chain; `rail-security audit verify` could not tell.",
            },
            None,
        );
    }
    if audit.enabled && audit.hash_chain {
        push(
            checks,
            Rule {
                id: "audit.checkpoint_anchor_path",
                passed: audit.checkpoint_anchor_path.is_some() || !production,
                ok: "Audit checkpoints are also copied outside the database",
                failed: "Audit checkpoints are kept only in the database",
                critical: false,
                recommendation: "Set audit.checkpoint_anchor_path to a file the database's writers cannot change (another host's mount, an append-only or WORM volume) and pass it to `rail-security audit verify --anchors` on another machine",
                why: "Whoever can write the database can delete the newest events together with every checkpoint after them and leave a trail that verifies; a copy of the checkpoints kept elsewhere shows what was there.",
            },
            None,
        );
    }
    if let Some(url) = &audit.webhook_url {
        push(
            checks,
            Rule {
                id: "audit.webhook_url",
                passed: url.expose().starts_with("https://"),
                ok: "Audit webhook uses https",
                failed: "Audit webhook is not https",
                critical: true,
                recommendation: "Use an https:// audit.webhook_url",
                why: "Audit events and the webhook's auth headers would travel in clear text.",
            },
            None,
        );
    }
}

fn deployment_checks(config: &StandardSecurityConfig, checks: &mut Checklist) {
    let production = checks.profile().is_production();
    let d = &config.deployment;
    push(
        checks,
        Rule {
            id: "deployment.https_redirect",
            passed: d.https_redirect,
            ok: "HTTPS is enforced",
            failed: "HTTPS is not enforced (Critical: enable deployment.https_redirect)",
            critical: true,
            recommendation: "Configure HTTPS enforcement (deployment.https_redirect = true)",
            why: "Plain http lets anyone on the path read tokens and change responses.",
        },
        Some(true.into()),
    );
    push(
        checks,
        Rule {
            id: "deployment.hsts_seconds",
            passed: d.hsts_seconds >= 31_536_000,
            ok: "HSTS is set for at least a year",
            failed: "HSTS max-age is under a year",
            critical: true,
            recommendation: "Set deployment.hsts_seconds = 31536000",
            why: "Browsers then refuse plain http to this host, defeating SSL stripping.",
        },
        Some(31_536_000_i64.into()),
    );
    push(
        checks,
        Rule {
            id: "deployment.hsts_include_subdomains",
            passed: d.hsts_include_subdomains,
            ok: "HSTS covers subdomains",
            failed: "HSTS does not cover subdomains",
            critical: false,
            recommendation: "Set deployment.hsts_include_subdomains = true",
            why: "A subdomain served over http can set cookies for the main domain.",
        },
        Some(true.into()),
    );
    push(
        checks,
        Rule {
            id: "deployment.hsts_preload",
            passed: d.hsts_preload,
            ok: "HSTS preload is on",
            failed: "HSTS preload is off",
            critical: false,
            recommendation: "Set deployment.hsts_preload = true and submit the domain to the preload list",
            why: "Without preload the very first visit can still be downgraded.",
        },
        Some(true.into()),
    );
    push(
        checks,
        Rule {
            id: "deployment.cookie_secure",
            passed: d.cookie_secure,
            ok: "Cookies are Secure",
            failed: "Cookies are sent without Secure",
            critical: true,
            recommendation: "Configure session security settings (deployment.cookie_secure = true)",
            why: "Session cookies would also be sent over plain http.",
        },
        Some(true.into()),
    );
    push(
        checks,
        Rule {
            id: "deployment.cookie_http_only",
            passed: d.cookie_http_only,
            ok: "Cookies are HttpOnly",
            failed: "Cookies are readable by JavaScript (HttpOnly off)",
            critical: true,
            recommendation: "Set deployment.cookie_http_only = true",
            why: "Any script injection could then steal sessions.",
        },
        Some(true.into()),
    );
    push(
        checks,
        Rule {
            id: "deployment.cookie_same_site",
            passed: d.cookie_same_site != SameSite::None,
            ok: "Cookies are SameSite",
            failed: "Cookies are SameSite=None",
            critical: false,
            recommendation: "Set deployment.cookie_same_site = \"lax\" (or \"strict\")",
            why: "SameSite=None sends cookies on cross-site requests (CSRF).",
        },
        Some("lax".into()),
    );
    push(
        checks,
        Rule {
            id: "deployment.allowed_hosts",
            passed: !d.allowed_hosts.is_empty() && !d.allowed_hosts.iter().any(|h| h == "*"),
            ok: "Allowed hosts are listed",
            failed: "Allowed hosts are empty or `*`",
            critical: true,
            recommendation: "List the host names the server answers to in deployment.allowed_hosts",
            why: "Accepting any Host header enables host-header poisoning of links and password resets.",
        },
        None,
    );
    let wildcard_cors = d.allowed_origins.iter().any(|o| o == "*");
    push(
        checks,
        Rule {
            id: "deployment.allowed_origins",
            passed: !(wildcard_cors && d.cors_allow_credentials),
            ok: "CORS does not combine `*` with credentials",
            failed: "CORS allows any origin with credentials",
            critical: true,
            recommendation: "List explicit origins in deployment.allowed_origins",
            why: "Any site could then make authenticated requests on a user's behalf.",
        },
        None,
    );
    let xfo = d.x_frame_options.to_ascii_uppercase();
    push(
        checks,
        Rule {
            id: "deployment.x_frame_options",
            passed: xfo == "DENY" || xfo == "SAMEORIGIN",
            ok: "X-Frame-Options is set",
            failed: "X-Frame-Options is not DENY or SAMEORIGIN",
            critical: false,
            recommendation: "Set deployment.x_frame_options = \"DENY\"",
            why: "Pages could be framed by other sites (clickjacking).",
        },
        Some("DENY".into()),
    );
    push(
        checks,
        Rule {
            id: "deployment.content_type_nosniff",
            passed: d.content_type_nosniff,
            ok: "X-Content-Type-Options is nosniff",
            failed: "X-Content-Type-Options nosniff is off",
            critical: false,
            recommendation: "Set deployment.content_type_nosniff = true",
            why: "Browsers may otherwise execute uploaded content as script.",
        },
        Some(true.into()),
    );
    let policy = d.referrer_policy.to_ascii_lowercase();
    push(
        checks,
        Rule {
            id: "deployment.referrer_policy",
            passed: ["no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"]
                .contains(&policy.as_str()),
            ok: "Referrer-Policy is strict",
            failed: "Referrer-Policy leaks URLs to other sites",
            critical: false,
            recommendation: "Set deployment.referrer_policy = \"strict-origin-when-cross-origin\"",
            why: "Full URLs (with tokens in query strings) would reach third parties.",
        },
        Some("strict-origin-when-cross-origin".into()),
    );
    let weakness = key_weakness(d.secret_key.as_ref(), 50, 5);
    let failed = format!("Secret key {}", weakness.as_deref().unwrap_or(""));
    push(
        checks,
        Rule {
            id: "deployment.secret_key",
            passed: weakness.is_none(),
            ok: "Secret key is long, varied and not a placeholder",
            failed: &failed,
            critical: true,
            recommendation: "Set deployment.secret_key to 50+ random characters (`rail-security setup` generates one)",
            why: "Sessions and tokens signed with a guessable key can be forged.",
        },
        None,
    );
    push(
        checks,
        Rule {
            id: "deployment.introspection",
            passed: !d.introspection || !production,
            ok: "Introspection is off in production",
            failed: "Introspection is on in production",
            critical: true,
            recommendation: "Set deployment.introspection = false",
            why: "Introspection hands attackers the whole schema, including internal fields.",
        },
        Some(false.into()),
    );
    push(
        checks,
        Rule {
            id: "deployment.playground",
            passed: !d.playground || !production,
            ok: "GraphQL playground is off in production",
            failed: "GraphQL playground is on in production",
            critical: true,
            recommendation: "Set deployment.playground = false",
            why: "The playground is an interactive attack console and leaks the schema.",
        },
        Some(false.into()),
    );
    push(
        checks,
        Rule {
            id: "deployment.trusted_proxies",
            passed: !d.behind_proxy || !d.trusted_proxies.is_empty(),
            ok: "Client IPs come from trusted proxies only",
            failed: "Behind a proxy, but no trusted proxies are set",
            critical: true,
            recommendation: "List your proxies' addresses in deployment.trusted_proxies",
            why: "Rate limits and audit logs would see the proxy's address, or a spoofed X-Forwarded-For.",
        },
        None,
    );
    push(
        checks,
        Rule {
            id: "deployment.max_query_depth",
            passed: d.max_query_depth <= 15 && d.max_query_complexity <= 10_000,
            ok: "Query depth and complexity are limited",
            failed: "Query depth or complexity limits are high",
            critical: false,
            recommendation: "Keep deployment.max_query_depth <= 15 and max_query_complexity <= 10000",
            why: "Deep or wide queries are a cheap denial of service.",
        },
        None,
    );
}
