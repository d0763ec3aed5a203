//! # rail-graphql-security
//!
//! A security plugin for GraphQL servers built on async-graphql and SeaORM.
//!
//! This release ships the [`audit`] pipeline: security events logged without blocking the
//! request path, written to a database, JSON Lines files, a signed webhook (spooled to disk so
//! nothing is lost) and `tracing`, with alerts, reports and retention. The migrations for its
//! tables are in [`migration`].
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod audit;
pub mod auth;
pub mod client_ip;
pub mod context;
pub mod graphql;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod http;
pub mod rate_limit;

/// The SeaORM migrations of the security tables (the `rail-graphql-security-migration` crate).
pub use rail_graphql_security_migration as migration;

/// What generated code and most applications need.
pub mod prelude {
    pub use crate::audit::{Actor, AuditEvent, AuditEventType, AuditLogger, AuditSeverity, AuditUser};
    pub use crate::auth::{TokenConfig, TokenService};
    pub use crate::context::{
        MfaLevel, MfaState, Principal, Requirement, SecurityContext, enforce, require_authenticated, require_mfa,
        require_role,
    };
    pub use crate::rate_limit::{LoginRateLimiter, RateLimiter};
}

#[doc(hidden)]
pub mod __private {
    pub use async_graphql;
    pub use sea_orm;
    pub use serde_json;
    pub use tracing;
}

/// The README's Rust snippets, compiled and run as doc tests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
