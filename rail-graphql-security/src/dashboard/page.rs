//! The dashboard page, its JSON twin and its stylesheet.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;

use super::Dashboard;
use super::chart::login_chart;
use super::period::{Period, Preset};
use super::query::{RecentEvent, dead_letters, recent_events, top_addresses};
use super::session::{RequestInfo, layout, logout_form, require_admin};
use crate::audit::dead_letter;
use crate::audit::verify::{CheckpointState, TrailHead, trail_heads};
use crate::audit::{AuditEventType, AuditSeverity, IpCount, SecurityReport, generate_security_report};
use crate::config::{CheckReport, Severity};
use crate::mfa::{MfaAdoption, adoption};

/// Rows of the recent-events table.
const RECENT_LIMIT: u64 = 50;
/// Rows of the suspicious-activity list.
const SUSPICIOUS_LIMIT: u64 = 10;
/// Longest event type name accepted as a filter.
const MAX_TYPE_FILTER: usize = 64;

const STYLESHEET: &str = include_str!("assets/dashboard.css");

/// `GET /assets/dashboard.css`.
pub(crate) async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], STYLESHEET)
        .into_response()
}

/// The query string of the dashboard page.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DashboardQuery {
    preset: Option<String>,
    start: Option<String>,
    end: Option<String>,
    severity: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
}

/// The period and filters of a request, validated.
struct Filters {
    period: Period,
    min_severity: AuditSeverity,
    event_type: Option<String>,
}

impl Filters {
    fn parse(query: &DashboardQuery) -> Result<Self, String> {
        let period =
            Period::from_query(query.preset.as_deref(), query.start.as_deref(), query.end.as_deref(), Utc::now())
                .map_err(|e| e.to_string())?;
        let min_severity = match query.severity.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => AuditSeverity::High,
            Some(s) => s.parse().map_err(|e: crate::audit::UnknownSeverity| e.to_string())?,
        };
        let event_type = query.event_type.as_deref().map(str::trim).filter(|t| !t.is_empty());
        if event_type.is_some_and(|t| t.len() > MAX_TYPE_FILTER) {
            return Err(format!("the event type filter is longer than {MAX_TYPE_FILTER} characters"));
        }
        Ok(Filters { period, min_severity, event_type: event_type.map(str::to_owned) })
    }

    /// A link to the page with these filters and `period`'s query parameters.
    fn link(&self, info: &RequestInfo, period: &[(&str, String)]) -> String {
        let mut pairs: Vec<(&str, String)> = period.to_vec();
        pairs.push(("severity", self.min_severity.as_str().to_owned()));
        if let Some(t) = &self.event_type {
            pairs.push(("type", t.clone()));
        }
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        format!("{}?{query}", info.home())
    }

    fn period_params(&self) -> Vec<(&'static str, String)> {
        match self.period.preset {
            Some(preset) => vec![("preset", preset.as_str().to_owned())],
            None => vec![("start", self.period.start.to_rfc3339()), ("end", self.period.end.to_rfc3339())],
        }
    }
}

fn bad_request(info: &RequestInfo, message: &str) -> Response {
    let page = layout(
        "Bad request",
        html! {
            main.narrow {
                h1 { "That period or filter cannot be shown" }
                p.error data-testid="bad-request" { (message) }
                p { a href=(info.home()) { "Back to the last 24 hours" } }
            }
        },
        info,
    );
    (StatusCode::BAD_REQUEST, Html(page.into_string())).into_response()
}

fn query_failed(info: &RequestInfo, message: &str) -> Response {
    tracing::error!(error = message, "security dashboard query failed");
    let page = layout(
        "Error",
        html! { main.narrow { h1 { "The dashboard could not be loaded" } p.error { (message) } } },
        info,
    );
    (StatusCode::INTERNAL_SERVER_ERROR, Html(page.into_string())).into_response()
}

