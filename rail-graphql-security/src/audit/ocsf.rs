//! OCSF 1.1 export of audit events.
//!
//! | event types | OCSF class | activity |
//! |---|---|---|
//! | login_success, login_failed, mfa_success, mfa_failed | Authentication (3002) | 1 Logon (MFA: `is_mfa = true`) |
//! | logout | Authentication (3002) | 2 Logoff |
//! | token_created, token_refreshed, token_expired, token_revoked | Authentication (3002) | 3 Authentication Ticket, 5 Service Ticket Renew, 99 Other |
//! | mfa_enabled, mfa_disabled, account_locked | Account Change (3001) | 10 MFA Factor Enable, 11 MFA Factor Disable, 9 Lock |
//! | suspicious_activity, rate_limit_exceeded, unauthorized_access | Detection Finding (2004) | 1 Create |
//! | data_*, custom | Base Event (0) | 99 Other |
//!
//! `severity_id`: low 2, medium 3, high 4, critical 5. `status_id` is 1 (Success) or 2 (Failure)
//! for authentication. The original event's id is `metadata.uid`, its request id
//! `metadata.correlation_uid`, its details `unmapped`.

use serde_json::{Value, json};

use super::event::{AuditEvent, AuditEventType, AuditSeverity};

/// The OCSF schema version the export follows.
pub const OCSF_VERSION: &str = "1.1.0";

struct Class {
    class_uid: u32,
    class_name: &'static str,
    category_uid: u32,
    category_name: &'static str,
}

const AUTHENTICATION: Class = Class {
    class_uid: 3002,
    class_name: "Authentication",
    category_uid: 3,
    category_name: "Identity & Access Management",
};
const ACCOUNT_CHANGE: Class = Class {
    class_uid: 3001,
    class_name: "Account Change",
    category_uid: 3,
    category_name: "Identity & Access Management",
};
const DETECTION_FINDING: Class =
    Class { class_uid: 2004, class_name: "Detection Finding", category_uid: 2, category_name: "Findings" };
const BASE_EVENT: Class =
    Class { class_uid: 0, class_name: "Base Event", category_uid: 0, category_name: "Uncategorized" };

/// OCSF `severity_id` for a severity.
pub(crate) fn ocsf_severity_id(severity: AuditSeverity) -> u8 {
    match severity {
        AuditSeverity::Low => 2,
        AuditSeverity::Medium => 3,
        AuditSeverity::High => 4,
        AuditSeverity::Critical => 5,
    }
}

fn classify(t: &AuditEventType) -> (Class, u32, &'static str) {
    use AuditEventType::*;
    match t {
        LoginSuccess | LoginFailed | MfaSuccess | MfaFailed => (AUTHENTICATION, 1, "Logon"),
        Logout => (AUTHENTICATION, 2, "Logoff"),
        TokenCreated => (AUTHENTICATION, 3, "Authentication Ticket"),
        TokenRefreshed => (AUTHENTICATION, 5, "Service Ticket Renew"),
        TokenExpired | TokenRevoked => (AUTHENTICATION, 99, "Other"),
        MfaEnabled => (ACCOUNT_CHANGE, 10, "MFA Factor Enable"),
        MfaDisabled => (ACCOUNT_CHANGE, 11, "MFA Factor Disable"),
        AccountLocked => (ACCOUNT_CHANGE, 9, "Lock"),
        SuspiciousActivity | RateLimitExceeded | UnauthorizedAccess => (DETECTION_FINDING, 1, "Create"),
        DataCreated | DataUpdated | DataDeleted | Custom(_) => (BASE_EVENT, 99, "Other"),
    }
}

/// Converts an event to an OCSF 1.1 object.
///
/// ```
/// use rail_graphql_security::audit::{to_ocsf, AuditEvent, AuditEventType};
///
/// let ocsf = to_ocsf(&AuditEvent::new(AuditEventType::LoginFailed).actor_name("alice"));
/// assert_eq!(ocsf["class_uid"], 3002);
/// assert_eq!(ocsf["type_uid"], 300201);
/// assert_eq!(ocsf["status_id"], 2);
/// assert_eq!(ocsf["user"]["name"], "alice");
/// ```
pub fn to_ocsf(event: &AuditEvent) -> Value {
    let (class, activity_id, activity_name) = classify(&event.event_type);
    let user = json!({ "uid": event.actor_id, "name": event.actor_name });
    let mut out = json!({
        "class_uid": class.class_uid,
        "class_name": class.class_name,
        "category_uid": class.category_uid,
        "category_name": class.category_name,
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": class.class_uid * 100 + activity_id,
        "severity_id": ocsf_severity_id(event.severity),
        "severity": capitalize(event.severity.as_str()),
        "time": event.timestamp.timestamp_millis(),
        "message": event.event_type.as_str(),
        "metadata": {
            "version": OCSF_VERSION,
            "uid": event.id.to_string(),
            "correlation_uid": event.request_id,
            "event_code": event.event_type.as_str(),
            "product": { "name": "rail-graphql-security", "vendor_name": "rail-graphql-security", "version": env!("CARGO_PKG_VERSION") },
        },
        "actor": { "user": user },
        "src_endpoint": { "ip": event.client_ip.map(|ip| ip.to_string()) },
        "http_request": { "user_agent": event.user_agent },
        "unmapped": event.details,
    });
    let Value::Object(map) = &mut out else { return out };
    match class.class_uid {
        3002 => {
            use AuditEventType::*;
            let failed = matches!(event.event_type, LoginFailed | MfaFailed | TokenExpired);
            map.insert("status_id".into(), json!(if failed { 2 } else { 1 }));
            map.insert("status".into(), json!(if failed { "Failure" } else { "Success" }));
            map.insert("is_mfa".into(), json!(matches!(event.event_type, MfaSuccess | MfaFailed)));
            map.insert("user".into(), user);
        }
        3001 => {
            map.insert("user".into(), user);
        }
        2004 => {
            map.insert(
                "finding_info".into(),
                json!({ "uid": event.id.to_string(), "title": event.event_type.as_str(), "types": [event.event_type.as_str()] }),
            );
        }
        _ => {}
    }
    out
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}
