//! Revocations checked from a local set (issue 16): a revocation holds on the instance that made
//! it before `revoke` returns, and on another instance within `REVOCATION_SYNC_BOUND` whether
//! the push channel (Redis pub/sub, PostgreSQL LISTEN/NOTIFY) works or not; a new instance
//! loads every revocation before it answers; a stale set is not trusted; a push hint alone
//! revokes nothing. The two-instance case over HTTP is in `e2e_logout.rs`.

use std::time::{Duration, Instant};

use integration_tests::{Backend, TestDb, on_every_backend, redis_url, unique_prefix};
use rail_graphql_security::auth::{
    REVOCATION_CLOCK_MARGIN, REVOCATION_SYNC_BOUND, RevocationPush, RevocationStore, TokenConfig, TokenError,
    TokenService,
};
use rail_graphql_security::context::{MfaState, Principal};
use rail_graphql_security::mfa::MfaMethod;

const SECRET: &str = "test-secret-0123456789-abcdefghijklmnop";

/// The bound plus room for a loaded machine: a test fails only if a revocation is still
/// accepted this long after it was made.
fn deadline() -> Instant {
    Instant::now() + REVOCATION_SYNC_BOUND + Duration::from_secs(4)
}

fn service(store: RevocationStore) -> TokenService {
    TokenService::new(TokenConfig::new(SECRET).unwrap(), store)
}

fn user(id: i64, name: &str) -> Principal {
    Principal::new(id, name)
}

