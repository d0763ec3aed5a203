//! `#[audited]` on SeaORM models: create / update / delete events with a field diff, masked
//! columns, the user's own `ActiveModelBehavior` logic kept, actors from the task's scope —
//! on SQLite, PostgreSQL and MariaDB.

use async_graphql::{EmptySubscription, Object, Schema};
use integration_tests::{Backend, TestDb};
use rail_graphql_security::audit::model::{AuditScope, AuditScopeExtension};
use rail_graphql_security::audit::{AuditEvent, AuditLogger};
use rail_graphql_security::context::{Principal, SecurityContext};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel, Schema as DbSchema, Set};
use serde_json::{Value, json};

mod note {
    use rail_graphql_security::audited;
    use sea_orm::entity::prelude::*;

    #[audited(exclude(pin))]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audited_notes")]
    pub(crate) struct Model {
        #[sea_orm(primary_key)]
        pub(crate) id: i32,
        pub(crate) owner: String,
        pub(crate) body: String,
        pub(crate) pin: String,
        #[audited(secret)]
        #[sea_orm(column_name = "api_token")]
        pub(crate) credential: String,
        pub(crate) locked: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    /// The user's own hooks: normalise the body on save, refuse deleting locked notes.
    #[audited]
    #[async_trait::async_trait]
    impl ActiveModelBehavior for ActiveModel {
        async fn before_save<C>(mut self, _db: &C, _insert: bool) -> Result<Self, DbErr>
        where
            C: ConnectionTrait,
        {
            if let sea_orm::ActiveValue::Set(body) = &self.body {
                let trimmed = body.trim().to_owned();
                self.body = sea_orm::ActiveValue::Set(trimmed);
            }
            Ok(self)
        }

        async fn before_delete<C>(self, _db: &C) -> Result<Self, DbErr>
        where
            C: ConnectionTrait,
        {
            if self.locked.as_ref() == &true {
                return Err(DbErr::Custom("note is locked".into()));
            }
            Ok(self)
        }
    }
}

/// A model with no hooks of its own (the empty `impl` SeaORM's docs show) and a UUID key.
mod tag {
    use rail_graphql_security::audited;
    use sea_orm::entity::prelude::*;

    #[audited]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audited_tags")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub(crate) id: Uuid,
        pub(crate) label: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    #[audited]
    impl ActiveModelBehavior for ActiveModel {}
}

use rail_graphql_security::audit::MemorySink;

async fn create_tables(db: &sea_orm::DatabaseConnection) {
    let schema = DbSchema::new(db.get_database_backend());
    db.execute(&schema.create_table_from_entity(note::Entity)).await.expect("create notes");
    db.execute(&schema.create_table_from_entity(tag::Entity)).await.expect("create tags");
}

fn logger() -> (AuditLogger, MemorySink) {
    let sink = MemorySink::default();
    (AuditLogger::builder().sink(sink.clone()).build(), sink)
}

fn alice_scope(logger: &AuditLogger) -> AuditScope {
    let security = SecurityContext::authenticated(Principal::new("7", "alice"))
        .with_client_ip("203.0.113.9".parse().ok())
        .with_request_id(Some("req-42".to_owned()));
    AuditScope::from_security(logger.clone(), &security)
}

fn new_note(owner: &str) -> note::ActiveModel {
    note::ActiveModel {
        owner: Set(owner.to_owned()),
        body: Set("  first draft  ".to_owned()),
        pin: Set("4711".to_owned()),
        credential: Set("tok_live_SECRET".to_owned()),
        locked: Set(false),
        ..Default::default()
    }
}

async fn crud_round_trip(backend: Backend) {
    let Some(t) = TestDb::new(backend).await else { return };
    create_tables(&t.db).await;
    let (logger, sink) = logger();
    let db = t.db.clone();
    let id = alice_scope(&logger)
        .run(async {
            let created = new_note("alice").insert(&db).await.expect("insert");
            assert_eq!(created.body, "first draft", "the user's before_save still runs");
            let mut edit = created.clone().into_active_model();
            edit.body = Set("second draft".to_owned());
            edit.pin = Set("0000".to_owned());
            let updated = edit.update(&db).await.expect("update");
            updated.into_active_model().delete(&db).await.expect("delete");
            created.id
        })
        .await;

    logger.flush().await.expect("flush the audit logger");
    let events = sink.events();
    let kinds: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(kinds, ["data_created", "data_updated", "data_deleted"], "{backend:?}");
    for event in &events {
        assert_eq!(event.actor_id.as_deref(), Some("7"));
        assert_eq!(event.actor_name.as_deref(), Some("alice"));
        assert_eq!(event.client_ip, "203.0.113.9".parse().ok());
        assert_eq!(event.request_id.as_deref(), Some("req-42"));
        assert_eq!(event.details["model"], "audited_notes");
        assert_eq!(event.details["id"], json!(id));
    }
    let created = &events[0].details["fields"];
    assert_eq!(created["owner"], "alice");
    assert_eq!(created["body"], "first draft", "the event shows what was stored");
    assert_eq!(created["pin"], "***", "exclude(pin) masks the value");
    assert_eq!(created["api_token"], "***", "#[audited(secret)] masks the column");
    assert_eq!(created["locked"], false);

    let changes = events[1].details["changes"].as_object().expect("changes");
    let mut changed: Vec<&str> = changes.keys().map(String::as_str).collect();
    changed.sort();
    assert_eq!(changed, ["body", "pin"], "only changed columns, masked ones included");
    assert_eq!(changes["body"], json!({"old": "first draft", "new": "second draft"}));
    assert_eq!(changes["pin"], json!({"old": "***", "new": "***"}));

    let deleted = &events[2].details["fields"];
    assert_eq!(deleted["body"], "second draft", "the deleted row's last values");
    assert_eq!(deleted["pin"], "***");

    // Without the chain links, whose random hex could contain a short secret by chance.
    let events: Vec<_> = events.iter().cloned().map(integration_tests::unlinked).collect();
    let dump = serde_json::to_string(&events).unwrap() + &format!("{events:?}");
    for secret in ["4711", "0000", "tok_live_SECRET"] {
        assert!(!dump.contains(secret), "{secret} leaked into an event: {dump}");
    }
    logger.shutdown().await.unwrap();
    t.cleanup().await;
}

#[tokio::test]
async fn create_update_delete_are_audited_with_a_diff_on_sqlite() {
    crud_round_trip(Backend::Sqlite).await;
}

#[tokio::test]
async fn create_update_delete_are_audited_with_a_diff_on_postgres() {
    crud_round_trip(Backend::Postgres).await;
}

#[tokio::test]
async fn create_update_delete_are_audited_with_a_diff_on_mariadb() {
    crud_round_trip(Backend::MySql).await;
}

#[tokio::test]
async fn a_delete_refused_by_the_users_hook_is_not_reported_and_keeps_the_row() {
    let t = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    create_tables(&t.db).await;
    let (logger, sink) = logger();
    let db = t.db.clone();
    let outcome = alice_scope(&logger)
        .run(async {
            let mut locked = new_note("alice");
            locked.locked = Set(true);
            let model = locked.insert(&db).await.expect("insert");
            model.into_active_model().delete(&db).await
        })
        .await;
    let error = outcome.expect_err("the user's before_delete refuses");
    assert!(error.to_string().contains("note is locked"), "{error}");
    assert_eq!(note::Entity::find().all(&t.db).await.unwrap().len(), 1);
    logger.flush().await.expect("flush the audit logger");
    let kinds: Vec<String> = sink.events().iter().map(|e| e.event_type.as_str().to_owned()).collect();
    assert_eq!(kinds, ["data_created"]);
    t.cleanup().await;
}

#[tokio::test]
async fn an_update_that_changes_nothing_reports_an_empty_diff_and_uuid_keys_work() {
    let t = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    create_tables(&t.db).await;
    let (logger, sink) = logger();
    let db = t.db.clone();
    let id = uuid::Uuid::new_v4();
    AuditScope::new(logger.clone())
        .run(async {
            let tag = tag::ActiveModel { id: Set(id), label: Set("red".into()) }.insert(&db).await.unwrap();
            let mut same = tag.into_active_model();
            same.label = Set("red".into());
            same.update(&db).await.unwrap();
        })
        .await;
    logger.flush().await.expect("flush the audit logger");
    let events = sink.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].details["id"], json!(id.to_string()));
    assert_eq!(events[0].actor_id, None, "a scope without a request has no actor");
    assert_eq!(events[1].details["changes"], json!({}));
    t.cleanup().await;
}

