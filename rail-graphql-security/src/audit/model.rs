//! Audit events for writes through SeaORM models: `data_created`, `data_updated` (with a
//! field-level diff) and `data_deleted`.
//!
//! Put `#[audited]` on the model struct (choosing masked fields) and on your
//! `impl ActiveModelBehavior for ActiveModel` block (your own hook logic is kept and runs
//! first):
//!
//! ```
//! # mod note {
//! use rail_graphql_security::audited;
//! use sea_orm::entity::prelude::*;
//!
//! #[audited(exclude(pin))]
//! #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
//! #[sea_orm(table_name = "notes")]
//! pub struct Model {
//!     #[sea_orm(primary_key)]
//!     pub id: i32,
//!     pub body: String,
//!     pub pin: String,
//! }
//!
//! #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
//! pub enum Relation {}
//!
//! #[audited]
//! impl ActiveModelBehavior for ActiveModel {}
//! # }
//! ```
//!
//! Who made the change comes from the [`AuditScope`] of the running task: the HTTP layer's
//! GraphQL handler sets one per request, [`AuditScopeExtension`] does it for any
//! async-graphql schema, and [`AuditScope::run`] for your own jobs. Writes outside any scope
//! go to the logger installed with [`set_default_logger`], with no actor; without one they
//! are not audited (a warning is traced once).
//!
//! What is captured: `ActiveModel::insert`, `update`, `save` and `delete` (the calls that run
//! SeaORM's `ActiveModelBehavior` hooks). What is NOT captured, because SeaORM runs no hooks
//! for it: `Entity::insert_many`, `Entity::update_many`, `Entity::delete_many`,
//! `ActiveModel::update_without_returning` (runs `before_save` only), `Entity::insert(..)
//! .exec(..)` and raw SQL — audit those yourself with [`AuditLogger::log`].
//! An update costs one extra `SELECT` of the row (for the old values), a delete one too (for
//! the deleted values). Events are logged after the statement succeeded; a write inside a
//! transaction that is later rolled back is still reported.

use std::any::TypeId;
use std::future::Future;
use std::sync::{Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use sea_orm::sea_query::{ValueTuple, sea_value_to_json_value};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IdenStatic, Iterable, ModelTrait,
    PrimaryKeyToColumn, QueryFilter,
};
use serde_json::{Map, Value, json};

use super::{AuditEvent, AuditEventType, AuditLogger, MASK};

/// Implemented by `#[audited]` on a SeaORM model struct: which columns are masked in events.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an audited model",
    label = "add `#[audited]` above `#[derive(DeriveEntityModel)]` on this model's struct",
    note = "`#[audited]` on `impl ActiveModelBehavior` needs `#[audited]` on the model struct too"
)]
pub trait AuditedModel: ModelTrait {
    /// Column names whose values are written as `"***"` (the fact that they changed is kept).
    const MASKED_COLUMNS: &'static [&'static str];
}

/// Who is acting in the current task, and where their model writes are logged.
#[derive(Debug, Clone)]
pub struct AuditScope {
    logger: AuditLogger,
    actor_id: Option<String>,
    actor_name: Option<String>,
    client_ip: Option<std::net::IpAddr>,
    user_agent: Option<String>,
    request_id: Option<String>,
}

tokio::task_local! {
    static SCOPE: AuditScope;
}

impl AuditScope {
    /// A scope with no actor (a background job, a migration script) logging to `logger`.
    pub fn new(logger: AuditLogger) -> Self {
        Self { logger, actor_id: None, actor_name: None, client_ip: None, user_agent: None, request_id: None }
    }

    /// A scope acting for `actor` (if any) from `client_ip` with `user_agent` and `request_id`:
    /// what [`AuditScope::from_security`] reads out of a request's context.
    pub(crate) fn for_request(
        logger: AuditLogger,
        actor: Option<&dyn super::AuditUser>,
        client_ip: Option<std::net::IpAddr>,
        user_agent: Option<String>,
        request_id: Option<String>,
    ) -> Self {
        Self {
            logger,
            actor_id: actor.map(|a| a.audit_id()),
            actor_name: actor.and_then(|a| a.audit_name()),
            client_ip,
            user_agent,
            request_id,
        }
    }

    /// Runs `future` with this scope: model writes inside it (in this task) are logged with it.
    pub async fn run<F: Future>(self, future: F) -> F::Output {
        SCOPE.scope(self, future).await
    }