/// `token` becomes refused as revoked by `tokens` before the deadline.
async fn refused_within_the_bound(tokens: &TokenService, token: &str, what: &str) {
    let deadline = deadline();
    loop {
        match tokens.verify(token, None).await {
            Err(TokenError::Revoked) => return,
            other => assert!(Instant::now() < deadline, "{what} still {other:?} past the bound"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn refused(result: Result<impl std::fmt::Debug, TokenError>, what: &str) {
    assert!(matches!(result, Err(TokenError::Revoked)), "{what}: {result:?}");
}

/// A revokes a token, a session and every session of a user; A refuses them at once, B (its
/// own local set) within the bound; unrevoked tokens keep working on both.
async fn revocations_reach_the_other_instance(a: RevocationStore, b: RevocationStore) {
    let RevocationStore::Synced(b_set) = &b else { panic!("a synced store: {b:?}") };
    let b_set = b_set.clone();
    assert!(b_set.is_empty(), "a fresh database has no revocation");
    let (a, b) = (service(a), service(b));
    let (dave, erin, frank) = (user(21, "dave"), user(22, "erin"), user(23, "frank"));
    let single = a.issue(&dave, &MfaState::none(), None).unwrap();
    let login = a.issue(&dave, &MfaState::none(), None).unwrap();
    let everywhere = b.issue(&erin, &MfaState::none(), None).unwrap();
    let live = a.issue(&frank, &MfaState::none(), None).unwrap();
    for tokens in [&a, &b] {
        for issued in [&single, &login, &everywhere, &live] {
            tokens.verify(&issued.token, None).await.expect("accepted before any revocation");
        }
    }
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert!(a.revoke_token(&single.token, None).await.unwrap());
    assert!(a.revoke_session(&dave, &login.session_id, None).await.unwrap());
    a.revoke_all_sessions(&erin, None).await.unwrap();
    // On the revoking instance: before `revoke` returned.
    refused(a.verify(&single.token, None).await, "token on A");
    refused(a.verify(&login.token, None).await, "session on A");
    refused(a.verify(&everywhere.token, None).await, "user on A");
    refused_within_the_bound(&b, &single.token, "token on B").await;
    refused_within_the_bound(&b, &login.token, "session on B").await;
    refused_within_the_bound(&b, &everywhere.token, "user on B").await;
    // B answered from its own set (kept in step), not by reading the store.
    assert!(b_set.is_fresh() && b_set.len() >= 3, "{b_set:?}");
    // A second "log out everywhere" moves the existing row's time later: B sees that too.
    let again = a.issue(&erin, &MfaState::none(), None).unwrap();
    b.verify(&again.token, None).await.expect("a login after logging out everywhere works");
    tokio::time::sleep(Duration::from_millis(2)).await;
    a.revoke_all_sessions(&erin, None).await.unwrap();
    refused(a.verify(&again.token, None).await, "second logout everywhere on A");
    refused_within_the_bound(&b, &again.token, "second logout everywhere on B").await;
    for tokens in [&a, &b] {
        tokens.verify(&live.token, None).await.expect("an unrevoked token still works");
    }
}

async fn postgres_and_redis() -> Option<(TestDb, String, String)> {
    let t = TestDb::new(Backend::Postgres).await?;
    let url = redis_url()?;
    Some((t, url, unique_prefix()))
}

fn redis_push(url: &str, channel: &str) -> RevocationPush {
    RevocationPush::Redis { url: url.to_owned(), channel: channel.to_owned() }
}

/// As the stack builds it with `store_url`: Redis in front of PostgreSQL, Redis pub/sub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_push_reaches_another_instance() {
    let Some((t, url, prefix)) = postgres_and_redis().await else { return };
    let channel = format!("{prefix}:revocations");
    let a = RevocationStore::redis_cached(&url, &prefix, t.db.clone()).await.unwrap();
    let b = RevocationStore::redis_cached(&url, &prefix, t.connect_again().await).await.unwrap();
    let a = a.synced(redis_push(&url, &channel)).await.unwrap();
    let b = b.synced(redis_push(&url, &channel)).await.unwrap();
    revocations_reach_the_other_instance(a, b).await;
    integration_tests::redis_delete_prefix(&url, &prefix).await;
    t.cleanup().await;
}

/// The push never arrives (B listens on another channel): polling alone keeps the bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_redis_push_polling_keeps_the_bound() {
    let Some((t, url, prefix)) = postgres_and_redis().await else { return };
    let a = RevocationStore::redis_cached(&url, &prefix, t.db.clone()).await.unwrap();
    let b = RevocationStore::redis_cached(&url, &prefix, t.connect_again().await).await.unwrap();
    let a = a.synced(redis_push(&url, &format!("{prefix}:revocations"))).await.unwrap();
    let b = b.synced(redis_push(&url, &format!("{prefix}:elsewhere"))).await.unwrap();
    revocations_reach_the_other_instance(a, b).await;
    integration_tests::redis_delete_prefix(&url, &prefix).await;
    t.cleanup().await;
}

/// As the stack builds it on PostgreSQL without Redis: LISTEN/NOTIFY.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_notify_reaches_another_instance() {
    let Some(t) = TestDb::new(Backend::Postgres).await else { return };
    let channel = format!("{}:revocations", unique_prefix());
    let push = RevocationPush::Postgres { channel };
    let a = RevocationStore::database(t.db.clone()).synced(push.clone()).await.unwrap();
    let b = RevocationStore::database(t.connect_again().await).synced(push).await.unwrap();
    revocations_reach_the_other_instance(a, b).await;
    t.cleanup().await;
}

/// B's LISTEN connection is killed by the server before and during the revocations: polling
/// keeps the bound, and the listener comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_listen_connection_is_covered_by_polling() {
    use sea_orm::{ConnectionTrait, Statement};
    let Some(t) = TestDb::new(Backend::Postgres).await else { return };
    let channel = format!("{}:revocations", unique_prefix());
    let push = RevocationPush::Postgres { channel: channel.clone() };
    let a = RevocationStore::database(t.db.clone()).synced(push.clone()).await.unwrap();
    let b = RevocationStore::database(t.connect_again().await).synced(push).await.unwrap();
    let kill = Statement::from_sql_and_values(
        sea_orm::DatabaseBackend::Postgres,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1 AND pid <> pg_backend_pid()",
        [format!("LISTEN \"{channel}\"").into()],
    );
    let killed = t.db.query_all_raw(kill.clone()).await.unwrap();
    assert!(!killed.is_empty(), "the listeners' connections were found");
    let admin = t.connect_again().await;
    let killer = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = admin.query_all_raw(kill.clone()).await;
        }
    });
    revocations_reach_the_other_instance(a, b).await;
    killer.abort();
    t.cleanup().await;
}

