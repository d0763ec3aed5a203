//! Throughput of the demo server: `secretNote` over real HTTP (loopback, 32 requests in flight)
//! through the full stack — the HTTP security layer (request id, client address, request rate
//! limit, bearer token with revocation check, security headers), the slow-query extension,
//! the MFA check and the audit event of each read — vs. the same query on a server with the
//! plugin's layers and checks off (a bare async-graphql-axum route).
//!
//! The variants run in alternating rounds (each round measures every variant once, for the same
//! time), so a load change on the machine hits them alike; the table at the end gives the
//! median requests per second over the rounds, the min–max, and the ratio of the medians to
//! the plugin-off baseline. Variants: the demo on a SQLite file; the demo on PostgreSQL with
//! limits and the revocation cache in Redis (when `RAIL_TEST_POSTGRES_URL` and
//! `RAIL_TEST_REDIS_URL` are set); plugin off.
//!
//! `cargo bench -p integration-tests --bench e2e` (`RAIL_BENCH_ROUNDS`, default 7, and
//! `RAIL_BENCH_SECONDS`, default 2 per variant and round, for shorter runs).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};
use async_graphql_axum::GraphQL;
use axum::Router;
use axum::routing::post_service;
use chrono::Utc;
use futures::future::join_all;
use integration_tests::{Backend, TestDb};
use rail_graphql_security::context::{MfaState, Principal};
use rail_graphql_security::mfa::MfaMethod;
use tokio::runtime::Runtime;

/// Requests in flight.
const IN_FLIGHT: usize = 32;
const BODY: &str = r#"{"query":"{ secretNote }"}"#;

/// The baseline: the same field, nothing from the plugin.
struct PlainQuery;

#[Object]
impl PlainQuery {
    async fn secret_note(&self) -> &'static str {
        demo::schema::SECRET_NOTE
    }
}

struct Variant {
    name: &'static str,
    url: String,
    token: Option<String>,
    rates: Vec<f64>,
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(default)
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/graphql", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await.expect("serve")
    });
    url
}

/// A session that passed TOTP (how it got there is not what is measured).
fn token(app: &demo::Demo) -> String {
    let principal = Principal::new(1, "demo").with_roles(["user"]);
    app.tokens.issue(&principal, &MfaState::verified(Utc::now(), MfaMethod::Totp), None).expect("token").token
}

fn settings(database_url: &str) -> demo::Settings {
    let mut settings = demo::Settings::development(database_url.to_owned());
    settings.config.security.middleware.rate_limiting.graphql_requests_limit = 1_000_000;
    settings
}