/// `GET /report.json`: the period's security report as JSON (same period parameters).
pub(crate) async fn report_json(
    State(dashboard): State<Dashboard>,
    info: RequestInfo,
    Query(query): Query<DashboardQuery>,
) -> Response {
    if let Err(refusal) = require_admin(&dashboard, &info).await {
        return refusal;
    }
    let filters = match Filters::parse(&query) {
        Ok(f) => f,
        Err(message) => {
            return (StatusCode::BAD_REQUEST, Json(serde_json::json!({ "error": message }))).into_response();
        }
    };
    match generate_security_report(&dashboard.inner.db, filters.period.start, filters.period.end).await {
        Ok(report) => Json(report).into_response(),
        Err(error) => {
            tracing::error!(%error, "security report failed");
            (StatusCode::INTERNAL_SERVER_ERROR, Json(serde_json::json!({ "error": error.to_string() }))).into_response()
        }
    }
}

/// Everything the page shows, loaded with concurrent aggregate queries.
struct PageData {
    report: SecurityReport,
    mfa: MfaAdoption,
    recent: Vec<RecentEvent>,
    suspicious: Vec<RecentEvent>,
    rate_limited: Vec<IpCount>,
    trail: Vec<TrailHead>,
    /// How many dead letters there are, and the newest.
    dead_letters: (u64, Vec<dead_letter::Model>),
}

async fn load(dashboard: &Dashboard, filters: &Filters) -> Result<PageData, String> {
    let db = &dashboard.inner.db;
    let period = &filters.period;
    let suspicious_type = AuditEventType::SuspiciousActivity;
    let rate_type = AuditEventType::RateLimitExceeded;
    let keys =
        dashboard.inner.audit.as_ref().map(crate::audit::AuditLogger::checkpoint_verifying_keys).unwrap_or_default();
    let (report, mfa, recent, suspicious, rate_limited, trail, dead_letters) = tokio::join!(
        generate_security_report(db, period.start, period.end),
        adoption(db),
        recent_events(db, period, filters.min_severity, filters.event_type.as_deref(), RECENT_LIMIT),
        recent_events(db, period, AuditSeverity::Low, Some(suspicious_type.as_str()), SUSPICIOUS_LIMIT),
        top_addresses(db, period, rate_type.as_str()),
        trail_heads(db, &keys, TRAIL_CHAINS),
        dead_letters(db, DEAD_LETTERS_SHOWN),
    );
    let db_error =
        |e: sea_orm::DbErr| format!("audit query failed (has the rail-graphql-security migration run?): {e}");
    Ok(PageData {
        report: report.map_err(|e| e.to_string())?,
        mfa: mfa.map_err(db_error)?,
        recent: recent.map_err(db_error)?,
        suspicious: suspicious.map_err(db_error)?,
        rate_limited: rate_limited.map_err(db_error)?,
        trail: trail.map_err(db_error)?,
        dead_letters: dead_letters.map_err(db_error)?,
    })
}

