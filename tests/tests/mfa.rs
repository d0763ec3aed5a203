//! The MFA runtime on every backend and with two user id types (`i64`, `Uuid`): TOTP
//! (RFC 6238 vectors, interop, replay across instances, enrolment, throttling), secrets at
//! rest, and QR codes.

#[path = "mfa/abuse.rs"]
mod abuse;
#[path = "mfa/backup.rs"]
mod backup;
#[path = "mfa/common.rs"]
mod common;
#[path = "mfa/policy.rs"]
mod policy;
#[path = "mfa/sms.rs"]
mod sms;
#[path = "mfa/totp.rs"]
mod totp;
#[path = "mfa/trusted.rs"]
mod trusted;
