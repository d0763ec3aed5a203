#[async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    async fn before_save<C>(
        mut self,
        __rail_arg1: &C,
        __rail_arg2: bool,
    ) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        let __rail_result: Result<Self, DbErr> = async move {
            #[allow(unused_variables, unused_mut)]
            let _db = __rail_arg1;
            #[allow(unused_variables, unused_mut)]
            let insert = __rail_arg2;
            if insert {
                self.owner = Set("x".to_owned());
            }
            Ok(self)
        }
            .await;
        let __rail_value = __rail_result?;
        ::rail_graphql_security::audit::model::before_save(
                &__rail_value,
                __rail_arg1,
                __rail_arg2,
            )
            .await?;
        ::core::result::Result::Ok(__rail_value)
    }
    async fn after_save<C>(
        model: <<Self as ::rail_graphql_security::__private::sea_orm::ActiveModelTrait>::Entity as ::rail_graphql_security::__private::sea_orm::EntityTrait>::Model,
        _db: &C,
        insert: bool,
    ) -> ::core::result::Result<
        <<Self as ::rail_graphql_security::__private::sea_orm::ActiveModelTrait>::Entity as ::rail_graphql_security::__private::sea_orm::EntityTrait>::Model,
        ::rail_graphql_security::__private::sea_orm::DbErr,
    >
    where
        C: ::rail_graphql_security::__private::sea_orm::ConnectionTrait,
    {
        ::rail_graphql_security::audit::model::after_save(&model, insert).await;
        ::core::result::Result::Ok(model)
    }
    async fn before_delete<C>(
        self,
        db: &C,
    ) -> ::core::result::Result<Self, ::rail_graphql_security::__private::sea_orm::DbErr>
    where
        C: ::rail_graphql_security::__private::sea_orm::ConnectionTrait,
    {
        ::rail_graphql_security::audit::model::before_delete(&self, db).await?;
        ::core::result::Result::Ok(self)
    }
    async fn after_delete<C>(
        self,
        _db: &C,
    ) -> ::core::result::Result<Self, ::rail_graphql_security::__private::sea_orm::DbErr>
    where
        C: ::rail_graphql_security::__private::sea_orm::ConnectionTrait,
    {
        ::rail_graphql_security::audit::model::after_delete(&self).await;
        ::core::result::Result::Ok(self)
    }
}