/// SQLite, PostgreSQL and MariaDB without any push: polling only (two connections, as two
/// instances would have).
async fn polling_only(t: &TestDb) {
    let a = RevocationStore::database(t.db.clone()).synced(RevocationPush::Poll).await.unwrap();
    let b = RevocationStore::database(t.connect_again().await).synced(RevocationPush::Poll).await.unwrap();
    revocations_reach_the_other_instance(a, b).await;
}
on_every_backend!(polling_without_push, polling_only);

/// Two instances polling one database, A's machine clock `a_off` seconds off and B's `b_off`;
/// each store corrects its clock by the offset it measured (±1 s) when it is over 1 s.
async fn instances_off_clock(t: &TestDb, a_off: i64, b_off: i64) -> (RevocationStore, RevocationStore) {
    let push = || RevocationPush::Poll;
    let a = RevocationStore::database(t.db.clone()).synced_off_clock(push(), chrono::Duration::seconds(a_off));
    let a = a.await.unwrap();
    let b =
        RevocationStore::database(t.connect_again().await).synced_off_clock(push(), chrono::Duration::seconds(b_off));
    let b = b.await.unwrap();
    assert_corrected(&a, -a_off);
    assert_corrected(&b, -b_off);
    (a, b)
}

/// Found by an attack: an instance whose clock ran 90 s ahead looked back from its own clock,
/// past the others' revocations, and never read them; the tokens it signed were dated after a
/// "log out everywhere" made elsewhere and outlived it. Its store now goes by the database's
/// clock: B (90 s ahead) reads A's revocations, and B's tokens fall under A's cut-off.
async fn a_clock_ahead_still_reads_and_obeys_the_others(t: &TestDb) {
    let (a, b) = instances_off_clock(t, 0, 90).await;
    revocations_reach_the_other_instance(a, b).await;
}
on_every_backend!(clock_ahead, a_clock_ahead_still_reads_and_obeys_the_others);

/// The other side of the same attack: the revocations of an instance 90 s behind were dated
/// before B's look-back, so B never read them. A now stamps them by the database's clock.
async fn a_clock_behind_still_reaches_the_others(t: &TestDb) {
    let (a, b) = instances_off_clock(t, -90, 0).await;
    revocations_reach_the_other_instance(a, b).await;
}
on_every_backend!(clock_behind, a_clock_behind_still_reaches_the_others);

/// Found by an attack after the first fix, which corrected only clocks more than 15 s off: an
/// instance 10 s ahead still signed tokens that outlived a "log out everywhere" made elsewhere.
/// Clocks more than 1 s off are corrected now.
async fn a_clock_slightly_ahead_obeys_the_others(t: &TestDb) {
    let (a, b) = instances_off_clock(t, 0, 10).await;
    revocations_reach_the_other_instance(a, b).await;
}
on_every_backend!(clock_slightly_ahead, a_clock_slightly_ahead_obeys_the_others);

/// Found by an attack: a step-up passed on an instance 90 s ahead carried its second-factor
/// time from that machine's clock, 90 s in the future of every other instance, where a future
/// time counts as fresh (clock skew): the step-up lasted 90 s longer everywhere. A token's
/// `mfa_at` is never later than its issue time, which goes by the database's clock.
#[tokio::test]
async fn a_second_factor_passed_on_a_clock_ahead_is_not_dated_in_the_future() {
    let t = TestDb::new(Backend::Sqlite).await.unwrap();
    let fast = service(
        RevocationStore::database(t.db.clone())
            .synced_off_clock(RevocationPush::Poll, chrono::Duration::seconds(90))
            .await
            .unwrap(),
    );
    // The MFA manager on that machine stamps the pass by the machine's own clock.
    let passed_at = chrono::Utc::now() + chrono::Duration::seconds(90);
    let issued = fast.issue(&user(44, "jane"), &MfaState::verified(passed_at, MfaMethod::Totp), None).unwrap();
    let claims = fast.verify(&issued.token, None).await.unwrap();
    let mfa_at = claims.mfa_at.expect("a second-factor time");
    assert!(mfa_at <= claims.iat, "mfa_at {mfa_at} after iat {}", claims.iat);
    assert!((claims.iat - chrono::Utc::now().timestamp()).abs() <= 2, "issued by the database's clock");
    // Checked on an instance with a right clock, the step-up is as old as it really is.
    let now = chrono::Utc::now();
    let window = Some(Duration::from_secs(60));
    assert!(claims.mfa_state().satisfies(window, now));
    assert!(!claims.mfa_state().satisfies(window, now + chrono::Duration::seconds(61)), "expired after its window");
}

