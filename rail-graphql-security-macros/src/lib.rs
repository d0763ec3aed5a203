//! Procedural macros of `rail-graphql-security`, re-exported by that crate; depend on it, not on
//! this crate. The macros (`#[derive(SecurityConfig)]`, `#[require_mfa]`, `#[audited]`, the
//! MFA schema for a user model) arrive with their runtime modules.
