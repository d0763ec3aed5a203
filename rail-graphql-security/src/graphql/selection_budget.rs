//! The selection budget: one walk over the parsed document, before validation and before any
//! resolver runs, that prices every selected field (aliases and `__typename` included,
//! fragments expanded) and counts how often each field coordinate (`Type.field`) is selected.
//!
//! async-graphql's own complexity limit runs later, skips `__typename` and knows no per-field
//! price or repetition limit: 1,000 aliases of an audited field or 20 of an Argon2-hashing
//! mutation passed it. This walk refuses them with one error and one audit event.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest};
use async_graphql::parser::types::{
    ExecutableDocument, FragmentDefinition, OperationDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::registry::{MetaTypeName, Registry};
use async_graphql::{ErrorExtensionValues, Name, Positioned, Request, ServerError, ServerResult, Variables};
use serde_json::json;

use super::{FieldRule, GraphqlLimits};
use crate::audit::AuditLogger;
use crate::context::SecurityContext;

/// The error code of a document whose selections cost more than `max_complexity`.
pub const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";
/// The error code of a document selecting one field coordinate more often than allowed.
pub const FIELD_REPEATED: &str = "FIELD_REPEATED";

/// The error code of a document whose fragments spread themselves.
pub const FRAGMENT_CYCLE: &str = "FRAGMENT_CYCLE";

/// How far the walk goes when no `max_complexity` is set: it must end even on a document whose
/// fragments multiply (each spreading the next twice).
pub const WALK_CEILING: usize = 100_000;

/// What the walk enforces, shared by every request's extension instance.
#[derive(Debug)]
pub(super) struct Budget {
    max_cost: Option<usize>,
    max_occurrences: Option<usize>,
    rules: BTreeMap<String, FieldRule>,
}

impl Budget {
    pub(super) fn new(limits: &GraphqlLimits) -> Self {
        Self {
            max_cost: limits.max_complexity,
            max_occurrences: limits.max_field_occurrences,
            rules: limits.field_rules.clone(),
        }
    }
}

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    TooComplex { limit: usize },
    Repeated { coordinate: String, limit: usize },
    Cycle { fragment: String },
}

impl Refusal {
    fn code(&self) -> &'static str {
        match self {
            Self::TooComplex { .. } => QUERY_TOO_COMPLEX,
            Self::Repeated { .. } => FIELD_REPEATED,
            Self::Cycle { .. } => FRAGMENT_CYCLE,
        }
    }

    fn message(&self) -> String {
        match self {
            Self::TooComplex { limit } => {
                format!("query too complex: its selections cost more than {limit}; split it into smaller requests")
            }
            Self::Repeated { coordinate, limit } => {
                format!("`{coordinate}` is selected more than {limit} times in one request; send fewer aliases of it")
            }
            Self::Cycle { fragment } => format!("fragment `{fragment}` spreads itself; remove the cycle"),
        }
    }

    fn server_error(&self) -> ServerError {
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", self.code());
        match self {
            Self::TooComplex { limit } => extensions.set("limit", *limit as u64),
            Self::Repeated { coordinate, limit } => {
                extensions.set("field", coordinate.as_str());
                extensions.set("limit", *limit as u64);
            }
            Self::Cycle { fragment } => extensions.set("fragment", fragment.as_str()),
        }
        let mut error = ServerError::new(self.message(), None);
        error.extensions = Some(extensions);
        error
    }
}

/// One walk over a document.
struct Walk<'a> {
    budget: &'a Budget,
    registry: &'a Registry,
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    ceiling: usize,
    cost: usize,
    /// Fields, fragment spreads and inline fragments visited: bounds the walk even where
    /// spreads select nothing priced.
    visited: usize,
    occurrences: HashMap<String, usize>,
    spreading: Vec<&'a str>,
}

impl<'a> Walk<'a> {
    fn new(budget: &'a Budget, registry: &'a Registry, document: &'a ExecutableDocument) -> Self {
        Self {
            budget,
            registry,
            fragments: &document.fragments,
            ceiling: budget.max_cost.unwrap_or(WALK_CEILING).min(WALK_CEILING),
            cost: 0,
            visited: 0,
            occurrences: HashMap::new(),
            spreading: Vec::new(),
        }
    }