    /// The scope of the running task, if any.
    pub fn current() -> Option<AuditScope> {
        SCOPE.try_with(Clone::clone).ok()
    }

    fn event(&self, event_type: AuditEventType) -> AuditEvent {
        let mut event = AuditEvent::new(event_type)
            .client_ip(self.client_ip)
            .user_agent(self.user_agent.clone())
            .request_id(self.request_id.clone());
        event.actor_id = self.actor_id.clone();
        event.actor_name = self.actor_name.clone();
        event
    }
}

fn default_logger() -> &'static RwLock<Option<AuditLogger>> {
    static DEFAULT: OnceLock<RwLock<Option<AuditLogger>>> = OnceLock::new();
    DEFAULT.get_or_init(|| RwLock::new(None))
}

/// Installs (or with `None`, removes) the logger for model writes made outside any
/// [`AuditScope`]; their events have no actor.
pub fn set_default_logger(logger: Option<AuditLogger>) {
    *default_logger().write().unwrap_or_else(|poisoned| poisoned.into_inner()) = logger;
}

fn active_scope() -> Option<AuditScope> {
    if let Some(scope) = AuditScope::current() {
        return Some(scope);
    }
    let logger = default_logger().read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
    match logger {
        Some(logger) => Some(AuditScope::new(logger)),
        None => {
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| {
                tracing::warn!(
                    "an audited model was written outside any AuditScope and no default logger is set: \
                     the write is not audited (see rail_graphql_security::audit::model)"
                );
            });
            None
        }
    }
}

/// An async-graphql extension that runs each operation inside an [`AuditScope`] built from
/// the request's [`AuditLogger`] and [`SecurityContext`](crate::context::SecurityContext) data,
/// so audited models written by resolvers know who wrote them. (The `http` module's GraphQL
/// handler already does this.)
// The extension impls live in `context::audit_scope`, next to the request context they read,
// so that `audit` does not depend on `context`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditScopeExtension;

/// Values read in `before_*` hooks, waiting for their `after_*` hook in the same task.
type PendingKey = (TypeId, String, String);
type Pending = std::collections::HashMap<PendingKey, (Instant, Map<String, Value>)>;

fn pending() -> &'static Mutex<Pending> {
    static PENDING: OnceLock<Mutex<Pending>> = OnceLock::new();
    PENDING.get_or_init(Default::default)
}

/// Entries whose `after_*` hook never ran (the statement failed) are dropped after this.
const PENDING_TTL: Duration = Duration::from_secs(300);

fn task_key() -> String {
    match tokio::task::try_id() {
        Some(id) => format!("task-{id}"),
        None => format!("{:?}", std::thread::current().id()),
    }
}

fn stash<E: EntityTrait>(pk: &Value, snapshot: Map<String, Value>) {
    let mut pending = pending().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if pending.len() >= 1024 {
        pending.retain(|_, (at, _)| at.elapsed() < PENDING_TTL);
    }
    pending.insert((TypeId::of::<E>(), pk.to_string(), task_key()), (Instant::now(), snapshot));
}

fn take<E: EntityTrait>(pk: &Value) -> Option<Map<String, Value>> {
    let mut pending = pending().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    pending.remove(&(TypeId::of::<E>(), pk.to_string(), task_key())).map(|(_, snapshot)| snapshot)
}

fn pk_json(tuple: ValueTuple) -> Value {
    let mut values: Vec<Value> = tuple.into_iter().map(|value| sea_value_to_json_value(&value)).collect();
    if values.len() == 1 { values.pop().unwrap_or(Value::Null) } else { Value::Array(values) }
}

fn model_pk<M: ModelTrait>(model: &M) -> Value {
    let values: Vec<Value> = <<M::Entity as EntityTrait>::PrimaryKey as Iterable>::iter()
        .map(|key| sea_value_to_json_value(&model.get(key.into_column())))
        .collect();
    if values.len() == 1 { values.into_iter().next().unwrap_or(Value::Null) } else { Value::Array(values) }
}

/// Every column of `model` as JSON, masked columns as `"***"`.
pub fn snapshot<M: AuditedModel>(model: &M) -> Map<String, Value> {
    masked::<M>(raw_snapshot(model))
}

fn raw_snapshot<M: ModelTrait>(model: &M) -> Map<String, Value> {
    <<M::Entity as EntityTrait>::Column as Iterable>::iter()
        .map(|column| (column.as_str().to_owned(), sea_value_to_json_value(&model.get(column))))
        .collect()
}

