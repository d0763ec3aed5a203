//! Rate limits in memory and in Redis: exact counts, windows, races, several instances sharing
//! one Redis, and the login limits with their audit events and GraphQL error.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::ErrorExtensions;
use rail_graphql_security::rate_limit::{
    Clock, Decision, LoginLimitError, LoginRateLimiter, ManualClock, Quota, RateLimiter, SystemClock,
};

/// The lease lifetime of the request limit's default (`graphql_requests_lease_ms`).
const LEASE: Duration = Duration::from_millis(100);

async fn limiters() -> Vec<(&'static str, RateLimiter)> {
    let mut all = vec![("memory", RateLimiter::memory())];
    if let Some(url) = integration_tests::redis_url() {
        all.push((
            "redis",
            RateLimiter::redis(&url, &integration_tests::unique_prefix()).await.expect("connect to Redis"),
        ));
        // With leases: below 200 hits per window a lease is one hit, so these small limits are
        // decided exactly, refusals remembered in process included.
        let redis = RateLimiter::redis(&url, &integration_tests::unique_prefix()).await.expect("connect to Redis");
        all.push(("redis leased", redis.with_local_leases(LEASE)));
    }
    all
}

/// How time passes for a limiter: the memory store's clock is moved by hand, Redis reads its own
/// clock (`TIME`), so for it the test really waits.
enum Time {
    Manual(ManualClock),
    Real,
}

impl Time {
    async fn pass(&self, by: Duration) {
        match self {
            Time::Manual(clock) => clock.advance(by),
            Time::Real => tokio::time::sleep(by).await,
        }
    }

    fn now(&self) -> std::time::Instant {
        match self {
            Time::Manual(clock) => clock.now(),
            Time::Real => SystemClock.now(),
        }
    }
}

/// The limiters with the time source each one decides by.
async fn timed_limiters() -> Vec<(&'static str, RateLimiter, Time)> {
    let clock = ManualClock::new();
    let mut all = vec![("memory", RateLimiter::memory_with_clock(clock.clone()), Time::Manual(clock))];
    if let Some(url) = integration_tests::redis_url() {
        let redis = RateLimiter::redis(&url, &integration_tests::unique_prefix()).await.expect("connect to Redis");
        all.push(("redis", redis, Time::Real));
        let redis = RateLimiter::redis(&url, &integration_tests::unique_prefix()).await.expect("connect to Redis");
        all.push(("redis leased", redis.with_local_leases(LEASE), Time::Real));
    }
    all
}

#[tokio::test]
async fn exactly_limit_hits_are_allowed_then_refused_until_the_window_ends() {
    for (name, limiter, time) in timed_limiters().await {
        let quota = Quota::new(3, Duration::from_millis(400));
        for remaining in [2, 1, 0] {
            assert_eq!(limiter.hit("s", "k", quota).await.unwrap(), Decision::Allowed { remaining }, "{name}");
        }
        let refused = limiter.hit("s", "k", quota).await.unwrap();
        let Decision::Limited { count, retry_after, first_refusal } = refused else {
            panic!("{name}: 4th hit allowed")
        };
        assert_eq!(count, 4, "{name}");
        assert!(first_refusal, "{name}");
        assert!(retry_after <= Duration::from_millis(400) && retry_after > Duration::ZERO, "{name}: {retry_after:?}");
        // Other keys and scopes are counted apart.
        assert!(limiter.hit("s", "other", quota).await.unwrap().is_allowed(), "{name}");
        assert!(limiter.hit("t", "k", quota).await.unwrap().is_allowed(), "{name}");
        match &time {
            Time::Manual(clock) => {
                // Allowed again exactly `retry_after` later, not a nanosecond sooner.
                clock.advance(retry_after - Duration::from_nanos(1));
                assert!(!limiter.hit("s", "k", quota).await.unwrap().is_allowed(), "{name}: allowed too soon");
                clock.advance(Duration::from_nanos(1));
            }
            Time::Real => time.pass(Duration::from_millis(450)).await,
        }
        assert!(limiter.hit("s", "k", quota).await.unwrap().is_allowed(), "{name}: window did not end");
    }
}