    fn operation(&mut self, operation: &'a OperationDefinition) -> Result<(), Refusal> {
        let root = match operation.ty {
            OperationType::Query => Some(self.registry.query_type.as_str()),
            OperationType::Mutation => self.registry.mutation_type.as_deref(),
            OperationType::Subscription => self.registry.subscription_type.as_deref(),
        };
        self.selections(root, &operation.selection_set.node)
    }

    fn visit(&mut self) -> Result<(), Refusal> {
        self.visited += 1;
        if self.visited > self.ceiling {
            return Err(Refusal::TooComplex { limit: self.ceiling });
        }
        Ok(())
    }

    fn selections(&mut self, parent: Option<&'a str>, set: &'a SelectionSet) -> Result<(), Refusal> {
        for selection in &set.items {
            self.visit()?;
            match &selection.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    let coordinate = format!("{}.{name}", parent.unwrap_or("?"));
                    let rule = self.budget.rules.get(&coordinate);
                    self.cost = self.cost.saturating_add(rule.map_or(1, |rule| rule.cost.max(1)));
                    if self.cost > self.ceiling {
                        return Err(Refusal::TooComplex { limit: self.ceiling });
                    }
                    let limit = rule.and_then(|rule| rule.max_occurrences).or(self.budget.max_occurrences);
                    let seen = self.occurrences.entry(coordinate).or_insert(0);
                    *seen += 1;
                    if let Some(limit) = limit
                        && *seen > limit
                    {
                        let coordinate = format!("{}.{name}", parent.unwrap_or("?"));
                        return Err(Refusal::Repeated { coordinate, limit });
                    }
                    let children = &field.node.selection_set.node;
                    if !children.items.is_empty() {
                        self.selections(self.field_type(parent, name), children)?;
                    }
                }
                Selection::InlineFragment(fragment) => {
                    let on = fragment.node.type_condition.as_ref().map(|c| c.node.on.node.as_str());
                    self.selections(on.or(parent), &fragment.node.selection_set.node)?;
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    // Validation reports unknown fragments. A cycle is refused here: the
                    // parse step's recursion check would follow `...N ...N` 2^32 times first.
                    let Some(fragment) = self.fragments.get(name) else { continue };
                    if self.spreading.contains(&name) {
                        return Err(Refusal::Cycle { fragment: name.to_owned() });
                    }
                    self.spreading.push(name);
                    let on = fragment.node.type_condition.node.on.node.as_str();
                    self.selections(Some(on), &fragment.node.selection_set.node)?;
                    self.spreading.pop();
                }
            }
        }
        Ok(())
    }

    /// The named type of `parent.field`, when the schema knows it (validation refuses unknown
    /// fields later; their children are priced under `?`).
    fn field_type(&self, parent: Option<&str>, field: &str) -> Option<&'a str> {
        match field {
            "__schema" => return Some("__Schema"),
            "__type" => return Some("__Type"),
            _ => {}
        }
        let meta = self.registry.concrete_type_by_name(parent?)?.field_by_name(field)?;
        Some(MetaTypeName::concrete_typename(&meta.ty))
    }
}

/// Walks every operation of the document, each against its own budget (the visit ceiling is
/// shared): async-graphql's parse step follows the spreads of all of them, whichever one runs.
fn check(budget: &Budget, registry: &Registry, document: &ExecutableDocument) -> Result<(), Refusal> {
    let mut walk = Walk::new(budget, registry, document);
    for (_, operation) in document.operations.iter() {
        walk.cost = 0;
        walk.occurrences.clear();
        walk.operation(&operation.node)?;
    }
    Ok(())
}

/// The extension [`GraphqlLimits::apply`] installs.
#[derive(Debug)]
pub(super) struct SelectionBudget {
    budget: Arc<Budget>,
}

impl SelectionBudget {
    pub(super) fn new(budget: Budget) -> Self {
        Self { budget: Arc::new(budget) }
    }
}

impl ExtensionFactory for SelectionBudget {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(BudgetCheck { budget: self.budget.clone(), verdict: Mutex::default() })
    }
}

