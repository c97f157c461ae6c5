//! `/api/super-admin/jobs/{id}`: follow a job a 202 answer started.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{Task, queue};
use crate::auth::caller::SuperAdmin;
use crate::error::AppError;
use crate::openapi::{Access, Answer, Api, Spec, schema};
use crate::pagination::{Page, Paginated};
use crate::state::AppState;

pub fn routes(api: &mut Api) {
    const JOBS: &[(&str, &str)] = &[
        ("status", "string"),
        ("client_id", "integer"),
        ("kind", "string"),
        ("page", "integer"),
        ("per_page", "integer"),
    ];
    const FAILED: &[(&str, &str)] = &[("client_id", "integer"), ("page", "integer"), ("per_page", "integer")];
    api.get(
        "/api/super-admin/jobs",
        Spec::new(
            "Background jobs, newest first (filter by status, shop, kind)",
            Access::SuperAdmin,
            Answer::Json(200, schema::<Paginated<queue::JobView>>),
        )
        .query(JOBS),
        list,
    )
    // Before `/jobs/{id}`, which would take `failed` for an id.
    .get(
        "/api/super-admin/jobs/failed",
        Spec::new(
            "Jobs that failed for good, newest first",
            Access::SuperAdmin,
            Answer::Json(200, schema::<Paginated<queue::FailedJob>>),
        )
        .query(FAILED),
        list_failed,
    )
    .post(
        "/api/super-admin/jobs/failed/{id}/retry",
        Spec::new(
            "Put a failed job back on the queue (attempts from zero)",
            Access::SuperAdmin,
            Answer::Json(202, schema::<Accepted>),
        ),
        retry_failed,
    )
    .delete(
        "/api/super-admin/jobs/failed/{id}",
        Spec::new("Forget a failed job", Access::SuperAdmin, Answer::NoContent),
        forget_failed,
    )
    .get(
        "/api/super-admin/batches/{id}",
        Spec::new(
            "A batch's progress: total, pending, done, failed",
            Access::SuperAdmin,
            Answer::Json(200, schema::<queue::BatchView>),
        ),
        batch,
    );
    api.get(
        "/api/super-admin/jobs/{id}",
        Spec::new(
            "One background job: status, progress, result",
            Access::SuperAdmin,
            Answer::Json(200, schema::<queue::JobView>),
        ),
        show,
    );
}

async fn show(
    state: web::Data<AppState>,
    _: SuperAdmin,
    path: web::Path<String>,
) -> Result<web::Json<queue::JobView>, AppError> {
    let id = positive_id(&path, "job_not_found", "job")?;
    let job = state.main.run(move |c| Ok(queue::view(c, id)?)).await?;
    job.map(web::Json).ok_or_else(|| AppError::not_found("job_not_found", "no such job"))
}

fn positive_id(raw: &str, code: &'static str, what: &str) -> Result<i64, AppError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| AppError::not_found(code, format!("no such {what}")))
}

#[derive(Deserialize)]
pub(crate) struct JobsQuery {
    status: Option<String>,
    client_id: Option<i64>,
    kind: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

const STATUSES: &[&str] = &["pending", "running", "done", "failed", "cancelled"];

pub(crate) async fn list(
    state: web::Data<AppState>,
    _: SuperAdmin,
    q: web::Query<JobsQuery>,
) -> Result<web::Json<Paginated<queue::JobView>>, AppError> {
    let q = q.into_inner();
    let page = Page::parse(q.page, q.per_page)?;
    if let Some(s) = q.status.as_deref().filter(|s| !STATUSES.contains(s)) {
        return Err(AppError::invalid_field("status", format!("{s:?} is not one of {}", STATUSES.join(", "))));
    }
    if q.kind.as_deref().is_some_and(|k| k.len() > 64) {
        return Err(AppError::invalid_field("kind", "is at most 64 characters"));
    }
    let filter = queue::Filter { status: q.status, client_id: q.client_id, kind: q.kind };
    let (rows, total) = state.main.run(move |c| Ok(queue::list(c, &filter, page)?)).await?;
    Ok(web::Json(Paginated::new(rows, page, total)))
}

#[derive(Deserialize)]
pub(crate) struct FailedQuery {
    client_id: Option<i64>,
    page: Option<i64>,
    per_page: Option<i64>,
}

pub(crate) async fn list_failed(
    state: web::Data<AppState>,
    _: SuperAdmin,
    q: web::Query<FailedQuery>,
) -> Result<web::Json<Paginated<queue::FailedJob>>, AppError> {
    let q = q.into_inner();
    let page = Page::parse(q.page, q.per_page)?;
    let client_id = q.client_id;
    let (rows, total) = state.main.run(move |c| Ok(queue::list_failed(c, client_id, page)?)).await?;
    Ok(web::Json(Paginated::new(rows, page, total)))
}

pub(crate) async fn retry_failed(
    state: web::Data<AppState>,
    _: SuperAdmin,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = positive_id(&path, "failed_job_not_found", "failed job")?;
    let job = state
        .main
        .run(move |c| match queue::retry_failed(c, id)? {
            queue::Retry::Queued(job_id) => {
                super::worker::wake();
                Ok(queue::view(c, job_id)?)
            }
            queue::Retry::NotFound => Err(AppError::not_found("failed_job_not_found", "no such failed job")),
            queue::Retry::Gone => Err(AppError::conflict(
                "job_not_retryable",
                "this job can no longer run: its payload was forgotten or its shop was deleted",
            )),
        })
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("retried job {id} vanished")))?;
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", format!("/api/super-admin/jobs/{}", job.id)))
        .json(Accepted { job }))
}

pub(crate) async fn forget_failed(
    state: web::Data<AppState>,
    _: SuperAdmin,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = positive_id(&path, "failed_job_not_found", "failed job")?;
    if state.main.run(move |c| Ok(queue::forget_failed(c, id)?)).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(AppError::not_found("failed_job_not_found", "no such failed job"))
    }
}

async fn batch(
    state: web::Data<AppState>,
    _: SuperAdmin,
    path: web::Path<String>,
) -> Result<web::Json<queue::BatchView>, AppError> {
    let id = positive_id(&path, "batch_not_found", "batch")?;
    let batch = state.main.run(move |c| Ok(queue::view_batch(c, id)?)).await?;
    batch.map(web::Json).ok_or_else(|| AppError::not_found("batch_not_found", "no such batch"))
}

/// The answer to a request that started a job: `202 {"job": {...}}`.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct Accepted {
    pub job: queue::JobView,
}

/// Queues `task` and answers 202 with the new job.
pub async fn accept(state: &AppState, task: Task) -> Result<HttpResponse, AppError> {
    let job = state
        .main
        .run(move |c| {
            let id = super::enqueue(c, &task)?;
            queue::view(c, id)?.ok_or_else(|| AppError::Internal(anyhow::anyhow!("job {id} vanished")))
        })
        .await?;
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", format!("/api/super-admin/jobs/{}", job.id)))
        .json(Accepted { job }))
}