/// The fixed window's flaw: one hit opens a window, `limit - 1` more just before it ends and
/// `limit` just after got `2 × limit - 1` hits through in a moment. GCRA admits at most `limit`
/// plus one per emission interval elapsed, whatever the boundary.
#[tokio::test]
async fn a_burst_across_a_window_boundary_is_refused() {
    for (name, limiter, time) in timed_limiters().await {
        let quota = Quota::new(5, Duration::from_secs(2));
        let interval = quota.emission_interval();
        assert!(limiter.hit("edge", "k", quota).await.unwrap().is_allowed(), "{name}");
        time.pass(quota.window - Duration::from_millis(50)).await;
        let started = time.now();
        let mut allowed = 0u32;
        for _ in 0..5 {
            allowed += u32::from(limiter.hit("edge", "k", quota).await.unwrap().is_allowed());
        }
        time.pass(Duration::from_millis(100)).await;
        for _ in 0..5 {
            allowed += u32::from(limiter.hit("edge", "k", quota).await.unwrap().is_allowed());
        }
        let elapsed = time.now() - started;
        assert!(elapsed < interval * 3, "{name}: too slow to tell ({elapsed:?})");
        let bound = quota.limit + (elapsed.as_nanos() / interval.as_nanos()) as u32;
        assert!(allowed <= bound, "{name}: {allowed} hits in {elapsed:?}, at most {bound} (a fixed window: 9)");
        assert!(allowed >= quota.limit - 1, "{name}: the refilled burst was refused ({allowed})");
    }
}

#[tokio::test]
async fn a_cost_counts_several_hits_all_or_none() {
    for (name, limiter) in limiters().await {
        let quota = Quota::new(5, Duration::from_secs(60));
        assert_eq!(limiter.hit_n("cost", "k", quota, 3).await.unwrap(), Decision::Allowed { remaining: 2 }, "{name}");
        let refused = limiter.hit_n("cost", "k", quota, 3).await.unwrap();
        let Decision::Limited { count, retry_after, .. } = refused else { panic!("{name}: {refused:?}") };
        assert_eq!(count, 6, "{name}");
        // One hit is forgotten every 12 s; the refused three need one more.
        assert!(
            retry_after > Duration::from_secs(11) && retry_after <= Duration::from_secs(12),
            "{name}: {retry_after:?}"
        );
        assert_eq!(limiter.hit_n("cost", "k", quota, 2).await.unwrap(), Decision::Allowed { remaining: 0 }, "{name}");
        let never = limiter.hit_n("cost", "big", quota, 6).await.unwrap();
        assert_eq!(never.retry_after(), Some(quota.window), "{name}: a cost over the limit never fits");
    }
}

#[tokio::test]
async fn refusals_are_marked_first_once_per_window() {
    for (name, limiter) in limiters().await {
        let quota = Quota::new(1, Duration::from_secs(60));
        assert!(limiter.hit("mark", "k", quota).await.unwrap().is_allowed());
        let firsts = [
            limiter.hit("mark", "k", quota).await.unwrap().is_first_refusal(),
            limiter.hit("mark", "k", quota).await.unwrap().is_first_refusal(),
            limiter.hit("mark", "k", quota).await.unwrap().is_first_refusal(),
        ];
        assert_eq!(firsts, [true, false, false], "{name}");
    }
}

