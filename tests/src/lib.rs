//! Shared test support: a fresh database per test on every backend, and a TCP proxy that can
//! cut connections to simulate a database outage.
//!
//! Backends other than SQLite run when their URL is set:
//! - `RAIL_TEST_POSTGRES_URL`, e.g. `postgres://postgres@127.0.0.1:5432/test` (each test gets
//!   its own schema);
//! - `RAIL_TEST_MYSQL_URL`, e.g. `mysql://root@127.0.0.1:3306/test` (each test gets its own
//!   database).
//!
//! Without them those tests print why they were skipped and pass. With
//! `RAIL_TEST_REQUIRE_BACKENDS=1` (set by CI) a missing URL fails the test instead, and an
//! unreachable server always fails it. The same holds for NATS ([`nats`]):
//! `RAIL_TEST_NATS_URL`, e.g. `nats://127.0.0.1:4222` (a `nats-server -js`), and the
//! `nats-server` binary for the tests that run servers of their own.

pub mod authenticator;
pub mod myapp;
pub mod nats;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rail_graphql_security::migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

/// The database backends the suite runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite (a temp file, WAL).
    Sqlite,
    /// PostgreSQL via `RAIL_TEST_POSTGRES_URL`.
    Postgres,
    /// MySQL/MariaDB via `RAIL_TEST_MYSQL_URL`.
    MySql,
}

impl Backend {
    fn env_var(self) -> Option<&'static str> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some("RAIL_TEST_POSTGRES_URL"),
            Backend::MySql => Some("RAIL_TEST_MYSQL_URL"),
        }
    }
}

/// A migrated database of its own for one test.
#[derive(Debug)]
pub struct TestDb {
    /// The connection (pool).
    pub db: DatabaseConnection,
    /// Which backend.
    pub backend: Backend,
    /// A URL that connects to this test's database (schema / database / file).
    pub url: String,
    schema: Option<String>,
    cleanup: Option<Cleanup>,
    _dir: Option<tempfile::TempDir>,
}

#[derive(Debug)]
enum Cleanup {
    PostgresSchema { admin: DatabaseConnection, schema: String },
    MySqlDatabase { admin: DatabaseConnection, name: String },
}

/// Says once per test binary and backend, on the real stderr (the test harness captures only
/// `eprintln!`), that the backend's tests were skipped and how to run them.
fn report_skip(backend: Backend, var: &str) {
    use std::io::Write;
    static REPORTED: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let name = match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
        Backend::MySql => "MySQL/MariaDB",
    };
    let mut reported = REPORTED.lock().unwrap_or_else(|p| p.into_inner());
    if !reported.contains(&name) {
        reported.push(name);
        let _ = writeln!(
            std::io::stderr(),
            "note: {name} tests SKIPPED (they pass without running): set {var} to run them (see README)"
        );
    }
}

fn unique_name() -> String {
    format!("rail_t_{}", uuid::Uuid::new_v4().simple())
}