/// `store` goes by the database's clock, `seconds` from this machine's (±1 s: the reading's
/// round trip).
fn assert_corrected(store: &RevocationStore, seconds: i64) {
    let RevocationStore::Synced(set) = store else { panic!("a synced store: {store:?}") };
    let correction = set.clock_correction().num_milliseconds();
    assert!((correction - seconds * 1000).abs() < 1000, "correction {correction} ms, expected {seconds} s");
}

/// A new instance (a restart) refuses every existing revocation from its first check.
async fn a_new_instance_loads_the_revocations_before_answering(t: &TestDb) {
    let a = service(RevocationStore::database(t.db.clone()).synced(RevocationPush::Poll).await.unwrap());
    let (dave, erin) = (user(31, "dave"), user(32, "erin"));
    let single = a.issue(&dave, &MfaState::none(), None).unwrap();
    let login = a.issue(&dave, &MfaState::none(), None).unwrap();
    let everywhere = a.issue(&erin, &MfaState::none(), None).unwrap();
    let live = a.issue(&user(33, "frank"), &MfaState::none(), None).unwrap();
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert!(a.revoke_token(&single.token, None).await.unwrap());
    assert!(a.revoke_session(&dave, &login.session_id, None).await.unwrap());
    a.revoke_all_sessions(&erin, None).await.unwrap();
    let restarted =
        service(RevocationStore::database(t.connect_again().await).synced(RevocationPush::Poll).await.unwrap());
    refused(restarted.verify(&single.token, None).await, "token after a restart");
    refused(restarted.verify(&login.token, None).await, "session after a restart");
    refused(restarted.verify(&everywhere.token, None).await, "user after a restart");
    restarted.verify(&live.token, None).await.expect("an unrevoked token still works");
    // The durable semantics hold through the local set: one racer wins.
    let racers = futures::future::join_all((0..4).map(|_| restarted.revoke_token(&live.token, None))).await;
    assert_eq!(racers.iter().filter(|r| matches!(r, Ok(true))).count(), 1, "{racers:?}");
}
on_every_backend!(restart_loads_first, a_new_instance_loads_the_revocations_before_answering);

/// The store cannot be loaded: no local set is made, so nothing answers "not revoked".
#[tokio::test]
async fn an_instance_that_cannot_load_does_not_start() {
    let t = TestDb::new(Backend::Sqlite).await.unwrap();
    t.db.clone().close().await.unwrap();
    let err = RevocationStore::database(t.db.clone()).synced(RevocationPush::Poll).await.unwrap_err();
    assert!(matches!(err, TokenError::Database(_)), "{err:?}");
    let err = RevocationStore::memory().synced(RevocationPush::Poll).await.unwrap_err();
    assert!(matches!(err, TokenError::NoDurableRecord), "{err:?}");
}

/// When the sync has failed for longer than the bound, checks read the store, and fail while it
/// is down, instead of trusting the stale set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_set_is_not_trusted() {
    let t = TestDb::new(Backend::Sqlite).await.unwrap();
    let store = RevocationStore::database(t.db.clone()).synced(RevocationPush::Poll).await.unwrap();
    let RevocationStore::Synced(set) = &store else { panic!("a synced store: {store:?}") };
    let set = set.clone();
    let tokens = service(store);
    let issued = tokens.issue(&user(41, "gina"), &MfaState::none(), None).unwrap();
    tokens.verify(&issued.token, None).await.expect("accepted while the store is up");
    t.db.clone().close().await.unwrap();
    let deadline = deadline();
    while set.is_fresh() {
        assert!(Instant::now() < deadline, "the set stayed fresh past the bound without a sync");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let err = tokens.verify(&issued.token, None).await.unwrap_err();
    assert!(matches!(err, TokenError::Database(_)), "{err:?}");
}