#[tokio::test]
async fn a_zero_limit_refuses_everything_and_reset_forgets() {
    for (name, limiter) in limiters().await {
        assert!(!limiter.hit("s", "k", Quota::new(0, Duration::from_secs(60))).await.unwrap().is_allowed(), "{name}");
        let quota = Quota::new(1, Duration::from_secs(60));
        assert!(limiter.hit("s", "r", quota).await.unwrap().is_allowed());
        assert!(!limiter.hit("s", "r", quota).await.unwrap().is_allowed());
        limiter.reset("s", "r").await.unwrap();
        assert!(limiter.hit("s", "r", quota).await.unwrap().is_allowed(), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_hits_never_over_admit() {
    for (name, limiter) in limiters().await {
        let quota = Quota::new(25, Duration::from_secs(60));
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move { limiter.hit("race", "k", quota).await.unwrap().is_allowed() })
            })
            .collect();
        let mut allowed = 0;
        for task in tasks {
            allowed += usize::from(task.await.unwrap());
        }
        assert_eq!(allowed, 25, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_sharing_one_redis_behave_as_one() {
    let Some(url) = integration_tests::redis_url() else { return };
    let prefix = integration_tests::unique_prefix();
    let a = RateLimiter::redis(&url, &prefix).await.unwrap();
    let b = RateLimiter::redis(&url, &prefix).await.unwrap();
    let quota = Quota::new(10, Duration::from_secs(60));
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let limiter = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { limiter.hit("shared", "k", quota).await.unwrap().is_allowed() })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        allowed += usize::from(task.await.unwrap());
    }
    assert_eq!(allowed, 10);
    // A limiter with another prefix (another application) is not affected.
    let other = RateLimiter::redis(&url, &integration_tests::unique_prefix()).await.unwrap();
    assert!(other.hit("shared", "k", quota).await.unwrap().is_allowed());
}

/// Leases: a busy key costs a round trip per lease, not per hit, and Redis counts every leased
/// hit when it is taken.
#[tokio::test]
async fn a_leased_limiter_serves_a_busy_key_with_few_round_trips() {
    let Some(url) = integration_tests::redis_url() else { return };
    let proxy = integration_tests::RedisScriptCounter::start(&url).await;
    let exact = RateLimiter::redis(&proxy.url, &integration_tests::unique_prefix()).await.unwrap();
    // A long lifetime: every lease lasts the whole loop. One hit per second is forgotten, so the
    // counts below are exact. The largest lease is 1 % of the limit: 1,000.
    let leased = exact.with_local_leases(Duration::from_secs(30));
    let quota = Quota::new(100_000, Duration::from_secs(100_000));
    let before = proxy.runs();
    for _ in 0..200 {
        assert!(exact.hit("busy", "exact", quota).await.unwrap().is_allowed());
    }
    assert_eq!(proxy.runs() - before, 200, "without leases, one round trip per hit");
    let before = proxy.runs();
    for _ in 0..1_000 {
        assert!(leased.hit("busy", "leased", quota).await.unwrap().is_allowed());
    }
    // Leases of 1, 2, 4, ..., 512 hits: 1,023 hits counted in 10 round trips.
    assert_eq!(proxy.runs() - before, 10, "a lease per round trip, doubling");
    let counted = exact.hit("busy", "leased", quota).await.unwrap();
    assert_eq!(counted, Decision::Allowed { remaining: 100_000 - 1_023 - 1 }, "Redis counts leased hits when taken");
}

/// The hits a lease did not spend are given back when it ends, on the key's next round trip.
#[tokio::test]
async fn unspent_leased_hits_are_given_back_when_the_lease_ends() {
    let Some(url) = integration_tests::redis_url() else { return };
    let prefix = integration_tests::unique_prefix();
    let exact = RateLimiter::redis(&url, &prefix).await.unwrap();
    let leased = RateLimiter::redis(&url, &prefix).await.unwrap().with_local_leases(Duration::from_millis(200));
    // One hit forgotten every 2 s: nothing is forgotten during the test.
    let quota = Quota::new(1_000, Duration::from_secs(2_000));
    for _ in 0..4 {
        assert!(leased.hit("give", "k", quota).await.unwrap().is_allowed());
    }
    // Four hits spent from leases of 1, 2 and 4: 7 counted, 3 held.
    assert_eq!(exact.hit("give", "k", quota).await.unwrap(), Decision::Allowed { remaining: 1_000 - 7 - 1 });
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(leased.hit("give", "k", quota).await.unwrap().is_allowed());
    // The 3 came back; the fifth hit took a lease of 1 (what the last lease saw used).
    assert_eq!(exact.hit("give", "k", quota).await.unwrap(), Decision::Allowed { remaining: 1_000 - 7 });
}

/// Two instances with leases hammering one key: they admit no more than the exact limit over
/// the test's span plus one lease lifetime (the stated overshoot), and no fewer than the limit
/// less what the two can hold in leases.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_leased_instances_admit_within_the_stated_bounds() {
    let Some(url) = integration_tests::redis_url() else { return };
    let prefix = integration_tests::unique_prefix();
    let a = RateLimiter::redis(&url, &prefix).await.unwrap().with_local_leases(LEASE);
    let b = RateLimiter::redis(&url, &prefix).await.unwrap().with_local_leases(LEASE);
    // One hit per 10 ms; leases up to 20 hits.
    let quota = Quota::new(2_000, Duration::from_secs(20));
    let started = std::time::Instant::now();
    let deadline = started + Duration::from_millis(500);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let limiter = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let (mut allowed, mut first_refusals, mut refused) = (0u32, 0u32, false);
                // At least until the deadline, and on a slow machine until this task was refused.
                while std::time::Instant::now() < deadline || !refused {
                    let decision = limiter.hit("pair", "k", quota).await.unwrap();
                    allowed += u32::from(decision.is_allowed());
                    first_refusals += u32::from(decision.is_first_refusal());
                    refused |= !decision.is_allowed();
                    assert!(started.elapsed() < Duration::from_secs(60), "never refused");
                    tokio::task::yield_now().await;
                }
                (allowed, first_refusals)
            })
        })
        .collect();
    let (mut allowed, mut first_refusals) = (0, 0);
    for task in tasks {
        let (a, f) = task.await.unwrap();
        allowed += a;
        first_refusals += f;
    }
    let span = started.elapsed() + LEASE;
    let interval = quota.emission_interval();
    let most = quota.limit + span.as_nanos().div_ceil(interval.as_nanos()) as u32;
    assert!(allowed <= most, "{allowed} admitted, at most {most}");
    let cap = quota.limit / 100;
    assert!(allowed >= quota.limit - 2 * cap, "{allowed} admitted, at least {}", quota.limit - 2 * cap);
    assert_eq!(first_refusals, 1, "the first refusal of the window is reported once, by Redis");
}

