//! Per-request cost of the resolver attributes, against the same resolver without them in the
//! same run:
//!
//! - `resolver_attributes/trivial/{plain,attributed}`: `{ account(id: 7) { id name } }`, whose
//!   resolver builds a small object, executed through the schema; `attributed` carries
//!   `#[require_mfa(max_age = "15m")]` and `#[audited(fields(id))]`.
//! - `resolver_attributes/sqlite_read/{plain,attributed}`: the same with a resolver that reads
//!   one row from SQLite, a typical resolver's work.
//!
//! The audit logger writes to a SQLite `DatabaseSink` (WAL) in the background while the
//! benchmark runs, as in production; its stats are printed at the end (a dropped event would
//! mean the queue overflowed). `cargo bench -p integration-tests --bench macros`
#![expect(missing_docs, reason = "criterion_main! generates an undocumented main")]

use std::time::Duration;

use async_graphql::{Context, EmptyMutation, EmptySubscription, Object, Request, Schema, SimpleObject};
use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use integration_tests::{Backend, TestDb};
use rail_graphql_security::audit::AuditLogger;
use rail_graphql_security::context::{MfaState, Principal, SecurityContext};
use rail_graphql_security::{audited, require_mfa};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use tokio::runtime::Runtime;

#[derive(SimpleObject)]
struct Account {
    id: i32,
    name: String,
}

async fn read_row(db: &DatabaseConnection, id: i32) -> async_graphql::Result<Account> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT ? + 0 AS id, 'alice' AS name",
            [id.into()],
        ))
        .await?
        .ok_or("no row")?;
    Ok(Account { id: row.try_get("", "id")?, name: row.try_get("", "name")? })
}

struct Query;

#[Object]
impl Query {
    async fn plain(&self, id: i32) -> Account {
        Account { id, name: "alice".to_owned() }
    }

    #[require_mfa(max_age = "15m")]
    #[audited(fields(id))]
    async fn attributed(&self, id: i32) -> Account {
        Account { id, name: "alice".to_owned() }
    }

    async fn plain_read(&self, ctx: &Context<'_>, id: i32) -> async_graphql::Result<Account> {
        read_row(ctx.data::<DatabaseConnection>()?, id).await
    }

    #[require_mfa(max_age = "15m")]
    #[audited(fields(id))]
    async fn attributed_read(&self, ctx: &Context<'_>, id: i32) -> async_graphql::Result<Account> {
        read_row(ctx.data::<DatabaseConnection>()?, id).await
    }
}

fn resolver_attributes(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let t = rt.block_on(TestDb::new(Backend::Sqlite)).expect("SQLite");
    let logger = rt.block_on(async { AuditLogger::builder().database(t.db.clone()).build() });
    let schema =
        Schema::build(Query, EmptyMutation, EmptySubscription).data(logger.clone()).data(t.db.clone()).finish();
    let security = SecurityContext::authenticated(Principal::new(7, "alice"))
        .with_mfa(MfaState::verified(Utc::now(), "totp"))
        .with_client_ip("203.0.113.9".parse().ok());

    let mut group = c.benchmark_group("resolver_attributes");
    group.sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    for (case, plain, attributed) in [
        ("trivial", "{ plain(id: 7) { id name } }", "{ attributed(id: 7) { id name } }"),
        ("sqlite_read", "{ plainRead(id: 7) { id name } }", "{ attributedRead(id: 7) { id name } }"),
    ] {
        for (variant, query) in [("plain", plain), ("attributed", attributed)] {
            let check = rt.block_on(schema.execute(Request::new(query).data(security.clone())));
            assert!(check.errors.is_empty(), "{query}: {:?}", check.errors);
            group.bench_function(format!("{case}/{variant}"), |b| {
                b.to_async(&rt).iter(|| schema.execute(Request::new(query).data(security.clone())));
            });
        }
    }
    group.finish();
    let stats = rt.block_on(async { logger.shutdown().await }).expect("audit logger shutdown");
    println!("audit logger: {stats:?}");
    rt.block_on(t.cleanup());
}

criterion_group!(benches, resolver_attributes);
criterion_main!(benches);
