//! async-graphql integration: query limits per profile and the slow-operation log.
//!
//! ```
//! use std::time::Duration;
//! use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};
//! use rail_graphql_security::graphql::{GraphqlLimits, SlowQueryLog};
//!
//! struct Query;
//! #[Object]
//! impl Query {
//!     async fn hello(&self) -> &str { "world" }
//! }
//!
//! let limits = GraphqlLimits::production();
//! let schema = limits
//!     .apply(Schema::build(Query, EmptyMutation, EmptySubscription))
//!     .extension(SlowQueryLog::new(Duration::from_secs(1)))
//!     .finish();
//! assert!(!limits.graphiql);
//! # let _ = schema;
//! ```

mod selection_budget;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::{ObjectType, Response, SchemaBuilder, SubscriptionType};

use crate::context::SecurityContext;
use selection_budget::{Budget, SelectionBudget};
pub use selection_budget::{FIELD_REPEATED, FRAGMENT_CYCLE, QUERY_TOO_COMPLEX, WALK_CEILING};

/// The `slow_query_threshold` default: one second.
pub const DEFAULT_SLOW_QUERY_THRESHOLD: Duration = Duration::from_secs(1);

/// The `max_field_occurrences` default: how often one field coordinate (`Type.field`, aliases
/// included) may be selected in one request.
pub const DEFAULT_MAX_FIELD_OCCURRENCES: usize = 10;

/// The price [`GraphqlLimits::mfa_costs`] gives fields doing Argon2id hashing or sending
/// messages (an ordinary field costs 1).
pub const EXPENSIVE_FIELD_COST: usize = 50;

/// The generated MFA mutations and their price: backup-code sets are ten Argon2id hashes,
/// checking a backup code up to ten verifications, SMS cost money.
const MFA_MUTATION_COSTS: [(&str, usize); 10] = [
    ("setupTotp", 2 * EXPENSIVE_FIELD_COST),
    ("verifyTotp", 5),
    ("setupSms", EXPENSIVE_FIELD_COST),
    ("sendSmsCode", EXPENSIVE_FIELD_COST),
    ("verifySms", 5),
    ("generateBackupCodes", 2 * EXPENSIVE_FIELD_COST),
    ("verifyBackupCode", EXPENSIVE_FIELD_COST),
    ("revokeTrustedDevice", 5),
    ("removeMfaDevice", 5),
    ("disableMfa", 5),
];

/// What a declared field costs and how often it may be selected per request
/// ([`GraphqlLimits::field_cost`], [`GraphqlLimits::field_max_occurrences`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldRule {
    /// Its price in the `max_complexity` budget (an undeclared field costs 1; 0 counts as 1).
    pub cost: usize,
    /// Its own occurrence limit, replacing `max_field_occurrences` for it.
    pub max_occurrences: Option<usize>,
}

impl Default for FieldRule {
    fn default() -> Self {
        Self { cost: 1, max_occurrences: None }
    }
}

/// Limits applied to a schema. [`development`](Self::development) keeps introspection, field
/// suggestions and GraphiQL for tooling; [`production`](Self::production) turns them off.
///
/// Besides async-graphql's depth and complexity checks, [`apply`](Self::apply) installs a
/// selection budget that walks each parsed document once, before async-graphql's own checks
/// and before any resolver runs (fragments expanded; every operation of the document, each
/// against its own budget; an exponential fragment fan-out ends the walk, at
/// [`WALK_CEILING`] selections when no `max_complexity` is set). Every
/// selected field counts, aliases and `__typename` included, at its declared
/// [`cost`](FieldRule::cost) (else 1), against `max_complexity`; and each field coordinate
/// `Type.field` may be selected at most `max_field_occurrences` times (or its own
/// [`max_occurrences`](FieldRule::max_occurrences)). `@skip`/`@include` are not evaluated: a
/// skipped field still counts. A refused document gets one GraphQL error, nothing executes:
///
/// | `extensions.code` | when | other extensions |
/// |---|---|---|
/// | [`QUERY_TOO_COMPLEX`] | the selections cost more than `max_complexity` | `limit` |
/// | [`FIELD_REPEATED`] | a coordinate is selected too often | `field` (`Type.field`), `limit` |
/// | [`FRAGMENT_CYCLE`] | a fragment spreads itself, directly or not | `fragment` |
///
/// Each refusal is logged once as a warning (target `rail_graphql_security::query_limits`,
/// with the request id) and audited once as `suspicious_activity` (`activity_type`
/// `query_too_complex` / `field_repeated` / `fragment_cycle`) when the request data holds an [`AuditLogger`]
/// (as `http::graphql_router` provides).
///
/// [`AuditLogger`]: crate::audit::AuditLogger
///
/// ```
/// use rail_graphql_security::graphql::GraphqlLimits;
///
/// // Two Argon2 hashes per call: priced, and once per request.
/// let limits = GraphqlLimits::production()
///     .field_cost("Mutation.login", 50)
///     .field_max_occurrences("Mutation.login", 1);
/// assert_eq!(limits.max_field_occurrences, Some(10));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphqlLimits {
    /// Deepest selection nesting allowed.
    pub max_depth: Option<usize>,
    /// Highest query cost allowed: every selected field (aliases and `__typename` included) at
    /// its declared cost, 1 by default.
    pub max_complexity: Option<usize>,
    /// How often one field coordinate (`Type.field`) may be selected in one request.
    pub max_field_occurrences: Option<usize>,
    /// Declared costs and occurrence limits by field coordinate (`"Mutation.login"`).
    pub field_rules: BTreeMap<String, FieldRule>,
    /// Whether `__schema` / `__type` queries are answered; without introspection, validation
    /// errors do not suggest field names either ("Did you mean …?" would reveal the schema).
    pub introspection: bool,
    /// Whether the HTTP layer serves GraphiQL.
    pub graphiql: bool,
}

