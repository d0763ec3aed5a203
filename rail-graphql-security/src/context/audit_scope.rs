//! The bridge from a request's [`SecurityContext`] to the [`AuditScope`] its audited model
//! writes are logged with. It lives on the `context` side so that `audit` never depends on
//! `context`.

use std::sync::Arc;

use async_graphql::Response;
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};

use super::SecurityContext;
use crate::audit::AuditLogger;
use crate::audit::model::{AuditScope, AuditScopeExtension};

impl AuditScope {
    /// The scope of a request: actor, address, user agent and request id from its context.
    pub fn from_security(logger: AuditLogger, security: &SecurityContext) -> Self {
        Self::for_request(
            logger,
            security.principal.as_ref().map(|p| p as &dyn crate::audit::AuditUser),
            security.client_ip,
            security.user_agent.clone(),
            security.request_id.clone(),
        )
    }
}

impl ExtensionFactory for AuditScopeExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AuditScopeExtension)
    }
}

#[async_trait::async_trait]
impl Extension for AuditScopeExtension {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let Some(logger) = ctx.data_opt::<AuditLogger>() else {
            return next.run(ctx, operation_name).await;
        };
        let scope = match ctx.data_opt::<SecurityContext>() {
            Some(security) => AuditScope::from_security(logger.clone(), security),
            None => AuditScope::new(logger.clone()),
        };
        scope.run(next.run(ctx, operation_name)).await
    }
}