#[tokio::test]
async fn concurrent_updates_in_many_tasks_each_get_their_own_old_values() {
    let t = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    create_tables(&t.db).await;
    let (logger, sink) = logger();
    let mut ids = Vec::new();
    for n in 0..20 {
        let db = t.db.clone();
        let mut active = new_note(&format!("owner{n}"));
        active.body = Set(format!("v1-{n}"));
        ids.push(AuditScope::new(logger.clone()).run(active.insert(&db)).await.unwrap().id);
    }
    let tasks: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| {
            let db = t.db.clone();
            let scope = AuditScope::new(logger.clone());
            let id = *id;
            tokio::spawn(scope.run(async move {
                let mut edit = note::Entity::find_by_id(id).one(&db).await.unwrap().unwrap().into_active_model();
                edit.body = Set(format!("v2-{n}"));
                edit.update(&db).await.unwrap();
            }))
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    logger.flush().await.expect("flush the audit logger");
    let updates: Vec<AuditEvent> =
        sink.events().into_iter().filter(|e| e.event_type.as_str() == "data_updated").collect();
    assert_eq!(updates.len(), 20);
    for event in updates {
        let id = event.details["id"].as_i64().unwrap() as i32;
        let n = ids.iter().position(|known| *known == id).unwrap();
        assert_eq!(event.details["changes"]["body"], json!({"old": format!("v1-{n}"), "new": format!("v2-{n}")}));
    }
    t.cleanup().await;
}

struct Mutation;

#[Object]
impl Mutation {
    async fn add_note(&self, ctx: &async_graphql::Context<'_>, body: String) -> async_graphql::Result<i32> {
        let db = ctx.data::<sea_orm::DatabaseConnection>()?;
        let mut note = new_note("graphql");
        note.body = Set(body);
        Ok(note.insert(db).await?.id)
    }
}

struct Query;

#[Object]
impl Query {
    async fn ping(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn resolvers_writing_models_log_the_requests_actor_through_the_extension() {
    let t = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    create_tables(&t.db).await;
    let (logger, sink) = logger();
    let schema = Schema::build(Query, Mutation, EmptySubscription)
        .extension(AuditScopeExtension)
        .data(t.db.clone())
        .data(logger.clone())
        .finish();
    let security = SecurityContext::authenticated(Principal::new("99", "bob")).with_user_agent(Some("ua/1".into()));
    let response =
        schema.execute(async_graphql::Request::new(r#"mutation { addNote(body: "hi") }"#).data(security)).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    logger.flush().await.expect("flush the audit logger");
    let events = sink.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type.as_str(), "data_created");
    assert_eq!(events[0].actor_name.as_deref(), Some("bob"));
    assert_eq!(events[0].user_agent.as_deref(), Some("ua/1"));
    assert_eq!(events[0].details["fields"]["body"], Value::String("hi".into()));
    t.cleanup().await;
}
