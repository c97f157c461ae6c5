//! `/api/super-admin/audit` (everything) and `/api/admin/audit` (the shop's own entries).

use actix_web::web;
use serde::Deserialize;

use super::store::{self, AuditEntry, Filter};
use crate::auth::caller::SuperAdmin;
use crate::error::AppError;
use crate::openapi::{Access, Answer, Api, Spec, schema};
use crate::pagination::{Page, Paginated};
use crate::state::AppState;
use crate::tenancy::resolve::ShopAdmin;

pub fn routes(api: &mut Api) {
    const SUPER: &[(&str, &str)] = &[
        ("client_id", "integer"),
        ("actor", "string"),
        ("action", "string"),
        ("page", "integer"),
        ("per_page", "integer"),
    ];
    const SHOP: &[(&str, &str)] =
        &[("actor", "string"), ("action", "string"), ("page", "integer"), ("per_page", "integer")];
    api.get(
        "/api/super-admin/audit",
        Spec::new(
            "The audit log, newest first (filter by shop, actor id or e-mail, action or `prefix.*`)",
            Access::SuperAdmin,
            Answer::Json(200, schema::<Paginated<AuditEntry>>),
        )
        .query(SUPER),
        list_all,
    )
    .get(
        "/api/admin/audit",
        Spec::new(
            "This shop's audit log, newest first",
            Access::ShopAdmin,
            Answer::Json(200, schema::<Paginated<AuditEntry>>),
        )
        .query(SHOP),
        list_shop,
    );
}

#[derive(Deserialize)]
pub(crate) struct AuditQuery {
    client_id: Option<i64>,
    actor: Option<String>,
    action: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

fn filter(q: AuditQuery, client_id: Option<i64>) -> Result<(Filter, Page), AppError> {
    let page = Page::parse(q.page, q.per_page)?;
    for (name, v) in [("actor", &q.actor), ("action", &q.action)] {
        if v.as_ref().is_some_and(|v| v.is_empty() || v.len() > 254) {
            return Err(AppError::invalid_field(name, "must be 1 to 254 characters"));
        }
    }
    Ok((Filter { client_id, actor: q.actor, action: q.action }, page))
}

pub(crate) async fn list_all(
    state: web::Data<AppState>,
    _: SuperAdmin,
    q: web::Query<AuditQuery>,
) -> Result<web::Json<Paginated<AuditEntry>>, AppError> {
    let q = q.into_inner();
    let client_id = q.client_id;
    let (f, page) = filter(q, client_id)?;
    let (rows, total) = state.main.run(move |c| Ok(store::list(c, &f, page)?)).await?;
    Ok(web::Json(Paginated::new(rows, page, total)))
}

pub(crate) async fn list_shop(
    state: web::Data<AppState>,
    admin: ShopAdmin,
    q: web::Query<AuditQuery>,
) -> Result<web::Json<Paginated<AuditEntry>>, AppError> {
    let (f, page) = filter(q.into_inner(), Some(admin.0.client.id))?;
    let (rows, total) = state.main.run(move |c| Ok(store::list(c, &f, page)?)).await?;
    Ok(web::Json(Paginated::new(rows, page, total)))
}