/// A client over its limit is refused in process for up to a lease lifetime: a flood of refused
/// requests does not become a flood of round trips.
#[tokio::test]
async fn a_refused_key_is_refused_without_a_round_trip_per_hit() {
    let Some(url) = integration_tests::redis_url() else { return };
    let proxy = integration_tests::RedisScriptCounter::start(&url).await;
    let leased = RateLimiter::redis(&proxy.url, &integration_tests::unique_prefix())
        .await
        .unwrap()
        .with_local_leases(Duration::from_secs(30));
    let quota = Quota::new(3, Duration::from_secs(60));
    for _ in 0..3 {
        assert!(leased.hit("flood", "k", quota).await.unwrap().is_allowed());
    }
    let before = proxy.runs();
    let first = leased.hit("flood", "k", quota).await.unwrap();
    assert!(first.is_first_refusal(), "{first:?}");
    for _ in 0..500 {
        let again = leased.hit("flood", "k", quota).await.unwrap();
        let Decision::Limited { count, retry_after, first_refusal } = again else { panic!("{again:?}") };
        assert_eq!((count, first_refusal), (4, false));
        assert!(retry_after <= Duration::from_secs(20), "{retry_after:?}");
    }
    assert_eq!(proxy.runs() - before, 1, "one round trip for 501 refusals");
    // A refusal of 2 hits is not repeated for 1 hit: that one asks Redis, and fits.
    assert!(leased.hit_n("flood", "k2", quota, 2).await.unwrap().is_allowed());
    assert!(!leased.hit_n("flood", "k2", quota, 2).await.unwrap().is_allowed());
    let before = proxy.runs();
    assert!(!leased.hit_n("flood", "k2", quota, 3).await.unwrap().is_allowed());
    assert_eq!(proxy.runs() - before, 0, "a larger cost is refused in process");
    assert_eq!(leased.hit_n("flood", "k2", quota, 1).await.unwrap(), Decision::Allowed { remaining: 0 });
    assert_eq!(proxy.runs() - before, 1, "a smaller cost asks Redis");
}