/// `GET /`: the dashboard.
pub(crate) async fn dashboard_page(
    State(dashboard): State<Dashboard>,
    info: RequestInfo,
    Query(query): Query<DashboardQuery>,
) -> Response {
    let claims = match require_admin(&dashboard, &info).await {
        Ok(claims) => claims,
        Err(refusal) => return refusal,
    };
    let filters = match Filters::parse(&query) {
        Ok(f) => f,
        Err(message) => return bad_request(&info, &message),
    };
    let data = match load(&dashboard, &filters).await {
        Ok(data) => data,
        Err(message) => return query_failed(&info, &message),
    };
    let user = claims.name.clone().unwrap_or_else(|| claims.sub.clone());
    let body = html! {
        header.top {
            h1 { "Security dashboard" }
            span.user { "Signed in as " strong data-testid="user" { (user) } }
            (logout_form(&info))
        }
        main {
            (period_bar(&info, &filters))
            (summary(&data.report))
            section.card.wide {
                h2 { "Logins over time" }
                (login_chart(&filters.period, &data.report.hourly))
            }
            div.grid {
                (top_table("Top failing addresses", "top-failing-ips", "Address",
                    data.report.top_failing_ips.iter().map(|c| (c.ip.as_str(), c.count))))
                (top_table("Most targeted accounts", "most-targeted-accounts", "Account",
                    data.report.most_targeted_accounts.iter().map(|c| (c.account.as_str(), c.count))))
                (top_table("Rate-limit hits by address", "rate-limited-ips", "Address",
                    data.rate_limited.iter().map(|c| (c.ip.as_str(), c.count))))
                (mfa_section(&data.mfa))
            }
            section.card.wide {
                h2 { "Suspicious activity" }
                (events_table("suspicious-events", &data.suspicious))
            }
            section.card.wide {
                h2 { "Recent events" }
                (event_filters(&info, &filters, &data.report))
                (events_table("recent-events", &data.recent))
            }
            (trail_section(&data.trail))
            (dead_letter_section(&data.dead_letters))
            (findings(dashboard.inner.findings.as_ref()))
        }
    };
    Html(layout("Overview", body, &info).into_string()).into_response()
}

fn period_bar(info: &RequestInfo, filters: &Filters) -> Markup {
    let period = &filters.period;
    let local = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M").to_string();
    html! {
        nav.period {
            span.label { "Period" }
            @for preset in Preset::ALL {
                @let href = filters.link(info, &[("preset", preset.as_str().to_owned())]);
                @if period.preset == Some(preset) {
                    a.preset.active href=(href) aria-current="page" { (preset.as_str()) }
                } @else {
                    a.preset href=(href) { (preset.as_str()) }
                }
            }
            form.custom method="get" action=(info.home()) {
                label { "From " input type="datetime-local" name="start" value=(local(period.start)); }
                label { " to " input type="datetime-local" name="end" value=(local(period.end)); " UTC" }
                input type="hidden" name="severity" value=(filters.min_severity.as_str());
                @if let Some(t) = &filters.event_type { input type="hidden" name="type" value=(t); }
                button type="submit" { "Show" }
            }
            span.range data-testid="period" data-start=(period.start.to_rfc3339()) data-end=(period.end.to_rfc3339()) {
                (period.start.format("%Y-%m-%d %H:%M")) " – " (period.end.format("%Y-%m-%d %H:%M")) " UTC"
            }
        }
    }
}

fn summary(report: &SecurityReport) -> Markup {
    let score = report.security_score;
    let grade = if score >= 80.0 {
        "good"
    } else if score >= 50.0 {
        "fair"
    } else {
        "poor"
    };
    let cards: [(&str, &str, u64); 8] = [
        ("Failed logins", "failed-logins", report.failed_logins),
        ("Successful logins", "successful-logins", report.successful_logins),
        ("Suspicious activity", "suspicious-activities", report.suspicious_activities),
        ("Rate-limit hits", "rate-limit-hits", report.rate_limit_hits),
        ("Unauthorized access", "unauthorized-access", report.unauthorized_access),
        ("MFA events", "mfa-events", report.mfa_events),
        ("Passkey events", "passkey-events", report.passkey_events),
        ("All events", "total-events", report.total_events),
    ];
    html! {
        section.summary {
            div.stat.score.(grade) {
                span.value data-testid="security-score" { (format!("{score:.1}")) }
                span.name { "Security score" }
            }
            @for (name, id, value) in cards {
                div.stat {
                    span.value data-testid=(id) { (value) }
                    span.name { (name) }
                }
            }
        }
    }
}