impl TestDb {
    /// A fresh, migrated database on `backend`, or `None` (with a note on stderr) when the
    /// backend's URL is not set and backends are not required.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        let db = match backend {
            Backend::Sqlite => Self::sqlite().await,
            Backend::Postgres | Backend::MySql => {
                let var = backend.env_var().expect("server backends have a URL variable");
                let Ok(url) = std::env::var(var) else {
                    if std::env::var("RAIL_TEST_REQUIRE_BACKENDS").is_ok_and(|v| v == "1") {
                        panic!("{var} is not set but RAIL_TEST_REQUIRE_BACKENDS=1: point it at a running server");
                    }
                    report_skip(backend, var);
                    return None;
                };
                if backend == Backend::Postgres { Self::postgres(&url).await } else { Self::mysql(&url).await }
            }
        };
        db.migrate().await;
        Some(db)
    }

    async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.sqlite").display());
        let db = Database::connect(&url).await.expect("open SQLite");
        db.execute_unprepared("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;").await.expect("WAL");
        TestDb { db, backend: Backend::Sqlite, url, schema: None, cleanup: None, _dir: Some(dir) }
    }

    async fn postgres(url: &str) -> TestDb {
        let admin = Database::connect(url)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at RAIL_TEST_POSTGRES_URL is unreachable: {e}"));
        let schema = unique_name();
        admin.execute_unprepared(&format!("CREATE SCHEMA \"{schema}\"")).await.expect("create schema");
        let db = Self::connect_postgres(url, &schema).await.expect("connect to the test schema");
        TestDb {
            db,
            backend: Backend::Postgres,
            url: url.to_owned(),
            schema: Some(schema.clone()),
            cleanup: Some(Cleanup::PostgresSchema { admin, schema }),
            _dir: None,
        }
    }

    async fn connect_postgres(url: &str, schema: &str) -> Result<DatabaseConnection, sea_orm::DbErr> {
        let mut options = ConnectOptions::new(url.to_owned());
        options.set_schema_search_path(schema.to_owned()).sqlx_logging(false);
        Database::connect(options).await
    }

    async fn mysql(url: &str) -> TestDb {
        let admin = Database::connect(url)
            .await
            .unwrap_or_else(|e| panic!("MariaDB/MySQL at RAIL_TEST_MYSQL_URL is unreachable: {e}"));
        let name = unique_name();
        admin.execute_unprepared(&format!("CREATE DATABASE `{name}`")).await.expect("create database");
        let db_url = with_database(url, &name);
        let db = Database::connect(&db_url).await.expect("connect to the test database");
        TestDb {
            db,
            backend: Backend::MySql,
            url: db_url,
            schema: None,
            cleanup: Some(Cleanup::MySqlDatabase { admin, name }),
            _dir: None,
        }
    }

    /// A second, independent connection pool to this test's database (another "instance").
    pub async fn connect_again(&self) -> DatabaseConnection {
        self.connect_via(&self.url).await.expect("second connection")
    }

    /// Connects to this test's database through another URL (e.g. through a [`FlakyProxy`]);
    /// keeps the per-test schema.
    pub async fn connect_via(&self, url: &str) -> Result<DatabaseConnection, sea_orm::DbErr> {
        match &self.schema {
            Some(schema) => Self::connect_postgres(url, schema).await,
            None => Database::connect(url).await,
        }
    }

    /// The server's address, for a proxy in front of it (server backends only).
    pub fn server_addr(&self) -> Option<SocketAddr> {
        let rest = self.url.split_once("://")?.1;
        let host_port = rest.split('/').next()?.rsplit('@').next()?;
        let default_port = if self.backend == Backend::Postgres { 5432 } else { 3306 };
        let with_port =
            if host_port.contains(':') { host_port.to_owned() } else { format!("{host_port}:{default_port}") };
        std::net::ToSocketAddrs::to_socket_addrs(&with_port).ok()?.find(|a| a.is_ipv4())
    }

    /// This test's URL with its host and port replaced by `addr`.
    pub fn url_through(&self, addr: SocketAddr) -> String {
        let (scheme, rest) = self.url.split_once("://").expect("url has a scheme");
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let userinfo = authority.rsplit_once('@').map(|(u, _)| format!("{u}@")).unwrap_or_default();
        format!("{scheme}://{userinfo}{addr}/{path}")
    }

    async fn migrate(&self) {
        Migrator::up(&self.db, None).await.expect("migrations run");
    }

    /// The SeaORM backend.
    pub fn db_backend(&self) -> DatabaseBackend {
        self.db.get_database_backend()
    }

    /// Drops the per-test schema or database.
    pub async fn cleanup(self) {
        let _ = self.db.close_by_ref().await;
        match self.cleanup {
            Some(Cleanup::PostgresSchema { admin, schema }) => {
                let _ = admin.execute_unprepared(&format!("DROP SCHEMA \"{schema}\" CASCADE")).await;
            }
            Some(Cleanup::MySqlDatabase { admin, name }) => {
                let _ = admin.execute_unprepared(&format!("DROP DATABASE `{name}`")).await;
            }
            None => {}
        }
    }
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map(|(b, q)| (b, Some(q))).unwrap_or((url, None));
    let base = base.rsplit_once('/').map(|(b, _)| b).unwrap_or(base);
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Runs an async test body on SQLite, PostgreSQL and MySQL/MariaDB, one `#[tokio::test]` each:
/// `on_every_backend!(report_counts_match, |t: &TestDb| async move { ... })` is not possible
/// with borrowed closures, so name an `async fn body(t: &TestDb)` instead:
/// `on_every_backend!(report_counts_match, body);`
#[macro_export]
macro_rules! on_every_backend {
    ($name:ident, $body:ident) => {
        mod $name {
            async fn run(backend: $crate::Backend) {
                let Some(t) = $crate::TestDb::new(backend).await else { return };
                super::$body(&t).await;
                t.cleanup().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run($crate::Backend::Postgres).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql() {
                run($crate::Backend::MySql).await
            }
        }
    };
}

/// A TCP proxy on 127.0.0.1 in front of a database server whose link can be cut: `cut()`
/// resets every open connection and refuses new ones until `restore()`. A real connection
/// failure, as the driver sees it.
#[derive(Debug, Clone)]
pub struct FlakyProxy {
    /// Where the proxy listens.
    pub addr: SocketAddr,
    down: Arc<AtomicBool>,
    kill: broadcast::Sender<()>,
}

impl FlakyProxy {
    /// Starts a proxy to `target`.
    pub async fn start(target: SocketAddr) -> FlakyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let down = Arc::new(AtomicBool::new(false));
        let (kill, _) = broadcast::channel(4);
        let proxy = FlakyProxy { addr, down: down.clone(), kill: kill.clone() };
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { return };
                if down.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let mut killed = kill.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else { return };
                    let mut client = client;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = killed.recv() => {}
                    }
                });
            }
        });
        proxy
    }

    /// Drops every proxied connection and refuses new ones.
    pub fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        let _ = self.kill.send(());
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

