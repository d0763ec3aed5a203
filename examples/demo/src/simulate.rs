//! `demo simulate`: a simulated morning of security events logged into the demo database (and
//! the JSON Lines file `demo-data/audit.log`), alerts printed as they fire, and the security
//! report at the end — no server needed.

use std::error::Error;
use std::net::IpAddr;

use chrono::{Duration, Utc};
use rail_graphql_security::audit::{
    Actor, Alert, AuditEvent, AuditEventType, AuditLogger, CheckpointKey, CheckpointPolicy, FileSink,
};
use serde_json::json;

/// Logs the simulated events into `url` and prints the report.
pub async fn run(url: &str, key: Option<CheckpointKey>) -> Result<(), Box<dyn Error>> {
    std::fs::create_dir_all(crate::DATA_DIR)?;
    let db = crate::connect(url).await?;
    crate::migrate(&db).await?;
    println!("audit events go to the database and demo-data/audit.log\n");

    let checkpoints = CheckpointPolicy { key, ..CheckpointPolicy::default() };
    let logger = AuditLogger::builder()
        .database(db.clone())
        .checkpoints(checkpoints)
        .sink(FileSink::new("demo-data/audit.log"))
        .build();
    logger.register_alert_handler(|alert: Alert| async move {
        match alert {
            Alert::Event { event } => {
                println!(
                    "  ALERT [{}] {} actor={:?} ip={:?}",
                    event.severity, event.event_type, event.actor_name, event.client_ip
                )
            }
            Alert::ThresholdReached { threshold, count, window_seconds, .. } => {
                println!("  ALERT threshold {threshold:?}: {count} events within {window_seconds}s")
            }
            other => println!("  ALERT {other:?}"),
        }
    });

    let start = Utc::now();
    simulate(&logger);
    logger.flush().await?;

    let report =
        logger.generate_security_report(start - Duration::minutes(1), Utc::now() + Duration::minutes(1)).await?;
    println!("\nSecurity report ({} .. {})", report.start.format("%F %T"), report.end.format("%F %T"));
    println!("  successful logins      {}", report.successful_logins);
    println!("  failed logins          {}", report.failed_logins);
    println!("  suspicious activities  {}", report.suspicious_activities);
    println!("  rate-limit hits        {}", report.rate_limit_hits);
    println!("  MFA events             {}", report.mfa_events);
    println!("  unauthorized access    {}", report.unauthorized_access);
    for ip in &report.top_failing_ips {
        println!("  top failing ip         {} ({} failures)", ip.ip, ip.count);
    }
    for account in &report.most_targeted_accounts {
        println!("  most targeted account  {} ({} failures)", account.account, account.count);
    }
    println!("  security score         {:.1}/100", report.security_score);

    let stats = logger.shutdown().await?;
    println!(
        "\nlogger: {} logged, {} written, {} dropped, {} lost",
        stats.logged, stats.written, stats.dropped, stats.lost
    );
    Ok(())
}

/// A morning on a small site: regular logins, a password-spraying attempt, MFA use.
fn simulate(logger: &AuditLogger) {
    let office: IpAddr = "198.51.100.10".parse().expect("valid ip");
    let attacker: IpAddr = "203.0.113.66".parse().expect("valid ip");
    let browser = Some("Mozilla/5.0 (X11; Linux x86_64)");
    let alice = Actor::new(1, "alice");
    let bob = Actor::new(2, "bob");

    logger.log_authentication_success(&alice, Some(office), browser, json!({"login_method": "password"}));
    logger.log_mfa_enabled(&alice, Some(office), "totp");
    logger.log_mfa_success(&alice, Some(office), "totp");
    logger.log_authentication_success(&bob, Some(office), browser, json!({"login_method": "password"}));

    for (i, name) in ["admin", "root", "alice", "bob", "admin", "admin"].iter().cycle().take(12).enumerate() {
        logger.log_authentication_failure(name, Some(attacker), Some("python-requests/2.31"), "invalid password");
        if i == 4 {
            logger.log_rate_limit_exceeded(&attacker.to_string(), "login_attempts", 6, 5, 900);
        }
    }
    logger.log_suspicious_activity(
        None,
        Some(attacker),
        "password spraying",
        json!({"accounts_tried": 4, "attempts": 12, "password": "never stored: masked"}),
    );
    logger.log_unauthorized_access(Some(&bob), Some(office), browser, "Query.securityReport", "admin only");
    logger.log_mfa_failed(&bob, Some(office), "totp", "invalid code");
    logger.log(
        AuditEvent::new(AuditEventType::Custom("export_requested".into())).actor(&alice).details(json!({"rows": 120})),
    );
    logger.log_logout(&alice, Some(office), browser);
}