/// Found by an attack: a logout whose commit was held back 70 s (a lock on `revoked_tokens`, as
/// a non-concurrent `CREATE INDEX` takes) committed a record stamped before the other
/// instances' look-back (`REVOCATION_CLOCK_MARGIN`), so they never read it: the token stayed
/// valid on B until it expired. A revocation whose write was slow is stamped again. This test
/// holds the lock past the margin, so it takes over a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_committed_late_still_reaches_the_other_instance() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let Some(t) = TestDb::new(Backend::Postgres).await else { return };
    let a = RevocationStore::database(t.db.clone()).synced(RevocationPush::Poll).await.unwrap();
    let b = RevocationStore::database(t.connect_again().await).synced(RevocationPush::Poll).await.unwrap();
    let (a, b) = (service(a), service(b));
    let issued = a.issue(&user(51, "ivan"), &MfaState::none(), None).unwrap();
    b.verify(&issued.token, None).await.expect("accepted before the logout");

    let locker = t.connect_again().await;
    let txn = locker.begin().await.unwrap();
    txn.execute_unprepared("LOCK TABLE revoked_tokens IN SHARE MODE").await.unwrap();
    let revoke = tokio::spawn({
        let (a, token) = (a.clone(), issued.token.clone());
        async move { a.revoke_token(&token, None).await }
    });
    tokio::time::sleep(REVOCATION_CLOCK_MARGIN + Duration::from_secs(5)).await;
    assert!(!revoke.is_finished(), "the lock held the revocation back");
    txn.commit().await.unwrap();
    assert!(revoke.await.unwrap().unwrap(), "the revocation is written once the lock is gone");
    refused(a.verify(&issued.token, None).await, "on A");
    refused_within_the_bound(&b, &issued.token, "a revocation committed late, on B").await;
    t.cleanup().await;
}