#[tokio::test]
async fn an_unreachable_redis_is_a_clear_error() {
    let err = RateLimiter::redis("redis://127.0.0.1:1", "p").await.unwrap_err();
    assert!(err.to_string().contains("REDIS_URL"), "{err}");
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

#[tokio::test]
async fn login_attempts_are_limited_per_username_whatever_the_case_or_address() {
    for (name, limiter) in limiters().await {
        let logins = LoginRateLimiter::new(limiter, 3, Duration::from_secs(60));
        // A distributed guess at one account: every attempt from a new address.
        for (i, user) in ["alice", "Alice", " ALICE "].into_iter().enumerate() {
            logins.check(user, ip(&format!("198.51.100.{i}")), false).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let err = logins.check("alice", ip("198.51.100.99"), false).await.unwrap_err();
        assert!(matches!(err, LoginLimitError::RateLimited { limit_type: "login_username", .. }), "{name}: {err:?}");
        // Another account is unaffected.
        assert!(logins.check("bob", ip("198.51.100.98"), false).await.is_ok(), "{name}");
    }
}

#[tokio::test]
async fn login_attempts_are_limited_per_address_across_usernames() {
    for (name, limiter) in limiters().await {
        let logins = LoginRateLimiter::new(limiter, 3, Duration::from_secs(60));
        for user in ["u1", "u2", "u3"] {
            logins.check(user, ip("203.0.113.5"), false).await.unwrap();
        }
        let err = logins.check("u4", ip("203.0.113.5"), false).await.unwrap_err();
        assert!(matches!(err, LoginLimitError::RateLimited { limit_type: "login_ip", .. }), "{name}: {err:?}");
        // Rotating addresses inside one IPv6 /64 does not help.
        for (i, user) in ["v1", "v2", "v3"].into_iter().enumerate() {
            logins.check(user, ip(&format!("2001:db8:5:6::{}", i + 1)), false).await.unwrap();
        }
        let err = logins.check("v4", ip("2001:db8:5:6:ffff::1"), false).await.unwrap_err();
        assert!(matches!(err, LoginLimitError::RateLimited { limit_type: "login_ip", .. }), "{name}");
        assert!(logins.check("v5", ip("2001:db8:5:7::1"), false).await.is_ok(), "{name}");
    }
}

#[tokio::test]
async fn successful_logins_never_add_up_only_failures_do() {
    for (name, limiter) in limiters().await {
        let logins = LoginRateLimiter::new(limiter, 3, Duration::from_secs(60));
        let office = ip("198.51.100.50");
        for _ in 0..10 {
            logins.check("carol", office, false).await.unwrap_or_else(|e| panic!("{name}: {e}"));
            logins.record_success("carol", office).await.unwrap();
        }
        // Two failures, a success (the count starts again), then three failures are allowed.
        for _ in 0..2 {
            logins.check("carol", office, false).await.unwrap();
        }
        logins.check("carol", office, false).await.unwrap();
        logins.record_success("carol", office).await.unwrap();
        for i in 0..3 {
            logins.check("carol", ip(&format!("198.51.100.{}", 60 + i)), false).await.unwrap();
        }
        let err = logins.check("carol", ip("198.51.100.70"), false).await.unwrap_err();
        assert!(matches!(err, LoginLimitError::RateLimited { limit_type: "login_username", .. }), "{name}: {err:?}");
        // The office's address kept its two failures only: one more attempt fits, the next not.
        logins.check("dave", office, false).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let err = logins.check("erin", office, false).await.unwrap_err();
        assert!(matches!(err, LoginLimitError::RateLimited { limit_type: "login_ip", .. }), "{name}: {err:?}");
    }
}

#[tokio::test]
async fn an_attempt_refused_for_its_address_does_not_count_against_the_username() {
    for (name, limiter) in limiters().await {
        let logins = LoginRateLimiter::new(limiter, 2, Duration::from_secs(60));
        let attacker = ip("203.0.113.66");
        for user in ["x1", "x2"] {
            logins.check(user, attacker, false).await.unwrap();
        }
        for _ in 0..20 {
            let err = logins.check("admin", attacker, false).await.unwrap_err();
            assert!(matches!(err, LoginLimitError::RateLimited { limit_type: "login_ip", .. }), "{name}: {err:?}");
        }
        // The real admin, from a fresh address, is not locked out.
        logins.check("admin", ip("192.0.2.10"), false).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        logins.record_success("admin", ip("192.0.2.10")).await.unwrap();
    }
}

#[tokio::test]
async fn a_trusted_device_is_exempt_from_the_username_lockout_not_the_address_limit() {
    for (name, limiter) in limiters().await {
        let logins = LoginRateLimiter::new(limiter, 2, Duration::from_secs(60));
        for i in 0..3 {
            let _ = logins.check("frank", ip(&format!("203.0.113.{}", 100 + i)), false).await;
        }
        let err = logins.check("frank", ip("192.0.2.20"), false).await.unwrap_err();
        assert!(matches!(err, LoginLimitError::RateLimited { limit_type: "login_username", .. }), "{name}: {err:?}");
        logins.check("frank", ip("192.0.2.21"), true).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        // The address limit still applies to a trusted device.
        let laptop = ip("192.0.2.22");
        logins.check("frank", laptop, true).await.unwrap();
        logins.check("frank", laptop, true).await.unwrap();
        let err = logins.check("frank", laptop, true).await.unwrap_err();
        assert!(matches!(err, LoginLimitError::RateLimited { limit_type: "login_ip", .. }), "{name}: {err:?}");
    }
}

#[tokio::test]
async fn usernames_count_in_one_normalised_form() {
    for (name, limiter) in limiters().await {
        let logins = LoginRateLimiter::new(limiter, 3, Duration::from_secs(60));
        // Full-width, case and compatibility spellings a folding collation would all match.
        for (i, user) in ["ＡＤＭＩＮ", "Admin", "ａｄｍｉｎ"].into_iter().enumerate() {
            logins.check(user, ip(&format!("198.51.100.{}", 200 + i)), false).await.unwrap();
        }
        let err = logins.check(" admin ", ip("198.51.100.203"), false).await.unwrap_err();
        assert!(matches!(err, LoginLimitError::RateLimited { limit_type: "login_username", .. }), "{name}: {err:?}");
        assert_eq!(rail_graphql_security::username::normalize("ＡＤＭＩＮ"), "admin", "{name}");
        assert_eq!(
            rail_graphql_security::username::normalize("STRASSE"),
            rail_graphql_security::username::normalize("Straße")
        );
    }
}

#[tokio::test]
async fn a_login_refusal_is_a_rate_limited_graphql_error_with_retry_after() {
    let logins = LoginRateLimiter::new(RateLimiter::memory(), 1, Duration::from_secs(90));
    logins.check("alice", None, false).await.unwrap();
    let err = logins.check("alice", None, false).await.unwrap_err().extend();
    let ext = serde_json::to_value(err.extensions.as_ref().unwrap()).unwrap();
    assert_eq!(ext["code"], "RATE_LIMITED");
    let retry = ext["retryAfter"].as_u64().unwrap();
    assert!((89..=90).contains(&retry), "{retry}");
    assert!(err.message.contains("too many login attempts"));
}

#[tokio::test]
async fn the_first_refusal_of_a_window_is_audited_once() {
    for (name, limiter) in limiters().await {
        let (logger, sink) = integration_tests::capturing_logger();
        let logins = LoginRateLimiter::new(limiter, 2, Duration::from_secs(60)).audit(logger.clone());
        // Two failures, then four refusals for the address (which leave the name's count alone).
        for _ in 0..6 {
            let _ = logins.check("mallory", ip("203.0.113.77"), false).await;
        }
        // From other addresses, the name's limit trips: three refusals, one audited.
        for i in 0..3 {
            let _ = logins.check("mallory", ip(&format!("203.0.113.{}", 80 + i)), false).await;
        }
        logger.flush().await.expect("flush the audit logger");
        let events = sink.of_type("rate_limit_exceeded");
        assert_eq!(events.len(), 2, "{name}: one per limit type: {events:?}");
        let by_name = events.iter().find(|e| e.details["limit_type"] == "login_username").expect("username event");
        assert_eq!(by_name.actor_name.as_deref(), Some("mallory"));
        // Where the refused request came from (found missing by an attack over HTTP).
        assert_eq!(by_name.client_ip, ip("203.0.113.80"));
        assert_eq!(by_name.details["current_count"], 3);
        assert_eq!(by_name.details["limit"], 2);
        assert_eq!(by_name.details["window_seconds"], 60);
        let by_ip = events.iter().find(|e| e.details["limit_type"] == "login_ip").expect("ip event");
        assert_eq!(by_ip.client_ip, ip("203.0.113.77"));
        logger.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_brute_force_race_gets_no_more_than_the_limit() {
    for (name, limiter) in limiters().await {
        let logins = Arc::new(LoginRateLimiter::new(limiter, 5, Duration::from_secs(60)));
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                let logins = logins.clone();
                tokio::spawn(async move {
                    logins.check("victim", ip(&format!("198.18.{}.{}", i / 250, i % 250)), false).await
                })
            })
            .collect();
        let mut passed = 0;
        for task in tasks {
            passed += usize::from(task.await.unwrap().is_ok());
        }
        assert_eq!(passed, 5, "{name}");
    }
}

#[tokio::test]
async fn memory_counters_do_not_grow_without_bound() {
    let RateLimiter::Memory(memory) = RateLimiter::memory() else { unreachable!() };
    let quota = Quota::new(1, Duration::from_millis(1));
    for i in 0..5000u32 {
        memory.hit("flood", &i.to_string(), quota);
        if i == 2000 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // The sweep after 4096 new keys dropped the expired ones from before the pause.
    assert!(memory.len() < 5000, "{}", memory.len());
}
