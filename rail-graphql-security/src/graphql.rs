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

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::{ObjectType, Response, SchemaBuilder, SubscriptionType};

use crate::context::SecurityContext;

/// The `slow_query_threshold` default: one second.
pub const DEFAULT_SLOW_QUERY_THRESHOLD: Duration = Duration::from_secs(1);

/// Limits applied to a schema. [`development`](Self::development) keeps introspection and
/// GraphiQL for tooling; [`production`](Self::production) turns both off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphqlLimits {
    /// Deepest selection nesting allowed.
    pub max_depth: Option<usize>,
    /// Highest query complexity allowed (one per field unless a field says otherwise).
    pub max_complexity: Option<usize>,
    /// Whether `__schema` / `__type` queries are answered.
    pub introspection: bool,
    /// Whether the HTTP layer serves GraphiQL.
    pub graphiql: bool,
}

impl GraphqlLimits {
    /// Depth 15, complexity 1000, introspection and GraphiQL on.
    pub fn development() -> Self {
        Self { max_depth: Some(15), max_complexity: Some(1000), introspection: true, graphiql: true }
    }

    /// Depth 10, complexity 500, introspection and GraphiQL off.
    pub fn production() -> Self {
        Self { max_depth: Some(10), max_complexity: Some(500), introspection: false, graphiql: false }
    }

    /// Applies the depth, complexity and introspection settings to a schema builder.
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
            builder = builder.disable_introspection();
        }
        builder
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