/// Found by an attack: Redis restored from an older snapshot (its "loaded" marker with it, the
/// revocation's key without it), then the database stopped. The stale set asked the Redis
/// cache, which answered "not revoked", and revoked tokens were accepted again on every
/// instance. A stale set still answers "revoked" for what it holds, even when the cache's
/// marker is one this server wrote (a key lost otherwise: evicted under `maxmemory`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_set_never_unrevokes_what_it_knows() {
    let Some(url) = redis_url() else { return };
    let t = TestDb::new(Backend::Sqlite).await.unwrap();
    let prefix = unique_prefix();
    let cached = RevocationStore::redis_cached(&url, &prefix, t.db.clone()).await.unwrap();
    let store = cached.synced(RevocationPush::Poll).await.unwrap();
    let RevocationStore::Synced(set) = &store else { panic!("a synced store: {store:?}") };
    let set = set.clone();
    let tokens = service(store);
    let issued = tokens.issue(&user(42, "hana"), &MfaState::none(), None).unwrap();
    let claims = tokens.verify(&issued.token, None).await.expect("accepted before the logout");
    assert!(tokens.revoke(&claims, None).await.unwrap());
    refused(tokens.verify(&issued.token, None).await, "revoked");

    let client = redis::Client::open(url.as_str()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let removed: i64 =
        redis::cmd("DEL").arg(format!("{prefix}:revoked:{}", claims.jti)).query_async(&mut redis).await.unwrap();
    assert_eq!(removed, 1, "the cache held the revocation");
    // The marker says the cache is complete.
    let run_id = redis_run_id(&mut redis).await;
    let _: () = redis::cmd("SET")
        .arg(format!("{prefix}:revocations:loaded"))
        .arg(&run_id)
        .arg("PX")
        .arg(300_000)
        .query_async(&mut redis)
        .await
        .unwrap();
    t.db.clone().close().await.unwrap();
    let deadline = deadline();
    while set.is_fresh() {
        assert!(Instant::now() < deadline, "the set stayed fresh past the bound without a sync");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    refused(tokens.verify(&issued.token, None).await, "revoked, with the cache missing it and the database down");
}

/// The run id of the Redis server behind `redis` (new at each start of the server).
async fn redis_run_id(redis: &mut redis::aio::MultiplexedConnection) -> String {
    let info: String = redis::cmd("INFO").arg("server").query_async(redis).await.unwrap();
    let line = info.lines().find_map(|l| l.strip_prefix("run_id:")).expect("INFO server names the run id");
    line.trim().to_owned()
}

/// Found by an attack: a Redis restored from an older snapshot kept the snapshot's "loaded"
/// marker, which vouched for a cache that missed the revocations made since, so the cache
/// answered "not revoked" for them. The marker now holds the run id of the server that was
/// loaded: one written by another server process (what a restored snapshot holds) makes the
/// next check reload the cache from the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marker_written_by_another_redis_process_is_not_trusted() {
    let Some(url) = redis_url() else { return };
    let t = TestDb::new(Backend::Sqlite).await.unwrap();
    let prefix = unique_prefix();
    let tokens = service(RevocationStore::redis_cached(&url, &prefix, t.db.clone()).await.unwrap());
    let issued = tokens.issue(&user(43, "ivan"), &MfaState::none(), None).unwrap();
    let claims = tokens.verify(&issued.token, None).await.expect("accepted before the logout");
    assert!(tokens.revoke(&claims, None).await.unwrap());

    // What the restored snapshot holds: the marker the old server process wrote, no key for
    // the revocation made after it was taken.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let marker = format!("{prefix}:revocations:loaded");
    let revoked = format!("{prefix}:revoked:{}", claims.jti);
    let run_id = redis_run_id(&mut redis).await;
    let stored: String = redis::cmd("GET").arg(&marker).query_async(&mut redis).await.unwrap();
    assert_eq!(stored, run_id, "the marker names the server that was loaded");
    let removed: i64 = redis::cmd("DEL").arg(&revoked).query_async(&mut redis).await.unwrap();
    assert_eq!(removed, 1, "the cache held the revocation");
    let old_process = "0123456789abcdef0123456789abcdef01234567";
    assert_ne!(old_process, run_id);
    let _: () =
        redis::cmd("SET").arg(&marker).arg(old_process).arg("PX").arg(300_000).query_async(&mut redis).await.unwrap();

    refused(tokens.verify(&issued.token, None).await, "revoked, with a restored marker and the key missing");
    // The check reloaded the cache from the database and marked it as this server's.
    let stored: String = redis::cmd("GET").arg(&marker).query_async(&mut redis).await.unwrap();
    assert_eq!(stored, run_id);
    let back: bool = redis::cmd("EXISTS").arg(&revoked).query_async(&mut redis).await.unwrap();
    assert!(back, "the revocation is back in the cache");
    refused(tokens.verify(&issued.token, None).await, "revoked, from the reloaded cache");
    integration_tests::redis_delete_prefix(&url, &prefix).await;
}

/// A hint published on the channel by someone else revokes nothing: it only makes B read the
/// table, and the table has no such revocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_hint_alone_revokes_nothing() {
    let Some((t, url, prefix)) = postgres_and_redis().await else { return };
    let channel = format!("{prefix}:revocations");
    let b = RevocationStore::database(t.db.clone()).synced(redis_push(&url, &channel)).await.unwrap();
    let tokens = service(b);
    let issued = tokens.issue(&user(51, "hank"), &MfaState::none(), None).unwrap();
    let claims = tokens.verify(&issued.token, None).await.unwrap();
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    for payload in [claims.jti.clone(), format!("s:{}", claims.sid), "u:*".to_owned()] {
        let _: i64 = redis::cmd("PUBLISH").arg(&channel).arg(payload).query_async(&mut connection).await.unwrap();
    }
    let until = Instant::now() + REVOCATION_SYNC_BOUND;
    while Instant::now() < until {
        tokens.verify(&issued.token, None).await.expect("a hint without a record revokes nothing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    t.cleanup().await;
}
