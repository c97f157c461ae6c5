//! Catalogue CSV endpoints for the shop's admin.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::MAX_CSV_BYTES;
use super::import::{self, CatalogImport};
use crate::error::AppError;
use crate::jobs::Task;
use crate::openapi::{Access, Answer, Api, PAGE, Spec, schema};
use crate::pagination::{Page, PageQuery, Paginated};
use crate::state::AppState;
use crate::tenancy::resolve::ShopAdmin;

pub fn routes(api: &mut Api) {
    use Access::ShopAdmin as Admin;
    api.get(
        "/api/admin/catalog/export",
        Spec::new("The catalogue as CSV, one row per variant", Admin, Answer::File("text/csv")),
        export,
    )
    .post(
        "/api/admin/catalog/imports",
        Spec::new(
            "Import a catalogue CSV (≤ 64 MiB) as a job; `?dry_run=true` reports without changing anything",
            Admin,
            Answer::Json(202, schema::<CatalogImport>),
        )
        .upload("text/csv")
        .query(&[("dry_run", "boolean")]),
        start_import,
    )
    .get(
        "/api/admin/catalog/imports",
        Spec::new("Catalogue imports, newest first", Admin, Answer::Json(200, schema::<Paginated<CatalogImport>>))
            .query(PAGE),
        list_imports,
    )
    .get(
        "/api/admin/catalog/imports/{id}",
        Spec::new("One catalogue import: progress and report", Admin, Answer::Json(200, schema::<CatalogImport>)),
        show_import,
    );
}

pub(crate) async fn export(admin: ShopAdmin) -> Result<HttpResponse, AppError> {
    let subdomain = admin.0.client.subdomain.clone();
    let body = admin
        .0
        .db
        .run(|c| {
            let tx = c.transaction()?;
            let mut out = Vec::new();
            super::export::export(&tx, &mut out)?;
            Ok(out)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{subdomain}-catalog.csv\"")))
        .body(body))
}

#[derive(Deserialize)]
struct ImportQuery {
    dry_run: Option<bool>,
}

async fn start_import(
    state: web::Data<AppState>,
    admin: ShopAdmin,
    req: HttpRequest,
    q: web::Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let dry_run = q.dry_run.unwrap_or(false);
    let bytes = crate::body::read_raw(&req, payload, MAX_CSV_BYTES).await?;
    // A file that is not CSV at all is refused now; row problems are the report's.
    if let Err(why) = import::parse(&bytes) {
        return Err(AppError::unprocessable("invalid_csv", why));
    }
    let created = admin.0.db.write(move |tx| Ok(import::create(tx, &bytes, dry_run)?)).await?;
    let task = Task::ImportCatalog { client_id: admin.0.client.id, import_id: created.id };
    state.main.run(move |c| crate::jobs::enqueue(c, &task)).await?;
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", format!("/api/admin/catalog/imports/{}", created.id)))
        .json(created))
}

async fn list_imports(
    admin: ShopAdmin,
    q: web::Query<PageQuery>,
) -> Result<web::Json<Paginated<CatalogImport>>, AppError> {
    let page = Page::from_query(&q)?;
    let (rows, total) = admin.0.db.run(move |c| Ok(import::list(c, page)?)).await?;
    Ok(web::Json(Paginated::new(rows, page, total)))
}

async fn show_import(admin: ShopAdmin, id: web::Path<i64>) -> Result<web::Json<CatalogImport>, AppError> {
    let id = id.into_inner();
    admin
        .0
        .db
        .run(move |c| import::find(c, id)?.ok_or_else(|| AppError::not_found("not_found", "no such catalogue import")))
        .await
        .map(web::Json)
}