/// Keeps `IN_FLIGHT` requests going for `time`; returns requests per second.
async fn measure(client: &reqwest::Client, variant: &Variant, time: Duration) -> f64 {
    let started = Instant::now();
    let workers = (0..IN_FLIGHT).map(|_| async {
        let mut done = 0u64;
        while started.elapsed() < time {
            let mut request = client.post(&variant.url).header("content-type", "application/json").body(BODY);
            if let Some(token) = &variant.token {
                request = request.bearer_auth(token);
            }
            let body = request.send().await.expect("send").bytes().await.expect("body");
            assert!(body.starts_with(br#"{"data":{"secretNote""#), "{}", String::from_utf8_lossy(&body));
            done += 1;
        }
        done
    });
    let done: u64 = join_all(workers).await.into_iter().sum();
    done as f64 / started.elapsed().as_secs_f64()
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 { sorted[mid] } else { (sorted[mid - 1] + sorted[mid]) / 2.0 }
}

fn main() {
    let rounds = env_number("RAIL_BENCH_ROUNDS", 7);
    let seconds = Duration::from_secs(env_number("RAIL_BENCH_SECONDS", 2));
    let rt = Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite_url = format!("sqlite://{}?mode=rwc", dir.path().join("bench.sqlite").display());
    let sqlite = rt.block_on(demo::build_app(&settings(&sqlite_url))).expect("demo app");
    let mut variants = vec![Variant {
        name: "full stack, SQLite file",
        url: rt.block_on(serve(sqlite.router.clone())),
        token: Some(token(&sqlite)),
        rates: Vec::new(),
    }];

    // PostgreSQL (a schema of its own) for everything, Redis for limits and the revocation cache.
    let postgres = match (std::env::var("RAIL_TEST_POSTGRES_URL"), std::env::var("RAIL_TEST_REDIS_URL")) {
        (Ok(_), Ok(redis)) => rt.block_on(async {
            let t = TestDb::new(Backend::Postgres).await.expect("PostgreSQL");
            let mut config = settings(&t.url);
            config.config.security.middleware.rate_limiting.store_url =
                Some(rail_graphql_security::config::Secret::new(redis.clone()));
            let prefix = integration_tests::unique_prefix();
            config.config.redis_prefix = prefix.clone();
            let app = demo::build_app_with_db(&config, t.db.clone()).await.expect("demo app on PostgreSQL");
            Some((t, app, redis, prefix))
        }),
        _ => {
            eprintln!("note: set RAIL_TEST_POSTGRES_URL and RAIL_TEST_REDIS_URL for the PostgreSQL + Redis row");
            None
        }
    };
    if let Some((_, app, _, _)) = &postgres {
        variants.push(Variant {
            name: "full stack, PostgreSQL + Redis",
            url: rt.block_on(serve(app.router.clone())),
            token: Some(token(app)),
            rates: Vec::new(),
        });
    }
    let plain = Schema::build(PlainQuery, EmptyMutation, EmptySubscription).finish();
    variants.push(Variant {
        name: "plugin off",
        url: rt.block_on(serve(Router::new().route("/graphql", post_service(GraphQL::new(plain))))),
        token: None,
        rates: Vec::new(),
    });

    let client = reqwest::Client::builder().pool_max_idle_per_host(IN_FLIGHT).build().expect("client");
    // Without a second factor the full stack refuses, so the check really runs.
    let weak = sqlite.tokens.issue(&Principal::new(1, "demo"), &MfaState::none(), None).expect("token").token;
    let refused = rt.block_on(async {
        client
            .post(&variants[0].url)
            .bearer_auth(weak)
            .body(BODY)
            .header("content-type", "application/json")
            .send()
            .await
    });
    let refused = rt.block_on(refused.expect("send").text()).expect("body");
    assert!(refused.contains("MFA_REQUIRED"), "{refused}");

    // Warm-up (connections, caches), then the rounds.
    for variant in &variants {
        rt.block_on(measure(&client, variant, Duration::from_millis(300)));
    }
    for round in 1..=rounds {
        for variant in &mut variants {
            let rate = rt.block_on(measure(&client, variant, seconds));
            variant.rates.push(rate);
        }
        let line: Vec<String> =
            variants.iter().map(|v| format!("{} {:.0}/s", v.name, v.rates[round as usize - 1])).collect();
        eprintln!("round {round}/{rounds}: {}", line.join(", "));
    }

    let baseline = median(&variants.last().expect("plugin off").rates);
    println!("\n{IN_FLIGHT} requests in flight, {rounds} alternating rounds of {} s per variant", seconds.as_secs());
    println!("| Server | Requests/s (median) | min–max | Ratio to plugin off |");
    println!("|---|---|---|---|");
    for variant in &variants {
        let min = variant.rates.iter().copied().fold(f64::INFINITY, f64::min);
        let max = variant.rates.iter().copied().fold(0.0, f64::max);
        let m = median(&variant.rates);
        println!("| {} | {m:.0} | {min:.0}–{max:.0} | {:.2}× |", variant.name, m / baseline);
    }
    let stats = sqlite.logger.stats();
    println!("audit (SQLite variant): {} logged, {} written, {} dropped", stats.logged, stats.written, stats.dropped);
    if let Some((t, app, redis, prefix)) = postgres {
        rt.block_on(async {
            let _ = app.security.shutdown().await;
            integration_tests::redis_delete_prefix(&redis, &prefix).await;
            t.cleanup().await;
        });
    }
}
