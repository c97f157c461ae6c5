//! `/api/super-admin/jobs/{id}`: follow a job a 202 answer started.

use actix_web::{HttpResponse, web};

use super::{Task, queue};
use crate::auth::caller::SuperAdmin;
use crate::error::AppError;
use crate::openapi::{Access, Answer, Api, Spec, schema};
use crate::state::AppState;

pub fn routes(api: &mut Api) {
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
    let id = path
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| AppError::not_found("job_not_found", "no such job"))?;
    let job = state.main.run(move |c| Ok(queue::view(c, id)?)).await?;
    job.map(web::Json).ok_or_else(|| AppError::not_found("job_not_found", "no such job"))
}

/// The answer to a request that started a job: `202 {"job": {...}}`.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct Accepted {
    pub job: queue::JobView,
}

/// Queues `task` and answers 202 with the new job.
pub async fn accept(state: &AppState, task: Task) -> Result<HttpResponse, AppError> {
    let payload = serde_json::to_string(&task).map_err(anyhow::Error::from)?;
    let kind = task.kind();
    let job = state
        .main
        .run(move |c| {
            let id = queue::enqueue(c, kind, &payload)?;
            queue::view(c, id)?.ok_or_else(|| AppError::Internal(anyhow::anyhow!("job {id} vanished")))
        })
        .await?;
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", format!("/api/super-admin/jobs/{}", job.id)))
        .json(Accepted { job }))
}
