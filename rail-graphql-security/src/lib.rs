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
pub mod mfa;

/// The SeaORM migrations of the security tables (the `rail-graphql-security-migration` crate).
pub use rail_graphql_security_migration as migration;

/// What generated code and most applications need.
pub mod prelude {
    pub use crate::audit::{Actor, AuditEvent, AuditEventType, AuditLogger, AuditSeverity, AuditUser};
    pub use crate::mfa::{MfaAccount, MfaManager, MfaUser, MfaUserId};
}

#[doc(hidden)]
pub mod __private {
    pub use sea_orm;
    pub use serde_json;
    pub use tracing;
}

/// The README's Rust snippets, compiled and run as doc tests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