fn top_table<'a>(title: &str, id: &str, column: &str, rows: impl Iterator<Item = (&'a str, u64)>) -> Markup {
    let rows: Vec<(&str, u64)> = rows.collect();
    html! {
        section.card {
            h2 { (title) }
            @if rows.is_empty() {
                p.empty data-testid=(id) { "None in this period." }
            } @else {
                table data-testid=(id) {
                    thead { tr { th { (column) } th.num { "Count" } } }
                    tbody {
                        @for (key, count) in rows {
                            tr { td data-role="key" { (key) } td.num data-role="count" { (count) } }
                        }
                    }
                }
            }
        }
    }
}

fn mfa_section(mfa: &MfaAdoption) -> Markup {
    html! {
        section.card {
            h2 { "MFA adoption" }
            p { span.big data-testid="mfa-users-enrolled" { (mfa.users_enrolled) } " users enrolled" }
            @if !mfa.by_method.is_empty() {
                table data-testid="mfa-methods" {
                    thead { tr { th { "Method" } th.num { "Users" } } }
                    tbody {
                        @for m in &mfa.by_method {
                            tr { td data-role="key" { (m.method) } td.num data-role="count" { (m.users) } }
                        }
                    }
                }
            }
        }
    }
}

fn event_filters(info: &RequestInfo, filters: &Filters, report: &SecurityReport) -> Markup {
    let mut types: Vec<&str> = AuditEventType::BUILT_IN.iter().map(AuditEventType::as_str).collect();
    for seen in report.events_by_type.keys() {
        if !types.contains(&seen.as_str()) {
            types.push(seen);
        }
    }
    let selected_type = filters.event_type.as_deref().unwrap_or("");
    html! {
        form.filters method="get" action=(info.home()) {
            @for (name, value) in filters.period_params() { input type="hidden" name=(name) value=(value); }
            label { "Severity at least "
                select name="severity" data-testid="severity-filter" {
                    @for s in [AuditSeverity::Low, AuditSeverity::Medium, AuditSeverity::High, AuditSeverity::Critical] {
                        option value=(s.as_str()) selected[s == filters.min_severity] { (s.as_str()) }
                    }
                }
            }
            label { " Type "
                select name="type" data-testid="type-filter" {
                    option value="" selected[selected_type.is_empty()] { "any" }
                    @for t in types { option value=(t) selected[t == selected_type] { (t) } }
                }
            }
            button type="submit" { "Filter" }
        }
    }
}

fn events_table(id: &str, events: &[RecentEvent]) -> Markup {
    html! {
        @if events.is_empty() {
            p.empty data-testid=(id) { "No matching events in this period." }
        } @else {
            table.events data-testid=(id) {
                thead { tr { th { "Time (UTC)" } th { "Severity" } th { "Type" } th { "Account" } th { "Address" } th { "User agent" } th { "Details" } } }
                tbody {
                    @for e in events {
                        tr {
                            td.nowrap { (e.timestamp.format("%Y-%m-%d %H:%M:%S")) }
                            td { span.sev.(e.severity.as_str()) { (e.severity) } }
                            td { (e.event_type) }
                            td { (e.actor_name.as_deref().unwrap_or("–")) }
                            td { (e.client_ip.as_deref().unwrap_or("–")) }
                            td.ua { (e.user_agent.as_deref().unwrap_or("–")) }
                            td.details { (truncate(&e.details, 160)) }
                        }
                    }
                }
            }
        }
    }
}

/// Chains shown in the audit trail card.
const TRAIL_CHAINS: usize = 10;

