//! # rail-graphql-security
//!
//! A security plugin for GraphQL servers built on async-graphql and SeaORM.
//!
//! - [`audit`]: security events logged without blocking the request path, written to a
//!   database, JSON Lines files, a signed webhook (spooled to disk so nothing is lost) and
//!   `tracing`, with alerts, reports and retention.
//! - [`config`]: typed security configuration with environment profiles, layered loading and
//!   checks, derivable for your own struct with `#[derive(SecurityConfig)]`; the `check` /
//!   `setup` commands in `cli` (feature `cli`).
//! - [`context`], [`auth`], [`rate_limit`](mod@rate_limit), [`client_ip`], [`graphql`] and `http` (feature
//!   `axum`): the request's security context and its checks, bearer tokens with revocation,
//!   rate limits, proxy-aware client addresses, and the axum layer; `stack` (feature `axum`)
//!   builds all of it from a loaded `StandardSecurityConfig`.
//! - `#[require_mfa]`, `#[audited]` and `#[rate_limit]` on resolvers, with their runtime in
//!   [`mfa::enforce_mfa`], [`resolver`] and [`rate_limit::enforce_resolver`], and the
//!   [`guard::RequireMfa`] field guard.
//!
//! The migrations for its tables are in [`migration`]; the [`guide`] explains each part with examples.
//!
//! ## Cargo features
//!
//! Like SeaORM, the crate enables no database driver and no TLS by default: pick them here (or on
//! your own `sea-orm` dependency; Cargo unifies the choice). The default is `mfa`; with
//! `default-features = false` the crate keeps audit logging, the typed config, rate limits, the
//! request context and `#[require_mfa]` (which reads the second-factor state from the session).
//!
//! | Feature | What it adds | Pulls in |
//! |---|---|---|
//! | `sqlx-sqlite`, `sqlx-postgres`, `sqlx-mysql` | the database drivers, passed to SeaORM and the migrations | sqlx |
//! | `runtime-tokio-rustls` | the Tokio runtime and rustls for database connections | rustls |
//! | `mfa` (default) | `mfa::MfaManager` (TOTP, SMS codes through an `SmsProvider`, backup codes, trusted devices, secrets encrypted at rest), QR codes, the GraphQL API `mfa::graphql`; enables `auth` | totp-rs, aes-gcm, argon2, qrcode, png |
//! | `sms` | the Twilio and AWS SNS SMS providers; enables `mfa` | reqwest |
//! | `webhook` | `audit::WebhookSink`, storage backend `webhook` | reqwest |
//! | `nats` | `audit::NatsSink`, storage backend `nats` | async-nats |
//! | `auth` | bearer tokens: `auth::TokenService`, revocation | jsonwebtoken |
//! | `axum` | the HTTP layer `http` and `stack::Security`; enables `auth` | axum, tower-http |
//! | `redis` | rate limits and token revocations shared through Redis | redis |
//! | `cli` | the `check` / `setup` commands in `cli` and the `rail-security` binary | clap |
//! | `dashboard` | the admin dashboard `dashboard`; enables `axum` and `mfa` | maud |
//!
//! ```toml
//! [dependencies]
//! rail-graphql-security = { version = "0.1", features = ["sqlx-postgres", "runtime-tokio-rustls", "axum"] }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

// Lets generated code name `::rail_graphql_security` inside this crate too.
extern crate self as rail_graphql_security;

pub mod audit;
#[cfg(feature = "auth")]
#[cfg_attr(docsrs, doc(cfg(feature = "auth")))]
pub mod auth;
#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
pub mod cli;
pub mod client_ip;
pub mod config;
pub mod context;
#[cfg(feature = "dashboard")]
#[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
pub mod dashboard;
mod db_clock;
pub mod graphql;
pub mod guard;
pub mod guide;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod http;
pub mod mfa;
pub mod rate_limit;
pub mod resolver;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod stack;
pub mod username;

pub use config::SecurityConfig;
pub use rail_graphql_security_macros::{audited, rate_limit, require_mfa};

/// On your SeaORM user `Model` (above `#[derive(DeriveEntityModel)]`): generates, in a module
/// `mfa` next to it, the MFA tables' entities with foreign keys to your user table, their
/// migration (`mfa::migration()` / `mfa::migrations()`), the `MfaUser` impl of the model, and
/// the GraphQL roots `mfa::MfaQuery` / `mfa::MfaMutation` (see [`mfa::graphql`]).
///
/// Options: `module = "name"` (default `mfa`), `on_delete = "cascade" | "restrict"` (what deleting
/// a user does to the user's MFA rows; default `cascade`), `account_name = "field"` (shown in
/// authenticator apps; default the `email`, `username` or `name` field, else the key). The key
/// may be `i32`, `i64`, `Uuid` or `String`. The [`security_user` guide](guide::security_user) has a
/// complete example.
pub use rail_graphql_security_macros::security_user;

/// The SeaORM migrations of the security tables (the `rail-graphql-security-migration` crate).
pub use rail_graphql_security_migration as migration;

/// What generated code and most applications need.
pub mod prelude {
    pub use crate::audit::{Actor, AuditEvent, AuditEventType, AuditLogger, AuditSeverity, AuditUser};
    #[cfg(feature = "auth")]
    pub use crate::auth::{TokenConfig, TokenService};
    pub use crate::config::{Profile, Secret, SecurityConfig, StandardSecurityConfig};
    pub use crate::context::{
        MfaLevel, MfaState, Principal, Requirement, SecurityContext, enforce, require_authenticated, require_role,
        require_second_factor,
    };
    pub use crate::guard::RequireMfa;
    pub use crate::mfa::{AuditAs, MfaMethod, MfaRequirement, enforce_mfa};
    #[cfg(feature = "mfa")]
    pub use crate::mfa::{MfaAccount, MfaManager, MfaUser, MfaUserId};
    pub use crate::rate_limit::{FieldLimit, LimitKey, LoginRateLimiter, RateLimiter};
    pub use crate::resolver::ResolverOutcome;
    pub use rail_graphql_security_macros::{audited, rate_limit, require_mfa};
}

#[doc(hidden)]
pub mod __private {
    pub use crate::resolver::generated::{refusal, short_type_name};
    /// What `#[derive(SecurityConfig)]` expands to calls.
    pub mod config {
        pub use crate::config::codegen::*;
    }
    pub use async_graphql;
    pub use async_trait;
    pub use sea_orm;
    pub use serde_json;
    pub use toml_edit;
    pub use tracing;
}

/// The README's Rust snippets, compiled and run as doc tests (they use every optional feature:
/// `cargo test --all-features`).
#[doc = include_str!("../../README.md")]
#[cfg(all(
    doctest,
    feature = "axum",
    feature = "redis",
    feature = "cli",
    feature = "dashboard",
    feature = "sms",
    feature = "webhook",
    feature = "sqlx-sqlite",
    feature = "runtime-tokio-rustls"
))]
pub struct ReadmeDoctests;