/// One request's instance. The walk runs in `prepare_request` on the document parsed there
/// (and handed on, so it is parsed once): async-graphql's parse step also checks the recursion
/// depth by following every spread, which is as exponential as the fan-out it should stop.
/// The refusal is returned from `parse_query`, where the request data (audit logger, security
/// context) is available, without running that step.
struct BudgetCheck {
    budget: Arc<Budget>,
    verdict: Mutex<Option<(Refusal, Option<String>)>>,
}

#[async_trait::async_trait]
impl Extension for BudgetCheck {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let mut request = next.run(ctx, request).await?;
        let operation_name = request.operation_name.clone();
        // A syntax error is left to async-graphql's parse step to report.
        let refusal = match request.parsed_query() {
            Ok(document) => check(&self.budget, &ctx.schema_env.registry, document).err(),
            Err(_) => None,
        };
        *self.verdict.lock().unwrap_or_else(PoisonError::into_inner) = refusal.map(|r| (r, operation_name));
        Ok(request)
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let verdict = self.verdict.lock().unwrap_or_else(PoisonError::into_inner).take();
        match verdict {
            None => next.run(ctx, query, variables).await,
            Some((refusal, operation_name)) => {
                report(ctx, &refusal, operation_name.as_deref());
                Err(refusal.server_error())
            }
        }
    }
}