fn masked<M: AuditedModel>(mut values: Map<String, Value>) -> Map<String, Value> {
    for (name, value) in values.iter_mut() {
        if M::MASKED_COLUMNS.contains(&name.as_str()) {
            *value = Value::String(MASK.to_owned());
        }
    }
    values
}

fn table_name<E: EntityTrait>() -> String {
    E::default().table_name().to_owned()
}

async fn find_by_pk<A, C>(am: &A, db: &C) -> Result<Option<(Value, <A::Entity as EntityTrait>::Model)>, DbErr>
where
    A: ActiveModelTrait,
    C: ConnectionTrait,
{
    let Some(tuple) = am.get_primary_key_value() else { return Ok(None) };
    let mut query = <A::Entity as EntityTrait>::find();
    for (key, value) in <<A::Entity as EntityTrait>::PrimaryKey as Iterable>::iter().zip(tuple.clone()) {
        query = query.filter(key.into_column().eq(value));
    }
    Ok(query.one(db).await?.map(|model| (pk_json(tuple), model)))
}

/// Hook for `before_save`: on an update, reads the row's current values for the diff.
pub async fn before_save<A, C>(am: &A, db: &C, insert: bool) -> Result<(), DbErr>
where
    A: ActiveModelTrait,
    <A::Entity as EntityTrait>::Model: AuditedModel,
    C: ConnectionTrait,
{
    if insert || active_scope().is_none() {
        return Ok(());
    }
    if let Some((pk, old)) = find_by_pk(am, db).await? {
        stash::<A::Entity>(&pk, raw_snapshot(&old));
    }
    Ok(())
}

/// Hook for `after_save`: logs `data_created` with every column, or `data_updated` with the
/// changed columns' old and new values.
pub async fn after_save<M: AuditedModel>(model: &M, insert: bool) {
    let Some(scope) = active_scope() else { return };
    let table = table_name::<M::Entity>();
    let pk = model_pk(model);
    let new = raw_snapshot(model);
    let event = if insert {
        scope
            .event(AuditEventType::DataCreated)
            .details(json!({ "model": table, "id": pk, "fields": masked::<M>(new) }))
    } else {
        // Without the old values (the row was not found before the update) every column is
        // reported with `old: null`.
        let old = take::<M::Entity>(&pk).unwrap_or_default();
        let masked_column = |name: &str| M::MASKED_COLUMNS.contains(&name);
        let changes: Map<String, Value> = new
            .into_iter()
            .filter(|(name, value)| old.get(name) != Some(value))
            .map(|(name, value)| {
                let before = old.get(&name).cloned().unwrap_or(Value::Null);
                let change = if masked_column(&name) {
                    json!({ "old": MASK, "new": MASK })
                } else {
                    json!({ "old": before, "new": value })
                };
                (name, change)
            })
            .collect();
        scope.event(AuditEventType::DataUpdated).details(json!({ "model": table, "id": pk, "changes": changes }))
    };
    scope.logger.log(event);
}

/// Hook for `before_delete`: reads the row so the event can say what was deleted.
pub async fn before_delete<A, C>(am: &A, db: &C) -> Result<(), DbErr>
where
    A: ActiveModelTrait,
    <A::Entity as EntityTrait>::Model: AuditedModel,
    C: ConnectionTrait,
{
    if active_scope().is_none() {
        return Ok(());
    }
    if let Some((pk, old)) = find_by_pk(am, db).await? {
        stash::<A::Entity>(&pk, raw_snapshot(&old));
    }
    Ok(())
}

/// Hook for `after_delete`: logs `data_deleted` with the deleted row's values.
pub async fn after_delete<A>(am: &A)
where
    A: ActiveModelTrait,
    <A::Entity as EntityTrait>::Model: AuditedModel,
{
    let Some(scope) = active_scope() else { return };
    let Some(tuple) = am.get_primary_key_value() else { return };
    let pk = pk_json(tuple);
    let fields = take::<A::Entity>(&pk)
        .map(|values| Value::Object(masked::<<A::Entity as EntityTrait>::Model>(values)))
        .unwrap_or(Value::Null);
    let table = table_name::<A::Entity>();
    scope
        .logger
        .log(scope.event(AuditEventType::DataDeleted).details(json!({ "model": table, "id": pk, "fields": fields })));
}