/// A TCP proxy on 127.0.0.1 in front of Redis that counts the script runs (`EVAL` and
/// `EVALSHA` commands) passing through it: how many round trips a rate limiter made.
#[derive(Debug, Clone)]
pub struct RedisScriptCounter {
    /// `redis://` URL of the proxy.
    pub url: String,
    runs: Arc<std::sync::atomic::AtomicUsize>,
}

impl RedisScriptCounter {
    /// Starts a proxy to the Redis at `redis_url` (`redis://host:port[/db]`).
    pub async fn start(redis_url: &str) -> RedisScriptCounter {
        let rest = redis_url.strip_prefix("redis://").expect("a redis:// URL");
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        let target = authority.rsplit('@').next().expect("host:port").to_owned();
        let userinfo = authority.strip_suffix(target.as_str()).unwrap_or("").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = runs.clone();
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { return };
                let target = target.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target.as_str()).await else { return };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let upstream = async {
                        use tokio::io::{AsyncReadExt, AsyncWriteExt};
                        let mut buf = vec![0u8; 16 * 1024];
                        // The end of the previous read, so a name split across reads is seen.
                        let mut carry: Vec<u8> = Vec::new();
                        loop {
                            let n = match client_read.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            carry.extend_from_slice(&buf[..n]);
                            let needle = b"\r\nEVAL";
                            let found = carry.windows(needle.len()).filter(|w| w.eq_ignore_ascii_case(needle)).count();
                            counter.fetch_add(found, Ordering::SeqCst);
                            let keep = carry.len().min(needle.len() - 1);
                            carry.drain(..carry.len() - keep);
                            if server_write.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    };
                    let downstream = tokio::io::copy(&mut server_read, &mut client_write);
                    tokio::select! {
                        () = upstream => {}
                        _ = downstream => {}
                    }
                });
            }
        });
        let url = format!("redis://{userinfo}{addr}/{path}");
        RedisScriptCounter { url, runs }
    }

    /// Script runs so far.
    pub fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }
}

/// Decodes unpadded RFC 4648 base32 (the form of TOTP secrets), independent of the code under
/// test. Panics on a character outside the alphabet: test input only.
pub fn base32_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in s.trim_end_matches('=').bytes() {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base32 character") as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// An RFC 6238 (HMAC-SHA1) code of the raw `secret` at `unix` seconds, computed straight from
/// the RFC with hmac/sha1, independent of the code under test.
pub fn rfc_totp_sha1(secret: &[u8], unix: u64, period: u64, digits: u32) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&(unix / period).to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = (hash[19] & 0x0f) as usize;
    let binary = u32::from_be_bytes([hash[offset] & 0x7f, hash[offset + 1], hash[offset + 2], hash[offset + 3]]);
    format!("{:0width$}", binary % 10u32.pow(digits), width = digits as usize)
}

/// The 6-digit, 30-second code of the base32 `secret` at the current step plus `step_offset`
/// ([`rfc_totp_sha1`]).
pub fn totp_now(secret_b32: &str, step_offset: i64) -> String {
    let unix = chrono::Utc::now().timestamp() + step_offset * 30;
    rfc_totp_sha1(&base32_decode(secret_b32), unix as u64, 30, 6)
}

/// Deletes every Redis key under `prefix:` (a Redis restart without persistence, as one test
/// sees it: other tests' keys are left alone). Returns how many keys were deleted.
pub async fn redis_delete_prefix(url: &str, prefix: &str) -> usize {
    let client = redis::Client::open(url).expect("a valid Redis URL");
    let mut connection = client.get_multiplexed_async_connection().await.expect("Redis is up");
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{prefix}:*")).query_async(&mut connection).await.expect("KEYS");
    if !keys.is_empty() {
        redis::cmd("DEL").arg(&keys).query_async::<()>(&mut connection).await.expect("DEL");
    }
    keys.len()
}