/// One warning and one `suspicious_activity` audit event per refused request.
fn report(ctx: &ExtensionContext<'_>, refusal: &Refusal, operation_name: Option<&str>) {
    let security = ctx.data_opt::<SecurityContext>();
    let request_id = security.and_then(|s| s.request_id.as_deref());
    let field = match refusal {
        Refusal::Repeated { coordinate, .. } => Some(coordinate.as_str()),
        Refusal::TooComplex { .. } | Refusal::Cycle { .. } => None,
    };
    tracing::warn!(
        target: "rail_graphql_security::query_limits",
        code = refusal.code(),
        field,
        operation = operation_name.unwrap_or("<anonymous>"),
        user_id = security.and_then(|s| s.principal.as_ref()).map(|p| p.id.as_str()),
        request_id,
        "GraphQL document refused before execution"
    );
    if let Some(logger) = ctx.data_opt::<AuditLogger>() {
        let user = security.and_then(|s| s.principal.as_ref()).map(|p| p as &dyn crate::audit::AuditUser);
        let (limit, fragment) = match refusal {
            Refusal::TooComplex { limit } | Refusal::Repeated { limit, .. } => (Some(*limit), None),
            Refusal::Cycle { fragment } => (None, Some(fragment.as_str())),
        };
        logger.log_suspicious_activity(
            user,
            security.and_then(|s| s.client_ip),
            &refusal.code().to_ascii_lowercase(),
            json!({ "field": field, "fragment": fragment, "limit": limit, "operation": operation_name, "request_id": request_id }),
        );
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptySubscription, Object, Schema};

    use super::*;

    struct Query;
    #[Object]
    impl Query {
        async fn a(&self) -> i32 {
            1
        }
        async fn me(&self) -> Me {
            Me
        }
    }
    struct Me;
    #[Object]
    impl Me {
        async fn name(&self) -> &str {
            "x"
        }
    }
    struct Mutation;
    #[Object]
    impl Mutation {
        async fn expensive(&self) -> bool {
            true
        }
    }

    /// `Ok(())` when `query` passed the budget, else `(code, field, limit)` of its refusal.
    async fn run(limits: &GraphqlLimits, query: &str, operation: Option<&str>) -> Result<(), (String, String, u64)> {
        let schema = limits.apply(Schema::build(Query, Mutation, EmptySubscription)).finish();
        let mut request = Request::new(query);
        if let Some(operation) = operation {
            request = request.operation_name(operation);
        }
        let response = schema.execute(request).await;
        let Some(error) = response.errors.first() else { return Ok(()) };
        let extensions = error.extensions.as_ref().map(|e| serde_json::to_value(e).expect("extensions serialize"));
        let extensions = extensions.unwrap_or_default();
        match extensions["code"].as_str() {
            Some(code @ (QUERY_TOO_COMPLEX | FIELD_REPEATED | FRAGMENT_CYCLE)) => Err((
                code.to_owned(),
                extensions["field"].as_str().unwrap_or_default().to_owned(),
                extensions["limit"].as_u64().unwrap_or_default(),
            )),
            // Another error (validation): the budget let the document through.
            _ => Ok(()),
        }
    }

    fn repeated(field: &str, limit: u64) -> Result<(), (String, String, u64)> {
        Err((FIELD_REPEATED.to_owned(), field.to_owned(), limit))
    }

    fn too_complex(limit: u64) -> Result<(), (String, String, u64)> {
        Err((QUERY_TOO_COMPLEX.to_owned(), String::new(), limit))
    }

    fn limits(cost: usize, occurrences: usize) -> GraphqlLimits {
        GraphqlLimits {
            max_complexity: Some(cost),
            max_field_occurrences: Some(occurrences),
            ..GraphqlLimits::development()
        }
    }

    #[tokio::test]
    async fn aliases_and_typename_are_counted() {
        let typenames = (0..11).map(|i| format!("t{i}: __typename")).collect::<Vec<_>>().join(" ");
        assert_eq!(run(&limits(1000, 10), &format!("{{ {typenames} }}"), None).await, repeated("Query.__typename", 10));
        let many = (0..5).map(|i| format!("a{i}: a t{i}: __typename")).collect::<Vec<_>>().join(" ");
        assert_eq!(run(&limits(9, 10), &format!("{{ {many} }}"), None).await, too_complex(9));
        assert_eq!(run(&limits(10, 10), &format!("{{ {many} }}"), None).await, Ok(()));
    }

    #[tokio::test]
    async fn fragments_are_expanded_under_their_type_and_cycles_end() {
        let query = "{ ...F me { ...N } } fragment F on Query { me { name } } fragment N on Me { name n2: name }";
        assert_eq!(run(&limits(100, 1), query, None).await, repeated("Query.me", 1));
        assert_eq!(run(&limits(100, 2), query, None).await, repeated("Me.name", 2));
        assert_eq!(run(&limits(100, 3), query, None).await, Ok(()));
        // A cycle, spread twice per step: async-graphql's parse step would follow it 2^32 times.
        let cycle = "{ me { ...N } } fragment N on Me { name ...M ...M } fragment M on Me { ...N ...N }";
        let unlimited =
            GraphqlLimits { max_complexity: None, max_field_occurrences: None, ..GraphqlLimits::development() };
        assert_eq!(run(&unlimited, cycle, None).await, Err((FRAGMENT_CYCLE.to_owned(), String::new(), 0)));
        // Each fragment spreads the next twice: 2^30 fields if expanded (async-graphql's
        // complexity visitor would, in validation, even with every limit off); the walk stops.
        let mut blowup = String::from("{ ...F0 }");
        for i in 0..30 {
            blowup.push_str(&format!(" fragment F{i} on Query {{ ...F{n} ...F{n} }}", n = i + 1));
        }
        blowup.push_str(" fragment F30 on Query { a }");
        assert_eq!(run(&unlimited, &blowup, None).await, too_complex(WALK_CEILING as u64));
        assert_eq!(run(&limits(50, 1000), &blowup, None).await, too_complex(50));
    }

    #[tokio::test]
    async fn declared_costs_and_occurrences_apply_to_their_coordinate_and_the_chosen_operation() {
        let declared =
            limits(100, 10).field_cost("Mutation.expensive", 40).field_max_occurrences("Mutation.expensive", 1);
        assert_eq!(run(&declared, "mutation { expensive }", None).await, Ok(()));
        assert_eq!(
            run(&declared, "mutation { a: expensive b: expensive }", None).await,
            repeated("Mutation.expensive", 1)
        );
        let priced = limits(100, 10).field_cost("Mutation.expensive", 40);
        assert_eq!(run(&priced, "mutation { a: expensive b: expensive }", None).await, Ok(()));
        assert_eq!(run(&priced, "mutation { a: expensive b: expensive c: expensive }", None).await, too_complex(100));
        // Each operation has its own budget, and every operation is walked (async-graphql's
        // parse step follows the spreads of all of them).
        let two = "query Small { a: expensive } mutation Big { expensive }";
        assert_eq!(run(&declared, two, Some("Big")).await, Ok(()));
        let two = "query Small { a } mutation Big { a: expensive b: expensive }";
        assert_eq!(run(&declared, two, Some("Small")).await, repeated("Mutation.expensive", 1));
    }
}