/// The audit trail's state: per recent chain, its newest checkpoint and the unsigned tail.
fn trail_section(heads: &[TrailHead]) -> Markup {
    html! {
        section.card.wide data-testid="audit-trail" {
            h2 { "Audit trail" }
            p.empty { "Each writer's hash chain, its newest checkpoint, and the events not signed yet. "
                "`rail-security audit verify` checks every event." }
            @if heads.is_empty() {
                p.empty { "No chained events yet." }
            } @else {
                table {
                    thead { tr { th { "Chain" } th { "Newest event" } th { "Newest checkpoint" } th { "State" } th { "Not yet signed" } } }
                    tbody {
                        @for head in heads {
                            tr data-testid="trail-chain" {
                                td { code { (truncate(&head.chain.to_string(), 13)) } }
                                td { "#" (head.head_seq) " at " (head.head_at.format("%Y-%m-%d %H:%M:%S UTC")) }
                                @match &head.checkpoint {
                                    Some((seq, at, state)) => {
                                        td { "#" (seq) " at " (at.format("%Y-%m-%d %H:%M:%S UTC")) }
                                        td.(trail_class(*state)) data-testid="trail-state" { (trail_label(*state)) }
                                    }
                                    None => { td { "none yet" } td.warn data-testid="trail-state" { "unsigned" } }
                                }
                                td data-testid="trail-unsigned" { (head.unsigned) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Dead letters shown on the page (the newest).
const DEAD_LETTERS_SHOWN: u64 = 10;

/// The events a sink refused for good: how many, and the newest, with the sink and its error
/// (the raw event stays in the table).
fn dead_letter_section((total, newest): &(u64, Vec<dead_letter::Model>)) -> Markup {
    html! {
        section.card.wide data-testid="dead-letters" {
            h2 { "Dead letters" }
            p.empty {
                "Events a sink refused for good (the database, a file, the webhook endpoint, the NATS server), kept in "
                code { "audit_dead_letters" } " with the error: "
                strong.(if *total == 0 { "ok" } else { "bad" }) data-testid="dead-letter-count" { (total) }
                "."
            }
            @if !newest.is_empty() {
                table {
                    thead { tr { th { "When" } th { "Sink" } th { "Event" } th { "Error" } } }
                    tbody {
                        @for letter in newest {
                            tr data-testid="dead-letter" {
                                td { (letter.dead_lettered_at.format("%Y-%m-%d %H:%M:%S UTC")) }
                                td data-testid="dead-letter-sink" { (letter.sink) }
                                td { code { (letter.event_id) } }
                                td data-testid="dead-letter-error" { (truncate(&letter.error, 200)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn trail_label(state: CheckpointState) -> &'static str {
    match state {
        CheckpointState::Verified => "verified",
        CheckpointState::HashMatches => "hash matches (signature not checked)",
        CheckpointState::PurgeAnchor => "purge anchor",
        CheckpointState::Forged => "FORGED signature",
        CheckpointState::Mismatch => "MISMATCH: events changed",
    }
}

fn trail_class(state: CheckpointState) -> &'static str {
    match state {
        CheckpointState::Verified | CheckpointState::PurgeAnchor => "ok",
        CheckpointState::Forged | CheckpointState::Mismatch => "bad",
        _ => "warn",
    }
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

fn findings(report: Option<&CheckReport>) -> Markup {
    html! {
        section.card.wide {
            h2 { "Configuration check" }
            @match report {
                None => p.empty data-testid="findings" { "No configuration was passed to the dashboard (see `DashboardBuilder::findings`)." },
                Some(report) => {
                    @let failures = report.failures();
                    p data-testid="findings" {
                        "Score " strong data-testid="config-score" { (report.score()) } "/10 for the "
                        (report.profile.to_string()) " profile: "
                        span data-testid="failed-checks" { (failures.len()) } " of " (report.checks.len()) " checks failed."
                    }
                    @if !failures.is_empty() {
                        table.findings {
                            thead { tr { th { "Severity" } th { "Check" } th { "Finding" } th { "Recommendation" } } }
                            tbody {
                                @for check in failures {
                                    tr {
                                        td { span.sev.(severity_class(check.severity)) { (severity_name(check.severity)) } }
                                        td { code { (check.id) } }
                                        td { (check.message) }
                                        td { (check.recommendation.as_deref().unwrap_or("")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

fn severity_class(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "low",
        Severity::Warning => "medium",
        Severity::Critical => "critical",
    }
}