/// Whether Redis holds `key`.
pub async fn redis_exists(url: &str, key: &str) -> bool {
    let client = redis::Client::open(url).expect("a valid Redis URL");
    let mut connection = client.get_multiplexed_async_connection().await.expect("Redis is up");
    redis::cmd("EXISTS").arg(key).query_async(&mut connection).await.expect("EXISTS")
}

/// The alerts an [`AuditLogger`](rail_graphql_security::audit::AuditLogger) raised, in order.
pub type Alerts = Arc<std::sync::Mutex<Vec<rail_graphql_security::audit::Alert>>>;

/// Registers a handler on `logger` that records every alert it raises.
pub fn collect_alerts(logger: &rail_graphql_security::audit::AuditLogger) -> Alerts {
    let alerts: Alerts = Arc::default();
    let sink = alerts.clone();
    logger.register_alert_handler(move |alert: rail_graphql_security::audit::Alert| {
        let sink = sink.clone();
        async move { sink.lock().unwrap_or_else(|p| p.into_inner()).push(alert) }
    });
    alerts
}

/// An audit sink that holds every write until the test [`open`](GatedSink::open)s it (a sink
/// stuck on a slow endpoint), then records what it wrote.
#[derive(Debug, Clone)]
pub struct GatedSink {
    gate: Arc<tokio::sync::Semaphore>,
    written: rail_graphql_security::audit::MemorySink,
}

impl GatedSink {
    /// A sink whose writes wait until [`open`](Self::open) is called.
    pub fn shut() -> Self {
        Self { gate: Arc::new(tokio::sync::Semaphore::new(0)), written: Default::default() }
    }

    /// Lets every waiting and later write through.
    pub fn open(&self) {
        // A closed semaphore fails every `acquire` at once: no write waits any more.
        self.gate.close();
    }

    /// The events written so far, oldest first.
    pub fn written(&self) -> Vec<rail_graphql_security::audit::AuditEvent> {
        self.written.events()
    }
}

#[async_trait::async_trait]
impl rail_graphql_security::audit::AuditSink for GatedSink {
    fn name(&self) -> &str {
        "gated"
    }

    async fn write_batch(
        &self,
        events: &[rail_graphql_security::audit::AuditEvent],
    ) -> Result<(), rail_graphql_security::audit::SinkError> {
        let _ = self.gate.acquire().await;
        self.written.write_batch(events).await
    }
}

/// The Redis URL for tests, or `None` (with a note) when unset and backends are not required.
pub fn redis_url() -> Option<String> {
    match std::env::var("RAIL_TEST_REDIS_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            if std::env::var("RAIL_TEST_REQUIRE_BACKENDS").is_ok_and(|v| v == "1") {
                panic!("RAIL_TEST_REDIS_URL is not set but RAIL_TEST_REQUIRE_BACKENDS=1: point it at a running Redis");
            }
            eprintln!("note: Redis test SKIPPED: set RAIL_TEST_REDIS_URL to run it");
            None
        }
    }
}

/// A Redis key prefix of its own for one test.
pub fn unique_prefix() -> String {
    format!("rail_t_{}", uuid::Uuid::new_v4().simple())
}

/// A logger writing to a fresh in-memory sink, and the sink.
pub fn capturing_logger() -> (rail_graphql_security::audit::AuditLogger, rail_graphql_security::audit::MemorySink) {
    let sink = rail_graphql_security::audit::MemorySink::new();
    (rail_graphql_security::audit::AuditLogger::builder().sink(sink.clone()).build(), sink)
}

/// Makes the test database refuse `request_id LIKE 'poison%'` for good.
pub async fn refuse_poison(t: &TestDb) {
    let sql = match t.backend {
        Backend::Sqlite => {
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON audit_events WHEN NEW.request_id LIKE 'poison%' \
             BEGIN SELECT RAISE(ABORT, 'poison refused'); END;"
        }
        _ => {
            "ALTER TABLE audit_events ADD CONSTRAINT refuse_poison CHECK (request_id IS NULL OR request_id NOT LIKE 'poison%')"
        }
    };
    t.db.execute_unprepared(sql).await.expect("add the test's constraint");
}

/// `event` without its hash-chain link: what was logged, to compare with what a sink received
/// (the logger links every event it dispatches; `audit_chain` tests the links themselves).
pub fn unlinked(mut event: rail_graphql_security::audit::AuditEvent) -> rail_graphql_security::audit::AuditEvent {
    event.chain = None;
    event
}

/// `tracing` output written into a shared buffer: pass `move || log.clone()` as a formatter's
/// writer, then read it with [`CapturedLog::text`].
#[derive(Debug, Clone, Default)]
pub struct CapturedLog(Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLog {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl std::io::Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
