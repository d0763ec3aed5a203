//! Guides: how to use each part of the plugin, one page per topic, with examples that run as
//! doc tests.
//!
//! | Guide | Covers |
//! |---|---|
//! | [`config`] | `#[derive(SecurityConfig)]`, profiles, layered loading, the `check` / `setup` commands |
//! | [`audit`] | the audit pipeline, its sinks and formats, alerts, reports, retention, `#[audited]` on models |
//! | [`mfa`] | the MFA manager: TOTP, SMS, backup codes, trusted devices, throttling |
//! | [`security_user`] | `#[security_user]`: the MFA tables and GraphQL API for a SeaORM user model |
//! | [`resolver_macros`] | `#[require_mfa]`, `#[audited]`, `#[rate_limit]` on resolvers, the `RequireMfa` guard |
//! | [`rate_limits`] | request, login, resolver and SMS limits, in memory or Redis |
//! | `http` (feature `axum`) | the HTTP layer: tokens, client addresses, headers, query limits, the config-built stack |
//! | `dashboard` (feature `dashboard`) | the admin-only security dashboard |
//! | [`deployment`] | production checks, keys, several instances, migrations, tests against every backend |
//! | [`example_server`] | the repository's example server, its environment variables and GraphQL contract |
//!
//! Benchmarks are in `docs/PERFORMANCE.md`, the module map in `docs/ARCHITECTURE.md`.

#[doc = include_str!("../guide/config.md")]
pub mod config {}

#[doc = include_str!("../guide/audit.md")]
pub mod audit {}

#[doc = include_str!("../guide/mfa.md")]
pub mod mfa {}

#[doc = include_str!("../guide/security_user.md")]
pub mod security_user {}

#[doc = include_str!("../guide/resolver_macros.md")]
pub mod resolver_macros {}

#[doc = include_str!("../guide/rate_limits.md")]
pub mod rate_limits {}

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
#[doc = include_str!("../guide/http.md")]
pub mod http {}

#[cfg(feature = "dashboard")]
#[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
#[doc = include_str!("../guide/dashboard.md")]
pub mod dashboard {}

#[doc = include_str!("../guide/deployment.md")]
pub mod deployment {}

#[doc = include_str!("../guide/example_server.md")]
pub mod example_server {}