impl GraphqlLimits {
    /// Depth 15, complexity 1000, 10 occurrences per field, introspection, suggestions and
    /// GraphiQL on.
    pub fn development() -> Self {
        Self {
            max_depth: Some(15),
            max_complexity: Some(1000),
            max_field_occurrences: Some(DEFAULT_MAX_FIELD_OCCURRENCES),
            field_rules: BTreeMap::new(),
            introspection: true,
            graphiql: true,
        }
    }

    /// Depth 10, complexity 500, 10 occurrences per field, introspection, suggestions and
    /// GraphiQL off.
    pub fn production() -> Self {
        Self {
            max_depth: Some(10),
            max_complexity: Some(500),
            max_field_occurrences: Some(DEFAULT_MAX_FIELD_OCCURRENCES),
            field_rules: BTreeMap::new(),
            introspection: false,
            graphiql: false,
        }
    }

    /// Prices `coordinate` (`"Type.field"`, as the schema names them) at `cost` in the
    /// `max_complexity` budget, for fields that hash, send messages or write.
    pub fn field_cost(mut self, coordinate: impl Into<String>, cost: usize) -> Self {
        self.field_rules.entry(coordinate.into()).or_default().cost = cost;
        self
    }

    /// Lets `coordinate` be selected at most `max` times per request (instead of
    /// `max_field_occurrences`).
    pub fn field_max_occurrences(mut self, coordinate: impl Into<String>, max: usize) -> Self {
        self.field_rules.entry(coordinate.into()).or_default().max_occurrences = Some(max);
        self
    }

    /// Prices the generated MFA mutations (see [`crate::mfa::graphql`]) on the mutation root
    /// named `mutation_type` (usually `"Mutation"`): those that hash with Argon2id or send an
    /// SMS cost [`EXPENSIVE_FIELD_COST`], and every mutation that changes or checks a factor may
    /// run once per request.
    pub fn mfa_costs(mut self, mutation_type: &str) -> Self {
        for (field, cost) in MFA_MUTATION_COSTS {
            self = self
                .field_cost(format!("{mutation_type}.{field}"), cost)
                .field_max_occurrences(format!("{mutation_type}.{field}"), 1);
        }
        self
    }

    /// Applies the limits to a schema builder: depth, complexity, introspection and field
    /// suggestions, and the selection budget (see the type's documentation).
    pub fn apply<Q, M, S>(&self, mut builder: SchemaBuilder<Q, M, S>) -> SchemaBuilder<Q, M, S>
    where
        Q: ObjectType + 'static,
        M: ObjectType + 'static,
        S: SubscriptionType + 'static,
    {
        if let Some(depth) = self.max_depth {
            builder = builder.limit_depth(depth);
        }
        if let Some(complexity) = self.max_complexity {
            builder = builder.limit_complexity(complexity);
        }
        if !self.introspection {
            builder = builder.disable_introspection().disable_suggestions();
        }
        // Installed even without limits: async-graphql's parse-step recursion check and its
        // depth and complexity visitors expand fragments inline, so fragments spreading the
        // next one twice (or a cycle) cost 2^n there; the walk refuses them first.
        builder.extension(SelectionBudget::new(Budget::new(self)))
    }
}

/// An extension that logs operations slower than a threshold (`slow_query_threshold`) as a
/// `tracing` warning (target `rail_graphql_security::slow_query`) with the operation name, the
/// duration, the user and the request id. The query text is not logged: literals may hold
/// secrets.
#[derive(Debug, Clone)]
pub struct SlowQueryLog {
    threshold: Duration,
    slow: Arc<AtomicU64>,
}

impl SlowQueryLog {
    /// Logs operations taking longer than `threshold`.
    pub fn new(threshold: Duration) -> Self {
        Self { threshold, slow: Arc::default() }
    }

    /// How many slow operations were seen (shared by clones, for metrics).
    pub fn slow_operations(&self) -> u64 {
        self.slow.load(Ordering::Relaxed)
    }
}

impl ExtensionFactory for SlowQueryLog {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Extension for SlowQueryLog {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let started = Instant::now();
        let response = next.run(ctx, operation_name).await;
        let elapsed = started.elapsed();
        if elapsed > self.threshold {
            self.slow.fetch_add(1, Ordering::Relaxed);
            let security = ctx.data_opt::<SecurityContext>();
            tracing::warn!(
                target: "rail_graphql_security::slow_query",
                operation = operation_name.unwrap_or("<anonymous>"),
                duration_ms = elapsed.as_millis() as u64,
                threshold_ms = self.threshold.as_millis() as u64,
                user_id = security.and_then(|s| s.principal.as_ref()).map(|p| p.id.as_str()),
                request_id = security.and_then(|s| s.request_id.as_deref()),
                errors = response.errors.len(),
                "slow GraphQL operation"
            );
        }
        response
    }
}
